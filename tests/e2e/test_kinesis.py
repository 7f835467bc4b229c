"""Kinesis Data Streams end to end with boto3 and the AWS CLI: shards owning hash-key
ranges, records placed by MD5 of the partition key or an explicit hash key, every
iterator type, iterator expiry, per-record failures in PutRecords, resharding with
parent/child lineage, retention, tags, encryption and consumers, with AWS's errors."""

from __future__ import annotations

import hashlib
import http.client
import json
import struct
import time
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.e2e.conftest import aws, error_of


@pytest.fixture
def kinesis(client):
    return client("kinesis")


def _stream(kinesis, shards: int | None = 2, **extra) -> str:
    name = f"k-{uuid.uuid4().hex[:10]}"
    if shards is None:
        kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    else:
        kinesis.create_stream(StreamName=name, ShardCount=shards, **extra)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10}
    )
    return name


def _read_all(kinesis, name: str, shard: str, kind: str = "TRIM_HORIZON", **extra) -> list:
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId=shard, ShardIteratorType=kind, **extra
    )["ShardIterator"]
    return kinesis.get_records(ShardIterator=iterator)["Records"]


def _owner(shards: list[dict], key: int) -> str:
    return next(
        s["ShardId"]
        for s in shards
        if int(s["HashKeyRange"]["StartingHashKey"])
        <= key
        <= int(s["HashKeyRange"]["EndingHashKey"])
    )


def test_shards_split_the_hash_space_and_records_go_by_md5(kinesis):
    name = _stream(kinesis, shards=4)
    description = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert description["StreamStatus"] == "ACTIVE"
    assert description["RetentionPeriodHours"] == 24
    assert description["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    shards = description["Shards"]
    assert [s["ShardId"] for s in shards] == [f"shardId-00000000000{i}" for i in range(4)]
    assert shards[0]["HashKeyRange"]["StartingHashKey"] == "0"
    assert shards[1]["HashKeyRange"]["StartingHashKey"] == str(2**126)
    assert shards[3]["HashKeyRange"]["EndingHashKey"] == str(2**128 - 1)
    placed: dict[str, list[str]] = {}
    for i in range(40):
        key = f"user-{i}"
        out = kinesis.put_record(StreamName=name, Data=f"d{i}".encode(), PartitionKey=key)
        expected = _owner(shards, int(hashlib.md5(key.encode()).hexdigest(), 16))
        assert out["ShardId"] == expected
        assert len(out["SequenceNumber"]) == 56
        placed.setdefault(expected, []).append(f"d{i}")
    assert len(placed) == 4  # 40 keys land on every shard
    for shard, sent in placed.items():
        records = _read_all(kinesis, name, shard)
        assert [r["Data"].decode() for r in records] == sent
        numbers = [int(r["SequenceNumber"]) for r in records]
        assert numbers == sorted(numbers)
        assert all(isinstance(r["ApproximateArrivalTimestamp"], datetime) for r in records)
    # An explicit hash key overrides the partition key.
    out = kinesis.put_record(
        StreamName=name, Data=b"x", PartitionKey="user-1", ExplicitHashKey=str(2**128 - 1)
    )
    assert out["ShardId"] == "shardId-000000000003"


def test_iterator_types_limit_and_millis_behind(kinesis):
    name = _stream(kinesis, shards=1)
    shard = "shardId-000000000000"
    numbers = [
        kinesis.put_record(StreamName=name, Data=str(i).encode(), PartitionKey="p")[
            "SequenceNumber"
        ]
        for i in range(5)
    ]
    assert [r["Data"] for r in _read_all(kinesis, name, shard)] == [b"0", b"1", b"2", b"3", b"4"]
    at = _read_all(kinesis, name, shard, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=numbers[2])
    assert [r["Data"] for r in at] == [b"2", b"3", b"4"]
    after = _read_all(
        kinesis, name, shard, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=numbers[2]
    )
    assert [r["Data"] for r in after] == [b"3", b"4"]
    latest = kinesis.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    kinesis.put_record(StreamName=name, Data=b"new", PartitionKey="p")
    got = kinesis.get_records(ShardIterator=latest)
    assert [r["Data"] for r in got["Records"]] == [b"new"]
    assert got["MillisBehindLatest"] == 0
    # AT_TIMESTAMP: the first record that arrived at or after the time.
    time.sleep(1.05)  # botocore sends whole seconds: a second after the records above
    moment = datetime.now(UTC).replace(microsecond=0)
    kinesis.put_record(StreamName=name, Data=b"late", PartitionKey="p")
    timed = _read_all(kinesis, name, shard, "AT_TIMESTAMP", Timestamp=moment)
    assert [r["Data"] for r in timed] == [b"late"]
    future = _read_all(kinesis, name, shard, "AT_TIMESTAMP", Timestamp=moment + timedelta(hours=1))
    assert future == []
    # Limit, NextShardIterator and MillisBehindLatest while behind.
    first = kinesis.get_shard_iterator(
        StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    page = kinesis.get_records(ShardIterator=first, Limit=2)
    assert [r["Data"] for r in page["Records"]] == [b"0", b"1"]
    assert page["MillisBehindLatest"] >= 0
    rest = kinesis.get_records(ShardIterator=page["NextShardIterator"])
    assert [r["Data"] for r in rest["Records"]] == [b"2", b"3", b"4", b"new", b"late"]
    assert rest["MillisBehindLatest"] == 0
    assert kinesis.get_records(ShardIterator=rest["NextShardIterator"])["Records"] == []


def test_bad_iterators_and_unknown_streams(kinesis):
    name = _stream(kinesis, shards=1)
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    arn, shard, position, _ = iterator.split("|")
    stale = f"{arn}|{shard}|{position}|{time.time() - 301:.3f}"
    error = error_of(lambda: kinesis.get_records(ShardIterator=stale))
    assert error["Code"] == "ExpiredIteratorException"
    assert "tolerated delay of 300000 milliseconds" in error["Message"]
    error = error_of(lambda: kinesis.describe_stream(StreamName="nope"))
    assert error["Code"] == "ResourceNotFoundException"
    assert error["Message"] == "Stream nope under account 000000000000 not found."
    error = error_of(
        lambda: kinesis.get_shard_iterator(
            StreamName=name, ShardId="shardId-000000000009", ShardIteratorType="LATEST"
        )
    )
    assert error["Code"] == "ResourceNotFoundException"
    error = error_of(lambda: kinesis.create_stream(StreamName=name, ShardCount=1))
    assert error["Code"] == "ResourceInUseException"
    error = error_of(
        lambda: kinesis.get_shard_iterator(
            StreamName=name,
            ShardId="shardId-000000000000",
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber="12",
        )
    )
    assert error["Code"] == "InvalidArgumentException"
    error = error_of(
        lambda: kinesis.put_record(StreamName=name, Data=b"x" * (1024 * 1024), PartitionKey="p")
    )
    assert error["Code"] in ("InvalidArgumentException", "ValidationException")


def test_put_records_reports_failures_per_record(kinesis):
    """A shard takes 1,000 records a second: a third batch of 500 to one shard in the same
    second fails record by record (ProvisionedThroughputExceededException), the rest land."""
    name = _stream(kinesis, shards=2)
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    hot = shards[0]["HashKeyRange"]["StartingHashKey"]
    batch = [{"Data": b"r", "PartitionKey": "p", "ExplicitHashKey": hot} for _ in range(400)]
    batch += [
        {"Data": b"c", "PartitionKey": "p", "ExplicitHashKey": str(2**128 - 1)} for _ in range(100)
    ]
    deadline = time.time() + 30
    while True:  # three batches inside one wall-clock second
        start = time.time()
        if int(start) == int(start + 0.6):
            answers = [kinesis.put_records(StreamName=name, Records=batch) for _ in range(3)]
            if int(time.time()) == int(start):
                break
        assert time.time() < deadline
        time.sleep(0.05)
    last = answers[-1]
    assert answers[0]["FailedRecordCount"] == 0
    assert last["FailedRecordCount"] > 0
    failed = [r for r in last["Records"] if "ErrorCode" in r]
    assert {r["ErrorCode"] for r in failed} == {"ProvisionedThroughputExceededException"}
    assert "Rate exceeded for shard shardId-000000000000" in failed[0]["ErrorMessage"]
    # The other shard's records all went in.
    assert all("SequenceNumber" in r for r in last["Records"][400:])


def test_on_demand_stream_and_list_shards_paging_and_filters(kinesis):
    name = _stream(kinesis, shards=None)
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert summary["OpenShardCount"] == 4
    page = kinesis.list_shards(StreamName=name, MaxResults=3)
    assert len(page["Shards"]) == 3
    rest = kinesis.list_shards(NextToken=page["NextToken"])
    assert [s["ShardId"] for s in rest["Shards"]] == ["shardId-000000000003"]
    error = error_of(lambda: kinesis.list_shards(StreamName=name, NextToken=page["NextToken"]))
    assert error["Code"] == "InvalidArgumentException"
    after = kinesis.list_shards(
        StreamName=name, ShardFilter={"Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000001"}
    )
    assert [s["ShardId"] for s in after["Shards"]] == [
        "shardId-000000000002",
        "shardId-000000000003",
    ]
    names = kinesis.list_streams()["StreamNames"]
    assert name in names


def test_resharding_keeps_lineage_and_closed_shards_end(kinesis):
    name = _stream(kinesis, shards=2)
    kinesis.put_record(StreamName=name, Data=b"before", PartitionKey="a", ExplicitHashKey="5")
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    middle = str(int(shards[0]["HashKeyRange"]["EndingHashKey"]) // 2)
    kinesis.split_shard(
        StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey=middle
    )
    after = {s["ShardId"]: s for s in kinesis.list_shards(StreamName=name)["Shards"]}
    assert "EndingSequenceNumber" in after["shardId-000000000000"]["SequenceNumberRange"]
    assert after["shardId-000000000002"]["ParentShardId"] == "shardId-000000000000"
    assert after["shardId-000000000003"]["HashKeyRange"]["StartingHashKey"] == middle
    out = kinesis.put_record(StreamName=name, Data=b"after", PartitionKey="a", ExplicitHashKey="5")
    assert out["ShardId"] == "shardId-000000000002"
    # The closed parent reads to its end: no next iterator, its children instead.
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    got = kinesis.get_records(ShardIterator=iterator)
    assert [r["Data"] for r in got["Records"]] == [b"before"]
    assert "NextShardIterator" not in got
    assert {c["ShardId"] for c in got["ChildShards"]} == {
        "shardId-000000000002",
        "shardId-000000000003",
    }
    open_shards = kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"})
    assert [s["ShardId"] for s in open_shards["Shards"]] == [
        "shardId-000000000001",
        "shardId-000000000002",
        "shardId-000000000003",
    ]
    kinesis.merge_shards(
        StreamName=name,
        ShardToMerge="shardId-000000000002",
        AdjacentShardToMerge="shardId-000000000003",
    )
    merged = kinesis.list_shards(StreamName=name)["Shards"][-1]
    assert merged["ShardId"] == "shardId-000000000004"
    assert merged["ParentShardId"] == "shardId-000000000002"
    assert merged["AdjacentParentShardId"] == "shardId-000000000003"
    error = error_of(
        lambda: kinesis.merge_shards(
            StreamName=name,
            ShardToMerge="shardId-000000000001",
            AdjacentShardToMerge="shardId-000000000003",
        )
    )
    assert error["Code"] == "ResourceInUseException"
    out = kinesis.update_shard_count(
        StreamName=name, TargetShardCount=4, ScalingType="UNIFORM_SCALING"
    )
    assert (out["CurrentShardCount"], out["TargetShardCount"]) == (2, 4)
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 4


def test_retention_tags_encryption_and_consumers(kinesis, client):
    name = _stream(kinesis, shards=1)
    error = error_of(lambda: kinesis.decrease_stream_retention_period(
        StreamName=name, RetentionPeriodHours=12))  # fmt: skip
    assert error["Code"] == "InvalidArgumentException"
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    assert (
        kinesis.describe_stream(StreamName=name)["StreamDescription"]["RetentionPeriodHours"] == 48
    )
    kinesis.add_tags_to_stream(StreamName=name, Tags={"team": "data", "env": "dev"})
    kinesis.remove_tags_from_stream(StreamName=name, TagKeys=["env"])
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == [
        {"Key": "team", "Value": "data"}
    ]
    key = client("kms").create_key()["KeyMetadata"]["KeyId"]
    kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=key)
    out = kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="p")
    assert out["EncryptionType"] == "KMS"
    error = error_of(lambda: kinesis.start_stream_encryption(
        StreamName=name, EncryptionType="KMS", KeyId=str(uuid.uuid4())))  # fmt: skip
    assert error["Code"] == "KMSNotFoundException"
    kinesis.stop_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=key)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="app")["Consumer"]
    assert consumer["ConsumerARN"].startswith(f"{arn}/consumer/app:")
    described = kinesis.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])
    assert described["ConsumerDescription"]["StreamARN"] == arn
    listed = kinesis.list_stream_consumers(StreamARN=arn)["Consumers"]
    assert [c["ConsumerName"] for c in listed] == ["app"]
    error = error_of(lambda: kinesis.delete_stream(StreamName=name))
    assert error["Code"] == "ResourceInUseException"
    kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    kinesis.get_waiter("stream_not_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )


def test_subscribe_to_shard_streams_events_boto3_reads(kinesis):
    name = _stream(kinesis, shards=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    first = kinesis.put_record(StreamName=name, Data=b"one", PartitionKey="p")
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="c")["Consumer"]
    answer = kinesis.subscribe_to_shard(
        ConsumerARN=consumer["ConsumerARN"],
        ShardId="shardId-000000000000",
        StartingPosition={"Type": "TRIM_HORIZON"},
    )
    assert answer["ResponseMetadata"]["HTTPHeaders"]["content-type"] == (
        "application/vnd.amazon.eventstream"
    )
    stream = answer["EventStream"]
    events = iter(stream)
    event = next(events)["SubscribeToShardEvent"]
    assert [r["Data"] for r in event["Records"]] == [b"one"]
    assert event["Records"][0]["SequenceNumber"] == first["SequenceNumber"]
    assert event["ContinuationSequenceNumber"] == first["SequenceNumber"]
    assert event["MillisBehindLatest"] == 0
    # A record put now arrives as the next event, while the subscription is open.
    kinesis.put_record(StreamName=name, Data=b"two", PartitionKey="p")
    event = next(events)["SubscribeToShardEvent"]
    assert [r["Data"] for r in event["Records"]] == [b"two"]
    stream.close()
    # AWS: the same consumer and shard again within 5 seconds is refused.
    error = error_of(
        lambda: kinesis.subscribe_to_shard(
            ConsumerARN=consumer["ConsumerARN"],
            ShardId="shardId-000000000000",
            StartingPosition={"Type": "LATEST"},
        )
    )
    assert error["Code"] == "ResourceInUseException"
    error = error_of(
        lambda: kinesis.subscribe_to_shard(
            ConsumerARN=f"{arn}/consumer/nope:1",
            ShardId="shardId-000000000000",
            StartingPosition={"Type": "LATEST"},
        )
    )
    assert error["Code"] == "ResourceNotFoundException"


def test_event_stream_frames_on_the_wire(server, kinesis):
    """The raw response: an initial-response event, then SubscribeToShardEvent messages
    whose prelude and message CRCs check out (botocore's decoder verifies them too)."""
    name = _stream(kinesis, shards=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    kinesis.put_record(StreamName=name, Data=b"raw", PartitionKey="p")
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="w")["Consumer"]
    body = json.dumps({"ConsumerARN": consumer["ConsumerARN"], "ShardId": "shardId-000000000000",
                       "StartingPosition": {"Type": "TRIM_HORIZON"}})  # fmt: skip
    request = AWSRequest(
        "POST",
        server.endpoint + "/",
        data=body,
        headers={
            "X-Amz-Target": "Kinesis_20131202.SubscribeToShard",
            "Content-Type": "application/x-amz-json-1.1",
        },  # fmt: skip
    )
    SigV4Auth(Credentials("test", "test"), "kinesis", "us-east-1").add_auth(request)
    host = server.endpoint.removeprefix("http://")
    connection = http.client.HTTPConnection(host, timeout=10)
    connection.request("POST", "/", body=body, headers=dict(request.headers))
    response = connection.getresponse()
    assert response.status == 200
    data = b""
    while data.count(b"SubscribeToShardEvent") < 1:
        data += response.read1(65536)
    connection.close()
    total, headers_length, prelude_crc = struct.unpack_from(">III", data, 0)
    assert prelude_crc == zlib.crc32(data[:8])
    (message_crc,) = struct.unpack_from(">I", data, total - 4)
    assert message_crc == zlib.crc32(data[: total - 4])
    assert b":event-type" in data[12 : 12 + headers_length]
    assert b"initial-response" in data[12 : 12 + headers_length]


def test_aws_cli_round_trip(server):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    aws(server.endpoint, "kinesis", "create-stream", "--stream-name", name, "--shard-count", "1")
    aws(server.endpoint, "kinesis", "wait", "stream-exists", "--stream-name", name)
    put = aws(
        server.endpoint,
        "kinesis",
        "put-record",
        "--stream-name",
        name,
        "--partition-key",
        "k",
        "--data",
        "hello",
    )  # fmt: skip (CLI v1: raw text)
    assert put["ShardId"] == "shardId-000000000000"
    iterator = aws(server.endpoint, "kinesis", "get-shard-iterator", "--stream-name", name,
                   "--shard-id", "shardId-000000000000",
                   "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]  # fmt: skip
    got = aws(server.endpoint, "kinesis", "get-records", "--shard-iterator", iterator)
    assert got["Records"][0]["Data"] == "aGVsbG8="  # the CLI shows the blob as base64
    assert got["Records"][0]["SequenceNumber"] == put["SequenceNumber"]
