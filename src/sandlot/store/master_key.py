"""The data directory's master key: seals secrets kept at rest in the store.

KMS key material, Cognito pools' signing keys and anything else a service must keep
secret in the database is sealed with AES-GCM under one 32-byte key in the data
directory (0600, created once, never replaced), bound to what it seals by associated
data. Services share it from here, so none imports another's module for it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MASTER_KEY_FILE = "kms-master.key"  # its first user's name, kept for existing data dirs


class MasterKey:
    """The data directory's master key: seals and opens key material at rest."""

    def __init__(self, data_dir: Path) -> None:
        self._aead = AESGCM(_load_or_create(data_dir / MASTER_KEY_FILE))

    def seal(self, key_id: str, version: int, material: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, material, _material_aad(key_id, version))

    def open(self, key_id: str, version: int, sealed: bytes) -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], _material_aad(key_id, version))

    def seal_token(self, data: bytes) -> bytes:
        """An import token: opaque to the holder, readable only by this data directory."""
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, data, _TOKEN_AAD)

    def open_token(self, token: bytes) -> bytes:
        return self._aead.decrypt(token[:12], token[12:], _TOKEN_AAD)


_TOKEN_AAD = b"sandlot-kms-import-token"


def _material_aad(key_id: str, version: int) -> bytes:
    return f"sandlot-kms-material:{key_id}:{version}".encode()


def _load_or_create(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = secrets.token_bytes(32)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # never replaces a master key another process just made
        except FileExistsError:
            data = path.read_bytes()
        os.unlink(tmp)
    if len(data) != 32:
        raise RuntimeError(f"{path} is not a 32-byte KMS master key")
    return data
