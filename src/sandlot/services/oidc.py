"""OpenID Connect issuers' signing keys, shared by whatever verifies their tokens (STS's
``AssumeRoleWithWebIdentity``, API Gateway's JWT authorizers).

An issuer's keys come from its discovery document (``<iss>/.well-known/openid-configuration``
→ ``jwks_uri``), fetched over HTTPS: a certificate a trusted CA vouches for is accepted;
with ``thumbprints`` (STS's IAM OIDC providers) a certificate whose SHA-1 thumbprint is
listed is accepted too. Keys are cached per issuer for an hour and fetched again when
a token names a key id not seen yet (at most once a minute). Failing to get a key
raises ``KeyUnavailable``; each caller answers with its own service's error.

An issuer that is one of sandlot's own Cognito user pools
(``https://cognito-idp.<region>.amazonaws.com/<poolId>``, as AWS writes it) is
answered from the pool's key directly, without any network fetch (``user_pool_keys``).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import re
import ssl
import time
from urllib.parse import urlsplit

import jwt

KEYS_TTL_S = 3600.0
REFETCH_AFTER_S = 60.0  # an unknown key id fetches the keys again, at most this often
FETCH_TIMEOUT_S = 5.0
MAX_DOCUMENT = 1 << 20
_USER_POOL_ISSUER = re.compile(r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9-]+_\w+$")


class KeyUnavailable(Exception):
    """No key of the issuer verifies the token (unreachable, no such key id…)."""


class ThumbprintMismatch(KeyUnavailable):
    """The issuer's certificate is neither CA-verified nor one of the thumbprints."""


class IssuerKeys:
    """Issuers' signing keys, fetched and cached."""

    def __init__(self, platform=None) -> None:
        self._jwks: dict[str, tuple[dict[str, jwt.PyJWK], float]] = {}
        self.platform = platform  # with it, sandlot's own user pools are recognised

    async def key(self, issuer: str, kid: str | None, thumbprints: list[str] = ()) -> jwt.PyJWK:
        local = user_pool_keys(self.platform, issuer)
        if local is not None:
            key = _pick(local, kid)
            if key is None:
                raise KeyUnavailable(f"no key {kid!r} at {issuer}")
            return key
        fetched = self._jwks.get(issuer)
        now = time.time()
        stale = fetched is None or now - fetched[1] > KEYS_TTL_S
        unknown = fetched is not None and _pick(fetched[0], kid) is None
        if stale or (unknown and now - fetched[1] > REFETCH_AFTER_S):
            keys = await asyncio.to_thread(_fetch_keys, issuer, list(thumbprints))
            fetched = self._jwks[issuer] = (keys, now)
        key = _pick(fetched[0], kid)
        if key is None:
            raise KeyUnavailable(f"no key {kid!r} at {issuer}")
        return key


def user_pool_keys(platform, issuer: str) -> dict[str, jwt.PyJWK] | None:
    """The signing keys of sandlot's own user pool ``issuer`` names, by key id; None
    when it names none (another issuer, e.g. a real AWS pool, is fetched as any is)."""
    if platform is None or not _USER_POOL_ISSUER.match(issuer):
        return None
    pools = platform.provider("cognito-idp")
    return pools.signing_jwks(issuer) if pools is not None else None


def _pick(keys: dict[str, jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
    if kid is not None:
        return keys.get(kid)
    return next(iter(keys.values())) if len(keys) == 1 else None  # no kid: only one key fits


def _fetch_keys(issuer: str, thumbprints: list[str]) -> dict[str, jwt.PyJWK]:
    """The issuer's signing keys by key id (blocking: run in a thread)."""
    discovery = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", thumbprints)
    jwks_uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
    if not isinstance(jwks_uri, str):
        raise KeyUnavailable(f"{issuer} has no jwks_uri")
    document = _get_json(jwks_uri, thumbprints)
    keys: dict[str, jwt.PyJWK] = {}
    for i, data in enumerate(document.get("keys", []) if isinstance(document, dict) else []):
        if not isinstance(data, dict) or data.get("use", "sig") != "sig":
            continue
        try:
            keys[data.get("kid") or f"#{i}"] = jwt.PyJWK(data)
        except jwt.PyJWTError:
            continue  # a key of a type PyJWT cannot use is no key for us
    return keys


def _get_json(url: str, thumbprints: list[str]) -> object:
    """GET ``url`` over HTTPS, trusting a CA-verified certificate or one whose SHA-1
    thumbprint is listed."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise KeyUnavailable(f"not an https URL: {url}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        try:
            return _request(parts.hostname, parts.port or 443, target, ssl.create_default_context())
        except ssl.SSLCertVerificationError:
            if not thumbprints:
                raise KeyUnavailable(f"untrusted certificate at {url}") from None
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        return _request(parts.hostname, parts.port or 443, target, unverified, thumbprints)
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise KeyUnavailable(f"{url}: {error}") from None


def _request(
    host: str, port: int, target: str, context: ssl.SSLContext, thumbprints: list[str] = ()
) -> object:
    connection = http.client.HTTPSConnection(host, port, timeout=FETCH_TIMEOUT_S, context=context)
    try:
        connection.connect()
        if thumbprints:
            certificate = connection.sock.getpeercert(binary_form=True) or b""
            if hashlib.sha1(certificate).hexdigest() not in thumbprints:
                raise ThumbprintMismatch(f"{host}: certificate thumbprint not configured")
        connection.request("GET", target, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read(MAX_DOCUMENT + 1)
        if response.status != 200 or len(body) > MAX_DOCUMENT:
            raise ValueError(f"{response.status} from {host}")
        return json.loads(body)
    finally:
        connection.close()
