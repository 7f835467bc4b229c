"""API Gateway HTTP APIs: the control plane with boto3 and the AWS CLI, and real HTTP
requests through host-based and path-based invoke URLs to a Python function that
echoes its event (payload 1.0 and 2.0), an HTTP endpoint (HTTP_PROXY), OpenAPI import,
CORS, `sandlot urls`, and AWS's errors."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.conftest import aws, error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import PROXY_ECHO as ECHO
from tests.e2e.http_clients import invoke_url as _url
from tests.e2e.http_clients import send

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def echo(server):
    lam = make_client(server.endpoint, "lambda")
    name = unique("api-echo")
    create_function(lam, name, {"app.py": ECHO})
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def _allow_api(lam, function_arn: str, api_id: str) -> None:
    lam.add_permission(
        FunctionName=function_arn,
        StatementId=f"api-{api_id}",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*",
    )


def test_control_plane_lifecycle(server, client, echo):
    apis = client("apigatewayv2")
    api = apis.create_api(Name="pets", ProtocolType="HTTP", Description="d")
    assert api["ResponseMetadata"]["HTTPStatusCode"] == 201
    api_id = api["ApiId"]
    assert api["ApiEndpoint"] == _url(server, api_id, "")
    assert api["RouteSelectionExpression"] == "$request.method $request.path"
    integration = apis.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo, PayloadFormatVersion="2.0"
    )
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["TimeoutInMillis"] == 30000
    route = apis.create_route(
        ApiId=api_id,
        RouteKey="GET /pets/{id}",
        Target=f"integrations/{integration['IntegrationId']}",
    )
    assert route["AuthorizationType"] == "NONE"
    duplicate = error_of(apis.create_route, ApiId=api_id, RouteKey="GET /pets/{id}")
    assert (duplicate["Code"], duplicate["HTTPStatusCode"]) == ("ConflictException", 409)
    bad = error_of(apis.create_route, ApiId=api_id, RouteKey="FETCH /x")
    assert (bad["Code"], bad["HTTPStatusCode"]) == ("BadRequestException", 400)
    greedy = error_of(apis.create_route, ApiId=api_id, RouteKey="GET /{proxy+}/x")
    assert greedy["Code"] == "BadRequestException"
    stage = apis.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    assert stage["AutoDeploy"] is True and stage["DeploymentId"]
    deployments = apis.get_deployments(ApiId=api_id)["Items"]
    assert [d["AutoDeployed"] for d in deployments] == [True]
    assert [r["RouteKey"] for r in apis.get_routes(ApiId=api_id)["Items"]] == ["GET /pets/{id}"]
    listed = aws(server.endpoint, "apigatewayv2", "get-apis")["Items"]
    assert api_id in [a["ApiId"] for a in listed]
    got = aws(server.endpoint, "apigatewayv2", "get-api", "--api-id", api_id)
    assert got["Name"] == "pets" and got["Description"] == "d"
    arn = f"arn:aws:apigateway:us-east-1::/apis/{api_id}"
    apis.tag_resource(ResourceArn=arn, Tags={"team": "a"})
    assert apis.get_tags(ResourceArn=arn)["Tags"] == {"team": "a"}
    apis.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert apis.get_tags(ResourceArn=arn)["Tags"] == {}
    in_use = error_of(
        apis.delete_integration, ApiId=api_id, IntegrationId=integration["IntegrationId"]
    )
    assert in_use["Code"] == "ConflictException"
    bogus = error_of(apis.create_api, Name="b", ProtocolType="BOGUS")
    assert bogus["Code"] == "BadRequestException" and "enum value set" in bogus["Message"]
    apis.delete_api(ApiId=api_id)
    missing = error_of(apis.get_api, ApiId=api_id)
    assert (missing["Code"], missing["HTTPStatusCode"]) == ("NotFoundException", 404)
    assert any(f"stage $default: {_url(server, api_id, '/')}" in line for line in server.output)


def test_payload_2_routes_and_the_exact_event(server, client, echo):
    apis, lam = client("apigatewayv2"), client("lambda")
    api_id = apis.create_api(Name="v2", ProtocolType="HTTP")["ApiId"]
    integration = apis.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo, PayloadFormatVersion="2.0"
    )["IntegrationId"]
    for key in ("GET /pets/{id}", "GET /pets/dog", "ANY /{proxy+}", "POST /pets", "$default"):
        apis.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integration}")
    apis.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    url = _url(server, api_id, "/pets/7?b=2&a=1&a=3")
    # The function's policy does not allow API Gateway yet: AWS's 500.
    denied = send(server.endpoint, "GET", url)
    assert (denied.status, denied.json()) == (500, {"message": "Internal Server Error"})
    _allow_api(lam, echo, api_id)
    answer = send(
        server.endpoint,
        "GET",
        url,
        headers=[("X-Multi", "one"), ("x-multi", "two"), ("Cookie", "c1=v1; c2=v2"),
                 ("User-Agent", "e2e")],
    )  # fmt: skip
    assert answer.status == 200, answer.body
    assert answer.header("apigw-requestid")
    event = answer.json()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /pets/{id}"
    assert event["rawPath"] == "/pets/7"
    assert event["rawQueryString"] == "b=2&a=1&a=3"
    assert event["queryStringParameters"] == {"b": "2", "a": "1,3"}
    assert event["pathParameters"] == {"id": "7"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-multi"] == "one,two"
    assert "cookie" not in event["headers"]
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["apiId"] == api_id and context["accountId"] == ACCOUNT
    assert context["stage"] == "$default" and context["routeKey"] == "GET /pets/{id}"
    assert context["http"] == {"method": "GET", "path": "/pets/7", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "e2e"}  # fmt: skip
    assert context["domainName"] == f"{api_id}.execute-api.localhost.localstack.cloud"

    def route_of(method: str, path: str, form: str = "localstack") -> str:
        got = send(server.endpoint, method, _url(server, api_id, path, form=form), b"{}")
        assert got.status == 200, got.body
        return got.json()["routeKey"]

    assert route_of("GET", "/pets/dog") == "GET /pets/dog"
    assert route_of("GET", "/pets/cat") == "GET /pets/{id}"
    assert route_of("POST", "/pets") == "POST /pets"
    assert route_of("DELETE", "/pets/7") == "ANY /{proxy+}"
    assert route_of("GET", "/a/b/c", form="localhost") == "ANY /{proxy+}"
    assert route_of("GET", "/", form="path") == "$default"
    assert route_of("GET", "/pets/7", form="path") == "GET /pets/{id}"
    greedy = send(server.endpoint, "PUT", _url(server, api_id, "/a/b/c")).json()
    assert greedy["pathParameters"] == {"proxy": "a/b/c"}
    inferred = send(server.endpoint, "GET", _url(server, api_id, "/x/inferred"))
    assert (inferred.status, inferred.json()) == (200, {"inferred": True})
    for path in ("/x/garbage", "/x/fail"):
        failed = send(server.endpoint, "GET", _url(server, api_id, path))
        assert (failed.status, failed.json()) == (500, {"message": "Internal Server Error"})


def test_payload_1_on_a_named_stage_after_deployment(server, client, echo):
    apis, lam = client("apigatewayv2"), client("lambda")
    api_id = apis.create_api(Name="v1", ProtocolType="HTTP")["ApiId"]
    _allow_api(lam, echo, api_id)
    integration = apis.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo
    )
    assert integration["PayloadFormatVersion"] == "1.0"
    apis.create_route(
        ApiId=api_id,
        RouteKey="ANY /items/{id}",
        Target=f"integrations/{integration['IntegrationId']}",
    )
    apis.create_stage(ApiId=api_id, StageName="prod", StageVariables={"color": "blue"})
    url = _url(server, api_id, "/prod/items/9?k=1&k=2&z=")
    assert send(server.endpoint, "GET", url).json() == {"message": "Not Found"}  # not deployed
    deployment = apis.create_deployment(ApiId=api_id, StageName="prod")
    assert (
        apis.get_stage(ApiId=api_id, StageName="prod")["DeploymentId"]
        == (deployment["DeploymentId"])
    )
    answer = send(
        server.endpoint,
        "POST",
        url,
        b"\x00\x01binary",
        [("Content-Type", "application/octet-stream"), ("X-Multi", "one"), ("X-Multi", "two")],
    )
    assert answer.status == 200, answer.body
    event = answer.json()
    assert event["version"] == "1.0"
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/prod/items/9"
    assert event["httpMethod"] == "POST"
    assert event["headers"]["x-multi"] == "two"
    assert event["multiValueHeaders"]["x-multi"] == ["one", "two"]
    assert event["queryStringParameters"] == {"k": "2", "z": ""}
    assert event["multiValueQueryStringParameters"] == {"k": ["1", "2"], "z": [""]}
    assert event["pathParameters"] == {"id": "9"}
    assert event["stageVariables"] == {"color": "blue"}
    assert event["isBase64Encoded"] is True
    assert event["requestContext"]["stage"] == "prod"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    # Changing routes does not change what a stage without AutoDeploy serves.
    apis.create_route(
        ApiId=api_id, RouteKey="GET /new", Target=f"integrations/{integration['IntegrationId']}"
    )
    assert send(server.endpoint, "GET", _url(server, api_id, "/prod/new")).status == 404
    assert send(server.endpoint, "GET", _url(server, api_id, "/other/items/9")).status == 404
    assert send(server.endpoint, "GET", _url(server, "nosuchapi", "/prod/x")).status == 404


class _Backend(BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        data = json.dumps({"method": self.command, "path": self.path, "body": body.decode(),
                           "x": self.headers.get("X-Test")}).encode()  # fmt: skip
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Backend", "yes")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def backend():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_http_proxy_and_quick_create(server, client, backend):
    apis = client("apigatewayv2")
    quick = apis.create_api(Name="quick", ProtocolType="HTTP", Target=backend + "/base")
    api_id = quick["ApiId"]
    assert [s["StageName"] for s in apis.get_stages(ApiId=api_id)["Items"]] == ["$default"]
    answer = send(
        server.endpoint, "POST", _url(server, api_id, "/a/b?q=1"), b"hello", {"X-Test": "t"}
    )
    assert answer.status == 202, answer.body
    assert answer.header("x-backend") == "yes"
    assert answer.json() == {"method": "POST", "path": "/base/a/b?q=1", "body": "hello", "x": "t"}
    integration = apis.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="GET",
        IntegrationUri=backend + "/svc/{proxy}",
    )["IntegrationId"]
    apis.create_route(
        ApiId=api_id, RouteKey="GET /svc/{proxy+}", Target=f"integrations/{integration}"
    )
    mapped = send(server.endpoint, "GET", _url(server, api_id, "/svc/x/y"))
    assert mapped.json()["path"] == "/svc/x/y"


def test_import_reimport_openapi_and_cors(server, client, echo):
    apis, lam = client("apigatewayv2"), client("lambda")
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{echo}/invocations"
    definition = {
        "openapi": "3.0.1",
        "info": {"title": "imported", "version": "1.0"},
        "x-amazon-apigateway-cors": {
            "allowOrigins": ["https://app.example"],
            "allowMethods": ["GET"],
            "maxAge": 60,
        },
        "paths": {
            "/hello": {
                "get": {
                    "x-amazon-apigateway-integration": {
                        "type": "aws_proxy",
                        "httpMethod": "POST",
                        "uri": uri,
                        "payloadFormatVersion": "2.0",
                    }
                }
            },
            "/bare": {"get": {"responses": {}}},
        },
    }
    imported = apis.import_api(Body=json.dumps(definition))
    api_id = imported["ApiId"]
    assert imported["Name"] == "imported"
    assert imported["CorsConfiguration"]["AllowOrigins"] == ["https://app.example"]
    assert any("/bare" in w for w in imported["Warnings"])
    keys = sorted(r["RouteKey"] for r in apis.get_routes(ApiId=api_id)["Items"])
    assert keys == ["GET /bare", "GET /hello"]
    _allow_api(lam, echo, api_id)
    apis.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    hello = send(server.endpoint, "GET", _url(server, api_id, "/hello"),
                 headers={"Origin": "https://app.example"})  # fmt: skip
    assert hello.status == 200 and hello.json()["routeKey"] == "GET /hello"
    assert hello.header("access-control-allow-origin") == "https://app.example"
    preflight = send(server.endpoint, "OPTIONS", _url(server, api_id, "/hello"),
                     headers={"Origin": "https://app.example",
                              "Access-Control-Request-Method": "GET"})  # fmt: skip
    assert preflight.status == 204
    assert preflight.header("access-control-allow-methods") == "GET"
    assert preflight.header("access-control-max-age") == "60"
    # SAM's HttpApi: the default route as the "$default" path, in YAML.
    yaml_body = f"""
openapi: "3.0.1"
info: {{title: reimported}}
paths:
  $default:
    x-amazon-apigateway-any-method:
      x-amazon-apigateway-integration:
        type: aws_proxy
        uri: "{uri}"
        payloadFormatVersion: "2.0"
"""
    reimported = apis.reimport_api(ApiId=api_id, Body=yaml_body)
    assert reimported["Name"] == "reimported"
    assert [r["RouteKey"] for r in apis.get_routes(ApiId=api_id)["Items"]] == ["$default"]
    assert (
        send(server.endpoint, "GET", _url(server, api_id, "/any/thing")).json()["routeKey"]
        == "$default"
    )
    strict = error_of(apis.import_api, Body=json.dumps(definition), FailOnWarnings=True)
    assert strict["Code"] == "BadRequestException"
    for body in ("{not json: [", json.dumps({"info": {"title": "x"}})):
        malformed = error_of(apis.import_api, Body=body)
        assert (malformed["Code"], malformed["HTTPStatusCode"]) == ("BadRequestException", 400)


def test_sandlot_urls_lists_stages_and_function_urls(server, client, echo):
    apis, lam = client("apigatewayv2"), client("lambda")
    api_id = apis.create_api(Name="listed", ProtocolType="HTTP", Target=echo)["ApiId"]
    name = echo.rsplit(":", 1)[1]
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    result = subprocess.run(
        [sys.executable, "-m", "sandlot.cli.main", "urls", "--endpoint", server.endpoint],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"api {api_id} (listed) stage $default  {_url(server, api_id, '/')}" in result.stdout
    assert f"function {echo}  {url}" in result.stdout


def test_iam_and_unserved_operations(server, client):
    iam = client("iam")
    user = unique("apidev")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = make_client(server.endpoint, "apigatewayv2", key["AccessKeyId"],
                          key["SecretAccessKey"])  # fmt: skip
    denied = error_of(as_user.create_api, Name="x", ProtocolType="HTTP")
    assert (denied["Code"], denied["HTTPStatusCode"]) == ("AccessDeniedException", 403)
    assert "apigateway:POST on resource: arn:aws:apigateway:us-east-1::/apis" in denied["Message"]
    iam.put_user_policy(
        UserName=user,
        PolicyName="apis",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["apigateway:POST", "apigateway:GET"],
                     "Resource": "arn:aws:apigateway:us-east-1::/apis*"}
                ],
            }
        ),
    )  # fmt: skip
    api_id = as_user.create_api(Name="x", ProtocolType="HTTP")["ApiId"]
    assert as_user.get_api(ApiId=api_id)["Name"] == "x"
    assert error_of(as_user.delete_api, ApiId=api_id)["Code"] == "AccessDeniedException"
    unserved = error_of(client("apigatewayv2").get_models, ApiId=api_id)
    assert unserved["HTTPStatusCode"] == 501
