"""SQS's pure parts and its storage, without a server: attribute rules, message
content rules, FIFO selection, retention, wake-ups and group commit."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from sandlot.events.wakeup import Wakeups
from sandlot.protocol import ServiceError
from sandlot.services.sqs import attributes as attrs
from sandlot.services.sqs import messages_format as fmt
from sandlot.services.sqs.schema import MESSAGES, MIGRATIONS
from sandlot.services.sqs.storage import Queue, QueueStorage
from sandlot.store import Store
from sandlot.store.group_commit import GroupCommit

ARN = "arn:aws:sqs:us-east-1:000000000000:q"


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ({"VisibilityTimeout": "43201"}, "InvalidAttributeValue"),
        ({"VisibilityTimeout": "-1"}, "InvalidAttributeValue"),
        ({"MaximumMessageSize": "1023"}, "InvalidAttributeValue"),
        ({"MessageRetentionPeriod": "1209601"}, "InvalidAttributeValue"),
        ({"ReceiveMessageWaitTimeSeconds": "21"}, "InvalidAttributeValue"),
        ({"DelaySeconds": "ten"}, "InvalidAttributeValue"),
        ({"ContentBasedDeduplication": "true"}, "InvalidAttributeName"),  # standard queue
        ({"Nope": "1"}, "InvalidAttributeName"),
        ({"Policy": "{not json"}, "InvalidAttributeValue"),
        ({"RedrivePolicy": '{"maxReceiveCount": 3}'}, "InvalidParameterValue"),
        (
            {"RedrivePolicy": json.dumps({"deadLetterTargetArn": ARN, "maxReceiveCount": 0})},
            "InvalidParameterValue",
        ),
        ({"RedriveAllowPolicy": '{"redrivePermission": "byQueue"}'}, "InvalidAttributeValue"),
    ],
)
def test_bad_attributes(given, code):
    with pytest.raises(ServiceError) as caught:
        attrs.validate(given, fifo=False, creating=True, queue_exists=lambda arn: {})
    assert caught.value.code == code


def test_attributes_are_normalised():
    checked = attrs.validate(
        {"VisibilityTimeout": "007", "SqsManagedSseEnabled": "TRUE"},
        fifo=False,
        creating=True,
        queue_exists=lambda arn: None,
    )
    assert checked == {"VisibilityTimeout": "7", "SqsManagedSseEnabled": "true"}


def test_redrive_target_must_exist_and_be_the_same_kind():
    policy = json.dumps({"deadLetterTargetArn": ARN, "maxReceiveCount": "5"})
    with pytest.raises(ServiceError, match="does not exist"):
        attrs.validate(
            {"RedrivePolicy": policy}, fifo=False, creating=True, queue_exists=lambda a: None
        )
    with pytest.raises(ServiceError, match="same type"):
        attrs.validate(
            {"RedrivePolicy": policy},
            fifo=False,
            creating=True,
            queue_exists=lambda a: {"FifoQueue": "true"},
        )
    checked = attrs.validate(
        {"RedrivePolicy": policy}, fifo=False, creating=True, queue_exists=lambda a: {}
    )
    assert attrs.redrive_policy(checked) == (ARN, 5)


def test_redrive_allow_policy():
    by_queue = {
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [ARN]})
    }
    assert attrs.allows_source(by_queue, ARN)
    assert not attrs.allows_source(by_queue, ARN + "x")
    assert not attrs.allows_source({"RedriveAllowPolicy": '{"redrivePermission": "denyAll"}'}, ARN)
    assert attrs.allows_source({}, ARN)


@pytest.mark.parametrize("text", ["tab\tnew\nline\r", "emoji 😀", "\ue000\ufffd", "plain"])
def test_allowed_characters(text):
    fmt.check_characters(text)


@pytest.mark.parametrize(
    ("text", "shown"), [("a\x00", "#x0"), ("\x1f", "#x1F"), ("x\ufffe", "#xFFFE")]
)
def test_refused_characters(text, shown):
    with pytest.raises(ServiceError) as caught:
        fmt.check_characters(text)
    assert caught.value.code == "InvalidMessageContents" and f"'{shown}'" in caught.value.message


def test_message_attribute_rules():
    assert fmt.check_attributes({"a": {"DataType": "String", "StringValue": "xy"}}) == 1 + 6 + 2
    for bad in (
        {"aws.x": {"DataType": "String", "StringValue": "v"}},
        {"a": {"DataType": "Text", "StringValue": "v"}},
        {"a": {"DataType": "Number", "StringValue": "one"}},
        {"a": {"DataType": "String", "StringValue": ""}},
        {f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)},
    ):
        with pytest.raises(ServiceError):
            fmt.check_attributes(bad)


def test_attribute_digest_is_order_independent():
    one = {
        "b": {"DataType": "String", "StringValue": "2"},
        "a": {"DataType": "Binary", "BinaryValue": b"\x01"},
    }
    two = dict(reversed(list(one.items())))
    assert fmt.attributes_md5(one) == fmt.attributes_md5(two)
    assert fmt.attributes_md5({}) is None
    assert fmt.wire(fmt.stored(one)) == one


# -- storage ---------------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path):
    store = Store(tmp_path / "db")
    store.migrate("sqs", MIGRATIONS)
    return QueueStorage(store)


def _row(
    storage: QueueStorage, group: str | None, visible_at: float, *, received=0, sent=0.0
) -> dict:
    row = {
        "queue": ARN,
        "seq": storage.next_seq(),
        "message_id": "m",
        "body": "b",
        "sent": sent,
        "visible_at": visible_at,
        "received": received,
        "receive_count": received,
        "group_id": group,
    }
    storage.put_message(row)
    return storage.message(ARN, row["seq"])


def test_fifo_selection_locks_groups_in_flight(storage):
    fifo = Queue({"arn": ARN}, {"FifoQueue": "true"})
    a1 = _row(storage, "a", 0, received=1)  # in flight until 100
    storage.put_message({**a1, "visible_at": 100.0})
    _row(storage, "a", 0)
    b1 = _row(storage, "b", 0)
    b2 = _row(storage, "b", 0)
    chosen = storage.due(fifo, 10, now=50.0)
    assert [r["seq"] for r in chosen] == [b1["seq"], b2["seq"]]
    # One group's messages first, in order, then the next group's.
    assert [r["group_id"] for r in storage.due(fifo, 10, now=150.0)] == ["a", "a", "b", "b"]
    assert [r["group_id"] for r in storage.due(fifo, 3, now=150.0)] == ["a", "a", "b"]


def test_standard_selection_counts_and_retention(storage):
    standard = Queue({"arn": ARN}, {"MessageRetentionPeriod": "60"})
    _row(storage, None, 0)
    _row(storage, None, 200)  # delayed
    _row(storage, None, 0, sent=-100)  # past the 60 s retention at 50
    in_flight = _row(storage, None, 0, received=1)
    storage.put_message({**in_flight, "visible_at": 100.0})
    assert len(storage.due(standard, 10, now=50.0)) == 1
    assert storage.counts(standard, now=50.0) == (1, 1, 1)
    assert storage.store.count(MESSAGES) == 3  # the expired one is gone
    assert storage.next_due(ARN, now=50.0) == 100.0
    # A shorter retention applies to the messages already there.
    storage.counts(Queue({"arn": ARN}, {"MessageRetentionPeriod": "60"}), now=100.0)
    assert storage.store.count(MESSAGES) == 0


def test_receipt_handles_round_trip():
    from sandlot.services.sqs.base import SqsBase

    handle = SqsBase.receipt_handle(Queue({"arn": ARN}, {}), {"seq": 7, "receipt": "abc"})
    assert SqsBase.parse_receipt(handle) == (ARN, 7, "abc")
    with pytest.raises(ServiceError) as caught:
        SqsBase.parse_receipt("garbage!")
    assert caught.value.code == "ReceiptHandleIsInvalid"


# -- wake-ups and group commit -----------------------------------------------------------


def test_wakeups_notify_and_time_out():
    async def scenario():
        wakeups = Wakeups()
        waiter = asyncio.create_task(wakeups.wait("k", time.time() + 5))
        await asyncio.sleep(0)
        assert wakeups.waiting("k") == 1
        wakeups.notify("k")
        assert await waiter is True
        assert wakeups.waiting("k") == 0
        assert await wakeups.wait("k", time.time() + 0.01) is False

    asyncio.run(scenario())


def test_group_commit_shares_one_transaction(storage):
    commits = []
    original = storage.store.put_many

    def counting(table, rows):
        rows = list(rows)
        commits.append(len(rows))
        original(table, rows)

    storage.store.put_many = counting
    group = GroupCommit(storage.store, MESSAGES)

    async def scenario():
        rows = [{"queue": ARN, "seq": i, "body": "x"} for i in range(20)]
        await asyncio.gather(*(group.put(row) for row in rows))
        await asyncio.gather(group.delete([(ARN, 0), (ARN, 1)]), group.delete([(ARN, 2)]))

    asyncio.run(scenario())
    assert commits == [20]
    assert storage.count(ARN) == 17


def test_group_commit_jobs_share_the_transaction_and_fail_alone(storage):
    """A job runs inside the shared commit after its puts, sees what earlier jobs wrote,
    and one that raises is undone alone: its caller gets the error, the rest commit."""
    group = GroupCommit(storage.store, MESSAGES)
    store = storage.store

    def take(seq):  # a read-then-write, as a receive's claim is
        def job():
            row = store.get(MESSAGES, ARN, seq)
            store.put(MESSAGES, {**row, "body": row["body"] + "!"})
            return row["body"]

        return job

    def fails():
        store.put(MESSAGES, {"queue": ARN, "seq": 99, "body": "half-written"})
        raise ValueError("refused")

    async def scenario():
        first = asyncio.ensure_future(group.put({"queue": ARN, "seq": 1, "body": "x"}))
        results = await asyncio.gather(
            group.run(take(1)), group.run(fails), group.run(take(1)), first,
            return_exceptions=True,
        )  # fmt: skip
        return results

    seen_first, error, seen_second, put = asyncio.run(scenario())
    assert (seen_first, seen_second, put) == ("x", "x!", None)
    assert isinstance(error, ValueError)
    assert storage.message(ARN, 1)["body"] == "x!!"
    assert storage.message(ARN, 99) is None
