"""The REST API control plane one call at a time (resources incl. {proxy+}, methods,
integrations and their responses, UpdateRestApi/UpdateStage patches) with boto3, and
what it serves: a MOCK CORS preflight, a Lambda URI naming a stage variable, an
HTTP_PROXY integration with parameter mappings and its timeout."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.conftest import error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import PROXY_ECHO, invoke_url, send

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def echo(server):
    lam = make_client(server.endpoint, "lambda")
    name = unique("rest-res-echo")
    create_function(lam, name, {"app.py": PROXY_ECHO})
    lam.add_permission(FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:*")  # fmt: skip
    return name


def _code(call, **kwargs) -> tuple[str, int]:
    error = error_of(call, **kwargs)
    return error["Code"], error["HTTPStatusCode"]


def test_resources_and_methods(client):
    apis = client("apigateway")
    api_id = apis.create_rest_api(name=unique("res"))["id"]
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    a = apis.create_resource(restApiId=api_id, parentId=root, pathPart="a")
    assert (a["path"], a["parentId"], a["pathPart"]) == ("/a", root, "a")
    b = apis.create_resource(restApiId=api_id, parentId=a["id"], pathPart="{b}")
    assert b["path"] == "/a/{b}"
    proxy = apis.create_resource(restApiId=api_id, parentId=b["id"], pathPart="{proxy+}")
    assert proxy["path"] == "/a/{b}/{proxy+}"
    dup = dict(restApiId=api_id, parentId=root, pathPart="a")
    assert _code(apis.create_resource, **dup) == ("ConflictException", 409)
    for part in ("bad part", "{x}y"):
        bad = dict(restApiId=api_id, parentId=root, pathPart=part)
        assert _code(apis.create_resource, **bad) == ("BadRequestException", 400)
    sibling = dict(restApiId=api_id, parentId=a["id"], pathPart="{c}")
    assert _code(apis.create_resource, **sibling) == ("BadRequestException", 400)
    greedy = dict(restApiId=api_id, parentId=proxy["id"], pathPart="x")
    assert _code(apis.create_resource, **greedy) == ("BadRequestException", 400)
    missing = dict(restApiId=api_id, parentId="nope", pathPart="x")
    assert _code(apis.create_resource, **missing) == ("NotFoundException", 404)

    method = apis.put_method(restApiId=api_id, resourceId=b["id"], httpMethod="GET",
                             authorizationType="NONE", requestParameters={
                                 "method.request.path.b": True})  # fmt: skip
    assert (method["httpMethod"], method["apiKeyRequired"]) == ("GET", False)
    again = dict(restApiId=api_id, resourceId=b["id"], httpMethod="GET", authorizationType="NONE")
    assert _code(apis.put_method, **again) == ("ConflictException", 409)
    updated = apis.update_method(restApiId=api_id, resourceId=b["id"], httpMethod="GET",
                                 patchOperations=[{"op": "replace", "path": "/apiKeyRequired",
                                                   "value": "true"}])  # fmt: skip
    assert updated["apiKeyRequired"] is True
    assert apis.get_method(restApiId=api_id, resourceId=b["id"], httpMethod="GET")[
        "apiKeyRequired"] is True  # fmt: skip
    listed = apis.get_resource(restApiId=api_id, resourceId=b["id"])
    assert listed["resourceMethods"] == {"GET": {}}
    embedded = apis.get_resource(restApiId=api_id, resourceId=b["id"], embed=["methods"])
    assert embedded["resourceMethods"]["GET"]["apiKeyRequired"] is True

    no_integration = dict(restApiId=api_id, resourceId=b["id"], httpMethod="GET")
    assert _code(apis.get_integration, **no_integration) == ("NotFoundException", 404)
    templated = dict(no_integration, type="AWS", integrationHttpMethod="POST",
                     uri="arn:aws:apigateway:us-east-1:sqs:path/000000000000/q",
                     requestTemplates={"application/json": "#if($x) unterminated"})  # fmt: skip
    assert _code(apis.put_integration, **templated) == ("BadRequestException", 400)
    templated["requestTemplates"] = {"application/json": "Action=SendMessage"}
    assert apis.put_integration(**templated)["type"] == "AWS"
    no_verb = dict(no_integration, type="AWS_PROXY", uri="arn:aws:lambda:x")
    assert _code(apis.put_integration, **no_verb) == ("BadRequestException", 400)

    renamed = apis.update_resource(restApiId=api_id, resourceId=a["id"], patchOperations=[
        {"op": "replace", "path": "/pathPart", "value": "z"}])  # fmt: skip
    assert renamed["path"] == "/z"
    paths = sorted(r["path"] for r in apis.get_resources(restApiId=api_id)["items"])
    assert paths == ["/", "/z", "/z/{b}", "/z/{b}/{proxy+}"]
    apis.delete_method(restApiId=api_id, resourceId=b["id"], httpMethod="GET")
    assert _code(apis.get_method, **no_integration) == ("NotFoundException", 404)
    apis.delete_resource(restApiId=api_id, resourceId=a["id"])
    assert [r["path"] for r in apis.get_resources(restApiId=api_id)["items"]] == ["/"]

    apis.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "replace", "path": "/description", "value": "d"}])  # fmt: skip
    got = apis.get_rest_api(restApiId=api_id)
    assert (got["name"], got["description"]) == ("renamed", "d")
    bad_patch = dict(restApiId=api_id, patchOperations=[{"op": "replace", "path": "/id",
                                                         "value": "x"}])  # fmt: skip
    assert _code(apis.update_rest_api, **bad_patch) == ("BadRequestException", 400)


def test_mock_cors_preflight_and_stage_variables(server, client, echo):
    apis = client("apigateway")
    api_id = apis.create_rest_api(name=unique("mock"))["id"]
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    items = apis.create_resource(restApiId=api_id, parentId=root, pathPart="items")["id"]
    # The console's "Enable CORS": a MOCK OPTIONS method answering the CORS headers.
    key = dict(restApiId=api_id, resourceId=items, httpMethod="OPTIONS")
    apis.put_method(**key, authorizationType="NONE")
    apis.put_integration(**key, type="MOCK",
                         requestTemplates={"application/json": '{"statusCode": 200}'})  # fmt: skip
    headers = {
        "method.response.header.Access-Control-Allow-Origin": "'*'",
        "method.response.header.Access-Control-Allow-Methods": "'GET,OPTIONS'",
        "method.response.header.Access-Control-Allow-Headers": "'Content-Type,Authorization'",
    }
    apis.put_method_response(**key, statusCode="200",
                             responseParameters={h: False for h in headers})  # fmt: skip
    apis.put_integration_response(**key, statusCode="200", responseParameters=headers,
                                  responseTemplates={"application/json": ""})  # fmt: skip
    assert apis.get_integration_response(**key, statusCode="200")["responseParameters"] == headers
    # GET through a Lambda proxy whose function the stage names.
    get = dict(restApiId=api_id, resourceId=items, httpMethod="GET")
    apis.put_method(**get, authorizationType="NONE")
    uri = ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
           f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:${{stageVariables.fn}}/invocations")  # fmt: skip
    apis.put_integration(**get, type="AWS_PROXY", integrationHttpMethod="POST", uri=uri)
    assert apis.get_integration(**get)["uri"] == uri
    # A MOCK's Velocity template picks the status; the response template renders too.
    velocity = apis.create_resource(restApiId=api_id, parentId=root, pathPart="vtl")["id"]
    vtl = dict(restApiId=api_id, resourceId=velocity, httpMethod="GET")
    apis.put_method(**vtl, authorizationType="NONE")
    apis.put_integration(**vtl, type="MOCK", requestTemplates={
        "application/json": '{"statusCode": $input.params("code")}'})  # fmt: skip
    apis.put_integration_response(**vtl, statusCode="201", selectionPattern="2\\d\\d",
                                  responseTemplates={"application/json":
                                                     '{"asked": "$input.params(\'code\')"}'})  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="dev", variables={"fn": "missing"})

    preflight = send(server.endpoint, "OPTIONS", invoke_url(server, api_id, "/dev/items"),
                     headers={"Origin": "http://app.example"})  # fmt: skip
    assert preflight.status == 200
    assert preflight.header("Access-Control-Allow-Origin") == "*"
    assert preflight.header("Access-Control-Allow-Methods") == "GET,OPTIONS"
    # No code: `{"statusCode": }` is not JSON, a 500 as AWS answers; no match: no default.
    assert send(server.endpoint, "GET", invoke_url(server, api_id, "/dev/vtl")).status == 500
    assert (
        send(server.endpoint, "GET", invoke_url(server, api_id, "/dev/vtl?code=404")).status == 500
    )
    mocked = send(server.endpoint, "GET", invoke_url(server, api_id, "/dev/vtl?code=204"))
    assert (mocked.status, mocked.json()) == (201, {"asked": "204"})
    # The stage variable names a function that does not exist: 500; patched, it works.
    assert send(server.endpoint, "GET", invoke_url(server, api_id, "/dev/items")).status == 500
    stage = apis.update_stage(restApiId=api_id, stageName="dev", patchOperations=[
        {"op": "replace", "path": "/variables/fn", "value": echo},
        {"op": "replace", "path": "/description", "value": "dev stage"},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "10"}])  # fmt: skip
    assert stage["variables"] == {"fn": echo} and stage["description"] == "dev stage"
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 10
    answer = send(server.endpoint, "GET", invoke_url(server, api_id, "/dev/items"))
    assert answer.status == 200, answer.body
    assert answer.json()["stageVariables"] == {"fn": echo}


class _Backend(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.startswith("/slow"):
            time.sleep(1)
        data = json.dumps({"path": self.path, "stage": self.headers.get("X-Stage"),
                           "id": self.headers.get("X-Id")}).encode()  # fmt: skip
        self.send_response(203)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def backend():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_http_proxy_integration(server, client, backend):
    apis = client("apigateway")
    api_id = apis.create_rest_api(name=unique("proxy"))["id"]
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    proxy = apis.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    method = dict(restApiId=api_id, resourceId=proxy, httpMethod="ANY")
    apis.put_method(**method, authorizationType="NONE",
                    requestParameters={"method.request.path.proxy": True})  # fmt: skip
    apis.put_integration(**method, type="HTTP_PROXY", integrationHttpMethod="ANY",
                         uri="${stageVariables.backend}/base/{proxy}", timeoutInMillis=300,
                         requestParameters={
                             "integration.request.path.proxy": "method.request.path.proxy",
                             "integration.request.header.X-Stage": "'dev'",
                             "integration.request.header.X-Id": "method.request.querystring.id"})  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="dev", variables={"backend": backend})
    answer = send(server.endpoint, "GET", invoke_url(server, api_id, "/dev/a/b?id=7"))
    assert answer.status == 203, answer.body
    assert answer.json() == {"path": "/base/a/b?id=7", "stage": "dev", "id": "7"}
    slow = send(server.endpoint, "GET", invoke_url(server, api_id, "/dev/x"))
    assert slow.status == 203
    apis.update_stage(restApiId=api_id, stageName="dev", patchOperations=[
        {"op": "replace", "path": "/variables/backend", "value": backend + "/slow"}])  # fmt: skip
    timed_out = send(server.endpoint, "GET", invoke_url(server, api_id, "/dev/x"))
    assert (timed_out.status, timed_out.json()) == (504, {"message": "Endpoint request timed out"})
