"""Lambda response streaming: Node's ``awslambda.streamifyResponse`` in sandlot's Node
bootstrap (and any custom runtime) posts a streamed (chunked) response to the Runtime
API with ``Lambda-Runtime-Function-Response-Mode: streaming``; an error after the stream
began arrives in the trailers. Invoked with ``Invoke``, Lambda answers such a function's
stream buffered; ``InvokeWithResponseStream`` hands it over as it is written
(``PayloadChunk`` events, then ``InvokeComplete``), read here with boto3."""

from __future__ import annotations

import base64
import json
import os
import sys
import time

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique

STREAMING = """
exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  for (const part of event.parts) {
    responseStream.write(part);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (event.fail) throw new TypeError('broke after ' + event.parts.length + ' parts');
  responseStream.end();
});
"""


# Writes event.parts with event.pause ms between them, event.mb MB in 1 MB writes, or
# sleeps past its timeout (event.hang) after its first part.
STREAMING = STREAMING.replace(
    "for (const part of event.parts) {",
    """if (event.mb) {
    const block = Buffer.alloc(1024 * 1024, 120);
    for (let i = 0; i < event.mb; i++) responseStream.write(block);
  }
  for (const part of event.parts) {""",
).replace(
    "setTimeout(resolve, 10)",
    "setTimeout(resolve, event.pause || 10)); if (event.hang) await new Promise((r) => setTimeout(r, 60000)",
)

BUFFERED = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("no luck")
    print("buffered says hi")
    return {"echo": event}
"""

# A custom runtime streaming with chunked transfer from Python's http.client: each
# part is sent as its own chunk, event["pause"] seconds apart.
PROVIDED_BOOTSTRAP = f"""#!/bin/sh
exec "{os.path.realpath(sys.executable)}" -S "$LAMBDA_TASK_ROOT/runtime.py"
"""
PROVIDED_RUNTIME = """
import http.client, json, os, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
base = "/2018-06-01/runtime/invocation/"
while True:
    api = http.client.HTTPConnection(host, int(port))
    api.request("GET", base + "next")
    answer = api.getresponse()
    event = json.loads(answer.read())
    request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")
    api.putrequest("POST", base + request_id + "/response")
    api.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    api.putheader("Transfer-Encoding", "chunked")
    api.putheader("Content-Type", "text/plain")
    api.endheaders()
    for part in event["parts"]:
        data = part.encode()
        api.send(b"%x\\r\\n%s\\r\\n" % (len(data), data))
        time.sleep(event.get("pause", 0))
    api.send(b"0\\r\\n\\r\\n")
    api.getresponse().read()
    api.close()
"""


@pytest.fixture(scope="module")
def lam(server):
    return make_client(server.endpoint, "lambda")


@pytest.fixture(scope="module")
def streaming(lam):
    name = unique("stream")
    create_function(lam, name, {"index.js": STREAMING}, runtime="nodejs20.x",
                    handler="index.handler", Timeout=60)  # fmt: skip
    return lam, name


@pytest.fixture(scope="module")
def impatient(lam):
    name = unique("stream-timeout")
    create_function(lam, name, {"index.js": STREAMING}, runtime="nodejs20.x",
                    handler="index.handler", Timeout=2)  # fmt: skip
    return name


@pytest.fixture(scope="module")
def buffered(lam):
    name = unique("buffered")
    create_function(lam, name, {"app.py": BUFFERED})
    return name


def _stream(lam, name: str, event: dict, **extra) -> tuple[dict, list[tuple[float, dict]]]:
    """The response and its events, each with the time it arrived."""
    response = lam.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps(event).encode(), **extra
    )
    events = [(time.monotonic(), event) for event in response["EventStream"]]
    return response, events


def _payload(events) -> bytes:
    return b"".join(e["PayloadChunk"]["Payload"] for _, e in events if "PayloadChunk" in e)


def _invoke(lam, name: str, event: dict) -> dict:
    return lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())


def test_streamed_response_reaches_invoke_whole(streaming):
    lam, name = streaming
    result = _invoke(lam, name, {"parts": ["a", "bb", "ccc"]})
    assert "FunctionError" not in result
    assert result["Payload"].read() == b"abbccc"
    empty = _invoke(lam, name, {"parts": []})
    assert "FunctionError" not in empty and empty["Payload"].read() == b""


def test_error_after_the_stream_began_comes_in_the_trailers(streaming):
    lam, name = streaming
    result = _invoke(lam, name, {"parts": ["a", "b"], "fail": True})
    assert result["FunctionError"] == "Unhandled"
    document = json.loads(result["Payload"].read())
    assert document["errorType"] == "TypeError"
    assert document["errorMessage"] == "broke after 2 parts"
    # The environment answers the next invocation normally.
    assert _invoke(lam, name, {"parts": ["ok"]})["Payload"].read() == b"ok"


# -- InvokeWithResponseStream ----------------------------------------------------------


def test_chunks_arrive_while_the_function_still_runs(streaming):
    lam, name = streaming
    started = time.monotonic()
    response, events = _stream(lam, name, {"parts": ["one ", "two ", "three"], "pause": 400})
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert response["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"
    assert _payload(events) == b"one two three"
    (done_at, last) = events[-1]
    assert last == {"InvokeComplete": {}}
    chunks = [at for at, e in events if "PayloadChunk" in e]
    assert len(chunks) == 3  # one per write, as they were written
    # The first part reached the client ~1.2 s before the function finished.
    assert done_at - chunks[0] > 0.9, (started, chunks, done_at)
    assert chunks[1] - chunks[0] > 0.3 and chunks[2] - chunks[1] > 0.3


def test_an_error_mid_stream_ends_with_invoke_complete(streaming):
    lam, name = streaming
    _, events = _stream(lam, name, {"parts": ["a", "b"], "fail": True}, LogType="Tail")
    assert _payload(events) == b"ab"
    complete = events[-1][1]["InvokeComplete"]
    assert complete["ErrorCode"] == "TypeError"
    assert complete["ErrorDetails"] == "broke after 2 parts"
    assert "START RequestId" in base64.b64decode(complete["LogResult"]).decode()
    # The environment serves the next invocation normally.
    _, events = _stream(lam, name, {"parts": ["ok"]})
    assert _payload(events) == b"ok" and events[-1][1] == {"InvokeComplete": {}}


def test_a_timeout_mid_stream(lam, impatient):
    _, events = _stream(lam, impatient, {"parts": ["first"], "hang": True})
    assert _payload(events) == b"first"
    complete = events[-1][1]["InvokeComplete"]
    assert complete["ErrorCode"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in complete["ErrorDetails"]


def test_a_buffered_function_answers_in_one_chunk(lam, buffered):
    response, events = _stream(lam, buffered, {"k": "v"}, LogType="Tail")
    chunks = [e for _, e in events if "PayloadChunk" in e]
    assert len(chunks) == 1
    assert json.loads(chunks[0]["PayloadChunk"]["Payload"]) == {"echo": {"k": "v"}}
    complete = events[-1][1]["InvokeComplete"]
    assert "ErrorCode" not in complete
    assert "buffered says hi" in base64.b64decode(complete["LogResult"]).decode()
    _, events = _stream(lam, buffered, {"fail": True})
    assert _payload(events) == b""
    complete = events[-1][1]["InvokeComplete"]
    assert complete["ErrorCode"] == "ValueError" and complete["ErrorDetails"] == "no luck"


def test_custom_runtime_streams_with_chunked_transfer(lam):
    name = unique("provided-stream")
    create_function(
        lam,
        name,
        {"bootstrap": PROVIDED_BOOTSTRAP, "runtime.py": PROVIDED_RUNTIME},
        runtime="provided.al2023",
        handler="unused",
        executable=("bootstrap",),
    )
    _, events = _stream(lam, name, {"parts": ["x", "y", "z"], "pause": 0.4})
    assert _payload(events) == b"xyz"
    chunks = [at for at, e in events if "PayloadChunk" in e]
    assert len(chunks) == 3 and events[-1][0] - chunks[0] > 0.7


def test_dry_run_and_refusals(lam, streaming):
    _, name = streaming
    dry = lam.invoke_with_response_stream(FunctionName=name, InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke_with_response_stream(FunctionName=unique("missing"), Payload=b"{}")
    with pytest.raises(lam.exceptions.InvalidRequestContentException):
        lam.invoke_with_response_stream(FunctionName=name, Payload=b"not json")
    with pytest.raises(lam.exceptions.ClientError) as refused:
        lam.invoke_with_response_stream(FunctionName=name, InvocationType="Event")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
