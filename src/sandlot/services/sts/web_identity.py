"""Verifying OpenID Connect tokens for ``AssumeRoleWithWebIdentity``, as STS does.

A token names its issuer (``iss``); the role's account must have an IAM OIDC provider
for that issuer whose client id list holds the token's audience. The issuer's signing
keys come from ``services/oidc.py``: a certificate a trusted CA vouches for is accepted,
otherwise its SHA-1 thumbprint must be one of the provider's (how a self-hosted issuer
with a private CA — or a test's self-signed one — is trusted, as in AWS).
Signatures and ``exp``/``nbf`` are checked by PyJWT.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import jwt

from sandlot.protocol import ServiceError
from sandlot.services.oidc import IssuerKeys, KeyUnavailable, ThumbprintMismatch

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


class TokenVerifier:
    """Checks tokens against their issuers' published keys (one per platform)."""

    def __init__(self) -> None:
        self._keys = IssuerKeys()

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
        try:
            return await self._keys.key(issuer, kid, thumbprints)
        except ThumbprintMismatch:
            raise invalid_token(
                "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"
            ) from None
        except KeyUnavailable:
            raise invalid_token(_NO_KEY) from None


def _stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
