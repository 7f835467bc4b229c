"""S3's defaults of today's AWS end to end, with boto3 and the AWS CLI: every new object
is encrypted (SSE-S3 unless the bucket's default encryption or the request says
otherwise, SSE-KMS through KMS), and every upload carries a full-object checksum
(CRC64NVME when the client sends none); multipart checksum types and their rules."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
import zlib

import boto3
import pytest
from awscrt import checksums as crt
from botocore.config import Config

from tests.e2e.conftest import aws, error_of

MIB = 1024 * 1024


def _b64(value: int, width: int) -> str:
    return base64.b64encode(value.to_bytes(width, "big")).decode()


def crc64nvme(data: bytes) -> str:
    return _b64(crt.crc64nvme(data), 8)


def crc32(data: bytes) -> str:
    return _b64(zlib.crc32(data), 4)


@pytest.fixture
def plain_s3(server):
    """A client that sends no checksum (botocore's "when_required")."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            retries={"max_attempts": 1},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


# -- default encryption -----------------------------------------------------------------


def test_objects_are_sse_s3_by_default(client, bucket):
    s3 = client("s3")
    put = s3.put_object(Bucket=bucket, Key="a", Body=b"data")
    assert put["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="a")["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="a")["ServerSideEncryption"] == "AES256"
    copy = s3.copy_object(Bucket=bucket, Key="b", CopySource=f"{bucket}/a")
    assert copy["ServerSideEncryption"] == "AES256"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert upload["ServerSideEncryption"] == "AES256"
    part = s3.upload_part(
        Bucket=bucket, Key="m", UploadId=upload["UploadId"], PartNumber=1, Body=b"x"
    )
    assert part["ServerSideEncryption"] == "AES256"
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="m",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert done["ServerSideEncryption"] == "AES256"


def test_default_bucket_encryption_configuration(client, bucket):
    s3 = client("s3")
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": False,
            "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
        }
    ]
    missing = error_of(s3.get_bucket_encryption, Bucket=f"nope-{uuid.uuid4().hex[:8]}")
    assert (missing["Code"], missing["HTTPStatusCode"]) == ("NoSuchBucket", 404)


def test_bucket_encryption_with_kms_is_stored_and_honoured(client, bucket):
    s3, kms = client("s3"), client("kms")
    key = kms.create_key()["KeyMetadata"]
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key["Arn"],
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key["Arn"],
    }
    assert rule["BucketKeyEnabled"] is True
    # SSE-C blocking is a bucket-level setting: a rule that does not name it keeps it.
    assert rule["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}
    put = s3.put_object(Bucket=bucket, Key="secret", Body=b"payload")
    assert put["ServerSideEncryption"] == "aws:kms"
    assert put["SSEKMSKeyId"] == key["Arn"]
    assert put["BucketKeyEnabled"] is True
    got = s3.get_object(Bucket=bucket, Key="secret")
    assert got["Body"].read() == b"payload"
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    # S3 asks KMS to decrypt the object's data key on every read, as AWS does.
    kms.disable_key(KeyId=key["KeyId"])
    refused = error_of(s3.get_object, Bucket=bucket, Key="secret")
    assert (refused["Code"], refused["HTTPStatusCode"]) == ("KMS.DisabledException", 400)
    assert s3.head_object(Bucket=bucket, Key="secret")["SSEKMSKeyId"] == key["Arn"]  # no KMS
    written = error_of(s3.put_object, Bucket=bucket, Key="other", Body=b"x")
    assert written["Code"] == "KMS.DisabledException"
    kms.enable_key(KeyId=key["KeyId"])
    assert s3.get_object(Bucket=bucket, Key="secret")["Body"].read() == b"payload"
    # DeleteBucketEncryption returns the bucket to the default: SSE-S3.
    s3.delete_bucket_encryption(Bucket=bucket)
    assert s3.put_object(Bucket=bucket, Key="after", Body=b"x")["ServerSideEncryption"] == "AES256"


def test_sse_kms_objects_are_sealed_under_their_data_key(server, client, bucket):
    s3 = client("s3")
    marker = os.urandom(24).hex().encode()
    body = os.urandom(5 * MIB) + marker
    s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="aws:kms")
    blobs = [p for p in (server.data_dir / "blobs").rglob("*") if p.is_file()]
    assert blobs and not any(marker in p.read_bytes() for p in blobs)
    got = s3.get_object(Bucket=bucket, Key="k", Range=f"bytes={5 * MIB - 3}-")
    assert got["Body"].read() == body[5 * MIB - 3 :]
    # A multipart SSE-KMS upload: each part sealed as it arrives.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m", ServerSideEncryption="aws:kms")
    parts = []
    for number, data in ((1, body), (2, marker)):
        part = s3.upload_part(
            Bucket=bucket, Key="m", UploadId=upload["UploadId"], PartNumber=number, Body=data
        )
        assert part["ServerSideEncryption"] == "aws:kms"
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="m", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    assert done["SSEKMSKeyId"] == upload["SSEKMSKeyId"]
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == body + marker
    blobs = [p for p in (server.data_dir / "blobs").rglob("*") if p.is_file()]
    assert not any(marker in p.read_bytes() for p in blobs)


def test_sse_kms_per_request_with_the_aws_managed_key(client, bucket):
    s3 = client("s3")
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"v", ServerSideEncryption="aws:kms")
    assert put["ServerSideEncryption"] == "aws:kms"
    assert put["SSEKMSKeyId"].startswith("arn:aws:kms:us-east-1:")
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["SSEKMSKeyId"] == put["SSEKMSKeyId"]
    missing = error_of(
        s3.put_object,
        Bucket=bucket,
        Key="k2",
        Body=b"v",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="arn:aws:kms:us-east-1:000000000000:key/" + str(uuid.uuid4()),
    )
    assert (missing["Code"], missing["HTTPStatusCode"]) == ("KMS.NotFoundException", 400)
    stray = error_of(s3.put_object, Bucket=bucket, Key="k3", Body=b"v", SSEKMSKeyId="alias/aws/s3")
    assert (stray["Code"], stray["HTTPStatusCode"]) == ("InvalidArgument", 400)


def test_invalid_bucket_encryption_is_refused(client, bucket):
    s3 = client("s3")
    bad = error_of(
        s3.put_bucket_encryption,
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "AES256",
                        "KMSMasterKeyID": "alias/x",
                    }
                }
            ]
        },
    )
    assert (bad["Code"], bad["HTTPStatusCode"]) == ("InvalidArgument", 400)


# -- default checksums ------------------------------------------------------------------


def test_upload_without_a_checksum_gets_crc64nvme(plain_s3, bucket):
    body = b"no checksum from the client" * 100
    put = plain_s3.put_object(Bucket=bucket, Key="k", Body=body)
    assert put["ChecksumCRC64NVME"] == crc64nvme(body)
    assert put["ChecksumType"] == "FULL_OBJECT"
    head = plain_s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == crc64nvme(body)
    assert head["ChecksumType"] == "FULL_OBJECT"
    assert "ChecksumCRC64NVME" not in plain_s3.head_object(Bucket=bucket, Key="k")


def test_boto3_default_crc32_round_trips(client, bucket):
    s3 = client("s3")
    body = b"boto3 sends CRC32 when supported" * 50
    put = s3.put_object(Bucket=bucket, Key="k", Body=body)
    assert put["ChecksumCRC32"] == crc32(body)
    assert put["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == body  # botocore validates the CRC32 while reading
    assert (got["ChecksumCRC32"], got["ChecksumType"]) == (crc32(body), "FULL_OBJECT")
    for algorithm, member in (("CRC32C", "ChecksumCRC32C"), ("CRC64NVME", "ChecksumCRC64NVME")):
        put = s3.put_object(Bucket=bucket, Key=algorithm, Body=body, ChecksumAlgorithm=algorithm)
        got = s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
        assert got["Body"].read() == body and got[member] == put[member]


def test_multipart_checksum_types(client, plain_s3, bucket):
    s3 = client("s3")
    for algorithm, kind, message in (
        ("CRC64NVME", "COMPOSITE", "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."),
        ("SHA256", "FULL_OBJECT", "The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm."),
    ):  # fmt: skip
        refused = error_of(
            s3.create_multipart_upload,
            Bucket=bucket,
            Key="k",
            ChecksumAlgorithm=algorithm,
            ChecksumType=kind,
        )
        assert (refused["Code"], refused["Message"]) == ("InvalidRequest", message)
    assert (
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC64NVME")[
            "ChecksumType"
        ]
        == "FULL_OBJECT"
    )
    assert (
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")[
            "ChecksumType"
        ]
        == "COMPOSITE"
    )
    # CRC32 FULL_OBJECT: the client states the whole object's CRC32 on completion.
    one, two = b"a" * (5 * MIB), b"b" * 1000
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    parts = []
    for number, data in ((1, one), (2, two)):
        part = s3.upload_part(
            Bucket=bucket,
            Key="full",
            UploadId=upload,
            PartNumber=number,
            Body=data,
            ChecksumAlgorithm="CRC32",
        )
        parts.append(
            {"PartNumber": number, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]}
        )
    wrong = error_of(
        s3.complete_multipart_upload,
        Bucket=bucket,
        Key="full",
        UploadId=upload,
        MultipartUpload={"Parts": parts},
        ChecksumCRC32=crc32(b"something else"),
        ChecksumType="FULL_OBJECT",
    )
    assert (wrong["Code"], wrong["HTTPStatusCode"]) == ("BadDigest", 400)
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="full",
        UploadId=upload,
        MultipartUpload={"Parts": parts},
        ChecksumCRC32=crc32(one + two),
        ChecksumType="FULL_OBJECT",
    )
    assert (done["ChecksumCRC32"], done["ChecksumType"]) == (crc32(one + two), "FULL_OBJECT")
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (crc32(one + two), "FULL_OBJECT")
    # A copy is one object: the MD5 of its bytes as ETag, no "-N".
    copy = s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/full")
    assert copy["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(one + two).hexdigest()}"'
    assert s3.head_object(Bucket=bucket, Key="copy")["ETag"] == copy["CopyObjectResult"]["ETag"]
    # A part's checksum is the upload's algorithm's; a composite completion lists them.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="sha", ChecksumAlgorithm="SHA256")
    mismatch = error_of(
        s3.upload_part, Bucket=bucket, Key="sha", UploadId=upload["UploadId"], PartNumber=1,
        Body=b"x", ChecksumAlgorithm="CRC32",
    )  # fmt: skip
    assert (mismatch["Code"], mismatch["Message"]) == (
        "InvalidRequest",
        "Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum "
        "Type: crc32",
    )
    part = s3.upload_part(
        Bucket=bucket, Key="sha", UploadId=upload["UploadId"], PartNumber=1, Body=b"x",
        ChecksumAlgorithm="SHA256",
    )  # fmt: skip
    unlisted = error_of(
        s3.complete_multipart_upload,
        Bucket=bucket,
        Key="sha",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert (unlisted["Code"], unlisted["Message"]) == (
        "InvalidRequest",
        "The upload was created using a sha256 checksum. The complete request referenced "
        "parts without this checksum.",
    )
    # A multipart upload created without an algorithm gets the default: CRC64NVME, full object.
    upload = plain_s3.create_multipart_upload(Bucket=bucket, Key="plain")["UploadId"]
    part = plain_s3.upload_part(Bucket=bucket, Key="plain", UploadId=upload, PartNumber=1, Body=two)
    assert "ChecksumCRC64NVME" not in part  # none declared: S3 echoes no part checksum
    done = plain_s3.complete_multipart_upload(
        Bucket=bucket,
        Key="plain",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert (done["ChecksumCRC64NVME"], done["ChecksumType"]) == (crc64nvme(two), "FULL_OBJECT")


def test_aws_cli_sees_the_defaults(server, bucket, tmp_path):
    source = tmp_path / "f.txt"
    source.write_bytes(b"from the cli")
    put = aws(server.endpoint, "s3api", "put-object", "--bucket", bucket, "--key", "f",
              "--body", str(source))  # fmt: skip
    assert put["ServerSideEncryption"] == "AES256"
    head = aws(server.endpoint, "s3api", "head-object", "--bucket", bucket, "--key", "f",
               "--checksum-mode", "ENABLED")  # fmt: skip
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ChecksumType"] == "FULL_OBJECT"
    attributes = aws(server.endpoint, "s3api", "get-object-attributes", "--bucket", bucket,
                     "--key", "f", "--object-attributes", "Checksum", "ObjectSize")  # fmt: skip
    assert attributes["ObjectSize"] == len(b"from the cli")
    assert attributes["Checksum"]["ChecksumType"] == "FULL_OBJECT"
    config = aws(server.endpoint, "s3api", "get-bucket-encryption", "--bucket", bucket)
    rule = config["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


ALL_ATTRIBUTES = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def test_get_object_attributes(client, plain_s3, bucket):
    s3 = client("s3")
    body = b"attributes" * 10
    put = s3.put_object(Bucket=bucket, Key="one", Body=body)
    got = s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=ALL_ATTRIBUTES)
    assert got["ETag"] == put["ETag"].strip('"')  # bare here, as S3 answers it
    assert got["Checksum"] == {"ChecksumCRC32": crc32(body), "ChecksumType": "FULL_OBJECT"}
    assert (got["ObjectSize"], got["StorageClass"]) == (len(body), "STANDARD")
    assert "ObjectParts" not in got
    plain_s3.put_object(Bucket=bucket, Key="default", Body=body)
    got = s3.get_object_attributes(Bucket=bucket, Key="default", ObjectAttributes=["Checksum"])
    assert got["Checksum"] == {"ChecksumCRC64NVME": crc64nvme(body), "ChecksumType": "FULL_OBJECT"}
    assert "ETag" not in got and "ObjectSize" not in got
    # A composite multipart object: its checksum without "-N", its parts with theirs.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m", ChecksumAlgorithm="SHA256")
    parts = []
    for number, data in ((1, b"a" * (5 * MIB)), (3, b"tail")):
        part = s3.upload_part(
            Bucket=bucket, Key="m", UploadId=upload["UploadId"], PartNumber=number, Body=data,
            ChecksumAlgorithm="SHA256",
        )  # fmt: skip
        parts.append(
            {"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]}
        )
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="m", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    got = s3.get_object_attributes(
        Bucket=bucket, Key="m", ObjectAttributes=ALL_ATTRIBUTES, MaxParts=1
    )
    assert got["Checksum"] == {
        "ChecksumSHA256": done["ChecksumSHA256"].split("-")[0],
        "ChecksumType": "COMPOSITE",
    }
    listed = got["ObjectParts"]
    assert (listed["TotalPartsCount"], listed["IsTruncated"], listed["NextPartNumberMarker"]) == (
        2,
        True,
        1,
    )
    assert listed["Parts"] == [
        {"PartNumber": 1, "Size": 5 * MIB, "ChecksumSHA256": parts[0]["ChecksumSHA256"]}
    ]
    rest = s3.get_object_attributes(
        Bucket=bucket, Key="m", ObjectAttributes=["ObjectParts"], PartNumberMarker=1
    )["ObjectParts"]
    assert rest["IsTruncated"] is False
    assert rest["Parts"] == [
        {"PartNumber": 3, "Size": 4, "ChecksumSHA256": parts[1]["ChecksumSHA256"]}
    ]
    bad = error_of(s3.get_object_attributes, Bucket=bucket, Key="one", ObjectAttributes=["Colour"])
    assert (bad["Code"], bad["HTTPStatusCode"]) == ("InvalidArgument", 400)
    missing = error_of(
        s3.get_object_attributes, Bucket=bucket, Key="nope", ObjectAttributes=["ETag"]
    )
    assert (missing["Code"], missing["HTTPStatusCode"]) == ("NoSuchKey", 404)
