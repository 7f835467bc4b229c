"""The gateway's S3 wire work, against a recording fake S3 provider.

Streamed request bodies (SpooledBody), aws-chunked decoding and signatures, the
payload hash check, virtual-hosted addressing, FileBody responses, HEAD errors and
CORS, through ``Gateway.handle`` and the ASGI entry point.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import zlib
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from sandlot.config import Settings
from sandlot.gateway import bodies
from sandlot.gateway.app import Gateway
from sandlot.iam.principal import Principal
from sandlot.platform import Platform
from sandlot.protocol import FileBody, HttpRequest, ServiceError, SpooledBody, checksums
from sandlot.services.provider import Provider


class FakeS3(Provider):
    """Records what the gateway hands over; answers like S3 would, minus storage."""

    service = "s3"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.calls: list[tuple[str, dict]] = []
        self.files: dict[str, bytes] = {}
        self.cors: dict[str, dict[str, str]] = {}

    def put_object(self, ctx, params):
        body = params["Body"]
        assert isinstance(body, SpooledBody)
        self.calls.append(("PutObject", params | {"_content": body.read()}))
        assert body.path.exists()
        return {"ETag": f'"{body.md5}"'}

    def upload_part(self, ctx, params):
        self.calls.append(("UploadPart", params))
        return {"ETag": f'"{params["Body"].md5}"'}

    def put_bucket_tagging(self, ctx, params):
        self.calls.append(("PutBucketTagging", params))
        return {}

    def get_object(self, ctx, params):
        self.calls.append(("GetObject", params))
        data = self.files.get(params["Key"])
        if data is None:
            raise ServiceError(
                "NoSuchKey", "The specified key does not exist.", 404, Key=params["Key"]
            )
        return {"Body": FileBody(io.BytesIO(data), 0, len(data)), "ContentLength": len(data)}

    def head_object(self, ctx, params):
        raise ServiceError("NoSuchKey", "The specified key does not exist.", 404)

    def list_objects_v2(self, ctx, params):
        self.calls.append(("ListObjectsV2", params))
        return {"Name": params["Bucket"], "KeyCount": 0, "IsTruncated": False}

    def head_bucket(self, ctx, params):
        raise ServiceError(
            "NoSuchBucket",
            "The specified bucket does not exist",
            404,
            BucketName=params["Bucket"],
        )

    def cors_preflight(self, bucket, origin, method, request_headers):
        self.calls.append(("preflight", {"bucket": bucket, "headers": request_headers}))
        if bucket not in self.cors:
            raise ServiceError(
                "AccessForbidden",
                "CORSResponse: CORS is not enabled for this bucket.",
                403,
                Method=method,
                ResourceType="BUCKET",
            )
        return dict(self.cors[bucket], **{"Access-Control-Allow-Methods": method})

    def cors_headers(self, bucket, origin, method):
        return self.cors.get(bucket, {})


@pytest.fixture
def platform(tmp_path):
    platform = Platform(Settings(iam="off"), tmp_path)
    platform._providers["s3"] = FakeS3(platform)
    yield platform
    platform.close()


@pytest.fixture
def gateway(platform):
    return Gateway(platform)


@pytest.fixture
def s3(platform) -> FakeS3:
    return platform._providers["s3"]


def run(gateway: Gateway, request: HttpRequest):
    return asyncio.run(asyncio.wait_for(gateway.handle(request), timeout=10))


def tmp_files(platform) -> list:
    return list((platform.blobs.root / "tmp").iterdir())


class _Signer(S3SigV4Auth):
    """botocore's S3 signer; ``payload_hash`` stands for the body's hash when set
    (as botocore's checksum trailer support sets the streaming literals)."""

    payload_hash: str | None = None

    def payload(self, request):
        return self.payload_hash or super().payload(request)


def signed(
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    key: str = "AKIDEXAMPLE",
    secret: str = "secret",
    payload_hash: str | None = None,
) -> HttpRequest:
    """A request signed by botocore's S3 signer, as the SDKs send it."""
    aws = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = _Signer(Credentials(key, secret), "s3", "us-east-1")
    signer.payload_hash = payload_hash
    signer.add_auth(aws)
    parts = urlsplit(url)
    return HttpRequest(
        method,
        parts.path,
        parts.query,
        {k.lower(): v for k, v in aws.headers.items()} | {"host": parts.netloc},
        body,
    )


# --- streamed bodies ------------------------------------------------------------------------


def test_put_object_body_reaches_the_provider_spooled(gateway, platform, s3):
    data = bytes(range(256)) * 9000
    request = HttpRequest(
        "PUT",
        "/bucket/some/key.bin",
        "",
        {
            "host": "127.0.0.1:4566",
            "content-length": str(len(data)),
            "x-amz-checksum-crc32": checksums.of_bytes("crc32", data),
        },
        data,
    )
    response = run(gateway, request)
    assert response.status == 200, response.body
    name, params = s3.calls[-1]
    body = params["Body"]
    assert (name, params["Bucket"], params["Key"]) == ("PutObject", "bucket", "some/key.bin")
    assert params["_content"] == data
    assert body.size == len(data)
    assert body.md5 == hashlib.md5(data).hexdigest()
    assert body.sha256 == hashlib.sha256(data).hexdigest()
    assert body.checksums == {"crc32": checksums.of_bytes("crc32", data)}
    assert body.path.parent == platform.blobs.root / "tmp"
    assert response.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert tmp_files(platform) == []  # not adopted: deleted after the request


def test_aws_chunked_unsigned_trailer_is_decoded(gateway, platform, s3):
    data = b"sandlot" * 300_000  # 2.1 MB: three of botocore's chunks
    encoded = b"".join(AwsChunkedWrapper(io.BytesIO(data), Crc32Checksum, "x-amz-checksum-crc32"))
    request = signed(
        "PUT",
        "http://127.0.0.1:4566/bucket/obj",
        encoded,
        {
            "Content-Encoding": "aws-chunked,gzip",
            "X-Amz-Trailer": "x-amz-checksum-crc32",
            "X-Amz-Decoded-Content-Length": str(len(data)),
            "X-Amz-Sdk-Checksum-Algorithm": "CRC32",
        },
        payload_hash=bodies.STREAMING_UNSIGNED_TRAILER,
    )
    response = run(gateway, request)
    assert response.status == 200, response.body
    _, params = s3.calls[-1]
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert params["_content"] == data
    assert params["Body"].trailers == {"x-amz-checksum-crc32": crc}
    assert params["Body"].checksums == {"crc32": crc}
    # aws-chunked is framing, not the object's encoding; the length is the content's.
    assert params["ContentEncoding"] == "gzip"
    assert params["ContentLength"] == len(data)
    assert tmp_files(platform) == []


def test_decoded_length_must_match(gateway, platform, s3):
    encoded = b"".join(AwsChunkedWrapper(io.BytesIO(b"abc"), Crc32Checksum, "x-amz-checksum-crc32"))
    request = HttpRequest(
        "PUT",
        "/bucket/obj",
        "",
        {
            "x-amz-content-sha256": bodies.STREAMING_UNSIGNED_TRAILER,
            "content-encoding": "aws-chunked",
            "x-amz-trailer": "x-amz-checksum-crc32",
            "x-amz-decoded-content-length": "4",
        },
        encoded,
    )
    response = run(gateway, request)
    assert response.status == 400
    assert b"<Code>IncompleteBody</Code>" in response.body
    assert s3.calls == [] and tmp_files(platform) == []


def test_declared_size_over_5_gb_is_refused_before_reading(gateway, s3):
    request = HttpRequest("PUT", "/bucket/obj", "", {"content-length": str(5 * 1024**3 + 1)}, b"x")
    response = run(gateway, request)
    assert response.status == 400
    assert b"<Code>EntityTooLarge</Code>" in response.body
    assert s3.calls == []


def issue_key(platform) -> tuple[str, str]:
    credential = platform.credentials.issue_long_term(Principal.root("123456789012"))
    return credential.access_key_id, credential.secret_access_key


def signed_chunked(key: str, secret: str, data: list[bytes], *, tamper: bool = False):
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload: botocore signs the seed, the chunks
    chain from it as S3's documentation describes."""
    total = sum(len(d) for d in data)
    request = signed(
        "PUT",
        "http://127.0.0.1:4566/bucket/chunked?partNumber=1&uploadId=u1",
        b"",
        {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(total)},
        key=key,
        secret=secret,
        payload_hash=bodies.STREAMING_SIGNED,
    )
    amz_date = request.headers["x-amz-date"]
    seed = request.headers["authorization"].rsplit("Signature=", 1)[1]
    signer = bodies.ChunkSigner(
        bodies.signing_key(secret, amz_date[:8], "us-east-1", "s3"),
        amz_date,
        f"{amz_date[:8]}/us-east-1/s3/aws4_request",
        seed,
    )
    out = b""
    for piece in [*data, b""]:
        signature = signer.chunk(hashlib.sha256(piece).hexdigest())
        signer.previous = signature
        sent = piece.replace(b"a", b"b") if tamper else piece
        out += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(piece), signature.encode(), sent)
    request.body = out
    return request


def test_signed_chunks_are_verified_with_the_callers_key(gateway, platform, s3):
    key, secret = issue_key(platform)
    data = [b"a" * 70000, b"a" * 9000]
    response = run(gateway, signed_chunked(key, secret, data))
    assert response.status == 200, response.body
    name, params = s3.calls[-1]
    assert name == "UploadPart"
    assert params["PartNumber"] == 1
    assert params["Body"].size == 79000


def test_a_tampered_signed_chunk_is_signature_does_not_match(gateway, platform, s3):
    key, secret = issue_key(platform)
    response = run(gateway, signed_chunked(key, secret, [b"a" * 9000], tamper=True))
    assert response.status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in response.body
    assert s3.calls == [] and tmp_files(platform) == []


def test_a_wrong_content_sha256_is_refused_for_streamed_and_buffered_bodies(gateway, s3):
    for method, path, query in (("PUT", "/bucket/obj", ""), ("PUT", "/bucket", "tagging")):
        request = signed(
            method,
            f"http://127.0.0.1:4566{path}?{query}",
            b"<Tagging><TagSet/></Tagging>",
            payload_hash=hashlib.sha256(b"something else").hexdigest(),
        )
        response = run(gateway, request)
        assert response.status == 400, path
        assert b"<Code>XAmzContentSHA256Mismatch</Code>" in response.body
    assert s3.calls == []


def test_right_content_sha256_passes(gateway, s3):
    body = b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"
    request = signed("PUT", "http://127.0.0.1:4566/bucket?tagging", body)
    assert run(gateway, request).status == 200
    assert s3.calls[-1][1]["Tagging"] == {"TagSet": [{"Key": "k", "Value": "v"}]}


def test_header_signed_s3_requests_need_x_amz_content_sha256(gateway, s3):
    request = signed("PUT", "http://127.0.0.1:4566/bucket/obj", b"data")
    del request.headers["x-amz-content-sha256"]
    response = run(gateway, request)
    assert response.status == 400
    assert b"x-amz-content-sha256" in response.body


def test_asgi_put_is_spooled_from_many_messages(gateway, platform, s3):
    data = b"0123456789" * 100_000
    pieces = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(pieces) - 1}
        for i, p in enumerate(pieces)
    ]
    sent = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/bucket/k",
        "raw_path": b"/bucket/k",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:4566"), (b"content-length", str(len(data)).encode())],
    }
    asyncio.run(asyncio.wait_for(gateway(scope, receive, send), timeout=10))
    assert sent[0]["status"] == 200
    assert s3.calls[-1][1]["_content"] == data
    assert tmp_files(platform) == []


def test_client_gone_mid_upload_leaves_nothing(gateway, platform, s3):
    messages = [{"type": "http.request", "body": b"x" * 1000, "more_body": True}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    request = HttpRequest("PUT", "/bucket/k", "", {"content-length": "100000"})
    response = asyncio.run(gateway.handle(request, receive))
    assert response.status == 499
    assert s3.calls == [] and tmp_files(platform) == []


# --- virtual-hosted addressing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "bucket"),
    [
        ("my-bucket.localhost:4566", "my-bucket"),
        ("my.dotted.bucket.localhost:4566", "my.dotted.bucket"),
        ("my-bucket.s3.localhost:4566", "my-bucket"),
        ("my-bucket.s3.eu-west-1.localhost", "my-bucket"),
        ("127.0.0.1:4566", None),
        ("localhost:4566", None),
        ("s3.localhost:4566", None),
        ("lambda.localhost:4566", None),  # an endpoint prefix, not a bucket
    ],
)
def test_virtual_hosted_bucket_is_found(gateway, host, bucket):
    request = HttpRequest("GET", "/", "", {"host": host})
    assert gateway.router.virtual_bucket(request, None) == bucket


def test_virtual_hosted_request_is_path_style_for_the_provider(gateway, platform, s3):
    key, secret = issue_key(platform)
    request = signed(
        "GET",
        "http://photos.s3.localhost:4566/?list-type=2&prefix=a%2Fb",
        key=key,
        secret=secret,
        payload_hash=hashlib.sha256(b"").hexdigest(),
    )
    response = run(gateway, request)  # the signature covers the original host and path
    assert response.status == 200, response.body
    assert s3.calls[-1] == ("ListObjectsV2", {"Bucket": "photos", "Prefix": "a/b"})
    assert b"<ListBucketResult" in response.body

    request = signed("GET", "http://photos.localhost:4566/dir/file.txt", key=key, secret=secret)
    response = run(gateway, request)
    assert response.status == 404
    assert s3.calls[-1][1] == {"Bucket": "photos", "Key": "dir/file.txt"}
    assert b"<Key>dir/file.txt</Key>" in response.body and b"<Resource>" not in response.body


def test_virtual_host_signature_is_checked_against_the_original_host(gateway, platform):
    key, secret = issue_key(platform)
    request = signed("GET", "http://photos.localhost:4566/k", key=key, secret=secret)
    request.headers["host"] = "other.localhost:4566"  # what a forger would change
    assert run(gateway, request).status == 403


# --- responses --------------------------------------------------------------------------------


def collect(response, head=False, disconnect=False):
    from sandlot.gateway.app import _send

    sent = []

    async def receive():
        if disconnect:
            return {"type": "http.disconnect"}
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)
        if disconnect:
            await asyncio.sleep(0.01)  # let the disconnect be seen

    asyncio.run(_send(send, receive, response, head))
    return sent


def test_file_body_is_sent_in_chunks_and_closed(gateway, s3):
    data = bytes(range(256)) * 4096  # 1 MiB
    s3.files["big"] = data
    response = run(gateway, HttpRequest("GET", "/bucket/big", "", {}))
    assert response.status == 200
    assert isinstance(response.body, FileBody)
    assert response.headers["Content-Length"] == str(len(data))
    file = response.body.file
    sent = collect(response)
    chunks = [m["body"] for m in sent[1:]]
    assert b"".join(chunks) == data and len(chunks) == 4
    assert [m.get("more_body") for m in sent[1:]] == [True, True, True, False]
    assert file.closed


def test_file_body_send_stops_when_the_client_goes(gateway, s3):
    s3.files["big"] = b"z" * (4 * 1024 * 1024)
    response = run(gateway, HttpRequest("GET", "/bucket/big", "", {}))
    sent = collect(response, disconnect=True)
    assert sum(len(m.get("body", b"")) for m in sent[1:]) < 4 * 1024 * 1024
    assert response.body.file.closed


def test_file_body_for_head_sends_headers_only(gateway, s3):
    s3.files["k"] = b"hello"
    response = run(gateway, HttpRequest("GET", "/bucket/k", "", {}))
    sent = collect(response, head=True)
    assert sent[0]["status"] == 200
    assert (b"Content-Length", b"5") in sent[0]["headers"]
    assert [m["body"] for m in sent[1:]] == [b""]
    assert response.body.file.closed


def test_empty_file_body_ends_the_response(gateway, s3):
    s3.files["empty"] = b""
    response = run(gateway, HttpRequest("GET", "/bucket/empty", "", {}))
    sent = collect(response)
    assert [m["body"] for m in sent[1:]] == [b""] and sent[-1].get("more_body") is False


def test_s3_errors_are_bare_error_documents_with_extra_elements(gateway, s3):
    response = run(gateway, HttpRequest("GET", "/bucket/missing%20key", "", {}))
    assert response.status == 404
    body = response.body.decode()
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>')
    assert "<Key>missing key</Key>" in body
    assert "<Resource>" not in body  # AWS's NoSuchKey carries Key, RequestId, HostId only
    assert f"<RequestId>{response.headers['x-amz-request-id']}</RequestId>" in body
    assert response.headers["x-amz-id-2"]


def test_head_errors_have_no_body(gateway, s3):
    response = run(gateway, HttpRequest("HEAD", "/bucket", "", {}))
    assert response.status == 404
    assert response.body == b""
    assert response.headers["x-amz-request-id"]


# --- CORS -------------------------------------------------------------------------------------


def preflight(gateway, path="/site/index.html", host="127.0.0.1:4566", **headers):
    request = HttpRequest("OPTIONS", path, "", {"host": host} | headers)
    return run(gateway, request)


def test_preflight_asks_the_provider(gateway, s3):
    s3.cors["site"] = {"Access-Control-Allow-Origin": "https://example.com"}
    response = preflight(
        gateway,
        origin="https://example.com",
        **{
            "access-control-request-method": "PUT",
            "access-control-request-headers": "Content-Type, X-Amz-Meta-A",
        },
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert response.headers["Access-Control-Allow-Methods"] == "PUT"
    assert "Origin" in response.headers["Vary"]
    assert s3.calls[-1] == (
        "preflight",
        {"bucket": "site", "headers": ["content-type", "x-amz-meta-a"]},
    )


def test_preflight_of_a_virtual_hosted_bucket(gateway, s3):
    s3.cors["site"] = {"Access-Control-Allow-Origin": "*"}
    response = preflight(
        gateway,
        path="/index.html",
        host="site.s3.localhost:4566",
        origin="https://a.example",
        **{"access-control-request-method": "GET"},
    )
    assert response.status == 200 and s3.calls[-1][1]["bucket"] == "site"


def test_preflight_refused_is_an_s3_error(gateway, s3):
    response = preflight(gateway, origin="https://x", **{"access-control-request-method": "GET"})
    assert response.status == 403
    assert b"<Code>AccessForbidden</Code>" in response.body


def test_preflight_without_origin_is_a_bad_request(gateway, s3):
    response = preflight(gateway, **{"access-control-request-method": "GET"})
    assert response.status == 400
    assert b"<Code>BadRequest</Code>" in response.body


def test_preflight_is_answered_unsigned_in_secure_mode(tmp_path):
    platform = Platform(Settings(iam="off", secure=True), tmp_path)
    try:
        platform._providers["s3"] = fake = FakeS3(platform)
        fake.cors["site"] = {"Access-Control-Allow-Origin": "*"}
        response = preflight(
            Gateway(platform), origin="https://x", **{"access-control-request-method": "GET"}
        )
        assert response.status == 200
    finally:
        platform.close()


def test_cors_headers_are_added_to_responses_with_an_origin(gateway, platform, s3):
    # A page of another origin acts only with keys sandlot issued (gateway/origins.py).
    key, secret = issue_key(platform)
    origin = {"origin": "https://example.com"}
    s3.cors["site"] = {"Access-Control-Allow-Origin": "https://example.com"}
    s3.files["k"] = b"x"

    def get(url: str):
        return run(gateway, signed("GET", url, headers=origin, key=key, secret=secret))

    response = get("http://127.0.0.1:4566/site/k")
    assert response.headers["Access-Control-Allow-Origin"] == "https://example.com"
    response.body.file.close()
    response = get("http://127.0.0.1:4566/site/nope")
    assert response.headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert "Access-Control-Allow-Origin" not in get("http://127.0.0.1:4566/other/k").headers
    # Unsigned, the page is refused, and the bucket's rules let it read why.
    response = run(gateway, HttpRequest("GET", "/site/k", "", dict(origin)))
    assert response.status == 403 and b"<Code>AccessDenied</Code>" in response.body
    assert b"SANDLOT_CORS_ALLOWED_ORIGINS" in response.body
    assert response.headers["Access-Control-Allow-Origin"] == "https://example.com"


def test_a_file_shorter_than_announced_fails_the_response_and_is_closed():
    from sandlot.gateway.app import _send
    from sandlot.protocol import HttpResponse

    file = io.BytesIO(b"abc")
    response = HttpResponse(200, {"Content-Length": "10"}, FileBody(file, 0, 10))
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        await asyncio.sleep(3600)

    with pytest.raises(OSError, match="shorter"):
        asyncio.run(_send(send, receive, response, False))
    assert file.closed
    assert [m.get("body") for m in sent[1:]] == [b"abc"]  # no false end of body
