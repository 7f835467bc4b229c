"""The optimized API Gateway integration (``arn:aws:states:::apigateway:invoke``, also
``.waitForTaskToken``): a Task calls a REST or HTTP API that sandlot serves, as AWS's
"Create API Gateway REST APIs with Step Functions" describes it.

Arguments: ``ApiEndpoint`` (``<apiId>.execute-api.<region>.amazonaws.com``; sandlot's
local host names for the API are accepted too), ``Method``, and optionally ``Headers`` and
``QueryParameters`` (a list of values per name; a single string is taken as one value),
``Stage`` (none for an HTTP API's ``$default`` stage), ``Path``, ``RequestBody`` (an
object is sent as JSON with its null members left out unless ``AllowNullValues``; sent
for PATCH, POST and PUT only) and ``AuthType``: ``NO_AUTH`` (the default) or
``IAM_ROLE`` (the request is the machine's role's, as AWS signs it with SigV4; the API's
IAM authorization then decides). ``RESOURCE_POLICY`` is not supported (``States.Runtime``).

The request goes to the API's data plane in-process (the provider that serves the API id,
as the gateway picks it), never over the network. Result ``{ResponseBody, Headers:
{name: [values]}, StatusCode, StatusText}`` (a JSON body parsed); any status other than
2xx fails the task with ``ApiGateway.<status>``, the response body as the cause.
"""

from __future__ import annotations

import http
import json
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from sandlot.protocol.dataplane import DataPlaneRequest
from sandlot.services.stepfunctions.base import engine
from sandlot.services.stepfunctions.http_task import METHODS, response_body

if TYPE_CHECKING:
    from sandlot.services.stepfunctions.runtime import ExecutionRuntime

_ENDPOINT = re.compile(
    r"^(?P<id>[0-9a-z]+)\.execute-api\."
    r"(?:(?P<region>[a-z0-9-]+)\.amazonaws\.com|localhost(?:\.localstack\.cloud)?(?::\d+)?)$"
)
# Header names AWS does not let a task send ("for security considerations").
_FORBIDDEN = {"authorization", "connection", "content-md5", "expect", "host", "max-forwards",
              "proxy-authenticate", "server", "te", "transfer-encoding", "trailer", "upgrade",
              "via", "www-authenticate"}  # fmt: skip
_FORBIDDEN_PREFIXES = ("x-forwarded", "x-amz")  # x-amz covers x-amzn
# An execute-api id is a REST API's or an HTTP API's: the first whose ``serves(id)`` says
# so, else the last (the order gateway/dataplane.py's EXECUTE_API gives the gateway).
_PROVIDERS = ("apigateway", "apigatewayv2")


def _fail(error: str, cause: str) -> Exception:
    return engine().TaskFailure(error, cause)


def _values(field: str, given: Any) -> list[tuple[str, str]]:
    """Headers or QueryParameters as (name, value) pairs."""
    if given is None:
        return []
    if not isinstance(given, dict):
        raise _fail("States.Runtime", f"The field '{field}' must be an object")
    pairs = []
    for name, values in given.items():
        for value in values if isinstance(values, list) else [values]:
            pairs.append((str(name), value if isinstance(value, str) else json.dumps(value)))
    return pairs


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def request_of(arguments: Any, region: str) -> tuple[DataPlaneRequest, str]:
    """The data-plane request the arguments describe, and their AuthType."""
    if not isinstance(arguments, dict):
        raise _fail("States.Runtime", "The API Gateway task's arguments must be an object")
    endpoint, method = arguments.get("ApiEndpoint"), arguments.get("Method")
    found = _ENDPOINT.match(endpoint) if isinstance(endpoint, str) else None
    if found is None:
        raise _fail("States.Runtime", f"The ApiEndpoint '{endpoint}' is not "
                    "'<API ID>.execute-api.<region>.amazonaws.com'")  # fmt: skip
    if method not in METHODS:
        raise _fail("States.Runtime", f"The Method '{method}' is not one of {list(METHODS)}")
    auth = arguments.get("AuthType", "NO_AUTH")
    if auth not in ("NO_AUTH", "IAM_ROLE", "RESOURCE_POLICY"):
        raise _fail("States.Runtime", f"The AuthType '{auth}' is not one of "
                    "[NO_AUTH, IAM_ROLE, RESOURCE_POLICY]")  # fmt: skip
    headers = _values("Headers", arguments.get("Headers"))
    for name, _ in headers:
        lowered = name.lower()
        if lowered in _FORBIDDEN or lowered.startswith(_FORBIDDEN_PREFIXES):
            raise _fail("States.Runtime", f"The header '{name}' is not permitted")
    query = urllib.parse.urlencode(_values("QueryParameters", arguments.get("QueryParameters")))
    segments = [str(arguments.get("Stage") or "").strip("/"),
                str(arguments.get("Path") or "").strip("/")]  # fmt: skip
    path = "/" + "/".join(s for s in segments if s)
    body = b""
    if method in ("PATCH", "POST", "PUT") and arguments.get("RequestBody") is not None:
        value = arguments["RequestBody"]
        if isinstance(value, str):
            body = value.encode()
        else:
            if not arguments.get("AllowNullValues", False):
                value = _without_nulls(value)
            body = json.dumps(value, separators=(",", ":")).encode()
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers.append(("Content-Type", "application/json"))
    host = f"{found['id']}.execute-api.{found['region'] or region}.amazonaws.com"
    request = DataPlaneRequest(
        target=found["id"], method=method, path=path, query=query,
        headers=[(k.lower(), v) for k, v in [("Host", host), *headers]], body=body,
        source_ip="", secure=True, host=host, region=found["region"] or region,
    )  # fmt: skip
    return request, auth


async def invoke(runtime: ExecutionRuntime, arguments: Any) -> dict:
    request, auth = request_of(arguments, runtime.row["region"])
    if auth == "RESOURCE_POLICY":
        raise _fail("States.Runtime", "AuthType RESOURCE_POLICY is not supported by sandlot's "
                    "Step Functions (NO_AUTH and IAM_ROLE are)")  # fmt: skip
    if auth == "IAM_ROLE":  # AWS signs the request as the machine's role
        request.principal = runtime.principal
    platform = runtime.platform
    service = _PROVIDERS[-1]
    for candidate in _PROVIDERS[:-1]:
        owner = platform.provider(candidate)
        if owner is not None and owner.serves(request.target):  # type: ignore[attr-defined]
            service = candidate
            break
    handler = getattr(platform.provider(service), "data_plane", None)
    if handler is None:
        raise _fail("ApiGateway.ServiceUnavailableException", "API Gateway is not served")
    response = await handler(request)
    if response.stream is not None:  # a streamed answer, read whole
        response.body = b"".join([chunk async for chunk in response.stream])
    grouped: dict[str, list[str]] = {}
    for name, value in response.headers:
        grouped.setdefault(name.lower(), []).append(value)
    if not 200 <= response.status < 300:
        raise _fail(f"ApiGateway.{response.status}", response.body.decode("utf-8", "replace"))
    try:
        reason = http.HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    return {
        "ResponseBody": response_body(response.body, grouped),
        "Headers": grouped,
        "StatusCode": response.status,
        "StatusText": reason,
    }
