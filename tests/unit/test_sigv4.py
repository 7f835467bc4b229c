"""SigV4 verification against requests signed by botocore's own signers."""

import datetime as dt
from urllib.parse import urlsplit

import pytest
from botocore.auth import (
    HmacV1QueryAuth,
    S3SigV4Auth,
    S3SigV4QueryAuth,
    SigV4Auth,
    SigV4QueryAuth,
)
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sandlot.gateway.auth import AuthFailure, check_time, parse_signature, verify
from sandlot.protocol import HttpRequest

CREDS = Credentials("AKIAEXAMPLEEXAMPLE12", "secret/with+chars")


def _received(signed: AWSRequest) -> HttpRequest:
    """The request as the server sees it after it travelled."""
    prepared = signed.prepare()
    url = urlsplit(prepared.url)
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers["host"] = url.netloc
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    return HttpRequest(prepared.method, url.path or "/", url.query, headers, body)


def _sign(signer, method, url, body=b"", headers=None):
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    signer.add_auth(request)
    return _received(request)


@pytest.mark.parametrize(
    ("signer", "method", "url", "body"),
    [
        (
            SigV4Auth(CREDS, "sts", "us-east-1"),
            "POST",
            "http://127.0.0.1:4566/",
            b"Action=GetCallerIdentity&Version=2011-06-15",
        ),
        (
            SigV4Auth(CREDS, "lambda", "eu-west-1"),
            "GET",
            "http://localhost:4566/2015-03-31/functions/my%20fn/configuration?Qualifier=%241",
            b"",
        ),
        (
            S3SigV4Auth(CREDS, "s3", "us-east-1"),
            "PUT",
            "http://localhost:4566/bucket/a%20key/with%2Fslash?tagging=",
            b"<x/>",
        ),
    ],
)
def test_header_signatures_from_botocore_verify(signer, method, url, body):
    request = _sign(signer, method, url, body)
    sig = parse_signature(request)
    assert sig is not None and sig.access_key_id == CREDS.access_key
    verify(request, sig, CREDS.secret_key)
    with pytest.raises(AuthFailure) as failure:
        verify(request, sig, "wrong-secret")
    assert failure.value.kind == "bad_signature"


def test_tampered_body_fails():
    request = _sign(SigV4Auth(CREDS, "sts", "us-east-1"), "POST", "http://h/", b"Action=A")
    request.body = b"Action=B"
    with pytest.raises(AuthFailure):
        verify(request, parse_signature(request), CREDS.secret_key)


@pytest.mark.parametrize("signer_class", [SigV4QueryAuth, S3SigV4QueryAuth])
def test_presigned_urls_verify_and_expire(signer_class):
    signer = signer_class(
        CREDS, "s3" if signer_class is S3SigV4QueryAuth else "sts", "us-east-1", expires=60
    )
    request = _sign(signer, "GET", "http://localhost:4566/bucket/key?versionId=3")
    sig = parse_signature(request)
    assert sig.presigned and sig.expires == 60
    verify(request, sig, CREDS.secret_key)
    check_time(sig, dt.datetime.now(dt.UTC), 900)
    with pytest.raises(AuthFailure) as failure:
        check_time(sig, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61), 900)
    assert failure.value.kind == "expired_url"


def test_clock_skew_is_refused():
    request = _sign(SigV4Auth(CREDS, "sts", "us-east-1"), "POST", "http://h/", b"x=1")
    sig = parse_signature(request)
    check_time(sig, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=14), 900)
    with pytest.raises(AuthFailure) as failure:
        check_time(sig, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16), 900)
    assert failure.value.kind == "skewed"


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 Credential=AKID/20200101/us-east-1/sts/aws4_request",
        "AWS4-HMAC-SHA256 Credential=bad, SignedHeaders=host, Signature=abc",
        "AWS AKID:signature",
    ],
)
def test_malformed_authorization_is_incomplete(authorization):
    request = HttpRequest(
        "POST", "/", "", {"authorization": authorization, "x-amz-date": "20200101T000000Z"}
    )
    with pytest.raises(AuthFailure) as failure:
        parse_signature(request)
    assert failure.value.kind == "incomplete"


def test_unsigned_request_has_no_signature():
    assert parse_signature(HttpRequest("GET", "/", "a=b", {})) is None


@pytest.mark.parametrize(
    ("method", "url", "headers"),
    [
        ("GET", "http://localhost:4566/bucket/a%20key.txt", {}),
        ("GET", "http://localhost:4566/bucket/k?versionId=v1", {}),
        ("PUT", "http://localhost:4566/bucket/k", {"Content-Type": "text/plain"}),
    ],
)
def test_s3_hmac_sha1_presigned_urls_verify_and_expire(method, url, headers):
    request = _sign(HmacV1QueryAuth(CREDS, expires=60), method, url, headers=headers)
    sig = parse_signature(request)
    assert sig is not None and sig.version == 2 and sig.access_key_id == CREDS.access_key
    verify(request, sig, CREDS.secret_key)
    now = dt.datetime.now(dt.UTC)
    check_time(sig, now, 900)
    with pytest.raises(AuthFailure) as expired:
        check_time(sig, now + dt.timedelta(seconds=120), 900)
    assert expired.value.kind == "expired_url"
    with pytest.raises(AuthFailure) as wrong:
        verify(request, sig, "another secret")
    assert wrong.value.kind == "bad_signature"
    request.path = request.path + "x"  # another object than the one signed
    with pytest.raises(AuthFailure):
        verify(request, sig, CREDS.secret_key)
