"""CloudWatch Logs Live Tail end to end: boto3's ``start_live_tail`` reads the event
stream (``sessionStart``, then a ``sessionUpdate`` every second) while a function logs
and while events are put. ``aws logs start-live-tail`` exists only in CLI v2."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from tests.e2e.conftest import error_of, make_client
from tests.e2e.functions import create_function, unique

ACCOUNT = "000000000000"
LOGGER = """
def handler(event, context):
    print("TAILME " + event["word"])
    print("ignored line")
    return "ok"
"""


@pytest.fixture
def tail_logs(server):
    """A logs client that sends StartLiveTail to the endpoint itself: botocore's
    ``stream-`` host prefix would make it ``stream-127.0.0.1``."""
    client = make_client(server.endpoint, "logs")
    client.meta.config.inject_host_prefix = False
    return client


def group_arn(name: str) -> str:
    return f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{name}"


class Reader:
    """Reads a Live Tail stream on a thread; ``next(timeout)`` gives its events."""

    def __init__(self, answer: dict) -> None:
        self.stream = answer["responseStream"]
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for event in self.stream:
                self.events.put(event)
        except Exception as exc:  # the stream closed under us, or a modelled error
            self.events.put({"error": exc})

    def next(self, timeout: float = 10) -> dict:
        return self.events.get(timeout=timeout)

    def results_until(self, found, timeout: float = 30) -> list[dict]:
        """sessionResults of the updates read until ``found(results so far)``."""
        deadline = time.monotonic() + timeout
        results: list[dict] = []
        while time.monotonic() < deadline:
            event = self.next(timeout=max(deadline - time.monotonic(), 0.1))
            assert "sessionUpdate" in event, event
            results += event["sessionUpdate"]["sessionResults"]
            if found(results):
                return results
        raise AssertionError(f"not found in {results}")

    def close(self) -> None:
        self.stream.close()


def test_live_tail_shows_a_function_logging(client, tail_logs):
    lam, logs = client("lambda"), client("logs")
    name = unique("tailed")
    create_function(lam, name, {"app.py": LOGGER})
    group = f"/aws/lambda/{name}"
    logs.create_log_group(logGroupName=group)
    answer = tail_logs.start_live_tail(
        logGroupIdentifiers=[group_arn(group)], logEventFilterPattern="TAILME"
    )
    assert answer["ResponseMetadata"]["HTTPHeaders"]["content-type"] == (
        "application/vnd.amazon.eventstream"
    )
    reader = Reader(answer)
    try:
        start = reader.next()["sessionStart"]
        assert start["logGroupIdentifiers"] == [group_arn(group)]
        assert start["logEventFilterPattern"] == "TAILME"
        assert start["sessionId"] and start["requestId"]
        assert "logStreamNames" not in start and "logStreamNamePrefixes" not in start
        # Nothing logged yet: the update a second later is empty, not missing.
        first = reader.next()["sessionUpdate"]
        assert first["sessionResults"] == []
        assert first["sessionMetadata"] == {"sampled": False}

        began = int(time.time() * 1000)
        assert lam.invoke(FunctionName=name, Payload=b'{"word": "hello"}')["StatusCode"] == 200
        results = reader.results_until(lambda r: any("hello" in e["message"] for e in r))
        assert [e["message"].strip() for e in results] == ["TAILME hello"]
        event = results[0]
        assert event["logGroupIdentifier"] == f"{ACCOUNT}:{group}"
        assert "[$LATEST]" in event["logStreamName"]
        assert began - 5000 <= event["timestamp"] <= event["ingestionTime"]
    finally:
        reader.close()


def test_live_tail_stream_filters_and_sampling(client, tail_logs):
    logs = client("logs")
    group = unique("/e2e/tail")
    logs.create_log_group(logGroupName=group)
    for stream in ("web-1", "web-2", "worker-1"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    reader = Reader(
        tail_logs.start_live_tail(
            logGroupIdentifiers=[group_arn(group)], logStreamNamePrefixes=["web-"]
        )
    )
    try:
        assert reader.next()["sessionStart"]["logStreamNamePrefixes"] == ["web-"]
        now = int(time.time() * 1000)
        for stream in ("worker-1", "web-2"):
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": now, "message": f"from {stream}"}],
            )
        results = reader.results_until(lambda r: len(r) >= 1)
        assert [(e["logStreamName"], e["message"]) for e in results] == [("web-2", "from web-2")]

        # 600 events in one second: the update carries 500 of them, marked sampled.
        logs.put_log_events(
            logGroupName=group,
            logStreamName="web-1",
            logEvents=[{"timestamp": now + i, "message": f"burst {i}"} for i in range(600)],
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            update = reader.next()["sessionUpdate"]
            if update["sessionResults"]:
                break
        assert update["sessionMetadata"] == {"sampled": True}
        assert len(update["sessionResults"]) == 500
        assert update["sessionResults"][0]["message"] == "burst 0"
    finally:
        reader.close()


def test_live_tail_refusals(client, tail_logs):
    logs = client("logs")
    group, other = unique("/e2e/tail"), unique("/e2e/tail")
    logs.create_log_group(logGroupName=group)
    logs.create_log_group(logGroupName=other)

    def refused(**params) -> dict:
        return error_of(tail_logs.start_live_tail, **params)

    err = refused(logGroupIdentifiers=[group_arn(group)], logStreamNames=["a"],
                  logStreamNamePrefixes=["b"])  # fmt: skip
    assert err["Code"] == "InvalidParameterException"
    err = refused(logGroupIdentifiers=[group_arn(group), group_arn(other)], logStreamNames=["a"])
    assert err["Code"] == "InvalidParameterException"
    # AWS wants ARNs (not names, not the ":*" form).
    assert refused(logGroupIdentifiers=[group])["Code"] == "InvalidParameterException"
    assert refused(logGroupIdentifiers=[group_arn(group) + ":*"])["Code"] == (
        "InvalidParameterException"
    )
    err = refused(logGroupIdentifiers=[group_arn(unique("/e2e/none"))])
    assert err["Code"] == "ResourceNotFoundException"
    err = refused(logGroupIdentifiers=[group_arn(f"{group}-{i}") for i in range(11)])
    assert err["Code"] == "InvalidParameterException"
    err = refused(logGroupIdentifiers=[group_arn(group)], logEventFilterPattern='{ $.x = "')
    assert err["Code"] == "InvalidParameterException"


def test_live_tail_concurrent_session_limit(client, server):
    logs = client("logs")
    group = unique("/e2e/tail")
    logs.create_log_group(logGroupName=group)
    # One client per session: each keeps its own connection open.
    readers = []

    def open_session() -> Reader:
        tail = make_client(server.endpoint, "logs")
        tail.meta.config.inject_host_prefix = False
        reader = Reader(tail.start_live_tail(logGroupIdentifiers=[group_arn(group)]))
        assert "sessionStart" in reader.next()
        return reader

    try:
        for _ in range(15):
            readers.append(open_session())
        tail = make_client(server.endpoint, "logs")
        tail.meta.config.inject_host_prefix = False
        err = error_of(tail.start_live_tail, logGroupIdentifiers=[group_arn(group)])
        assert err["Code"] == "LimitExceededException"
        # A closed session frees its place (once the server notices the disconnect).
        readers.pop().close()
        deadline = time.monotonic() + 15
        while True:
            try:
                readers.append(open_session())
                break
            except AssertionError:
                raise
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        for reader in readers:
            reader.close()
