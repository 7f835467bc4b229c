"""Step Functions' optimized API Gateway integration (``arn:aws:states:::apigateway:invoke``)
against a REST API and an HTTP API sandlot serves, driven by boto3: the request the API
gets (stage, path, query, headers, JSON body without nulls), AWS's result shape, a non-2xx
answer as ``ApiGateway.<status>``, ``AuthType IAM_ROLE`` deciding by the machine's role,
and ``.waitForTaskToken``."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import PROXY_ECHO
from tests.e2e.sfn_support import definition, states_role, wait_done, wait_for

ACCOUNT = "000000000000"
RESOURCE = "arn:aws:states:::apigateway:invoke"


@pytest.fixture(scope="module")
def clients(server):
    return {name: make_client(server.endpoint, name)
            for name in ("stepfunctions", "apigateway", "apigatewayv2", "lambda", "iam")}  # fmt: skip


@pytest.fixture(scope="module")
def echo(clients):
    """A Lambda proxy answering the event it got, as JSON."""
    lam = clients["lambda"]
    name = unique("sfn-apigw-echo")
    arn = create_function(lam, name, {"app.py": PROXY_ECHO})["FunctionArn"]
    lam.add_permission(FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com")  # fmt: skip
    return arn


@pytest.fixture(scope="module")
def rest_api(clients, echo) -> str:
    """A REST API: /bills (NONE) and /private (AWS_IAM), Lambda proxies, stage prod."""
    apis = clients["apigateway"]
    api_id = apis.create_rest_api(name=unique("sfn-rest"))["id"]
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{echo}/invocations"
    for part, kind in (("bills", "NONE"), ("private", "AWS_IAM")):
        resource = apis.create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        key = dict(restApiId=api_id, resourceId=resource, httpMethod="ANY")
        apis.put_method(**key, authorizationType=kind)
        apis.put_integration(**key, type="AWS_PROXY", integrationHttpMethod="POST", uri=uri)
    apis.create_deployment(restApiId=api_id, stageName="prod")
    return api_id


def _run(clients, role: str, arguments: dict, resource: str = RESOURCE) -> dict:
    sfn = clients["stepfunctions"]
    flow = definition({"Call": {"Type": "Task", "Resource": resource,
                                "Parameters": arguments, "End": True}})  # fmt: skip
    machine = sfn.create_state_machine(name=unique("apigw"), definition=flow, roleArn=role)
    arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")[
        "executionArn"
    ]
    return wait_done(sfn, arn)


def test_a_post_to_a_rest_api_and_aws_result_shape(clients, rest_api):
    role = states_role(clients["iam"])
    done = _run(clients, role, {
        "ApiEndpoint": f"{rest_api}.execute-api.us-east-1.amazonaws.com",
        "Method": "POST", "Stage": "prod", "Path": "bills",
        "Headers": {"X-Tag": ["a", "b"]}, "QueryParameters": {"billId": ["123456"]},
        "RequestBody": {"NewPet": {"type": "turtle", "price": 123, "category": None}},
    })  # fmt: skip
    assert done["status"] == "SUCCEEDED", done
    result = json.loads(done["output"])
    assert (result["StatusCode"], result["StatusText"]) == (200, "OK")
    assert result["Headers"]["content-type"] == ["application/json"]
    event = result["ResponseBody"]  # the echo's JSON, parsed
    assert (event["httpMethod"], event["path"], event["resource"]) == ("POST", "/bills", "/bills")
    assert event["requestContext"]["stage"] == "prod"
    assert event["multiValueQueryStringParameters"] == {"billId": ["123456"]}
    assert event["multiValueHeaders"]["x-tag"] == ["a", "b"]
    # Null members are not sent unless AllowNullValues.
    assert json.loads(event["body"]) == {"NewPet": {"type": "turtle", "price": 123}}
    events = clients["stepfunctions"].get_execution_history(executionArn=done["executionArn"])
    scheduled = next(e for e in events["events"] if e["type"] == "TaskScheduled")
    details = scheduled["taskScheduledEventDetails"]
    assert (details["resourceType"], details["resource"]) == ("apigateway", "invoke")


def test_an_http_api_default_stage_and_a_non_2xx_answer(clients, rest_api, echo):
    role = states_role(clients["iam"])
    v2 = clients["apigatewayv2"]
    api_id = v2.create_api(Name=unique("sfn-http"), ProtocolType="HTTP", Target=echo)["ApiId"]
    done = _run(clients, role, {"ApiEndpoint": f"{api_id}.execute-api.us-east-1.amazonaws.com",
                                "Method": "GET", "Path": "items/7", "AllowNullValues": True})  # fmt: skip
    assert done["status"] == "SUCCEEDED", done
    event = json.loads(done["output"])["ResponseBody"]
    assert (event["rawPath"], event["requestContext"]["stage"]) == ("/items/7", "$default")

    # No such stage on the REST API: API Gateway's 403, as ApiGateway.403.
    done = _run(clients, role, {"ApiEndpoint": f"{rest_api}.execute-api.us-east-1.amazonaws.com",
                                "Method": "GET", "Stage": "nope", "Path": "bills"})  # fmt: skip
    assert (done["status"], done["error"]) == ("FAILED", "ApiGateway.403")
    assert json.loads(done["cause"]) == {"message": "Forbidden"}
    # A header AWS does not let a task send.
    done = _run(clients, role, {"ApiEndpoint": f"{rest_api}.execute-api.us-east-1.amazonaws.com",
                                "Method": "GET", "Stage": "prod", "Path": "bills",
                                "Headers": {"X-Amz-Date": ["now"]}})  # fmt: skip
    assert (done["status"], done["error"]) == ("FAILED", "States.Runtime")


def test_iam_role_auth_is_the_machine_role(clients, rest_api):
    arguments = {"ApiEndpoint": f"{rest_api}.execute-api.us-east-1.amazonaws.com",
                 "Method": "GET", "Stage": "prod", "Path": "private"}  # fmt: skip
    allowed = states_role(clients["iam"], actions=("execute-api:Invoke",))
    # NO_AUTH on an AWS_IAM method: API Gateway's Missing Authentication Token.
    done = _run(clients, allowed, arguments)
    assert (done["error"], json.loads(done["cause"])) == (
        "ApiGateway.403", {"message": "Missing Authentication Token"})  # fmt: skip
    done = _run(clients, allowed, {**arguments, "AuthType": "IAM_ROLE"})
    assert done["status"] == "SUCCEEDED", done
    identity = json.loads(done["output"])["ResponseBody"]["requestContext"]["identity"]
    assert ":assumed-role/" in identity["userArn"]
    # A role without execute-api:Invoke is refused by the API, as AWS.
    denied = states_role(clients["iam"], actions=("logs:*",))
    done = _run(clients, denied, {**arguments, "AuthType": "IAM_ROLE"})
    assert done["error"] == "ApiGateway.403"
    assert "is not authorized to perform: execute-api:Invoke" in done["cause"]


def test_wait_for_task_token(clients, rest_api):
    sfn = clients["stepfunctions"]
    role = states_role(clients["iam"])
    flow = definition({"Call": {
        "Type": "Task", "Resource": RESOURCE + ".waitForTaskToken", "End": True,
        "Parameters": {"ApiEndpoint": f"{rest_api}.execute-api.us-east-1.amazonaws.com",
                       "Method": "POST", "Stage": "prod", "Path": "bills",
                       "Headers": {"TaskToken.$": "States.Array($$.Task.Token)"}}}})  # fmt: skip
    machine = sfn.create_state_machine(name=unique("apigw-wait"), definition=flow, roleArn=role)
    arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]

    def submitted():
        events = sfn.get_execution_history(executionArn=arn)["events"]
        return next((e for e in events if e["type"] == "TaskSubmitted"), None)

    output = json.loads(wait_for(submitted)["taskSubmittedEventDetails"]["output"])
    token = output["ResponseBody"]["multiValueHeaders"]["tasktoken"][0]
    sfn.send_task_success(taskToken=token, output='{"approved": true}')
    done = wait_done(sfn, arn)
    assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"approved": True})
