"""The pure parts of API Gateway: patch operations, OpenAPI planning of authorizers
and security, Lambda authorizer answers, JWT claims as the integration sees them."""

from __future__ import annotations

import json

import pytest

from sandlot.iam.policy import Outcome
from sandlot.protocol import ServiceError
from sandlot.services.apigateway import patch
from sandlot.services.apigateway.authorization import _grant
from sandlot.services.apigateway.openapi import read_definition
from sandlot.services.apigatewayv2.authorization import _claim

ARN = "arn:aws:execute-api:us-east-1:000000000000:api/prod/GET/pets/7"


def test_patch_operations():
    doc = {"name": "a", "variables": {"x": "1"}}
    patch.apply(doc, [
        {"op": "replace", "path": "/name", "value": "b"},
        {"op": "add", "path": "/variables/y", "value": "2"},
        {"op": "remove", "path": "/variables/x"},
        {"op": "replace", "path": "/enabled", "value": "TRUE"},
        {"op": "replace", "path": "/scopes", "value": "a, b"},
    ], ("name", "variables", "enabled", "scopes"), {"enabled": bool, "scopes": list})  # fmt: skip
    assert doc == {"name": "b", "variables": {"y": "2"}, "enabled": True, "scopes": ["a", "b"]}
    for bad in ({"op": "replace", "path": "/id", "value": "x"},
                {"op": "move", "path": "/name"},
                {"op": "replace", "path": "/enabled", "value": "maybe"}):  # fmt: skip
        with pytest.raises(ServiceError) as error:
            patch.apply({}, [bad], ("name", "enabled"), {"enabled": bool})
        assert error.value.code == "BadRequestException"


def test_openapi_security_becomes_authorizers_and_method_settings():
    uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:f/invocations"
    definition = {
        "openapi": "3.0.1", "info": {"title": "t"},
        "components": {"securitySchemes": {
            "Tok": {"type": "apiKey", "name": "X-Auth", "in": "header",
                    "x-amazon-apigateway-authorizer": {"type": "token", "authorizerUri": uri}},
            "Req": {"type": "apiKey", "name": "unused", "in": "header",
                    "x-amazon-apigateway-authorizer": {
                        "type": "request", "authorizerUri": uri,
                        "identitySource": "method.request.header.A, method.request.querystring.b"}},
            "sig": {"type": "apiKey", "name": "Authorization", "in": "header",
                    "x-amazon-apigateway-authtype": "awsSigv4"},
            "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
        }},
        "security": [{"Tok": []}],
        "paths": {
            "/a": {"get": {"x-amazon-apigateway-integration": {"type": "mock"}}},
            "/b": {"get": {"security": [{"Req": []}, {"api_key": []}],
                           "x-amazon-apigateway-integration": {"type": "mock"}}},
            "/c": {"get": {"security": [{"sig": []}],
                           "x-amazon-apigateway-integration": {"type": "mock"}}},
            "/d": {"get": {"security": [{"Nope": []}]}},
        },
    }  # fmt: skip
    plan = read_definition({"body": json.dumps(definition).encode()})
    tok, req = plan.authorizers["Tok"], plan.authorizers["Req"]
    assert (tok["type"], tok["identitySource"]) == ("TOKEN", "method.request.header.X-Auth")
    assert tok["authorizerResultTtlInSeconds"] == 300
    assert req["identitySource"] == "method.request.header.A, method.request.querystring.b"
    methods = {path: method for path, _, method in plan.methods}
    assert (methods["/a"]["authorizationType"], methods["/a"]["authorizerId"]) == (
        "CUSTOM",
        tok["id"],
    )
    assert methods["/b"]["authorizerId"] == req["id"] and methods["/b"]["apiKeyRequired"] is True
    assert methods["/c"]["authorizationType"] == "AWS_IAM"
    assert any("Nope" in w for w in plan.warnings) and any("/d" in w for w in plan.warnings)
    with pytest.raises(ServiceError):
        read_definition({"body": json.dumps(definition).encode(), "failOnWarnings": True})


def _policy(effect: str, resource: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Action": "execute-api:Invoke", "Resource": resource}]}  # fmt: skip


def test_authorizer_answers():
    prefix = "arn:aws:execute-api:us-east-1:000000000000:api"
    grant = _grant({"principalId": "u", "policyDocument": _policy("Allow", prefix + "/*/GET/*"),
                    "context": {"n": 1, "ok": True, "s": "x"}})  # fmt: skip
    assert grant is not None and grant.context == {"n": "1", "ok": "true", "s": "x"}
    assert grant.check(ARN) is None
    denied = grant.check(prefix + "/prod/POST/pets")
    assert denied.status == 403 and json.loads(denied.body) == {
        "message": "User is not authorized to access this resource"}  # fmt: skip
    deny = _grant({"principalId": "u", "policyDocument": _policy("Deny", "*")})
    assert json.loads(deny.check(ARN).body)["message"].endswith("with an explicit deny")
    assert grant._decided[ARN] == Outcome.ALLOW  # decided once per method ARN
    for bad in ({"principalId": "u"},
                {"principalId": {"x": 1}, "policyDocument": _policy("Allow", "*")},
                {"principalId": "u", "policyDocument": _policy("Allow", "*"),
                 "context": {"nested": {"a": 1}}},
                {"principalId": "u", "policyDocument": {"Statement": "nonsense"}},
                ["not", "an", "object"]):  # fmt: skip
        assert _grant(bad) is None


def test_jwt_claims_as_strings():
    assert [_claim(v) for v in ("a", 5, True, ["x", "y"], {"k": 1})] == [
        "a", "5", "true", "[x y]", '{"k":1}']  # fmt: skip
