"""CloudWatch Logs Insights through the API: StartQuery → GetQueryResults, with boto3
and the AWS CLI, over events written with PutLogEvents."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import aws, error_of
from tests.e2e.functions import unique


@pytest.fixture(scope="module")
def group(server):
    from tests.e2e.conftest import make_client

    logs = make_client(server.endpoint, "logs")
    name = unique("/app/insights")
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="web-1")
    now = int(time.time() * 1000)
    records = [
        {"level": "ERROR", "latency": 150, "path": "/a"},
        {"level": "INFO", "latency": 500, "path": "/b"},
        {"level": "ERROR", "latency": 300, "path": "/a"},
    ]
    logs.put_log_events(
        logGroupName=name,
        logStreamName="web-1",
        logEvents=[
            {"timestamp": now - 1000 + i, "message": json.dumps(r)} for i, r in enumerate(records)
        ],
    )
    return name


def _results(logs, query_id: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = logs.get_query_results(queryId=query_id)
        if answer["status"] not in ("Scheduled", "Running"):
            return answer
        time.sleep(0.05)
    raise AssertionError("the query never finished")


def _window() -> dict:
    now = int(time.time())
    return {"startTime": now - 3600, "endTime": now + 60}


def test_stats_query(client, group):
    logs = client("logs")
    query_id = logs.start_query(
        logGroupName=group,
        queryString="filter level = 'ERROR' | stats count(*) as n, avg(latency) as avg by path",
        **_window(),
    )["queryId"]
    answer = _results(logs, query_id)
    assert answer["status"] == "Complete"
    rows = [{cell["field"]: cell["value"] for cell in row} for row in answer["results"]]
    assert rows == [{"path": "/a", "n": "2", "avg": "225"}]
    assert answer["statistics"]["recordsScanned"] == 3.0
    described = logs.describe_queries(logGroupName=group)["queries"]
    assert query_id in {q["queryId"] for q in described}


def test_fields_query_and_log_record(client, group):
    logs = client("logs")
    query_id = logs.start_query(
        logGroupName=group,
        queryString="fields @timestamp, latency | sort latency desc | limit 2",
        **_window(),
    )["queryId"]
    rows = [{c["field"]: c["value"] for c in row} for row in _results(logs, query_id)["results"]]
    assert [r["latency"] for r in rows] == ["500", "300"]
    assert len(rows[0]["@timestamp"]) == len("2026-12-03 15:00:00.000")
    record = logs.get_log_record(logRecordPointer=rows[0]["@ptr"])["logRecord"]
    assert record["level"] == "INFO" and record["@logStream"] == "web-1"


def test_malformed_query_and_unknown_group(client, group):
    logs = client("logs")
    err = error_of(logs.start_query, logGroupName=group, queryString="frobnicate x", **_window())
    assert err["Code"] == "MalformedQueryException"
    err = error_of(
        logs.start_query, logGroupName=unique("/none"), queryString="fields @message", **_window()
    )
    assert err["Code"] == "ResourceNotFoundException"
    err = error_of(logs.get_query_results, queryId="00000000-0000-0000-0000-000000000000")
    assert err["Code"] == "ResourceNotFoundException"


def test_cli(server, group):
    window = _window()
    started = aws(
        server.endpoint,
        "logs",
        "start-query",
        "--log-group-name",
        group,
        "--start-time",
        str(window["startTime"]),
        "--end-time",
        str(window["endTime"]),
        "--query-string",
        "stats count(*) as n",
    )
    deadline = time.monotonic() + 30
    while True:
        answer = aws(server.endpoint, "logs", "get-query-results", "--query-id", started["queryId"])
        if answer["status"] == "Complete" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert answer["results"] == [[{"field": "n", "value": "3"}]]
