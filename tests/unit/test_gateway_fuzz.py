"""Hostile requests through the whole gateway (routing, auth, parsing, serialising).

Every answer must be a well-formed HTTP response carrying an AWS-shaped error or a
result: no exception escapes, nothing hangs, no traceback leaks into a body.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandlot.config import Settings
from sandlot.gateway.app import Gateway
from sandlot.platform import Platform
from sandlot.protocol import HttpRequest


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    platform = Platform(Settings(), tmp_path_factory.mktemp("fuzz"))
    yield Gateway(platform)
    platform.close()


_TARGETS = st.sampled_from(
    [
        "",
        "DynamoDB_20120810.GetItem",
        "AmazonSQS.SendMessage",
        "Logs_20140328.PutLogEvents",
        "GraniteServiceVersion20100801.PutMetricData",
        "x",
        ".",
        "AmazonSQS.",
    ]
)
_CONTENT_TYPES = st.sampled_from(
    [
        "",
        "application/x-www-form-urlencoded",
        "application/x-amz-json-1.0",
        "application/json",
        "application/xml",
        "application/cbor",
        "text/plain",
    ]
)
_AUTH = st.sampled_from(
    [
        "",
        "AWS4-HMAC-SHA256 Credential=k/20250101/us-east-1/sts/aws4_request, "
        "SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=k/20250101/us-east-1/lambda/aws4_request",
        "AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=, Signature=",
        "Bearer x",
        "AWS4-HMAC-SHA256",
    ]
)
_PATHS = st.sampled_from(
    [
        "/",
        "/2015-03-31/functions",
        "/2015-03-31/functions/f/invocations",
        "/bucket",
        "/bucket/key%2F..%2F",
        "/v2/apis",
        "/restapis/x",
        "/%ff%fe",
        "//",
        "/_sandlot/nope",
    ]
) | st.text(min_size=1, max_size=30).map(lambda s: "/" + s)
_BODIES = st.binary(max_size=300) | st.sampled_from(
    [
        b"Action=GetCallerIdentity",
        b"Action=AssumeRole&RoleArn=x",
        b"{",
        b"{}",
        b"[]",
        b"null",
        b'{"TableName": 5}',
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>",
        b"<CreateBucketConfiguration><LocationConstraint>",
        b"Action=AssumeRole&DurationSeconds=x",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]),
    path=_PATHS,
    query=st.sampled_from(
        [
            "",
            "Action=GetCallerIdentity",
            "Action=",
            "X-Amz-Signature=1",
            "uploads",
            "versioning&x=%zz",
        ]
    )
    | st.text(max_size=30),
    target=_TARGETS,
    content_type=_CONTENT_TYPES,
    authorization=_AUTH,
    body=_BODIES,
)
def test_no_request_breaks_the_gateway(
    gateway, method, path, query, target, content_type, authorization, body
):
    headers = {"host": "127.0.0.1:4566", "x-amz-date": "20250101T000000Z"}
    for name, value in (
        ("x-amz-target", target),
        ("content-type", content_type),
        ("authorization", authorization),
    ):
        if value:
            headers[name] = value
    request = HttpRequest(method, path, query, headers, body)
    response = asyncio.run(asyncio.wait_for(gateway.handle(request), timeout=5))
    assert 200 <= response.status < 600 and response.status != 500, response.body
    assert isinstance(response.body, bytes)
    assert b"Traceback" not in response.body
