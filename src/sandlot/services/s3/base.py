"""What every part of the S3 provider shares: buckets and object versions as rows, blob
lifecycle (adopt, reference, collect), request bodies and their digests.

Writes follow one order so that a crash at any point exposes no partial object and
leaks no blob: the new blob's id is journalled in ``s3_garbage``, the blob is made
durable (fsync, rename, fsync of the directory), then one transaction writes the rows
that reference it, takes its id off the journal and journals the blobs of rows it
replaced; those are unlinked after the commit. Start-up unlinks whatever the journal
still lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandlot.protocol import ServiceError, checksums
from sandlot.protocol.http import SpooledBody
from sandlot.services.provider import Provider, RequestContext
from sandlot.services.s3.errors import (
    bad_digest_checksum,
    bad_digest_md5,
    entity_too_large,
    invalid_digest,
    key_too_long,
    no_such_bucket,
)
from sandlot.services.s3.schema import BUCKETS, GARBAGE, MIGRATIONS, OBJECTS

MAX_KEY_BYTES = 1024
MAX_PUT_BYTES = 5 * 1024**3  # a single PUT (PutObject, UploadPart)
# The checksum S3 gives an object whose upload stated none.
DEFAULT_CHECKSUM = "crc64nvme"
NULL_VERSION = "null"
log = logging.getLogger("sandlot.s3")
# Bodies at most this big are hashed and written on the event loop; bigger ones in a thread.
INLINE_BYTES = 256 * 1024


@dataclass
class Received:
    """A request body on disk (a temp file of the blob area), with its digests."""

    path: Path
    size: int
    md5: str  # hex
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm → base64

    @property
    def etag(self) -> str:
        return f'"{self.md5}"'


def check_key(key: str) -> str:
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise key_too_long()
    return key


def new_version_id() -> str:
    return secrets.token_urlsafe(24)


def load_meta(row: dict) -> dict:
    return json.loads(row["meta"]) if row.get("meta") else {}


class S3Base(Provider):
    """State and shared mechanics; the operations live in the subclasses' mixins."""

    service = "s3"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("s3", MIGRATIONS)
        self.store = platform.store
        self.blobs = platform.blobs
        self.clock: Callable[[], float] = time.time
        self._last_seq = 0
        self.collect_garbage()

    # -- buckets --------------------------------------------------------------------------

    def bucket_row(self, name: str) -> dict:
        row = self.store.get(BUCKETS, name)
        if row is None:
            raise no_such_bucket(name)
        return row

    def bucket(self, ctx: RequestContext, name: str, expected_owner: str | None = None) -> dict:
        """The bucket ``name`` for a request of ``ctx``.

        Another account's bucket is reachable when IAM allowed the request (its bucket
        policy grants it; IAM evaluated that before the operation ran). A bucket not
        owned by the request's ``ExpectedBucketOwner`` answers AccessDenied.
        """
        row = self.bucket_row(name)
        if expected_owner not in (None, row["account"]):
            raise ServiceError("AccessDenied", "Access Denied", 403)
        return row

    # -- versions -------------------------------------------------------------------------

    def next_rank(self) -> int:
        """A strictly decreasing rank: newer writes sort first, also across restarts."""
        self._last_seq = max(self._last_seq + 1, time.time_ns())
        return -self._last_seq

    def versions_of(self, bucket: str, key: str, limit: int | None = None) -> list[dict]:
        """The key's versions, newest first."""
        return self.store.select(
            OBJECTS, {"bucket": bucket, "key": key}, order_by=("rank",), limit=limit
        )

    def latest(self, bucket: str, key: str) -> dict | None:
        rows = self.versions_of(bucket, key, limit=1)
        return rows[0] if rows else None

    def version(self, bucket: str, key: str, version_id: str) -> dict | None:
        rows = self.store.select(
            OBJECTS, {"bucket": bucket, "key": key, "version_id": version_id}, limit=1
        )
        return rows[0] if rows else None

    def write_version(
        self,
        bucket: dict,
        key: str,
        fields: dict[str, Any],
        *,
        blob_id: str | None,
        extra: Callable[[], list[str]] | None = None,
        guard: Callable[[dict | None], None] | None = None,
        notify: tuple[RequestContext, str] | None = None,
    ) -> dict:
        """Make a new version of ``key`` current, in one transaction.

        ``fields`` hold size, etag, meta and marker; ``blob_id`` (already durable) is
        taken off the garbage journal. Versioning decides the version id: a new one
        when Enabled, else "null", replacing the key's null version. ``extra`` runs in
        the same transaction and returns blob ids that became unreferenced. Returns
        the new row; the blobs of replaced rows are unlinked after the commit.
        ``guard`` sees the current version (None if none, or a delete marker) first
        and may raise to refuse the write, which then releases ``blob_id``. ``notify``
        (request, event name) stages the event notifications the write triggers in the
        same transaction, so an acknowledged write is always notified.
        """
        enabled = bucket["versioning"] == "Enabled"
        marker = bool(fields.get("marker"))
        row = {
            "bucket": bucket["name"],
            "key": key,
            "rank": self.next_rank(),
            "version_id": new_version_id() if enabled else NULL_VERSION,
            "latest": 1,
            "marker": int(marker),
            "listed": int(not marker),
            "blob_id": blob_id,
            "size": fields.get("size", 0),
            "etag": fields.get("etag"),
            "modified": fields.get("modified") or self.clock(),
            "meta": json.dumps(fields.get("meta") or {}),
        }
        unreferenced: list[str] = []
        try:
            with self.store.transaction():
                unreferenced = self._replace_versions(bucket, key, row, guard)
                if blob_id:
                    self.store.delete(GARBAGE, blob_id)
                if extra is not None:
                    unreferenced.extend(extra())
                self._journal(unreferenced)
                self.stage_replication(bucket, row)
                if notify is not None:
                    self.stage_notifications(notify[0], bucket, notify[1], row)
        except BaseException:
            if blob_id:
                self.release([blob_id])
            raise
        self.release(unreferenced)
        return row

    def _replace_versions(self, bucket: dict, key: str, row: dict, guard) -> list[str]:
        """Retire the key's current version and drop the null version a "null" write
        replaces (two indexed lookups, however many versions the key has)."""
        unreferenced = []
        newest = self.versions_of(bucket["name"], key, limit=1)
        current = newest[0] if newest else None
        if guard is not None:
            guard(current if current is not None and not current["marker"] else None)
        replaced = None
        if row["version_id"] == NULL_VERSION:
            replaced = self.version(bucket["name"], key, NULL_VERSION)
            if replaced is not None:
                self.store.delete(OBJECTS, replaced["bucket"], replaced["key"], replaced["rank"])
                if replaced["blob_id"]:
                    unreferenced.append(replaced["blob_id"])
        still_there = replaced is None or replaced["rank"] != (current or {}).get("rank")
        if current is not None and current["latest"] and still_there:
            self.store.put(OBJECTS, {**current, "latest": 0, "listed": 0})
        self.store.put(OBJECTS, row)
        return unreferenced

    def remove_version(
        self,
        row: dict,
        *,
        bucket: dict | None = None,
        ctx: RequestContext | None = None,
        event: str = "s3:ObjectRemoved:Delete",
    ) -> None:
        """Delete one version for good; the next newest becomes current. With the
        ``bucket`` and the request ``ctx``, stages ``event``'s notifications."""
        unreferenced = [row["blob_id"]] if row["blob_id"] else []
        with self.store.transaction():
            if bucket is not None and ctx is not None:
                self.stage_notifications(ctx, bucket, event, row)
            self.store.delete(OBJECTS, row["bucket"], row["key"], row["rank"])
            if row["latest"]:
                rest = self.versions_of(row["bucket"], row["key"], limit=1)
                if rest:
                    following = rest[0]
                    self.store.put(
                        OBJECTS,
                        {**following, "latest": 1, "listed": int(not following["marker"])},
                    )
            self._journal(unreferenced)
        self.release(unreferenced)

    def stage_notifications(self, ctx: RequestContext, bucket: dict, event: str, row: dict) -> None:
        """Record the notifications ``event`` on version ``row`` triggers (inside the
        writing transaction); the notification mixin implements it."""

    def expiration_of(self, bucket: dict, row: dict) -> str | None:
        """The ``x-amz-expiration`` answer for a current version (lifecycle mixin)."""
        return None

    def check_public_policy(self, ctx: RequestContext, bucket: dict, text: str) -> None:
        """Refuse a policy the bucket's public access block blocks (access mixin)."""

    def effective_policy(self, bucket: dict) -> str | None:
        """The bucket policy IAM evaluates (the access mixin restricts public ones)."""
        return bucket.get("policy")

    # Object Lock (the object lock mixin): none without it.
    def lock_for_write(self, bucket: dict, params: dict, *, whole_body: bool = True) -> dict:
        return {}

    @staticmethod
    def lock_members(meta: dict) -> dict:
        return {}

    def check_removable(self, bucket: dict, row: dict, bypass: bool) -> None:
        """Raise AccessDenied while version ``row`` is locked."""

    def locked(self, row: dict) -> bool:
        return False

    def stage_replication(self, bucket: dict, row: dict) -> None:
        """Arm the replication of a new version (inside the writing transaction); the
        replication mixin implements it."""

    def update_meta(self, row: dict, meta: dict) -> None:
        """Rewrite a version's metadata in place (e.g. its tags)."""
        self.store.put(OBJECTS, {**row, "meta": json.dumps(meta)})

    # -- blobs ----------------------------------------------------------------------------

    def _journal(self, blob_ids: list[str]) -> None:
        for blob_id in blob_ids:
            self.store.put(GARBAGE, {"blob_id": blob_id})

    def release(self, blob_ids: list[str]) -> None:
        """Unlink blobs whose rows are gone (committed), then forget them.

        On the event loop this happens in a worker thread: unlinking a large file
        frees its extents and can take tens of milliseconds.
        """
        if not blob_ids:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._unlink(blob_ids)
            return
        future = loop.run_in_executor(None, self._unlink, blob_ids)
        future.add_done_callback(_log_failure)

    def _unlink(self, blob_ids: list[str]) -> None:
        for blob_id in blob_ids:
            self.blobs.delete(blob_id)
        with self.store.transaction():
            for blob_id in blob_ids:
                self.store.delete(GARBAGE, blob_id)

    def collect_garbage(self) -> None:
        """Unlink the blobs a crash left unreferenced (see the module docstring)."""
        self.release([row["blob_id"] for row in self.store.select(GARBAGE)])

    async def adopt(self, received: Received) -> str:
        """Make a received body a durable blob, journalled until a row references it."""
        blob_id = self.blobs.new_id()
        self.store.put(GARBAGE, {"blob_id": blob_id})
        # fsync waits on the disk: never on the event loop, so uploads overlap.
        await asyncio.to_thread(self.blobs.adopt, received.path, blob_id)
        return blob_id

    def open_blob(self, row: dict):
        """The version's blob, opened for reading; None when a concurrent delete won."""
        try:
            return self.blobs.open(row["blob_id"])
        except FileNotFoundError:
            return None

    # -- request bodies -------------------------------------------------------------------

    async def receive(
        self, body: bytes | SpooledBody | None, params: dict, default: str | None = None
    ) -> Received:
        """The body on disk with its MD5 and checksums, verified against the request's
        Content-MD5 and ``x-amz-checksum-*`` values (headers or aws-chunked trailers).
        A request that states no checksum gets the ``default`` algorithm's (S3 gives
        every new object a CRC64NVME when the client sends none).

        A body that fails a check raises BadDigest/InvalidDigest; nothing is stored.
        """
        wanted = claimed_checksums(params, body)
        algorithm = (params.get("ChecksumAlgorithm") or "").lower()
        algorithms = set(wanted)
        if algorithm in checksums.ALGORITHMS:
            algorithms.add(algorithm)
        if not algorithms and default is not None:
            algorithms.add(default)
        if isinstance(body, SpooledBody):
            received = Received(body.path, body.size, body.md5, dict(body.checksums))
            missing = [a for a in algorithms if a not in received.checksums]
            if missing:
                received.checksums.update(
                    await asyncio.to_thread(checksums.of_file, body.path, missing)
                )
        else:
            data = body or b""
            if len(data) <= INLINE_BYTES:
                received = self._spool(data, algorithms)
            else:
                received = await asyncio.to_thread(self._spool, data, algorithms)
        try:
            if received.size > MAX_PUT_BYTES:
                raise entity_too_large(received.size, MAX_PUT_BYTES)
            md5 = params.get("ContentMD5")
            if md5 is not None:
                raw = checksums.decode_md5(md5)
                if raw is None:
                    raise invalid_digest()
                if raw.hex() != received.md5:
                    raise bad_digest_md5()
            for name, value in wanted.items():
                if received.checksums.get(name) != value:
                    raise bad_digest_checksum(name)
        except ServiceError:
            received.path.unlink(missing_ok=True)
            raise
        received.checksums = {a: received.checksums[a] for a in algorithms}
        return received

    def _spool(self, data: bytes, algorithms: set[str]) -> Received:
        path = self.blobs.temp_path()
        with open(path, "wb") as f:
            f.write(data)
        sums = {a: checksums.of_bytes(a, data) for a in algorithms}
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        return Received(path, len(data), md5, sums)

    def copy_range(self, row: dict, offset: int, length: int) -> Path:
        """A temp file holding ``length`` bytes of a version's blob from ``offset``.

        A whole blob is hard-linked (blobs never change); a range is copied in the
        kernel. Runs in a thread for big copies.
        """
        source = self.blobs.path(row["blob_id"])
        target = self.blobs.temp_path()
        if offset == 0 and length == row["size"]:
            with contextlib.suppress(OSError):
                os.link(source, target)
                return target
        with open(source, "rb") as src, open(target, "wb") as dst:
            _copy(src, dst, offset, length)
        return target

    def concatenate(self, blob_ids: list[str]) -> Path:
        """A temp file holding the blobs one after the other (multipart completion)."""
        target = self.blobs.temp_path()
        with open(target, "wb") as dst:
            for blob_id in blob_ids:
                with self.blobs.open(blob_id) as src:
                    _copy(src, dst, 0, os.fstat(src.fileno()).st_size)
        return target


def _log_failure(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("removing released blobs failed", exc_info=future.exception())


def _copy(src, dst, offset: int, length: int) -> None:
    remaining = length
    try:
        while remaining > 0:
            sent = os.copy_file_range(src.fileno(), dst.fileno(), remaining, offset)
            if sent == 0:
                break
            offset += sent
            remaining -= sent
    except OSError:
        src.seek(offset)
        while remaining > 0:
            chunk = src.read(min(remaining, checksums.CHUNK))
            if not chunk:
                break
            dst.write(chunk)
            remaining -= len(chunk)


def claimed_checksums(params: dict, body: Any) -> dict[str, str]:
    """The checksum values the request states, from headers and aws-chunked trailers."""
    claimed = {}
    for algorithm, member in checksums.MEMBERS.items():
        value = params.get(member)
        if value:
            claimed[algorithm] = value
    if isinstance(body, SpooledBody):
        for header, value in body.trailers.items():
            name = header.lower()
            if name.startswith("x-amz-checksum-"):
                algorithm = name.removeprefix("x-amz-checksum-")
                if algorithm in checksums.ALGORITHMS:
                    claimed[algorithm] = value.strip()
    return claimed
