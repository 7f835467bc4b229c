"""Lambda extensions (the Extensions API), driven by boto3: external extensions from a
layer's /opt/extensions, internal ones registered by the runtime's process."""

from __future__ import annotations

import base64
import json
import re
import time

import boto3
import pytest
from botocore.config import Config

from tests.e2e.functions import create_function, unique, wait_for_log_events, zip_of
from tests.e2e.server import SandlotServer

# An external extension as AWS's samples write one: register, then loop on next. It
# prints what it receives (Lambda sends an extension's output to the function's log).
PROBE = """#!/usr/bin/env python3
import json, os, sys, time, urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
NAME = os.path.basename(sys.argv[0])

def call(path, body=None, headers=None, method="GET"):
    request = urllib.request.Request(API + path, body, headers or {}, method=method)
    with urllib.request.urlopen(request) as response:
        return dict(response.headers), json.loads(response.read())

headers, info = call(
    "/register",
    json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
    {"Lambda-Extension-Name": NAME, "Lambda-Extension-Accept-Feature": "accountId"},
    "POST",
)
ident = headers["Lambda-Extension-Identifier"]
print("EXT registered", json.dumps(info), flush=True)
while True:
    headers, event = call("/event/next", headers={"Lambda-Extension-Identifier": ident})
    print("EXT event", json.dumps(event), flush=True)
    if event["eventType"] == "SHUTDOWN":
        break
    time.sleep(0.3)  # work after the function's response (the post-invoke phase)
    print("EXT post-invoke done", event["requestId"], flush=True)
"""

APP = {
    "app.py": ("def handler(event, context):\n    print('function ran')\n    return {'ok': True}\n")
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # A short keep-alive: idle environments are shut down (the SHUTDOWN phase) quickly.
    env = {"SANDLOT_KEEP_ALIVE_SECONDS": "3"}
    with SandlotServer(tmp_path_factory.mktemp("extensions"), env=env) as running:
        yield running


def _client(server, service: str):
    return boto3.session.Session().client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=60),
    )


@pytest.fixture(scope="module")
def lam(server):
    return _client(server, "lambda")


@pytest.fixture(scope="module")
def logs(server):
    return _client(server, "logs")


def _layer(lam, files: dict[str, str]) -> str:
    content = zip_of(files, executable=tuple(files))
    return lam.publish_layer_version(LayerName=unique("ext"), Content={"ZipFile": content})[
        "LayerVersionArn"
    ]


def _invoke(lam, name: str) -> tuple[dict, dict, str]:
    response = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    body = json.loads(response["Payload"].read())
    return response, body, base64.b64decode(response["LogResult"]).decode()


def _lines(log: str, prefix: str) -> list[dict]:
    return [json.loads(line.split(prefix, 1)[1]) for line in log.splitlines() if prefix in line]


def _duration(log: str) -> float:
    return float(re.search(r"REPORT RequestId: \S+\tDuration: ([\d.]+) ms", log).group(1))


def test_external_extension_lifecycle(lam, logs):
    layer = _layer(lam, {"extensions/probe": PROBE})
    name = unique("with-ext")
    create_function(lam, name, APP, Layers=[layer])

    response, body, log = _invoke(lam, name)
    assert body == {"ok": True} and "FunctionError" not in response
    request_id = response["ResponseMetadata"]["RequestId"]
    # INIT: registered before the invocation, with the function's identity.
    (info,) = _lines(log, "EXT registered ")
    assert info == {
        "functionName": name,
        "functionVersion": "$LATEST",
        "handler": "app.handler",
        "accountId": "000000000000",
    }
    # The caller had the response before the post-invoke phase ended (the tail stops
    # at the response); the invocation ends when the extension called next again: its
    # post-invoke work comes before END in the function's log, and REPORT's duration
    # covers it.
    assert "EXT post-invoke done" not in log and "REPORT RequestId" not in log
    (report,) = wait_for_log_events(logs, name, f'"REPORT RequestId: {request_id}"')
    assert _duration(report["message"]) >= 300
    stream = logs.get_log_events(
        logGroupName=f"/aws/lambda/{name}", logStreamName=report["logStreamName"]
    )["events"]
    lines = "\n".join(event["message"].rstrip("\n") for event in stream)
    # INVOKE: the event as the Extensions API documents it.
    (event,) = _lines(lines, "EXT event ")
    assert event["eventType"] == "INVOKE" and event["requestId"] == request_id
    assert event["invokedFunctionArn"].endswith(f":function:{name}")
    assert isinstance(event["deadlineMs"], int)
    assert event["tracing"]["type"] == "X-Amzn-Trace-Id"
    assert event["tracing"]["value"].startswith("Root=1-")
    lines = lines.splitlines()
    done = next(i for i, line in enumerate(lines) if "EXT post-invoke done " + request_id in line)
    assert done < next(i for i, line in enumerate(lines) if line.startswith("END RequestId"))

    # Warm (REPORT written: the environment is free again): the same extension gets the
    # next INVOKE.
    response, _, log = _invoke(lam, name)
    assert "EXT registered" not in log
    warm_id = response["ResponseMetadata"]["RequestId"]
    (warm,) = wait_for_log_events(logs, name, f'"EXT post-invoke done {warm_id}"')
    assert warm["logStreamName"] == report["logStreamName"]  # the same environment

    # SHUTDOWN when the idle environment is reaped (keep-alive 3 s): reason spindown.
    found = wait_for_log_events(logs, name, '"SHUTDOWN"', timeout=30)
    assert found, "no SHUTDOWN event reached the extension"
    shutdown = json.loads(found[0]["message"].split("EXT event ", 1)[1])
    assert shutdown["shutdownReason"] == "spindown"
    assert isinstance(shutdown["deadlineMs"], int)


# An extension whose post-invoke work takes 2 s (e.g. flushing telemetry).
SLOW = PROBE.replace("time.sleep(0.3)", "time.sleep(2)")
WHICH = {
    "app.py": "import uuid\nENVIRONMENT = str(uuid.uuid4())\n"
    "def handler(event, context):\n    return {'environment': ENVIRONMENT}\n"
}


def test_the_response_comes_before_the_post_invoke_phase_ends(lam, logs):
    layer = _layer(lam, {"extensions/slow": SLOW})
    name = unique("slow-ext")
    create_function(lam, name, WHICH, Layers=[layer])
    lam.invoke(FunctionName=name, Payload=b"{}")  # INIT, then its post-invoke phase
    assert wait_for_log_events(logs, name, '"REPORT RequestId"', timeout=30)

    began = time.monotonic()
    response = lam.invoke(FunctionName=name, Payload=b"{}")
    answered_after = time.monotonic() - began
    first = json.loads(response["Payload"].read())["environment"]
    request_id = response["ResponseMetadata"]["RequestId"]
    assert answered_after < 1.5, answered_after  # not after the extension's 2 s
    # The environment is busy until the extension calls next again: an invocation now
    # goes to another environment (a cold start), as on AWS.
    second = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert second["environment"] != first
    # REPORT (written when the post-invoke phase ended) covers the extension's 2 s.
    (report,) = wait_for_log_events(logs, name, f'"REPORT RequestId: {request_id}"', timeout=30)
    assert _duration(report["message"]) >= 2000


def test_function_without_extensions_is_unaffected(lam):
    name = unique("no-ext")
    create_function(lam, name, APP)
    response, body, log = _invoke(lam, name)
    assert body == {"ok": True} and "EXT" not in log
    assert _duration(log) < 300


INTERNAL = {
    "app.py": """import json, os, threading, urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
EVENTS = []

def call(path, body=None, headers=None, method="GET"):
    request = urllib.request.Request(API + path, body, headers or {}, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())

# An internal extension (a thread of the runtime's process) cannot have SHUTDOWN.
REFUSED = call("/register", json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
               {"Lambda-Extension-Name": "inner"}, "POST")
STATUS, HEADERS, INFO = call("/register", json.dumps({"events": ["INVOKE"]}).encode(),
                             {"Lambda-Extension-Name": "inner"}, "POST")
IDENT = HEADERS["Lambda-Extension-Identifier"]

def loop():
    while True:
        EVENTS.append(call("/event/next", headers={"Lambda-Extension-Identifier": IDENT})[2])

threading.Thread(target=loop, daemon=True).start()

def handler(event, context):
    return {"refused": REFUSED[::2], "registered": [STATUS, INFO],
            "seen": [e["requestId"] for e in EVENTS], "me": context.aws_request_id}
"""
}


def test_internal_extension(lam, logs):
    name = unique("internal")
    create_function(lam, name, INTERNAL)
    response, first, _ = _invoke(lam, name)
    # The environment is free again once its REPORT is written (after the post-invoke
    # phase, here the thread's next call): the second invocation finds it.
    request_id = response["ResponseMetadata"]["RequestId"]
    assert wait_for_log_events(logs, name, f'"REPORT RequestId: {request_id}"')
    status, error = first["refused"]
    assert status == 403
    assert error["errorType"] == "ShutdownEventNotSupportedForInternalExtension"
    assert first["registered"] == [
        200,
        {"functionName": name, "functionVersion": "$LATEST", "handler": "app.handler"},
    ]
    _, second, _ = _invoke(lam, name)
    # The thread received the first invocation's INVOKE event (the second one's arrives
    # while the handler runs: it may or may not be in yet).
    assert second["seen"][0] == first["me"]


INIT_ERROR = """#!/bin/sh
set -e
API="http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension"
exec python3 - "$API" <<'EOF'
import json, sys, urllib.request
api = sys.argv[1]
request = urllib.request.Request(api + "/register", b'{"events": ["INVOKE"]}',
                                 {"Lambda-Extension-Name": "broken"}, method="POST")
with urllib.request.urlopen(request) as response:
    ident = response.headers["Lambda-Extension-Identifier"]
body = json.dumps({"errorMessage": "cannot start", "errorType": "Extension.Broken"}).encode()
request = urllib.request.Request(api + "/init/error", body, {
    "Lambda-Extension-Identifier": ident,
    "Lambda-Extension-Function-Error-Type": "Extension.Broken"}, method="POST")
urllib.request.urlopen(request).read()
EOF
"""


def test_extension_init_error_fails_the_invocation(lam):
    layer = _layer(lam, {"extensions/broken": INIT_ERROR})
    name = unique("broken-ext")
    create_function(lam, name, APP, Layers=[layer])
    response, body, log = _invoke(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Extension.Broken"
    assert "Error Type: Extension.Broken" in log


def test_extension_that_exits_during_init_is_a_crash(lam):
    layer = _layer(lam, {"extensions/quitter": "#!/bin/sh\necho giving up\nexit 3\n"})
    name = unique("crash-ext")
    create_function(lam, name, APP, Layers=[layer])
    response, body, log = _invoke(lam, name)
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorType": "Extension.Crash",
        "errorMessage": f"RequestId: {request_id} Error: exit code 3",
    }
    assert "giving up" in log and "Error Type: Extension.Crash" in log
    # A new environment next time (and the same failure), not a wedged one.
    response, body, _ = _invoke(lam, name)
    assert body["errorType"] == "Extension.Crash"


EXIT_ERROR = """#!/usr/bin/env python3
import os, sys, time, urllib.request
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
def call(path, body=None, headers=None, method="GET"):
    request = urllib.request.Request(API + path, body, headers or {}, method=method)
    with urllib.request.urlopen(request) as response:
        return dict(response.headers), response.read()
headers, _ = call("/register", b'{"events": ["INVOKE"]}',
                  {"Lambda-Extension-Name": os.path.basename(sys.argv[0])}, "POST")
ident = headers["Lambda-Extension-Identifier"]
call("/event/next", headers={"Lambda-Extension-Identifier": ident})  # the first INVOKE
call("/exit/error", b"", {"Lambda-Extension-Identifier": ident,
                          "Lambda-Extension-Function-Error-Type": "Extension.Failed"}, "POST")
time.sleep(60)  # still there, but done: the invocation does not wait for its next
"""


def _report(logs, name: str, response: dict) -> str:
    """The invocation's REPORT line (written after the post-invoke phase)."""
    request_id = response["ResponseMetadata"]["RequestId"]
    (report,) = wait_for_log_events(logs, name, f'"REPORT RequestId: {request_id}"')
    return report["message"]


def test_extension_exit_error_resets_the_environment(lam, logs):
    layer = _layer(lam, {"extensions/leaver": EXIT_ERROR})
    name = unique("exit-ext")
    create_function(lam, name, APP, Layers=[layer])
    response, body, _ = _invoke(lam, name)
    report = _report(logs, name, response)
    assert body == {"ok": True} and "Init Duration" in report
    assert _duration(report) < 2000  # not the function's timeout (3 s) waiting for it
    # The environment was not kept: the next invocation starts a new one (cold again).
    response, body, _ = _invoke(lam, name)
    assert body == {"ok": True} and "Init Duration" in _report(logs, name, response)
