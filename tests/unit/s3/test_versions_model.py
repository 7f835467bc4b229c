"""Versioning checked against a model: random puts, deletes, deletes by version and
versioning changes; after each step every key's versions, flags and current body
match the model's."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from sandlot.config import Settings
from sandlot.iam.principal import Principal
from sandlot.platform import Platform
from sandlot.protocol import ServiceError

KEYS = ["k1", "k2"]
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(KEYS), st.binary(max_size=8)),
        st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none()),
        st.tuples(st.just("delete_version"), st.sampled_from(KEYS), st.integers(0, 3)),
        st.tuples(st.just("versioning"), st.sampled_from(["Enabled", "Suspended"]), st.none()),
    ),
    max_size=14,
)


@settings(max_examples=80, deadline=None)
@given(steps=STEPS)
def test_versions_follow_the_model(tmp_path_factory, steps):
    platform = Platform(Settings(iam="off"), tmp_path_factory.mktemp("ver"))
    root = Principal.root("000000000000")

    def call(operation, params):
        return asyncio.run(platform.call("s3", operation, params, principal=root,
                                         region="us-east-1"))  # fmt: skip

    try:
        bucket = f"v-{uuid.uuid4().hex[:10]}"
        call("CreateBucket", {"Bucket": bucket})
        status = None
        model: dict[str, list[tuple[str, bool, bytes | None]]] = {k: [] for k in KEYS}
        for op, arg, value in steps:
            if op == "versioning":
                call("PutBucketVersioning",
                     {"Bucket": bucket, "VersioningConfiguration": {"Status": arg}})  # fmt: skip
                status = arg
                continue
            versions = model[arg]
            if op == "put":
                out = call("PutObject", {"Bucket": bucket, "Key": arg, "Body": value})
                vid = out.get("VersionId", "null")
                assert (vid == "null") == (status != "Enabled")
                versions[:] = [v for v in versions if vid != "null" or v[0] != "null"]
                versions.insert(0, (vid, False, value))
            elif op == "delete":
                out = call("DeleteObject", {"Bucket": bucket, "Key": arg})
                if status is None:
                    versions.clear()
                else:
                    vid = out["VersionId"]
                    assert out["DeleteMarker"] is True
                    versions[:] = [v for v in versions if vid != "null" or v[0] != "null"]
                    versions.insert(0, (vid, True, None))
            elif versions:
                vid = versions[value % len(versions)][0]
                call("DeleteObject", {"Bucket": bucket, "Key": arg, "VersionId": vid})
                versions[:] = [v for v in versions if v[0] != vid]
            _check(call, bucket, model)
    finally:
        platform.close()


def _check(call, bucket, model):
    listing = call("ListObjectVersions", {"Bucket": bucket})
    found: dict[str, list] = {k: [] for k in KEYS}
    for entry in (listing["Versions"] or []) + (listing["DeleteMarkers"] or []):
        marker = "ETag" not in entry
        found[entry["Key"]].append((entry["LastModified"], entry["VersionId"], marker,
                                    entry["IsLatest"]))  # fmt: skip
    listed = {c["Key"] for c in call("ListObjectsV2", {"Bucket": bucket})["Contents"] or []}
    for key, versions in model.items():
        # ListObjectVersions lists a key's versions newest first: Versions then markers
        # are merged here by the order the model keeps.
        ids = [v[0] for v in versions]
        assert sorted(v[1] for v in found[key]) == sorted(ids)
        latest = [v[1] for v in found[key] if v[3]]
        assert latest == ids[:1]
        current = versions[0] if versions else None
        assert (key in listed) == (current is not None and not current[1])
        try:
            body = call("GetObject", {"Bucket": bucket, "Key": key})["Body"]
        except ServiceError as error:
            assert error.code == "NoSuchKey"
            assert current is None or current[1]
            continue
        with body.file as f:
            f.seek(body.offset)
            assert f.read(body.length) == current[2]
