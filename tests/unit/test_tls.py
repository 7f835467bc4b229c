"""sandlot's local CA and the certificates it issues (gateway/tls.py), and client
certificates as API Gateway passes them to integrations (services/http_events.py)."""

from __future__ import annotations

import datetime as dt
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandlot.gateway import tls
from sandlot.services.http_events import client_cert


def test_ca_and_server_certificate(tmp_path):
    ca_path = tls.ensure_ca(tmp_path)
    assert (tmp_path / "tls" / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    cert_path, key_path = tls.ensure_server_cert(tmp_path, "eu-west-1")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_path.read_bytes()))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = names.get_values_for_type(x509.DNSName)
    assert {"localhost", "*.execute-api.localhost", "*.lambda-url.eu-west-1.localhost"} <= set(dns)
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    # Python's own client accepts it for the names local tools use.
    context = ssl.create_default_context(cafile=str(ca_path))
    assert context.verify_mode == ssl.CERT_REQUIRED
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)


def test_server_certificate_is_kept_then_reissued(tmp_path):
    first = tls.ensure_server_cert(tmp_path, "us-east-1")[0].read_bytes()
    assert tls.ensure_server_cert(tmp_path, "us-east-1")[0].read_bytes() == first  # current
    # A region outside the built-in list adds its names: a new certificate.
    again = tls.ensure_server_cert(tmp_path, "xx-test-9")[0].read_bytes()
    assert again != first
    cert = x509.load_pem_x509_certificate(again)
    dns = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "*.lambda-url.xx-test-9.localhost" in dns.get_values_for_type(x509.DNSName)
    # A new CA (the old one deleted) re-issues the server certificate too.
    for name in ("ca.pem", "ca-key.pem"):
        (tmp_path / "tls" / name).unlink()
    tls.ensure_ca(tmp_path)
    assert tls.ensure_server_cert(tmp_path, "xx-test-9")[0].read_bytes() != again


def test_server_certificate_covers_the_bound_address(tmp_path):
    cert_path, _ = tls.ensure_server_cert(tmp_path, "us-east-1", "10.1.2.3")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "10.1.2.3" in {str(a) for a in sans.get_values_for_type(x509.IPAddress)}
    assert tls.ensure_server_cert(tmp_path, "us-east-1", "10.1.2.3")[0].read_bytes() == (
        cert_path.read_bytes()
    )  # current: kept
    assert "sandlot.internal" in tls.server_names("us-east-1", "sandlot.internal")
    assert tls.server_names("us-east-1", "127.0.0.1") == tls.server_names("us-east-1")


def test_domain_certificate(tmp_path):
    cert_path, _ = tls.ensure_domain_cert(tmp_path, "api.example.com")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    dns = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert dns.get_values_for_type(x509.DNSName) == ["api.example.com"]


def test_client_cert_shape():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.COMMON_NAME, "client.example.com"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0xA1B2C)
        .not_valid_before(dt.datetime(2019, 5, 8, 12, 30, 2, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2021, 8, 15, 9, 36, 4, tzinfo=dt.UTC))
        .sign(key, hashes.SHA256())
    )
    pem = ssl.DER_cert_to_PEM_cert(cert.public_bytes(serialization.Encoding.DER))
    shaped = client_cert(pem)
    assert shaped == {
        "clientCertPem": pem,
        "subjectDN": "CN=client.example.com,C=US",
        "issuerDN": "CN=client.example.com,C=US",
        "serialNumber": "0a:1b:2c",
        "validity": {
            "notBefore": "May  8 12:30:02 2019 GMT",
            "notAfter": "Aug 15 09:36:04 2021 GMT",
        },
    }
