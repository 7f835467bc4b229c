"""Time to live: the sweep deletes items whose TTL attribute has passed (a Number of
epoch seconds, at most five years old), tells the change listeners it expired them,
and leaves everything else."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from sandlot.metrics import Metrics
from sandlot.services.dynamodb.provider import DynamoDBProvider
from sandlot.services.provider import RequestContext
from sandlot.store import Store

NOW = 1_800_000_000.0

# Service metrics off (a real Metrics, disabled): these tests are not about them.
NO_METRICS = Metrics(SimpleNamespace(settings=SimpleNamespace(service_metrics=False)))


@pytest.fixture
def provider(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    yield DynamoDBProvider(SimpleNamespace(store=store, metrics=NO_METRICS))
    store.close()


def ctx(operation: str) -> RequestContext:
    return RequestContext("r", "000000000000", "us-east-1", None, "dynamodb", operation, None)


def test_expired_items_are_deleted_and_reported(provider) -> None:
    provider.create_table(ctx("CreateTable"), {
        "TableName": "t", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]})  # fmt: skip
    items = {
        "past": {"N": str(int(NOW - 10))},
        "future": {"N": str(int(NOW + 10))},
        "ancient": {"N": str(int(NOW - 6 * 365 * 86400))},  # > 5 years: ignored, as AWS does
        "text": {"S": str(int(NOW - 10))},  # not a Number: ignored
    }
    for name, exp in items.items():
        asyncio.run(provider.put_item(ctx("PutItem"), {"TableName": "t",
                                                       "Item": {"id": {"S": name}, "exp": exp}}))  # fmt: skip
    asyncio.run(
        provider.put_item(ctx("PutItem"), {"TableName": "t", "Item": {"id": {"S": "none"}}})
    )
    assert provider.expire(NOW) == 0  # TTL not enabled yet
    provider.update_time_to_live(ctx("UpdateTimeToLive"), {
        "TableName": "t", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"}})  # fmt: skip
    changes = []
    provider.items.listeners.append(lambda info, old, new, expired: changes.append(
        (old["id"]["S"], new, expired)))  # fmt: skip
    assert provider.expire(NOW) == 1
    assert changes == [("past", None, True)]
    left = provider.scan(ctx("Scan"), {"TableName": "t"})
    assert sorted(i["id"]["S"] for i in left["Items"]) == ["ancient", "future", "none", "text"]
