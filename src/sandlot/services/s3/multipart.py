"""Multipart uploads: create, upload (and copy) parts, complete, abort, list.

Parts are blobs of their own; completion concatenates them into the object's blob
(in the kernel where it can, off the event loop) and, in one transaction, writes the
object version and drops the upload and its parts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import quote, quote_plus

from sandlot.protocol import ServiceError, checksums
from sandlot.services.provider import RequestContext
from sandlot.services.s3.acl import acl_for_write
from sandlot.services.s3.base import (
    DEFAULT_CHECKSUM,
    Received,
    check_key,
    claimed_checksums,
    load_meta,
)
from sandlot.services.s3.buckets import canonical_id
from sandlot.services.s3.encryption import EncryptionOperations, response_members
from sandlot.services.s3.errors import (
    invalid_argument,
    invalid_request,
    malformed_xml,
    no_such_upload,
)
from sandlot.services.s3.objects import (
    check_conditions,
    http_date,
    object_meta,
    parse_copy_source,
    write_conditions,
)
from sandlot.services.s3.schema import GARBAGE, PARTS, UPLOADS

MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000
MAX_PARTS_LISTED = 1000
_CHECKSUM_TYPES = ("COMPOSITE", "FULL_OBJECT")
# Full-object checksums of a multipart upload exist only for the CRCs (they combine
# across parts); CRC64NVME exists only as a full-object checksum.
_FULL_OBJECT = ("crc32", "crc32c", "crc64nvme")
_COMPOSITE = ("crc32", "crc32c", "sha1", "sha256")


def _checksum_type(algorithm: str, given: str | None) -> str:
    """The checksum type of a new upload with ``algorithm``, checked as S3 checks it."""
    if given is not None and given not in _CHECKSUM_TYPES:
        raise invalid_argument("Invalid checksum type", "x-amz-checksum-type", given)
    kind = given or ("FULL_OBJECT" if algorithm == "crc64nvme" else "COMPOSITE")
    if algorithm not in (_FULL_OBJECT if kind == "FULL_OBJECT" else _COMPOSITE):
        raise invalid_request(
            f"The {kind} checksum type cannot be used with the {algorithm} checksum algorithm."
        )
    return kind


def _part_number(value: int) -> int:
    if not 1 <= value <= MAX_PART_NUMBER:
        raise invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive",
            "partNumber",
            str(value),
        )
    return value


def _same_etag(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip('"') == b.strip('"')


class MultipartOperations(EncryptionOperations):
    def _upload(self, bucket: dict, key: str, upload_id: str) -> dict:
        row = self.store.get(UPLOADS, upload_id)
        if row is None or row["bucket"] != bucket["name"] or row["key"] != key:
            raise no_such_upload(upload_id)
        return row

    async def create_multipart_upload(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        key = check_key(params["Key"])
        acl = acl_for_write(ctx, bucket, params)
        meta = object_meta(params)
        if acl is not None:
            meta["ACL"] = acl
        algorithm = (params.get("ChecksumAlgorithm") or "").lower()
        if algorithm in checksums.ALGORITHMS:
            meta["ChecksumAlgorithm"] = algorithm
            meta["ChecksumType"] = _checksum_type(algorithm, params.get("ChecksumType"))
        # Parts are sealed as they arrive: the KMS data key is decrypted for each part
        # (AWS: multipart SSE-KMS uploads need kms:Decrypt), SSE-C parts bring the key.
        meta["SSE"], _ = await self.encryption_for_write(ctx, bucket, key, params)
        meta.update(self.lock_for_write(bucket, params, whole_body=False))
        upload_id = secrets.token_urlsafe(48)
        self.store.put(
            UPLOADS,
            {
                "upload_id": upload_id,
                "bucket": bucket["name"],
                "key": key,
                "initiated": self.clock(),
                "meta": json.dumps(meta),
            },
        )
        out: dict[str, Any] = {
            "Bucket": bucket["name"],
            "Key": key,
            "UploadId": upload_id,
            **response_members(meta),
        }
        if algorithm in checksums.ALGORITHMS:
            out["ChecksumAlgorithm"] = algorithm.upper()
            out["ChecksumType"] = meta["ChecksumType"]
        return out

    async def upload_part(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        upload = self._upload(bucket, params["Key"], params["UploadId"])
        number = _part_number(params["PartNumber"])
        upload_meta = load_meta(upload)
        self._check_part_key(upload_meta, params)
        sealing_key = await self.object_key(
            ctx, bucket, upload["key"], upload_meta.get("SSE") or {}, params
        )
        expected = upload_meta.get("ChecksumAlgorithm")
        stated = [a for a in claimed_checksums(params, params.get("Body")) if a != expected]
        if expected and stated:  # a part's checksum is the upload's algorithm's
            raise invalid_request(
                f"Checksum Type mismatch occurred, expected checksum Type: {expected}, "
                f"actual checksum Type: {stated[0]}"
            )
        # Each part gets the upload's algorithm's checksum (the default CRC64NVME when it
        # has none): completion combines or composes them into the object's checksum.
        algorithm = upload_meta.get("ChecksumAlgorithm") or DEFAULT_CHECKSUM
        received = await self.receive(params.get("Body"), params, algorithm)
        if algorithm not in received.checksums:  # the client stated another algorithm
            value = await asyncio.to_thread(checksums.of_file, received.path, [algorithm])
            received.checksums.update(value)
        out = {"ETag": received.etag, **response_members(upload_meta)}
        shown = set(claimed_checksums(params, params.get("Body"))) | {expected}
        for name, value in received.checksums.items():
            if name in shown:  # the default checksum of a part is not echoed, as S3
                out[checksums.MEMBERS[name]] = value
        await self._store_part(upload, number, received, sealing_key)
        return out

    async def _store_part(
        self, upload: dict, number: int, received: Received, sealing_key: bytes | None
    ) -> dict:
        iv = None
        if sealing_key is not None:
            received.path, iv = await asyncio.to_thread(
                self.seal_received, received.path, sealing_key
            )
        blob_id = await self.adopt(received)
        row = {
            "upload_id": upload["upload_id"],
            "part_number": number,
            "blob_id": blob_id,
            "size": received.size,
            "etag": received.etag,
            "modified": self.clock(),
            "checksums": json.dumps(received.checksums),
            "iv": iv,
        }
        unreferenced = []
        try:
            with self.store.transaction():
                if self.store.get(UPLOADS, upload["upload_id"]) is None:
                    raise no_such_upload(upload["upload_id"])
                old = self.store.get(PARTS, upload["upload_id"], number)
                if old is not None:
                    unreferenced.append(old["blob_id"])
                self.store.put(PARTS, row)
                self.store.delete(GARBAGE, blob_id)
                self._journal(unreferenced)
        except BaseException:
            self.release([blob_id])
            raise
        self.release(unreferenced)
        return row

    async def upload_part_copy(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        upload = self._upload(bucket, params["Key"], params["UploadId"])
        number = _part_number(params["PartNumber"])
        source_bucket_name, source_key, source_version = parse_copy_source(params["CopySource"])
        source_bucket = self.bucket(
            ctx, source_bucket_name, params.get("ExpectedSourceBucketOwner")
        )
        source = self.resolve(source_bucket, source_key, source_version, method=None)
        check_conditions(source, params, "CopySourceIf", copy=True)
        upload_meta = load_meta(upload)
        self._check_part_key(upload_meta, params)
        sealing_key = await self.object_key(
            ctx, bucket, upload["key"], upload_meta.get("SSE") or {}, params
        )
        source_meta = load_meta(source)
        source_object_key = await self.check_read(
            ctx, source_bucket, source, source_meta, params, prefix="CopySourceSSECustomer"
        )
        first, length = 0, source["size"]
        text = params.get("CopySourceRange")
        if text:
            first, length = _copy_range(text, source["size"])
        algorithm = upload_meta.get("ChecksumAlgorithm")

        def copy() -> Received:
            path = self.plain_copy(source, source_meta, source_object_key, first, length)
            wanted = ["md5", algorithm or DEFAULT_CHECKSUM]
            sums = checksums.of_file(path, wanted)
            md5 = base64.b64decode(sums.pop("md5")).hex()
            return Received(path, length, md5, sums)

        received = await asyncio.to_thread(copy)
        row = await self._store_part(upload, number, received, sealing_key)
        result: dict[str, Any] = {"ETag": row["etag"], "LastModified": http_date(row["modified"])}
        if algorithm:
            result[checksums.MEMBERS[algorithm]] = received.checksums[algorithm]
        out: dict[str, Any] = {"CopyPartResult": result, **response_members(upload_meta)}
        if source_bucket["versioning"]:
            out["CopySourceVersionId"] = source["version_id"]
        return out

    async def complete_multipart_upload(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        key = params["Key"]
        upload = self._upload(bucket, key, params["UploadId"])
        requested = (params.get("MultipartUpload") or {}).get("Parts") or []
        if not requested:
            raise malformed_xml()
        guard = write_conditions(key, params)
        stored = {
            p["part_number"]: p
            for p in self.store.select(PARTS, {"upload_id": upload["upload_id"]})
        }
        chosen = self._check_parts(requested, stored)
        meta = load_meta(upload)
        algorithm = meta.pop("ChecksumAlgorithm", None)
        checksum_type = meta.pop("ChecksumType", None)
        if checksum_type == "COMPOSITE" and any(
            not part.get(checksums.MEMBERS[algorithm]) for part in requested
        ):  # a composite checksum is built from the parts' checksums the request lists
            raise invalid_request(
                f"The upload was created using a {algorithm} checksum. The complete request "
                "referenced parts without this checksum."
            )
        given_type = params.get("ChecksumType")
        if given_type is not None and given_type != (checksum_type or "FULL_OBJECT"):
            raise invalid_request(
                f"The upload was created using the {checksum_type or 'null'} checksum mode. "
                f"The complete request must use the same checksum mode."
            )
        if not algorithm:  # no checksum asked for: S3's default, CRC64NVME of the object
            algorithm, checksum_type = DEFAULT_CHECKSUM, "FULL_OBJECT"
        # The object's checksum from its parts' (no byte is read): the parts' CRCs
        # combined (FULL_OBJECT), or the checksum of their checksums (COMPOSITE).
        values = [json.loads(p["checksums"] or "{}").get(algorithm) for p in chosen]
        if None in values:
            raise invalid_request(
                f"The upload was created using a {algorithm} checksum. The complete "
                "request referenced parts without this checksum."
            )
        if checksum_type == "FULL_OBJECT":
            sized = [(v, p["size"]) for v, p in zip(values, chosen, strict=True)]
            value = checksums.combined(algorithm, sized)
        else:
            value = checksums.composite(algorithm, values)
        claimed = params.get(checksums.MEMBERS[algorithm])
        if claimed and claimed != value:
            raise ServiceError(
                "BadDigest",
                f"The {algorithm.upper()} you specified did not match the calculated checksum.",
            )
        meta["Checksums"] = {algorithm: value}
        if meta.get("SSE", {}).get("SSECustomerKeyMD5") or meta.get("SSE", {}).get("DataKey"):
            meta["SSE"]["Sealed"] = [p["iv"] for p in chosen]  # one segment per part
        digest = hashlib.md5(usedforsecurity=False)
        for part in chosen:
            digest.update(bytes.fromhex(part["etag"].strip('"')))
        etag = f'"{digest.hexdigest()}-{len(chosen)}"'
        path = await asyncio.to_thread(self.concatenate, [p["blob_id"] for p in chosen])
        size = sum(p["size"] for p in chosen)
        received = Received(path, size, digest.hexdigest())
        meta["Parts"] = len(chosen)
        meta["PartSizes"] = [p["size"] for p in chosen]
        if checksum_type == "COMPOSITE":  # GetObjectAttributes lists them
            meta["PartChecksums"] = [
                [p["part_number"], v] for p, v in zip(chosen, values, strict=True)
            ]
        blob_id = await self.adopt(received)

        def drop_upload() -> list[str]:
            if self.store.get(UPLOADS, upload["upload_id"]) is None:
                raise no_such_upload(upload["upload_id"])
            return self._drop_upload_rows(upload["upload_id"])

        fields = {"size": size, "etag": etag, "meta": meta}
        row = self.write_version(
            bucket,
            key,
            fields,
            blob_id=blob_id,
            extra=drop_upload,
            guard=guard,
            notify=(ctx, "s3:ObjectCreated:CompleteMultipartUpload"),
        )
        out: dict[str, Any] = {
            "Location": f"{self.platform.endpoint_url.rstrip('/')}/{bucket['name']}/"
            + quote(key, safe="/~"),
            "Bucket": bucket["name"],
            "Key": key,
            "ETag": etag,
            **response_members(meta),
        }
        out[checksums.MEMBERS[algorithm]] = value
        out["ChecksumType"] = checksum_type
        out["Expiration"] = self.expiration_of(bucket, row)
        if bucket["versioning"]:
            out["VersionId"] = row["version_id"]
        return out

    @staticmethod
    def _check_part_key(upload_meta: dict, params: dict) -> None:
        """An SSE-C upload's parts bring the upload's key (S3 checks each part)."""
        stored = (upload_meta.get("SSE") or {}).get("SSECustomerKeyMD5")
        given = params.get("SSECustomerKeyMD5")
        if stored is None and params.get("SSECustomerKey") is None:
            return
        if stored is None or params.get("SSECustomerKey") is None:
            raise invalid_request(
                "The multipart upload initiate requested encryption. Subsequent part requests "
                "must include the appropriate encryption parameters."
                if stored is not None
                else "The encryption parameters are not applicable to this object."
            )
        computed = base64.b64encode(
            hashlib.md5(base64.b64decode(params["SSECustomerKey"]), usedforsecurity=False).digest()
        ).decode()
        if computed != stored or (given is not None and given != computed):
            raise invalid_request(
                "The provided encryption parameters did not match the ones used originally."
            )

    @staticmethod
    def _check_parts(requested: list[dict], stored: dict[int, dict]) -> list[dict]:
        previous = 0
        for part in requested:
            number = part.get("PartNumber")
            if number is None or number <= previous:
                raise ServiceError(
                    "InvalidPartOrder",
                    "The list of parts was not in ascending order. The parts list must be "
                    "specified in order by part number.",
                    400,
                )
            previous = number
        chosen = []
        for index, part in enumerate(requested):
            number = part["PartNumber"]
            found = stored.get(number)
            if found is None or not _same_etag(found["etag"], part.get("ETag")):
                raise _invalid_part(number, part.get("ETag"))
            sums = json.loads(found["checksums"] or "{}")
            for algorithm, member in checksums.MEMBERS.items():
                given = part.get(member)
                if given and sums.get(algorithm) not in (None, given):
                    raise _invalid_part(number, part.get("ETag"))
            if index < len(requested) - 1 and found["size"] < MIN_PART_BYTES:
                raise ServiceError(
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                    400,
                    ProposedSize=found["size"],
                    MinSizeAllowed=MIN_PART_BYTES,
                    PartNumber=number,
                    ETag=found["etag"],
                )
            chosen.append(found)
        return chosen

    def _drop_upload_rows(self, upload_id: str) -> list[str]:
        """Delete an upload and its parts (inside the caller's transaction); returns
        the part blobs that became unreferenced."""
        blobs = []
        for part in self.store.select(PARTS, {"upload_id": upload_id}):
            self.store.delete(PARTS, upload_id, part["part_number"])
            blobs.append(part["blob_id"])
        self.store.delete(UPLOADS, upload_id)
        return blobs

    def discard_upload(self, upload: dict) -> None:
        with self.store.transaction():
            unreferenced = self._drop_upload_rows(upload["upload_id"])
            self._journal(unreferenced)
        self.release(unreferenced)

    def abort_multipart_upload(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        upload = self._upload(bucket, params["Key"], params["UploadId"])
        self.discard_upload(upload)
        return {}

    def list_parts(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        upload = self._upload(bucket, params["Key"], params["UploadId"])
        limit = min(params.get("MaxParts") or MAX_PARTS_LISTED, MAX_PARTS_LISTED)
        marker = params.get("PartNumberMarker") or 0
        rows = self.store.select(
            PARTS,
            {"upload_id": upload["upload_id"]},
            order_by=("part_number",),
            after={"part_number": marker},
            limit=limit + 1,
        )
        truncated = len(rows) > limit
        rows = rows[:limit]
        owner = {"ID": canonical_id(bucket["account"])}
        meta = load_meta(upload)
        parts = []
        for row in rows:
            part = {
                "PartNumber": row["part_number"],
                "LastModified": http_date(row["modified"]),
                "ETag": row["etag"],
                "Size": row["size"],
            }
            for name, value in json.loads(row["checksums"] or "{}").items():
                part[checksums.MEMBERS[name]] = value
            parts.append(part)
        return {
            "Bucket": bucket["name"],
            "Key": upload["key"],
            "UploadId": upload["upload_id"],
            "PartNumberMarker": marker,
            "NextPartNumberMarker": rows[-1]["part_number"] if rows else None,
            "MaxParts": limit,
            "IsTruncated": truncated,
            "Parts": parts or None,
            "Initiator": owner,
            "Owner": owner,
            "StorageClass": meta.get("StorageClass") or "STANDARD",
            "ChecksumAlgorithm": (meta.get("ChecksumAlgorithm") or "").upper() or None,
            "ChecksumType": meta.get("ChecksumType"),
        }

    def list_multipart_uploads(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        limit = params.get("MaxUploads")
        limit = MAX_PARTS_LISTED if limit is None else min(max(limit, 0), MAX_PARTS_LISTED)
        prefix = params.get("Prefix") or ""
        delimiter = params.get("Delimiter") or None
        key_marker = params.get("KeyMarker") or ""
        upload_marker = params.get("UploadIdMarker") or ""
        encoding = params.get("EncodingType")
        if encoding not in (None, "url"):
            raise invalid_argument(
                "Invalid Encoding Method specified in Request", "encoding-type", encoding
            )

        def encode(text: str | None) -> str | None:
            return quote_plus(text, safe="/") if encoding and text is not None else text

        rows = self.store.select(UPLOADS, {"bucket": bucket["name"]}, order_by=("key", "initiated"))
        owner = {"ID": canonical_id(bucket["account"])}
        uploads, prefixes, truncated = [], [], False
        marker_seen = not upload_marker
        last: tuple[str, str | None] | None = None
        for row in rows:
            key = row["key"]
            if not key.startswith(prefix):
                continue
            if key_marker:
                if key < key_marker:
                    continue
                if key == key_marker:
                    if not upload_marker:
                        continue
                    if not marker_seen:
                        marker_seen = row["upload_id"] == upload_marker
                        continue
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[: cut + len(delimiter)]
                    if prefixes and prefixes[-1]["Prefix"] == common:
                        continue
                    if len(uploads) + len(prefixes) == limit:
                        truncated = True
                        break
                    prefixes.append({"Prefix": common})
                    last = (common, None)
                    continue
            if len(uploads) + len(prefixes) == limit:
                truncated = True
                break
            meta = load_meta(row)
            uploads.append(
                {
                    "UploadId": row["upload_id"],
                    "Key": encode(key),
                    "Initiated": http_date(row["initiated"]),
                    "StorageClass": meta.get("StorageClass") or "STANDARD",
                    "Owner": owner,
                    "Initiator": owner,
                    "ChecksumAlgorithm": (meta.get("ChecksumAlgorithm") or "").upper() or None,
                    "ChecksumType": meta.get("ChecksumType"),
                }
            )
            last = (key, row["upload_id"])
        out: dict[str, Any] = {
            "Bucket": bucket["name"],
            "KeyMarker": encode(key_marker),
            "UploadIdMarker": upload_marker,
            "Prefix": encode(prefix),
            "Delimiter": encode(delimiter),
            "MaxUploads": limit,
            "IsTruncated": truncated,
            "Uploads": uploads or None,
            "CommonPrefixes": [{"Prefix": encode(p["Prefix"])} for p in prefixes] or None,
            "EncodingType": encoding,
        }
        if truncated and last is not None:
            out["NextKeyMarker"] = encode(last[0])
            out["NextUploadIdMarker"] = last[1]
        return out


def _invalid_part(number: int, etag: str | None) -> ServiceError:
    return ServiceError(
        "InvalidPart",
        "One or more of the specified parts could not be found.  The part may not have been "
        "uploaded, or the specified entity tag may not have matched the part's entity tag.",
        400,
        PartNumber=number,
        ETag=etag or "",
    )


def _copy_range(text: str, size: int) -> tuple[int, int]:
    """(offset, length) of an UploadPartCopy ``x-amz-copy-source-range``."""
    try:
        unit, _, span = text.partition("=")
        first_text, _, last_text = span.partition("-")
        first, last = int(first_text), int(last_text)
    except ValueError:
        first, last, unit = -1, -1, ""
    if unit != "bytes" or first < 0 or last < first:
        raise invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy",
            "x-amz-copy-source-range",
            text,
        )
    if last >= size:
        raise invalid_argument(
            f"Range specified is not valid for source object of size: {size}",
            "x-amz-copy-source-range",
            text,
        )
    return first, last - first + 1
