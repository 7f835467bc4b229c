"""The Logs Insights engine, by tables of (query, expected rows)."""

from __future__ import annotations

import pytest

from sandlot.services.logs.insights import (
    QueryError,
    check,
    discover,
    format_value,
    parse_query,
    run,
)

MESSAGES = [
    '{"level":"ERROR","latency":150,"req":{"path":"/a"}}',
    '{"level":"INFO","latency":500,"req":{"path":"/b"}}',
    '{"level":"ERROR","latency":300,"req":{"path":"/a"}}',
    '{"level":"ERROR","latency":50,"req":{"path":"/c"}}',
    "plain text line with ERROR inside",
]


def _events() -> list[dict]:
    return [
        discover({"@timestamp": 60_000 * i, "@message": m, "@ptr": f"p{i}"}, m)
        for i, m in enumerate(MESSAGES)
    ]


def _run(text: str) -> tuple[list[dict], list[str]]:
    query = parse_query(text)
    check(query)
    rows, columns = run(query, _events(), None)
    return [{c: r.get(c) for c in columns} for r in rows], columns


CASES = [
    (
        'filter level = "ERROR" and latency > 100 | sort latency desc | fields latency',
        [{"latency": 300, "@ptr": "p2"}, {"latency": 150, "@ptr": "p0"}],
    ),
    ("filter req.path = '/a' | stats count(*) as n", [{"n": 2}]),
    (
        "stats count(*) as n, avg(latency) as avg by level | sort n desc",
        [{"level": "ERROR", "n": 3, "avg": 500 / 3}, {"level": "INFO", "n": 1, "avg": 500.0},
         {"level": None, "n": 1, "avg": None}],
    ),
    ("filter @message like /ERROR/ | stats count(*) as c", [{"c": 4}]),
    ("filter @message like /error/i | stats count(*) as c", [{"c": 4}]),
    ("filter @message not like 'ERROR' | display latency", [{"latency": 500}]),
    ("filter level in ['INFO', 'WARN'] | display level", [{"level": "INFO"}]),
    ("filter level not in ['INFO'] and ispresent(level) | stats count(*) as c", [{"c": 3}]),
    ("filter latency >= 150 and latency <= 300 | stats sum(latency) as s", [{"s": 450}]),
    ("fields latency * 2 + 1 as v | filter v > 600 | display v", [{"v": 1001}, {"v": 601}]),
    ("parse @message 'plain * line with * inside' as what, level2 | filter ispresent(what) "
     "| display what, level2", [{"what": "text", "level2": "ERROR"}]),
    ("parse @message /\"latency\":(?<lat>\\d+)/ | filter lat > 200 | display lat",
     [{"lat": "500"}, {"lat": "300"}]),
    ("stats count(*) as c by bin(2m) | sort c desc | limit 1", [{"bin(2m)": 0, "c": 2}]),
    ("dedup level | filter ispresent(level) | display level", [{"level": "ERROR"}, {"level": "INFO"}]),
    ("stats pct(latency, 50) as p, max(latency) as mx, min(latency) as mn, count_distinct(req.path) as d",
     [{"p": 150, "mx": 500, "mn": 50, "d": 3}]),
    ("stats earliest(latency) as e, latest(latency) as l", [{"e": 150, "l": 50}]),
    ("filter strlen(level) = 4 | display toupper(concat(level, '!'))", [{"toupper(concat(level, '!'))": "INFO!"}]),
    ("sort latency asc | limit 2 | display latency", [{"latency": 50}, {"latency": 150}]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_queries(text, expected):
    rows, columns = _run(text)
    expected_columns = list(expected[0]) if expected else columns
    assert [{c: r.get(c) for c in expected_columns} for r in rows] == expected


def test_default_columns_and_pointer():
    rows, columns = _run("filter level = 'INFO'")
    assert columns == ["@timestamp", "@message", "@ptr"]
    assert rows[0]["@ptr"] == "p1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frobnicate x", "unexpected symbol found frobnicate"),
        ("filter count(*) > 1", "count can only be used in stats"),
        ("stats strlen(x)", "stats needs aggregation functions"),
        ("limit 0", "limit must be an integer between 1 and 10000"),
        ("fields nosuch(x)", "unknown function nosuch"),
        ("parse @message 'a*b' as x, y", "the number of fields in 'as' must match"),
        ("filter x like 3", "like needs a string or a /regex/"),
        ("fields x |", "unexpected end of query"),
        ("", "the query is empty"),
    ],
)
def test_malformed_queries(text, message):
    with pytest.raises(QueryError) as caught:
        check(parse_query(text))
    assert caught.value.message.startswith(message)


def test_timestamps_are_formatted_as_utc():
    assert format_value("@timestamp", 1_700_000_000_123) == "2023-11-14 22:13:20.123"
    assert format_value("bin(5m)", 0) == "1970-01-01 00:00:00.000"
    assert format_value("n", 2.0) == "2"
    assert format_value("avg", 2.5) == "2.5"
