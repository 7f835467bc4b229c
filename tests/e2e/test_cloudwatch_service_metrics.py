"""The AWS/* metrics sandlot's own services publish, read back through CloudWatch with
boto3: Lambda's Invocations, Errors, Duration, Throttles and ConcurrentExecutions by
function, alias (Resource) and ExecutedVersion; asynchronous events received and
dropped."""

from __future__ import annotations

import datetime as dt
import json
import time

import boto3
import pytest
from botocore.config import Config

from tests.e2e.functions import create_function, unique

HANDLER = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
"""


def sums(cw, name: str, dims: list[dict], metric: str, stat: str = "Sum") -> float:
    now = dt.datetime.now(dt.UTC)
    answer = cw.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=metric,
        Dimensions=dims,
        Period=60,
        Statistics=[stat],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
    )
    points = [p[stat] for p in answer["Datapoints"]]
    if stat == "Maximum":
        return max(points, default=0.0)
    return sum(points)


def wait_for(check, timeout: float = 15.0):
    """Poll ``check`` until it returns a truthy value (metrics are flushed each second)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_lambda_invocation_metrics(client, server):
    lam, cw = client("lambda"), client("cloudwatch")
    name = unique("metered")
    create_function(lam, name, {"app.py": HANDLER})
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    for event in ({}, {}, {"fail": True}):
        lam.invoke(FunctionName=name, Payload=json.dumps(event))
    lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")

    fn = [{"Name": "FunctionName", "Value": name}]
    assert wait_for(lambda: sums(cw, name, fn, "Invocations") == 4)
    assert sums(cw, name, fn, "Errors") == 1
    assert sums(cw, name, fn, "Duration", "SampleCount") == 4
    assert sums(cw, name, fn, "Duration", "Maximum") > 0
    assert sums(cw, name, fn, "ConcurrentExecutions", "Maximum") == 1
    resource = [*fn, {"Name": "Resource", "Value": f"{name}:live"}]
    assert sums(cw, name, resource, "Invocations") == 1
    executed = [*resource, {"Name": "ExecutedVersion", "Value": version}]
    assert sums(cw, name, executed, "Invocations") == 1
    # The account-wide aggregate (no dimensions) counts them too.
    assert sums(cw, name, [], "Invocations") >= 4
    listed = cw.list_metrics(Namespace="AWS/Lambda", Dimensions=[fn[0]])["Metrics"]
    assert {m["MetricName"] for m in listed} >= {
        "Invocations", "Errors", "Duration", "ConcurrentExecutions"
    }  # fmt: skip

    # Reserved concurrency 0: every invoke is throttled, and counted as a throttle only.
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    once = boto3.client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    with pytest.raises(once.exceptions.TooManyRequestsException):
        once.invoke(FunctionName=name, Payload=b"{}")
    assert wait_for(lambda: sums(cw, name, fn, "Throttles") == 1)
    assert sums(cw, name, fn, "Invocations") == 4


def test_async_events_received_and_dropped(client):
    lam, cw = client("lambda"), client("cloudwatch")
    name = unique("async-metered")
    create_function(lam, name, {"app.py": HANDLER})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"fail": true}')
    fn = [{"Name": "FunctionName", "Value": name}]
    assert wait_for(lambda: sums(cw, name, fn, "AsyncEventsReceived") == 1)
    assert wait_for(lambda: sums(cw, name, fn, "AsyncEventsDropped") == 1, timeout=30)
    assert wait_for(lambda: sums(cw, name, fn, "Errors") == 1)


EMF_HANDLER = """
import json, time
def handler(event, context):
    print(json.dumps({
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": event["ns"], "Dimensions": [["Service"], ["Service", "Route"]],
            "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]},
        "Service": "cart", "Route": "/add", "Latency": [12, 30],
    }))
    print("not emf {\\"_aws\\": 1}")
    return {}
"""


def test_embedded_metric_format_in_function_logs(client):
    lam, cw = client("lambda"), client("cloudwatch")
    name, ns = unique("emf"), unique("Emf")
    create_function(lam, name, {"app.py": EMF_HANDLER})
    lam.invoke(FunctionName=name, Payload=json.dumps({"ns": ns}))

    def stats(dims):
        now = dt.datetime.now(dt.UTC)
        points = cw.get_metric_statistics(
            Namespace=ns, MetricName="Latency", Dimensions=dims, Period=60,
            Statistics=["SampleCount", "Maximum"], StartTime=now - dt.timedelta(minutes=5),
            EndTime=now + dt.timedelta(minutes=1),
        )["Datapoints"]  # fmt: skip
        return points[0] if points else None

    service = [{"Name": "Service", "Value": "cart"}]
    point = wait_for(lambda: stats(service))
    assert point and point["SampleCount"] == 2 and point["Maximum"] == 30
    assert point["Unit"] == "Milliseconds"
    routed = stats([*service, {"Name": "Route", "Value": "/add"}])
    assert routed and routed["SampleCount"] == 2


def test_metric_filters_publish_matching_events(client):
    logs, cw = client("logs"), client("cloudwatch")
    group, ns = unique("/app/orders"), unique("Filters")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_metric_filter(
        logGroupName=group, filterName="errors", filterPattern="ERROR",
        metricTransformations=[{"metricName": "ErrorCount", "metricNamespace": ns,
                                "metricValue": "1", "defaultValue": 0}],
    )  # fmt: skip
    logs.put_metric_filter(
        logGroupName=group, filterName="bytes", filterPattern="{ $.bytes > 0 }",
        metricTransformations=[{"metricName": "Bytes", "metricNamespace": ns,
                                "metricValue": "$.bytes", "unit": "Bytes",
                                "dimensions": {"Shop": "$.shop"}}],
    )  # fmt: skip
    now_ms = int(time.time() * 1000)
    messages = ["ERROR boom", "all fine", "ERROR again", '{"bytes": 300, "shop": "north"}']
    logs.put_log_events(
        logGroupName=group, logStreamName="s",
        logEvents=[{"timestamp": now_ms, "message": m} for m in messages],
    )  # fmt: skip

    def get(name, dims, stat):
        now = dt.datetime.now(dt.UTC)
        points = cw.get_metric_statistics(
            Namespace=ns, MetricName=name, Dimensions=dims, Period=60, Statistics=[stat],
            StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=1),
        )["Datapoints"]  # fmt: skip
        return points[0][stat] if points else None

    assert wait_for(lambda: get("ErrorCount", [], "SampleCount")) == 4  # two 1s, two 0s
    assert get("ErrorCount", [], "Sum") == 2
    assert get("Bytes", [{"Name": "Shop", "Value": "north"}], "Sum") == 300


def test_sqs_metrics(client):
    sqs, cw = client("sqs"), client("cloudwatch")
    name = unique("metered-q")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x" * 10} for i in range(3)]
    )
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    for message in received:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def get(metric, stat="Sum"):
        now = dt.datetime.now(dt.UTC)
        points = cw.get_metric_statistics(
            Namespace="AWS/SQS", MetricName=metric,
            Dimensions=[{"Name": "QueueName", "Value": name}], Period=60, Statistics=[stat],
            StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=1),
        )["Datapoints"]  # fmt: skip
        return sum(p[stat] for p in points)

    assert wait_for(lambda: get("NumberOfMessagesDeleted") == len(received))
    assert get("NumberOfMessagesSent") == 4
    assert get("NumberOfMessagesReceived") == len(received)
    assert get("SentMessageSize") == 5


def test_sns_metrics(client):
    sns, cw = client("sns"), client("cloudwatch")
    name = unique("metered-topic")
    arn = sns.create_topic(Name=name)["TopicArn"]
    sns.publish(TopicArn=arn, Message="hello")
    sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[{"Id": "a", "Message": "abc"}])

    def get(metric):
        now = dt.datetime.now(dt.UTC)
        points = cw.get_metric_statistics(
            Namespace="AWS/SNS", MetricName=metric,
            Dimensions=[{"Name": "TopicName", "Value": name}], Period=60, Statistics=["Sum"],
            StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=1),
        )["Datapoints"]  # fmt: skip
        return sum(p["Sum"] for p in points)

    assert wait_for(lambda: get("NumberOfMessagesPublished") == 2)
    assert get("PublishSize") == 8
