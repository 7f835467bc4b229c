"""A real OpenID Connect issuer for tests: HTTPS with a self-signed certificate, a
discovery document and a JWKS, and tokens signed with its RSA key (PyJWT)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )


class OidcIssuer:
    """``with OidcIssuer(tmp_path) as issuer: issuer.token(sub=..., aud=...)``."""

    def __init__(self, work: Path) -> None:
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:12]
        tls_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = _self_signed(tls_key)
        self.thumbprint = hashlib.sha1(
            certificate.public_bytes(serialization.Encoding.DER)
        ).hexdigest()
        cert_file, key_file = work / "issuer.crt", work / "issuer.key"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        self.cert_file = cert_file  # for a client that must trust it (SSL_CERT_FILE)
        key_file.write_bytes(
            tls_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.requests: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                issuer.requests.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/keys"}
                elif self.path == "/keys":
                    body = {"keys": [issuer.jwk()]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://localhost:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def jwk(self) -> dict:
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.signing_key.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(self, *, sub: str, aud: str | None, ttl: float = 300, key=None, **claims) -> str:
        """A signed token; ``aud=None`` leaves ``aud`` out (as access tokens do)."""
        now = int(time.time())
        payload = {"iss": self.url, "sub": sub, "aud": aud, "iat": now, "exp": now + int(ttl)}
        payload.update(claims)
        if aud is None:
            del payload["aud"]
        return jwt.encode(
            payload, key or self.signing_key, algorithm="RS256", headers={"kid": self.kid}
        )

    def __enter__(self) -> OidcIssuer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
