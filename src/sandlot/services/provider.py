"""What every provider is given: the platform's shared parts and each request's context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from sandlot.iam.principal import Principal
from sandlot.protocol import HttpRequest, ServiceError, constraints

if TYPE_CHECKING:
    from sandlot.platform import Platform


@dataclass(slots=True)
class RequestContext:
    """One request as a provider sees it: who asks, where, and the raw HTTP request
    (None for internal calls between services)."""

    request_id: str
    account_id: str
    region: str
    principal: Principal
    service: str
    operation: str
    request: HttpRequest | None
    # An internal call's X-Ray trace header: the chain it belongs to (events/lineage.py).
    trace_header: str | None = None

    def trace(self) -> str | None:
        """The request's X-Ray trace header (``X-Amzn-Trace-Id``), if it has one."""
        if self.trace_header is None and self.request is not None:
            return self.request.headers.get("x-amzn-trace-id")
        return self.trace_header


class Provider:
    """Base class: one subclass per AWS service, one method per implemented operation.

    A method is named after the operation in snake_case (``GetCallerIdentity`` →
    ``get_caller_identity``), takes ``(ctx, params)`` where ``params`` is the parsed
    input dict, and returns the output dict (or a coroutine of it). Errors are raised
    as ``ServiceError``. Operations without a method answer 501.
    """

    service: ClassVar[str]

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    # The error a broken model constraint (length, range, pattern, enum) answers in this
    # service (Lambda ValidationException, Logs InvalidParameterException…), as a
    # staticmethod; the default ``validate`` then checks them before IAM, as AWS does.
    # None: the parser's checks (required members, types) are all.
    constraint_error: ClassVar[Callable[[str], ServiceError] | None] = None

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """Refuse a malformed request (raise ServiceError) before it is authorized; the
        default checks the model's constraints when the service names their error."""
        if self.constraint_error is not None:
            constraints.check_input(ctx.service, ctx.operation, params, self.constraint_error)
