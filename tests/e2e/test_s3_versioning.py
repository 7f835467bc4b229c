"""S3 versioning end to end: version ids, delete markers, reads and deletes by version,
ListObjectVersions with markers, and the null version of suspended buckets."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def versioned(client):
    s3 = client("s3")
    name = f"ver-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return s3, name


def test_versions_and_delete_markers(versioned):
    s3, name = versioned
    v1 = s3.put_object(Bucket=name, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=name, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2 and v1 != "null"
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"two"
    old = s3.get_object(Bucket=name, Key="k", VersionId=v1)
    assert old["Body"].read() == b"one" and old["VersionId"] == v1
    deleted = s3.delete_object(Bucket=name, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=name, Key="k")
    error = excinfo.value.response
    assert error["Error"]["Code"] == "NoSuchKey"
    assert error["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as excinfo:
        s3.head_object(Bucket=name, Key="k", VersionId=marker)
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405
    assert "Contents" not in s3.list_objects_v2(Bucket=name)
    listing = s3.list_object_versions(Bucket=name)
    assert [v["VersionId"] for v in listing["Versions"]] == [v2, v1]
    assert [v["IsLatest"] for v in listing["Versions"]] == [False, False]
    assert listing["DeleteMarkers"][0]["VersionId"] == marker
    assert listing["DeleteMarkers"][0]["IsLatest"] is True
    # Deleting the marker brings the object back.
    gone = s3.delete_object(Bucket=name, Key="k", VersionId=marker)
    assert gone["DeleteMarker"] is True and gone["VersionId"] == marker
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"two"
    # Deleting a version for good.
    s3.delete_object(Bucket=name, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"one"
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=name, Key="k", VersionId=v2)
    assert excinfo.value.response["Error"]["Code"] == "NoSuchVersion"


def test_list_object_versions_pagination(versioned):
    s3, name = versioned
    expected = []
    for key in ("a", "b"):
        for n in range(3):
            expected.append((key, s3.put_object(Bucket=name, Key=key, Body=b"%d" % n)["VersionId"]))
    expected = [("a", v) for k, v in reversed(expected) if k == "a"] + [
        ("b", v) for k, v in reversed(expected) if k == "b"
    ]
    seen, kwargs = [], {}
    while True:
        page = s3.list_object_versions(Bucket=name, MaxKeys=2, **kwargs)
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        kwargs = {
            "KeyMarker": page["NextKeyMarker"],
            "VersionIdMarker": page["NextVersionIdMarker"],
        }
    assert seen == expected
    latest = s3.list_object_versions(Bucket=name, Prefix="b")["Versions"]
    assert [v["IsLatest"] for v in latest] == [True, False, False]


def test_suspended_null_version(versioned):
    s3, name = versioned
    kept = s3.put_object(Bucket=name, Key="k", Body=b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket=name, Key="k", Body=b"null 1")["VersionId"] == "null"
    assert s3.put_object(Bucket=name, Key="k", Body=b"null 2")["VersionId"] == "null"
    versions = s3.list_object_versions(Bucket=name)["Versions"]
    assert [v["VersionId"] for v in versions] == ["null", kept]  # the null version replaced
    assert s3.get_object(Bucket=name, Key="k", VersionId="null")["Body"].read() == b"null 2"
    deleted = s3.delete_object(Bucket=name, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] == "null"
    listing = s3.list_object_versions(Bucket=name)
    assert [v["VersionId"] for v in listing["Versions"]] == [kept]
    assert listing["DeleteMarkers"][0]["VersionId"] == "null"


def test_unversioned_bucket_has_no_version_ids(client):
    s3 = client("s3")
    name = f"plain-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    assert "VersionId" not in s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.put_object(Bucket=name, Key="k", Body=b"y")
    assert len(s3.list_object_versions(Bucket=name)["Versions"]) == 1
    assert s3.get_object(Bucket=name, Key="k", VersionId="null")["Body"].read() == b"y"
