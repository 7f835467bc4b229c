"""The HTTP task (``arn:aws:states:::http:invoke``): an HTTPS API called with an
EventBridge connection's authorization, as AWS does.

Arguments: ``ApiEndpoint``, ``Method``, ``Authentication.ConnectionArn`` (required, as in
AWS), ``Headers``, ``QueryParameters``, ``RequestBody`` (an object is sent as JSON, a
string as is) and ``Transform`` (``RequestBodyEncoding: URL_ENCODED`` with
``RequestEncodingOptions.ArrayFormat`` INDICES (default), REPEAT, COMMAS or BRACKETS).
The connection (read through the EventBridge provider's ``connection_request``, so its
secrets stay there) adds its invocation headers and query parameters, then its API key,
basic or OAuth client-credentials authorization, which the task's headers never replace.

IAM: the machine's role needs ``states:InvokeHTTPEndpoint`` on the state machine (with
``states:HTTPEndpoint``/``states:HTTPMethod``) and ``events:RetrieveConnectionCredentials``
on the connection (AWS also asks ``secretsmanager:GetSecretValue`` on the connection's
secret, which sandlot does not keep in Secrets Manager).

Result: ``{Headers: {name: [values]}, ResponseBody, StatusCode, StatusText}`` (a JSON
body parsed). A non-2xx answer fails the task with ``States.Http.StatusCode.<code>``
(cause: that result as JSON); no answer within 60 s, or none at all, with
``States.Http.Socket``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from sandlot.events import oauth
from sandlot.services.stepfunctions.base import engine

if TYPE_CHECKING:
    from sandlot.services.stepfunctions.runtime import ExecutionRuntime

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
TIMEOUT_S = 60.0  # AWS's limit on an HTTP task's call
MAX_RESPONSE = 262144


def _fail(error: str, cause: str) -> Exception:
    return engine().TaskFailure(error, cause)


def _check(arguments: Any) -> tuple[str, str, str]:
    if not isinstance(arguments, dict):
        raise _fail("States.Runtime", "The HTTP task's arguments must be an object")
    endpoint, method = arguments.get("ApiEndpoint"), arguments.get("Method")
    connection = (arguments.get("Authentication") or {}).get("ConnectionArn")
    for name, value in (("ApiEndpoint", endpoint), ("Method", method),
                        ("Authentication.ConnectionArn", connection)):  # fmt: skip
        if not isinstance(value, str) or not value:
            raise _fail("States.Runtime", f"The HTTP task's field '{name}' is required")
    if urllib.parse.urlsplit(endpoint).scheme not in ("http", "https"):
        raise _fail("States.Runtime", f"The ApiEndpoint '{endpoint}' is not an http(s) URL")
    if method.upper() not in METHODS:
        raise _fail("States.Runtime", f"The Method '{method}' is not one of {list(METHODS)}")
    return endpoint, method.upper(), connection


def _allowed(runtime: ExecutionRuntime, action: str, resource: str, keys: dict) -> bool:
    decision = runtime.platform.authorizer.decide(
        runtime.principal, action, resource, request_id=str(uuid.uuid4()),
        region=runtime.row["region"], context=keys,
    )  # fmt: skip
    return decision.allowed


def url_encode(value: Any, array_format: str = "INDICES") -> str:
    """A body object as application/x-www-form-urlencoded, AWS's way for nested
    objects (``a[b]=1``) and arrays (by ``array_format``)."""
    pairs: list[tuple[str, str]] = []

    def scalar(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if item is None:
            return ""
        return item if isinstance(item, str) else json.dumps(item)

    def walk(prefix: str, item: Any) -> None:
        if isinstance(item, dict):
            for key, sub in item.items():
                walk(f"{prefix}[{key}]" if prefix else str(key), sub)
        elif isinstance(item, list):
            if array_format == "COMMAS":
                pairs.append((prefix, ",".join(scalar(x) for x in item)))
                return
            for index, sub in enumerate(item):
                name = {"REPEAT": prefix, "BRACKETS": f"{prefix}[]"}.get(
                    array_format, f"{prefix}[{index}]"
                )
                walk(name, sub)
        else:
            pairs.append((prefix, scalar(item)))

    walk("", value)
    return urllib.parse.urlencode(pairs)


async def invoke(runtime: ExecutionRuntime, arguments: Any) -> dict:
    endpoint, method, connection_arn = _check(arguments)
    region = runtime.row["region"]
    machine = runtime.row.get("version_arn") or runtime.row.get("machine_arn") or ""
    keys = {"states:HTTPEndpoint": endpoint, "states:HTTPMethod": method}
    if machine and not _allowed(runtime, "states:InvokeHTTPEndpoint", machine, keys):
        raise _fail("States.Permissions",
                    f"The role is not authorized to perform states:InvokeHTTPEndpoint on "
                    f"{machine} for {method} {endpoint}")  # fmt: skip
    events = runtime.platform.provider("events")
    request = events.connection_request(connection_arn) if events is not None else None
    if request is None or not _allowed(
        runtime, "events:RetrieveConnectionCredentials", connection_arn, {}
    ):
        raise _fail("Events.ConnectionResource.AccessDenied",
                    f"The connection '{connection_arn}' does not exist or the role may not "
                    "retrieve its credentials (events:RetrieveConnectionCredentials)")  # fmt: skip

    headers = {"User-Agent": f"Amazon|StepFunctions|HttpInvoke|{region}",
               "Range": f"bytes=0-{MAX_RESPONSE}"}  # fmt: skip
    headers.update(request["headers"])
    for name, value in (arguments.get("Headers") or {}).items():
        headers[name] = value if isinstance(value, str) else json.dumps(value)
    query = dict(request["query"])
    for name, value in (arguments.get("QueryParameters") or {}).items():
        query[name] = value if isinstance(value, str) else json.dumps(value)

    body: bytes | None = None
    if "RequestBody" in arguments:
        value = arguments["RequestBody"]
        transform = arguments.get("Transform") or {}
        if transform.get("RequestBodyEncoding") == "URL_ENCODED":
            options = transform.get("RequestEncodingOptions") or {}
            body = url_encode(value, options.get("ArrayFormat", "INDICES")).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(value, str):
            body = value.encode()
        else:
            body = json.dumps(value, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
    headers.update(request["auth"])
    if request["oauth"]:
        try:
            token = await asyncio.to_thread(oauth.token, request["oauth"])
        except oauth.TokenError as e:
            raise _fail("Events.ConnectionResource.InvalidConnectionState", str(e)) from None
        headers["Authorization"] = f"Bearer {token}"

    parts = urllib.parse.urlsplit(endpoint)
    pairs = urllib.parse.parse_qsl(parts.query) + list(query.items())
    target = (parts.path or "/") + (f"?{urllib.parse.urlencode(pairs)}" if pairs else "")
    try:
        status, reason, answer_headers, data = await asyncio.to_thread(
            _send, parts.scheme, parts.netloc, method, target, body, headers
        )
    except (OSError, http.client.HTTPException) as e:
        raise _fail("States.Http.Socket", f"{type(e).__name__}: {e}") from None
    if status == 401 and request["oauth"]:
        oauth.forget(request["oauth"])  # the next call fetches a new token
    result = {
        "Headers": answer_headers,
        "ResponseBody": response_body(data, answer_headers),
        "StatusCode": status,
        "StatusText": reason,
    }
    if not 200 <= status < 300:
        raise _fail(f"States.Http.StatusCode.{status}", json.dumps(result, separators=(",", ":")))
    return result


def _send(scheme: str, netloc: str, method: str, target: str, body, headers: dict):
    kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    connection = kind(netloc, timeout=TIMEOUT_S)
    try:
        connection.request(method, target, body, headers)
        response = connection.getresponse()
        data = response.read(MAX_RESPONSE + 1)
        grouped: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            grouped.setdefault(name.lower(), []).append(value)
        return response.status, response.reason, grouped, data
    finally:
        connection.close()


def response_body(data: bytes, headers: dict[str, list[str]]) -> Any:
    """A response body as the task's result has it: JSON parsed when it says it is."""
    text = data[:MAX_RESPONSE].decode("utf-8", errors="replace")
    content_type = (headers.get("content-type") or [""])[0].lower()
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
