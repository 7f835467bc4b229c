"""Invoking a Lambda function as API Gateway does, for every API kind (REST and HTTP
proxy integrations, WebSocket routes, Lambda authorizers): as the service principal
``apigateway.amazonaws.com`` of the API's account (or a session of an integration's
credentials role), with ``aws:SourceArn`` naming the API's method, route or authorizer,
so the function's resource policy decides as in AWS. The client's X-Ray trace header
goes with the invocation."""

from __future__ import annotations

import json
from typing import Any

from sandlot.iam.principal import Principal

SERVICE = "apigateway.amazonaws.com"


async def invoke(
    platform,
    function: str,
    event: dict[str, Any],
    *,
    account: str,
    region: str,
    source_arn: str,
    request_id: str | None = None,
    principal: Principal | None = None,
    trace_header: str | None = None,
) -> dict:
    """Lambda's ``Invoke`` answer (``Payload``, ``FunctionError``…); ``ServiceError``
    when the call is refused. ``trace_header`` (API Gateway's own, when it traces)
    replaces the client's header from the event."""
    return await platform.call(
        "lambda",
        "Invoke",
        {"FunctionName": function, "Payload": json.dumps(event).encode()},
        principal=principal or Principal.service(SERVICE, account),
        region=region,
        request_id=request_id,
        context={"aws:SourceArn": source_arn, "aws:SourceAccount": account},
        trace_header=trace_header or _trace_header(event),
    )


def _trace_header(event: dict[str, Any]) -> str | None:
    """The client's ``X-Amzn-Trace-Id``: API Gateway passes it on to the function, so
    its invocation continues the caller's X-Ray trace."""
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "x-amzn-trace-id" and isinstance(value, str):
            return value
    return None
