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
from sandlot.protocol import FileBody, HttpRequest


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


# S3's body framing and addressing: streamed, aws-chunked and virtual-hosted requests.
_CONTENT_SHA256 = st.sampled_from(
    [
        "",
        "UNSIGNED-PAYLOAD",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "nonsense",
    ]
)
_HOSTS = st.sampled_from(
    ["127.0.0.1:4566", "b.localhost:4566", "b.s3.localhost:4566", "lambda.localhost", "[::1]:1"]
)
_CHUNKED = st.sampled_from(
    [
        b"3\r\nabc\r\n0\r\n\r\n",
        b"3;chunk-signature=00\r\nabc\r\n0;chunk-signature=00\r\n\r\n",
        b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
        b"ffffffffffffffffff\r\n",
        b"2\r\nabc\r\n",
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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["PUT", "GET", "HEAD", "OPTIONS", "POST"]),
    path=st.sampled_from(["/", "/b", "/b/k", "/k", "/b/k%00", "/b/" + "k" * 1100]),
    query=st.sampled_from(["", "partNumber=1&uploadId=u", "tagging", "uploads", "cors"]),
    host=_HOSTS,
    content_sha256=_CONTENT_SHA256,
    encoding=st.sampled_from(["", "aws-chunked", "aws-chunked,gzip"]),
    decoded_length=st.sampled_from(["", "3", "0", "-1", "x", "99999999999999"]),
    origin=st.sampled_from(["", "https://a.example"]),
    authorization=_AUTH,
    body=_CHUNKED | _BODIES,
)
def test_no_s3_request_breaks_the_gateway(
    gateway,
    method,
    path,
    query,
    host,
    content_sha256,
    encoding,
    decoded_length,
    origin,
    authorization,
    body,
):
    headers = {"host": host, "x-amz-date": "20250101T000000Z"}
    for name, value in (
        ("x-amz-content-sha256", content_sha256),
        ("content-encoding", encoding),
        ("x-amz-decoded-content-length", decoded_length),
        ("origin", origin),
        ("access-control-request-method", "PUT" if origin else ""),
        ("authorization", authorization),
    ):
        if value:
            headers[name] = value
    request = HttpRequest(method, path, query, headers, body)
    response = asyncio.run(asyncio.wait_for(gateway.handle(request), timeout=5))
    assert 200 <= response.status < 600 and response.status != 500, response.body
    if isinstance(response.body, FileBody):  # an object stored by an earlier example
        response.body.file.close()
        assert response.status in (200, 206)
    else:
        assert b"Traceback" not in response.body
    assert list((gateway.platform.blobs.root / "tmp").iterdir()) == []
