"""LogDelivery: the engine's log sink writing through the internal client."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sandlot.config import Settings
from sandlot.events.log_delivery import LogDelivery, batches
from sandlot.execution.api import LogEvent, LogStream
from sandlot.iam.principal import Principal
from sandlot.platform import Platform
from tests.unit.logs.conftest import ACCOUNT, NOW_MS

GROUP, STREAM = "/aws/lambda/fn", "2023/11/14/[$LATEST]0123456789abcdef"


@pytest.fixture
def platform(tmp_path):
    """IAM off: the roles here exist nowhere (denials are tested with IAM on, below)."""
    running = Platform(Settings(iam="off"), tmp_path / "data")
    running.provider("logs").clock = lambda: NOW_MS / 1000
    yield running
    running.close()


def where(account: str = ACCOUNT, region: str = "us-east-1") -> LogStream:
    return LogStream(account, region, GROUP, STREAM, "fn", f"arn:aws:iam::{account}:role/r")


def test_a_role_that_may_not_log_loses_its_logs_and_it_is_said_once(tmp_path, caplog):
    enforcing = Platform(Settings(iam="enforce"), tmp_path / "enforcing")
    try:
        deliver = LogDelivery(enforcing)
        with caplog.at_level(logging.WARNING, "sandlot.events.log_delivery"):
            asyncio.run(deliver(where(), [LogEvent(NOW_MS, "lost\n")]))
            asyncio.run(deliver(where(), [LogEvent(NOW_MS, "lost too\n")]))
        warnings = [r for r in caplog.records if "dropped" in r.getMessage()]
        assert len(warnings) == 1
        assert "arn:aws:iam::000000000000:role/r" in warnings[0].getMessage()
        root = Principal.root(ACCOUNT)
        groups = asyncio.run(
            enforcing.call("logs", "DescribeLogGroups", {}, principal=root, region="us-east-1")
        )
        assert groups["logGroups"] == []  # nothing was stored
    finally:
        enforcing.close()


def test_batches_respect_putlogevents_limits():
    events = [LogEvent(NOW_MS + i % 3, f"line {i}\n") for i in range(25_000)]
    sent = list(batches(events))
    assert [len(b) for b in sent] == [10_000, 10_000, 5_000]
    timestamps = [e["timestamp"] for b in sent for e in b]
    assert timestamps == sorted(timestamps)
    big = [LogEvent(NOW_MS, "x" * 400_000) for _ in range(5)]
    assert [len(b) for b in batches(big)] == [2, 2, 1]
    spread = [LogEvent(NOW_MS, "a"), LogEvent(NOW_MS + 25 * 3600_000, "b")]
    assert [len(b) for b in batches(spread)] == [1, 1]


def test_delivery_creates_group_and_stream_then_appends(platform, logs):
    deliver = LogDelivery(platform)
    first = [LogEvent(NOW_MS, "START RequestId: 1 Version: $LATEST\n"), LogEvent(NOW_MS, "hi\n")]
    asyncio.run(deliver(where(), first))
    asyncio.run(deliver(where(), [LogEvent(NOW_MS + 1, "END\n")]))
    got = logs(
        "GetLogEvents", {"logGroupName": GROUP, "logStreamName": STREAM, "startFromHead": True}
    )
    assert [e["message"] for e in got["events"]] == [
        "START RequestId: 1 Version: $LATEST\n",
        "hi\n",
        "END\n",
    ]


def test_delivery_recreates_a_deleted_group(platform, logs):
    deliver = LogDelivery(platform)
    asyncio.run(deliver(where(), [LogEvent(NOW_MS, "one\n")]))
    logs("DeleteLogGroup", {"logGroupName": GROUP})
    asyncio.run(deliver(where(), [LogEvent(NOW_MS, "two\n")]))
    got = logs("FilterLogEvents", {"logGroupName": GROUP})
    assert [e["message"] for e in got["events"]] == ["two\n"]


def test_delivery_keeps_accounts_apart(platform, logs):
    deliver = LogDelivery(platform)
    asyncio.run(deliver(where("222222222222", "eu-west-1"), [LogEvent(NOW_MS, "x\n")]))
    assert logs("DescribeLogGroups", {})["logGroups"] == []
    theirs = logs("DescribeLogGroups", {}, account="222222222222", region="eu-west-1")
    assert [g["logGroupName"] for g in theirs["logGroups"]] == [GROUP]
