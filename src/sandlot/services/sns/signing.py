"""The signature on SNS messages: an RSA key and a self-signed certificate made once
per data dir, and AWS's canonical string signed with SHA1withRSA (SignatureVersion 1)
or SHA256withRSA (SignatureVersion 2).

The certificate is served at ``<endpoint>/_sandlot/sns/<CERT_NAME>`` (the envelope's
``SigningCertURL``), so a receiver verifies a message exactly as it does AWS's.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

CERT_PATH = "/_sandlot/sns/SimpleNotificationService-sandlot.pem"

# The envelope keys each message type signs, in AWS's (alphabetical) order.
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED["UnsubscribeConfirmation"] = _SIGNED["SubscriptionConfirmation"]


def canonical_string(envelope: dict) -> bytes:
    """What is signed: "key\\nvalue\\n" for each signed key the envelope has."""
    keys = _SIGNED[envelope["Type"]]
    return "".join(f"{k}\n{envelope[k]}\n" for k in keys if k in envelope).encode()


class Signer:
    """The data dir's signing key and certificate (``sns/signing-key.pem`` 0600,
    ``sns/signing-cert.pem``), made on first use."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "sns"

    @cached_property
    def _material(self) -> tuple[rsa.RSAPrivateKey, bytes]:
        key_path, cert_path = self.dir / "signing-key.pem", self.dir / "signing-cert.pem"
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), None)
            return key, cert_path.read_bytes()  # type: ignore[return-value]
        self.dir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(key_path, key_pem, 0o600)
        _write(cert_path, cert_pem, 0o644)  # written last: both exist only when complete
        return key, cert_pem

    @property
    def certificate_pem(self) -> bytes:
        return self._material[1]

    def sign(self, envelope: dict, version: str) -> str:
        """The base64 ``Signature`` of ``envelope`` for SignatureVersion ``version``."""
        digest = hashes.SHA256() if version == "2" else hashes.SHA1()
        raw = self._material[0].sign(canonical_string(envelope), padding.PKCS1v15(), digest)
        return base64.b64encode(raw).decode()


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
