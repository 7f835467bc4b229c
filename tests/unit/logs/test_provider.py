"""The logs provider over a real store, through the internal client."""

from __future__ import annotations

import asyncio

import pytest

from sandlot.protocol import ServiceError
from sandlot.services.logs import provider as logs_provider
from sandlot.services.logs.schema import EVENTS
from tests.unit.logs.conftest import NOW_MS

DAY_MS = 86_400_000


def error_of(call, *args, **kwargs) -> ServiceError:
    with pytest.raises(ServiceError) as raised:
        call(*args, **kwargs)
    return raised.value


@pytest.fixture
def stream(logs):
    logs("CreateLogGroup", {"logGroupName": "/app"})
    logs("CreateLogStream", {"logGroupName": "/app", "logStreamName": "s1"})
    return {"logGroupName": "/app", "logStreamName": "s1"}


def put(logs, stream, *events: tuple[int, str]) -> dict:
    batch = [{"timestamp": ts, "message": message} for ts, message in events]
    return logs("PutLogEvents", {**stream, "logEvents": batch})


def messages(response: dict) -> list[str]:
    return [event["message"] for event in response["events"]]


# -- groups and streams -------------------------------------------------------------


def test_group_lifecycle_and_errors(logs):
    logs("CreateLogGroup", {"logGroupName": "/app"})
    assert error_of(logs, "CreateLogGroup", {"logGroupName": "/app"}).code == (
        "ResourceAlreadyExistsException"
    )
    bad = error_of(logs, "CreateLogGroup", {"logGroupName": "has space"})
    assert bad.code == "InvalidParameterException"
    assert bad.message == (
        "1 validation error detected: Value 'has space' at 'logGroupName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
    )
    assert error_of(logs, "CreateLogGroup", {"logGroupName": "aws/mine"}).code == (
        "InvalidParameterException"
    )
    logs("DeleteLogGroup", {"logGroupName": "/app"})
    missing = error_of(logs, "DeleteLogGroup", {"logGroupName": "/app"})
    assert (missing.code, missing.message) == (
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    )


def test_describe_log_groups(logs):
    for name in ["/aws/lambda/b", "/aws/lambda/a", "/other/DataLogs", "/x"]:
        logs("CreateLogGroup", {"logGroupName": name})
    logs("PutRetentionPolicy", {"logGroupName": "/x", "retentionInDays": 7})
    everything = logs("DescribeLogGroups", {})["logGroups"]
    assert [g["logGroupName"] for g in everything] == sorted(g["logGroupName"] for g in everything)
    x = everything[-1]
    assert x == {
        "logGroupName": "/x",
        "creationTime": NOW_MS,
        "retentionInDays": 7,
        "metricFilterCount": 0,
        "arn": "arn:aws:logs:us-east-1:000000000000:log-group:/x:*",
        "storedBytes": 0,
        "logGroupClass": "STANDARD",
        "logGroupArn": "arn:aws:logs:us-east-1:000000000000:log-group:/x",
        "deletionProtectionEnabled": False,
    }
    lambdas = logs("DescribeLogGroups", {"logGroupNamePrefix": "/aws/lambda/"})["logGroups"]
    assert [g["logGroupName"] for g in lambdas] == ["/aws/lambda/a", "/aws/lambda/b"]
    pattern = logs("DescribeLogGroups", {"logGroupNamePattern": "DataLogs"})["logGroups"]
    assert pattern == [
        {
            "logGroupName": "/other/DataLogs",
            "creationTime": NOW_MS,
            "arn": "arn:aws:logs:us-east-1:000000000000:log-group:/other/DataLogs:*",
        }
    ]
    assert logs("DescribeLogGroups", {"logGroupNamePattern": "datalogs"})["logGroups"] == []
    both = {"logGroupNamePrefix": "/a", "logGroupNamePattern": "a"}
    assert error_of(logs, "DescribeLogGroups", both).code == "InvalidParameterException"
    first = logs("DescribeLogGroups", {"limit": 3})
    rest = logs("DescribeLogGroups", {"limit": 3, "nextToken": first["nextToken"]})
    assert [g["logGroupName"] for g in first["logGroups"] + rest["logGroups"]] == [
        g["logGroupName"] for g in everything
    ]
    assert rest.get("nextToken") is None
    assert error_of(logs, "DescribeLogGroups", {"limit": 51}).code == "InvalidParameterException"


def test_describe_log_streams_orders_and_pages(logs, stream):
    for name, ts in [("b", NOW_MS - 30), ("a", NOW_MS - 10), ("c", NOW_MS - 20)]:
        logs("CreateLogStream", {"logGroupName": "/app", "logStreamName": name})
        put(logs, {"logGroupName": "/app", "logStreamName": name}, (ts, "x"))
    by_name = logs("DescribeLogStreams", {"logGroupName": "/app"})["logStreams"]
    assert [s["logStreamName"] for s in by_name] == ["a", "b", "c", "s1"]
    a = by_name[0]
    assert a["firstEventTimestamp"] == a["lastEventTimestamp"] == NOW_MS - 10
    assert a["lastIngestionTime"] == NOW_MS
    assert a["storedBytes"] == 0
    assert a["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/app:log-stream:a"
    recent = logs(
        "DescribeLogStreams",
        {"logGroupName": "/app", "orderBy": "LastEventTime", "descending": True, "limit": 2},
    )
    more = logs(
        "DescribeLogStreams",
        {
            "logGroupName": "/app",
            "orderBy": "LastEventTime",
            "descending": True,
            "nextToken": recent["nextToken"],
        },
    )
    names = [s["logStreamName"] for s in recent["logStreams"] + more["logStreams"]]
    assert names == ["a", "c", "b", "s1"]
    prefixed = logs(
        "DescribeLogStreams", {"logGroupIdentifier": "/app", "logStreamNamePrefix": "s"}
    )
    assert [s["logStreamName"] for s in prefixed["logStreams"]] == ["s1"]
    conflict = {"logGroupName": "/app", "orderBy": "LastEventTime", "logStreamNamePrefix": "a"}
    assert error_of(logs, "DescribeLogStreams", conflict).code == "InvalidParameterException"


def test_log_group_identifier_may_be_an_arn(logs, stream):
    put(logs, stream, (NOW_MS, "hello"))
    arn = "arn:aws:logs:us-east-1:000000000000:log-group:/app"
    got = logs("GetLogEvents", {"logGroupIdentifier": arn, "logStreamName": "s1"})
    assert messages(got) == ["hello"]
    other_account = "arn:aws:logs:us-east-1:111111111111:log-group:/app"
    assert (
        error_of(logs, "FilterLogEvents", {"logGroupIdentifier": other_account}).code
        == "ResourceNotFoundException"
    )
    both = {"logGroupName": "/app", "logGroupIdentifier": "/app", "logStreamName": "s1"}
    assert error_of(logs, "GetLogEvents", both).code == "InvalidParameterException"


def test_accounts_and_regions_are_isolated(logs, stream):
    put(logs, stream, (NOW_MS, "secret"))
    assert logs("DescribeLogGroups", {}, account="111111111111")["logGroups"] == []
    assert logs("DescribeLogGroups", {}, region="eu-west-1")["logGroups"] == []
    logs("CreateLogGroup", {"logGroupName": "/app"}, account="111111111111")
    logs("CreateLogStream", {"logGroupName": "/app", "logStreamName": "s1"}, account="111111111111")
    assert messages(logs("GetLogEvents", stream, account="111111111111")) == []
    assert messages(logs("GetLogEvents", stream)) == ["secret"]


# -- PutLogEvents ---------------------------------------------------------------------


def test_put_log_events_validation(logs, stream):
    unordered = error_of(put, logs, stream, (NOW_MS, "b"), (NOW_MS - 1, "a"))
    assert (unordered.code, unordered.message) == (
        "InvalidParameterException",
        "Log events in a single PutLogEvents request must be in chronological order.",
    )
    span = error_of(put, logs, stream, (NOW_MS - DAY_MS - 1, "a"), (NOW_MS, "b"))
    assert span.message == (
        "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
    )
    big = "x" * 600_000
    too_large = error_of(put, logs, stream, (NOW_MS, big), (NOW_MS, big))
    assert too_large.message == "Upload too large: 1200052 bytes exceeds limit of 1048576"
    many = [(NOW_MS, "x")] * 10_001
    assert error_of(put, logs, stream, *many).code == "InvalidParameterException"
    missing = error_of(put, logs, {**stream, "logStreamName": "nope"}, (NOW_MS, "x"))
    assert missing.message == "The specified log stream does not exist."
    # A rejected batch stores nothing.
    assert messages(logs("GetLogEvents", stream)) == []


def test_put_log_events_rejects_too_old_expired_and_too_new(logs, stream):
    logs("PutRetentionPolicy", {"logGroupName": "/app", "retentionInDays": 1})
    old = put(logs, stream, (NOW_MS - 14 * DAY_MS - 5, "too old"), (NOW_MS - 14 * DAY_MS + 1, "x"))
    assert old["rejectedLogEventsInfo"] == {
        "tooOldLogEventEndIndex": 0,
        "expiredLogEventEndIndex": 1,
    }
    expired = put(logs, stream, (NOW_MS - DAY_MS - 5, "expired"), (NOW_MS - 5, "ok"))
    assert expired["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    result = put(
        logs,
        stream,
        (NOW_MS, "ok too"),
        (NOW_MS + 2 * 3600_000 + 1, "too new"),
        (NOW_MS + 2 * 3600_000 + 2, "newer"),
    )
    assert result["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    assert len(result["nextSequenceToken"]) == 56
    got = logs("GetLogEvents", {**stream, "startFromHead": True})
    assert messages(got) == ["ok", "ok too"]
    # The sequence token is accepted and ignored, whatever it is.
    logs(
        "PutLogEvents",
        {**stream, "sequenceToken": "bogus", "logEvents": [{"timestamp": NOW_MS, "message": "x"}]},
    )


# -- GetLogEvents ---------------------------------------------------------------------


def test_get_log_events_pages_forward_and_backward(logs, stream):
    put(logs, stream, *[(NOW_MS - 100 + i, f"m{i}") for i in range(10)])
    tail = logs("GetLogEvents", {**stream, "limit": 3})
    assert messages(tail) == ["m7", "m8", "m9"]  # default: the newest events
    assert tail["events"][0] == {"timestamp": NOW_MS - 93, "message": "m7", "ingestionTime": NOW_MS}
    back = [tail]
    while True:
        page = logs(
            "GetLogEvents", {**stream, "limit": 3, "nextToken": back[-1]["nextBackwardToken"]}
        )
        if not page["events"]:
            assert page["nextBackwardToken"] == back[-1]["nextBackwardToken"]
            break
        back.append(page)
    assert [m for page in reversed(back) for m in messages(page)] == [f"m{i}" for i in range(10)]

    head = logs("GetLogEvents", {**stream, "limit": 4, "startFromHead": True})
    assert messages(head) == ["m0", "m1", "m2", "m3"]
    pages, token = [head], head["nextForwardToken"]
    while True:
        page = logs(
            "GetLogEvents", {**stream, "limit": 4, "nextToken": token, "startFromHead": True}
        )
        if page["nextForwardToken"] == token:  # AWS's end of stream: the same token
            assert page["events"] == []
            break
        pages.append(page)
        token = page["nextForwardToken"]
    assert [m for page in pages for m in messages(page)] == [f"m{i}" for i in range(10)]

    # New events show up behind a forward token that was at the end.
    put(logs, stream, (NOW_MS, "late"))
    assert messages(logs("GetLogEvents", {**stream, "nextToken": token})) == ["late"]


def test_get_log_events_time_range(logs, stream):
    put(logs, stream, *[(NOW_MS - 10 + i, f"m{i}") for i in range(10)])
    window = {"startTime": NOW_MS - 8, "endTime": NOW_MS - 5}  # start inclusive, end exclusive
    assert messages(logs("GetLogEvents", {**stream, **window})) == ["m2", "m3", "m4"]
    assert messages(logs("GetLogEvents", {**stream, **window, "startFromHead": True})) == [
        "m2",
        "m3",
        "m4",
    ]
    assert error_of(logs, "GetLogEvents", {**stream, "nextToken": "garbage"}).message == (
        "The specified nextToken is invalid."
    )


def test_get_log_events_pages_are_at_most_one_megabyte(logs, stream):
    line = "y" * 300_000
    for i in range(4):
        put(logs, stream, (NOW_MS + i, line))
    page = logs("GetLogEvents", {**stream, "startFromHead": True})
    assert len(page["events"]) == 3
    rest = logs("GetLogEvents", {**stream, "nextToken": page["nextForwardToken"]})
    assert len(rest["events"]) == 1


# -- FilterLogEvents ------------------------------------------------------------------


def test_filter_log_events_interleaves_streams_and_filters(logs, stream):
    logs("CreateLogStream", {"logGroupName": "/app", "logStreamName": "s2"})
    other = {"logGroupName": "/app", "logStreamName": "s2"}
    put(logs, stream, (NOW_MS - 5, "ERROR one"), (NOW_MS - 3, "INFO two"))
    put(logs, other, (NOW_MS - 4, "ERROR three"), (NOW_MS - 2, '{"level": "WARN", "ms": 12}'))
    everything = logs("FilterLogEvents", {"logGroupName": "/app"})
    assert [(e["logStreamName"], e["message"]) for e in everything["events"]] == [
        ("s1", "ERROR one"),
        ("s2", "ERROR three"),
        ("s1", "INFO two"),
        ("s2", '{"level": "WARN", "ms": 12}'),
    ]
    assert everything["searchedLogStreams"] == []
    assert everything.get("nextToken") is None
    assert len({e["eventId"] for e in everything["events"]}) == 4

    def search(**params):
        return messages(logs("FilterLogEvents", {"logGroupName": "/app", **params}))

    assert search(filterPattern="ERROR") == ["ERROR one", "ERROR three"]
    assert search(filterPattern="?two ?three") == ["ERROR three", "INFO two"]
    assert search(filterPattern="{ $.ms > 10 }") == ['{"level": "WARN", "ms": 12}']
    assert search(logStreamNames=["s2"], filterPattern="ERROR") == ["ERROR three"]
    assert search(logStreamNamePrefix="s1") == ["ERROR one", "INFO two"]
    assert search(startTime=NOW_MS - 4, endTime=NOW_MS - 3) == ["ERROR three", "INFO two"]
    bad = error_of(logs, "FilterLogEvents", {"logGroupName": "/app", "filterPattern": "a@b"})
    assert (bad.code, bad.message) == (
        "InvalidParameterException",
        "Invalid character(s) in term 'a@b'",
    )
    both = {"logGroupName": "/app", "logStreamNames": ["s1"], "logStreamNamePrefix": "s"}
    assert error_of(logs, "FilterLogEvents", both).code == "InvalidParameterException"


def test_filter_log_events_pages_with_tokens(logs, stream, monkeypatch):
    put(logs, stream, *[(NOW_MS - 100 + i, "hit" if i % 10 == 0 else "miss") for i in range(100)])
    monkeypatch.setattr(logs_provider, "FILTER_SCAN_BUDGET", 25)
    found, token, pages = [], None, 0
    while True:
        params = {"logGroupName": "/app", "filterPattern": "hit", "limit": 3}
        if token:
            params["nextToken"] = token
        page = logs("FilterLogEvents", params)
        found += [e["timestamp"] for e in page["events"]]
        pages += 1
        token = page.get("nextToken")
        if token is None:
            break
    assert found == [NOW_MS - 100 + i for i in range(0, 100, 10)]
    assert pages >= 4  # limited by both the limit and the scan budget


# -- retention ------------------------------------------------------------------------


def test_retention_hides_then_sweeps_expired_events(platform, logs, stream):
    put(logs, stream, *[(NOW_MS - 3 * DAY_MS + i, f"old{i}") for i in range(3)])
    put(logs, stream, (NOW_MS, "fresh"))
    size = logs("DescribeLogGroups", {})["logGroups"][0]["storedBytes"]
    assert size == len("old0old1old2fresh")
    logs("PutRetentionPolicy", {"logGroupName": "/app", "retentionInDays": 1})
    assert messages(logs("GetLogEvents", {**stream, "startFromHead": True})) == ["fresh"]
    assert messages(logs("GetLogEvents", stream)) == ["fresh"]
    assert messages(logs("FilterLogEvents", {"logGroupName": "/app"})) == ["fresh"]

    swept = asyncio.run(platform.provider("logs").sweep_retention())
    assert swept == 3
    assert platform.store.count(EVENTS) == 1
    assert logs("DescribeLogGroups", {})["logGroups"][0]["storedBytes"] == len("fresh")
    assert asyncio.run(platform.provider("logs").sweep_retention()) == 0

    logs("DeleteRetentionPolicy", {"logGroupName": "/app"})
    group = logs("DescribeLogGroups", {})["logGroups"][0]
    assert "retentionInDays" not in group


def test_retention_values_are_aws_s(logs, stream):
    bad = error_of(logs, "PutRetentionPolicy", {"logGroupName": "/app", "retentionInDays": 2})
    assert bad.code == "InvalidParameterException"
    assert "Member must satisfy enum value set: [1, 3, 5, 7, 14, 30" in bad.message
    for days in logs_provider.RETENTION_DAYS:
        logs("PutRetentionPolicy", {"logGroupName": "/app", "retentionInDays": days})


def test_deleted_groups_and_streams_are_gone_and_purged(platform, logs, stream, monkeypatch):
    monkeypatch.setattr(logs_provider, "SWEEP_BATCH", 4)
    put(logs, stream, *[(NOW_MS - 20 + i, f"m{i}") for i in range(10)])
    logs("DeleteLogGroup", {"logGroupName": "/app"})
    logs("CreateLogGroup", {"logGroupName": "/app"})
    logs("CreateLogStream", stream)
    assert messages(logs("GetLogEvents", stream)) == []  # a new group starts empty
    assert platform.store.count(EVENTS) == 6  # 4 purged at once, the rest by the sweep
    assert asyncio.run(platform.provider("logs").sweep_retention()) == 6
    assert platform.store.count(EVENTS) == 0

    put(logs, stream, (NOW_MS, "a"), (NOW_MS, "b"))
    logs("DeleteLogStream", stream)
    assert logs("DescribeLogGroups", {})["logGroups"][0]["storedBytes"] == 0
    assert error_of(logs, "GetLogEvents", stream).code == "ResourceNotFoundException"
    assert platform.store.count(EVENTS) == 0


def test_deletion_protection(logs, stream):
    logs(
        "PutLogGroupDeletionProtection",
        {"logGroupIdentifier": "/app", "deletionProtectionEnabled": True},
    )
    assert error_of(logs, "DeleteLogGroup", {"logGroupName": "/app"}).code == "ValidationException"
    assert error_of(logs, "DeleteLogStream", stream).code == "ValidationException"
    logs(
        "PutLogGroupDeletionProtection",
        {"logGroupIdentifier": "/app", "deletionProtectionEnabled": False},
    )
    logs("DeleteLogGroup", {"logGroupName": "/app"})


# -- tags and metric filter tests -----------------------------------------------------


def test_tags(logs):
    logs("CreateLogGroup", {"logGroupName": "/t", "tags": {"team": "a", "env": "dev"}})
    arn = "arn:aws:logs:us-east-1:000000000000:log-group:/t"
    assert logs("ListTagsForResource", {"resourceArn": arn})["tags"] == {"team": "a", "env": "dev"}
    logs("TagResource", {"resourceArn": arn, "tags": {"team": "b", "cost": "1"}})
    logs("UntagResource", {"resourceArn": arn, "tagKeys": ["env"]})
    assert logs("ListTagsLogGroup", {"logGroupName": "/t"})["tags"] == {"team": "b", "cost": "1"}
    logs("UntagLogGroup", {"logGroupName": "/t", "tags": ["cost"]})
    logs("TagLogGroup", {"logGroupName": "/t", "tags": {"x": "y"}})
    assert logs("ListTagsForResource", {"resourceArn": arn})["tags"] == {
        "team": "b",
        "x": "y",
    }
    too_many = {f"k{i}": "v" for i in range(49)}
    assert error_of(logs, "TagResource", {"resourceArn": arn, "tags": too_many}).code == (
        "TooManyTagsException"
    )
    missing = "arn:aws:logs:us-east-1:000000000000:log-group:/nope"
    assert error_of(logs, "ListTagsForResource", {"resourceArn": missing}).code == (
        "ResourceNotFoundException"
    )


def test_test_metric_filter(logs):
    result = logs(
        "TestMetricFilter",
        {
            "filterPattern": "[ip, user, ..., status = 4*, bytes]",
            "logEventMessages": ["1.2.3.4 - x 200 10", "1.2.3.4 bob y z 404 20"],
        },
    )
    assert result["matches"] == [
        {
            "eventNumber": 2,
            "eventMessage": "1.2.3.4 bob y z 404 20",
            "extractedValues": {
                "$ip": "1.2.3.4",
                "$user": "bob",
                "$3": "y",
                "$4": "z",
                "$status": "404",
                "$bytes": "20",
            },
        }
    ]
