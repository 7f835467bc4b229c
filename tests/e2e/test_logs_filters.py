"""CloudWatch Logs subscription filters deliver matching events to a Lambda function
(through the shared delivery path, allowed by the function's resource policy), and
metric filters are kept and described."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import aws, error_of
from tests.e2e.functions import create_function, unique, wait_for_log_events
from tests.e2e.roles import ensure_role

ACCOUNT = "000000000000"

CONSUMER = """
import base64, gzip, json

def handler(event, context):
    data = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    print("GOT " + json.dumps(data))
"""


def _consumer(client) -> tuple[str, str]:
    lam, iam = client("lambda"), client("iam")
    role = ensure_role(
        iam,
        unique("logsub"),
        managed=("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",),
    )
    name = unique("logsub")
    arn = create_function(lam, name, {"app.py": CONSUMER}, role=role)["FunctionArn"]
    return name, arn


def test_subscription_filter_delivers_to_lambda(client):
    logs, lam = client("logs"), client("lambda")
    name, arn = _consumer(client)
    group = unique("/app/orders")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    err = error_of(
        logs.put_subscription_filter,
        logGroupName=group,
        filterName="errors",
        filterPattern="ERROR",
        destinationArn=arn,
    )
    assert err["Code"] == "InvalidParameterException"
    assert err["Message"].startswith("Could not execute the lambda function.")
    lam.add_permission(
        FunctionName=name,
        StatementId="logs",
        Action="lambda:InvokeFunction",
        Principal="logs.amazonaws.com",
        SourceArn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:*",
    )
    logs.put_subscription_filter(
        logGroupName=group, filterName="errors", filterPattern="ERROR", destinationArn=arn
    )
    described = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert [(f["filterName"], f["filterPattern"], f["destinationArn"]) for f in described] == [
        ("errors", "ERROR", arn)
    ]
    assert described[0]["distribution"] == "ByLogStream"
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s1",
        logEvents=[
            {"timestamp": int(time.time() * 1000) + i, "message": m}
            for i, m in enumerate(["INFO fine", "ERROR broken", "ERROR again"])
        ],
    )
    # The consumer's own log says what it got.
    found = wait_for_log_events(logs, name, '"GOT"', timeout=60)
    assert found, "the subscription never reached the function"
    got = json.loads(found[0]["message"].split("GOT ", 1)[1])
    assert got["messageType"] == "DATA_MESSAGE"
    assert (got["owner"], got["logGroup"], got["logStream"]) == (ACCOUNT, group, "s1")
    assert got["subscriptionFilters"] == ["errors"]
    assert [e["message"] for e in got["logEvents"]] == ["ERROR broken", "ERROR again"]
    assert all(len(e["id"]) == 56 for e in got["logEvents"])
    logs.delete_subscription_filter(logGroupName=group, filterName="errors")
    assert logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"] == []
    err = error_of(logs.delete_subscription_filter, logGroupName=group, filterName="errors")
    assert err["Code"] == "ResourceNotFoundException"


def test_subscription_filter_limits_and_destinations(client):
    logs = client("logs")
    group = unique("/app/limits")
    logs.create_log_group(logGroupName=group)
    err = error_of(
        logs.put_subscription_filter,
        logGroupName=group,
        filterName="k",
        filterPattern="",
        destinationArn=f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s",
    )
    assert err["Code"] == "InvalidParameterException"
    err = error_of(
        logs.put_subscription_filter,
        logGroupName=group,
        filterName="bad",
        filterPattern="{ $.x = ",
        destinationArn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:nope",
    )
    assert err["Code"] == "InvalidParameterException"


def test_metric_filters(client, server):
    logs = client("logs")
    group = unique("/app/metrics")
    logs.create_log_group(logGroupName=group)
    transformation = {
        "metricName": "Errors",
        "metricNamespace": "App",
        "metricValue": "1",
        "defaultValue": 0.0,
    }
    logs.put_metric_filter(
        logGroupName=group,
        filterName="errors",
        filterPattern="ERROR",
        metricTransformations=[transformation],
    )
    found = logs.describe_metric_filters(logGroupName=group)["metricFilters"]
    assert [(f["filterName"], f["metricTransformations"]) for f in found] == [
        ("errors", [transformation])
    ]
    by_metric = logs.describe_metric_filters(metricName="Errors", metricNamespace="App")
    assert group in {f["logGroupName"] for f in by_metric["metricFilters"]}
    cli = aws(server.endpoint, "logs", "describe-metric-filters", "--log-group-name", group)
    assert cli["metricFilters"][0]["filterName"] == "errors"
    logs.delete_metric_filter(logGroupName=group, filterName="errors")
    assert logs.describe_metric_filters(logGroupName=group)["metricFilters"] == []
