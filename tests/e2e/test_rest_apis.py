"""API Gateway REST APIs, first step: ImportRestApi from OpenAPI with Lambda proxy
integrations (as SAM's Api writes them), deployments and stages, and real HTTP requests
through the invoke URLs to a function echoing its REST proxy event; AWS's errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.e2e.conftest import aws, error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import PROXY_ECHO, invoke_url, send

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def echo(server):
    lam = make_client(server.endpoint, "lambda")
    name = unique("rest-echo")
    create_function(lam, name, {"app.py": PROXY_ECHO})
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def _definition(echo: str) -> dict:
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{echo}/invocations"
    proxy = {"type": "aws_proxy", "httpMethod": "POST", "uri": uri}
    return {
        "swagger": "2.0",
        "info": {"title": "rest-pets", "version": "1"},
        "x-amazon-apigateway-binary-media-types": ["image/png"],
        "paths": {
            "/pets/{id}": {"get": {"x-amazon-apigateway-integration": proxy}},
            "/pets": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": proxy}},
            "/files/{proxy+}": {"get": {"x-amazon-apigateway-integration": proxy}},
            "/queue": {"post": {"x-amazon-apigateway-integration": {"type": "aws"}}},
        },
    }


def test_import_deploy_and_invoke(server, client, echo):
    apis, lam = client("apigateway"), client("lambda")
    imported = apis.import_rest_api(body=json.dumps(_definition(echo)).encode())
    api_id = imported["id"]
    assert imported["name"] == "rest-pets"
    assert any("/queue" in w for w in imported["warnings"])
    paths = sorted(r["path"] for r in apis.get_resources(restApiId=api_id)["items"])
    assert paths == ["/", "/files", "/files/{proxy+}", "/pets", "/pets/{id}", "/queue"]
    listed = aws(server.endpoint, "apigateway", "get-rest-apis")["items"]
    assert api_id in [a["id"] for a in listed]
    apis.create_deployment(restApiId=api_id, stageName="prod", variables={"v": "1"})
    assert apis.get_stage(restApiId=api_id, stageName="prod")["variables"] == {"v": "1"}
    url = invoke_url(server, api_id, "/prod/pets/7?a=1&a=2")
    denied = send(server.endpoint, "GET", url)
    assert (denied.status, denied.json()) == (500, {"message": "Internal server error"})
    lam.add_permission(
        FunctionName=echo,
        StatementId=f"rest-{api_id}",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/GET/pets/*",
    )
    answer = send(server.endpoint, "GET", url, headers=[("X-Multi", "a"), ("X-Multi", "b")])
    assert answer.status == 200, answer.body
    event = answer.json()
    assert "version" not in event
    assert event["resource"] == "/pets/{id}"
    assert event["path"] == "/pets/7"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "7"}
    assert event["queryStringParameters"] == {"a": "2"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["multiValueHeaders"]["x-multi"] == ["a", "b"]
    assert event["stageVariables"] == {"v": "1"}
    context = event["requestContext"]
    assert context["stage"] == "prod" and context["path"] == "/prod/pets/7"
    assert context["resourcePath"] == "/pets/{id}" and context["resourceId"]
    assert context["apiId"] == api_id and context["accountId"] == ACCOUNT
    # The policy allows GET /pets/* only: the ANY method on /pets is not allowed.
    assert send(server.endpoint, "POST", invoke_url(server, api_id, "/prod/pets")).status == 500
    lam.add_permission(
        FunctionName=echo,
        StatementId=f"rest-all-{api_id}",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*",
    )
    posted = send(
        server.endpoint,
        "POST",
        invoke_url(server, api_id, "/prod/pets", form="path"),
        b"\x89PNG",
        {"Content-Type": "image/png"},
    )
    assert posted.status == 200 and posted.json()["isBase64Encoded"] is True
    greedy = send(server.endpoint, "GET", invoke_url(server, api_id, "/prod/files/a/b"))
    assert greedy.json()["pathParameters"] == {"proxy": "a/b"}
    # AWS's answers when nothing matches, and for a malformed or failed function.
    missing = send(server.endpoint, "GET", invoke_url(server, api_id, "/prod/nothing"))
    assert (missing.status, missing.json()) == (403, {"message": "Missing Authentication Token"})
    assert send(server.endpoint, "DELETE", invoke_url(server, api_id, "/prod/pets/7")).status == 403
    stage = send(server.endpoint, "GET", invoke_url(server, api_id, "/nostage/pets/7"))
    assert (stage.status, stage.json()) == (403, {"message": "Forbidden"})
    for path in ("/prod/files/garbage", "/prod/files/fail"):
        failed = send(server.endpoint, "GET", invoke_url(server, api_id, path))
        assert (failed.status, failed.json()) == (502, {"message": "Internal server error"})
    assert any(f"REST API {api_id} stage prod" in line for line in server.output)
    listed = subprocess.run(
        [sys.executable, "-m", "sandlot.cli.main", "urls", "--endpoint", server.endpoint],
        capture_output=True,
        text=True,
        timeout=60,
    )
    expected = f"rest-api {api_id} (rest-pets) stage prod  {invoke_url(server, api_id, '/prod/')}"
    assert expected in listed.stdout, listed.stdout + listed.stderr
    apis.delete_rest_api(restApiId=api_id)
    assert error_of(apis.get_rest_api, restApiId=api_id)["Code"] == "NotFoundException"


def test_put_rest_api_overwrites_or_merges(server, client, echo):
    apis = client("apigateway")
    api_id = apis.create_rest_api(name="put")["id"]
    definition = _definition(echo)
    apis.put_rest_api(restApiId=api_id, body=json.dumps(definition).encode())
    paths = sorted(r["path"] for r in apis.get_resources(restApiId=api_id)["items"])
    assert paths == ["/", "/files", "/files/{proxy+}", "/pets", "/pets/{id}", "/queue"]
    uri = definition["paths"]["/pets/{id}"]["get"]["x-amazon-apigateway-integration"]
    merged = {"swagger": "2.0", "info": {"title": "extra"},
              "paths": {"/pets/{id}": {"delete": {"x-amazon-apigateway-integration": uri}},
                        "/toys": {"get": {"x-amazon-apigateway-integration": uri}}}}  # fmt: skip
    apis.put_rest_api(restApiId=api_id, mode="merge", body=json.dumps(merged).encode())
    resources = {r["path"]: r for r in apis.get_resources(restApiId=api_id)["items"]}
    assert sorted(resources["/pets/{id}"]["resourceMethods"]) == ["DELETE", "GET"]
    assert "/toys" in resources and "/queue" in resources
    assert apis.get_rest_api(restApiId=api_id)["name"] == "rest-pets"  # merge keeps it
    apis.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(merged).encode())
    paths = sorted(r["path"] for r in apis.get_resources(restApiId=api_id)["items"])
    assert paths == ["/", "/pets", "/pets/{id}", "/toys"]
    assert apis.get_rest_api(restApiId=api_id)["name"] == "extra"


def test_bad_imports_and_unserved_operations(client):
    apis = client("apigateway")
    for body in (b"{not json: [", json.dumps({"info": {"title": "x"}}).encode()):
        bad = error_of(apis.import_rest_api, body=body)
        assert (bad["Code"], bad["HTTPStatusCode"]) == ("BadRequestException", 400)
    api_id = apis.create_rest_api(name="empty")["id"]
    empty = error_of(apis.create_deployment, restApiId=api_id, stageName="s")
    assert empty["Code"] == "BadRequestException"
    assert error_of(apis.get_documentation_parts, restApiId=api_id)["HTTPStatusCode"] == 501
