"""SQS event source mappings end to end: a queue's messages reach a function as AWS's
records, failures return to the queue and reach its DLQ, mappings disable, resume
after a restart, and refuse a role that may not poll."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest
from botocore.config import Config

from tests.e2e.conftest import aws, error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.mappings import poller_role, wait_state
from tests.e2e.queues import counts, events, queue, wait_counts
from tests.e2e.server import SandlotServer

ACCOUNT = "000000000000"

# Reports every event it gets to the queue named by OUT, then behaves as MODE says.
HANDLER = """
import json, os, time
import boto3

sqs = boto3.client("sqs")
out = sqs.get_queue_url(QueueName=os.environ["OUT"])["QueueUrl"]

def handler(event, context):
    started = time.time()
    mode = os.environ.get("MODE", "ok")
    first = event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "1"
    if mode == "slow-first" and first:
        time.sleep(20)
    if mode == "slow":
        time.sleep(0.4)
    report = {**event, "started": started, "ended": time.time()}
    sqs.send_message(QueueUrl=out, MessageBody=json.dumps(report))
    if mode == "fail":
        raise RuntimeError("boom")
    if mode == "partial":
        return {"batchItemFailures": [
            {"itemIdentifier": r["messageId"]} for r in event["Records"] if "bad" in r["body"]
        ]}
    if mode == "malformed":
        return {"batchItemFailures": [{"itemIdentifier": ""}]}
    return None
"""


def function(lam, role: str, out_queue_url: str, mode: str = "ok") -> str:
    name = unique("consumer")
    create_function(
        lam,
        name,
        {"app.py": HANDLER},
        role=role,
        Timeout=30,
        Environment={"Variables": {"OUT": out_queue_url.rsplit("/", 1)[1], "MODE": mode}},
    )
    return name


def bodies(found: list[dict]) -> list[str]:
    return [r["body"] for event in found for r in event["Records"]]


@pytest.fixture
def setup(client):
    sqs, lam, iam = client("sqs"), client("lambda"), client("iam")
    role = poller_role(iam)
    out_url, _ = queue(sqs, "reports")
    return sqs, lam, role, out_url


def test_record_shape_api_and_deletion(setup):
    sqs, lam, role, out_url = setup
    url, arn = queue(sqs, "source")
    name = function(lam, role, out_url)
    created = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, Tags={"team": "a"}
    )
    assert created["State"] == "Creating"
    assert created["BatchSize"] == 10 and created["MaximumBatchingWindowInSeconds"] == 0
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    assert created["EventSourceMappingArn"] == (
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:event-source-mapping:{created['UUID']}"
    )
    assert created["StateTransitionReason"] == "USER_INITIATED"
    assert created["FunctionResponseTypes"] == []
    enabled = wait_state(lam, created["UUID"], "Enabled")
    assert enabled["LastModified"] == created["LastModified"]
    mapping_arn = created["EventSourceMappingArn"]
    assert lam.list_tags(Resource=mapping_arn)["Tags"] == {"team": "a"}
    lam.tag_resource(Resource=mapping_arn, Tags={"env": "dev"})
    lam.untag_resource(Resource=mapping_arn, TagKeys=["team"])
    assert lam.list_tags(Resource=mapping_arn)["Tags"] == {"env": "dev"}

    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="hello",
        MessageAttributes={
            "color": {"DataType": "String", "StringValue": "blue"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    (event,) = events(sqs, out_url, 1)
    (record,) = event["Records"]
    assert record["messageId"] == sent["MessageId"]
    assert record["body"] == "hello"
    assert record["md5OfBody"] == sent["MD5OfMessageBody"]
    assert record["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == arn
    assert record["awsRegion"] == "us-east-1"
    assert record["receiptHandle"]
    attributes = record["attributes"]
    assert attributes["ApproximateReceiveCount"] == "1"
    assert set(attributes) >= {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"}
    assert record["messageAttributes"]["color"] == {
        "stringValue": "blue",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["raw"]["binaryValue"] == "AAE="
    wait_counts(sqs, url, (0, 0))  # success deleted the message

    listed = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [created["UUID"]]
    assert (
        lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"][0]["UUID"]
        == created["UUID"]
    )
    duplicate = error_of(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=name)
    assert duplicate["Code"] == "ResourceConflictException"
    assert f'(" {arn} ") and function (" {name} ") already exists' in duplicate["Message"]

    deleted = lam.delete_event_source_mapping(UUID=created["UUID"])
    assert deleted["State"] == "Deleting"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            lam.get_event_source_mapping(UUID=created["UUID"])
        except lam.exceptions.ResourceNotFoundException:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the mapping was never deleted")


def test_validation_errors(setup, server):
    sqs, lam, role, out_url = setup
    _, arn = queue(sqs, "checked")
    _, fifo_arn = queue(sqs, "checked", FifoQueue="true")
    name = function(lam, role, out_url)
    too_big = error_of(
        lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=name, BatchSize=11
    )
    assert too_big["Code"] == "InvalidParameterValueException"
    assert too_big["Message"] == (
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
        "greater than 10"
    )
    over_max = error_of(
        lam.create_event_source_mapping,
        EventSourceArn=arn,
        FunctionName=name,
        BatchSize=10001,
        MaximumBatchingWindowInSeconds=1,
    )
    assert over_max["Code"] == "ValidationException"
    window = error_of(
        lam.create_event_source_mapping,
        EventSourceArn=fifo_arn,
        FunctionName=name,
        MaximumBatchingWindowInSeconds=1,
    )
    assert window["Message"] == "Batching window is not supported for FIFO queues"
    unchecked = boto3.session.Session().client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    scaling = error_of(
        unchecked.create_event_source_mapping,
        EventSourceArn=arn,
        FunctionName=name,
        ScalingConfig={"MaximumConcurrency": 1},
    )
    assert scaling["Code"] == "ValidationException"
    missing = error_of(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName="nope")
    assert missing["Code"] == "ResourceNotFoundException"
    gone = arn.rsplit(":", 1)[0] + ":no-such-queue"
    absent = error_of(lam.create_event_source_mapping, EventSourceArn=gone, FunctionName=name)
    assert absent["Code"] == "InvalidParameterValueException"
    assert "does not exist" in absent["Message"]
    unknown = error_of(lam.get_event_source_mapping, UUID=str(uuid.uuid4()))
    assert unknown["Code"] == "ResourceNotFoundException"


def test_role_without_sqs_permissions_is_refused(client):
    sqs, lam, iam = client("sqs"), client("lambda"), client("iam")
    out_url, _ = queue(sqs, "reports")
    _, arn = queue(sqs, "locked")
    role = poller_role(iam, sqs_allowed=False)
    name = function(lam, role, out_url)
    refused = error_of(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=name)
    assert refused["Code"] == "InvalidParameterValueException"
    assert refused["HTTPStatusCode"] == 400
    assert refused["Message"] == (
        "The provided execution role does not have permissions to call ReceiveMessage on SQS"
    )
    # Receive allowed, delete not: AWS names the next missing permission.
    iam.put_role_policy(
        RoleName=role.rsplit("/", 1)[1],
        PolicyName="receive",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": arn}],
            }
        ),
    )
    refused = error_of(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName=name)
    assert refused["Message"].endswith("to call DeleteMessage on SQS")


def test_batching_window_gathers_more_than_ten(setup):
    sqs, lam, role, out_url = setup
    url, arn = queue(sqs, "windowed")
    name = function(lam, role, out_url)
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, BatchSize=25, MaximumBatchingWindowInSeconds=2
    )
    wait_state(lam, mapping["UUID"], "Enabled")
    for start in (0, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)],
        )
    found = events(sqs, out_url, 1)
    assert len(found[0]["Records"]) == 20  # one invocation: the window gathered both sends


def test_partial_batch_failure_returns_only_failed_messages(setup):
    sqs, lam, role, out_url = setup
    dlq_url, dlq_arn = queue(sqs, "dlq")
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url, arn = queue(sqs, "partial", VisibilityTimeout=1, RedrivePolicy=redrive)
    name = function(lam, role, out_url, mode="partial")
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=name,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        MaximumBatchingWindowInSeconds=1,
    )
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    wait_state(lam, mapping["UUID"], "Enabled")
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": b, "MessageBody": b} for b in ("good-1", "bad-2", "good-3")],
    )
    first, second = events(sqs, out_url, 2)
    assert sorted(bodies([first])) == ["bad-2", "good-1", "good-3"]
    assert bodies([second]) == ["bad-2"]  # only the reported failure came back
    assert second["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    # Reported failed twice: the redrive policy moves it to the dead-letter queue.
    deadline = time.monotonic() + 20
    dead: list = []
    while not dead and time.monotonic() < deadline:
        dead = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in dead] == ["bad-2"]
    wait_counts(sqs, url, (0, 0))


def test_failing_handler_sends_messages_to_the_dlq(setup):
    sqs, lam, role, out_url = setup
    dlq_url, dlq_arn = queue(sqs, "dlq")
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url, arn = queue(sqs, "failing", VisibilityTimeout=1, RedrivePolicy=redrive)
    name = function(lam, role, out_url, mode="fail")
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    wait_state(lam, mapping["UUID"], "Enabled")
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    found = events(sqs, out_url, 2)
    assert bodies(found) == ["poison", "poison"]
    deadline = time.monotonic() + 20
    dead: list = []
    while not dead and time.monotonic() < deadline:
        dead = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in dead] == ["poison"]


def test_malformed_batch_response_fails_the_whole_batch(setup):
    sqs, lam, role, out_url = setup
    url, arn = queue(sqs, "malformed", VisibilityTimeout=1)
    name = function(lam, role, out_url, mode="malformed")
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    wait_state(lam, mapping["UUID"], "Enabled")
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    found = events(sqs, out_url, 2)  # an empty itemIdentifier: the batch came back
    assert bodies(found) == ["kept", "kept"]
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    wait_state(lam, mapping["UUID"], "Disabled")


def test_fifo_order_per_group(setup):
    sqs, lam, role, out_url = setup
    url, arn = queue(sqs, "ordered", FifoQueue="true", ContentBasedDeduplication="true")
    name = function(lam, role, out_url)
    for i in range(9):
        sqs.send_message(QueueUrl=url, MessageBody=f"{i}", MessageGroupId="g")
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=2)
    wait_state(lam, mapping["UUID"], "Enabled")
    found = events(sqs, out_url, 5)
    assert bodies(found) == [str(i) for i in range(9)]
    record = found[0]["Records"][0]
    assert record["attributes"]["MessageGroupId"] == "g"
    assert record["attributes"]["SequenceNumber"]
    assert record["attributes"]["MessageDeduplicationId"]


def test_disable_stops_delivery_and_enable_resumes(setup):
    sqs, lam, role, out_url = setup
    url, arn = queue(sqs, "paused")
    name = function(lam, role, out_url)
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    wait_state(lam, mapping["UUID"], "Enabled")
    updated = lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    assert updated["State"] == "Disabling"
    wait_state(lam, mapping["UUID"], "Disabled")
    sqs.send_message(QueueUrl=url, MessageBody="while-disabled")
    # Nothing polls: the message stays visible in the queue.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert counts(sqs, url) == (1, 0)
        time.sleep(0.1)
    assert (
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)["State"] == "Enabling"
    )
    wait_state(lam, mapping["UUID"], "Enabled")
    assert bodies(events(sqs, out_url, 1)) == ["while-disabled"]


def test_cli_creates_and_lists_mappings(setup, server):
    sqs, lam, role, out_url = setup
    _, arn = queue(sqs, "cli")
    name = function(lam, role, out_url)
    created = aws(
        server.endpoint,
        "lambda",
        "create-event-source-mapping",
        "--function-name",
        name,
        "--event-source-arn",
        arn,
        "--batch-size",
        "5",
        "--scaling-config",
        "MaximumConcurrency=3",
    )
    assert created["BatchSize"] == 5 and created["ScalingConfig"] == {"MaximumConcurrency": 3}
    listed = aws(server.endpoint, "lambda", "list-event-source-mappings", "--function-name", name)
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [created["UUID"]]


def test_restart_mid_flight_delivers(tmp_path):
    server = SandlotServer(tmp_path).start()
    try:
        sqs, lam = make_client(server.endpoint, "sqs"), make_client(server.endpoint, "lambda")
        role = poller_role(make_client(server.endpoint, "iam"))
        out_url, _ = queue(sqs, "reports")
        url, arn = queue(sqs, "restarted", VisibilityTimeout=2)
        name = function(lam, role, out_url, mode="slow-first")
        mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
        wait_state(lam, mapping["UUID"], "Enabled")
        sqs.send_message(QueueUrl=url, MessageBody="in-flight")
        wait_counts(sqs, url, (0, 1))  # received: the function is running it
        server.kill()
    finally:
        server.kill()
    with SandlotServer(tmp_path) as restarted:
        sqs = make_client(restarted.endpoint, "sqs")
        lam = make_client(restarted.endpoint, "lambda")
        assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled"
        out_url = sqs.get_queue_url(QueueName=out_url.rsplit("/", 1)[1])["QueueUrl"]
        (event,) = events(sqs, out_url, 1)
        assert bodies([event]) == ["in-flight"]
        assert event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_filter_criteria_deletes_what_does_not_match(setup):
    sqs, lam, role, out_url = setup
    url, arn = queue(sqs, "filtered")
    name = function(lam, role, out_url)
    bad = error_of(
        lam.create_event_source_mapping,
        EventSourceArn=arn,
        FunctionName=name,
        FilterCriteria={"Filters": [{"Pattern": '{"body": "not-a-list"}'}]},
    )
    assert (bad["Code"], bad["Message"]) == (
        "InvalidParameterValueException",
        "Invalid filter pattern definition.",
    )
    criteria = {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["order"]}})}]}
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, FilterCriteria=criteria, BatchSize=1
    )
    assert mapping["FilterCriteria"] == criteria
    wait_state(lam, mapping["UUID"], "Enabled")
    for body in ({"kind": "refund"}, "plain text", {"kind": "order", "n": 1}):
        sqs.send_message(
            QueueUrl=url, MessageBody=json.dumps(body) if isinstance(body, dict) else body
        )
    (event,) = events(sqs, out_url, 1)
    assert [json.loads(b) for b in bodies([event])] == [{"kind": "order", "n": 1}]
    wait_counts(sqs, url, (0, 0))  # the non-matching messages were deleted, as in AWS
    # Removing the filters (an empty list) delivers everything again.
    lam.update_event_source_mapping(UUID=mapping["UUID"], FilterCriteria={"Filters": []})
    wait_state(lam, mapping["UUID"], "Enabled")
    sqs.send_message(QueueUrl=url, MessageBody="anything")
    assert bodies(events(sqs, out_url, 1)) == ["anything"]


def most_at_once(found: list[dict]) -> int:
    """The most invocations that ran at the same time."""
    moments = sorted([(e["started"], 1) for e in found] + [(e["ended"], -1) for e in found])
    running = peak = 0
    for _, step in moments:
        running += step
        peak = max(peak, running)
    return peak


def test_maximum_concurrency_and_reserved_concurrency_bound_the_pollers(setup):
    sqs, lam, role, out_url = setup
    url, arn = queue(sqs, "scaled")
    name = function(lam, role, out_url, mode="slow")
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, BatchSize=1, ScalingConfig={"MaximumConcurrency": 2}
    )
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    wait_state(lam, mapping["UUID"], "Enabled")
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(8)]
    )
    found = events(sqs, out_url, 8)
    assert sorted(bodies(found)) == [f"m{i}" for i in range(8)]
    assert most_at_once(found) == 2  # scaled up, and no further
    # The last invocations report before they return: let them end (the poller deletes
    # each message after its invocation), or one still running when the reserved
    # concurrency of 1 applies throttles the next batch, which then stays invisible for
    # the queue's 30-second visibility timeout, as in AWS.
    wait_counts(sqs, url, (0, 0))
    # Reserved concurrency 1 bounds the pollers too (no throttles, one at a time).
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    lam.update_event_source_mapping(UUID=mapping["UUID"], ScalingConfig={"MaximumConcurrency": 5})
    wait_state(lam, mapping["UUID"], "Enabled")
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"r{i}"} for i in range(5)]
    )
    found = events(sqs, out_url, 5)
    assert sorted(bodies(found)) == [f"r{i}" for i in range(5)]
    assert most_at_once(found) == 1


def test_polling_is_done_as_the_function_role(client):
    sqs, lam, iam = client("sqs"), client("lambda"), client("iam")
    role = poller_role(iam)
    out_url, _ = queue(sqs, "reports")
    url, arn = queue(sqs, "revoked")
    name = function(lam, role, out_url)
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    wait_state(lam, mapping["UUID"], "Enabled")
    role_name = role.rsplit("/", 1)[1]
    # The role loses sqs:ReceiveMessage: the poller's next ReceiveMessage is denied.
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="deny-receive",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "sqs:ReceiveMessage", "Resource": arn}
        ]}),
    )  # fmt: skip
    # A long poll admitted before the change may still take this one; the next is denied.
    sqs.send_message(QueueUrl=url, MessageBody="wake")
    deadline = time.monotonic() + 15
    result = ""
    while time.monotonic() < deadline and not result.startswith("PROBLEM"):
        result = lam.get_event_source_mapping(UUID=mapping["UUID"]).get("LastProcessingResult", "")
        time.sleep(0.1)
    assert "AccessDenied" in result and "ReceiveMessage" in result, result
    sqs.send_message(QueueUrl=url, MessageBody="blocked")
    assert counts(sqs, url)[0] >= 1  # nobody may receive it
    iam.delete_role_policy(RoleName=role_name, PolicyName="deny-receive")
    found = bodies(events(sqs, out_url, 1))
    while "blocked" not in found:
        found += bodies(events(sqs, out_url, 1))


def test_list_pages(setup):
    sqs, lam, role, out_url = setup
    name = function(lam, role, out_url)
    made = []
    for _ in range(3):
        _, arn = queue(sqs, "paged")
        created = lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName=name, Enabled=False
        )
        made.append(created["UUID"])
        assert wait_state(lam, created["UUID"], "Disabled")["State"] == "Disabled"
    first = lam.list_event_source_mappings(FunctionName=name, MaxItems=2)
    assert len(first["EventSourceMappings"]) == 2 and first["NextMarker"]
    rest = lam.list_event_source_mappings(FunctionName=name, Marker=first["NextMarker"])
    assert "NextMarker" not in rest
    listed = [m["UUID"] for m in first["EventSourceMappings"] + rest["EventSourceMappings"]]
    assert sorted(listed) == sorted(made)
    pages = lam.get_paginator("list_event_source_mappings").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 1}
    )
    assert sorted(m["UUID"] for p in pages for m in p["EventSourceMappings"]) == sorted(made)


def test_update_changes_settings_and_function(setup):
    sqs, lam, role, out_url = setup
    url, arn = queue(sqs, "updated")
    first = function(lam, role, out_url)
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=first)
    wait_state(lam, mapping["UUID"], "Enabled")
    refused = error_of(lam.update_event_source_mapping, UUID=mapping["UUID"], BatchSize=20)
    assert refused["Message"].startswith("Maximum batch window in seconds must be greater than 0")
    stream_only = error_of(
        lam.update_event_source_mapping, UUID=mapping["UUID"], MaximumRetryAttempts=1
    )
    assert stream_only["Code"] == "InvalidParameterValueException"
    second_out, _ = queue(sqs, "reports")
    second = function(lam, role, second_out)
    updated = lam.update_event_source_mapping(
        UUID=mapping["UUID"], FunctionName=second, BatchSize=20, MaximumBatchingWindowInSeconds=1
    )
    assert updated["State"] == "Updating"
    assert updated["FunctionArn"].endswith(f":function:{second}")
    settled = wait_state(lam, mapping["UUID"], "Enabled")
    assert (settled["BatchSize"], settled["MaximumBatchingWindowInSeconds"]) == (20, 1)
    sqs.send_message(QueueUrl=url, MessageBody="to-the-second")
    assert bodies(events(sqs, second_out, 1)) == ["to-the-second"]
