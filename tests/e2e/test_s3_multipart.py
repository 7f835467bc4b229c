"""S3 multipart uploads end to end: parts, copy parts, completion rules and ETag,
abort, ListParts and ListMultipartUploads."""

from __future__ import annotations

import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import code_and_status

MIB = 1024 * 1024


def test_upload_complete_and_read(client, bucket):
    s3 = client("s3")
    first, second = os.urandom(5 * MIB), os.urandom(1234)
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="big", ContentType="application/x-test", Metadata={"a": "b"}
    )["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=1, Body=first)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=2, Body=second)[
        "ETag"
    ]
    assert e1 == f'"{hashlib.md5(first).hexdigest()}"'
    parts = s3.list_parts(Bucket=bucket, Key="big", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [
        (1, len(first), e1),
        (2, len(second), e2),
    ]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("big", upload)]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)  # not visible before completion
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    expected = hashlib.md5(hashlib.md5(first).digest() + hashlib.md5(second).digest()).hexdigest()
    assert done["ETag"] == f'"{expected}-2"'
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["Body"].read() == first + second
    assert got["ETag"] == done["ETag"]
    assert got["ContentType"] == "application/x-test" and got["Metadata"] == {"a": "b"}
    assert got["PartsCount"] == 2
    part = s3.get_object(Bucket=bucket, Key="big", PartNumber=2)
    assert part["Body"].read() == second
    total = len(first) + len(second)
    assert part["ContentRange"] == f"bytes {len(first)}-{total - 1}/{total}"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as excinfo:
        s3.list_parts(Bucket=bucket, Key="big", UploadId=upload)
    assert code_and_status(excinfo) == ("NoSuchUpload", 404)


def test_completion_errors(client, bucket):
    s3 = client("s3")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=n, Body=b"x" * 10)[
            "ETag"
        ]
        for n in (1, 2)
    ]

    def complete(parts):
        return s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload, MultipartUpload={"Parts": parts}
        )

    with pytest.raises(ClientError) as excinfo:
        complete([{"PartNumber": 2, "ETag": etags[1]}, {"PartNumber": 1, "ETag": etags[0]}])
    assert code_and_status(excinfo) == ("InvalidPartOrder", 400)
    with pytest.raises(ClientError) as excinfo:
        complete([{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}])
    assert code_and_status(excinfo) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as excinfo:
        complete([{"PartNumber": 3, "ETag": etags[0]}])
    assert code_and_status(excinfo) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as excinfo:
        complete([{"PartNumber": 1, "ETag": etags[0]}, {"PartNumber": 2, "ETag": etags[1]}])
    assert code_and_status(excinfo) == ("EntityTooSmall", 400)
    # A single small part is fine: the last part may be smaller than 5 MiB.
    assert complete([{"PartNumber": 1, "ETag": etags[0]}])["ETag"].endswith('-1"')
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x" * 10


def test_abort(client, bucket):
    s3 = client("s3")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"abc")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)
    with pytest.raises(ClientError) as excinfo:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)
    assert code_and_status(excinfo) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as excinfo:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"abc")
    assert code_and_status(excinfo) == ("NoSuchUpload", 404)


def test_upload_part_copy_ranges(client, bucket):
    s3 = client("s3")
    source = os.urandom(6 * MIB)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    copied = []
    for number, (first, last) in enumerate([(0, 5 * MIB - 1), (5 * MIB, 6 * MIB - 1)], 1):
        result = s3.upload_part_copy(
            Bucket=bucket, Key="dst", UploadId=upload, PartNumber=number,
            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes={first}-{last}",
        )  # fmt: skip
        part = source[first : last + 1]
        assert result["CopyPartResult"]["ETag"] == f'"{hashlib.md5(part).hexdigest()}"'
        copied.append({"PartNumber": number, "ETag": result["CopyPartResult"]["ETag"]})
    with pytest.raises(ClientError) as excinfo:
        s3.upload_part_copy(
            Bucket=bucket, Key="dst", UploadId=upload, PartNumber=3,
            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=0-{6 * MIB}",
        )  # fmt: skip
    assert code_and_status(excinfo) == ("InvalidArgument", 400)
    s3.complete_multipart_upload(
        Bucket=bucket, Key="dst", UploadId=upload, MultipartUpload={"Parts": copied}
    )
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == source


def test_checksum_upload(client, bucket):
    s3 = client("s3")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="SHA256")
    upload_id = upload["UploadId"]
    part = s3.upload_part(
        Bucket=bucket, Key="c", UploadId=upload_id, PartNumber=1, Body=b"abc",
        ChecksumAlgorithm="SHA256",
    )  # fmt: skip
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="c", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"],
                                    "ChecksumSHA256": part["ChecksumSHA256"]}]},
    )  # fmt: skip
    assert done["ChecksumSHA256"].endswith("-1")
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == done["ChecksumSHA256"]
    assert head["PartsCount"] == 1
