"""Receiving code packages (function code and layer content) into durable storage.

An upload is size-checked, digested and (when the same package is not stored already)
checked as a zip and written as a blob, in a worker thread: a 50 MB package must not
stall the event loop. The blob is durable before the rows that reference it commit
(``record`` runs inside the caller's transaction); a blob no row took is deleted
(``discard``, always called after the commit or failure).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from sandlot.protocol import ServiceError
from sandlot.services.awslambda import code
from sandlot.services.awslambda.records import Package, Records
from sandlot.services.awslambda.validation import (
    REQUEST_MAX,
    UNZIP_FAILED,
    UNZIPPED_MAX,
    ZIPPED_MAX,
    conflict,
    invalid,
)
from sandlot.store import BlobStore

log = logging.getLogger("sandlot.lambda")

TOTAL_CODE_STORAGE = 80530636800  # 75 GB per account and region, as AWS


class Packages:
    """Package intake over the Lambda records and the platform's blob area."""

    def __init__(self, records: Records, blobs: BlobStore) -> None:
        self.records = records
        self.blobs = blobs

    async def receive(self, data: bytes, operation: str, *, dry_run: bool = False) -> Package:
        """Check and store an uploaded zip (nothing is stored for a dry run)."""
        if len(data) > ZIPPED_MAX:
            raise ServiceError(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {REQUEST_MAX} bytes for the {operation} operation",
                413,
                Type="User",
            )
        return await asyncio.to_thread(self.prepare, data, dry_run)

    def prepare(self, data: bytes, dry_run: bool = False) -> Package:
        """Digest, check and (unless already known, or a dry run) store a package."""
        sha = hashlib.sha256(data).hexdigest()
        known = self.records.package(sha)
        if known is not None:
            return Package(sha, known["size"], known["unzipped_size"], None)
        try:
            unzipped = code.inspect_zip(data)
        except code.BadPackage as exc:
            log.info("refused package %s: %s", sha, exc)
            raise invalid(UNZIP_FAILED) from None
        if unzipped > UNZIPPED_MAX:
            raise invalid(f"Unzipped size must be smaller than {UNZIPPED_MAX} bytes")
        blob_id = None if dry_run else self.blobs.write(data).blob_id
        return Package(sha, len(data), unzipped, blob_id)

    def record(self, package: Package) -> None:
        """Inside the caller's transaction: make sure the package's row exists."""
        if package.new_blob_id is not None:
            self.records.add_package(package)
        elif self.records.package(package.sha) is None:
            # The identical package known at upload lost its last user during this
            # request and was deleted; a retry uploads it afresh.
            raise conflict("The operation cannot be performed at this time. Please retry.")

    def discard(self, package: Package) -> None:
        """Delete a fresh blob that no package row took (a failure, or a duplicate)."""
        if package.new_blob_id is None:
            return
        row = self.records.package(package.sha)
        if row is None or row["blob_id"] != package.new_blob_id:
            self.blobs.delete(package.new_blob_id)

    def check_storage(self, account: str, region: str, adding: int) -> None:
        """CodeStorageExceededException when the account's code would pass 75 GB."""
        _functions, used, _reserved = self.records.usage(account, region)
        if used + adding > TOTAL_CODE_STORAGE:
            raise ServiceError(
                "CodeStorageExceededException", "Code storage limit exceeded.", 400, Type="User"
            )
