"""AWS's flexible checksums (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256, and MD5 for
Content-MD5), computed over bytes, streams or files, base64-encoded as AWS sends them.
One place for the gateway (which computes them while spooling a body) and S3."""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from pathlib import Path

from awscrt import checksums as crt

ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
# The output member carrying each algorithm's value (ChecksumCRC32, ...).
MEMBERS = {"crc32": "ChecksumCRC32", "crc32c": "ChecksumCRC32C",
           "crc64nvme": "ChecksumCRC64NVME", "sha1": "ChecksumSHA1",
           "sha256": "ChecksumSHA256"}  # fmt: skip
CHUNK = 1024 * 1024


class _Crc:
    """An incremental CRC from awscrt (AWS's own native, SIMD-accelerated CRC code, the one
    botocore uses for CRC64NVME), so CRC32C and CRC64NVME cost what CRC32 does."""

    def __init__(self, function, width: int) -> None:
        self.function, self.width = function, width
        self.crc = 0

    def update(self, data: bytes) -> None:
        self.crc = self.function(data, self.crc)

    def digest(self) -> bytes:
        return self.crc.to_bytes(self.width, "big")


class _Crc32:
    def __init__(self) -> None:
        self.crc = 0

    def update(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)

    def digest(self) -> bytes:
        return self.crc.to_bytes(4, "big")


def hasher(algorithm: str):
    """A fresh incremental hasher (``update``/``digest``) for ``algorithm``."""
    if algorithm == "crc32":
        return _Crc32()
    if algorithm == "crc32c":
        return _Crc(crt.crc32c, 4)
    if algorithm == "crc64nvme":
        return _Crc(crt.crc64nvme, 8)
    if algorithm in ("sha1", "sha256", "md5"):
        return hashlib.new(algorithm, usedforsecurity=False)
    raise ValueError(algorithm)


def of_bytes(algorithm: str, data: bytes) -> str:
    h = hasher(algorithm)
    h.update(data)
    return base64.b64encode(h.digest()).decode()


def of_file(path: Path | str, algorithms: list[str], offset: int = 0, length: int = -1):
    """{algorithm: base64 value} over ``length`` bytes of the file from ``offset``."""
    hashers = {a: hasher(a) for a in algorithms}
    with open(path, "rb") as f:
        f.seek(offset)
        remaining = length
        while remaining:
            chunk = f.read(CHUNK if remaining < 0 else min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk) if remaining > 0 else 0
            for h in hashers.values():
                h.update(chunk)
    return {a: base64.b64encode(h.digest()).decode() for a, h in hashers.items()}


def composite(algorithm: str, part_values: list[str]) -> str:
    """A multipart object's checksum: the checksum of the parts' binary checksums, "-N"."""
    h = hasher(algorithm)
    for value in part_values:
        h.update(base64.b64decode(value))
    return f"{base64.b64encode(h.digest()).decode()}-{len(part_values)}"


_COMBINE = {"crc32": (crt.combine_crc32, 4), "crc32c": (crt.combine_crc32c, 4),
            "crc64nvme": (crt.combine_crc64nvme, 8)}  # fmt: skip


def combined(algorithm: str, parts: list[tuple[str, int]]) -> str:
    """The full-object CRC of concatenated parts, from each part's (base64 CRC, size):
    what a multipart upload's FULL_OBJECT checksum is, without reading the data."""
    combine, width = _COMBINE[algorithm]
    crc = 0
    for index, (value, size) in enumerate(parts):
        part = int.from_bytes(base64.b64decode(value), "big")
        crc = part if index == 0 else combine(crc, part, size)
    return base64.b64encode(crc.to_bytes(width, "big")).decode()


def decode_md5(value: str) -> bytes | None:
    """The 16 bytes of a Content-MD5 header, or None when it is not base64 of 16 bytes."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 16 else None
