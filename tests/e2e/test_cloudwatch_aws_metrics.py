"""The AWS/* metrics of API Gateway (REST and HTTP APIs), Step Functions, DynamoDB,
EventBridge and Lambda's asynchronous invocations, with AWS's names, dimensions and
units: each service does the work through boto3, then CloudWatch's
GetMetricStatistics and ListMetrics see it."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import time

import pytest

from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import invoke_url, send
from tests.e2e.sfn_support import definition, states_role, wait_done

ACCOUNT = "000000000000"


def stat(cw, namespace: str, metric: str, dims: dict, statistic: str = "Sum") -> float:
    """``statistic`` of the metric over the last ten minutes (Sum/SampleCount added up
    across periods, Maximum/Minimum the extreme); 0 when there is no datapoint."""
    now = dt.datetime.now(dt.UTC)
    answer = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        Period=60,
        Statistics=[statistic],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
    )
    points = [p[statistic] for p in answer["Datapoints"]]
    if statistic == "Maximum":
        return max(points, default=0.0)
    if statistic == "Minimum":
        return min(points, default=0.0)
    return sum(points)


def eventually(check, timeout: float = 20.0):
    """Poll ``check`` until truthy or the deadline (metrics are flushed every second)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def listed(cw, namespace: str, dims: dict) -> set[str]:
    answer = cw.list_metrics(
        Namespace=namespace, Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()]
    )
    return {m["MetricName"] for m in answer["Metrics"]}


def test_rest_api_metrics(server, client):
    apis, cw = client("apigateway"), client("cloudwatch")
    name = unique("metered-rest")
    api_id = apis.create_rest_api(name=name)["id"]
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    resource = apis.create_resource(restApiId=api_id, parentId=root, pathPart="ok")["id"]
    key = dict(restApiId=api_id, resourceId=resource, httpMethod="GET")
    apis.put_method(**key, authorizationType="NONE")
    apis.put_integration(**key, type="MOCK",
                         requestTemplates={"application/json": '{"statusCode": 200}'})  # fmt: skip
    apis.put_method_response(**key, statusCode="200")
    apis.put_integration_response(**key, statusCode="200",
                                  responseTemplates={"application/json": '{"ok": true}'})  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")
    for _ in range(2):
        assert send(server.endpoint, "GET", invoke_url(server, api_id, "/prod/ok")).status == 200
    # No such resource: 403 Missing Authentication Token, a client error.
    assert send(server.endpoint, "GET", invoke_url(server, api_id, "/prod/nope")).status == 403

    by_api = {"ApiName": name}
    by_stage = {"ApiName": name, "Stage": "prod"}
    assert eventually(lambda: stat(cw, "AWS/ApiGateway", "Count", by_stage) == 3)
    assert stat(cw, "AWS/ApiGateway", "Count", by_api) == 3
    assert stat(cw, "AWS/ApiGateway", "4XXError", by_stage) == 1
    assert stat(cw, "AWS/ApiGateway", "4XXError", by_stage, "SampleCount") == 3  # a rate
    assert stat(cw, "AWS/ApiGateway", "5XXError", by_stage) == 0
    assert stat(cw, "AWS/ApiGateway", "Latency", by_stage, "SampleCount") == 3
    assert stat(cw, "AWS/ApiGateway", "Latency", by_stage, "Maximum") > 0
    # Only the two that reached the integration have an IntegrationLatency.
    assert stat(cw, "AWS/ApiGateway", "IntegrationLatency", by_stage, "SampleCount") == 2
    assert listed(cw, "AWS/ApiGateway", by_api) >= {
        "Count", "4XXError", "5XXError", "Latency", "IntegrationLatency"
    }  # fmt: skip


ECHO = """
def handler(event, context):
    if event.get("rawPath") == "/boom":
        raise RuntimeError("boom")
    return {"statusCode": 200, "body": "ok"}
"""


def test_http_api_metrics(server, client):
    lam, apis, cw = client("lambda"), client("apigatewayv2"), client("cloudwatch")
    function = create_function(lam, unique("metered-http"), {"app.py": ECHO})
    arn = function["FunctionArn"]
    api_id = apis.create_api(Name=unique("metered-http"), ProtocolType="HTTP")["ApiId"]
    lam.add_permission(
        FunctionName=arn, StatementId=f"api-{api_id}", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*",
    )  # fmt: skip
    integration = apis.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn, PayloadFormatVersion="2.0"
    )["IntegrationId"]
    for route in ("GET /ok", "GET /boom"):
        apis.create_route(ApiId=api_id, RouteKey=route, Target=f"integrations/{integration}")
    apis.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    url = lambda path: invoke_url(server, api_id, path)  # noqa: E731
    assert send(server.endpoint, "GET", url("/ok")).status == 200
    assert send(server.endpoint, "GET", url("/boom")).status == 500
    assert send(server.endpoint, "GET", url("/missing")).status == 404

    by_api = {"ApiId": api_id}
    by_stage = {"ApiId": api_id, "Stage": "$default"}
    assert eventually(lambda: stat(cw, "AWS/ApiGateway", "Count", by_stage) == 3)
    assert stat(cw, "AWS/ApiGateway", "Count", by_api) == 3
    # HTTP APIs name their error counts 4xx and 5xx (REST APIs: 4XXError, 5XXError).
    assert stat(cw, "AWS/ApiGateway", "4xx", by_api) == 1
    assert stat(cw, "AWS/ApiGateway", "5xx", by_api) == 1
    assert stat(cw, "AWS/ApiGateway", "IntegrationLatency", by_api, "SampleCount") == 2
    assert stat(cw, "AWS/ApiGateway", "Latency", by_api, "Maximum") >= stat(
        cw, "AWS/ApiGateway", "IntegrationLatency", by_api, "Maximum"
    )
    assert "4XXError" not in listed(cw, "AWS/ApiGateway", by_api)


def test_step_functions_execution_metrics(server, client):
    sfn, cw = client("stepfunctions"), client("cloudwatch")
    role = states_role(client("iam"))
    machine = sfn.create_state_machine(
        name=unique("metered-sm"),
        definition=definition(
            {
                "Choose": {
                    "Type": "Choice",
                    "Default": "Done",
                    "Choices": [{"Variable": "$.fail", "IsPresent": True, "Next": "Boom"}],
                },
                "Done": {"Type": "Pass", "End": True},
                "Boom": {"Type": "Fail", "Error": "Nope", "Cause": "asked to"},
            }
        ),  # fmt: skip
        roleArn=role,
    )["stateMachineArn"]
    ok = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    bad = sfn.start_execution(stateMachineArn=machine, input='{"fail": 1}')["executionArn"]
    assert wait_done(sfn, ok)["status"] == "SUCCEEDED"
    assert wait_done(sfn, bad)["status"] == "FAILED"

    dims = {"StateMachineArn": machine}
    assert eventually(lambda: stat(cw, "AWS/States", "ExecutionTime", dims, "SampleCount") == 2)
    assert stat(cw, "AWS/States", "ExecutionsStarted", dims) == 2
    assert stat(cw, "AWS/States", "ExecutionsSucceeded", dims) == 1
    assert stat(cw, "AWS/States", "ExecutionsFailed", dims) == 1
    assert stat(cw, "AWS/States", "ExecutionsAborted", dims) == 0


def test_dynamodb_metrics(server, client):
    ddb, cw = client("dynamodb"), client("cloudwatch")
    table = unique("metered-table")
    ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )  # fmt: skip
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.2})
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "b"}})
    ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})  # eventually consistent: 0.5
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName=table, Item={"pk": {"S": "a"}},
                     ConditionExpression="attribute_not_exists(pk)")  # fmt: skip
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.get_item(TableName=unique("no-such-table"), Key={"pk": {"S": "a"}})

    by_table = {"TableName": table}
    assert eventually(lambda: stat(cw, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", by_table) == 2)
    assert stat(cw, "AWS/DynamoDB", "ConsumedReadCapacityUnits", by_table) == 0.5
    puts = {"TableName": table, "Operation": "PutItem"}
    assert stat(cw, "AWS/DynamoDB", "SuccessfulRequestLatency", puts, "SampleCount") == 2
    gets = {"TableName": table, "Operation": "GetItem"}
    assert stat(cw, "AWS/DynamoDB", "SuccessfulRequestLatency", gets, "SampleCount") == 1
    assert stat(cw, "AWS/DynamoDB", "ConditionalCheckFailedRequests", by_table) == 1
    # UserErrors is account-wide (no dimensions); the failed condition is not one.
    assert stat(cw, "AWS/DynamoDB", "UserErrors", {}) >= 1


def test_eventbridge_metrics(server, client):
    events, cw = client("events"), client("cloudwatch")
    source = unique("metered.app")
    rule = unique("metered-rule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    # A target that cannot be delivered to: an invocation, and a failed one.
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{unique('no-such-queue')}"
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": missing}])
    bus = unique("metered-bus")
    events.create_event_bus(Name=bus)
    custom = unique("metered-custom")
    events.put_rule(Name=custom, EventBusName=bus, EventPattern=json.dumps({"source": [source]}))
    entry = {"Source": source, "DetailType": "t", "Detail": "{}"}
    events.put_events(Entries=[entry, {**entry, "EventBusName": bus}])
    events.put_events(Entries=[{**entry, "Source": "unmatched.app"}])

    by_rule = {"RuleName": rule}
    assert eventually(lambda: stat(cw, "AWS/Events", "FailedInvocations", by_rule) == 1, 30)
    assert stat(cw, "AWS/Events", "Invocations", by_rule) == 1
    assert stat(cw, "AWS/Events", "TriggeredRules", by_rule) == 1
    assert stat(cw, "AWS/Events", "MatchedEvents", by_rule) == 1
    # A custom bus's rule is named with its bus.
    on_bus = {"EventBusName": bus, "RuleName": custom}
    assert stat(cw, "AWS/Events", "TriggeredRules", on_bus) == 1
    assert stat(cw, "AWS/Events", "TriggeredRules", {"RuleName": custom}) == 0
    assert stat(cw, "AWS/Events", "Invocations", on_bus) == 0  # no targets


FAILING = """
def handler(event, context):
    raise ValueError("always")
"""


def test_lambda_async_event_age_and_forwarding_failures(server, client):
    lam, cw, iam = client("lambda"), client("cloudwatch"), client("iam")
    name = unique("async-forward")
    # A role that may send anywhere (Lambda checks the DLQ permission up front); the
    # queue itself does not exist, so the sends fail.
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "lambda.amazonaws.com"}}]}  # fmt: skip
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    anything = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}  # fmt: skip
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=json.dumps(anything))
    create_function(lam, name, {"app.py": FAILING}, role=role["Arn"])
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{unique('no-such-queue')}"
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": missing})
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": missing}},
    )  # fmt: skip
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")

    fn = {"FunctionName": name}
    assert eventually(lambda: stat(cw, "AWS/Lambda", "DeadLetterErrors", fn) == 1, 30)
    assert eventually(lambda: stat(cw, "AWS/Lambda", "DestinationDeliveryFailures", fn) == 1, 30)
    assert stat(cw, "AWS/Lambda", "AsyncEventAge", fn, "SampleCount") == 1
    assert stat(cw, "AWS/Lambda", "AsyncEventAge", fn, "Minimum") >= 0
    assert stat(cw, "AWS/Lambda", "AsyncEventsDropped", fn) == 1


SLEEPY = """
import time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {}
"""


def test_lambda_provisioned_concurrency_metrics(server, client):
    lam, cw = client("lambda"), client("cloudwatch")
    name = unique("provisioned-metered")
    create_function(lam, name, {"app.py": SLEEPY})
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    assert eventually(
        lambda: (
            lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")["Status"]
            == "READY"
        ),
        30,
    )
    lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
    # Two at once: one runs on the provisioned environment, the other spills over.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        lams = [client("lambda") for _ in range(2)]
        payload = json.dumps({"sleep": 0.5}).encode()
        list(pool.map(lambda c: c.invoke(FunctionName=name, Qualifier="live", Payload=payload),
                      lams))  # fmt: skip

    alias = {"FunctionName": name, "Resource": f"{name}:live"}
    assert eventually(lambda: stat(cw, "AWS/Lambda", "Invocations", alias) == 3)
    assert stat(cw, "AWS/Lambda", "ProvisionedConcurrencyInvocations", alias) == 2
    assert stat(cw, "AWS/Lambda", "ProvisionedConcurrencySpilloverInvocations", alias) == 1
    fn = {"FunctionName": name}
    assert stat(cw, "AWS/Lambda", "ProvisionedConcurrencyInvocations", fn) == 2
    # One environment allocated, busy during each invocation: utilization 1.
    assert stat(cw, "AWS/Lambda", "ProvisionedConcurrencyUtilization", alias, "Maximum") == 1
    # Unqualified invocations have no provisioned concurrency: none of these.
    lam.invoke(FunctionName=name, Payload=b"{}")
    assert eventually(lambda: stat(cw, "AWS/Lambda", "Invocations", fn) == 4)
    assert stat(cw, "AWS/Lambda", "ProvisionedConcurrencySpilloverInvocations", fn) == 1
    assert stat(cw, "AWS/Lambda", "ProvisionedConcurrencyInvocations", fn) == 2
