"""Kinesis event source mappings end to end: a Kinesis-triggered Python function gets
AWS's record shape from every shard, a poison record is bisected out to the OnFailure
queue (KinesisBatchInfo) while the rest are processed, filters apply to JSON data,
AT_TIMESTAMP starts where asked, resharded children follow their parents, the role is
checked, and a restart resumes from the checkpoint."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.mappings import wait_state
from tests.e2e.queues import events, queue
from tests.e2e.roles import ensure_role
from tests.e2e.server import SandlotServer

# Reports every event it gets to the queue named by OUT, then behaves as MODE says.
HANDLER = """
import base64, json, os
import boto3

sqs = boto3.client("sqs")
out = sqs.get_queue_url(QueueName=os.environ["OUT"])["QueueUrl"]

def handler(event, context):
    sqs.send_message(QueueUrl=out, MessageBody=json.dumps(event))
    datas = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
    if os.environ.get("MODE") == "poison" and any("poison" in d for d in datas):
        raise RuntimeError("poison")
    return None
"""


def kinesis_role(iam, *, allowed: bool = True) -> str:
    name = unique("kinesis-role")
    arn = ensure_role(
        iam, name, managed=("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",)
    )
    actions = ["sqs:*"] + (["kinesis:*"] if allowed else ["kinesis:DescribeStream"])
    policy = {"Effect": "Allow", "Action": actions, "Resource": "*"}
    iam.put_role_policy(
        RoleName=name,
        PolicyName="kinesis",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [policy]}),
    )
    return arn


def stream(kinesis, shards: int = 1) -> str:
    name = f"m-{uuid.uuid4().hex[:10]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def put(kinesis, arn: str, data: str, key: str = "k") -> dict:
    return kinesis.put_record(StreamARN=arn, Data=data.encode(), PartitionKey=key)


def function(lam, role: str, out_url: str, mode: str = "ok") -> str:
    name = unique("kinesis-consumer")
    create_function(
        lam,
        name,
        {"app.py": HANDLER},
        role=role,
        Timeout=30,
        Environment={"Variables": {"OUT": out_url.rsplit("/", 1)[1], "MODE": mode}},
    )
    return name


def datas(found: list[dict]) -> list[str]:
    return [
        base64.b64decode(r["kinesis"]["data"]).decode() for event in found for r in event["Records"]
    ]


@pytest.fixture
def setup(client):
    sqs, lam, kinesis = client("sqs"), client("lambda"), client("kinesis")
    role = kinesis_role(client("iam"))
    out_url, _ = queue(sqs, "reports")
    return sqs, lam, kinesis, role, out_url


def test_function_gets_records_of_every_shard_in_aws_shape(setup):
    sqs, lam, kinesis, role, out_url = setup
    arn = stream(kinesis, shards=2)
    written = {f"key-{i}": put(kinesis, arn, f"d{i}", f"key-{i}") for i in range(6)}
    assert {w["ShardId"] for w in written.values()} == {
        "shardId-000000000000",
        "shardId-000000000001",
    }
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=function(lam, role, out_url),
        StartingPosition="TRIM_HORIZON",
    )
    assert mapping["StartingPosition"] == "TRIM_HORIZON" and mapping["BatchSize"] == 100
    wait_state(lam, mapping["UUID"], "Enabled")
    records: list[dict] = []
    while len(records) < 6:
        records += [r for event in events(sqs, out_url, 1) for r in event["Records"]]
    assert len(records) == 6
    by_key = {r["kinesis"]["partitionKey"]: r for r in records}
    record = by_key["key-0"]
    sent = written["key-0"]
    assert list(record) == [
        "kinesis", "eventSource", "eventVersion", "eventID", "eventName",
        "invokeIdentityArn", "awsRegion", "eventSourceARN",
    ]  # fmt: skip
    assert record["kinesis"]["kinesisSchemaVersion"] == "1.0"
    assert record["kinesis"]["sequenceNumber"] == sent["SequenceNumber"]
    assert base64.b64decode(record["kinesis"]["data"]) == b"d0"
    assert isinstance(record["kinesis"]["approximateArrivalTimestamp"], float)
    assert record["eventSource"] == "aws:kinesis" and record["eventVersion"] == "1.0"
    assert record["eventID"] == f"{sent['ShardId']}:{sent['SequenceNumber']}"
    assert record["eventName"] == "aws:kinesis:record"
    assert record["invokeIdentityArn"] == role
    assert record["awsRegion"] == "us-east-1" and record["eventSourceARN"] == arn
    # In order within each shard.
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        numbers = [int(r["kinesis"]["sequenceNumber"]) for r in records
                   if r["eventID"].startswith(shard)]  # fmt: skip
        assert numbers == sorted(numbers)


def test_bisecting_sends_the_poison_record_to_on_failure(setup):
    sqs, lam, kinesis, role, out_url = setup
    arn = stream(kinesis)
    for data in ("a", "b", "poison", "c"):
        put(kinesis, arn, data)
    failed_url, failed_arn = queue(sqs, "failed")
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=function(lam, role, out_url, mode="poison"),
        StartingPosition="TRIM_HORIZON",
        BatchSize=4,
        MaximumBatchingWindowInSeconds=1,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": failed_arn}},
    )
    wait_state(lam, mapping["UUID"], "Enabled")
    (failure,) = events(sqs, failed_url, 1)
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    info = failure["KinesisBatchInfo"]
    assert info["shardId"] == "shardId-000000000000" and info["streamArn"] == arn
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"]
    found = events(sqs, out_url, 6)
    assert [datas([e]) for e in found] == [
        ["a", "b", "poison", "c"],
        ["a", "b"],
        ["poison", "c"],
        ["poison"],
        ["poison"],
        ["c"],
    ]


def test_filters_match_json_data_and_at_timestamp(setup):
    sqs, lam, kinesis, role, out_url = setup
    arn = stream(kinesis)
    put(kinesis, arn, json.dumps({"kind": "keep", "n": 0}))
    time.sleep(1.05)  # botocore sends whole seconds
    moment = datetime.now(UTC).replace(microsecond=0)
    for i, kind in enumerate(("keep", "drop", "keep")):
        put(kinesis, arn, json.dumps({"kind": kind, "n": i + 1}))
    put(kinesis, arn, "not json")
    criteria = {"Filters": [{"Pattern": json.dumps({"data": {"kind": ["keep"]}})}]}
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=function(lam, role, out_url),
        StartingPosition="AT_TIMESTAMP",
        StartingPositionTimestamp=moment,
        FilterCriteria=criteria,
        MaximumBatchingWindowInSeconds=1,
    )
    assert mapping["StartingPosition"] == "AT_TIMESTAMP"
    wait_state(lam, mapping["UUID"], "Enabled")
    seen: list[dict] = []
    while len(seen) < 2:
        seen += [json.loads(d) for d in datas(events(sqs, out_url, 1))]
    assert seen == [{"kind": "keep", "n": 1}, {"kind": "keep", "n": 3}]


def test_children_are_read_after_their_parent(setup):
    sqs, lam, kinesis, role, out_url = setup
    arn = stream(kinesis)
    put(kinesis, arn, "parent-1")
    kinesis.split_shard(
        StreamARN=arn, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
    )
    put(kinesis, arn, "child-1", "k")
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=function(lam, role, out_url),
        StartingPosition="TRIM_HORIZON",
    )
    wait_state(lam, mapping["UUID"], "Enabled")
    seen: list[str] = []
    while len(seen) < 2:
        seen += datas(events(sqs, out_url, 1))
    assert seen == ["parent-1", "child-1"]


def test_parallelization_factor_keeps_order_per_partition_key(setup):
    sqs, lam, kinesis, role, out_url = setup
    arn = stream(kinesis)
    sent = {f"key{k}": [f"key{k}-{i}" for i in range(3)] for k in range(6)}
    for i in range(3):
        for key, datas_of_key in sent.items():
            put(kinesis, arn, datas_of_key[i], key)
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=function(lam, role, out_url),
        StartingPosition="TRIM_HORIZON",
        ParallelizationFactor=3,
        BatchSize=2,
    )
    assert mapping["ParallelizationFactor"] == 3
    wait_state(lam, mapping["UUID"], "Enabled")
    seen: list[str] = []
    while len(seen) < 18:
        seen += datas(events(sqs, out_url, 1))
    assert sorted(seen) == sorted(d for ds in sent.values() for d in ds)
    for key, expected in sent.items():  # each key's records in order
        assert [d for d in seen if d.startswith(f"{key}-")] == expected


def test_role_must_read_the_stream(client):
    sqs, lam, kinesis = client("sqs"), client("lambda"), client("kinesis")
    role = kinesis_role(client("iam"), allowed=False)
    out_url, _ = queue(sqs, "reports")
    arn = stream(kinesis)
    error = error_of(
        lam.create_event_source_mapping,
        EventSourceArn=arn,
        FunctionName=function(lam, role, out_url),
        StartingPosition="LATEST",
    )
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"].startswith(f"Cannot access stream {arn}.")


def test_restart_resumes_from_the_checkpoint(tmp_path):
    server = SandlotServer(tmp_path).start()
    try:
        sqs, lam = make_client(server.endpoint, "sqs"), make_client(server.endpoint, "lambda")
        kinesis = make_client(server.endpoint, "kinesis")
        role = kinesis_role(make_client(server.endpoint, "iam"))
        out_url, _ = queue(sqs, "reports")
        arn = stream(kinesis)
        mapping = lam.create_event_source_mapping(
            EventSourceArn=arn,
            FunctionName=function(lam, role, out_url),
            StartingPosition="TRIM_HORIZON",
        )
        wait_state(lam, mapping["UUID"], "Enabled")
        put(kinesis, arn, "one")
        assert datas(events(sqs, out_url, 1)) == ["one"]
        put(kinesis, arn, "two")
        assert datas(events(sqs, out_url, 1)) == ["two"]
        server.kill()
    finally:
        server.kill()
    with SandlotServer(tmp_path) as restarted:
        sqs = make_client(restarted.endpoint, "sqs")
        kinesis = make_client(restarted.endpoint, "kinesis")
        put(kinesis, arn, "after")
        out_url = sqs.get_queue_url(QueueName=out_url.rsplit("/", 1)[1])["QueueUrl"]
        seen: list[str] = []
        while "after" not in seen:
            seen += datas(events(sqs, out_url, 1))
        assert seen in (["after"], ["two", "after"]), seen
