"""The Telemetry API and the Logs API: an external extension from a layer subscribes with
a listener of its own and receives the environment's events in batches, driven by boto3.

With a network per sandbox (the linux backend's default) the delivery reaches the
listener on the sandbox's own loopback; with the host's network, on the host's.
"""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from botocore.config import Config

from tests.e2e.functions import create_function, unique, zip_of
from tests.e2e.server import SandlotServer

# Registers, subscribes to both APIs with a tiny HTTP listener, and serves what it
# received to the function (same sandbox) at GET /. It prints nothing: its output would
# be function events itself.
EXTENSION = """#!/usr/bin/env python3
import json, os, sys, threading, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
RECEIVED = {"/telemetry": [], "/logs": []}

class Listener(BaseHTTPRequestHandler):
    def do_POST(self):
        batch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        RECEIVED[self.path].append(batch)
        self.send_response(200)
        self.end_headers()

    def do_GET(self):
        body = json.dumps(RECEIVED).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

# Where AWS's samples bind (the sandbox's name); the process backend's sandboxes see the
# host's /etc/hosts, without it.
try:
    server = ThreadingHTTPServer(("sandbox.localdomain", 0), Listener)
    RECEIVED["bound"] = "sandbox.localdomain"
except OSError:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    RECEIVED["bound"] = "127.0.0.1"
port = server.server_address[1]
threading.Thread(target=server.serve_forever, daemon=True).start()
with open("/tmp/telemetry-port", "w") as file:
    file.write(str(port))

def call(path, body=None, headers=None, method="GET"):
    request = urllib.request.Request(API + path, body, headers or {}, method=method)
    with urllib.request.urlopen(request) as response:
        return dict(response.headers), response.read()

headers, _ = call("/2020-01-01/extension/register", b'{"events": ["INVOKE", "SHUTDOWN"]}',
                  {"Lambda-Extension-Name": os.path.basename(sys.argv[0])}, "POST")
ident = {"Lambda-Extension-Identifier": headers["Lambda-Extension-Identifier"]}
for api, path in (("/2022-07-01/telemetry", "/telemetry"), ("/2020-08-15/logs", "/logs")):
    subscription = {
        "schemaVersion": "2022-12-13",
        "types": ["platform", "function"],
        "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
        "destination": {"protocol": "HTTP", "URI": f"http://sandbox.localdomain:{port}{path}"},
    }
    call(api, json.dumps(subscription).encode(), ident, "PUT")
while True:
    _, event = call("/2020-01-01/extension/event/next", headers=ident)
    if json.loads(event)["eventType"] == "SHUTDOWN":
        break
"""

APP = {
    "app.py": """import json, time, urllib.request

def received():
    with open("/tmp/telemetry-port") as file:
        port = file.read()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
        return json.loads(response.read())

def handler(event, context):
    print("function says hi")
    wanted = event.get("reported")  # the invocation whose platform.report we wait for
    deadline = time.monotonic() + 10
    while True:
        got = received()
        # Each subscription is delivered on its own: wait for the report in both.
        if not wanted or all(
            any(e["type"] == "platform.report" and e["record"]["requestId"] == wanted
                for batch in got[api] for e in batch)
            for api in ("/telemetry", "/logs")
        ):
            return got
        if time.monotonic() > deadline:
            return got
        time.sleep(0.02)
"""
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("telemetry")) as running:
        yield running


@pytest.fixture(scope="module")
def lam(server):
    return boto3.session.Session().client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=60),
    )


def _invoke(lam, name: str, payload: dict) -> tuple[str, dict]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    assert "FunctionError" not in response
    return response["ResponseMetadata"]["RequestId"], json.loads(response["Payload"].read())


def test_telemetry_and_logs_api_deliver_batches(server, lam):
    content = zip_of({"extensions/telemetry": EXTENSION}, executable=("extensions/telemetry",))
    layer = lam.publish_layer_version(LayerName=unique("tel"), Content={"ZipFile": content})
    name = unique("telemetry")
    # The second invocation waits (up to 10 s) for the first one's reports to arrive.
    create_function(lam, name, APP, Layers=[layer["LayerVersionArn"]], MemorySize=256, Timeout=15)

    first, _ = _invoke(lam, name, {})
    second, got = _invoke(lam, name, {"reported": first})
    health = json.loads(urllib.request.urlopen(server.endpoint + "/_sandlot/health").read())
    if health["sandbox"] == "linux":  # its sandboxes know Lambda's name for themselves
        assert got["bound"] == "sandbox.localdomain"
    assert all(isinstance(batch, list) and batch for batch in got["/telemetry"])
    events = [event for batch in got["/telemetry"] for event in batch]
    assert all(set(event) == {"time", "type", "record"} for event in events)
    by_type: dict[str, list] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event["record"])

    # INIT's events, from before the subscription (Lambda buffers them for it).
    (init_start,) = by_type["platform.initStart"]
    assert init_start["initializationType"] == "on-demand" and init_start["phase"] == "init"
    assert by_type["platform.initRuntimeDone"][0]["status"] == "success"
    assert by_type["platform.initReport"][0]["metrics"]["durationMs"] > 0
    # The first invocation, whole.
    assert {"requestId": first, "version": "$LATEST"} in by_type["platform.start"]
    (done,) = [r for r in by_type["platform.runtimeDone"] if r["requestId"] == first]
    assert done["status"] == "success" and done["metrics"]["producedBytes"] > 0
    (report,) = [r for r in by_type["platform.report"] if r["requestId"] == first]
    assert report["status"] == "success"
    metrics = report["metrics"]
    assert metrics["memorySizeMB"] == 256 and metrics["initDurationMs"] > 0
    assert metrics["billedDurationMs"] >= metrics["durationMs"] > 0
    assert metrics["maxMemoryUsedMB"] > 0
    assert "function says hi" in by_type["function"]

    # The Logs API: its own, older event names and records.
    logs = [event for batch in got["/logs"] for event in batch]
    names = {event["type"] for event in logs}
    assert {"platform.start", "platform.end", "platform.report", "function"} <= names
    (end,) = [e["record"] for e in logs if e["type"] == "platform.end"]
    assert end == {"requestId": first}
    (legacy_report,) = [e["record"] for e in logs if e["type"] == "platform.report"]
    assert legacy_report["requestId"] == first and legacy_report["metrics"]["durationMs"] > 0


def test_subscription_errors(lam):
    code = {
        "app.py": """import json, os, urllib.request, urllib.error
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
def put(path, body, headers):
    request = urllib.request.Request(API + path, body, headers, method="PUT")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())["errorType"]
def handler(event, context):
    good = {"types": ["platform"], "destination": {"protocol": "HTTP",
            "URI": "http://sandbox.localdomain:9999"}}
    return [put("/2022-07-01/telemetry", json.dumps(good).encode(), {}),
            put("/2022-07-01/telemetry", json.dumps(good).encode(),
                {"Lambda-Extension-Identifier": "nope"})]
"""
    }
    name = unique("tel-errors")
    create_function(lam, name, code)
    _, answers = _invoke(lam, name, {})
    assert answers == [
        [403, "Extension.MissingExtensionIdentifier"],
        [403, "Extension.InvalidExtensionIdentifier"],
    ]
