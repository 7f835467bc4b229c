"""REST API Lambda authorizers end to end: authorizers made with boto3 (CreateAuthorizer,
PutMethod CUSTOM) and imported from OpenAPI security schemes, real HTTP requests through
the invoke URL; AWS's authorizer events, 401/403/500 answers, the context reaching the
integration and result caching by identity source."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import aws, error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import PROXY_ECHO, invoke_url, send, signed_headers
from tests.e2e.roles import ensure_role, trust_policy

ACCOUNT = "000000000000"
UNAUTHORIZED = (401, {"message": "Unauthorized"})
EXPLICIT_DENY = (
    403,
    {"message": "User is not authorized to access this resource with an explicit deny"},
)
IMPLICIT_DENY = (403, {"message": "User is not authorized to access this resource"})

# The authorizer decides by the token (TOKEN) or the x-token header (REQUEST); its
# context carries the event it saw and its request id (the same id twice: cached).
AUTHORIZER = """
import json

def handler(event, context):
    token = event.get("authorizationToken") or event["headers"].get("x-token")
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "nonsense":
        return {"principalId": "p", "context": {"nested": {"no": 1}}, "policyDocument": {}}
    arn = event["methodArn"]
    if token.startswith("key:"):  # an API key chosen by the authorizer (apiKeySource AUTHORIZER)
        return {"principalId": "keyed", "usageIdentifierKey": token[4:], "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}]}}
    effect, resource = {
        "allow": ("Allow", arn),
        "allow-pets": ("Allow", arn.split("/")[0] + "/*/GET/pets/*"),
        "deny": ("Deny", arn),
        "elsewhere": ("Allow", arn.split("/")[0] + "/other/GET/"),
    }.get(token, ("Deny", "*"))
    return {
        "principalId": "user-" + token,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {"event": json.dumps(event), "invocation": context.aws_request_id,
                    "number": 7, "flag": True},
    }
"""


@pytest.fixture(scope="module")
def functions(server):
    lam = make_client(server.endpoint, "lambda")
    arns = {}
    for label, code in (("echo", PROXY_ECHO), ("authorizer", AUTHORIZER)):
        name = unique(f"rest-{label}")
        create_function(lam, name, {"app.py": code})
        arns[label] = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        lam.add_permission(
            FunctionName=name,
            StatementId="apigateway",
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:*",
        )
    return arns


def _uri(function_arn: str) -> str:
    return (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    )


def _api_with_authorizer(apis, functions, **authorizer) -> tuple[str, str]:
    """An API with GET /pets/{id} and GET /toys behind the authorizer, deployed to prod."""
    api_id = apis.create_rest_api(name=unique("auth"))["id"]
    created = apis.create_authorizer(
        restApiId=api_id, name="auth", authorizerUri=_uri(functions["authorizer"]), **authorizer
    )
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    pets = apis.create_resource(restApiId=api_id, parentId=root, pathPart="pets")["id"]
    pet = apis.create_resource(restApiId=api_id, parentId=pets, pathPart="{id}")["id"]
    toys = apis.create_resource(restApiId=api_id, parentId=root, pathPart="toys")["id"]
    for resource in (pet, toys):
        apis.put_method(restApiId=api_id, resourceId=resource, httpMethod="GET",
                        authorizationType="CUSTOM", authorizerId=created["id"])  # fmt: skip
        apis.put_integration(restApiId=api_id, resourceId=resource, httpMethod="GET",
                             type="AWS_PROXY", integrationHttpMethod="POST",
                             uri=_uri(functions["echo"]))  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod", variables={"tier": "gold"})
    return api_id, created["id"]


def _get(server, api_id, path, headers=()):
    answer = send(server.endpoint, "GET", invoke_url(server, api_id, path), headers=headers)
    return answer


def _outcome(answer):
    return answer.status, answer.json()


def test_token_authorizer(server, client, functions):
    apis = client("apigateway")
    api_id, authorizer_id = _api_with_authorizer(
        apis, functions, type="TOKEN", identitySource="method.request.header.Authorization",
        identityValidationExpression="^[a-z-]+$", authorizerResultTtlInSeconds=0,
    )  # fmt: skip
    got = apis.get_authorizer(restApiId=api_id, authorizerId=authorizer_id)
    assert got["type"] == "TOKEN" and got["authType"] == "custom"
    assert got["identitySource"] == "method.request.header.Authorization"
    # No token, or one the validation expression refuses: 401 without calling the function.
    assert _outcome(_get(server, api_id, "/prod/pets/7")) == UNAUTHORIZED
    assert (
        _outcome(_get(server, api_id, "/prod/pets/7", {"Authorization": "Bad Token!"}))
        == UNAUTHORIZED
    )
    assert (
        _outcome(_get(server, api_id, "/prod/pets/7", {"Authorization": "unauthorized"}))
        == UNAUTHORIZED
    )
    assert (
        _outcome(_get(server, api_id, "/prod/pets/7", {"Authorization": "deny"})) == EXPLICIT_DENY
    )
    assert (
        _outcome(_get(server, api_id, "/prod/pets/7", {"Authorization": "elsewhere"}))
        == IMPLICIT_DENY
    )
    broken = _get(server, api_id, "/prod/pets/7", {"Authorization": "nonsense"})
    assert _outcome(broken) == (500, {"message": None})
    assert broken.header("x-amzn-ErrorType") == "AuthorizerConfigurationException"
    allowed = _get(server, api_id, "/prod/pets/7", {"Authorization": "allow"})
    assert allowed.status == 200, allowed.body
    authorizer = allowed.json()["requestContext"]["authorizer"]
    assert authorizer["principalId"] == "user-allow"
    assert authorizer["number"] == "7" and authorizer["flag"] == "true"  # REST: strings
    assert json.loads(authorizer["event"]) == {
        "type": "TOKEN",
        "authorizationToken": "allow",
        "methodArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/prod/GET/pets/7",
    }
    # With a resource policy too: only its explicit Deny refuses; the authorizer decides
    # the rest (here the policy names another path: no statement applies).
    prefix = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}"
    for effect, expected in (("Allow", 200), ("Deny", 403)):
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
             "Resource": f"{prefix}/*/GET/toys"},
            {"Effect": effect, "Principal": "*", "Action": "execute-api:Invoke",
             "Resource": f"{prefix}/*/GET/pets/*"}]}  # fmt: skip
        if effect == "Allow":
            policy["Statement"].pop()
        apis.update_rest_api(restApiId=api_id, patchOperations=[
            {"op": "replace", "path": "/policy", "value": json.dumps(policy)}])  # fmt: skip
        apis.create_deployment(restApiId=api_id, stageName="prod")
        answer = _get(server, api_id, "/prod/pets/7", {"Authorization": "allow"})
        assert answer.status == expected, answer.body


def test_caching_by_token_and_policy_per_request(server, client, functions):
    apis = client("apigateway")
    api_id, authorizer_id = _api_with_authorizer(
        apis, functions, type="TOKEN", identitySource="method.request.header.Authorization"
    )
    assert apis.get_authorizer(restApiId=api_id, authorizerId=authorizer_id)[
        "authorizerResultTtlInSeconds"] == 300  # fmt: skip
    first = _get(server, api_id, "/prod/pets/1", {"Authorization": "allow-pets"})
    second = _get(server, api_id, "/prod/pets/2", {"Authorization": "allow-pets"})
    assert first.status == second.status == 200
    invocation = first.json()["requestContext"]["authorizer"]["invocation"]
    assert second.json()["requestContext"]["authorizer"]["invocation"] == invocation
    # The cached policy allows */pets/* only: /toys is denied without a new call.
    assert (
        _outcome(_get(server, api_id, "/prod/toys", {"Authorization": "allow-pets"}))
        == IMPLICIT_DENY
    )
    # Another token is another cache entry: the function runs again.
    other = _get(server, api_id, "/prod/pets/1", {"Authorization": "allow"})
    assert other.json()["requestContext"]["authorizer"]["invocation"] != invocation
    # Without a deployment, changes to the authorizer do not reach the stage; after one they do.
    apis.update_authorizer(restApiId=api_id, authorizerId=authorizer_id, patchOperations=[
        {"op": "replace", "path": "/authorizerResultTtlInSeconds", "value": "0"}])  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")
    again = [_get(server, api_id, "/prod/pets/1", {"Authorization": "allow"}) for _ in range(2)]
    ids = {a.json()["requestContext"]["authorizer"]["invocation"] for a in again}
    assert len(ids) == 2


def test_flush_stage_authorizers_cache(server, client, functions):
    """FlushStageAuthorizersCache (what `sam sync --code` calls) empties one stage's
    cache: the next request runs the authorizer again; another stage keeps its entry."""
    apis = client("apigateway")
    api_id, _ = _api_with_authorizer(
        apis, functions, type="TOKEN", identitySource="method.request.header.Authorization"
    )
    apis.create_deployment(restApiId=api_id, stageName="beta")

    def invocation(stage: str) -> str:
        answer = _get(server, api_id, f"/{stage}/pets/1", {"Authorization": "allow-pets"})
        assert answer.status == 200
        return answer.json()["requestContext"]["authorizer"]["invocation"]

    prod, beta = invocation("prod"), invocation("beta")
    assert prod != beta  # a cache per stage
    assert invocation("prod") == prod
    apis.flush_stage_authorizers_cache(restApiId=api_id, stageName="prod")
    assert invocation("prod") != prod
    assert invocation("beta") == beta
    apis.flush_stage_cache(restApiId=api_id, stageName="prod")  # no response cache: 202
    with pytest.raises(apis.exceptions.NotFoundException):
        apis.flush_stage_authorizers_cache(restApiId=api_id, stageName="nope")


def test_request_authorizer(server, client, functions):
    apis = client("apigateway")
    api_id, _ = _api_with_authorizer(
        apis, functions, type="REQUEST",
        identitySource="method.request.header.X-Token, method.request.querystring.user",
    )  # fmt: skip
    # A missing identity source: 401 without calling the function.
    assert _outcome(_get(server, api_id, "/prod/pets/7?user=ann")) == UNAUTHORIZED
    assert _outcome(_get(server, api_id, "/prod/pets/7", {"X-Token": "allow"})) == UNAUTHORIZED
    answer = _get(server, api_id, "/prod/pets/7?user=ann", {"X-Token": "allow"})
    assert answer.status == 200, answer.body
    event = json.loads(answer.json()["requestContext"]["authorizer"]["event"])
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/prod/GET/pets/7"
    assert event["resource"] == "/pets/{id}" and event["path"] == "/pets/7"
    assert event["httpMethod"] == "GET" and event["headers"]["x-token"] == "allow"
    assert event["queryStringParameters"] == {"user": "ann"}
    assert event["pathParameters"] == {"id": "7"}
    assert event["stageVariables"] == {"tier": "gold"}
    assert event["requestContext"]["stage"] == "prod" and "body" not in event
    # Cached by both sources: another user runs the function again.
    same = _get(server, api_id, "/prod/pets/7?user=ann", {"X-Token": "allow"})
    other = _get(server, api_id, "/prod/pets/7?user=bob", {"X-Token": "allow"})
    first = answer.json()["requestContext"]["authorizer"]["invocation"]
    assert same.json()["requestContext"]["authorizer"]["invocation"] == first
    assert other.json()["requestContext"]["authorizer"]["invocation"] != first


def test_authorizer_control_plane_errors(server, client, functions):
    apis = client("apigateway")
    api_id = apis.create_rest_api(name=unique("auth-errors"))["id"]
    uri = _uri(functions["authorizer"])
    missing = error_of(apis.create_authorizer, restApiId=api_id, name="a", type="TOKEN",
                       authorizerUri=uri)  # fmt: skip
    assert (missing["Code"], missing["HTTPStatusCode"]) == ("BadRequestException", 400)
    bad_uri = error_of(apis.create_authorizer, restApiId=api_id, name="a", type="TOKEN",
                       authorizerUri="nope", identitySource="method.request.header.A")  # fmt: skip
    assert bad_uri["Code"] == "BadRequestException"
    created = apis.create_authorizer(restApiId=api_id, name="a", type="REQUEST",
                                     authorizerUri=uri, authorizerResultTtlInSeconds=0)  # fmt: skip
    assert [a["id"] for a in apis.get_authorizers(restApiId=api_id)["items"]] == [created["id"]]
    listed = aws(server.endpoint, "apigateway", "get-authorizers", "--rest-api-id", api_id)
    assert [a["name"] for a in listed["items"]] == ["a"]  # the AWS CLI reads them too
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    no_authorizer = error_of(apis.put_method, restApiId=api_id, resourceId=root,
                             httpMethod="GET", authorizationType="CUSTOM")  # fmt: skip
    assert no_authorizer["Code"] == "BadRequestException"
    apis.put_method(restApiId=api_id, resourceId=root, httpMethod="GET",
                    authorizationType="CUSTOM", authorizerId=created["id"])  # fmt: skip
    in_use = error_of(apis.delete_authorizer, restApiId=api_id, authorizerId=created["id"])
    assert (in_use["Code"], in_use["HTTPStatusCode"]) == ("ConflictException", 409)
    apis.delete_method(restApiId=api_id, resourceId=root, httpMethod="GET")
    apis.delete_authorizer(restApiId=api_id, authorizerId=created["id"])
    gone = error_of(apis.get_authorizer, restApiId=api_id, authorizerId=created["id"])
    assert (gone["Code"], gone["HTTPStatusCode"]) == ("NotFoundException", 404)


def _secured_definition(functions) -> dict:
    """SAM's Auth writes security schemes with x-amazon-apigateway-authorizer."""
    proxy = {"type": "aws_proxy", "httpMethod": "POST", "uri": _uri(functions["echo"])}
    return {
        "swagger": "2.0",
        "info": {"title": "secured", "version": "1"},
        "securityDefinitions": {
            "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
            "TokenAuth": {
                "type": "apiKey", "name": "Authorization", "in": "header",
                "x-amazon-apigateway-authtype": "custom",
                "x-amazon-apigateway-authorizer": {
                    "type": "token", "authorizerUri": _uri(functions["authorizer"]),
                    "authorizerResultTtlInSeconds": 0,
                },
            },
        },
        "paths": {
            "/secret": {"get": {"security": [{"TokenAuth": []}],
                                "x-amazon-apigateway-integration": proxy}},
            "/open": {"get": {"x-amazon-apigateway-integration": proxy}},
            "/pets/{id}": {"get": {"security": [{"api_key": []}],
                                   "x-amazon-apigateway-integration": proxy}},
        },
    }  # fmt: skip


def test_authorizers_from_openapi(server, client, functions):
    apis = client("apigateway")
    definition = _secured_definition(functions)
    api_id = apis.import_rest_api(body=json.dumps(definition).encode())["id"]
    [authorizer] = apis.get_authorizers(restApiId=api_id)["items"]
    assert authorizer["name"] == "TokenAuth" and authorizer["type"] == "TOKEN"
    assert authorizer["identitySource"] == "method.request.header.Authorization"
    resources = {r["path"]: r for r in apis.get_resources(restApiId=api_id)["items"]}
    method = apis.get_method(restApiId=api_id, resourceId=resources["/secret"]["id"],
                             httpMethod="GET")  # fmt: skip
    assert (method["authorizationType"], method["authorizerId"]) == ("CUSTOM", authorizer["id"])
    apis.create_deployment(restApiId=api_id, stageName="v1")
    assert _outcome(_get(server, api_id, "/v1/secret")) == UNAUTHORIZED
    assert _get(server, api_id, "/v1/secret", {"Authorization": "allow"}).status == 200
    assert _get(server, api_id, "/v1/open").status == 200


def _user(server, iam, name: str) -> dict:
    iam.create_user(UserName=name)
    return iam.create_access_key(UserName=name)["AccessKey"]


def test_aws_iam_methods_and_resource_policy(server, client, functions):
    apis, iam = client("apigateway"), client("iam")
    api_id = apis.create_rest_api(name=unique("iam"))["id"]
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    for part, kind in (("private", "AWS_IAM"), ("public", "NONE")):
        resource = apis.create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        apis.put_method(restApiId=api_id, resourceId=resource, httpMethod="GET",
                        authorizationType=kind)  # fmt: skip
        apis.put_integration(restApiId=api_id, resourceId=resource, httpMethod="GET",
                             type="AWS_PROXY", integrationHttpMethod="POST",
                             uri=_uri(functions["echo"]))  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")
    url = invoke_url(server, api_id, "/prod/private")
    arn = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/prod/GET/private"

    def signed(key: dict, target: str = url):
        headers = signed_headers("GET", target, b"", key["AccessKeyId"],
                                 key["SecretAccessKey"], "execute-api")  # fmt: skip
        return send(server.endpoint, "GET", target, b"", headers)

    unsigned = send(server.endpoint, "GET", url)
    assert _outcome(unsigned) == (403, {"message": "Missing Authentication Token"})
    name = unique("caller")
    key = _user(server, iam, name)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    assert _outcome(signed(key)) == (403, {"message": (
        f"User: {user_arn} is not authorized to perform: execute-api:Invoke on resource: {arn}")})  # fmt: skip
    iam.put_user_policy(UserName=name, PolicyName="invoke", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                       "Resource": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/GET/*"}],
    }))  # fmt: skip
    allowed = signed(key)
    assert allowed.status == 200, allowed.body
    identity = allowed.json()["requestContext"]["identity"]
    assert identity["userArn"] == user_arn and identity["accessKey"] == key["AccessKeyId"]
    assert identity["accountId"] == ACCOUNT
    # A resource policy denying the user wins over its identity policy; the public
    # method is then open only to whom the policy allows.
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
         "Resource": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/GET/public"},
        {"Effect": "Deny", "Principal": {"AWS": user_arn}, "Action": "execute-api:Invoke",
         "Resource": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*"},
    ]}  # fmt: skip
    apis.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/policy", "value": json.dumps(policy)}])  # fmt: skip
    assert signed(key).status == 200  # a changed policy needs a deployment, as in AWS
    apis.create_deployment(restApiId=api_id, stageName="prod")
    denied = signed(key)
    assert denied.status == 403 and denied.json()["message"].endswith("with an explicit deny")
    assert send(server.endpoint, "GET", invoke_url(server, api_id, "/prod/public")).status == 200
    policy["Statement"][0]["Resource"] = policy["Statement"][0]["Resource"].replace(
        "public", "other"
    )
    apis.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/policy", "value": json.dumps(policy)}])  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")
    closed = send(server.endpoint, "GET", invoke_url(server, api_id, "/prod/public"))
    assert _outcome(closed) == (403, {"message": (
        "User: anonymous is not authorized to perform: execute-api:Invoke on resource: "
        f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/prod/GET/public")})  # fmt: skip


def test_api_keys_and_usage_plans(server, client, functions):
    apis = client("apigateway")
    api_id = apis.create_rest_api(name=unique("keys"))["id"]
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    method = dict(restApiId=api_id, resourceId=root, httpMethod="GET")
    apis.put_method(**method, authorizationType="NONE", apiKeyRequired=True)
    apis.put_integration(**method, type="AWS_PROXY", integrationHttpMethod="POST",
                         uri=_uri(functions["echo"]))  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")
    key = apis.create_api_key(name=unique("key"), enabled=True)
    assert len(key["value"]) >= 20 and "value" not in apis.get_api_key(apiKey=key["id"])
    assert apis.get_api_key(apiKey=key["id"], includeValue=True)["value"] == key["value"]
    plan = apis.create_usage_plan(
        name=unique("plan"), apiStages=[{"apiId": api_id, "stage": "prod"}],
        throttle={"burstLimit": 2, "rateLimit": 0.001}, quota={"limit": 3, "period": "DAY"},
    )  # fmt: skip
    bad_stage = error_of(apis.create_usage_plan, name="x",
                         apiStages=[{"apiId": api_id, "stage": "nope"}])  # fmt: skip
    assert bad_stage["Code"] == "BadRequestException"
    url = invoke_url(server, api_id, "/prod/")

    def call(value=None):
        return send(server.endpoint, "GET", url, headers={"x-api-key": value} if value else {})

    forbidden = (403, {"message": "Forbidden"})
    assert _outcome(call()) == forbidden
    assert _outcome(call(key["value"])) == forbidden  # not in a usage plan yet
    added = apis.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    assert (added["id"], added["value"]) == (key["id"], key["value"])
    assert [k["id"] for k in apis.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [
        key["id"]
    ]
    assert _outcome(call("wrong-key-wrong-key-wrong")) == forbidden
    first = call(key["value"])
    assert first.status == 200, first.body
    identity = first.json()["requestContext"]["identity"]
    assert (identity["apiKey"], identity["apiKeyId"]) == (key["value"], key["id"])
    assert call(key["value"]).status == 200
    # Burst 2 at a near-zero rate: the third request in a row is throttled.
    assert _outcome(call(key["value"])) == (429, {"message": "Too Many Requests"})
    apis.update_usage_plan(usagePlanId=plan["id"], patchOperations=[
        {"op": "replace", "path": "/throttle/rateLimit", "value": "1000"},
        {"op": "replace", "path": "/throttle/burstLimit", "value": "1000"}])  # fmt: skip
    assert call(key["value"]).status == 200  # the third of the quota's 3
    assert _outcome(call(key["value"])) == (429, {"message": "Limit Exceeded"})
    apis.update_api_key(apiKey=key["id"], patchOperations=[
        {"op": "replace", "path": "/enabled", "value": "false"}])  # fmt: skip
    assert _outcome(call(key["value"])) == forbidden
    apis.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])
    apis.delete_api_key(apiKey=key["id"])
    gone = error_of(apis.get_api_key, apiKey=key["id"])
    assert (gone["Code"], gone["HTTPStatusCode"]) == ("NotFoundException", 404)


def test_export_and_reimport(server, client, functions):
    apis = client("apigateway")
    api_id = apis.import_rest_api(body=json.dumps(_secured_definition(functions)).encode())["id"]
    apis.create_deployment(restApiId=api_id, stageName="v1")
    exported = apis.get_export(restApiId=api_id, stageName="v1", exportType="oas30",
                               parameters={"extensions": "apigateway"})  # fmt: skip
    document = json.loads(exported["body"].read())
    assert document["openapi"] == "3.0.1"
    secret = document["paths"]["/secret"]["get"]
    assert secret["security"] == [{"TokenAuth": []}]
    assert secret["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
    assert document["paths"]["/pets/{id}"]["get"]["parameters"][0]["name"] == "id"
    schemes = document["components"]["securitySchemes"]
    assert schemes["TokenAuth"]["x-amazon-apigateway-authorizer"]["type"] == "token"
    assert schemes["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    plain = apis.get_export(restApiId=api_id, stageName="v1", exportType="swagger",
                            accepts="application/yaml")  # fmt: skip
    text = plain["body"].read().decode()
    assert text.startswith("swagger: '2.0'") and "x-amazon-apigateway" not in text
    # The export imports into an equivalent API.
    copy = apis.import_rest_api(body=json.dumps(document).encode())["id"]
    [authorizer] = apis.get_authorizers(restApiId=copy)["items"]
    assert authorizer["type"] == "TOKEN" and authorizer["authorizerResultTtlInSeconds"] == 0
    apis.create_deployment(restApiId=copy, stageName="v1")
    assert _outcome(_get(server, copy, "/v1/secret")) == UNAUTHORIZED
    assert _get(server, copy, "/v1/secret", {"Authorization": "allow"}).status == 200
    assert _outcome(_get(server, copy, "/v1/pets/1")) == (403, {"message": "Forbidden"})
    missing = error_of(apis.get_export, restApiId=api_id, stageName="nope", exportType="oas30")
    assert missing["Code"] == "NotFoundException"


def test_authorizer_credentials_role(server, client, functions):
    """With authorizerCredentials the function is invoked as that role (whose trust
    policy must let API Gateway assume it), not by its resource policy."""
    apis, iam, lam = client("apigateway"), client("iam"), client("lambda")
    name = unique("rest-private-auth")
    create_function(lam, name, {"app.py": AUTHORIZER})  # no resource policy for API Gateway
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    trusted = ensure_role(iam, unique("apigw-invoker"),
                          trust=trust_policy({"Service": "apigateway.amazonaws.com"}))  # fmt: skip
    iam.put_role_policy(RoleName=trusted.rsplit("/", 1)[1], PolicyName="invoke",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                            {"Effect": "Allow", "Action": "lambda:InvokeFunction",
                             "Resource": arn}]}))  # fmt: skip
    untrusted = ensure_role(iam, unique("lambda-only"))
    outcomes = {}
    for label, role in (("trusted", trusted), ("untrusted", untrusted), ("none", None)):
        extra = {"authorizerCredentials": role} if role else {}
        api_id, _ = _api_with_authorizer(
            apis, {**functions, "authorizer": arn}, type="TOKEN", authorizerResultTtlInSeconds=0,
            identitySource="method.request.header.Authorization", **extra,
        )  # fmt: skip
        outcomes[label] = _get(server, api_id, "/prod/pets/1", {"Authorization": "allow"}).status
    assert outcomes == {"trusted": 200, "untrusted": 500, "none": 500}


def test_api_key_from_the_authorizer(server, client, functions):
    apis = client("apigateway")
    api_id, _ = _api_with_authorizer(
        apis, functions, type="TOKEN", identitySource="method.request.header.Authorization",
        authorizerResultTtlInSeconds=0,
    )  # fmt: skip
    resources = {r["path"]: r["id"] for r in apis.get_resources(restApiId=api_id)["items"]}
    apis.update_method(restApiId=api_id, resourceId=resources["/toys"], httpMethod="GET",
                       patchOperations=[{"op": "replace", "path": "/apiKeyRequired",
                                         "value": "true"}])  # fmt: skip
    apis.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/apiKeySource", "value": "AUTHORIZER"}])  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")
    key = apis.create_api_key(name=unique("authorizer-key"), enabled=True)
    plan = apis.create_usage_plan(
        name=unique("plan"), apiStages=[{"apiId": api_id, "stage": "prod"}]
    )
    apis.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    # The x-api-key header does not count: the authorizer names the key.
    header_only = _get(server, api_id, "/prod/toys",
                       {"Authorization": "allow", "x-api-key": key["value"]})  # fmt: skip
    assert _outcome(header_only) == (403, {"message": "Forbidden"})
    assert header_only.header("x-amzn-ErrorType") == "ForbiddenException"
    keyed = _get(server, api_id, "/prod/toys", {"Authorization": "key:" + key["value"]})
    assert keyed.status == 200, keyed.body
    assert keyed.json()["requestContext"]["identity"]["apiKeyId"] == key["id"]
    exported = apis.get_export(restApiId=api_id, stageName="prod", exportType="swagger",
                               parameters={"extensions": "apigateway"})  # fmt: skip
    assert json.loads(exported["body"].read())["x-amazon-apigateway-api-key-source"] == "AUTHORIZER"
