"""The write protocol: blobs journalled until referenced, replaced blobs removed after
commit, leftovers of a crash collected at start-up, refused writes leave nothing."""

from __future__ import annotations

import hashlib

import pytest

from sandlot.config import Settings
from sandlot.platform import Platform
from sandlot.protocol import ServiceError, SpooledBody
from sandlot.services.s3.schema import GARBAGE, OBJECTS


def _blob_files(platform) -> list:
    return [p for p in platform.blobs.root.glob("??/*") if p.is_file()]


def test_overwrite_and_delete_remove_blobs(platform, s3):
    s3("CreateBucket", {"Bucket": "bkt1"})
    s3("PutObject", {"Bucket": "bkt1", "Key": "k", "Body": b"one"})
    s3("PutObject", {"Bucket": "bkt1", "Key": "k", "Body": b"two"})
    assert len(_blob_files(platform)) == 1
    s3("DeleteObject", {"Bucket": "bkt1", "Key": "k"})
    assert _blob_files(platform) == []
    assert platform.store.select(GARBAGE) == []


def test_versions_keep_their_blobs_until_deleted(platform, s3):
    s3("CreateBucket", {"Bucket": "bkt1"})
    s3("PutBucketVersioning", {"Bucket": "bkt1", "VersioningConfiguration": {"Status": "Enabled"}})
    v1 = s3("PutObject", {"Bucket": "bkt1", "Key": "k", "Body": b"one"})["VersionId"]
    s3("PutObject", {"Bucket": "bkt1", "Key": "k", "Body": b"two"})
    s3("DeleteObject", {"Bucket": "bkt1", "Key": "k"})
    assert len(_blob_files(platform)) == 2
    s3("DeleteObject", {"Bucket": "bkt1", "Key": "k", "VersionId": v1})
    assert len(_blob_files(platform)) == 1


def test_crash_leftovers_are_collected_at_start(tmp_path):
    data = tmp_path / "data"
    first = Platform(Settings(iam="off"), data)
    provider = first.provider("s3")
    # A crash after the blob became durable but before its row committed:
    orphan = first.blobs.new_id()
    first.store.put(GARBAGE, {"blob_id": orphan})
    source = first.blobs.temp_path()
    source.write_bytes(b"partial object")
    first.blobs.adopt(source, orphan)
    assert first.blobs.path(orphan).exists()
    assert provider is not None
    first.close()
    second = Platform(Settings(iam="off"), data)
    second.provider("s3")
    assert not second.blobs.path(orphan).exists()
    assert second.store.select(GARBAGE) == []
    second.close()


def test_refused_writes_store_nothing(platform, s3):
    s3("CreateBucket", {"Bucket": "bkt1"})
    s3("PutObject", {"Bucket": "bkt1", "Key": "k", "Body": b"v1", "IfNoneMatch": "*"})
    with pytest.raises(ServiceError) as excinfo:
        s3("PutObject", {"Bucket": "bkt1", "Key": "k", "Body": b"v2", "IfNoneMatch": "*"})
    assert excinfo.value.code == "PreconditionFailed"
    with pytest.raises(ServiceError) as excinfo:
        s3("PutObject", {"Bucket": "bkt1", "Key": "x", "Body": b"abc", "ChecksumCRC32": "AAAAAA=="})
    assert excinfo.value.code == "BadDigest"
    assert len(_blob_files(platform)) == 1
    assert len(platform.store.select(OBJECTS)) == 1
    assert platform.store.select(GARBAGE) == []
    assert list(platform.blobs.root.joinpath("tmp").iterdir()) == []


def test_spooled_body_is_adopted_and_its_trailer_checked(platform, s3):
    s3("CreateBucket", {"Bucket": "bkt1"})
    data = b"streamed body"
    path = platform.blobs.temp_path()
    path.write_bytes(data)
    crc = "k6/FHg=="  # not the CRC32 of data
    body = SpooledBody(path, len(data), hashlib.md5(data).hexdigest(),
                       hashlib.sha256(data).hexdigest(), {"crc32": "AAAAAA=="},
                       {"x-amz-checksum-crc32": crc})  # fmt: skip
    with pytest.raises(ServiceError) as excinfo:
        s3("PutObject", {"Bucket": "bkt1", "Key": "k", "Body": body, "ChecksumAlgorithm": "CRC32"})
    assert excinfo.value.code == "BadDigest"
    assert "CRC32" in excinfo.value.message
    path.write_bytes(data)
    body.trailers = {"x-amz-checksum-crc32": "AAAAAA=="}
    out = s3(
        "PutObject", {"Bucket": "bkt1", "Key": "k", "Body": body, "ChecksumAlgorithm": "CRC32"}
    )
    assert out["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert not path.exists()  # adopted, not copied
    got = s3("GetObject", {"Bucket": "bkt1", "Key": "k"})["Body"]
    with got.file as f:
        assert f.read() == data


def test_blob_store_adopts_a_file_in_place(platform):
    source = platform.blobs.temp_path()
    source.write_bytes(b"adopted")
    inode = source.stat().st_ino
    blob_id = platform.blobs.adopt(source)
    assert not source.exists()
    assert platform.blobs.path(blob_id).stat().st_ino == inode  # renamed, not copied
    assert platform.blobs.read(blob_id) == b"adopted"
