"""Lambda's recursive loop detection end to end: a function that feeds the queue (or
topic, or itself) that invokes it is stopped after 16 invocations of one chain, as AWS
does, unless its RecursiveLoop setting is Allow. The chain's count travels in the X-Ray
trace header the function's own boto3 sends (``_X_AMZN_TRACE_ID``)."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from tests.e2e.conftest import aws, error_of
from tests.e2e.functions import create_function, unique
from tests.e2e.mappings import poller_role, wait_state
from tests.e2e.queues import queue, wait_counts

LIMIT = 16

# Reports each invocation (its trace header) to REPORTS, then feeds its own trigger:
# the queue LOOP (MODE sqs), the topic LOOP (MODE sns), or itself (MODE lambda, Event).
HANDLER = """
import json, os
import boto3

sqs = boto3.client("sqs")
reports = sqs.get_queue_url(QueueName=os.environ["REPORTS"])["QueueUrl"]

def handler(event, context):
    trace = os.environ.get("_X_AMZN_TRACE_ID", "")
    sqs.send_message(QueueUrl=reports, MessageBody=json.dumps({"trace": trace}))
    mode, target = os.environ["MODE"], os.environ["LOOP"]
    if mode == "sqs":
        sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=target)["QueueUrl"], MessageBody="again")
    elif mode == "sns":
        boto3.client("sns").publish(TopicArn=target, Message="again")
    else:
        boto3.client("lambda").invoke(
            FunctionName=context.function_name, InvocationType="Event", Payload=b"{}"
        )
"""


@pytest.fixture
def setup(client):
    sqs, lam, iam = client("sqs"), client("lambda"), client("iam")
    role = poller_role(iam)
    iam.put_role_policy(
        RoleName=role.rsplit("/", 1)[1],
        PolicyName="loop",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["sns:*", "lambda:*"], "Resource": "*"}
                ],
            }
        ),
    )
    reports_url, _ = queue(sqs, "reports")
    return sqs, lam, role, reports_url


def looping_function(lam, role: str, reports_url: str, mode: str, target: str) -> str:
    name = unique("looper")
    variables = {"REPORTS": reports_url.rsplit("/", 1)[1], "MODE": mode, "LOOP": target}
    create_function(
        lam, name, {"app.py": HANDLER}, role=role, Timeout=10, Environment={"Variables": variables}
    )
    return name


def reports(sqs, url: str, at_least: int, timeout: float = 60) -> list[str]:
    """The trace headers of the invocations reported so far (at least ``at_least``)."""
    found: list[str] = []
    deadline = time.monotonic() + timeout
    while len(found) < at_least and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in got.get("Messages", []):
            found.append(json.loads(message["Body"])["trace"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert len(found) >= at_least, f"only {len(found)} of {at_least} invocations reported"
    return found


def no_more_reports(sqs, url: str, quiet_s: float = 3) -> None:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=int(quiet_s))
    assert not got.get("Messages"), "the function ran again after the loop was stopped"


def wait_message(sqs, url: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url, WaitTimeSeconds=1, MessageSystemAttributeNames=["All"]
        )
        if got.get("Messages"):
            return got["Messages"][0]
    raise AssertionError(f"no message arrived in {url}")


def roots(traces: list[str]) -> set[str]:
    return {part for t in traces for part in t.split(";") if part.startswith("Root=")}


def test_recursion_config_api(setup, server):
    sqs, lam, role, reports_url = setup
    name = looping_function(lam, role, reports_url, "sqs", "unused")
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
    put = lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    assert put["RecursiveLoop"] == "Allow"
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Allow"
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Terminate")
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"

    error = error_of(lambda: lam.get_function_recursion_config(FunctionName=name + "-missing"))
    assert error["Code"] == "ResourceNotFoundException"
    error = error_of(
        lambda: lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Sometimes")
    )
    assert error["Code"] in ("ValidationException", "InvalidParameterValueException")

    # The AWS CLI speaks the same operations.
    args = ("lambda", "put-function-recursion-config", "--function-name", name)
    assert aws(server.endpoint, *args, "--recursive-loop", "Allow") == {"RecursiveLoop": "Allow"}
    got = aws(server.endpoint, "lambda", "get-function-recursion-config", "--function-name", name)
    assert got == {"RecursiveLoop": "Allow"}


def sqs_loop(sqs, lam, role, reports_url, *, allow: bool, dlq: bool = True) -> tuple[str, str]:
    """(DLQ url, mapping) of a queue whose mapping runs a function that sends back to it
    (without ``dlq``: the queue's url instead of the DLQ's)."""
    dlq_url, dlq_arn = queue(sqs, "loop-dlq")
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    extra = {"RedrivePolicy": redrive} if dlq else {}
    url, arn = queue(sqs, "loop", VisibilityTimeout=10, **extra)
    name = looping_function(lam, role, reports_url, "sqs", url.rsplit("/", 1)[1])
    if allow:
        lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=1)
    wait_state(lam, mapping["UUID"], "Enabled")
    sqs.send_message(QueueUrl=url, MessageBody="start")
    return (dlq_url if dlq else url), mapping["UUID"]


def test_sqs_loop_is_stopped_after_16_invocations(setup):
    sqs, lam, role, reports_url = setup
    dlq_url, _ = sqs_loop(sqs, lam, role, reports_url, allow=False)
    # The 17th invocation is refused: its message returns after the visibility timeout
    # and the queue's redrive policy moves it to the dead-letter queue.
    stopped = wait_message(sqs, dlq_url)
    assert stopped["Body"] == "again"
    assert "Lineage=" in stopped["Attributes"]["AWSTraceHeader"]
    traces = reports(sqs, reports_url, LIMIT)
    no_more_reports(sqs, reports_url)
    assert len(traces) == LIMIT
    assert len(roots(traces)) == 1  # one chain: the header travelled through the queue


def test_sqs_loop_without_dlq_drops_the_message(setup):
    sqs, lam, role, reports_url = setup
    url, _ = sqs_loop(sqs, lam, role, reports_url, allow=False, dlq=False)
    traces = reports(sqs, reports_url, LIMIT)
    wait_counts(sqs, url, (0, 0))  # the 17th message is deleted, not run
    no_more_reports(sqs, reports_url)
    assert len(traces) == LIMIT


def test_sqs_loop_runs_on_with_allow(setup):
    sqs, lam, role, reports_url = setup
    dlq_url, mapping = sqs_loop(sqs, lam, role, reports_url, allow=True)
    traces = reports(sqs, reports_url, LIMIT + 8)
    lam.delete_event_source_mapping(UUID=mapping)  # ends the loop
    assert len(roots(traces)) == 1
    got = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1)
    assert not got.get("Messages")


def test_async_self_invocation_loop_goes_to_on_failure(setup):
    sqs, lam, role, reports_url = setup
    failures_url, failures_arn = queue(sqs, "loop-failures")
    name = looping_function(lam, role, reports_url, "lambda", "self")
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    record = json.loads(wait_message(sqs, failures_url)["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert "responsePayload" not in record  # it never ran
    traces = reports(sqs, reports_url, LIMIT)
    no_more_reports(sqs, reports_url)
    assert len(traces) == LIMIT and len(roots(traces)) == 1


def test_sync_invoke_with_a_spent_chain_is_refused(setup):
    sqs, lam, role, reports_url = setup
    name = looping_function(lam, role, reports_url, "none", "unused")
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    digest = hashlib.sha256(arn.encode()).hexdigest()[:8]
    header = f"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0;Lineage={digest}:{LIMIT}"

    def with_header(request, **_):
        request.headers["X-Amzn-Trace-Id"] = header

    lam.meta.events.register("before-sign.lambda.Invoke", with_header)
    error = error_of(lambda: lam.invoke(FunctionName=name, Payload=b"{}"))
    assert error["Code"] == "RecursiveInvocationException"
    assert error["HTTPStatusCode"] == 400
    assert "recursive loop" in error["Message"]


def test_sns_loop_is_stopped_and_the_event_goes_to_on_failure(setup, client):
    sqs, lam, role, reports_url = setup
    sns = client("sns")
    topic = sns.create_topic(Name=unique("loop-topic"))["TopicArn"]
    failures_url, failures_arn = queue(sqs, "sns-loop-failures")
    name = looping_function(lam, role, reports_url, "sns", topic)
    function_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.add_permission(
        FunctionName=name,
        StatementId="sns",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        SourceArn=topic,
    )
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn)
    sns.publish(TopicArn=topic, Message="start")
    record = json.loads(wait_message(sqs, failures_url)["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"]["Records"][0]["Sns"]["Message"] == "again"
    traces = reports(sqs, reports_url, LIMIT)
    no_more_reports(sqs, reports_url)
    assert len(traces) == LIMIT and len(roots(traces)) == 1


def test_loop_through_sns_and_sqs_is_stopped(setup, client):
    """Queue → mapping → function → topic → the same queue: the count crosses both."""
    sqs, lam, role, reports_url = setup
    sns = client("sns")
    topic = sns.create_topic(Name=unique("loop-topic"))["TopicArn"]
    url, arn = queue(sqs, "sns-loop", VisibilityTimeout=10)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    name = looping_function(lam, role, reports_url, "sns", topic)
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=1)
    wait_state(lam, mapping["UUID"], "Enabled")
    sns.publish(TopicArn=topic, Message="start")
    traces = reports(sqs, reports_url, LIMIT)
    wait_counts(sqs, url, (0, 0))  # the 17th message is dropped (no DLQ)
    no_more_reports(sqs, reports_url)
    assert len(traces) == LIMIT and len(roots(traces)) == 1
