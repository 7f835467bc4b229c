"""Lambda response streaming, the runtime side: Node's ``awslambda.streamifyResponse``
in sandlot's Node bootstrap posts a streamed (chunked) response to the Runtime API with
``Lambda-Runtime-Function-Response-Mode: streaming``; an error after the stream began
arrives in the trailers. Invoked with ``Invoke``, Lambda answers such a function's
stream buffered, as here."""

from __future__ import annotations

import json

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


@pytest.fixture(scope="module")
def streaming(server):
    lam = make_client(server.endpoint, "lambda")
    name = unique("stream")
    create_function(lam, name, {"index.js": STREAMING}, runtime="nodejs20.x",
                    handler="index.handler")  # fmt: skip
    return lam, name


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
