"""aws-chunked decoding, chunk signatures and spooling (gateway/bodies.py).

The signed example is the one in S3's documentation ("Signature Calculations for the
Authorization Header: Transferring Payload in Multiple Chunks", Example: PUT Object):
its published seed and chunk signatures must come out of sandlot's code unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zlib

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from sandlot.gateway import bodies
from sandlot.gateway.bodies import AwsChunkedDecoder, ChunkSigner, Spool, signing_key
from sandlot.protocol import ServiceError, checksums

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AMZ_DATE = "20130524T000000Z"
SCOPE = "20130524/us-east-1/s3/aws4_request"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
# The documented signatures of the 64 KB chunk, the 1 KB chunk and the final chunk.
DOC_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
DOC_CHUNKS = [b"a" * 65536, b"a" * 1024, b""]


def doc_signer() -> ChunkSigner:
    return ChunkSigner(signing_key(SECRET, "20130524", "us-east-1", "s3"), AMZ_DATE, SCOPE, SEED)


def doc_body() -> bytes:
    out = b""
    for data, signature in zip(DOC_CHUNKS, DOC_SIGNATURES, strict=True):
        out += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(data), signature.encode(), data)
    return out


def decode(body: bytes, pieces: list[int] | None = None, **options) -> tuple[bytes, dict]:
    out = bytearray()
    decoder = AwsChunkedDecoder(out.extend, **options)
    if pieces is None:
        decoder.feed(body)
    else:
        start = 0
        for size in pieces:
            decoder.feed(body[start : start + size])
            start += size
        decoder.feed(body[start:])
    trailers = decoder.finish()
    return bytes(out), trailers


def test_signer_reproduces_the_documented_chunk_signatures():
    signer = doc_signer()
    for data, documented in zip(DOC_CHUNKS, DOC_SIGNATURES, strict=True):
        expected = signer.chunk(hashlib.sha256(data).hexdigest())
        assert expected == documented
        signer.check(expected, documented)


def test_the_documented_signed_body_decodes_and_verifies():
    content, trailers = decode(doc_body(), signer=doc_signer(), trailer_expected=False)
    assert content == b"a" * 66560
    assert trailers == {}
    assert len(doc_body()) == 66824  # the example's Content-Length


@pytest.mark.parametrize("pieces", [[1] * 300, [7, 3, 86, 65536, 2, 1, 1], [65600, 1, 1, 1, 1]])
def test_decoding_does_not_depend_on_how_the_body_arrives(pieces):
    content, _ = decode(doc_body(), pieces, signer=doc_signer(), trailer_expected=False)
    assert content == b"a" * 66560


def test_a_changed_byte_fails_the_chunk_signature():
    body = bytearray(doc_body())
    body[200] = ord("b")
    with pytest.raises(ServiceError) as raised:
        decode(bytes(body), signer=doc_signer(), trailer_expected=False)
    assert (raised.value.code, raised.value.status) == ("SignatureDoesNotMatch", 403)


def test_chunks_replayed_out_of_order_fail_the_chain():
    body = doc_body()
    first_end = body.index(b"\r\n", 100) + 2  # the end of the first chunk
    second_end = body.index(b"\r\n", body.index(b"\r\n", first_end) + 2) + 2
    swapped = body[first_end:second_end] + body[:first_end] + body[second_end:]
    with pytest.raises(ServiceError) as raised:
        decode(swapped, signer=doc_signer(), trailer_expected=False)
    assert raised.value.code == "SignatureDoesNotMatch"


def test_signed_mode_requires_chunk_signatures_even_when_unchecked():
    with pytest.raises(ServiceError) as raised:
        decode(b"3\r\nabc\r\n0\r\n\r\n", signed=True, trailer_expected=False)
    assert (raised.value.code, raised.value.status) == ("InvalidRequest", 400)


def test_unsigned_trailer_from_botocores_own_encoder():
    data = bytes(range(256)) * 5000  # 1.28 MB: two of botocore's 1 MiB chunks
    encoded = b"".join(AwsChunkedWrapper(io.BytesIO(data), Crc32Checksum, "x-amz-checksum-crc32"))
    content, trailers = decode(encoded, [5, 1_048_580])
    assert content == data
    expected = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert trailers == {"x-amz-checksum-crc32": expected}


def test_signed_trailer_is_checked():
    key = signing_key(SECRET, "20130524", "us-east-1", "s3")
    signer = ChunkSigner(key, AMZ_DATE, SCOPE, SEED)
    data = b"hello world"
    crc = checksums.of_bytes("crc32c", data)
    first = signer.chunk(hashlib.sha256(data).hexdigest())
    signer.previous = first
    final = signer.chunk(hashlib.sha256(b"").hexdigest())
    signer.previous = final
    trailer_signature = signer.trailer(f"x-amz-checksum-crc32c:{crc}\n".encode())
    body = (
        b"b;chunk-signature=%s\r\nhello world\r\n" % first.encode()
        + b"0;chunk-signature=%s\r\n" % final.encode()
        + b"x-amz-checksum-crc32c:%s\r\n" % crc.encode()
        + b"x-amz-trailer-signature:%s\r\n\r\n" % trailer_signature.encode()
    )
    content, trailers = decode(body, signer=ChunkSigner(key, AMZ_DATE, SCOPE, SEED))
    assert content == data
    assert trailers == {"x-amz-checksum-crc32c": crc}
    forged = body.replace(crc.encode(), checksums.of_bytes("crc32c", b"other").encode())
    with pytest.raises(ServiceError) as raised:
        decode(forged, signer=ChunkSigner(key, AMZ_DATE, SCOPE, SEED))
    assert raised.value.code == "SignatureDoesNotMatch"
    unsigned = body[: body.index(b"x-amz-trailer-signature")] + b"\r\n"
    with pytest.raises(ServiceError) as raised:
        decode(unsigned, signer=ChunkSigner(key, AMZ_DATE, SCOPE, SEED))
    assert raised.value.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"3\r\nabc\r\n0\r\n", "IncompleteBody"),  # no closing line
        (b"3\r\nab", "IncompleteBody"),  # cut inside the data
        (b"zz\r\nabc\r\n0\r\n\r\n", "InvalidRequest"),  # size not hexadecimal
        (b"3\r\nabcd\r\n0\r\n\r\n", "InvalidRequest"),  # data longer than declared
        (b"3\nabc\r\n0\r\n\r\n", "InvalidRequest"),  # bare LF
        (b"\r\nabc\r\n0\r\n\r\n", "InvalidRequest"),  # empty size
        (b"3\r\nabc\r\n0\r\n\r\nmore", "InvalidRequest"),  # data after the end
        (b"3\r\nabc\r\n0\r\nno-colon\r\n\r\n", "MalformedTrailerError"),
        (b"f" * 5000, "InvalidRequest"),  # a header line without end
    ],
)
def test_bad_framing_is_a_400_with_an_s3_code(body, code):
    with pytest.raises(ServiceError) as raised:
        decode(body)
    assert (raised.value.code, raised.value.status) == (code, 400)


def test_trailers_on_a_body_that_announced_none_are_refused():
    with pytest.raises(ServiceError) as raised:
        decode(b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", trailer_expected=False)
    assert raised.value.code == "MalformedTrailerError"


def test_requested_checksums_come_from_headers_sdk_algorithm_and_trailer():
    headers = {
        "x-amz-checksum-sha1": "x",
        "x-amz-checksum-type": "FULL_OBJECT",  # not an algorithm
        "x-amz-sdk-checksum-algorithm": "CRC32C",
        "x-amz-trailer": "x-amz-checksum-crc64nvme",
    }
    assert bodies.requested_checksums(headers) == {"sha1", "crc32c", "crc64nvme"}
    # None named: S3's default checksum, computed on the way.
    assert bodies.requested_checksums({"x-amz-sdk-checksum-algorithm": "MD4"}) == {"crc64nvme"}


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        # crc32c and crc64nvme as AWS's common runtime (awscrt) computes them.
        ("crc32", base64.b64encode(zlib.crc32(b"hello world").to_bytes(4, "big")).decode()),
        ("sha1", base64.b64encode(hashlib.sha1(b"hello world").digest()).decode()),
        ("sha256", base64.b64encode(hashlib.sha256(b"hello world").digest()).decode()),
        ("crc32c", "yZRlqg=="),
        ("crc64nvme", "jSnVw/bqjr4="),
    ],
)
def test_checksums_are_base64_of_the_big_endian_value(algorithm, expected):
    assert checksums.of_bytes(algorithm, b"hello world") == expected


def test_spool_writes_digests_and_fsyncs(tmp_path):
    spool = Spool(tmp_path, {"crc32", "sha256", "crc32c"})
    data = [b"x" * 1000, b"y" * 70000, b""]
    for piece in data:
        spool.write(piece)
    body = spool.close({"x-amz-checksum-crc32": "abc"})
    whole = b"".join(data)
    assert body.path.parent == tmp_path and body.path.read_bytes() == whole
    assert body.size == len(whole)
    assert body.md5 == hashlib.md5(whole).hexdigest()
    assert body.sha256 == hashlib.sha256(whole).hexdigest()
    assert body.checksums == {
        "crc32": checksums.of_bytes("crc32", whole),
        "crc32c": checksums.of_bytes("crc32c", whole),
        "sha256": checksums.of_bytes("sha256", whole),
    }
    assert body.trailers == {"x-amz-checksum-crc32": "abc"}


def test_discarded_spool_leaves_no_file(tmp_path):
    spool = Spool(tmp_path, set())
    spool.write(b"partial")
    spool.discard()
    assert list(tmp_path.iterdir()) == []
