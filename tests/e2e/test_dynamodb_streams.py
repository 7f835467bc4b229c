"""DynamoDB Streams end to end with boto3: records for INSERT/MODIFY/REMOVE in each view
type, none for an identical put, the iterator types, paging, closed shards and AWS's
errors."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import aws


@pytest.fixture
def ddb(client):
    return client("dynamodb")


@pytest.fixture
def streams(client):
    return client("dynamodbstreams")


def _table(ddb, view: str = "NEW_AND_OLD_IMAGES") -> tuple[str, str]:
    name = f"s-{uuid.uuid4().hex[:10]}"
    out = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )
    return name, out["TableDescription"]["LatestStreamArn"]


def _shard(streams, arn: str) -> str:
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    assert len(shards) == 1
    return shards[0]["ShardId"]


def _read(streams, arn: str, kind: str = "TRIM_HORIZON", **extra) -> list[dict]:
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=_shard(streams, arn), ShardIteratorType=kind, **extra
    )["ShardIterator"]
    return streams.get_records(ShardIterator=iterator)["Records"]


def _changes(ddb, name: str) -> None:
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "n": {"N": "1"}})  # identical
    ddb.update_item(
        TableName=name,
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET n = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}})
    ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}})  # nothing to delete


def test_records_in_aws_shape_with_both_images(ddb, streams):
    name, arn = _table(ddb)
    _changes(ddb, name)
    records = _read(streams, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    insert, modify, remove = records
    assert insert["eventSource"] == "aws:dynamodb" and insert["eventVersion"] == "1.1"
    assert insert["awsRegion"] == "us-east-1"
    assert insert["dynamodb"]["Keys"] == {"pk": {"S": "a"}}
    assert insert["dynamodb"]["NewImage"] == {"pk": {"S": "a"}, "n": {"N": "1"}}
    assert "OldImage" not in insert["dynamodb"]
    assert modify["dynamodb"]["OldImage"]["n"] == {"N": "1"}
    assert modify["dynamodb"]["NewImage"]["n"] == {"N": "2"}
    assert remove["dynamodb"]["OldImage"]["n"] == {"N": "2"}
    assert "NewImage" not in remove["dynamodb"]
    numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert all(n.isdigit() and len(n) >= 21 for n in numbers)
    assert [int(n) for n in numbers] == sorted(int(n) for n in numbers)
    assert len(set(numbers)) == 3
    assert all(r["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES" for r in records)
    assert all(r["dynamodb"]["SizeBytes"] > 0 for r in records)
    assert len({r["eventID"] for r in records}) == 3
    assert "userIdentity" not in remove


@pytest.mark.parametrize(
    "view, new, old",
    [("KEYS_ONLY", False, False), ("NEW_IMAGE", True, False), ("OLD_IMAGE", False, True)],
)
def test_view_types(ddb, streams, view, new, old):
    name, arn = _table(ddb, view)
    _changes(ddb, name)
    records = _read(streams, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    modify = records[1]["dynamodb"]
    assert modify["Keys"] == {"pk": {"S": "a"}}
    assert ("NewImage" in modify) is new
    assert ("OldImage" in modify) is old
    assert modify["StreamViewType"] == view


def test_iterator_types_and_paging(ddb, streams):
    name, arn = _table(ddb)
    shard = _shard(streams, arn)
    latest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    for i in range(5):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}})
    everything = _read(streams, arn)
    assert len(everything) == 5
    # LATEST: only what was written after the iterator was taken.
    page = streams.get_records(ShardIterator=latest, Limit=2)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]] == ["k0", "k1"]
    rest = streams.get_records(ShardIterator=page["NextShardIterator"])
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in rest["Records"]] == ["k2", "k3", "k4"]
    # An open shard always has a next iterator; it sees later writes.
    ddb.put_item(TableName=name, Item={"pk": {"S": "k5"}})
    later = streams.get_records(ShardIterator=rest["NextShardIterator"])["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in later] == ["k5"]
    third = everything[2]["dynamodb"]["SequenceNumber"]
    at = _read(streams, arn, "AT_SEQUENCE_NUMBER", SequenceNumber=third)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in at] == ["k2", "k3", "k4", "k5"]
    after = _read(streams, arn, "AFTER_SEQUENCE_NUMBER", SequenceNumber=third)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in after] == ["k3", "k4", "k5"]


def test_list_describe_and_disable(ddb, streams):
    name, arn = _table(ddb, "KEYS_ONLY")
    listed = streams.list_streams(TableName=name)["Streams"]
    assert listed == [{"StreamArn": arn, "TableName": name, "StreamLabel": arn.split("/")[-1]}]
    described = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert described["StreamStatus"] == "ENABLED"
    assert described["StreamViewType"] == "KEYS_ONLY"
    assert described["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert described["Shards"][0]["ShardId"].startswith("shardId-")
    assert "EndingSequenceNumber" not in described["Shards"][0]["SequenceNumberRange"]
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["LatestStreamArn"] == arn
    ddb.put_item(TableName=name, Item={"pk": {"S": "x"}})
    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    ddb.put_item(TableName=name, Item={"pk": {"S": "y"}})  # no stream: no record
    described = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert described["StreamStatus"] == "DISABLED"
    assert "EndingSequenceNumber" in described["Shards"][0]["SequenceNumberRange"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=described["Shards"][0]["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    page = streams.get_records(ShardIterator=iterator)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]] == ["x"]
    assert "NextShardIterator" not in page  # the closed shard is read to its end


def test_errors(ddb, streams):
    name, arn = _table(ddb)
    with pytest.raises(ClientError) as e:
        streams.describe_stream(StreamArn=arn + "x")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        streams.get_shard_iterator(
            StreamArn=arn,
            ShardId="shardId-00000000000000000000-00000000",
            ShardIteratorType="LATEST",
        )
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        streams.get_shard_iterator(
            StreamArn=arn, ShardId=_shard(streams, arn), ShardIteratorType="AT_SEQUENCE_NUMBER"
        )
    assert e.value.response["Error"]["Code"] == "ValidationException"
    # An iterator older than 15 minutes (its issue time is part of it) has expired.
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=_shard(streams, arn), ShardIteratorType="LATEST"
    )["ShardIterator"]
    head, _, issued = iterator.rpartition("|")
    with pytest.raises(ClientError) as e:
        streams.get_records(ShardIterator=f"{head}|{float(issued) - 901:.3f}")
    assert e.value.response["Error"]["Code"] == "ExpiredIteratorException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_aws_cli_reads_the_stream(server, ddb):
    name, arn = _table(ddb, "NEW_IMAGE")
    ddb.put_item(TableName=name, Item={"pk": {"S": "cli"}})
    listed = aws(server.endpoint, "dynamodbstreams", "list-streams", "--table-name", name)
    assert [s["StreamArn"] for s in listed["Streams"]] == [arn]
    shard = aws(server.endpoint, "dynamodbstreams", "describe-stream", "--stream-arn", arn)
    shard_id = shard["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = aws(server.endpoint, "dynamodbstreams", "get-shard-iterator", "--stream-arn", arn,
                   "--shard-id", shard_id, "--shard-iterator-type", "TRIM_HORIZON")  # fmt: skip
    got = aws(server.endpoint, "dynamodbstreams", "get-records",
              "--shard-iterator", iterator["ShardIterator"])  # fmt: skip
    (record,) = got["Records"]
    assert record["dynamodb"]["NewImage"] == {"pk": {"S": "cli"}}
