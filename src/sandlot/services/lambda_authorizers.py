"""What REST and HTTP APIs' Lambda authorizers share: invoking the function as API
Gateway does, and caching its answers.

The function is invoked as ``apigateway.amazonaws.com`` (``aws:SourceArn`` names the
authorizer, so the function's resource policy must allow it, as in AWS) or, when the
authorizer has a credentials role, as a session of that role (whose trust policy must
allow ``apigateway.amazonaws.com``). Each API kind builds its own event and reads its
own answer shape.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services import http_lambda

log = logging.getLogger("sandlot.apigateway")

UNAUTHORIZED = "Unauthorized"  # the function failed with this message: the caller gets 401
_CACHE_LIMIT = 10_000


class Failed(Exception):
    """The authorizer could not be run, or failed: AWS's 500 (each API kind's own body)."""


async def invoke(
    platform,
    *,
    function: str,
    role: str | None,
    event: dict[str, Any],
    account: str,
    region: str,
    source_arn: str,
    trace_header: str | None = None,
) -> Any:
    """The function's answer (parsed JSON), or ``UNAUTHORIZED`` when it failed with
    "Unauthorized"; ``Failed`` otherwise. ``trace_header``: a traced stage's header
    for the invocation (else the client's, from a REQUEST event's headers)."""
    principal = None
    if role:
        if not platform.authorizer.can_assume(role, http_lambda.SERVICE, account):
            raise Failed(f"API Gateway cannot assume {role}")
        principal = platform.function_principal(role, "apigateway-authorizer")
    try:
        result = await http_lambda.invoke(
            platform, function, event, account=account, region=region,
            source_arn=source_arn, principal=principal, trace_header=trace_header,
        )  # fmt: skip
    except ServiceError as error:
        raise Failed(f"invoking {function} failed: {error}") from None
    payload = result.get("Payload") or b""
    try:
        answer = json.loads(payload)
    except ValueError:
        raise Failed(f"{function} answered no JSON: {payload[:200]!r}") from None
    if result.get("FunctionError"):
        if isinstance(answer, dict) and answer.get("errorMessage") == UNAUTHORIZED:
            return UNAUTHORIZED
        raise Failed(f"{function} failed: {str(answer)[:300]}")
    return answer


class AnswerCache:
    """Authorizer answers by key (the authorizer and its identity source values) for
    their TTL."""

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[float, Any]] = {}

    def get(self, key: tuple) -> Any | None:
        found = self._entries.get(key)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def put(self, key: tuple, ttl: int, value: Any) -> None:
        now = time.monotonic()
        if len(self._entries) >= _CACHE_LIMIT:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= _CACHE_LIMIT:
                self._entries.clear()
        self._entries[key] = (now + ttl, value)

    def discard_prefix(self, prefix: tuple) -> None:
        """Drop the entries whose key starts with ``prefix``."""
        size = len(prefix)
        self._entries = {k: v for k, v in self._entries.items() if k[:size] != prefix}
