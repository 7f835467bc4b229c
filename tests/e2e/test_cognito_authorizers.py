"""API Gateway authorizers accepting sandlot's own Cognito tokens, no network fetch: a
REST API behind a COGNITO_USER_POOLS authorizer (401 for anonymous and bad tokens, the
ID token from InitiateAuth accepted, claims in requestContext.authorizer.claims, scopes
with access tokens) and an HTTP API JWT authorizer whose issuer is a sandlot pool."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.conftest import make_client, unsigned_client
from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import PROXY_ECHO, invoke_url, send

ACCOUNT = "000000000000"
PASSWORD = "Corr3ct-horse!"
UNAUTHORIZED = (401, {"message": "Unauthorized"})


@pytest.fixture(scope="module")
def echo(server):
    lam = make_client(server.endpoint, "lambda")
    name = unique("cognito-echo")
    create_function(lam, name, {"app.py": PROXY_ECHO})
    lam.add_permission(FunctionName=name, StatementId="apigateway", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:*")  # fmt: skip
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]


@pytest.fixture(scope="module")
def pool(server):
    idp = make_client(server.endpoint, "cognito-idp")
    pool = idp.create_user_pool(PoolName=unique("api-users"))["UserPool"]
    client = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="app",
                                         ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                            "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]  # fmt: skip
    idp.create_group(UserPoolId=pool["Id"], GroupName="readers")
    idp.admin_create_user(UserPoolId=pool["Id"], Username="carol", MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": "carol@example.com"}])  # fmt: skip
    idp.admin_set_user_password(UserPoolId=pool["Id"], Username="carol", Password=PASSWORD,
                                Permanent=True)  # fmt: skip
    idp.admin_add_user_to_group(UserPoolId=pool["Id"], Username="carol", GroupName="readers")
    tokens = unsigned_client(server.endpoint, "cognito-idp").initiate_auth(
        ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "carol", "PASSWORD": PASSWORD})["AuthenticationResult"]  # fmt: skip
    return pool, client["ClientId"], tokens


def _uri(arn: str) -> str:
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


def _forged(claims: dict) -> str:
    """A token with the right claims signed by a key the pool never had."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "forged"})


def test_rest_api_behind_a_cognito_authorizer(server, echo, pool):
    user_pool, client_id, tokens = pool
    apis = make_client(server.endpoint, "apigateway")
    api_id = apis.create_rest_api(name=unique("cognito-rest"))["id"]
    authorizer = apis.create_authorizer(restApiId=api_id, name="users", type="COGNITO_USER_POOLS",
                                        providerARNs=[user_pool["Arn"]],
                                        identitySource="method.request.header.Authorization")["id"]  # fmt: skip
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    for part, scopes in (("me", None), ("scoped", ["aws.cognito.signin.user.admin"])):
        resource = apis.create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        apis.put_method(restApiId=api_id, resourceId=resource, httpMethod="GET",
                        authorizationType="COGNITO_USER_POOLS", authorizerId=authorizer,
                        **({"authorizationScopes": scopes} if scopes else {}))  # fmt: skip
        apis.put_integration(restApiId=api_id, resourceId=resource, httpMethod="GET",
                             type="AWS_PROXY", integrationHttpMethod="POST", uri=_uri(echo))  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")

    def get(path, token=None):
        headers = {"Authorization": token} if token is not None else {}
        answer = send(server.endpoint, "GET", invoke_url(server, api_id, path), headers=headers)
        return answer.status, answer.json()

    assert get("/prod/me") == UNAUTHORIZED
    assert get("/prod/me", "not-a-jwt") == UNAUTHORIZED
    claims = jwt.decode(tokens["IdToken"], options={"verify_signature": False})
    assert get("/prod/me", _forged(claims)) == UNAUTHORIZED
    assert get("/prod/me", _forged({**claims, "exp": int(time.time()) - 10})) == UNAUTHORIZED
    assert get("/prod/me", tokens["AccessToken"]) == UNAUTHORIZED  # no scopes: an ID token

    status, event = get("/prod/me", tokens["IdToken"])
    assert status == 200
    seen = event["requestContext"]["authorizer"]["claims"]
    assert seen["cognito:username"] == "carol" and seen["email"] == "carol@example.com"
    assert seen["cognito:groups"] == "readers" and seen["aud"] == client_id
    assert seen["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{user_pool['Id']}"
    assert seen["exp"].endswith(" UTC " + time.strftime("%Y", time.gmtime()))

    # A method with scopes takes the access token, not the ID token.
    assert get("/prod/scoped", tokens["IdToken"]) == UNAUTHORIZED
    status, event = get("/prod/scoped", tokens["AccessToken"])
    assert status == 200
    assert event["requestContext"]["authorizer"]["claims"]["token_use"] == "access"


def test_http_api_jwt_authorizer_trusts_a_sandlot_pool(server, echo, pool):
    user_pool, client_id, tokens = pool
    apis = make_client(server.endpoint, "apigatewayv2")
    api_id = apis.create_api(Name=unique("cognito-http"), ProtocolType="HTTP")["ApiId"]
    integration = apis.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY",
                                          IntegrationUri=echo, PayloadFormatVersion="2.0")  # fmt: skip
    authorizer = apis.create_authorizer(
        ApiId=api_id, Name="pool", AuthorizerType="JWT",
        IdentitySource=["$request.header.Authorization"],
        JwtConfiguration={"Issuer": f"https://cognito-idp.us-east-1.amazonaws.com/{user_pool['Id']}",
                          "Audience": [client_id]})["AuthorizerId"]  # fmt: skip
    apis.create_route(ApiId=api_id, RouteKey="GET /me", AuthorizationType="JWT",
                      AuthorizerId=authorizer, Target=f"integrations/{integration['IntegrationId']}")  # fmt: skip
    apis.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    def get(token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = send(server.endpoint, "GET", invoke_url(server, api_id, "/me"), headers=headers)
        return answer.status, answer.json()

    assert get()[0] == 401
    for token in (tokens["IdToken"], tokens["AccessToken"]):  # aud, or client_id
        status, event = get(token)
        assert status == 200, event
        assert event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
    claims = jwt.decode(tokens["IdToken"], options={"verify_signature": False})
    assert get(_forged(claims))[0] == 401


SAM_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Users:
    Type: AWS::Cognito::UserPool
    Properties:
      UserPoolName: sam-users
      Policies: {PasswordPolicy: {MinimumLength: 10, RequireSymbols: false}}
  WebClient:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref Users
      ExplicitAuthFlows: [ALLOW_USER_PASSWORD_AUTH, ALLOW_REFRESH_TOKEN_AUTH]
  Admins:
    Type: AWS::Cognito::UserPoolGroup
    Properties: {UserPoolId: !Ref Users, GroupName: admins, Precedence: 1}
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      Auth:
        DefaultAuthorizer: Pool
        Authorizers:
          Pool:
            UserPoolArn: !GetAtt Users.Arn
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
        import json
        def handler(event, context):
            claims = event["requestContext"]["authorizer"]["claims"]
            return {"statusCode": 200, "body": json.dumps({"user": claims["cognito:username"],
                                                           "groups": claims.get("cognito:groups")})}
      Events:
        Get:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /hello, Method: get}
Outputs:
  ApiId: {Value: !Ref Api}
  PoolId: {Value: !Ref Users}
  ClientId: {Value: !Ref WebClient}
  ProviderURL: {Value: !GetAtt Users.ProviderURL}
"""


def test_sam_template_with_a_cognito_authorizer(server):
    cfn = make_client(server.endpoint, "cloudformation")
    stack = unique("sam-cognito")
    cfn.create_stack(StackName=stack, TemplateBody=SAM_TEMPLATE,
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])  # fmt: skip
    cfn.get_waiter("stack_create_complete").wait(
        StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}  # fmt: skip
    pool_id, client_id = outputs["PoolId"], outputs["ClientId"]
    assert outputs["ProviderURL"] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"
    idp = make_client(server.endpoint, "cognito-idp")
    policy = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] == 10
    idp.admin_create_user(UserPoolId=pool_id, Username="dave", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username="dave", Password="long-enough-1A",
                                Permanent=True)  # fmt: skip
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username="dave", GroupName="admins")
    tokens = unsigned_client(server.endpoint, "cognito-idp").initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "dave", "PASSWORD": "long-enough-1A"})["AuthenticationResult"]  # fmt: skip

    url = invoke_url(server, outputs["ApiId"], "/prod/hello")
    anonymous = send(server.endpoint, "GET", url)
    assert (anonymous.status, anonymous.json()) == UNAUTHORIZED
    signed_in = send(server.endpoint, "GET", url, headers={"Authorization": tokens["IdToken"]})
    assert (signed_in.status, signed_in.json()) == (200, {"user": "dave", "groups": "admins"})

    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(
        StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    gone = idp.list_user_pools(MaxResults=60)["UserPools"]
    assert pool_id not in [p["Id"] for p in gone]
