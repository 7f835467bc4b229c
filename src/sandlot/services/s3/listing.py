"""ListObjectsV2, ListObjects and ListObjectVersions: keyset range scans over the
(bucket, listed, key) and (bucket, key, rank) indexes, in UTF-8 binary key order
(SQLite's BINARY collation over UTF-8 text is exactly that order).

A delimiter rolls keys up into common prefixes; after each common prefix the scan
jumps past every key under it (the next query starts at the prefix's successor), so a
page costs the same whether a folder holds ten keys or a million.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from sandlot.services.provider import RequestContext
from sandlot.services.s3.base import S3Base, load_meta
from sandlot.services.s3.buckets import canonical_id
from sandlot.services.s3.errors import invalid_argument
from sandlot.services.s3.objects import http_date
from sandlot.services.s3.schema import OBJECTS

MAX_KEYS = 1000
_MAX_CODE_POINT = 0x10FFFF


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``
    (None: no bound, e.g. for "")."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < _MAX_CODE_POINT:
            following = last + 1
            if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters
                following = 0xE000
            return "".join(chars) + chr(following)
    return None


def _max_keys(params: dict) -> int:
    value = params.get("MaxKeys")
    if value is None:
        return MAX_KEYS
    if value < 0:
        raise invalid_argument(
            "Argument maxKeys must be an integer between 0 and 2147483647",
            "maxKeys",
            str(value),
        )
    return min(value, MAX_KEYS)


def _encoder(params: dict):
    kind = params.get("EncodingType")
    if kind is None:
        return lambda text: text
    if kind != "url":
        raise invalid_argument(
            "Invalid Encoding Method specified in Request", "encoding-type", kind
        )
    return lambda text: None if text is None else quote_plus(text, safe="/")


def _encode_token(position: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def _decode_token(token: str) -> list:
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
        if isinstance(position, list) and len(position) == 2 and isinstance(position[0], str):
            return position
    except (ValueError, TypeError):
        pass
    raise invalid_argument(
        "The continuation token provided is incorrect", "continuation-token", token
    )


class Page:
    """One page of a listing: the rows and common prefixes, in key order."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any]] = []  # ("row", row) or ("prefix", text)
        self.truncated = False

    @property
    def count(self) -> int:
        return len(self.entries)

    def last(self) -> tuple[str, Any]:
        return self.entries[-1]


class ListingOperations(S3Base):
    # -- the scan -------------------------------------------------------------------------

    def scan(
        self,
        bucket: str,
        *,
        prefix: str,
        delimiter: str | None,
        limit: int,
        after: str | None = None,
        skip_prefix: str | None = None,
        versions: bool = False,
        after_rank: int | None = None,
    ) -> Page:
        """Up to ``limit`` entries of ``bucket`` under ``prefix``, strictly after key
        ``after`` (and, for versions, after rank ``after_rank`` of that key), skipping
        every key under ``skip_prefix`` (a common prefix already returned)."""
        page = Page()
        if limit == 0:
            return page
        lowest: str | None = prefix
        beyond = successor(prefix) if prefix else None
        if skip_prefix is not None:
            jump = successor(skip_prefix)
            if jump is None:
                return page
            lowest = max(lowest, jump)
        where: dict[str, Any] = {"bucket": bucket}
        order = ("key", "rank") if versions else ("key",)
        if not versions:
            where["listed"] = 1
        position: dict[str, Any] | None = None
        if after is not None:
            position = {"key": after, "rank": after_rank if after_rank is not None else 2**62}
        while True:
            want = limit - page.count + 1  # one more than needed: is there a next page?
            rows = self.store.select(
                OBJECTS,
                where,
                order_by=order,
                after={k: position[k] for k in order} if position else None,
                bounds={"key": (lowest or None, beyond)},
                limit=min(want, MAX_KEYS + 1),
            )
            if not rows:
                return page
            jumped = False
            for row in rows:
                key = row["key"]
                if delimiter:
                    cut = key.find(delimiter, len(prefix))
                    if cut >= 0:
                        common = key[: cut + len(delimiter)]
                        if page.count == limit:
                            page.truncated = True
                            return page
                        page.entries.append(("prefix", common))
                        jump = successor(common)
                        if jump is None:
                            return page
                        lowest, position, jumped = jump, None, True
                        break
                if page.count == limit:
                    page.truncated = True
                    return page
                page.entries.append(("row", row))
                position = {"key": key, "rank": row["rank"]}
            if not jumped and len(rows) < min(want, MAX_KEYS + 1):
                return page

    # -- ListObjectsV2 --------------------------------------------------------------------

    def list_objects_v2(self, ctx: RequestContext, params: dict) -> dict:
        q = _Query.of(self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner")), params)
        token = params.get("ContinuationToken")
        after, skip = params.get("StartAfter") or None, None
        if token:
            marker, is_prefix = _decode_token(token)
            after, skip = (None, marker) if is_prefix else (marker, None)
        page = self.scan(
            q.bucket["name"],
            prefix=q.prefix,
            delimiter=q.delimiter,
            limit=q.limit,
            after=after,
            skip_prefix=skip,
        )
        owner = {"ID": canonical_id(q.bucket["account"])} if params.get("FetchOwner") else None
        out = self._page_out(page, q.encode, owner)
        out.update(
            **q.common_out(params),
            KeyCount=page.count,
            ContinuationToken=token,
            StartAfter=q.encode(params["StartAfter"]) if params.get("StartAfter") else None,
            IsTruncated=page.truncated,
        )
        if page.truncated:
            kind, value = page.last()
            marker = value if kind == "prefix" else value["key"]
            out["NextContinuationToken"] = _encode_token([marker, kind == "prefix"])
        return out

    def _page_out(self, page: Page, encode, owner: dict | None) -> dict:
        contents, prefixes = [], []
        for kind, value in page.entries:
            if kind == "prefix":
                prefixes.append({"Prefix": encode(value)})
            else:
                contents.append(_content(value, encode, owner))
        return {"Contents": contents or None, "CommonPrefixes": prefixes or None}

    # -- ListObjects ----------------------------------------------------------------------

    def list_objects(self, ctx: RequestContext, params: dict) -> dict:
        q = _Query.of(self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner")), params)
        marker = params.get("Marker") or None
        after, skip = marker, None
        if _is_common_prefix(marker, q.prefix, q.delimiter):
            after, skip = None, marker
        page = self.scan(
            q.bucket["name"],
            prefix=q.prefix,
            delimiter=q.delimiter,
            limit=q.limit,
            after=after,
            skip_prefix=skip,
        )
        out = self._page_out(page, q.encode, {"ID": canonical_id(q.bucket["account"])})
        out.update(
            **q.common_out(params),
            Marker=q.encode(marker or ""),
            IsTruncated=page.truncated,
        )
        if page.truncated and q.delimiter:
            kind, value = page.last()
            out["NextMarker"] = q.encode(value if kind == "prefix" else value["key"])
        return out

    # -- ListObjectVersions ---------------------------------------------------------------

    def list_object_versions(self, ctx: RequestContext, params: dict) -> dict:
        q = _Query.of(self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner")), params)
        key_marker = params.get("KeyMarker") or None
        version_marker = params.get("VersionIdMarker") or None
        if version_marker and not key_marker:
            raise invalid_argument(
                "A version-id marker cannot be specified without a key marker.",
                "version-id-marker",
                version_marker,
            )
        after, after_rank, skip = key_marker, None, None
        if _is_common_prefix(key_marker, q.prefix, q.delimiter):
            after, skip = None, key_marker
        elif key_marker and version_marker:
            row = self.version(q.bucket["name"], key_marker, version_marker)
            if row is None:
                raise invalid_argument(
                    "Invalid version id specified", "version-id-marker", version_marker
                )
            after_rank = row["rank"]
        page = self.scan(
            q.bucket["name"],
            prefix=q.prefix,
            delimiter=q.delimiter,
            limit=q.limit,
            after=after,
            skip_prefix=skip,
            versions=True,
            after_rank=after_rank,
        )
        owner = {"ID": canonical_id(q.bucket["account"])}
        versions, markers, prefixes = [], [], []
        for kind, value in page.entries:
            if kind == "prefix":
                prefixes.append({"Prefix": q.encode(value)})
                continue
            entry = {
                "Key": q.encode(value["key"]),
                "VersionId": value["version_id"],
                "IsLatest": bool(value["latest"]),
                "LastModified": http_date(value["modified"]),
                "Owner": owner,
            }
            if value["marker"]:
                markers.append(entry)
            else:
                meta = load_meta(value)
                entry.update(
                    ETag=value["etag"],
                    Size=value["size"],
                    StorageClass=meta.get("StorageClass") or "STANDARD",
                    ChecksumAlgorithm=[a.upper() for a in meta.get("Checksums") or {}] or None,
                )
                versions.append(entry)
        out: dict[str, Any] = {
            **q.common_out(params),
            "KeyMarker": q.encode(key_marker or ""),
            "VersionIdMarker": version_marker or "",
            "IsTruncated": page.truncated,
            "Versions": versions or None,
            "DeleteMarkers": markers or None,
            "CommonPrefixes": prefixes or None,
        }
        if page.truncated:
            kind, value = page.last()
            if kind == "prefix":
                out["NextKeyMarker"] = q.encode(value)
            else:
                out["NextKeyMarker"] = q.encode(value["key"])
                out["NextVersionIdMarker"] = value["version_id"]
        return out


@dataclass(frozen=True, slots=True)
class _Query:
    """What the three listings share: the bucket and the request's prefix, delimiter,
    page size and key encoding."""

    bucket: dict
    encode: Callable[[str | None], str | None]
    limit: int
    prefix: str
    delimiter: str | None

    @classmethod
    def of(cls, bucket: dict, params: dict) -> _Query:
        return cls(
            bucket,
            _encoder(params),
            _max_keys(params),
            params.get("Prefix") or "",
            params.get("Delimiter") or None,
        )

    def common_out(self, params: dict) -> dict[str, Any]:
        """The members every listing answers with."""
        return {
            "Name": self.bucket["name"],
            "Prefix": self.encode(self.prefix),
            "Delimiter": self.encode(self.delimiter) if self.delimiter else None,
            "MaxKeys": self.limit,
            "EncodingType": params.get("EncodingType"),
        }


def _is_common_prefix(marker: str | None, prefix: str, delimiter: str | None) -> bool:
    """Whether a marker names a common prefix (so every key under it is skipped)."""
    if not marker or not delimiter or not marker.startswith(prefix):
        return False
    rest = marker[len(prefix) :]
    return rest.endswith(delimiter) and rest.find(delimiter) == len(rest) - len(delimiter)


def _content(row: dict, encode, owner: dict | None) -> dict:
    meta = load_meta(row) if row["meta"] and row["meta"] != "{}" else {}
    entry: dict[str, Any] = {
        "Key": encode(row["key"]),
        "LastModified": http_date(row["modified"]),
        "ETag": row["etag"],
        "Size": row["size"],
        "StorageClass": meta.get("StorageClass") or "STANDARD",
    }
    stored = meta.get("Checksums")
    if stored:
        entry["ChecksumAlgorithm"] = [a.upper() for a in stored]
        composite = any("-" in v for v in stored.values())
        entry["ChecksumType"] = "COMPOSITE" if composite else "FULL_OBJECT"
    if owner is not None:
        entry["Owner"] = owner
    return entry
