"""The blob area: large bodies as files, written atomically.

A blob is written to ``tmp/``, fsynced, then renamed into place and its directory
fsynced, so a reader (or a restart after kill -9) sees either the whole blob or nothing.
Partial files left in ``tmp/`` by a crash are removed when the area is opened. Blob
ids are random; the caller records the id (with size and digest) in the database in
the same step that makes the blob reachable.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What was written: the id to store, its size, and its MD5 and SHA-256 digests."""

    blob_id: str
    size: int
    md5: str
    sha256: str


class BlobStore:
    """Blobs under ``root``: ``<root>/<id[:2]>/<id>``; partial writes under ``<root>/tmp``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        if self._tmp.exists():
            shutil.rmtree(self._tmp)  # partial writes of a process that died
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, blob_id: str) -> Path:
        if not blob_id.isalnum():
            raise ValueError(f"bad blob id {blob_id!r}")
        return self.root / blob_id[:2] / blob_id

    def write(self, data: bytes | Iterable[bytes]) -> BlobInfo:
        """Store ``data`` (bytes or an iterable of chunks) and return its BlobInfo."""
        blob_id = secrets.token_hex(16)
        tmp = self._tmp / blob_id
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
        size = 0
        chunks = (data,) if isinstance(data, bytes | bytearray | memoryview) else data
        try:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    md5.update(chunk)
                    sha.update(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            final = self.path(blob_id)
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return BlobInfo(blob_id, size, md5.hexdigest(), sha.hexdigest())

    @staticmethod
    def new_id() -> str:
        """A fresh random blob id (to record before the blob exists, e.g. in a journal)."""
        return secrets.token_hex(16)

    def temp_path(self) -> Path:
        """A fresh path under ``tmp/`` (same filesystem as the blobs) to write, then adopt."""
        return self._tmp / secrets.token_hex(16)

    def adopt(self, source: Path | str, blob_id: str | None = None) -> str:
        """Make the file at ``source`` (on this filesystem) the blob ``blob_id``.

        The file is fsynced, renamed into place (atomic) and its directory fsynced, so
        after return the blob survives a crash; before, it is absent or whole. Returns
        the blob id.
        """
        blob_id = blob_id or self.new_id()
        fd = os.open(source, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self.path(blob_id)
        final.parent.mkdir(exist_ok=True)
        os.replace(source, final)
        _fsync_dir(final.parent)
        return blob_id

    def open(self, blob_id: str) -> BinaryIO:
        """The blob for reading; raises FileNotFoundError when absent."""
        return open(self.path(blob_id), "rb")

    def read(self, blob_id: str) -> bytes:
        with self.open(blob_id) as f:
            return f.read()

    def delete(self, blob_id: str) -> None:
        self.path(blob_id).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
