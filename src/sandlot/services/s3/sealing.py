"""Objects at rest under their own key: SSE-C objects under the customer's key, SSE-KMS
objects under their KMS data key (the key KMS generated for the object, kept only
encrypted by KMS). SSE-S3 objects are stored as they are: the data directory is their
trust boundary, as for every other sandlot store.

A sealed blob is AES-256 in CTR mode, one segment per part (a single PUT is one
segment), each with its own random initial counter; CTR lets a read start at any byte,
so ranges and part reads cost what they cost on plain blobs. Integrity is the object's
checksums and MD5, computed over the plaintext as S3 does.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK = 16
_CHUNK = 1024 * 1024


def _cipher(key: bytes, iv: bytes, position: int) -> Cipher:
    """AES-256-CTR positioned at ``position`` (a multiple of 16) of a segment."""
    counter = (int.from_bytes(iv, "big") + position // _BLOCK) % (1 << 128)
    return Cipher(algorithms.AES(key), modes.CTR(counter.to_bytes(_BLOCK, "big")))


def seal(source: Path, target: Path, key: bytes, offset: int = 0, length: int = -1) -> str:
    """Write ``length`` bytes of ``source`` from ``offset`` to ``target``, encrypted as one
    segment; returns its initial counter (base64)."""
    iv = os.urandom(_BLOCK)
    encryptor = _cipher(key, iv, 0).encryptor()
    with open(source, "rb") as src, open(target, "wb") as dst:
        src.seek(offset)
        remaining = length
        while remaining:
            chunk = src.read(_CHUNK if remaining < 0 else min(_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk) if remaining > 0 else 0
            dst.write(encryptor.update(chunk))
        dst.write(encryptor.finalize())
    return base64.b64encode(iv).decode()


class SealedFile:
    """A sealed blob read as its plaintext: ``seek``/``read`` at any offset (what the
    gateway's file sender and every other reader of a ``FileBody`` use)."""

    def __init__(self, file: BinaryIO, key: bytes, sizes: list[int], ivs: list[str]) -> None:
        self.file, self.key = file, key
        self.name = getattr(file, "name", "sealed object")
        self.segments = []  # (start, size, iv)
        start = 0
        for size, iv in zip(sizes, ivs, strict=True):
            self.segments.append((start, size, base64.b64decode(iv)))
            start += size
        self.size = start
        self.position = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.position, 2: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def read(self, size: int = -1) -> bytes:
        end = self.size if size < 0 else min(self.size, self.position + size)
        out = bytearray()
        for start, length, iv in self.segments:
            if self.position >= end:
                break
            if self.position >= start + length or length == 0:
                continue
            within = self.position - start
            aligned = within - within % _BLOCK
            stop = min(end, start + length) - start
            self.file.seek(start + aligned)
            data = self.file.read(stop - aligned)
            plain = _cipher(self.key, iv, aligned).decryptor().update(data)
            out += plain[within - aligned :]
            self.position = start + aligned + len(data)
            if len(data) < stop - aligned:  # the blob is shorter than its rows say
                break
        return bytes(out)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> SealedFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def unseal(file: SealedFile, target: Path, offset: int = 0, length: int = -1) -> None:
    """Write the plaintext of ``length`` bytes from ``offset`` to ``target``."""
    with file, open(target, "wb") as dst:
        file.seek(offset)
        remaining = file.size - offset if length < 0 else length
        while remaining > 0:
            chunk = file.read(min(_CHUNK, remaining))
            if not chunk:
                break
            dst.write(chunk)
            remaining -= len(chunk)
