"""Running a REST API's Lambda authorizers (``TOKEN`` and ``REQUEST``) for the data plane.

The identity sources are read first: a missing or empty one, or a token not matching
``identityValidationExpression``, is 401 ``{"message":"Unauthorized"}`` without calling
the function. The function is invoked as ``apigateway.amazonaws.com`` (``aws:SourceArn``
``arn:aws:execute-api:<region>:<account>:<api>/authorizers/<id>``), or as a session of
the authorizer's ``authorizerCredentials`` role, with AWS's authorizer event. Its answer
(``principalId``, ``policyDocument``, ``context``) is kept for
``authorizerResultTtlInSeconds`` under the identity source values, and its policy is
evaluated against each request's method ARN by sandlot's IAM evaluator — a cached
policy naming one path does not allow another, as in AWS. A function failing with
``Unauthorized`` is 401; any other failure or a malformed answer is AWS's 500
``AuthorizerConfigurationException``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from sandlot.iam.policy import (
    Caller,
    MalformedPolicyError,
    Outcome,
    Request,
    compile_policy,
    evaluate,
)
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse, json_response
from sandlot.services.apigateway.authorizers import DEFAULT_TTL, identity_sources
from sandlot.services.apigateway.base import Doc, function_of

log = logging.getLogger("sandlot.apigateway")

_CACHE_LIMIT = 10_000
# The policy an authorizer returns is evaluated as an identity policy of the caller it
# vouches for (AWS names no IAM principal for it).
_CALLER = Caller("user", arn="lambda-authorizer")


def unauthorized() -> DataPlaneResponse:
    return _error(401, "Unauthorized", "UnauthorizedException")


def _error(status: int, message: str | None, kind: str) -> DataPlaneResponse:
    return json_response(status, {"message": message}, [("x-amzn-ErrorType", kind)])


def configuration_error() -> DataPlaneResponse:
    """AWS's answer when the authorizer cannot be run or answers nonsense."""
    return _error(500, None, "AuthorizerConfigurationException")


@dataclass(frozen=True)
class Grant:
    """An authorizer's answer, as cached."""

    principal_id: str
    policy: Any  # the compiled policy document
    context: dict[str, str]
    usage_key: str | None = None  # usageIdentifierKey: the API key, for apiKeySource AUTHORIZER

    def check(self, method_arn: str) -> DataPlaneResponse | None:
        """None when the policy allows invoking ``method_arn``, else AWS's 403."""
        decision = evaluate(Request(_CALLER, "execute-api:Invoke", method_arn,
                                    identity_policies=[self.policy]))  # fmt: skip
        if decision.outcome == Outcome.ALLOW:
            return None
        if decision.outcome == Outcome.EXPLICIT_DENY:
            message = "User is not authorized to access this resource with an explicit deny"
        else:
            message = "User is not authorized to access this resource"
        return _error(403, message, "AccessDeniedException")

    def request_context(self) -> dict[str, Any]:
        """``requestContext.authorizer`` of the integration's event."""
        return {**self.context, "principalId": self.principal_id, "integrationLatency": 0}


class LambdaAuthorizers:
    """Runs authorizers and caches their grants (one instance per provider)."""

    def __init__(self, platform) -> None:
        self.platform = platform
        self._cache: dict[tuple, tuple[float, Grant]] = {}
        self.invocations = 0  # how many times an authorizer function ran

    async def authorize(
        self,
        authorizer: Doc,
        request: DataPlaneRequest,
        *,
        api_id: str,
        account: str,
        region: str,
        method_arn: str,
        base_event: dict[str, Any],
        stage_variables: dict[str, str],
    ) -> Grant | DataPlaneResponse:
        kind = authorizer["type"]
        if kind not in ("TOKEN", "REQUEST"):
            log.warning("REST API %s: %s authorizers are not served yet", api_id, kind)
            return configuration_error()
        values = _identity(authorizer, request, base_event, stage_variables)
        if values is None:
            return unauthorized()
        if kind == "TOKEN":
            expression = authorizer.get("identityValidationExpression")
            if expression and re.fullmatch(expression, values[0]) is None:
                return unauthorized()
            event: dict[str, Any] = {"type": "TOKEN", "authorizationToken": values[0],
                                     "methodArn": method_arn}  # fmt: skip
        else:
            event = {"type": "REQUEST", "methodArn": method_arn, **base_event}
        ttl = int(authorizer.get("authorizerResultTtlInSeconds", DEFAULT_TTL))
        key = (api_id, authorizer["id"], json.dumps(authorizer, sort_keys=True), *values)
        cached = self._cache.get(key) if ttl > 0 and values else None
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            grant = cached[1]
        else:
            answer = await self._invoke(authorizer, event, api_id, account, region)
            if isinstance(answer, DataPlaneResponse):
                return answer
            grant = answer
            if ttl > 0 and values:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                    if len(self._cache) >= _CACHE_LIMIT:
                        self._cache.clear()
                self._cache[key] = (now + ttl, grant)
        return grant.check(method_arn) or grant

    async def _invoke(
        self, authorizer: Doc, event: dict, api_id: str, account: str, region: str
    ) -> Grant | DataPlaneResponse:
        function = function_of(authorizer.get("authorizerUri"))
        role = authorizer.get("authorizerCredentials")
        source_arn = (
            f"arn:aws:execute-api:{region}:{account}:{api_id}/authorizers/{authorizer['id']}"
        )
        if role:
            if not self.platform.authorizer.can_assume(role, "apigateway.amazonaws.com", account):
                log.warning("REST API %s: authorizer %s: API Gateway cannot assume %s",
                            api_id, authorizer["name"], role)  # fmt: skip
                return configuration_error()
            principal = self.platform.function_principal(role, "apigateway-authorizer")
        else:
            principal = Principal.service("apigateway.amazonaws.com", account)
        self.invocations += 1
        try:
            result = await self.platform.call(
                "lambda",
                "Invoke",
                {"FunctionName": function, "Payload": json.dumps(event).encode()},
                principal=principal,
                region=region,
                context={"aws:SourceArn": source_arn, "aws:SourceAccount": account},
            )
        except ServiceError as error:
            log.warning("REST API %s: authorizer %s: invoking %s failed: %s",
                        api_id, authorizer["name"], function, error)  # fmt: skip
            return configuration_error()
        payload = result.get("Payload") or b""
        if result.get("FunctionError"):
            try:
                message = json.loads(payload).get("errorMessage")
            except (ValueError, AttributeError):
                message = None
            return unauthorized() if message == "Unauthorized" else configuration_error()
        grant = _grant(payload)
        if grant is None:
            log.warning("REST API %s: authorizer %s answered an invalid policy: %.300s",
                        api_id, authorizer["name"], payload)  # fmt: skip
            return configuration_error()
        return grant


def _identity(
    authorizer: Doc, request: DataPlaneRequest, event: dict, stage_variables: dict[str, str]
) -> tuple[str, ...] | None:
    """The identity source values, None when one is missing or empty."""
    values = []
    for source in identity_sources(authorizer.get("identitySource")):
        value: object = None
        if source.startswith("method.request.header."):
            value = request.header(source.removeprefix("method.request.header."))
        elif source.startswith("method.request.multivalueheader."):
            value = request.header(source.removeprefix("method.request.multivalueheader."))
        elif source.startswith("method.request.querystring."):
            name = source.removeprefix("method.request.querystring.")
            value = (event.get("queryStringParameters") or {}).get(name)
        elif source.startswith("method.request.multivaluequerystring."):
            name = source.removeprefix("method.request.multivaluequerystring.")
            found = (event.get("multiValueQueryStringParameters") or {}).get(name)
            value = ",".join(found) if found else None
        elif source.startswith("stageVariables."):
            value = stage_variables.get(source.removeprefix("stageVariables."))
        elif source.startswith("context."):
            value = event.get("requestContext", {}).get(source.removeprefix("context."))
        if value is None or value == "":
            return None
        values.append(str(value))
    return tuple(values)


def _grant(payload: bytes) -> Grant | None:
    """The function's answer as a grant; None when it is not a valid authorizer answer
    (a principalId, a policy document, a context of strings, numbers and booleans)."""
    try:
        answer = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(answer, dict) or "policyDocument" not in answer:
        return None
    principal_id = answer.get("principalId")
    context = answer.get("context") or {}
    if not isinstance(principal_id, str | int | float) or not isinstance(context, dict):
        return None
    strings = {}
    for key, value in context.items():
        if isinstance(value, bool):
            strings[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            strings[key] = str(value)
        else:
            return None  # AWS accepts only primitive context values
    try:
        policy = compile_policy(answer["policyDocument"], "identity")
    except (MalformedPolicyError, TypeError, ValueError):
        return None
    usage_key = answer.get("usageIdentifierKey")
    return Grant(str(principal_id), policy, strings, str(usage_key) if usage_key else None)
