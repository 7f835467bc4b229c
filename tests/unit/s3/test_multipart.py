"""ListMultipartUploads paging and roll-up, and completion that replaces a version."""

from __future__ import annotations

import pytest

from sandlot.protocol import ServiceError


def test_list_multipart_uploads_pages_and_rolls_up(s3):
    s3("CreateBucket", {"Bucket": "mpu-list"})
    ids = {}
    for key in ("a/1", "a/2", "b", "c d", "c d"):
        upload = s3("CreateMultipartUpload", {"Bucket": "mpu-list", "Key": key})
        ids.setdefault(key, []).append(upload["UploadId"])
    seen, params = [], {"Bucket": "mpu-list", "MaxUploads": 2}
    while True:
        out = s3("ListMultipartUploads", params)
        seen += [(u["Key"], u["UploadId"]) for u in out["Uploads"] or []]
        if not out["IsTruncated"]:
            break
        params = {**params, "KeyMarker": out["NextKeyMarker"],
                  "UploadIdMarker": out["NextUploadIdMarker"]}  # fmt: skip
    assert seen == [(k, u) for k in ("a/1", "a/2", "b", "c d") for u in ids[k]]
    out = s3("ListMultipartUploads", {"Bucket": "mpu-list", "Delimiter": "/"})
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["a/"]
    assert [u["Key"] for u in out["Uploads"]] == ["b", "c d", "c d"]
    out = s3("ListMultipartUploads", {"Bucket": "mpu-list", "Prefix": "c", "EncodingType": "url"})
    assert [u["Key"] for u in out["Uploads"]] == ["c+d", "c+d"]


def test_part_numbers_and_replaced_parts(platform, s3):
    s3("CreateBucket", {"Bucket": "mpu-parts"})
    upload = s3("CreateMultipartUpload", {"Bucket": "mpu-parts", "Key": "k"})["UploadId"]
    with pytest.raises(ServiceError) as excinfo:
        s3("UploadPart", {"Bucket": "mpu-parts", "Key": "k", "UploadId": upload,
                          "PartNumber": 10001, "Body": b"x"})  # fmt: skip
    assert excinfo.value.code == "InvalidArgument"
    s3("UploadPart", {"Bucket": "mpu-parts", "Key": "k", "UploadId": upload, "PartNumber": 1,
                      "Body": b"first"})  # fmt: skip
    etag = s3("UploadPart", {"Bucket": "mpu-parts", "Key": "k", "UploadId": upload,
                             "PartNumber": 1, "Body": b"second"})["ETag"]  # fmt: skip
    parts = s3("ListParts", {"Bucket": "mpu-parts", "Key": "k", "UploadId": upload})["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in parts] == [(1, etag)]
    blobs = [p for p in platform.blobs.root.glob("??/*") if p.is_file()]
    assert len(blobs) == 1  # the replaced part's blob is gone
    s3("CompleteMultipartUpload", {"Bucket": "mpu-parts", "Key": "k", "UploadId": upload,
       "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": etag}]}})  # fmt: skip
    blobs = [p for p in platform.blobs.root.glob("??/*") if p.is_file()]
    assert len(blobs) == 1  # the object's; the part's was released
    body = s3("GetObject", {"Bucket": "mpu-parts", "Key": "k"})["Body"]
    with body.file as f:
        assert f.read() == b"second"
