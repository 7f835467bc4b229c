"""HTTP API authorizers end to end: JWT authorizers validating real tokens of a real
OIDC issuer (PyJWT-signed, JWKS over HTTPS), Lambda REQUEST authorizers (payload 2.0
simple responses with caching, payload 1.0 IAM policies) and AWS_IAM routes, through
real HTTP requests."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.conftest import aws, error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import PROXY_ECHO, invoke_url, send, signed_headers
from tests.e2e.oidc_issuer import OidcIssuer
from tests.e2e.server import SandlotServer

ACCOUNT = "000000000000"
UNAUTHORIZED = (401, {"message": "Unauthorized"})
FORBIDDEN = (403, {"message": "Forbidden"})

# Allows the x-token "allow" (simple response, or an IAM policy for payload 1.0); its
# context carries the event it saw and its request id (the same twice: cached).
AUTHORIZER = """
import json

def handler(event, context):
    token = (event.get("headers") or {}).get("x-token")
    if token == "unauthorized":
        raise Exception("Unauthorized")
    details = {"event": json.dumps(event), "invocation": context.aws_request_id}
    if event["version"] == "2.0":
        return {"isAuthorized": token == "allow", "context": details}
    effect = "Allow" if token == "allow" else "Deny"
    return {"principalId": "me", "context": details, "policyDocument": {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect,
                       "Resource": event["methodArn"]}]}}
"""


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    with OidcIssuer(tmp_path_factory.mktemp("issuer")) as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory, issuer):
    """A server trusting the issuer's (self-signed) certificate, as a JWT authorizer
    trusts a public CA's: API Gateway fetches the JWKS over verified HTTPS."""
    certificate = str(issuer.cert_file)
    with SandlotServer(tmp_path_factory.mktemp("data"), env={"SSL_CERT_FILE": certificate}) as s:
        yield s


@pytest.fixture(scope="module")
def functions(server):
    lam = make_client(server.endpoint, "lambda")
    arns = {}
    for label, code in (("echo", PROXY_ECHO), ("authorizer", AUTHORIZER)):
        name = unique(f"http-{label}")
        create_function(lam, name, {"app.py": code})
        arns[label] = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        lam.add_permission(FunctionName=name, StatementId="apigateway",
                           Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                           SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:*")  # fmt: skip
    return arns


def _uri(function_arn: str) -> str:
    return (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    )


def _api(apis, functions, version: str = "2.0") -> tuple[str, str]:
    api_id = apis.create_api(Name=unique("http-auth"), ProtocolType="HTTP")["ApiId"]
    integration = apis.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY",
                                          IntegrationUri=functions["echo"],
                                          PayloadFormatVersion=version)["IntegrationId"]  # fmt: skip
    apis.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    return api_id, f"integrations/{integration}"


def _call(server, api_id, path, headers=()):
    return send(server.endpoint, "GET", invoke_url(server, api_id, path), headers=headers)


def _outcome(answer):
    return answer.status, answer.json()


def test_jwt_authorizer(server, client, functions, issuer):
    apis = client("apigatewayv2")
    api_id, target = _api(apis, functions)
    authorizer = apis.create_authorizer(
        ApiId=api_id, Name="jwt", AuthorizerType="JWT",
        IdentitySource=["$request.header.Authorization"],
        JwtConfiguration={"Issuer": issuer.url, "Audience": ["app"]},
    )["AuthorizerId"]  # fmt: skip
    assert apis.get_authorizer(ApiId=api_id, AuthorizerId=authorizer)["JwtConfiguration"][
        "Issuer"] == issuer.url  # fmt: skip
    listed = aws(server.endpoint, "apigatewayv2", "get-authorizers", "--api-id", api_id)
    assert [a["AuthorizerType"] for a in listed["Items"]] == ["JWT"]  # the AWS CLI too
    apis.create_route(ApiId=api_id, RouteKey="GET /jwt", Target=target,
                      AuthorizationType="JWT", AuthorizerId=authorizer)  # fmt: skip
    apis.create_route(ApiId=api_id, RouteKey="GET /scoped", Target=target,
                      AuthorizationType="JWT", AuthorizerId=authorizer,
                      AuthorizationScopes=["orders/read"])  # fmt: skip

    def bearer(token):
        return {"Authorization": f"Bearer {token}"}

    assert _outcome(_call(server, api_id, "/jwt")) == UNAUTHORIZED
    good = issuer.token(sub="alice", aud="app", groups=["admins", "dev"])
    answer = _call(server, api_id, "/jwt", bearer(good))
    assert answer.status == 200, answer.body
    jwt_context = answer.json()["requestContext"]["authorizer"]["jwt"]
    claims = jwt_context["claims"]
    assert (claims["sub"], claims["aud"], claims["iss"]) == ("alice", "app", issuer.url)
    assert claims["groups"] == "[admins dev]" and isinstance(claims["exp"], str)
    expired = _call(server, api_id, "/jwt", bearer(issuer.token(sub="a", aud="app", ttl=-60)))
    assert _outcome(expired) == UNAUTHORIZED
    assert "expired" in expired.header("www-authenticate")
    wrong_aud = _call(server, api_id, "/jwt", bearer(issuer.token(sub="a", aud="other")))
    assert _outcome(wrong_aud) == UNAUTHORIZED
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = issuer.token(sub="a", aud="app", key=stranger)
    assert _outcome(_call(server, api_id, "/jwt", bearer(forged))) == UNAUTHORIZED
    assert _outcome(_call(server, api_id, "/jwt", bearer("not-a-jwt"))) == UNAUTHORIZED
    # An access token has no aud: its client_id must be an audience.
    access = issuer.token(sub="a", aud=None, client_id="app", scope="orders/read orders/write")
    assert _call(server, api_id, "/jwt", bearer(access)).status == 200
    scoped = _call(server, api_id, "/scoped", bearer(access))
    assert scoped.status == 200, scoped.body
    assert scoped.json()["requestContext"]["authorizer"]["jwt"]["scopes"] == [
        "orders/read", "orders/write"]  # fmt: skip
    unscoped = issuer.token(sub="a", aud="app", scope="orders/write")
    assert _outcome(_call(server, api_id, "/scoped", bearer(unscoped))) == FORBIDDEN
    in_use = error_of(apis.delete_authorizer, ApiId=api_id, AuthorizerId=authorizer)
    assert (in_use["Code"], in_use["HTTPStatusCode"]) == ("ConflictException", 409)


def test_lambda_authorizers(server, client, functions):
    apis = client("apigatewayv2")
    api_id, target = _api(apis, functions)
    simple = apis.create_authorizer(
        ApiId=api_id, Name="simple", AuthorizerType="REQUEST",
        AuthorizerUri=_uri(functions["authorizer"]), AuthorizerPayloadFormatVersion="2.0",
        EnableSimpleResponses=True, IdentitySource=["$request.header.x-token"],
        AuthorizerResultTtlInSeconds=300,
    )["AuthorizerId"]  # fmt: skip
    policy = apis.create_authorizer(
        ApiId=api_id, Name="policy", AuthorizerType="REQUEST",
        AuthorizerUri=_uri(functions["authorizer"]), AuthorizerPayloadFormatVersion="1.0",
        IdentitySource=["$request.header.x-token"],
    )["AuthorizerId"]  # fmt: skip
    for key, authorizer in (("GET /simple", simple), ("GET /policy", policy)):
        apis.create_route(ApiId=api_id, RouteKey=key, Target=target,
                          AuthorizationType="CUSTOM", AuthorizerId=authorizer)  # fmt: skip
    bad = error_of(apis.create_authorizer, ApiId=api_id, Name="bad", AuthorizerType="REQUEST",
                   AuthorizerUri=_uri(functions["authorizer"]),
                   AuthorizerPayloadFormatVersion="1.0", EnableSimpleResponses=True,
                   IdentitySource=["$request.header.x-token"])  # fmt: skip
    assert bad["Code"] == "BadRequestException"
    # A missing identity source: 401 without calling the function.
    assert _outcome(_call(server, api_id, "/simple")) == UNAUTHORIZED
    assert _outcome(_call(server, api_id, "/simple", {"x-token": "nope"})) == FORBIDDEN
    assert _outcome(_call(server, api_id, "/simple", {"x-token": "unauthorized"})) == UNAUTHORIZED
    first = _call(server, api_id, "/simple", {"x-token": "allow"})
    assert first.status == 200, first.body
    context = first.json()["requestContext"]["authorizer"]["lambda"]
    event = json.loads(context["event"])
    assert (event["version"], event["type"]) == ("2.0", "REQUEST")
    assert event["identitySource"] == ["allow"] and event["routeKey"] == "GET /simple"
    assert (
        event["routeArn"] == f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/$default/GET/simple"
    )
    again = _call(server, api_id, "/simple", {"x-token": "allow"})
    assert again.json()["requestContext"]["authorizer"]["lambda"]["invocation"] == context[
        "invocation"]  # fmt: skip
    # Payload 1.0 with an IAM policy (no caching: a new call each time).
    assert _outcome(_call(server, api_id, "/policy", {"x-token": "nope"})) == FORBIDDEN
    allowed = _call(server, api_id, "/policy", {"x-token": "allow"})
    assert allowed.status == 200, allowed.body
    lambda_context = allowed.json()["requestContext"]["authorizer"]["lambda"]
    event = json.loads(lambda_context["event"])
    assert (event["version"], event["type"]) == ("1.0", "REQUEST")
    assert event["methodArn"].endswith(f"{api_id}/$default/GET/policy")
    assert event["identitySource"] == "allow" and event["headers"]["x-token"] == "allow"


def test_iam_route(server, client, functions):
    apis, iam = client("apigatewayv2"), client("iam")
    api_id, target = _api(apis, functions)
    apis.create_route(ApiId=api_id, RouteKey="GET /private", Target=target,
                      AuthorizationType="AWS_IAM")  # fmt: skip
    url = invoke_url(server, api_id, "/private")
    assert _outcome(send(server.endpoint, "GET", url)) == FORBIDDEN
    name = unique("http-caller")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]

    def signed():
        headers = signed_headers("GET", url, b"", key["AccessKeyId"], key["SecretAccessKey"],
                                 "execute-api")  # fmt: skip
        return send(server.endpoint, "GET", url, b"", headers)

    assert _outcome(signed()) == FORBIDDEN
    iam.put_user_policy(UserName=name, PolicyName="invoke", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                       "Resource": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*"}]}))  # fmt: skip
    answer = signed()
    assert answer.status == 200, answer.body
    iam_context = answer.json()["requestContext"]["authorizer"]["iam"]
    assert iam_context["userArn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    assert iam_context["accessKey"] == key["AccessKeyId"]


def test_authorizers_from_openapi(server, client, functions, issuer):
    """SAM's HttpApi Auth writes security schemes with x-amazon-apigateway-authorizer."""
    apis = client("apigatewayv2")
    proxy = {"type": "aws_proxy", "uri": functions["echo"], "payloadFormatVersion": "2.0"}
    definition = {
        "openapi": "3.0.1",
        "info": {"title": "secured-http", "version": "1"},
        "components": {"securitySchemes": {
            "Jwt": {"type": "oauth2", "x-amazon-apigateway-authorizer": {
                "type": "jwt", "identitySource": "$request.header.Authorization",
                "jwtConfiguration": {"issuer": issuer.url, "audience": ["app"]}}},
            "Iam": {"type": "apiKey", "name": "Authorization", "in": "header",
                    "x-amazon-apigateway-authtype": "awsSigv4"},
        }},
        "security": [{"Jwt": ["orders/read"]}],
        "paths": {
            "/orders": {"get": {"x-amazon-apigateway-integration": proxy}},
            "/admin": {"get": {"security": [{"Iam": []}],
                               "x-amazon-apigateway-integration": proxy}},
            "/public": {"get": {"security": [], "x-amazon-apigateway-integration": proxy}},
        },
    }  # fmt: skip
    api_id = apis.import_api(Body=json.dumps(definition))["ApiId"]
    apis.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    [authorizer] = apis.get_authorizers(ApiId=api_id)["Items"]
    assert (authorizer["Name"], authorizer["AuthorizerType"]) == ("Jwt", "JWT")
    routes = {r["RouteKey"]: r for r in apis.get_routes(ApiId=api_id)["Items"]}
    assert routes["GET /orders"]["AuthorizationScopes"] == ["orders/read"]
    assert routes["GET /admin"]["AuthorizationType"] == "AWS_IAM"
    assert routes["GET /public"]["AuthorizationType"] == "NONE"
    token = issuer.token(sub="a", aud="app", scope="orders/read")
    assert _outcome(_call(server, api_id, "/orders")) == UNAUTHORIZED
    assert _call(server, api_id, "/orders", {"Authorization": token}).status == 200
    assert _outcome(_call(server, api_id, "/admin")) == FORBIDDEN
    assert _call(server, api_id, "/public").status == 200


def test_sam_http_api_with_jwt_auth(server, issuer):
    """SAM's HttpApi Auth: the transform writes the authorizer into the API's Body;
    AWS::ApiGatewayV2::Api imports it and the $default Stage serves it."""
    template = f"""
Transform: AWS::Serverless-2016-10-31
Resources:
  HttpApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration: {{issuer: "{issuer.url}", audience: [app]}}
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            claims = (event["requestContext"].get("authorizer") or {{}}).get("jwt", {{}})
            return {{"statusCode": 200, "body": claims.get("claims", {{}}).get("sub", "anonymous")}}
      Events:
        Secured:
          Type: HttpApi
          Properties: {{ApiId: !Ref HttpApi, Path: /hello, Method: get}}
        Open:
          Type: HttpApi
          Properties: {{ApiId: !Ref HttpApi, Path: /open, Method: get, Auth: {{Authorizer: NONE}}}}
"""
    cfn = make_client(server.endpoint, "cloudformation")
    cfn.create_stack(StackName="sam-http-jwt", TemplateBody=template,
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])  # fmt: skip
    cfn.get_waiter("stack_create_complete").wait(
        StackName="sam-http-jwt", WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    summaries = cfn.list_stack_resources(StackName="sam-http-jwt")["StackResourceSummaries"]
    api_id = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}["HttpApi"]
    assert _outcome(_call(server, api_id, "/hello")) == UNAUTHORIZED
    token = issuer.token(sub="sam-user", aud="app")
    answer = _call(server, api_id, "/hello", {"Authorization": f"Bearer {token}"})
    assert (answer.status, answer.body) == (200, b"sam-user")
    assert _call(server, api_id, "/open").body == b"anonymous"
    cfn.delete_stack(StackName="sam-http-jwt")
    cfn.get_waiter("stack_delete_complete").wait(
        StackName="sam-http-jwt", WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    gone = error_of(make_client(server.endpoint, "apigatewayv2").get_api, ApiId=api_id)
    assert gone["Code"] == "NotFoundException"
