"""Verifying OpenID Connect tokens for ``AssumeRoleWithWebIdentity``, as STS does.

A token names its issuer (``iss``); the role's account must have an IAM OIDC provider
for that issuer whose client id list holds the token's audience. The issuer's signing
keys come from its discovery document (``<iss>/.well-known/openid-configuration`` →
``jwks_uri``), fetched over HTTPS: a certificate a trusted CA vouches for is accepted,
otherwise its SHA-1 thumbprint must be one of the provider's (how a self-hosted issuer
with a private CA — or a test's self-signed one — is trusted, as in AWS). Keys are
cached per ``jwks_uri`` and fetched again when a token names a key id not seen yet.
Signatures and ``exp``/``nbf`` are checked by PyJWT.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import http.client
import json
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt

from sandlot.protocol import ServiceError

KEYS_TTL_S = 3600.0
REFETCH_AFTER_S = 60.0  # an unknown key id fetches the keys again, at most this often
FETCH_TIMEOUT_S = 5.0
MAX_DOCUMENT = 1 << 20
# AWS's STS accepts these JWS algorithms for OIDC tokens.
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]

_NO_KEY = (
    "Couldn't retrieve verification key from your identity provider,  please reference "
    "AssumeRoleWithWebIdentity documentation for requirements"
)


def invalid_token(message: str) -> ServiceError:
    return ServiceError("InvalidIdentityToken", message)


@dataclass(frozen=True)
class VerifiedToken:
    issuer: str
    audience: str
    subject: str
    claims: dict


def unverified_claims(token: str) -> dict:
    """The token's claims before any check (to find its issuer); InvalidIdentityToken
    when it is not a JWT."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise invalid_token("The ID Token provided is not a valid JWT.") from None
    if not isinstance(claims.get("iss"), str):
        raise invalid_token("The ID Token provided is not a valid JWT.")
    return claims


def audience_of(claims: dict, client_ids: list[str]) -> str:
    """The token's audience that the provider's client id list holds."""
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    for candidate in audiences:
        if isinstance(candidate, str) and candidate in client_ids:
            return candidate
    raise invalid_token("Incorrect token audience")


class Fetched:
    """A JWKS as fetched, with when."""

    def __init__(self, keys: dict[str, jwt.PyJWK], at: float) -> None:
        self.keys = keys
        self.at = at


class TokenVerifier:
    """Checks tokens against their issuers' published keys (one per platform)."""

    def __init__(self) -> None:
        self._jwks: dict[str, Fetched] = {}

    async def verify(self, token: str, claims: dict, thumbprints: list[str]) -> dict:
        """The token's verified claims; STS's errors when it does not verify."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise invalid_token("The ID Token provided is not a valid JWT.") from None
        if header.get("alg") not in ALGORITHMS:
            raise invalid_token("The ID Token provided is not signed with a supported algorithm.")
        key = await self._key(claims["iss"], header.get("kid"), thumbprints)
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[header["alg"]],
                options={"verify_aud": False, "require": ["exp"]},
            )
        except jwt.ExpiredSignatureError:
            now = _stamp(time.time())
            raise ServiceError(
                "ExpiredTokenException",
                f"Token expired: current date/time {now} must be before the expiration "
                f"date/time {_stamp(claims.get('exp', 0))}",
            ) from None
        except jwt.MissingRequiredClaimError:
            raise invalid_token("The ID Token provided is missing the exp claim.") from None
        except jwt.ImmatureSignatureError:
            raise invalid_token("The ID Token provided is not yet valid.") from None
        except jwt.PyJWTError:
            raise invalid_token("The web identity token provided could not be validated.") from None

    async def _key(self, issuer: str, kid: str | None, thumbprints: list[str]) -> jwt.PyJWK:
        fetched = self._jwks.get(issuer)
        now = time.time()
        stale = fetched is None or now - fetched.at > KEYS_TTL_S
        unknown = fetched is not None and _pick(fetched.keys, kid) is None
        if stale or (unknown and now - fetched.at > REFETCH_AFTER_S):
            keys = await asyncio.to_thread(_fetch_keys, issuer, thumbprints)
            fetched = self._jwks[issuer] = Fetched(keys, now)
        key = _pick(fetched.keys, kid)
        if key is None:
            raise invalid_token(_NO_KEY)
        return key


def _pick(keys: dict[str, jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
    if kid is not None:
        return keys.get(kid)
    return next(iter(keys.values())) if len(keys) == 1 else None  # no kid: only one key fits


def _stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


def _fetch_keys(issuer: str, thumbprints: list[str]) -> dict[str, jwt.PyJWK]:
    """The issuer's signing keys by key id (blocking: run in a thread)."""
    discovery = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", thumbprints)
    jwks_uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
    if not isinstance(jwks_uri, str):
        raise invalid_token(_NO_KEY)
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
        raise invalid_token(_NO_KEY)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        try:
            return _request(parts.hostname, parts.port or 443, target, ssl.create_default_context())
        except ssl.SSLCertVerificationError:
            if not thumbprints:
                raise invalid_token(_NO_KEY) from None
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        return _request(parts.hostname, parts.port or 443, target, unverified, thumbprints)
    except (OSError, ValueError, http.client.HTTPException):
        raise invalid_token(_NO_KEY) from None


def _request(
    host: str, port: int, target: str, context: ssl.SSLContext, thumbprints: list[str] = ()
) -> object:
    connection = http.client.HTTPSConnection(host, port, timeout=FETCH_TIMEOUT_S, context=context)
    try:
        connection.connect()
        if thumbprints:
            certificate = connection.sock.getpeercert(binary_form=True) or b""
            if hashlib.sha1(certificate).hexdigest() not in thumbprints:
                raise invalid_token(
                    "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"
                )
        connection.request("GET", target, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read(MAX_DOCUMENT + 1)
        if response.status != 200 or len(body) > MAX_DOCUMENT:
            raise ValueError(f"{response.status} from {host}")
        return json.loads(body)
    finally:
        connection.close()
