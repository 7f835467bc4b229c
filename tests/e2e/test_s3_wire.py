"""S3's wire details end to end: streamed and aws-chunked bodies, virtual-hosted
addressing, presigned URLs, XML errors, HEAD and CORS, with boto3 and the AWS CLI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import io
import os
import socket
import subprocess
import sys
import uuid
import zlib
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import boto3
import botocore.httpchecksum
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.e2e.conftest import cli_env, make_client


@pytest.fixture
def s3(client):
    return client("s3")


@pytest.fixture
def bucket(s3):
    name = f"wire-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def raw(endpoint: str, method: str, path: str, headers: dict | None = None, body: bytes = b""):
    """One plain HTTP request; (status, headers (case-insensitive), body)."""
    parts = urlsplit(endpoint)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_put_and_get_stream_through(s3, bucket):
    data = os.urandom(3 * 1024 * 1024 + 17)
    put = s3.put_object(Bucket=bucket, Key="blob.bin", Body=data)
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="blob.bin")
    assert got["ContentLength"] == len(data)
    assert got["Body"].read() == data
    ranged = s3.get_object(Bucket=bucket, Key="blob.bin", Range="bytes=100-199")
    assert ranged["Body"].read() == data[100:200]


def test_boto3_aws_chunked_upload_with_trailing_checksum(s3, bucket, monkeypatch):
    # Over TLS boto3 sends PutObject as aws-chunked with
    # STREAMING-UNSIGNED-PAYLOAD-TRAILER and an x-amz-checksum-crc32 trailer; it only
    # does so for https URLs, so it is told the endpoint is one (the wire stays HTTP).
    real = botocore.httpchecksum.urlparse
    monkeypatch.setattr(
        botocore.httpchecksum, "urlparse", lambda url: real(url)._replace(scheme="https")
    )
    sent = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **kw: sent.append(request))
    data = os.urandom(2 * 1024 * 1024 + 5)
    put = s3.put_object(Bucket=bucket, Key="chunked", Body=data)
    headers = sent[0].headers
    assert headers["x-amz-content-sha256"] == b"STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert b"aws-chunked" in headers["Content-Encoding"]
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert put.get("ChecksumCRC32") in (None, crc)
    got = s3.get_object(Bucket=bucket, Key="chunked")
    assert got["Body"].read() == data
    assert got.get("ContentEncoding") in (None, "")  # aws-chunked is not the object's


def test_aws_cli_cp_of_a_large_file_both_ways(server, s3, bucket, tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(20 * 1024 * 1024))
    env = cli_env(server.endpoint)

    def cli(*args):
        result = subprocess.run(
            [sys.executable, "-m", "awscli", "s3", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr

    cli("cp", str(source), f"s3://{bucket}/big.bin")
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 20 * 1024 * 1024
    assert head["ETag"].endswith('-3"')  # multipart: 8 MB parts
    target = tmp_path / "back.bin"
    cli("cp", f"s3://{bucket}/big.bin", str(target))
    assert target.read_bytes() == source.read_bytes()


@pytest.fixture
def localhost_names(monkeypatch):
    """``*.localhost`` resolves to loopback (RFC 6761; systemd-resolved and browsers do
    it, this machine's resolver does not)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("style", ["<bucket>.localhost", "<bucket>.s3.localhost"])
def test_virtual_hosted_style(server, bucket, localhost_names, style):
    port = urlsplit(server.endpoint).port
    host = "localhost" if style == "<bucket>.localhost" else "s3.localhost"
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}),
    )
    seen = []
    client.meta.events.register("before-send.s3", lambda request, **kw: seen.append(request.url))
    client.put_object(Bucket=bucket, Key="dir/a b.txt", Body=b"hello")
    assert seen[0].startswith(f"http://{bucket}.{host}:{port}/dir/")
    listed = client.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/a b.txt"]
    assert client.get_object(Bucket=bucket, Key="dir/a b.txt")["Body"].read() == b"hello"


def test_presigned_get_and_put(s3, bucket):
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=60
    )
    with urlopen(Request(put_url, data=b"presigned body", method="PUT")) as response:
        assert response.status == 200
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=60
    )
    with urlopen(get_url) as response:
        assert response.read() == b"presigned body"


def test_errors_are_s3_xml_and_head_errors_have_no_body(server, s3, bucket):
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="missing")
    error = raised.value.response
    assert error["Error"]["Code"] == "NoSuchKey"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["ResponseMetadata"]["RequestId"]
    assert error["ResponseMetadata"]["HostId"]

    status, headers, body = raw(server.endpoint, "GET", f"/{bucket}/missing")
    assert status == 404
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>')
    assert f"<RequestId>{headers['x-amz-request-id']}</RequestId>".encode() in body

    status, headers, body = raw(server.endpoint, "HEAD", f"/{bucket}/missing")
    assert status == 404 and body == b""
    assert headers["x-amz-request-id"] and headers["x-amz-id-2"]

    status, _, body = raw(server.endpoint, "GET", "/no-such-bucket-anywhere-xyz/k")
    assert status == 404 and b"<Code>NoSuchBucket</Code>" in body


def test_list_documents_have_s3s_root_elements(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    _, _, body = raw(server.endpoint, "GET", f"/{bucket}?list-type=2")
    assert b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' in body
    _, _, body = raw(server.endpoint, "GET", "/")
    assert b"<ListAllMyBucketsResult" in body


def test_wrong_payload_hash_is_refused(server, s3, bucket):
    status, _, body = raw(
        server.endpoint,
        "PUT",
        f"/{bucket}/k",
        {"x-amz-content-sha256": hashlib.sha256(b"other").hexdigest()},
        b"actual",
    )
    assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in body
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_cors_preflight_and_response_headers(server, s3, bucket, user_key):
    origin = "https://app.example.com"
    preflight = {"Origin": origin, "Access-Control-Request-Method": "PUT"}
    status, _, body = raw(server.endpoint, "OPTIONS", f"/{bucket}/file", preflight)
    assert status == 403 and b"<Code>AccessForbidden</Code>" in body
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [origin],
                    "AllowedMethods": ["GET", "PUT"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 600,
                }
            ]
        },
    )
    headers = dict(preflight, **{"Access-Control-Request-Headers": "content-type"})
    status, answer, body = raw(server.endpoint, "OPTIONS", f"/{bucket}/file", headers)
    assert status == 200, body
    assert answer["Access-Control-Allow-Origin"] == origin
    assert "PUT" in answer["Access-Control-Allow-Methods"]
    status, _, _ = raw(
        server.endpoint,
        "OPTIONS",
        f"/{bucket}/file",
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
    )
    assert status == 403
    s3.put_object(Bucket=bucket, Key="file", Body=b"x")
    # A page of another origin uses a presigned URL of a key sandlot issued
    # (unsigned, it would get no dev-mode root: gateway/origins.py).
    signer = make_client(server.endpoint, "s3", key=user_key[0], secret=user_key[1])
    url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "file"})
    path = url.removeprefix(server.endpoint)
    status, answer, _ = raw(server.endpoint, "GET", path, {"Origin": origin})
    assert status == 200
    assert answer["Access-Control-Allow-Origin"] == origin


@pytest.fixture
def user_key(client):
    """An access key sandlot issued (an IAM user allowed S3): its signatures are checked."""
    iam = client("iam")
    name = f"wire-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def signed_chunked_put(endpoint, bucket, key, secret, chunks, tamper=False):
    """PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD: botocore signs the seed request,
    each chunk's signature chains from it (S3's documented chunked upload)."""
    total = sum(len(c) for c in chunks)
    url = f"{endpoint}/{bucket}/signed-chunks"
    request = AWSRequest(
        method="PUT",
        url=url,
        headers={
            "Content-Encoding": "aws-chunked",
            "X-Amz-Decoded-Content-Length": str(total),
        },
    )

    class Signer(S3SigV4Auth):
        def payload(self, request):
            return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

    Signer(Credentials(key, secret), "s3", "us-east-1").add_auth(request)
    amz_date = request.headers["X-Amz-Date"]
    previous = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    signing_key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], "us-east-1", "s3", "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    body = b""
    for data in [*chunks, b""]:
        text = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                amz_date,
                f"{amz_date[:8]}/us-east-1/s3/aws4_request",
                previous,
                hashlib.sha256(b"").hexdigest(),
                hashlib.sha256(data).hexdigest(),
            ]
        )
        previous = hmac.new(signing_key, text.encode(), hashlib.sha256).hexdigest()
        sent = data[:-1] + b"!" if tamper and data else data
        body += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(data), previous.encode(), sent)
    headers = {k: v for k, v in request.headers.items()}
    headers["Content-Length"] = str(len(body))
    return raw(endpoint, "PUT", urlsplit(url).path, headers, body)


def test_signed_streaming_upload_with_an_issued_key(server, s3, bucket, user_key):
    chunks = [os.urandom(64 * 1024), os.urandom(64 * 1024), os.urandom(1000)]
    status, _, body = signed_chunked_put(server.endpoint, bucket, *user_key, chunks)
    assert status == 200, body
    got = s3.get_object(Bucket=bucket, Key="signed-chunks")
    assert got["Body"].read() == b"".join(chunks)
    assert got.get("ContentEncoding") in (None, "")

    status, _, body = signed_chunked_put(
        server.endpoint, bucket, *user_key, [b"other" * 20000], tamper=True
    )
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    assert s3.get_object(Bucket=bucket, Key="signed-chunks")["Body"].read() == b"".join(chunks)


def test_a_wrong_trailing_checksum_stores_nothing(server, s3, bucket):
    data = os.urandom(100_000)
    encoded = b"".join(
        botocore.httpchecksum.AwsChunkedWrapper(
            io.BytesIO(data), botocore.httpchecksum.Crc32Checksum, "x-amz-checksum-crc32"
        )
    )
    right = base64.b64encode(zlib.crc32(data).to_bytes(4, "big"))
    wrong = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big"))
    headers = {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "Content-Encoding": "aws-chunked",
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-decoded-content-length": str(len(data)),
    }
    status, _, body = raw(
        server.endpoint, "PUT", f"/{bucket}/t", headers, encoded.replace(right, wrong)
    )
    assert status == 400, body
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="t")
    status, _, body = raw(server.endpoint, "PUT", f"/{bucket}/t", headers, encoded)
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == data
