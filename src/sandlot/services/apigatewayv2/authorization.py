"""Authorizing a request to an HTTP API route, by the route's ``AuthorizationType``:

- ``JWT``: the token in the identity source (``Bearer `` stripped) must be signed by a
  key of the authorizer's issuer (its discovery document's JWKS, ``services/oidc.py``),
  name that issuer, be within ``exp``/``nbf``, and have an ``aud`` among the audiences
  — or, without ``aud`` (access tokens), a ``client_id`` among them. Else 401
  ``{"message":"Unauthorized"}`` with a ``www-authenticate`` header, as AWS answers.
  With ``AuthorizationScopes`` on the route the token's ``scope`` (or ``scp``) must hold
  one of them: else 403 ``{"message":"Forbidden"}``. The claims reach the integration as
  strings, in ``requestContext.authorizer.jwt.claims``.
- ``CUSTOM``: a Lambda ``REQUEST`` authorizer with AWS's payload 1.0 or 2.0 event; a
  missing identity source is 401 without calling it; its answer is a simple response
  (``isAuthorized``) or an IAM policy evaluated against the route ARN by sandlot's IAM;
  answers are cached by identity source values for ``AuthorizerResultTtlInSeconds``.
  Denied: 403 ``{"message":"Forbidden"}``; a failure: 500 ``Internal Server Error``.
- ``AWS_IAM``: the SigV4 signer must be allowed ``execute-api:Invoke`` on the route ARN.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from sandlot.iam.policy import (
    Caller,
    MalformedPolicyError,
    Outcome,
    Request,
    compile_policy,
    evaluate,
)
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse, json_response
from sandlot.services import lambda_authorizers
from sandlot.services.apigatewayv2.base import Doc
from sandlot.services.apigatewayv2.resources import lambda_target
from sandlot.services.lambda_authorizers import AnswerCache
from sandlot.services.oidc import IssuerKeys, KeyUnavailable

log = logging.getLogger("sandlot.apigatewayv2")

# API Gateway's JWT authorizers accept RSA signatures only.
_ALGORITHMS = ["RS256", "RS384", "RS512"]
_POLICY_CALLER = Caller("user", arn="lambda-authorizer")


@dataclass
class Authorized:
    """What the integration's event carries of the authorization."""

    kind: str  # JWT | CUSTOM | AWS_IAM
    claims: dict[str, str] = field(default_factory=dict)
    scopes: list[str] | None = None
    context: dict[str, Any] = field(default_factory=dict)
    principal_id: str | None = None
    iam: dict[str, Any] | None = None

    def for_event(self, version: str) -> dict[str, Any]:
        """``requestContext.authorizer`` of a payload ``version`` event."""
        if self.kind == "JWT":
            inner = {"claims": self.claims, "scopes": self.scopes}
            return {"jwt": inner} if version == "2.0" else inner
        if self.kind == "AWS_IAM":
            return {"iam": self.iam} if version == "2.0" else {}
        if version == "2.0":
            return {"lambda": self.context}
        found = {**self.context, "integrationLatency": 0}
        if self.principal_id is not None:
            found["principalId"] = self.principal_id
        return found


def unauthorized(description: str | None = None) -> DataPlaneResponse:
    headers = []
    if description is not None:
        headers.append(("www-authenticate", f'Bearer scope="" error="invalid_token" '
                                            f'error_description="{description}"'))  # fmt: skip
    return json_response(401, {"message": "Unauthorized"}, headers)


def forbidden() -> DataPlaneResponse:
    return json_response(403, {"message": "Forbidden"})


def _internal_error() -> DataPlaneResponse:
    return json_response(500, {"message": "Internal Server Error"})


class RouteAuthorizers:
    """One per provider: issuers' keys and Lambda authorizers' cached answers."""

    def __init__(self, platform) -> None:
        self.platform = platform
        self.keys = IssuerKeys(platform)  # sandlot's own user pools: no fetch
        self.answers = AnswerCache()

    async def authorize(
        self,
        route: Doc,
        authorizer: Doc | None,
        request: DataPlaneRequest,
        *,
        api_id: str,
        account: str,
        region: str,
        route_arn: str,
        request_id: str,
        build_event: Callable[[str], dict[str, Any]],
    ) -> Authorized | DataPlaneResponse:
        """``build_event(version)`` makes the request's proxy event of a payload format
        version: a Lambda authorizer's event is made from one."""
        kind = route.get("AuthorizationType", "NONE")
        if kind == "AWS_IAM":
            return self._iam(request, route_arn, region, request_id)
        if authorizer is None:
            return _internal_error()
        event = build_event(authorizer.get("AuthorizerPayloadFormatVersion") or "2.0")
        values = _identity(authorizer, request, event)
        if values is None:
            return unauthorized()
        if kind == "JWT":
            return await self._jwt(route, authorizer, values[0])
        return await self._lambda(authorizer, values, api_id, account, region, route_arn, event)

    def _iam(
        self, request: DataPlaneRequest, route_arn: str, region: str, request_id: str
    ) -> Authorized | DataPlaneResponse:
        principal = request.principal
        if principal is None:
            return forbidden()
        decision = self.platform.authorizer.decide(
            principal, "execute-api:Invoke", route_arn, request_id=request_id, region=region,
            context={"aws:SourceIp": request.source_ip, "aws:SecureTransport": request.secure},
        )  # fmt: skip
        if decision.outcome != Outcome.ALLOW:
            return forbidden()
        return Authorized("AWS_IAM", iam={
            "accessKey": principal.access_key_id, "accountId": principal.account_id,
            "callerId": principal.user_id, "cognitoIdentity": None, "principalOrgId": None,
            "userArn": principal.arn, "userId": principal.user_id})  # fmt: skip

    async def _jwt(self, route: Doc, authorizer: Doc, token: str) -> Authorized | DataPlaneResponse:
        config = authorizer.get("JwtConfiguration") or {}
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return unauthorized("the token is malformed")
        if header.get("alg") not in _ALGORITHMS:
            return unauthorized("the token is not signed with a supported algorithm")
        if unverified.get("iss") != config.get("Issuer"):
            return unauthorized("the token does not have a valid issuer")
        try:
            key = await self.keys.key(config["Issuer"], header.get("kid"))
        except KeyUnavailable as error:
            log.warning("JWT authorizer %s: %s", authorizer.get("Name"), error)
            return unauthorized("the signing key could not be found")
        try:
            claims = jwt.decode(token, key.key, algorithms=[header["alg"]],
                                options={"verify_aud": False, "require": ["exp"]})  # fmt: skip
        except jwt.ExpiredSignatureError:
            return unauthorized("the token has expired")
        except jwt.ImmatureSignatureError:
            return unauthorized("the token is not valid yet")
        except jwt.PyJWTError:
            return unauthorized("signature is invalid")
        audiences = config.get("Audience") or []
        aud = claims.get("aud")
        if aud is not None:
            if not any(a in audiences for a in (aud if isinstance(aud, list) else [aud])):
                return unauthorized("the token does not have a valid audience")
        elif claims.get("client_id") not in audiences:
            return unauthorized("the token does not have a valid audience")
        scopes = claims.get("scope", claims.get("scp"))
        granted = scopes.split() if isinstance(scopes, str) else list(scopes or [])
        wanted = route.get("AuthorizationScopes") or []
        if wanted and not set(wanted) & set(granted):
            return forbidden()
        return Authorized("JWT", {k: _claim(v) for k, v in claims.items()},
                          granted if scopes is not None else None)  # fmt: skip

    async def _lambda(
        self, authorizer: Doc, values: tuple[str, ...], api_id: str, account: str, region: str,
        route_arn: str, event: dict[str, Any],
    ) -> Authorized | DataPlaneResponse:  # fmt: skip
        ttl = int(authorizer.get("AuthorizerResultTtlInSeconds") or 0)
        key = (api_id, json.dumps(authorizer, sort_keys=True), *values)
        answer = self.answers.get(key) if ttl > 0 else None
        if answer is None:
            base = {k: v for k, v in event.items() if k not in ("body", "isBase64Encoded")}
            if authorizer.get("AuthorizerPayloadFormatVersion") == "2.0":
                request_event = {"version": "2.0", "type": "REQUEST", "routeArn": route_arn,
                                 "identitySource": list(values), **base}  # fmt: skip
            else:
                request_event = {"version": "1.0", "type": "REQUEST", "methodArn": route_arn,
                                 "identitySource": ",".join(values),
                                 "authorizationToken": values[0] if values else None, **base}  # fmt: skip
            try:
                answer = await lambda_authorizers.invoke(
                    self.platform,
                    function=lambda_target(authorizer.get("AuthorizerUri") or "") or "",
                    role=authorizer.get("AuthorizerCredentialsArn"),
                    event=request_event,
                    account=account,
                    region=region,
                    source_arn=f"arn:aws:execute-api:{region}:{account}:{api_id}/authorizers/"
                    f"{authorizer['AuthorizerId']}",
                )
            except lambda_authorizers.Failed as error:
                log.warning("HTTP API %s: authorizer %s: %s", api_id, authorizer["Name"], error)
                return _internal_error()
            if answer == lambda_authorizers.UNAUTHORIZED:
                return unauthorized()
            if ttl > 0:
                self.answers.put(key, ttl, answer)
        return _decide(authorizer, answer, route_arn, api_id)


def _decide(
    authorizer: Doc, answer: Any, route_arn: str, api_id: str
) -> Authorized | DataPlaneResponse:
    if not isinstance(answer, dict) or not isinstance(answer.get("context") or {}, dict):
        log.warning(
            "HTTP API %s: authorizer %s answered %.200s", api_id, authorizer["Name"], answer
        )
        return _internal_error()
    context = answer.get("context") or {}
    if authorizer.get("EnableSimpleResponses"):
        if not isinstance(answer.get("isAuthorized"), bool):
            log.warning("HTTP API %s: authorizer %s answered no isAuthorized", api_id,
                        authorizer["Name"])  # fmt: skip
            return _internal_error()
        return Authorized("CUSTOM", context=context) if answer["isAuthorized"] else forbidden()
    try:
        policy = compile_policy(answer["policyDocument"], "identity")
    except (KeyError, MalformedPolicyError, TypeError, ValueError):
        log.warning("HTTP API %s: authorizer %s answered no valid policy", api_id,
                    authorizer["Name"])  # fmt: skip
        return _internal_error()
    decision = evaluate(Request(_POLICY_CALLER, "execute-api:Invoke", route_arn,
                                identity_policies=[policy]))  # fmt: skip
    if decision.outcome != Outcome.ALLOW:
        return forbidden()
    principal = answer.get("principalId")
    return Authorized("CUSTOM", context=context,
                      principal_id=str(principal) if principal is not None else None)  # fmt: skip


def _identity(authorizer: Doc, request: DataPlaneRequest, event: dict) -> tuple[str, ...] | None:
    """The identity source values; None when one is missing or empty."""
    values = []
    context = event.get("requestContext") or {}
    for source in authorizer.get("IdentitySource") or []:
        value: object = None
        if source.startswith("$request.header."):
            value = request.header(source.removeprefix("$request.header."))
        elif source.startswith("$request.querystring."):
            name = source.removeprefix("$request.querystring.")
            query = event.get("queryStringParameters") or {}
            value = query.get(name)
        elif source.startswith("$context."):
            value = context
            for part in source.removeprefix("$context.").split("."):
                value = value.get(part) if isinstance(value, dict) else None
        elif source.startswith("$stageVariables."):
            value = (event.get("stageVariables") or {}).get(source.removeprefix("$stageVariables."))
        if value is None or value == "":
            return None
        values.append(str(value))
    return tuple(values)


def _claim(value: Any) -> str:
    """A claim as API Gateway passes it on: a string (lists as ``[a b]``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
