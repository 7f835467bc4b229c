"""Running a REST API's Lambda authorizers (``TOKEN`` and ``REQUEST``) for the data plane.

The identity sources are read first: a missing or empty one, or a token not matching
``identityValidationExpression``, is 401 ``{"message":"Unauthorized"}`` without calling
the function. The function is invoked (``services/lambda_authorizers.py``: as
``apigateway.amazonaws.com`` with ``aws:SourceArn``
``arn:aws:execute-api:<region>:<account>:<api>/authorizers/<id>``, or as a session of
the authorizer's ``authorizerCredentials`` role) with AWS's authorizer event. Its answer
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
from dataclasses import dataclass, field
from typing import Any

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
from sandlot.services.apigateway.authorizers import DEFAULT_TTL, identity_sources
from sandlot.services.apigateway.base import Doc, function_of
from sandlot.services.apigateway.tracing import StageTrace
from sandlot.services.lambda_authorizers import AnswerCache

log = logging.getLogger("sandlot.apigateway")

# The policy an authorizer returns is evaluated as an identity policy of the caller it
# vouches for (AWS names no IAM principal for it).
_CALLER = Caller("user", arn="lambda-authorizer")
_DECISIONS_KEPT = 256


def unauthorized() -> DataPlaneResponse:
    return _error(401, "Unauthorized", "UnauthorizedException")


def _error(status: int, message: str | None, kind: str) -> DataPlaneResponse:
    return json_response(status, {"message": message}, [("x-amzn-ErrorType", kind)])


def configuration_error() -> DataPlaneResponse:
    """AWS's answer when the authorizer cannot be run or answers nonsense."""
    return _error(500, None, "AuthorizerConfigurationException")


@dataclass
class Grant:
    """An authorizer's answer, as cached; it remembers its decision per method ARN (a
    cached answer is asked again and again for the same few methods)."""

    principal_id: str
    policy: Any  # the compiled policy document
    context: dict[str, str]
    usage_key: str | None = None  # usageIdentifierKey: the API key, for apiKeySource AUTHORIZER
    _decided: dict[str, Outcome] = field(default_factory=dict)

    def check(self, method_arn: str) -> DataPlaneResponse | None:
        """None when the policy allows invoking ``method_arn``, else AWS's 403."""
        outcome = self._decided.get(method_arn)
        if outcome is None:
            outcome = evaluate(Request(_CALLER, "execute-api:Invoke", method_arn,
                                       identity_policies=[self.policy])).outcome  # fmt: skip
            if len(self._decided) >= _DECISIONS_KEPT:
                self._decided.clear()
            self._decided[method_arn] = outcome
        if outcome == Outcome.ALLOW:
            return None
        if outcome == Outcome.EXPLICIT_DENY:
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
        self._cache = AnswerCache()

    async def authorize(
        self,
        authorizer: Doc,
        request: DataPlaneRequest,
        *,
        api_id: str,
        stage: str,
        account: str,
        region: str,
        method_arn: str,
        base_event: dict[str, Any],
        stage_variables: dict[str, str],
        trace: StageTrace | None = None,
    ) -> Grant | DataPlaneResponse:
        """The authorizer's grant (cached for its TTL) or AWS's refusal; on a traced
        stage an authorizer that runs is a ``Lambda`` call of the stage's segment, and
        its invocation continues the trace."""
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
        # The authorizer's whole document is in the key (its fingerprint, made when the
        # stage was compiled): a redeployed change misses. The cache is per stage, as
        # AWS's (FlushStageAuthorizersCache empties one stage's).
        fingerprint = authorizer.get("_fingerprint") or json.dumps(authorizer, sort_keys=True)
        key = (api_id, stage, fingerprint, *values)
        grant = self._cache.get(key) if ttl > 0 and values else None
        if grant is None:
            function = function_of(authorizer.get("authorizerUri")) or ""
            header = trace.call_lambda(function, region) if trace is not None else None
            try:
                answer = await lambda_authorizers.invoke(
                    self.platform,
                    function=function,
                    role=authorizer.get("authorizerCredentials"),
                    event=event,
                    account=account,
                    region=region,
                    source_arn=f"arn:aws:execute-api:{region}:{account}:{api_id}/authorizers/"
                    f"{authorizer['id']}",
                    trace_header=header,
                )
                if trace is not None:
                    trace.answered(200)
            except lambda_authorizers.Failed as error:
                if trace is not None:
                    trace.answered(None)
                log.warning("REST API %s: authorizer %s: %s", api_id, authorizer["name"], error)
                return configuration_error()
            if answer == lambda_authorizers.UNAUTHORIZED:
                return unauthorized()
            grant = _grant(answer)
            if grant is None:
                log.warning("REST API %s: authorizer %s answered an invalid policy: %.300s",
                            api_id, authorizer["name"], answer)  # fmt: skip
                return configuration_error()
            if ttl > 0 and values:
                self._cache.put(key, ttl, grant)
        return grant.check(method_arn) or grant

    def flush(self, api_id: str, stage: str) -> None:
        """Forget the stage's cached answers: its next requests call the authorizers."""
        self._cache.discard_prefix((api_id, stage))


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


def _grant(answer: Any) -> Grant | None:
    """The function's answer as a grant; None when it is not a valid authorizer answer
    (a principalId, a policy document, a context of strings, numbers and booleans)."""
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
