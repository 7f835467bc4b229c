"""ListObjectsV2 / ListObjects end to end: prefixes, delimiters, pagination, start-after,
URL encoding and UTF-8 binary key order."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

KEYS = ["a.txt", "b/1", "b/2", "b/c/3", "c d/4", "dir/x+y", "z", "Zed", "é", "日本/語", "~tilde"]


@pytest.fixture(scope="module")
def listed(server):
    from tests.e2e.conftest import make_client

    s3 = make_client(server.endpoint, "s3")
    name = f"list-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    for key in KEYS:
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
    return s3, name


def _utf8_sorted(keys):
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def test_all_keys_in_utf8_binary_order(listed):
    s3, name = listed
    out = s3.list_objects_v2(Bucket=name)
    assert [c["Key"] for c in out["Contents"]] == _utf8_sorted(KEYS)
    assert out["KeyCount"] == len(KEYS)
    assert out["IsTruncated"] is False
    assert out["Contents"][0]["Size"] == len(out["Contents"][0]["Key"].encode())


def test_prefix_and_delimiter(listed):
    s3, name = listed
    out = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == _utf8_sorted(
        ["b/", "c d/", "dir/", "日本/"]
    )
    assert [c["Key"] for c in out["Contents"]] == _utf8_sorted(["a.txt", "z", "Zed", "é", "~tilde"])
    assert out["KeyCount"] == 9
    out = s3.list_objects_v2(Bucket=name, Prefix="b/", Delimiter="/")
    assert [c["Key"] for c in out["Contents"]] == ["b/1", "b/2"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/c/"]
    assert "Contents" not in s3.list_objects_v2(Bucket=name, Prefix="nothing")


def test_pagination_with_continuation_and_start_after(listed):
    s3, name = listed
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"ContinuationToken": token} if token else {}
        out = s3.list_objects_v2(Bucket=name, MaxKeys=3, Delimiter="/", **kwargs)
        pages += 1
        assert out["KeyCount"] <= 3
        seen += [c["Key"] for c in out.get("Contents", [])]
        seen += [p["Prefix"] for p in out.get("CommonPrefixes", [])]
        if not out["IsTruncated"]:
            break
        token = out["NextContinuationToken"]
    assert pages == 3
    assert sorted(seen) == sorted(
        ["a.txt", "z", "Zed", "é", "~tilde", "b/", "c d/", "dir/", "日本/"]
    )
    out = s3.list_objects_v2(Bucket=name, StartAfter="c d/4")
    assert [c["Key"] for c in out["Contents"]] == _utf8_sorted(KEYS)[6:]
    with pytest.raises(ClientError) as excinfo:
        s3.list_objects_v2(Bucket=name, ContinuationToken="garbage!")
    assert excinfo.value.response["Error"]["Code"] == "InvalidArgument"


def test_list_objects_v1(listed):
    s3, name = listed
    out = s3.list_objects(Bucket=name, MaxKeys=2)
    assert [c["Key"] for c in out["Contents"]] == _utf8_sorted(KEYS)[:2]
    assert out["IsTruncated"] is True and "NextMarker" not in out
    out = s3.list_objects(Bucket=name, Marker=_utf8_sorted(KEYS)[1], MaxKeys=2)
    assert [c["Key"] for c in out["Contents"]] == _utf8_sorted(KEYS)[2:4]
    out = s3.list_objects(Bucket=name, Delimiter="/", MaxKeys=3)
    assert out["IsTruncated"] is True
    assert out["NextMarker"] == "b/"
    out = s3.list_objects(Bucket=name, Delimiter="/", Marker="b/", MaxKeys=1)
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["c d/"]


def test_max_keys_zero_and_paginator(listed):
    s3, name = listed
    out = s3.list_objects_v2(Bucket=name, MaxKeys=0)
    assert out["KeyCount"] == 0 and "Contents" not in out
    keys = [
        c["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=name, PaginationConfig={"PageSize": 4}
        )
        for c in page.get("Contents", [])
    ]
    assert keys == _utf8_sorted(KEYS)
