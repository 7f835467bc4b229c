"""The Lambda proxy payload formats and response mapping (services/http_events.py)."""

from __future__ import annotations

import base64
import json

import pytest

from sandlot.protocol.dataplane import DataPlaneRequest
from sandlot.services import http_events


def _request(headers=(), query="", body=b"", content_type=None) -> DataPlaneRequest:
    pairs = list(headers) + ([("content-type", content_type)] if content_type else [])
    return DataPlaneRequest(
        "abc", "POST", "/p/q", query, pairs, body, "10.0.0.1", False, "h:1", "us-east-1"
    )


COMMON = dict(stage="$default", api_id="abc", account="1", request_id="r", domain_name="h")


def test_v2_joins_repeats_and_moves_cookies():
    request = _request(
        [("x-a", "1"), ("x-a", "2"), ("cookie", "a=1; b=2")], "k=1&k=2&e=", b"hi", "text/plain"
    )
    event = http_events.event_v2(request, route_key="$default", raw_path="/p/q", **COMMON)
    assert event["headers"] == {"x-a": "1,2", "content-type": "text/plain"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["queryStringParameters"] == {"k": "1,2", "e": ""}
    assert event["rawQueryString"] == "k=1&k=2&e="
    assert (event["body"], event["isBase64Encoded"]) == ("hi", False)


def test_v2_omits_empty_fields():
    event = http_events.event_v2(_request(), route_key="$default", raw_path="/", **COMMON)
    for name in ("cookies", "queryStringParameters", "body", "pathParameters", "stageVariables"):
        assert name not in event


def test_v1_keeps_last_and_all_values():
    request = _request([("x-a", "1"), ("x-a", "2")], "k=1&k=2")
    event = http_events.event_v1(request, resource="/p/{x}", path="/p/q", **COMMON)
    assert event["headers"]["x-a"] == "2"
    assert event["multiValueHeaders"]["x-a"] == ["1", "2"]
    assert event["queryStringParameters"] == {"k": "2"}
    assert event["multiValueQueryStringParameters"] == {"k": ["1", "2"]}
    assert event["body"] is None and event["pathParameters"] is None


@pytest.mark.parametrize(
    ("content_type", "encoded"),
    [("application/json", False), ("text/html; charset=utf-8", False),
     ("application/vnd.api+json", False), ("image/png", True),
     ("application/octet-stream", True)],
)  # fmt: skip
def test_binary_bodies_are_base64(content_type, encoded):
    body = b"\x89PNG" if encoded else b"{}"
    event = http_events.event_v2(
        _request(body=body, content_type=content_type),
        route_key="$default",
        raw_path="/",
        **COMMON,
    )
    assert event["isBase64Encoded"] is encoded
    if encoded:
        assert base64.b64decode(event["body"]) == body


def _payload(value) -> bytes:
    return json.dumps(value).encode()


def test_v2_inference_and_structured_answers():
    inferred = http_events.response_v2(_payload({"a": 1}))
    assert (inferred.status, inferred.body) == (200, b'{"a": 1}')
    assert http_events.response_v2(_payload("text")).body == b"text"
    structured = http_events.response_v2(
        _payload(
            {
                "statusCode": 201,
                "headers": {"x": "y"},
                "cookies": ["c=1"],
                "body": base64.b64encode(b"\x00").decode(),
                "isBase64Encoded": True,
            }
        )
    )
    assert structured.status == 201 and structured.body == b"\x00"
    assert ("Set-Cookie", "c=1") in structured.headers and ("x", "y") in structured.headers


@pytest.mark.parametrize(
    "value",
    [{"statusCode": "abc"}, {"statusCode": 99}, {"statusCode": 200, "body": {"a": 1}},
     {"statusCode": 200, "headers": []}, {"statusCode": 200, "body": "%%",
                                          "isBase64Encoded": True}],
)  # fmt: skip
def test_malformed_answers(value):
    assert http_events.response_v2(_payload(value)) is None
    assert http_events.response_v1(_payload(value)) is None


def test_v1_needs_a_status_code_and_takes_multi_value_headers():
    assert http_events.response_v1(_payload({"body": "x"})) is None
    assert http_events.response_v1(b"not json") is None
    answer = http_events.response_v1(
        _payload({"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}})
    )
    assert [v for k, v in answer.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
