"""The HTTP task (arn:aws:states:::http:invoke) against a local HTTP server: the
connection's API key and invocation parameters, the task's method, headers, query and
body (JSON and URL-encoded), AWS's result shape, States.Http.StatusCode.<code> and
States.Http.Socket errors, and IAM on the connection — driven by boto3."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.parse

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.functions import unique
from tests.e2e.sfn_support import definition, states_role, wait_done


class _Api:
    """A local API: records each request; /missing answers 404, the rest 200 with JSON."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        seen = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen.append({"method": self.command, "path": self.path,
                             "headers": {k.lower(): v for k, v in self.headers.items()},
                             "body": body})  # fmt: skip
                status = 404 if self.path.startswith("/missing") else 200
                payload = json.dumps({"ok": status == 200, "path": self.path}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Trace", "t1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def api():
    server = _Api()
    yield server
    server.close()


@pytest.fixture(scope="module")
def clients(server):
    return {s: make_client(server.endpoint, s) for s in ("stepfunctions", "events", "iam")}


@pytest.fixture(scope="module")
def connection(clients):
    return clients["events"].create_connection(
        Name=unique("conn"),
        AuthorizationType="API_KEY",
        AuthParameters={
            "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "s3cret"},
            "InvocationHttpParameters": {
                "HeaderParameters": [{"Key": "x-from", "Value": "connection"}],
                "QueryStringParameters": [{"Key": "src", "Value": "conn"}],
            },
        },
    )["ConnectionArn"]


def _run(clients, role: str, task: dict, extra: dict | None = None) -> dict:
    sfn = clients["stepfunctions"]
    states = {"Call": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
                       "End": True, **task}, **(extra or {})}  # fmt: skip
    machine = sfn.create_state_machine(
        name=unique("http"), definition=definition(states, "Call"), roleArn=role
    )["stateMachineArn"]
    return wait_done(sfn, sfn.start_execution(stateMachineArn=machine, input='{"id": 7}')[
        "executionArn"])  # fmt: skip


def test_a_json_post_with_the_connection_and_aws_result_shape(clients, api, connection):
    role = states_role(clients["iam"])
    before = len(api.requests)
    done = _run(clients, role, {"Parameters": {
        "ApiEndpoint": api.url + "/orders", "Method": "POST",
        "Authentication": {"ConnectionArn": connection},
        "Headers": {"x-custom": "c", "x-api-key": "not-this"},
        "QueryParameters": {"q.$": "States.Format('{}', $.id)"},
        "RequestBody": {"item.$": "$.id", "note": "hi"}}})  # fmt: skip
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["StatusCode"] == 200 and output["StatusText"] == "OK"
    assert output["ResponseBody"] == {"ok": True, "path": "/orders?src=conn&q=7"}
    assert output["Headers"]["x-trace"] == ["t1"]
    assert output["Headers"]["content-type"] == ["application/json"]
    sent = api.requests[before]
    assert (sent["method"], sent["path"]) == ("POST", "/orders?src=conn&q=7")
    assert json.loads(sent["body"]) == {"item": 7, "note": "hi"}
    headers = sent["headers"]
    assert headers["x-api-key"] == "s3cret"  # the connection's key, not the task's
    assert headers["x-from"] == "connection" and headers["x-custom"] == "c"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "Amazon|StepFunctions|HttpInvoke|us-east-1"


def test_a_url_encoded_body(clients, api, connection):
    role = states_role(clients["iam"])
    before = len(api.requests)
    done = _run(clients, role, {"Parameters": {
        "ApiEndpoint": api.url + "/form", "Method": "PUT",
        "Authentication": {"ConnectionArn": connection},
        "RequestBody": {"name": "a b", "tags": ["x", "y"], "meta": {"k": 1}},
        "Transform": {"RequestBodyEncoding": "URL_ENCODED",
                      "RequestEncodingOptions": {"ArrayFormat": "BRACKETS"}}}})  # fmt: skip
    assert done["status"] == "SUCCEEDED", done
    sent = api.requests[before]
    assert sent["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qsl(sent["body"].decode()) == [
        ("name", "a b"), ("tags[]", "x"), ("tags[]", "y"), ("meta[k]", "1")]  # fmt: skip


def test_a_non_2xx_answer_and_no_answer_are_aws_errors(clients, api, connection):
    role = states_role(clients["iam"])
    caught = {"Caught": {"Type": "Pass", "End": True}}
    catch = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
    done = _run(clients, role, {"Catch": catch, "Parameters": {
        "ApiEndpoint": api.url + "/missing", "Method": "GET",
        "Authentication": {"ConnectionArn": connection}}}, caught)  # fmt: skip
    output = json.loads(done["output"])
    assert output["Error"] == "States.Http.StatusCode.404"
    cause = json.loads(output["Cause"])
    assert cause["StatusCode"] == 404 and cause["ResponseBody"]["ok"] is False

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    done = _run(clients, role, {"Parameters": {
        "ApiEndpoint": f"http://127.0.0.1:{closed}/x", "Method": "GET",
        "Authentication": {"ConnectionArn": connection}}})  # fmt: skip
    assert (done["status"], done["error"]) == ("FAILED", "States.Http.Socket")
    history = clients["stepfunctions"].get_execution_history(executionArn=done["executionArn"])
    failed = next(e for e in history["events"] if e["type"] == "TaskFailed")
    assert failed["taskFailedEventDetails"]["resourceType"] == "http"
    assert failed["taskFailedEventDetails"]["resource"] == "invoke"


def test_the_role_must_be_allowed_the_connection(clients, api, connection):
    role = states_role(clients["iam"], actions=("states:*",))
    done = _run(clients, role, {"Parameters": {
        "ApiEndpoint": api.url + "/orders", "Method": "GET",
        "Authentication": {"ConnectionArn": connection}}})  # fmt: skip
    assert (done["status"], done["error"]) == ("FAILED", "Events.ConnectionResource.AccessDenied")
    denied = states_role(clients["iam"], actions=("events:*",))
    done = _run(clients, denied, {"Parameters": {
        "ApiEndpoint": api.url + "/orders", "Method": "GET",
        "Authentication": {"ConnectionArn": connection}}})  # fmt: skip
    assert (done["status"], done["error"]) == ("FAILED", "States.Permissions")
    done = _run(clients, states_role(clients["iam"]), {"Parameters": {
        "ApiEndpoint": api.url + "/orders", "Method": "GET"}})  # fmt: skip
    assert done["status"] == "FAILED" and "Authentication.ConnectionArn" in done["cause"]
