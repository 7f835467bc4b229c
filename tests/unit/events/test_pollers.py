"""The poller engine's pure parts: reading ReportBatchItemFailures responses as AWS
does, and SQS message attributes in Lambda's record spelling."""

from __future__ import annotations

import json

import pytest

from sandlot.events.pollers import _lambda_attribute, queue_parts, reported_failures

IDS = ["m1", "m2", "m3"]


def failures(*ids) -> bytes:
    return json.dumps({"batchItemFailures": [{"itemIdentifier": i} for i in ids]}).encode()


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # complete success: nothing, null, {}, an empty or null list
        (b"", set()),
        (b"null", set()),
        (b"{}", set()),
        (b'{"batchItemFailures": []}', set()),
        (b'{"batchItemFailures": null}', set()),
        # the reported items, and only those
        (failures("m2"), {"m2"}),
        (failures("m1", "m3"), {"m1", "m3"}),
        # the whole batch fails: not JSON, not an object, bad items
        (b"not json", None),
        (b'"ok"', None),
        (b"[]", None),
        (b'{"batchItemFailures": "m1"}', None),
        (failures(""), None),
        (failures(None), None),
        (failures("m9"), None),
        (b'{"batchItemFailures": [{"itemId": "m1"}]}', None),
        (b'{"batchItemFailures": ["m1"]}', None),
    ],
)
def test_reported_failures(payload, expected):
    assert reported_failures(payload, IDS) == expected


def test_message_attributes_in_lambda_spelling():
    assert _lambda_attribute({"DataType": "Number", "StringValue": "5"}) == {
        "stringValue": "5",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Number",
    }
    binary = _lambda_attribute({"DataType": "Binary.png", "BinaryValue": b"\x00\xff"})
    assert binary["binaryValue"] == "AP8=" and "stringValue" not in binary


def test_queue_parts():
    assert queue_parts("arn:aws:sqs:eu-west-1:123456789012:q.fifo") == (
        "eu-west-1",
        "123456789012",
        "q.fifo",
    )
    assert queue_parts("arn:aws:kinesis:eu-west-1:123456789012:stream/s") is None
