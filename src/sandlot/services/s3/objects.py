"""Object operations: Put, Get (ranges, conditions), Head, Delete, DeleteObjects, Copy,
and object tagging."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
from typing import Any
from urllib.parse import parse_qsl, unquote

from sandlot.protocol import ServiceError, checksums
from sandlot.protocol.http import FileBody
from sandlot.services.provider import RequestContext
from sandlot.services.s3.acl import acl_for_write
from sandlot.services.s3.base import (
    DEFAULT_CHECKSUM,
    MAX_PUT_BYTES,
    NULL_VERSION,
    Received,
    check_key,
    load_meta,
)
from sandlot.services.s3.buckets import MAX_OBJECT_TAGS, check_tags
from sandlot.services.s3.encryption import EncryptionOperations, response_members
from sandlot.services.s3.errors import (
    invalid_argument,
    invalid_request,
    malformed_xml,
    method_not_allowed,
    no_such_key,
    no_such_version,
    not_modified,
    precondition_failed,
)
from sandlot.services.s3.post import PostForm, read_post_form

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
MAX_METADATA_BYTES = 2048
MAX_DELETE_KEYS = 1000
MAX_PARTS = 1000  # parts GetObjectAttributes lists at a time
OBJECT_ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
# Members copied from a request into an object's stored metadata, and returned as they are.
CONTENT_MEMBERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage",
                   "CacheControl", "WebsiteRedirectLocation")  # fmt: skip
# GetObject's response-* overrides.
OVERRIDES = {"ResponseContentType": "ContentType", "ResponseContentEncoding": "ContentEncoding",
             "ResponseContentDisposition": "ContentDisposition",
             "ResponseContentLanguage": "ContentLanguage", "ResponseCacheControl": "CacheControl",
             "ResponseExpires": "Expires"}  # fmt: skip
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_VERSION_ID = re.compile(r"[A-Za-z0-9._-]{1,1024}")


def http_date(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC)


def object_meta(params: dict) -> dict:
    """The stored metadata of a new object, from a Put/Copy/CreateMultipartUpload request."""
    meta: dict[str, Any] = {}
    for member in CONTENT_MEMBERS:
        if params.get(member):
            meta[member] = params[member]
    encoding = meta.get("ContentEncoding")
    if encoding:  # aws-chunked is transfer framing, not the object's encoding
        kept = [e.strip() for e in encoding.split(",") if e.strip() not in ("aws-chunked", "")]
        meta["ContentEncoding"] = ", ".join(kept) if kept else None
        if not kept:
            del meta["ContentEncoding"]
    if params.get("Expires") is not None:
        meta["Expires"] = _epoch(params["Expires"])
    if params.get("StorageClass") and params["StorageClass"] != "STANDARD":
        meta["StorageClass"] = params["StorageClass"]
    user = params.get("Metadata") or {}
    if sum(len(k) + len(v) for k, v in user.items()) > MAX_METADATA_BYTES:
        raise ServiceError(
            "MetadataTooLarge",
            "Your metadata headers exceed the maximum allowed metadata size",
            400,
            MaxSizeAllowed=MAX_METADATA_BYTES,
        )
    if user:
        meta["Metadata"] = {k.lower(): v for k, v in user.items()}
    if params.get("Tagging"):
        meta["Tags"] = parse_tagging_header(params["Tagging"])
    return meta


def parse_tagging_header(text: str) -> list[dict]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        pairs = None
    if pairs is None or len({k for k, _ in pairs}) != len(pairs):
        raise invalid_argument(
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
            "parameters without tag name duplicates.",
            "x-amz-tagging",
            text,
        )
    return check_tags([{"Key": k, "Value": v} for k, v in pairs], MAX_OBJECT_TAGS)


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    return float(value)


def _etag_matches(etag: str, header: str) -> bool:
    wanted = [e.strip() for e in header.split(",")]
    bare = etag.strip('"')
    return any(w == "*" or w.strip('"') == bare for w in wanted)


def check_conditions(row: dict, params: dict, prefix: str = "If", *, copy: bool = False) -> None:
    """HTTP conditional request rules as S3 applies them (RFC 7232 precedence):
    If-Match beats If-Unmodified-Since (412), If-None-Match beats If-Modified-Since
    (304 for reads; 412 for copy sources)."""
    etag, modified = row["etag"], int(row["modified"])
    if_match = params.get(f"{prefix}Match")
    if if_match is not None:
        if not _etag_matches(etag, if_match):
            raise precondition_failed(_condition(prefix, "If-Match"))
    elif params.get(f"{prefix}UnmodifiedSince") is not None and modified > _epoch(
        params[f"{prefix}UnmodifiedSince"]
    ):
        raise precondition_failed(_condition(prefix, "If-Unmodified-Since"))
    if_none = params.get(f"{prefix}NoneMatch")
    unchanged = False
    condition = "If-None-Match"
    if if_none is not None:
        unchanged = _etag_matches(etag, if_none)
    elif params.get(f"{prefix}ModifiedSince") is not None:
        since = _epoch(params[f"{prefix}ModifiedSince"])
        unchanged = since <= dt.datetime.now(dt.UTC).timestamp() and modified <= since
        condition = "If-Modified-Since"
    if unchanged:
        if copy:
            raise precondition_failed(_condition(prefix, condition))
        raise not_modified({"ETag": etag, "Last-Modified": _rfc822(row["modified"])})


def _condition(prefix: str, header: str) -> str:
    return "x-amz-copy-source-" + header if prefix == "CopySourceIf" else header


def _rfc822(epoch: float) -> str:
    return http_date(epoch).strftime("%a, %d %b %Y %H:%M:%S GMT")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a ``Range`` header; None for the whole object.

    Unparseable or multi-range headers are ignored (the whole object), as S3 does; a
    range starting past the end answers 416 InvalidRange.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or (not match[1] and not match[2]):
        return None
    if match[1]:
        first = int(match[1])
        last = min(int(match[2]), size - 1) if match[2] else size - 1
        if match[2] and int(match[2]) < first:
            return None
    else:
        suffix = int(match[2])
        if suffix == 0:
            raise _invalid_range(header, size)
        first, last = max(size - suffix, 0), size - 1
    if first >= size:
        raise _invalid_range(header, size)
    return first, last


def _invalid_range(header: str, size: int) -> ServiceError:
    return ServiceError(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        RangeRequested=header,
        ActualObjectSize=size,
        headers={"Content-Range": f"bytes */{size}"},
    )


def parse_copy_source(source: str) -> tuple[str, str, str | None]:
    """(bucket, key, version id) of ``x-amz-copy-source`` (URL-encoded, optional "/")."""
    path, _, query = source.partition("?")
    version = None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "versionId":
            version = value
    path = unquote(path).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise invalid_argument("Invalid copy source object key", "x-amz-copy-source", source)
    return bucket, key, version


class ObjectOperations(EncryptionOperations):
    # -- reading helpers ------------------------------------------------------------------

    def resolve(
        self, bucket: dict, key: str, version_id: str | None, method: str | None = "GET"
    ) -> dict:
        """The version a read names: the current one, or ``version_id``; S3's errors for
        a missing key or version and for a delete marker (named by a request with HTTP
        ``method``, or by a copy's source when ``method`` is None)."""
        name = bucket["name"]
        if version_id is None:
            row = self.latest(name, key)
            if row is None:
                raise no_such_key(key)
            if row["marker"]:
                raise no_such_key(
                    key,
                    {"x-amz-delete-marker": "true", "x-amz-version-id": row["version_id"]},
                )
            return row
        if version_id != NULL_VERSION and not _VERSION_ID.fullmatch(version_id):
            raise invalid_argument("Invalid version id specified", "versionId", version_id)
        row = self.version(name, key, version_id)
        if row is None:
            raise no_such_version(key, version_id)
        if row["marker"]:
            if method is None:
                raise invalid_request(
                    "The source of a copy request may not specifically refer to a delete "
                    "marker by version id."
                )
            raise method_not_allowed(
                {
                    "x-amz-delete-marker": "true",
                    "x-amz-version-id": version_id,
                    "Last-Modified": _rfc822(row["modified"]),
                    "Allow": "DELETE",
                },
                method=method,
                resource_type="DeleteMarker",
            )
        return row

    def describe(self, bucket: dict, row: dict, params: dict) -> dict:
        """The header members GetObject/HeadObject answer for a version."""
        meta = load_meta(row)
        out: dict[str, Any] = {
            "ETag": row["etag"],
            "LastModified": http_date(row["modified"]),
            "ContentLength": row["size"],
            "AcceptRanges": "bytes",
            "ContentType": meta.get("ContentType") or DEFAULT_CONTENT_TYPE,
            "Metadata": meta.get("Metadata"),
            "StorageClass": meta.get("StorageClass"),
        }
        for member in CONTENT_MEMBERS[1:]:
            out[member] = meta.get(member)
        if meta.get("Expires") is not None:
            out["Expires"] = http_date(meta["Expires"])
        if bucket["versioning"]:
            out["VersionId"] = row["version_id"]
        if meta.get("Tags"):
            out["TagCount"] = len(meta["Tags"])
        if meta.get("Parts"):
            out["PartsCount"] = meta["Parts"]
        if row["latest"]:
            out["Expiration"] = self.expiration_of(bucket, row)
        out.update(self.lock_members(meta))
        out["ReplicationStatus"] = meta.get("ReplicationStatus")
        out.update(response_members(meta))
        if params.get("ChecksumMode") == "ENABLED":
            self.add_checksums(out, meta)
        for override, member in OVERRIDES.items():
            if params.get(override) is not None:
                value = params[override]
                out[member] = http_date(_epoch(value)) if member == "Expires" else value
        return out

    @staticmethod
    def add_checksums(out: dict, meta: dict) -> None:
        stored = meta.get("Checksums") or {}
        for algorithm, value in stored.items():
            out[checksums.MEMBERS[algorithm]] = value
        if stored:
            composite = any("-" in v for v in stored.values())
            out["ChecksumType"] = "COMPOSITE" if composite else "FULL_OBJECT"

    # -- operations -----------------------------------------------------------------------

    async def put_object(self, ctx: RequestContext, params: dict) -> dict:
        return await self._put(ctx, params, "s3:ObjectCreated:Put")

    def post_form(self, bucket: str, fields: dict[str, str], filename: str | None) -> PostForm:
        """POST Object's form read as S3 reads it (policy, conditions, the fields that
        set the object), before its file is received; the gateway asks this first."""
        return read_post_form(bucket, fields, filename, now=self.clock())

    async def post_object(self, ctx: RequestContext, params: dict) -> dict:
        """POST Object (browser form uploads): PutObject's write, notified as a Post."""
        return await self._put(ctx, params, "s3:ObjectCreated:Post")

    async def _put(self, ctx: RequestContext, params: dict, event: str) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        key = check_key(params["Key"])
        acl = acl_for_write(ctx, bucket, params)
        meta = object_meta(params)
        if acl is not None:
            meta["ACL"] = acl
        meta.update(self.lock_for_write(bucket, params))
        meta["SSE"], sealing_key = await self.encryption_for_write(ctx, bucket, key, params)
        received = await self.receive(params.get("Body"), params, DEFAULT_CHECKSUM)
        meta["Checksums"] = received.checksums
        if sealing_key is not None:
            received.path, iv = await asyncio.to_thread(
                self.seal_received, received.path, sealing_key
            )
            meta["SSE"]["Sealed"] = [iv]
        blob_id = await self.adopt(received)
        guard = write_conditions(key, params)
        row = self.write_version(
            bucket,
            key,
            {"size": received.size, "etag": received.etag, "meta": meta},
            blob_id=blob_id,
            guard=guard,
            notify=(ctx, event),
        )
        out = {"ETag": row["etag"], **response_members(meta)}
        out["Expiration"] = self.expiration_of(bucket, row)
        self.add_checksums(out, meta)
        if bucket["versioning"]:
            out["VersionId"] = row["version_id"]
        return out

    async def get_object(self, ctx: RequestContext, params: dict) -> dict:
        return await self._read(ctx, params, with_body=True)

    async def head_object(self, ctx: RequestContext, params: dict) -> dict:
        return await self._read(ctx, params, with_body=False)

    async def _read(self, ctx: RequestContext, params: dict, *, with_body: bool) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        key = params["Key"]
        for _attempt in range(3):
            method = "GET" if with_body else "HEAD"
            row = self.resolve(bucket, key, params.get("VersionId"), method)
            check_conditions(row, params)
            meta = load_meta(row)
            object_key = await self.check_read(ctx, bucket, row, meta, params, data=with_body)
            size = row["size"]
            window = parse_range(params.get("Range"), size)
            if params.get("PartNumber") is not None:
                window = self._part_window(row, params["PartNumber"])
            out = self.describe(bucket, row, params)
            first, last = window if window else (0, size - 1)
            length = last - first + 1 if size else 0
            if window is not None:
                out["ContentRange"] = f"bytes {first}-{last}/{size}"
                out["ContentLength"] = length
                for member in checksums.MEMBERS.values():
                    out.pop(member, None)
                out.pop("ChecksumType", None)
            if not with_body:
                return out
            file = self.open_object(row, meta, object_key)
            if file is None:  # overwritten or deleted since the row was read: read again
                continue
            out["Body"] = FileBody(file, first, length)
            return out
        raise no_such_key(key)

    def _part_window(self, row: dict, part_number: int) -> tuple[int, int] | None:
        meta = load_meta(row)
        sizes = meta.get("PartSizes") or [row["size"]]
        if not 1 <= part_number <= len(sizes):
            raise ServiceError(
                "InvalidPartNumber", "The requested partnumber is not satisfiable", 416
            )
        first = sum(sizes[: part_number - 1])
        if not meta.get("PartSizes"):
            return None
        return first, first + sizes[part_number - 1] - 1

    def delete_object(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        conditions = (
            params.get("IfMatch"),
            params.get("IfMatchLastModifiedTime"),
            params.get("IfMatchSize"),
        )
        return self._delete(
            ctx,
            bucket,
            params["Key"],
            params.get("VersionId"),
            conditions,
            bypass=bool(params.get("BypassGovernanceRetention")),
        )

    def _delete(
        self,
        ctx: RequestContext,
        bucket: dict,
        key: str,
        version_id: str | None,
        conditions: tuple = (None, None, None),
        *,
        bypass: bool = False,
    ) -> dict:
        name = bucket["name"]
        self._check_delete_conditions(name, key, *conditions)
        if version_id is not None:
            if version_id != NULL_VERSION and not _VERSION_ID.fullmatch(version_id):
                raise invalid_argument("Invalid version id specified", "versionId", version_id)
            row = self.version(name, key, version_id)
            if row is not None:
                self.check_removable(bucket, row, bypass)
                self.remove_version(row, bucket=bucket, ctx=ctx)
            out: dict[str, Any] = {"VersionId": version_id}
            if row is not None and row["marker"]:
                out["DeleteMarker"] = True
            return out
        if bucket["versioning"] is None:
            for row in self.versions_of(name, key):
                self.remove_version(row, bucket=bucket, ctx=ctx)
            return {}
        row = self.write_version(
            bucket,
            key,
            {"marker": True},
            blob_id=None,
            notify=(ctx, "s3:ObjectRemoved:DeleteMarkerCreated"),
        )
        return {"DeleteMarker": True, "VersionId": row["version_id"]}

    def _check_delete_conditions(
        self, name: str, key: str, etag: str | None, modified: Any, size: int | None
    ) -> None:
        """Conditional deletes, evaluated against the current version (AWS: "only
        apply to the current version"). With If-Match, a missing object (or a delete
        marker) is NoSuchKey; the modification-time and size conditions alone let a
        delete of a missing object succeed, as AWS documents."""
        if etag is None and modified is None and size is None:
            return
        current = self.latest(name, key)
        if current is None or current["marker"]:
            if etag is not None:
                raise no_such_key(key)
            return
        if etag is not None and not _etag_matches(current["etag"], etag):
            raise precondition_failed("If-Match")
        if modified is not None and int(current["modified"]) != int(_epoch(modified)):
            raise precondition_failed("x-amz-if-match-last-modified-time")
        if size is not None and int(current["size"]) != int(size):
            raise precondition_failed("x-amz-if-match-size")

    def delete_objects(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        request = params.get("Delete") or {}
        objects = request.get("Objects") or []
        if not objects or len(objects) > MAX_DELETE_KEYS:
            raise malformed_xml()
        deleted, errors = [], []
        for item in objects:
            key, version_id = item["Key"], item.get("VersionId")
            conditions = (item.get("ETag"), item.get("LastModifiedTime"), item.get("Size"))
            try:
                result = self._delete(
                    ctx,
                    bucket,
                    key,
                    version_id,
                    conditions,
                    bypass=bool(params.get("BypassGovernanceRetention")),
                )
            except ServiceError as error:
                errors.append(
                    {
                        "Key": key,
                        "VersionId": version_id,
                        "Code": error.code,
                        "Message": error.message,
                    }
                )
                continue
            entry: dict[str, Any] = {"Key": key}
            if version_id is not None:
                entry["VersionId"] = version_id
                if result.get("DeleteMarker"):
                    entry["DeleteMarker"] = True
                    entry["DeleteMarkerVersionId"] = version_id
            elif result.get("DeleteMarker"):
                entry["DeleteMarker"] = True
                entry["DeleteMarkerVersionId"] = result["VersionId"]
            deleted.append(entry)
        out: dict[str, Any] = {"Errors": errors or None}
        if not request.get("Quiet"):
            out["Deleted"] = deleted
        return out

    async def copy_object(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        key = check_key(params["Key"])
        acl = acl_for_write(ctx, bucket, params)  # a copy has its own ACL, not its source's
        source_bucket_name, source_key, source_version = parse_copy_source(params["CopySource"])
        source_bucket = self.bucket(
            ctx, source_bucket_name, params.get("ExpectedSourceBucketOwner")
        )
        source = self.resolve(source_bucket, source_key, source_version, method=None)
        check_conditions(source, params, "CopySourceIf", copy=True)
        source_meta = load_meta(source)
        source_secret = await self.check_read(
            ctx, source_bucket, source, source_meta, params, prefix="CopySourceSSECustomer"
        )
        if source["size"] > MAX_PUT_BYTES:
            raise invalid_request(
                "The specified copy source is larger than the maximum allowable size for a "
                f"copy source: {MAX_PUT_BYTES}"
            )
        directive = params.get("MetadataDirective") or "COPY"
        tagging = params.get("TaggingDirective") or "COPY"
        if directive not in ("COPY", "REPLACE") or tagging not in ("COPY", "REPLACE"):
            raise invalid_argument(
                "Unknown metadata directive.", "x-amz-metadata-directive", directive
            )
        same = source_bucket["name"] == bucket["name"] and source_key == key
        if (
            same
            and directive == "COPY"
            and source["latest"]
            and not any(
                params.get(m)
                for m in (
                    "StorageClass",
                    "WebsiteRedirectLocation",
                    "ServerSideEncryption",
                    "SSEKMSKeyId",
                    "SSECustomerKey",
                    "ChecksumAlgorithm",
                )
            )
        ):
            raise invalid_request(
                "This copy request is illegal because it is trying to copy an object to "
                "itself without changing the object's metadata, storage class, website "
                "redirect location or encryption attributes."
            )
        if directive == "REPLACE":
            meta = object_meta({**params, "Tagging": None})
        else:
            meta = {
                k: v for k, v in source_meta.items() if k not in ("Tags", "Checksums", "SSE", "ACL")
            }
            meta.pop("Parts", None)
            meta.pop("PartSizes", None)
            meta.pop("PartChecksums", None)
        if tagging == "REPLACE":
            if params.get("Tagging"):
                meta["Tags"] = parse_tagging_header(params["Tagging"])
        elif source_meta.get("Tags"):
            meta["Tags"] = source_meta["Tags"]
        # Object Lock settings are the copy's own (given, or the destination's default).
        meta.pop("Retention", None)
        meta.pop("LegalHold", None)
        meta.update(self.lock_for_write(bucket, params, whole_body=False))
        if acl is not None:
            meta["ACL"] = acl
        # The copy is encrypted as the destination says (request or bucket default), not
        # as its source was.
        meta["SSE"], sealing_key = await self.encryption_for_write(ctx, bucket, key, params)
        algorithm = (params.get("ChecksumAlgorithm") or "").lower()
        stored = source_meta.get("Checksums") or {}
        path = await asyncio.to_thread(
            self.plain_copy, source, source_meta, source_secret, 0, source["size"]
        )
        wanted = {a for a in stored if "-" not in stored[a]}
        if algorithm in checksums.ALGORITHMS:
            wanted = {algorithm}
        if not wanted:  # a composite (multipart) checksum does not carry over: S3's default
            wanted = {DEFAULT_CHECKSUM}
        computed = {a: stored[a] for a in wanted if a in stored and "-" not in stored[a]}
        missing = [a for a in wanted if a not in computed]
        md5 = source["etag"].strip('"')
        if "-" in md5:  # the copy is one object: its ETag is the MD5 of its bytes
            missing.append("md5")
        if missing:
            computed.update(await asyncio.to_thread(checksums.of_file, path, missing))
        if "md5" in computed:
            md5 = base64.b64decode(computed.pop("md5")).hex()
        meta["Checksums"] = computed
        if sealing_key is not None:
            path, iv = await asyncio.to_thread(self.seal_received, path, sealing_key)
            meta["SSE"]["Sealed"] = [iv]
        received = Received(path, source["size"], md5)
        guard = write_conditions(key, params)  # the destination's If-Match/If-None-Match
        blob_id = await self.adopt(received)
        row = self.write_version(
            bucket,
            key,
            {"size": source["size"], "etag": received.etag, "meta": meta},
            blob_id=blob_id,
            guard=guard,
            notify=(ctx, "s3:ObjectCreated:Copy"),
        )
        result: dict[str, Any] = {"ETag": row["etag"], "LastModified": http_date(row["modified"])}
        self.add_checksums(result, meta)
        out: dict[str, Any] = {"CopyObjectResult": result, **response_members(meta)}
        out["Expiration"] = self.expiration_of(bucket, row)
        if bucket["versioning"]:
            out["VersionId"] = row["version_id"]
        if source_bucket["versioning"]:
            out["CopySourceVersionId"] = source["version_id"]
        return out

    async def get_object_attributes(self, ctx: RequestContext, params: dict) -> dict:
        """The attributes asked for (``x-amz-object-attributes``) of a version: ETag (bare,
        as S3 answers it here), checksum (a composite one without its ``-N``), size,
        storage class and, for a multipart object, its parts (each with its checksum
        when the object's is COMPOSITE), paged like ListParts."""
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        wanted = {a.strip() for a in params.get("ObjectAttributes") or [] if a.strip()}
        unknown = sorted(wanted - set(OBJECT_ATTRIBUTES))
        if not wanted or unknown:
            raise invalid_argument(
                "Invalid attribute name specified.",
                "x-amz-object-attributes",
                unknown[0] if unknown else "",
            )
        row = self.resolve(bucket, params["Key"], params.get("VersionId"))
        meta = load_meta(row)
        await self.check_read(ctx, bucket, row, meta, params, data=False)
        out: dict[str, Any] = {"LastModified": http_date(row["modified"])}
        if bucket["versioning"]:
            out["VersionId"] = row["version_id"]
        if "ETag" in wanted:
            out["ETag"] = row["etag"].strip('"')
        if "ObjectSize" in wanted:
            out["ObjectSize"] = row["size"]
        if "StorageClass" in wanted:
            out["StorageClass"] = meta.get("StorageClass") or "STANDARD"
        stored = meta.get("Checksums") or {}
        if "Checksum" in wanted and stored:
            checksum: dict[str, Any] = {
                checksums.MEMBERS[a]: v.split("-")[0] for a, v in stored.items()
            }
            composite = any("-" in v for v in stored.values())
            checksum["ChecksumType"] = "COMPOSITE" if composite else "FULL_OBJECT"
            out["Checksum"] = checksum
        if "ObjectParts" in wanted and meta.get("Parts"):
            out["ObjectParts"] = _object_parts(meta, params)
        return out

    # -- tagging --------------------------------------------------------------------------

    def put_object_tagging(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        row = self.resolve(bucket, params["Key"], params.get("VersionId"))
        tags = check_tags((params.get("Tagging") or {}).get("TagSet") or [], MAX_OBJECT_TAGS)
        meta = load_meta(row)
        meta["Tags"] = tags
        self.update_meta(row, meta)
        return self._version_out(bucket, row)

    def get_object_tagging(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        row = self.resolve(bucket, params["Key"], params.get("VersionId"))
        return {**self._version_out(bucket, row), "TagSet": load_meta(row).get("Tags") or []}

    def delete_object_tagging(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        row = self.resolve(bucket, params["Key"], params.get("VersionId"))
        meta = load_meta(row)
        meta.pop("Tags", None)
        self.update_meta(row, meta)
        return self._version_out(bucket, row)

    @staticmethod
    def _version_out(bucket: dict, row: dict) -> dict:
        return {"VersionId": row["version_id"]} if bucket["versioning"] else {}


def _object_parts(meta: dict, params: dict) -> dict:
    """GetObjectAttributes' ObjectParts of a multipart object, from ``PartNumberMarker``,
    at most ``MaxParts`` (1,000 by default)."""
    sizes = meta.get("PartSizes") or []
    listed = meta.get("PartChecksums") or []
    algorithm = next(iter(meta.get("Checksums") or {}), None)
    marker = params.get("PartNumberMarker") or 0
    limit = min(params.get("MaxParts") or MAX_PARTS, MAX_PARTS)
    after = [(number, sizes[i], value) for i, (number, value) in enumerate(listed)]
    after = [part for part in after if part[0] > marker]
    page = after[:limit]
    parts = [
        {"PartNumber": number, "Size": size, checksums.MEMBERS[algorithm]: value}
        for number, size, value in page
    ]
    out: dict[str, Any] = {
        "TotalPartsCount": len(sizes),
        "PartNumberMarker": marker,
        "MaxParts": limit,
        "IsTruncated": len(after) > limit,
        "Parts": parts or None,
    }
    if page:
        out["NextPartNumberMarker"] = page[-1][0]
    return out


def write_conditions(key: str, params: dict):
    """Conditional writes (If-None-Match: *, If-Match: etag) of PutObject, CopyObject
    and CompleteMultipartUpload, checked against the current version inside the writing
    transaction: the check and the write are one step, so no other write can come
    between them."""
    if_none, if_match = params.get("IfNoneMatch"), params.get("IfMatch")
    if if_none is None and if_match is None:
        return None
    if if_none is not None and (if_none.strip() != "*" or if_match is not None):
        # AWS accepts only "*", and not together with If-Match.
        raise ServiceError(
            "NotImplemented",
            "A header you provided implies functionality that is not implemented",
            501,
            Header="If-None-Match" if if_match is None else "If-Match",
        )

    def guard(current: dict | None) -> None:
        if if_none is not None and current is not None:
            raise precondition_failed("If-None-Match")
        if if_match is not None:
            if current is None:
                raise no_such_key(key)
            if not _etag_matches(current["etag"], if_match):
                raise precondition_failed("If-Match")

    return guard
