"""EventBridge's pure engines: schedule expressions (rate and AWS's six-field cron, UTC)
and target input (InputPath, InputTransformer placeholders inside and outside quotes)."""

from __future__ import annotations

import calendar
import json
import time

import pytest

from sandlot.events import schedule
from sandlot.services.events.transform import (
    TransformError,
    check_transformer,
    compile_path,
    render,
    target_input,
)


def _t(text: str) -> float:
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M"))


def _at(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(stamp))


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)", "rate(2 minute)", "rate(0 hours)", "rate(-1 days)", "rate(1 week)",
        "rate(1minute)", "cron(0 12 * * *)", "cron(0 12 * * * *)", "cron(0 12 ? * ? *)",
        "cron(60 12 * * ? *)", "cron(0 24 * * ? *)", "cron(0 0 32 * ? *)", "cron(0 0 ? 13 * *)",
        "cron(0 0 ? * 8 *)", "cron(0 0 * * ? 2200)", "cron(0/0 * * * ? *)", "cron(5-1 * * * ? *)",
        "at(2024-01-01T00:00:00)", "", "cron(0 0 ? * 2#6 *)",
    ],
)  # fmt: skip
def test_invalid_expressions_are_refused_with_aws_message(expression):
    with pytest.raises(schedule.ScheduleError) as caught:
        schedule.parse(expression)
    assert caught.value.message == "Parameter ScheduleExpression is not valid."


def test_rate_counts_from_its_start():
    rate = schedule.parse("rate(5 minutes)")
    assert rate == schedule.Rate(300)
    assert rate.next_after(1000.0, 1000.0) == 1300.0
    assert rate.next_after(1299.0, 1000.0) == 1300.0
    assert rate.next_after(1300.0, 1000.0) == 1600.0
    assert schedule.parse("rate(1 day)") == schedule.Rate(86400)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 12 * * ? *)", "2024-03-10 11:00", "2024-03-10 12:00"),
        ("cron(0 12 * * ? *)", "2024-03-10 12:00", "2024-03-11 12:00"),
        ("cron(15 10 ? * 6L 2024)", "2024-01-01 00:00", "2024-01-26 10:15"),  # last Friday
        ("cron(0 18 ? * MON-FRI *)", "2024-03-09 12:00", "2024-03-11 18:00"),  # Sat -> Mon
        ("cron(0/15 * * * ? *)", "2024-03-10 11:01", "2024-03-10 11:15"),
        ("cron(0 8 1 * ? *)", "2024-01-15 00:00", "2024-02-01 08:00"),
        ("cron(0 0 L * ? *)", "2024-02-01 00:00", "2024-02-29 00:00"),  # leap year
        ("cron(0 9 15W * ? *)", "2024-06-01 00:00", "2024-06-14 09:00"),  # 15th is a Saturday
        ("cron(0 9 ? * 2#1 *)", "2024-07-02 00:00", "2024-08-05 09:00"),  # first Monday
        ("cron(30 1 ? JAN SUN 2025)", "2024-06-01 00:00", "2025-01-05 01:30"),
        ("cron(0 0 1 1 ? 2020)", "2024-01-01 00:00", None),  # in the past: never again
    ],
)
def test_cron_next_firing(expression, after, expected):
    found = schedule.parse(expression).next_after(_t(after))
    assert (None if found is None else _at(found)) == expected


EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "Order",
    "source": "shop",
    "account": "000000000000",
    "time": "2024-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:s3:::b"],
    "detail": {"instance-id": "i-1", "state": "RUN", "n": 3, "tags": ["a", "b"], "q": 'x"y'},
}
TEXT = json.dumps(EVENT)
CONTEXT = {"rule-arn": "arn:rule", "rule-name": "r", "ingestion-time": "2024-01-01T00:00:01.000Z"}


def _transform(paths: dict, template: str) -> str:
    target = {"InputTransformer": {"InputPathsMap": paths, "InputTemplate": template}}
    check_transformer(target["InputTransformer"])
    return target_input(target, EVENT, TEXT, CONTEXT)


def test_placeholders_outside_quotes_are_json_values_inside_raw_text():
    paths = {"i": "$.detail.instance-id", "n": "$.detail.n", "tags": "$.detail.tags"}
    out = _transform(paths, '{"id": <i>, "n": <n>, "tags": <tags>, "text": "<i> has <n> <tags>"}')
    assert json.loads(out) == {
        "id": "i-1",
        "n": 3,
        "tags": ["a", "b"],
        "text": 'i-1 has 3 ["a", "b"]',
    }


def test_a_string_template_and_quotes_in_values_stay_valid_json():
    out = _transform({"q": "$.detail.q", "s": "$.detail.state"}, '"state <s>, quote <q>"')
    assert json.loads(out) == 'state RUN, quote x"y'


def test_plain_text_templates_and_missing_paths():
    assert _transform({"s": "$.detail.state"}, "state is <s>") == 'state is "RUN"'
    assert json.loads(_transform({"m": "$.detail.none"}, '{"m": <m>, "t": "[<m>]"}')) == {
        "m": None,
        "t": "[]",
    }


def test_reserved_variables():
    out = _transform(
        {},
        '{"arn": "<aws.events.rule-arn>", "name": "<aws.events.rule-name>", '
        '"at": "<aws.events.event.ingestion-time>", "whole": <aws.events.event.json>, '
        '"head": <aws.events.event>}',
    )
    body = json.loads(out)
    assert body["arn"] == "arn:rule" and body["name"] == "r"
    assert body["at"] == "2024-01-01T00:00:01.000Z"
    assert body["whole"] == EVENT
    assert "detail" not in body["head"] and body["head"]["id"] == "e-1"


def test_input_and_input_path():
    assert target_input({"Input": '{"a": 1}'}, EVENT, TEXT, CONTEXT) == '{"a": 1}'
    assert json.loads(target_input({"InputPath": "$.detail.tags[1]"}, EVENT, TEXT, CONTEXT)) == "b"
    assert target_input({"InputPath": "$"}, EVENT, TEXT, CONTEXT) == TEXT
    assert target_input({}, EVENT, TEXT, CONTEXT) == TEXT


@pytest.mark.parametrize(
    "transformer",
    [
        {"InputPathsMap": {"a": "detail.x"}, "InputTemplate": "<a>"},  # not a JSON path
        {"InputPathsMap": {"aws.events.rule-arn": "$.id"}, "InputTemplate": "x"},  # reserved
        {"InputPathsMap": {}, "InputTemplate": "<undefined>"},
        {"InputPathsMap": {f"k{n}": "$.id" for n in range(101)}, "InputTemplate": "x"},
    ],
)
def test_transformer_validation(transformer):
    with pytest.raises(TransformError):
        check_transformer(transformer)


def test_paths():
    assert compile_path("$") == ()
    assert compile_path("$.detail.instance-id") == ("detail", "instance-id")
    assert compile_path("$.resources[0]") == ("resources", 0)
    assert compile_path("$['detail-type']") == ("detail-type",)
    assert render("<x>", {"x": {"a": 1}}) == '{"a": 1}'


def test_cron_in_a_time_zone_keeps_wall_clock_across_dst():
    import zoneinfo

    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    daily = schedule.parse("cron(0 9 * * ? *)")
    # 09:00 Berlin is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST).
    assert _at(daily.next_after(_t("2024-03-30 12:00"), 0.0, berlin)) == "2024-03-31 07:00"
    assert _at(daily.next_after(_t("2024-03-29 12:00"), 0.0, berlin)) == "2024-03-30 08:00"
    once = schedule.parse("at(2024-07-01T09:30:00)", allow_at=True)
    assert _at(once.next_after(_t("2024-01-01 00:00"), 0.0, berlin)) == "2024-07-01 07:30"
    assert once.next_after(_t("2024-08-01 00:00"), 0.0, berlin) is None
    with pytest.raises(schedule.ScheduleError):
        schedule.parse("at(2024-07-01T09:30:00)")  # rules take no at()
