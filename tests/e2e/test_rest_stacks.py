"""REST APIs from CloudFormation: a SAM template whose Api has a Lambda TOKEN
authorizer and required API keys with a usage plan (SAM's Auth, expanded server-side),
and a plain template of Resource/Method/Authorizer/Deployment/Stage resources; both
served through real HTTP requests, and deleted with their stacks."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import error_of, make_client
from tests.e2e.http_clients import invoke_url, send

AUTHORIZER_CODE = """
def handler(event, context):
    effect = "Allow" if event["authorizationToken"] == "allow" else "Deny"
    return {"principalId": "sam-user", "context": {"tier": "gold"}, "policyDocument": {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect,
                       "Resource": event["methodArn"]}]}}
"""

HELLO_CODE = """
import json

def handler(event, context):
    return {"statusCode": 200, "body": json.dumps(event["requestContext"]["authorizer"])}
"""


def _indent(code: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in code.strip("\n").splitlines())


SAM_TEMPLATE = f"""
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      Auth:
        DefaultAuthorizer: TokenAuth
        ApiKeyRequired: true
        UsagePlan:
          CreateUsagePlan: PER_API
        Authorizers:
          TokenAuth:
            FunctionArn: !GetAtt AuthFunction.Arn
  AuthFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
{_indent(AUTHORIZER_CODE, 8)}
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
{_indent(HELLO_CODE, 8)}
      Events:
        Get:
          Type: Api
          Properties: {{RestApiId: !Ref Api, Path: /hello, Method: get}}
Outputs:
  ApiId:
    Value: !Ref Api
"""


def _deploy(cfn, name: str, template: str) -> dict[str, str]:
    cfn.create_stack(StackName=name, TemplateBody=template,
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])  # fmt: skip
    cfn.get_waiter("stack_create_complete").wait(
        StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    summaries = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}


def test_sam_api_with_authorizer_and_api_keys(server):
    cfn = make_client(server.endpoint, "cloudformation")
    apis = make_client(server.endpoint, "apigateway")
    resources = _deploy(cfn, "sam-rest-auth", SAM_TEMPLATE)
    api_id = resources["Api"]
    assert [a["name"] for a in apis.get_authorizers(restApiId=api_id)["items"]] == ["TokenAuth"]
    key = apis.get_api_key(apiKey=resources["ApiApiKey"], includeValue=True)["value"]
    url = invoke_url(server, api_id, "/prod/hello")
    missing_key = send(server.endpoint, "GET", url, headers={"Authorization": "allow"})
    assert (missing_key.status, missing_key.json()) == (403, {"message": "Forbidden"})
    no_token = send(server.endpoint, "GET", url, headers={"x-api-key": key})
    assert (no_token.status, no_token.json()) == (401, {"message": "Unauthorized"})
    denied = send(server.endpoint, "GET", url, headers={"x-api-key": key, "Authorization": "no"})
    assert denied.status == 403
    answer = send(server.endpoint, "GET", url, headers={"x-api-key": key, "Authorization": "allow"})
    assert answer.status == 200, answer.body
    assert answer.json()["principalId"] == "sam-user" and answer.json()["tier"] == "gold"
    cfn.delete_stack(StackName="sam-rest-auth")
    cfn.get_waiter("stack_delete_complete").wait(
        StackName="sam-rest-auth", WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    assert error_of(apis.get_rest_api, restApiId=api_id)["Code"] == "NotFoundException"


def test_plain_template_resources(server):
    cfn = make_client(server.endpoint, "cloudformation")
    template = {
        "Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "plain"}},
            "Items": {"Type": "AWS::ApiGateway::Resource", "Properties": {
                "RestApiId": {"Ref": "Api"}, "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": "items"}},
            "Options": {"Type": "AWS::ApiGateway::Method", "Properties": {
                "RestApiId": {"Ref": "Api"}, "ResourceId": {"Ref": "Items"},
                "HttpMethod": "OPTIONS", "AuthorizationType": "NONE",
                "MethodResponses": [{"StatusCode": "200", "ResponseParameters": {
                    "method.response.header.Access-Control-Allow-Origin": False}}],
                "Integration": {
                    "Type": "MOCK", "RequestTemplates": {"application/json": '{"statusCode": 200}'},
                    "IntegrationResponses": [{"StatusCode": "200", "ResponseParameters": {
                        "method.response.header.Access-Control-Allow-Origin": "'*'"}}]}}},
            "Deployment": {"Type": "AWS::ApiGateway::Deployment", "DependsOn": ["Options"],
                           "Properties": {"RestApiId": {"Ref": "Api"}}},
            "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {
                "RestApiId": {"Ref": "Api"}, "StageName": "v1",
                "DeploymentId": {"Ref": "Deployment"}, "Variables": {"color": "blue"},
                "TracingEnabled": True}},
        }
    }  # fmt: skip
    resources = _deploy(cfn, "plain-rest", json.dumps(template))
    apis = make_client(server.endpoint, "apigateway")
    api_id = resources["Api"]
    stage = apis.get_stage(restApiId=api_id, stageName="v1")
    assert stage["variables"] == {"color": "blue"} and stage["tracingEnabled"] is True
    answer = send(server.endpoint, "OPTIONS", invoke_url(server, api_id, "/v1/items"))
    assert answer.status == 200 and answer.header("Access-Control-Allow-Origin") == "*"
    assert answer.header("X-Amzn-Trace-Id")  # a traced stage answers its trace header
    # TracingEnabled removed by an update: the stage stops tracing.
    del template["Resources"]["Stage"]["Properties"]["TracingEnabled"]
    cfn.update_stack(StackName="plain-rest", TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_update_complete").wait(
        StackName="plain-rest", WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    assert apis.get_stage(restApiId=api_id, stageName="v1")["tracingEnabled"] is False
    cfn.delete_stack(StackName="plain-rest")
    cfn.get_waiter("stack_delete_complete").wait(
        StackName="plain-rest", WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    assert error_of(apis.get_rest_api, restApiId=api_id)["Code"] == "NotFoundException"


def test_models_validators_gateway_responses_and_a_bad_template(server):
    cfn = make_client(server.endpoint, "cloudformation")
    api = {"Ref": "Api"}
    schema = {"type": "object", "required": ["name"],
              "properties": {"name": {"type": "string"}}}  # fmt: skip
    template = {
        "Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "validated"}},
            "Pet": {"Type": "AWS::ApiGateway::Model", "Properties": {
                "RestApiId": api, "ContentType": "application/json", "Schema": schema}},
            "Body": {"Type": "AWS::ApiGateway::RequestValidator", "Properties": {
                "RestApiId": api, "ValidateRequestBody": True}},
            "BadBody": {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": {
                "RestApiId": api, "ResponseType": "BAD_REQUEST_BODY", "StatusCode": "422",
                "ResponseTemplates": {"application/json":
                                      '{"problem": $context.error.messageString}'}}},
            "Post": {"Type": "AWS::ApiGateway::Method", "Properties": {
                "RestApiId": api, "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "HttpMethod": "POST", "AuthorizationType": "NONE",
                "RequestValidatorId": {"Ref": "Body"},
                "RequestModels": {"application/json": {"Ref": "Pet"}},
                "Integration": {
                    "Type": "MOCK", "RequestTemplates": {"application/json": '{"statusCode": 200}'},
                    "IntegrationResponses": [{"StatusCode": "200", "ResponseTemplates": {
                        "application/json": '{"stage": "$context.stage"}'}}]}}},
            "Deployment": {"Type": "AWS::ApiGateway::Deployment",
                           "DependsOn": ["Post", "BadBody"],
                           "Properties": {"RestApiId": api, "StageName": "v1"}},
        }
    }  # fmt: skip
    resources = _deploy(cfn, "validated-rest", json.dumps(template))
    apis = make_client(server.endpoint, "apigateway")
    api_id = resources["Api"]
    assert apis.get_model(restApiId=api_id, modelName=resources["Pet"])["contentType"] == (
        "application/json")  # fmt: skip
    url = invoke_url(server, api_id, "/v1/")
    ok = send(server.endpoint, "POST", url, body=b'{"name": "rex"}',
              headers={"Content-Type": "application/json"})  # fmt: skip
    assert (ok.status, ok.json()) == (200, {"stage": "v1"})
    bad = send(
        server.endpoint, "POST", url, body=b"{}", headers={"Content-Type": "application/json"}
    )
    assert (bad.status, bad.json()) == (422, {"problem": "Invalid request body"})

    # An invalid mapping template fails the stack at create, not a request later.
    post = template["Resources"]["Post"]["Properties"]
    post["Integration"]["RequestTemplates"] = {"application/json": "#if($x) never ends"}
    cfn.create_stack(StackName="bad-template-rest", TemplateBody=json.dumps(template))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = cfn.describe_stacks(StackName="bad-template-rest")["Stacks"][0]["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            break
        time.sleep(0.1)
    assert status == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="bad-template-rest")["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events
               if e["LogicalResourceId"] == "Post" and e["ResourceStatus"] == "CREATE_FAILED"]  # fmt: skip
    assert reasons and "Invalid mapping template" in reasons[0], reasons
