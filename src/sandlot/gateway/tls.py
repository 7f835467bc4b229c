"""HTTPS: sandlot's local certificate authority and the server certificate it signs.

At first start sandlot creates a CA in ``<data dir>/tls/`` (``ca.pem``, and ``ca-key.pem``
readable by its user only) and a server certificate signed by it for the names local
tools use: ``localhost``, ``127.0.0.1``, ``::1``, and wildcards for the virtual-hosted S3,
execute-api and function URL hosts (``gateway/dataplane.py``). Clients trust the CA with
``AWS_CA_BUNDLE=<data dir>/tls/ca.pem`` (``sandlot ca`` prints the path) or boto3's
``verify=``. The CA lives as long as the data dir; the server certificate is re-issued
when its names change (another region) or it nears its end.

A wildcard covers one label, and OpenSSL-based clients (Python, curl) refuse a wildcard
with fewer than two dots after it, so ``*.localhost`` only helps other TLS stacks; the
longer wildcards are what Python and curl match.

``ServerTls`` also serves API Gateway's custom domain names: the handshake's SNI picks
a context with a certificate for the domain (issued by the CA on first use, kept in
``tls/domains/``) which, for a domain with a truststore, asks for a client certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sandlot.protocol.dataplane import CustomDomain

TLS_DIR = "tls"
CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
SERVER_CERT = "server.pem"
DOMAINS_DIR = "domains"  # certificates for custom domain names, one per name

_CA_DAYS = 3650
# 397 days: the longest validity Apple's and Google's TLS stacks accept for a server
# certificate; renewed at start when fewer than 30 days are left.
_SERVER_DAYS = 397
_RENEW_BEFORE = dt.timedelta(days=30)
# Function URL hosts name their region; the certificate covers AWS's commercial regions
# and the configured one.
_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "sa-east-1",
)


def tls_dir(data_dir: Path) -> Path:
    return data_dir / TLS_DIR


def ensure_ca(data_dir: Path) -> Path:
    """The CA certificate's path, creating the CA first if the data dir has none."""
    folder = tls_dir(data_dir)
    cert_path, key_path = folder / CA_CERT, folder / CA_KEY
    if cert_path.exists() and key_path.exists():
        return cert_path
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sandlot"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"sandlot local CA ({data_dir.name})"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key))  # the key first: a certificate never lacks its key
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def server_names(region: str, host: str = "127.0.0.1") -> list[str]:
    """The names (wildcards and addresses included) the server certificate covers: the
    local ones, and the address sandlot binds (off loopback, in secure mode) or, bound
    to every address, the machine's host name."""
    names = [
        "localhost",
        "127.0.0.1",
        "::1",
        "*.localhost",
        "localhost.localstack.cloud",
        "*.localhost.localstack.cloud",
        "*.s3.localhost",
        "*.s3.localhost.localstack.cloud",
        "*.execute-api.localhost",
        "*.execute-api.localhost.localstack.cloud",
    ]
    regions = _REGIONS if region in _REGIONS else (*_REGIONS, region)
    for each in regions:
        names += [
            f"*.s3.{each}.localhost",
            f"*.lambda-url.{each}.localhost",
            f"*.lambda-url.{each}.localhost.localstack.cloud",
        ]
    bound = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    if _canonical(bound) not in {_canonical(n) for n in names}:
        names.append(bound)
    return names


def ensure_server_cert(data_dir: Path, region: str, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """(certificate, key) paths of a current server certificate signed by the CA."""
    names = server_names(region, host)
    return _ensure_leaf(data_dir, tls_dir(data_dir) / SERVER_CERT, names)


def ensure_domain_cert(data_dir: Path, name: str) -> tuple[Path, Path]:
    """(certificate, key) paths of a certificate for a custom domain name, signed by the
    CA (in AWS it is ACM's; locally clients trust sandlot's CA for every name)."""
    ensure_ca(data_dir)
    folder = tls_dir(data_dir) / DOMAINS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    return _ensure_leaf(data_dir, folder / f"{name}.pem", [name])


def _ensure_leaf(data_dir: Path, cert_path: Path, names: list[str]) -> tuple[Path, Path]:
    """A certificate at ``cert_path`` (its key beside it, ``-key.pem``) for ``names``
    (host names and IP addresses), issued again unless current."""
    ca_path = ensure_ca(data_dir)
    key_path = cert_path.with_name(cert_path.stem + "-key.pem")
    ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
    if cert_path.exists() and key_path.exists() and _current(cert_path, ca_cert, names):
        return cert_path, key_path
    ca_key = serialization.load_pem_private_key((tls_dir(data_dir) / CA_KEY).read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    _write(key_path, _key_pem(key))
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _current(cert_path: Path, ca_cert: x509.Certificate, names: list[str]) -> bool:
    """Whether the server certificate on disk is the CA's, for ``names``, and not near
    its end."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(ca_cert)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except Exception:  # unreadable, or not signed by this CA
        return False
    held = sans.get_values_for_type(x509.DNSName)
    held += [str(a) for a in sans.get_values_for_type(x509.IPAddress)]
    if sorted(held) != sorted(_canonical(n) for n in names):
        return False
    return cert.not_valid_after_utc - _now() > _RENEW_BEFORE


class ServerTls:
    """The TLS side of the HTTPS listener: the server certificate, and per-SNI contexts
    for custom domain names (their own certificate, and a client certificate request
    when they require mutual TLS).

    ``domains`` (name → CustomDomain, kept by the providers) is read at each handshake
    naming a server, so a domain created, changed or deleted takes effect for the next
    connection.

    Python's ssl cannot change a connection's verify mode once it exists (switching the
    context in the SNI callback switches certificate and truststore, not whether a
    client certificate is requested), so while any domain requires mutual TLS every
    new connection asks for an optional client certificate (``prepare``): clients
    without one are unaffected, and one presenting a certificate to another name must
    present one some truststore accepts.
    """

    def __init__(self, data_dir: Path, region: str, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir
        self.ca_path = ensure_ca(data_dir)
        cert_path, key_path = ensure_server_cert(data_dir, region, host)
        self.domains: Mapping[str, CustomDomain] = {}
        self._domains: dict[tuple[str, bytes | None], ssl.SSLContext] = {}
        self.context = self._new_context(cert_path, key_path)
        self.context.sni_callback = self._sni

    def prepare(self) -> None:
        """Before a connection's TLS begins: request client certificates while any
        custom domain requires them."""
        mutual = any(d.truststore is not None for d in self.domains.values())
        wanted = ssl.CERT_OPTIONAL if mutual else ssl.CERT_NONE
        if self.context.verify_mode != wanted:
            self.context.verify_mode = wanted

    @staticmethod
    def _new_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # as API Gateway's TLS_1_2 policy
        context.load_cert_chain(cert_path, key_path)
        context.set_alpn_protocols(["http/1.1"])
        return context

    def _sni(self, connection: ssl.SSLObject, name: str | None, _context) -> None:
        name = name.lower().rstrip(".") if name else None
        connection.sandlot_sni = name  # type: ignore[attr-defined]  # read by the protocol
        if not name:
            return
        domain = self.domains.get(name)
        if domain is None:
            return
        key = (name, domain.truststore)
        context = self._domains.get(key)
        if context is None:
            # Once per domain and truststore: the certificate is made (or read) here,
            # in the handshake, a few milliseconds the first time.
            context = self._new_context(*ensure_domain_cert(self.data_dir, name))
            if domain.truststore is not None:
                # Optional at the TLS layer, as API Gateway: a client without a
                # certificate completes the handshake and is answered 403; every
                # certificate in the truststore is a trust anchor (intermediates too).
                context.verify_mode = ssl.CERT_OPTIONAL
                context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
                context.load_verify_locations(cadata=domain.truststore.decode("ascii"))
            if len(self._domains) > 256:
                self._domains.clear()
            self._domains[key] = context
        connection.context = context


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _canonical(name: str) -> str:
    return str(ipaddress.ip_address(name)) if _is_ip(name) else name.lower()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by its user only."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
