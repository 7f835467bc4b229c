"""REST API ``COGNITO_USER_POOLS`` authorizers for the data plane.

The token is the identity source header's value (the raw JWT, as API Gateway expects
it; a ``Bearer`` prefix is tolerated). It must be signed by, and name as ``iss``, one of
the authorizer's ``providerARNs`` user pools; its key comes from sandlot's own pool
(``services/oidc.py``: no network fetch). Without ``authorizationScopes`` on the
method an ID token is expected; with them an access token whose ``scope`` holds one of
them. Anything else — no header, a malformed, expired, foreign or wrongly used token —
is 401 ``{"message":"Unauthorized"}``. The verified claims reach the integration as
``requestContext.authorizer.claims``, every value a string as AWS writes them
(arrays comma-joined, ``exp``/``iat`` as dates).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import jwt

from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse
from sandlot.services.apigateway.authorization import unauthorized
from sandlot.services.oidc import IssuerKeys, KeyUnavailable

log = logging.getLogger("sandlot.apigateway")


def _issuer(provider_arn: str) -> str | None:
    """``arn:aws:cognito-idp:<region>:<account>:userpool/<id>`` → the pool's issuer."""
    parts = provider_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "cognito-idp" or not parts[5].startswith("userpool/"):
        return None
    return f"https://cognito-idp.{parts[3]}.amazonaws.com/{parts[5].removeprefix('userpool/')}"


def _string(name: str, value: Any) -> str:
    if name in ("exp", "iat") and isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


class UserPoolAuthorizers:
    """One per provider (it holds the key lookup)."""

    def __init__(self, platform) -> None:
        self.keys = IssuerKeys(platform)

    async def authorize(
        self, authorizer: dict, method: dict, request: DataPlaneRequest
    ) -> dict[str, Any] | DataPlaneResponse:
        """``requestContext.authorizer`` for a valid token, else AWS's 401."""
        source = authorizer.get("identitySource") or "method.request.header.Authorization"
        token = request.header(source.removeprefix("method.request.header.")) or ""
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            return unauthorized()
        issuers = {_issuer(arn) for arn in authorizer.get("providerARNs") or []}
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
            if unverified.get("iss") not in issuers or header.get("alg") != "RS256":
                return unauthorized()
            key = await self.keys.key(unverified["iss"], header.get("kid"))
            claims = jwt.decode(token, key.key, algorithms=["RS256"],
                                options={"verify_aud": False, "require": ["exp"]})  # fmt: skip
        except (jwt.PyJWTError, KeyUnavailable) as error:
            log.info("REST API %s: Cognito authorizer %s refused a token: %s",
                     request.target, authorizer.get("name"), error)  # fmt: skip
            return unauthorized()
        scopes = method.get("authorizationScopes") or []
        if scopes:
            granted = str(claims.get("scope", "")).split()
            if claims.get("token_use") != "access" or not set(scopes) & set(granted):
                return unauthorized()
        elif claims.get("token_use") != "id":
            return unauthorized()
        return {"claims": {name: _string(name, value) for name, value in claims.items()}}
