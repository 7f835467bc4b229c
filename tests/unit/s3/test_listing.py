"""Listing: the prefix successor, and scans checked against a brute-force model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sandlot.services.s3.listing import successor

# Small alphabets make shared prefixes, delimiters and multi-byte ordering likely.
KEY_CHARS = st.sampled_from(["a", "b", "/", "-", "é", "日", "\U0001f600", "\x7f", "~"])
KEYS = st.text(KEY_CHARS, min_size=1, max_size=6)


def _utf8(key: str) -> bytes:
    return key.encode("utf-8")


@given(st.text(KEY_CHARS, min_size=1, max_size=5), st.text(KEY_CHARS, max_size=5), KEYS)
def test_successor_bounds_exactly_the_prefixed_strings(prefix, rest, other):
    bound = successor(prefix)
    assert _utf8(prefix + rest) < _utf8(bound)
    if _utf8(other) >= _utf8(prefix) and not other.startswith(prefix):
        assert _utf8(other) >= _utf8(bound)


def test_successor_edge_cases():
    assert successor("") is None
    assert successor("a") == "b"
    assert successor("a\U0010ffff") == "b"
    assert successor("\ud7ff") == "\ue000"  # surrogates are skipped


def _model(keys, prefix, delimiter, after):
    """What ListObjectsV2 must return, computed naively."""
    entries = []
    for key in sorted(set(keys), key=_utf8):
        if not key.startswith(prefix) or (after is not None and _utf8(key) <= _utf8(after)):
            continue
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                common = key[: cut + len(delimiter)]
                if common not in entries:
                    entries.append(common)
                continue
        entries.append(key)
    return entries


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(KEYS, min_size=0, max_size=25),
    prefix=st.sampled_from(["", "a", "a/", "é", "b-"]),
    delimiter=st.sampled_from([None, "/", "-"]),
    page=st.integers(1, 4),
)
def test_paginated_listing_matches_the_model(tmp_path_factory, keys, prefix, delimiter, page):
    import asyncio
    import uuid

    from sandlot.config import Settings
    from sandlot.iam.principal import Principal
    from sandlot.platform import Platform

    platform = Platform(Settings(iam="off"), tmp_path_factory.mktemp("list"))
    try:

        def call(operation, params):
            return asyncio.run(
                platform.call("s3", operation, params, principal=Principal.root("000000000000"),
                              region="us-east-1")
            )  # fmt: skip

        bucket = f"b-{uuid.uuid4().hex[:10]}"
        call("CreateBucket", {"Bucket": bucket})
        for key in set(keys):
            call("PutObject", {"Bucket": bucket, "Key": key, "Body": b""})
        seen, token, pages = [], None, 0
        while True:
            params = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page}
            if delimiter:
                params["Delimiter"] = delimiter
            if token:
                params["ContinuationToken"] = token
            out = call("ListObjectsV2", params)
            pages += 1
            entries = [c["Key"] for c in out["Contents"] or []]
            entries += [p["Prefix"] for p in out["CommonPrefixes"] or []]
            assert out["KeyCount"] == len(entries) <= page
            seen += sorted(entries, key=_utf8)
            if not out["IsTruncated"]:
                break
            token = out["NextContinuationToken"]
        assert seen == _model(keys, prefix, delimiter, None)
        # ListObjects v1 with markers walks the same entries.
        seen, marker = [], None
        while True:
            params = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page}
            if delimiter:
                params["Delimiter"] = delimiter
            if marker:
                params["Marker"] = marker
            out = call("ListObjects", params)
            entries = [c["Key"] for c in out["Contents"] or []]
            entries += [p["Prefix"] for p in out["CommonPrefixes"] or []]
            entries.sort(key=_utf8)
            seen += entries
            if not out["IsTruncated"]:
                break
            marker = out.get("NextMarker") or entries[-1]
        assert seen == _model(keys, prefix, delimiter, None)
        # So does ListObjectVersions (one version per key here) with its two markers.
        seen, markers = [], {}
        while True:
            params = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page, **markers}
            if delimiter:
                params["Delimiter"] = delimiter
            out = call("ListObjectVersions", params)
            entries = [v["Key"] for v in out["Versions"] or []]
            entries += [p["Prefix"] for p in out["CommonPrefixes"] or []]
            seen += sorted(entries, key=_utf8)
            if not out["IsTruncated"]:
                break
            markers = {"KeyMarker": out["NextKeyMarker"]}
            if out.get("NextVersionIdMarker"):
                markers["VersionIdMarker"] = out["NextVersionIdMarker"]
        assert seen == _model(keys, prefix, delimiter, None)
    finally:
        platform.close()
