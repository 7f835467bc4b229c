"""S3 objects end to end with boto3 (default client settings: aws-chunked uploads with
a CRC32 trailer): put/get/head/delete, ranges, conditions, metadata, checksums,
copies, batch deletes, tagging and S3's errors."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
import zlib

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import code_and_status


def test_put_get_head_delete(client, bucket):
    s3 = client("s3")
    body = b"hello sandlot " * 1000
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/file name+1.txt",
        Body=body,
        Metadata={"Owner": "me", "purpose": "test"},
        ContentType="text/plain",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="f.txt"',
        ContentLanguage="en",
        CacheControl="max-age=60",
        Expires=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )
    etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key="dir/file name+1.txt")
    assert got["Body"].read() == body
    assert got["ETag"] == etag
    assert got["ContentLength"] == len(body)
    assert got["ContentType"] == "text/plain"
    assert got["ContentEncoding"] == "identity"
    assert got["ContentDisposition"] == 'attachment; filename="f.txt"'
    assert got["ContentLanguage"] == "en"
    assert got["CacheControl"] == "max-age=60"
    assert got["Metadata"] == {"owner": "me", "purpose": "test"}
    head = s3.head_object(Bucket=bucket, Key="dir/file name+1.txt")
    assert head["ContentLength"] == len(body) and head["ETag"] == etag
    s3.delete_object(Bucket=bucket, Key="dir/file name+1.txt")
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="dir/file name+1.txt")
    assert code_and_status(excinfo) == ("NoSuchKey", 404)
    assert excinfo.value.response["Error"]["Message"] == "The specified key does not exist."
    with pytest.raises(ClientError) as excinfo:
        s3.head_object(Bucket=bucket, Key="dir/file name+1.txt")
    assert code_and_status(excinfo) == ("404", 404)


def test_default_content_type_and_empty_object(client, bucket):
    s3 = client("s3")
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ContentType"] == "binary/octet-stream"
    assert got["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'


def test_missing_bucket(client):
    with pytest.raises(ClientError) as excinfo:
        client("s3").put_object(Bucket=f"nope-{uuid.uuid4().hex[:8]}", Key="k", Body=b"x")
    assert code_and_status(excinfo) == ("NoSuchBucket", 404)
    assert excinfo.value.response["Error"]["Message"] == "The specified bucket does not exist"


def test_key_too_long(client, bucket):
    with pytest.raises(ClientError) as excinfo:
        client("s3").put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert code_and_status(excinfo) == ("KeyTooLongError", 400)
    client("s3").put_object(Bucket=bucket, Key="é" * 512, Body=b"x")  # 1,024 bytes


def test_ranges(client, bucket):
    s3 = client("s3")
    body = bytes(range(256)) * 4
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    cases = {"bytes=0-9": (0, 9), "bytes=1000-": (1000, 1023), "bytes=-24": (1000, 1023),
             "bytes=10-5000": (10, 1023)}  # fmt: skip
    for header, (first, last) in cases.items():
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["Body"].read() == body[first : last + 1], header
        assert got["ContentRange"] == f"bytes {first}-{last}/1024"
        assert got["ContentLength"] == last - first + 1
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=1024-")
    assert code_and_status(excinfo) == ("InvalidRange", 416)


def test_conditional_reads(client, bucket):
    s3 = client("s3")
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    before = modified - dt.timedelta(hours=1)
    after = modified + dt.timedelta(seconds=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["ETag"] == etag
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert code_and_status(excinfo) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert code_and_status(excinfo)[1] == 304
    assert excinfo.value.response["ResponseMetadata"]["HTTPHeaders"].get("content-length") in (
        None,
        "0",
    )
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=modified)
    assert code_and_status(excinfo)[1] == 304
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=before)["ETag"] == etag
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=before)
    assert code_and_status(excinfo) == ("PreconditionFailed", 412)
    # Precedence: If-Match true wins over If-Unmodified-Since false ...
    s3.get_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=before)
    # ... and If-None-Match false over If-Modified-Since true is still 304.
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag, IfModifiedSince=before)
    assert code_and_status(excinfo)[1] == 304
    s3.get_object(Bucket=bucket, Key="c", IfNoneMatch='"other"', IfModifiedSince=after)


def test_conditional_write(client, bucket):
    s3 = client("s3")
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert code_and_status(excinfo) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"1"


def test_conditional_delete(client, bucket):
    """DeleteObject with If-Match: a different ETag is 412 and the object stays; a
    missing object is NoSuchKey; the matching ETag (or *) deletes. The size and
    modification-time conditions refuse a mismatch the same way."""
    s3 = client("s3")
    etag = s3.put_object(Bucket=bucket, Key="guarded", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as excinfo:
        s3.delete_object(Bucket=bucket, Key="guarded", IfMatch='"0123456789abcdef"')
    assert code_and_status(excinfo) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="guarded")["Body"].read() == b"v1"
    with pytest.raises(ClientError) as excinfo:
        s3.delete_object(Bucket=bucket, Key="guarded", IfMatchSize=3)
    assert code_and_status(excinfo) == ("PreconditionFailed", 412)
    modified = s3.head_object(Bucket=bucket, Key="guarded")["LastModified"]
    with pytest.raises(ClientError) as excinfo:
        s3.delete_object(
            Bucket=bucket,
            Key="guarded",
            IfMatchLastModifiedTime=modified - dt.timedelta(days=1),
        )
    assert code_and_status(excinfo) == ("PreconditionFailed", 412)
    deleted = s3.delete_object(
        Bucket=bucket, Key="guarded", IfMatch=etag, IfMatchSize=2, IfMatchLastModifiedTime=modified
    )
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as excinfo:
        s3.delete_object(Bucket=bucket, Key="guarded", IfMatch="*")
    assert code_and_status(excinfo) == ("NoSuchKey", 404)
    s3.put_object(Bucket=bucket, Key="any", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="any", IfMatch="*")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    # DeleteObjects: the ETag element of each object is the same condition.
    etag = s3.put_object(Bucket=bucket, Key="a", Body=b"a")["ETag"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    result = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "a", "ETag": etag}, {"Key": "b", "ETag": '"nope"'}]},
    )
    assert [d["Key"] for d in result["Deleted"]] == ["a"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("b", "PreconditionFailed")]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["b"]


def test_checksums(client, bucket):
    s3 = client("s3")
    body = b"checksummed body"
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    put = s3.put_object(Bucket=bucket, Key="crc", Body=body)  # the SDK's default: CRC32
    assert put["ChecksumCRC32"] == crc
    got = s3.get_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == crc
    assert got["Body"].read() == body
    s3.put_object(Bucket=bucket, Key="sha", Body=body, ChecksumAlgorithm="SHA256")
    assert s3.head_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED")["ChecksumSHA256"] == sha
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ChecksumSHA256=base64.b64encode(
            hashlib.sha256(b"other").digest()).decode())  # fmt: skip
    assert code_and_status(excinfo) == ("BadDigest", 400)
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="bad")
    assert code_and_status(excinfo) == ("NoSuchKey", 404)  # nothing half-written


def test_content_md5(client, bucket):
    s3 = client("s3")
    body = b"md5 checked"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="m", Body=body, ContentMD5=good)
    wrong = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="m2", Body=body, ContentMD5=wrong)
    assert code_and_status(excinfo) == ("BadDigest", 400)
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="m3", Body=body, ContentMD5="not-base64!")
    assert code_and_status(excinfo) == ("InvalidDigest", 400)


def test_copy_object(client, bucket):
    s3 = client("s3")
    s3.put_object(
        Bucket=bucket, Key="src/a b", Body=b"copy me", Metadata={"m": "1"}, ContentType="text/x"
    )
    copied = s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src/a b"}
    )
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"copy me"
    assert got["Metadata"] == {"m": "1"} and got["ContentType"] == "text/x"
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource=f"{bucket}/src/a b",  # botocore URL-encodes it
        MetadataDirective="REPLACE",
        Metadata={"n": "2"},
        ContentType="text/y",
    )
    got = s3.head_object(Bucket=bucket, Key="dst")
    assert got["Metadata"] == {"n": "2"} and got["ContentType"] == "text/y"
    with pytest.raises(ClientError) as excinfo:  # onto itself without changes
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "dst"})
    assert code_and_status(excinfo) == ("InvalidRequest", 400)
    s3.copy_object(  # onto itself, replacing metadata: allowed
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "dst"},
        MetadataDirective="REPLACE", Metadata={"o": "3"},
    )  # fmt: skip
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"o": "3"}
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    assert code_and_status(excinfo) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(
            Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "dst"},
            CopySourceIfMatch='"nope"',
        )  # fmt: skip
    assert code_and_status(excinfo) == ("PreconditionFailed", 412)
    # The copy is independent of its source.
    s3.delete_object(Bucket=bucket, Key="src/a b")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"copy me"


def test_delete_objects(client, bucket):
    s3 = client("s3")
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "zz"}]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b", "zz"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_object_tagging(client, bucket):
    s3 = client("s3")
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&b=two%20words")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [
        {"Key": "a", "Value": "1"},
        {"Key": "b", "Value": "two words"},
    ]
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 2
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "c", "Value": "3"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []


def test_large_object_streams(client, bucket):
    s3 = client("s3")
    body = (b"0123456789abcdef" * 65536) * 5  # 5 MiB
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    got = s3.get_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED")
    assert hashlib.md5(got["Body"].read()).hexdigest() == hashlib.md5(body).hexdigest()


def test_presigned_put_and_get(client, bucket):
    import urllib.request

    s3 = client("s3")
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=60
    )
    request = urllib.request.Request(put_url, data=b"via presigned PUT", method="PUT")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
        etag = response.headers["ETag"]
    assert etag == f'"{hashlib.md5(b"via presigned PUT").hexdigest()}"'
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=60
    )
    with urllib.request.urlopen(get_url) as response:
        assert response.read() == b"via presigned PUT"


def test_expected_bucket_owner(client, bucket):
    s3 = client("s3")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner="000000000000")
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner="111122223333")
    assert code_and_status(excinfo) == ("AccessDenied", 403)
    other = client("s3", key="111122223333")
    with pytest.raises(ClientError) as excinfo:  # another account's bucket
        other.get_object(Bucket=bucket, Key="k")
    assert code_and_status(excinfo) == ("AccessDenied", 403)
