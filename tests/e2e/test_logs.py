"""CloudWatch Logs end to end: the AWS CLI, boto3 and `sandlot logs` against a real server."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import aws, cli_env

DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def logs(client):
    return client("logs")


def make_stream(logs, group: str, stream: str = "s1") -> dict:
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    return {"logGroupName": group, "logStreamName": stream}


def put(logs, where: dict, *messages: str, start: int | None = None) -> None:
    start = now_ms() if start is None else start
    events = [{"timestamp": start + i, "message": m} for i, m in enumerate(messages)]
    logs.put_log_events(**where, logEvents=events)


def test_aws_cli_put_and_get_with_paging(server):
    group = unique("/e2e/cli")
    aws(server.endpoint, "logs", "create-log-group", "--log-group-name", group)
    aws(server.endpoint, "logs", "create-log-stream", "--log-group-name", group,
        "--log-stream-name", "app")  # fmt: skip
    start = now_ms()
    events = [{"timestamp": start + i, "message": f"line {i}"} for i in range(7)]
    put = aws(server.endpoint, "logs", "put-log-events", "--log-group-name", group,
              "--log-stream-name", "app", "--log-events", json.dumps(events))  # fmt: skip
    assert "nextSequenceToken" in put and "rejectedLogEventsInfo" not in put

    where = ["--log-group-name", group, "--log-stream-name", "app", "--limit", "3"]
    head = aws(server.endpoint, "logs", "get-log-events", *where, "--start-from-head")
    assert [e["message"] for e in head["events"]] == ["line 0", "line 1", "line 2"]
    assert head["nextForwardToken"].startswith("f/")
    forward = aws(server.endpoint, "logs", "get-log-events", *where, "--start-from-head",
                  "--next-token", head["nextForwardToken"])  # fmt: skip
    assert [e["message"] for e in forward["events"]] == ["line 3", "line 4", "line 5"]

    tail = aws(server.endpoint, "logs", "get-log-events", *where)
    assert [e["message"] for e in tail["events"]] == ["line 4", "line 5", "line 6"]
    assert tail["nextBackwardToken"].startswith("b/")
    back = aws(server.endpoint, "logs", "get-log-events", *where,
               "--next-token", tail["nextBackwardToken"])  # fmt: skip
    assert [e["message"] for e in back["events"]] == ["line 1", "line 2", "line 3"]


def test_get_log_events_end_of_stream_repeats_the_token(logs):
    where = make_stream(logs, unique("/e2e/end"))
    put(logs, where, "a", "b")
    page = logs.get_log_events(**where, startFromHead=True)
    again = logs.get_log_events(**where, startFromHead=True, nextToken=page["nextForwardToken"])
    assert again["events"] == []
    assert again["nextForwardToken"] == page["nextForwardToken"]


def test_aws_cli_filter_log_events_patterns(server, logs):
    group = unique("/e2e/filter")
    where = make_stream(logs, group)
    logs.create_log_stream(logGroupName=group, logStreamName="s2")
    put(logs, where, "[ERROR] boom", "[INFO] fine", '{"level": "WARN", "latency": 250}')
    put(logs, {"logGroupName": group, "logStreamName": "s2"}, "Task timed out after 3.00 seconds")

    def search(pattern: str) -> list[str]:
        found = aws(server.endpoint, "logs", "filter-log-events", "--log-group-name", group,
                    f"--filter-pattern={pattern}")  # fmt: skip
        return [e["message"] for e in found["events"]]

    assert search("ERROR") == ["[ERROR] boom"]
    assert search('?ERROR ?"timed out"') == ["[ERROR] boom", "Task timed out after 3.00 seconds"]
    assert search("{ $.latency > 200 && $.level = WARN }") == ['{"level": "WARN", "latency": 250}']
    assert search("-ERROR -INFO -WARN") == ["Task timed out after 3.00 seconds"]
    everything = logs.filter_log_events(logGroupName=group, logStreamNames=["s2"])
    assert [e["logStreamName"] for e in everything["events"]] == ["s2"]
    with pytest.raises(ClientError) as bad:
        logs.filter_log_events(logGroupName=group, filterPattern="user@example.com")
    assert bad.value.response["Error"]["Code"] == "InvalidParameterException"


def test_filter_log_events_paginator_reads_everything(logs):
    where = make_stream(logs, unique("/e2e/pages"))
    put(logs, where, *[f"event {i}" for i in range(25)])
    paginator = logs.get_paginator("filter_log_events")
    pages = list(
        paginator.paginate(logGroupName=where["logGroupName"], PaginationConfig={"PageSize": 10})
    )
    assert len(pages) == 3
    assert [e["message"] for p in pages for e in p["events"]] == [f"event {i}" for i in range(25)]


def test_describe_with_prefixes(server, logs):
    base = unique("/e2e/describe")
    for suffix in ("a", "b", "c"):
        logs.create_log_group(logGroupName=f"{base}/{suffix}")
    listed = aws(server.endpoint, "logs", "describe-log-groups",
                 "--log-group-name-prefix", base)  # fmt: skip
    groups = listed["logGroups"]
    assert [g["logGroupName"] for g in groups] == [f"{base}/{s}" for s in "abc"]
    assert groups[0]["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{base}/a:*"
    assert groups[0]["logGroupArn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{base}/a"
    for stream in ("web-1", "web-2", "worker-1"):
        logs.create_log_stream(logGroupName=f"{base}/a", logStreamName=stream)
    streams = logs.describe_log_streams(logGroupName=f"{base}/a", logStreamNamePrefix="web")
    assert [s["logStreamName"] for s in streams["logStreams"]] == ["web-1", "web-2"]
    paged = logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix=base, PaginationConfig={"PageSize": 2}
    )
    assert [g["logGroupName"] for p in paged for g in p["logGroups"]] == [
        f"{base}/{s}" for s in "abc"
    ]


def test_retention_is_enforced(logs):
    where = make_stream(logs, unique("/e2e/retention"))
    put(logs, where, "three days old", start=now_ms() - 3 * DAY_MS)
    put(logs, where, "fresh")
    logs.put_retention_policy(logGroupName=where["logGroupName"], retentionInDays=1)
    got = logs.get_log_events(**where, startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["fresh"]
    found = logs.filter_log_events(logGroupName=where["logGroupName"])
    assert [e["message"] for e in found["events"]] == ["fresh"]
    rejected = logs.put_log_events(
        **where, logEvents=[{"timestamp": now_ms() - 2 * DAY_MS, "message": "expired"}]
    )
    assert rejected["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    described = logs.describe_log_groups(logGroupNamePrefix=where["logGroupName"])
    assert described["logGroups"][0]["retentionInDays"] == 1


def test_validation_errors(logs):
    where = make_stream(logs, unique("/e2e/validate"))
    start = now_ms()
    with pytest.raises(ClientError) as unordered:
        logs.put_log_events(
            **where,
            logEvents=[
                {"timestamp": start, "message": "b"},
                {"timestamp": start - 1, "message": "a"},
            ],
        )
    assert unordered.value.response["Error"] == {
        "Code": "InvalidParameterException",
        "Message": "Log events in a single PutLogEvents request must be in chronological order.",
    }
    with pytest.raises(ClientError) as retention:
        logs.put_retention_policy(logGroupName=where["logGroupName"], retentionInDays=2)
    assert retention.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as name:
        logs.create_log_group(logGroupName="no spaces allowed")
    assert name.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as missing:
        logs.get_log_events(logGroupName=where["logGroupName"], logStreamName="nope")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as exists:
        logs.create_log_group(logGroupName=where["logGroupName"])
    assert exists.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"


def test_accounts_are_isolated(client):
    mine, theirs = client("logs"), client("logs", key="333333333333")
    group = unique("/e2e/isolated")
    where = make_stream(mine, group)
    put(mine, where, "private")
    assert theirs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    with pytest.raises(ClientError) as hidden:
        theirs.filter_log_events(logGroupName=group)
    assert hidden.value.response["Error"]["Code"] == "ResourceNotFoundException"
    theirs.create_log_group(logGroupName=group)  # the same name is free in another account


def test_tags_on_log_groups(logs):
    group = unique("/e2e/tags")
    logs.create_log_group(logGroupName=group, tags={"team": "core"})
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    logs.tag_resource(resourceArn=arn, tags={"env": "dev"})
    logs.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "dev"}


def test_aws_logs_tail_if_the_cli_has_it(server, logs):
    where = make_stream(logs, unique("/e2e/tail"))
    put(logs, where, "tailed line")
    result = subprocess.run(
        [sys.executable, "-m", "awscli", "logs", "tail", where["logGroupName"]],
        env=cli_env(server.endpoint),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "Invalid choice" in result.stderr:
        pytest.skip("this AWS CLI (v1) has no `aws logs tail`, a v2 command")
    assert result.returncode == 0, result.stderr
    assert "tailed line" in result.stdout


def sandlot_logs(endpoint: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "sandlot.cli.main", "logs", *args, "--endpoint", endpoint]


def test_sandlot_logs_prints_function_lines(server, logs):
    function = unique("fn")
    where = make_stream(logs, f"/aws/lambda/{function}", "2024/01/01/[$LATEST]abc")
    put(logs, where, "START RequestId: r1 Version: $LATEST\n", "hello from the handler\n",
        "END RequestId: r1\n")  # fmt: skip
    result = subprocess.run(
        sandlot_logs(server.endpoint, function),
        env=cli_env(server.endpoint),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[1].endswith(" 2024/01/01/[$LATEST]abc hello from the handler")
    assert "\033[" not in result.stdout  # no colour when stdout is not a terminal

    filtered = subprocess.run(
        sandlot_logs(server.endpoint, function, "--filter", "hello"),
        env=cli_env(server.endpoint),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert filtered.stdout.splitlines() == [lines[1]]

    missing = subprocess.run(
        sandlot_logs(server.endpoint, unique("never-invoked")),
        env=cli_env(server.endpoint),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_sandlot_logs_follow_shows_new_lines(server, logs):
    function = unique("fn")
    where = make_stream(logs, f"/aws/lambda/{function}", "stream")
    put(logs, where, "before follow\n")
    follower = subprocess.Popen(
        sandlot_logs(server.endpoint, function, "--follow", "--since", "1m"),
        env=cli_env(server.endpoint),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in follower.stdout], daemon=True
    )
    reader.start()

    def next_message() -> str:
        return lines.get(timeout=60).rstrip("\n").split(" ", 2)[2]

    try:
        assert next_message() == "before follow"
        put(logs, where, "while following\n")  # only once the follower is reading
        assert next_message() == "while following"
    finally:
        follower.terminate()
        follower.wait(timeout=10)
