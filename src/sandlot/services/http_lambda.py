"""Invoking a Lambda function as API Gateway does, for every API kind (REST and HTTP
proxy integrations, WebSocket routes, Lambda authorizers): as the service principal
``apigateway.amazonaws.com`` of the API's account (or a session of an integration's
credentials role), with ``aws:SourceArn`` naming the API's method, route or authorizer,
so the function's resource policy decides as in AWS."""

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
) -> dict:
    """Lambda's ``Invoke`` answer (``Payload``, ``FunctionError``…); ``ServiceError``
    when the call is refused."""
    return await platform.call(
        "lambda",
        "Invoke",
        {"FunctionName": function, "Payload": json.dumps(event).encode()},
        principal=principal or Principal.service(SERVICE, account),
        region=region,
        request_id=request_id,
        context={"aws:SourceArn": source_arn, "aws:SourceAccount": account},
    )
