"""Key material: what each key spec allows, generating material, sealing it at rest,
and the symmetric ciphertext blob.

At rest every key's material is sealed with AES-256-GCM under the data directory's
master key, ``<data-dir>/kms-master.key`` (32 random bytes, created 0600 on first use);
the associated data names the key id and material version, so sealed material cannot
be swapped between rows. Losing that file makes every key's material unreadable, as
deleting the database would.

A symmetric ciphertext blob is ``0x01 | key id (36 ASCII) | version (4, big-endian) |
nonce (12) | AES-GCM ciphertext and tag``. The header and the canonical encryption
context are the associated data: Decrypt needs no KeyId, a rotated key decrypts with
the version the blob names, and any change to the blob or the context fails the tag.
"""

from __future__ import annotations

import json
import secrets
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sandlot.store.master_key import MASTER_KEY_FILE, MasterKey  # noqa: F401 (KMS's names)

_RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
_RSA_SIGNING = (
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
)


_ECC_USAGES = ("SIGN_VERIFY", "KEY_AGREEMENT")


@dataclass(frozen=True)
class Spec:
    """A key spec: the key usages AWS allows for it and its algorithms per usage."""

    usages: tuple[str, ...]
    encryption: tuple[str, ...] = ()
    signing: tuple[str, ...] = ()
    mac: tuple[str, ...] = ()
    agreement: tuple[str, ...] = ()
    size: int = 0  # RSA bits, HMAC bytes


SPECS: dict[str, Spec] = {
    "SYMMETRIC_DEFAULT": Spec(("ENCRYPT_DECRYPT",), encryption=("SYMMETRIC_DEFAULT",)),
    "RSA_2048": Spec(("ENCRYPT_DECRYPT", "SIGN_VERIFY"), _RSA_ENCRYPTION, _RSA_SIGNING, size=2048),
    "RSA_3072": Spec(("ENCRYPT_DECRYPT", "SIGN_VERIFY"), _RSA_ENCRYPTION, _RSA_SIGNING, size=3072),
    "RSA_4096": Spec(("ENCRYPT_DECRYPT", "SIGN_VERIFY"), _RSA_ENCRYPTION, _RSA_SIGNING, size=4096),
    "ECC_NIST_P256": Spec(_ECC_USAGES, signing=("ECDSA_SHA_256",), agreement=("ECDH",)),
    "ECC_NIST_P384": Spec(_ECC_USAGES, signing=("ECDSA_SHA_384",), agreement=("ECDH",)),
    "ECC_NIST_P521": Spec(_ECC_USAGES, signing=("ECDSA_SHA_512",), agreement=("ECDH",)),
    "ECC_SECG_P256K1": Spec(("SIGN_VERIFY",), signing=("ECDSA_SHA_256",)),
    "ECC_NIST_EDWARDS25519": Spec(
        ("SIGN_VERIFY",), signing=("ED25519_SHA_512", "ED25519_PH_SHA_512")
    ),
    "ML_DSA_44": Spec(("SIGN_VERIFY",), signing=("ML_DSA_SHAKE_256",)),
    "ML_DSA_65": Spec(("SIGN_VERIFY",), signing=("ML_DSA_SHAKE_256",)),
    "ML_DSA_87": Spec(("SIGN_VERIFY",), signing=("ML_DSA_SHAKE_256",)),
    "HMAC_224": Spec(("GENERATE_VERIFY_MAC",), mac=("HMAC_SHA_224",), size=28),
    "HMAC_256": Spec(("GENERATE_VERIFY_MAC",), mac=("HMAC_SHA_256",), size=32),
    "HMAC_384": Spec(("GENERATE_VERIFY_MAC",), mac=("HMAC_SHA_384",), size=48),
    "HMAC_512": Spec(("GENERATE_VERIFY_MAC",), mac=("HMAC_SHA_512",), size=64),
}

_CURVES = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}

_ML_DSA = {
    "ML_DSA_44": mldsa.MLDSA44PrivateKey,
    "ML_DSA_65": mldsa.MLDSA65PrivateKey,
    "ML_DSA_87": mldsa.MLDSA87PrivateKey,
}

HASHES = {"SHA_1": hashes.SHA1, "SHA_224": hashes.SHA224, "SHA_256": hashes.SHA256,
          "SHA_384": hashes.SHA384, "SHA_512": hashes.SHA512}  # fmt: skip


def generate(spec: str) -> bytes:
    """Fresh material: 32 random bytes (AES-256) for symmetric keys, the key bytes for
    HMAC, a PKCS#8 DER private key for RSA and ECC."""
    if spec == "SYMMETRIC_DEFAULT":
        return secrets.token_bytes(32)
    if spec.startswith("HMAC_"):
        return secrets.token_bytes(SPECS[spec].size)
    if spec.startswith("RSA_"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=SPECS[spec].size)
    elif spec == "ECC_NIST_EDWARDS25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif spec.startswith("ML_DSA_"):
        key = _ML_DSA[spec].generate()
    else:
        key = ec.generate_private_key(_CURVES[spec]())
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def data_key_pair(spec: str) -> tuple[bytes, bytes]:
    """(PKCS#8 DER private key, DER SubjectPublicKeyInfo) for GenerateDataKeyPair."""
    private = serialization.load_der_private_key(generate(spec), None)
    return private_der(private), public_der(private)


def private_der(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_der(private) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- the symmetric ciphertext blob ------------------------------------------------------

_BLOB_VERSION = 1
_HEADER = struct.Struct(">B36sI")
NONCE = 12
TAG = 16


def canonical_context(context: dict[str, str] | None) -> bytes:
    """The encryption context as associated data: order of pairs does not matter."""
    return json.dumps(context or {}, sort_keys=True, separators=(",", ":")).encode()


def seal_blob(key_id: str, version: int, material: bytes, plaintext: bytes, context) -> bytes:
    header = _HEADER.pack(_BLOB_VERSION, key_id.encode(), version)
    nonce = secrets.token_bytes(NONCE)
    sealed = AESGCM(material).encrypt(nonce, plaintext, header + canonical_context(context))
    return header + nonce + sealed


def blob_key(blob: bytes) -> tuple[str, int] | None:
    """(key id, material version) a symmetric ciphertext names, or None if it is not
    one of ours (too short, unknown format)."""
    if len(blob) < _HEADER.size + NONCE + TAG:
        return None
    fmt, key_id, version = _HEADER.unpack_from(blob)
    if fmt != _BLOB_VERSION:
        return None
    try:
        return key_id.decode("ascii"), version
    except UnicodeDecodeError:
        return None


def open_blob(material: bytes, blob: bytes, context) -> bytes:
    """The plaintext; raises ``cryptography.exceptions.InvalidTag`` on any change."""
    header, nonce = blob[: _HEADER.size], blob[_HEADER.size : _HEADER.size + NONCE]
    sealed = blob[_HEADER.size + NONCE :]
    return AESGCM(material).decrypt(nonce, sealed, header + canonical_context(context))
