"""DynamoDB through an ORM: PynamoDB models (create table with indexes, save with
conditions, atomic updates, queries with range conditions, index queries, scans,
batch writes, transactions) against sandlot."""

from __future__ import annotations

import uuid

import pytest
from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite


@pytest.fixture
def models(server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    suffix = uuid.uuid4().hex[:8]

    class ByStatus(GlobalSecondaryIndex):
        class Meta:
            index_name = "by-status"
            projection = AllProjection()

        state = UnicodeAttribute(hash_key=True)
        total = NumberAttribute(range_key=True)

    class Address(MapAttribute):
        city = UnicodeAttribute()

    class Order(Model):
        class Meta:
            table_name = f"orders-{suffix}"
            host = server.endpoint
            region = "us-east-1"
            billing_mode = "PAY_PER_REQUEST"

        customer = UnicodeAttribute(hash_key=True)
        order_id = UnicodeAttribute(range_key=True)
        state = UnicodeAttribute()
        total = NumberAttribute()
        items = ListAttribute(of=UnicodeAttribute, default=list)
        codes = NumberSetAttribute(null=True)
        address = Address(null=True)
        by_status = ByStatus()

    Order.create_table(wait=True)
    return Order


def test_pynamodb_models(models):
    Order = models
    for i in range(5):
        Order("alice", f"o{i}", state="open" if i % 2 else "shipped", total=i * 10,
              address={"city": "Lyon"}).save()  # fmt: skip
    Order("bob", "o1", state="open", total=99).save()
    first = Order.get("alice", "o0")
    assert first.total == 0 and first.address.city == "Lyon"
    with pytest.raises(PutError):
        Order("alice", "o0", state="x", total=1).save(condition=Order.customer.does_not_exist())
    first.update(actions=[Order.total.add(5), Order.items.set(Order.items.append(["book"])),
                          Order.codes.add({7})])  # fmt: skip
    first.refresh()
    assert first.total == 5 and first.items == ["book"] and first.codes == {7}
    found = [o.order_id for o in Order.query("alice", Order.order_id.between("o1", "o3"))]
    assert found == ["o1", "o2", "o3"]
    newest = list(Order.query("alice", scan_index_forward=False, limit=2))
    assert [o.order_id for o in newest] == ["o4", "o3"]
    open_orders = list(Order.by_status.query("open", Order.total > 15))
    assert sorted((o.customer, o.total) for o in open_orders) == [("alice", 30), ("bob", 99)]
    assert Order.count("alice", filter_condition=Order.total >= 20) == 3
    assert sum(1 for _ in Order.scan(Order.state == "shipped")) == 3
    with Order.batch_write() as batch:
        for i in range(30):
            batch.save(Order("carol", f"b{i:02}", state="open", total=i))
    assert Order.count("carol") == 30

    connection = Connection(host=Order.Meta.host, region="us-east-1")
    with pytest.raises(TransactWriteError), TransactWrite(connection=connection) as tx:
        tx.update(Order("carol", "b00"), actions=[Order.total.add(1)])
        tx.condition_check(Order, "bob", "o1", condition=Order.total < 50)
    assert Order.get("carol", "b00").total == 0  # nothing of the cancelled transaction
    with TransactWrite(connection=connection) as tx:
        tx.update(Order("carol", "b00"), actions=[Order.total.add(1)])
        tx.delete(Order("carol", "b01"))
    assert Order.get("carol", "b00").total == 1 and Order.count("carol") == 29
