"""Pipes' input templates and event shapes (pure)."""

from __future__ import annotations

import base64
import json

import pytest

from sandlot.events.templates import TransformError
from sandlot.services.pipes.runner import (
    _transformed,
    check_template,
    dynamic,
    parsed_view,
    pipe_event,
    render,
)

RESERVED = {"aws.pipes.pipe-name": "p", "aws.pipes.pipe-arn": "arn:aws:pipes:r:1:pipe/p"}
SQS = {"messageId": "m1", "body": '{"a": {"b": [1, 2]}, "s": "x\\"y"}', "eventSource": "aws:sqs"}


def test_paths_outside_quotes_are_json_and_inside_are_text():
    out = render('{"id": "<$.messageId>", "b": <$.body.a.b>, "first": <$.body.a.b[0]>}', SQS, {})
    assert json.loads(out) == {"id": "m1", "b": [1, 2], "first": 1}
    assert json.loads(render('{"t": "s=<$.body.s>"}', SQS, {})) == {"t": 's=x"y'}


def test_missing_paths_and_reserved_variables():
    out = render('{"x": <$.nope>, "y": "<$.nope>", "n": "<aws.pipes.pipe-name>"}', SQS, RESERVED)
    assert json.loads(out) == {"x": None, "y": "", "n": "p"}
    assert (
        render("Hello, <aws.pipes.pipe-arn>", SQS, RESERVED) == 'Hello, "arn:aws:pipes:r:1:pipe/p"'
    )
    whole = json.loads(render("<aws.pipes.event.json>", SQS, {}))
    assert whole["body"]["a"] == {"b": [1, 2]}  # the body parsed (implicit body parsing)
    assert json.loads(json.loads(render("<aws.pipes.event>", SQS, {}))) == SQS  # escaped text


def test_kinesis_records_are_flat_and_json_data_is_parsed():
    data = base64.b64encode(b'{"k": 1}').decode()
    record = {"kinesis": {"data": data, "partitionKey": "pk"}, "eventSource": "aws:kinesis"}
    event = pipe_event("kinesis", record)
    assert event == {"data": data, "partitionKey": "pk", "eventSource": "aws:kinesis"}
    assert parsed_view(event)["data"] == {"k": 1}
    text = {**event, "data": base64.b64encode(b"plain").decode()}
    assert parsed_view(text)["data"] == text["data"]  # not JSON: stays base64


def test_bad_paths_are_refused():
    check_template('{"a": <$.body.x[0]>, "b": "<aws.pipes.pipe-name>"}')
    with pytest.raises(TransformError):
        check_template("<$.a..b>")


def test_dynamic_path_parameters_take_the_events_values():
    parameters = {
        "SqsQueueParameters": {"MessageGroupId": "$.body.a.b[1]", "MessageDeduplicationId": "x"},
        "HttpParameters": {"PathParameterValues": ["$.messageId"], "HeaderParameters": {}},
        "KinesisStreamParameters": {"PartitionKey": "$.nope"},
    }
    got = dynamic(parameters, SQS)
    assert got["SqsQueueParameters"] == {"MessageGroupId": "2", "MessageDeduplicationId": "x"}
    assert got["HttpParameters"]["PathParameterValues"] == ["m1"]
    assert got["KinesisStreamParameters"]["PartitionKey"] == ""


def test_per_event_payloads_keep_the_template_text_and_batches_hold_json():
    texts, values = _transformed('"hi <$.messageId>"', [SQS], {})
    assert texts == ['"hi m1"'] and values == ["hi m1"]
    texts, values = _transformed("plain <$.messageId>", [SQS], {})
    assert texts == ['plain "m1"'] and values == ['plain "m1"']
    texts, values = _transformed(None, [SQS], {})
    assert json.loads(texts[0]) == SQS and values == [SQS]
