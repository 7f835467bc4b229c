"""DynamoDB Streams in-process: a time-to-live deletion is a REMOVE by the service,
a write refused by its condition leaves no record, retention trims old records, and
IAM authorizes the stream operations as dynamodb:* on the stream's ARN."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from sandlot.iam.actions.resolve import authorizations
from sandlot.metrics import Metrics
from sandlot.protocol import ServiceError
from sandlot.services.dynamodb.provider import DynamoDBProvider
from sandlot.services.dynamodbstreams.provider import DynamoDBStreamsProvider
from sandlot.services.provider import RequestContext
from sandlot.store import Store

# Service metrics off (a real Metrics, disabled): these tests are not about them.
NO_METRICS = Metrics(SimpleNamespace(settings=SimpleNamespace(service_metrics=False)))


@pytest.fixture
def providers(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    dynamodb = DynamoDBProvider(SimpleNamespace(store=store, metrics=NO_METRICS))
    platform = SimpleNamespace(store=store, provider=lambda name: dynamodb)
    yield dynamodb, DynamoDBStreamsProvider(platform)
    store.close()


def ctx(service: str, operation: str) -> RequestContext:
    return RequestContext("r", "000000000000", "us-east-1", None, service, operation, None)


def _records(streams, arn: str) -> list[dict]:
    shard = streams.describe_stream(ctx("dynamodbstreams", "DescribeStream"), {"StreamArn": arn})
    iterator = streams.get_shard_iterator(ctx("dynamodbstreams", "GetShardIterator"), {
        "StreamArn": arn, "ShardIteratorType": "TRIM_HORIZON",
        "ShardId": shard["StreamDescription"]["Shards"][0]["ShardId"]})  # fmt: skip
    return streams.get_records(ctx("dynamodbstreams", "GetRecords"), iterator)["Records"]


def test_ttl_removal_condition_failure_and_retention(providers) -> None:
    dynamodb, streams = providers
    table = dynamodb.create_table(ctx("dynamodb", "CreateTable"), {
        "TableName": "t", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "OLD_IMAGE"}})  # fmt: skip
    arn = table["TableDescription"]["LatestStreamArn"]
    put = {"TableName": "t", "Item": {"id": {"S": "a"}, "exp": {"N": str(int(time.time()) - 5)}}}
    asyncio.run(dynamodb.put_item(ctx("dynamodb", "PutItem"), put))
    refused = dict(put, ConditionExpression="attribute_not_exists(id)")
    with pytest.raises(ServiceError):
        asyncio.run(dynamodb.put_item(ctx("dynamodb", "PutItem"), refused))
    dynamodb.update_time_to_live(ctx("dynamodb", "UpdateTimeToLive"), {
        "TableName": "t", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"}})  # fmt: skip
    assert dynamodb.expire(time.time()) == 1
    insert, remove = _records(streams, arn)
    assert insert["eventName"] == "INSERT" and "userIdentity" not in insert
    assert remove["eventName"] == "REMOVE"
    assert remove["userIdentity"] == {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
    assert remove["dynamodb"]["OldImage"]["id"] == {"S": "a"}
    assert streams.trim(time.time()) == 0
    assert streams.trim(time.time() + 24 * 3600 + 1) == 2
    assert _records(streams, arn) == []


def test_stream_operations_are_dynamodb_actions_on_the_stream() -> None:
    arn = "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000"
    for operation, params in (
        ("DescribeStream", {"StreamArn": arn}),
        ("GetShardIterator", {"StreamArn": arn, "ShardId": "s", "ShardIteratorType": "LATEST"}),
        ("GetRecords", {"ShardIterator": f"{arn}|1|0|0"}),
    ):
        (found,) = authorizations("dynamodbstreams", operation, params, "000000000000", "us-east-1")
        assert (found.action, found.resources) == (f"dynamodb:{operation}", (arn,))
    (listing,) = authorizations("dynamodbstreams", "ListStreams", {}, "000000000000", "us-east-1")
    assert (listing.action, listing.resources) == ("dynamodb:ListStreams", ("*",))
