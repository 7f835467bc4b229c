"""The Lambda proxy event formats (payload 1.0 and 2.0) and the mapping of a
function's answer back to HTTP, shared by API Gateway HTTP APIs and Lambda function
URLs (which use 2.0). Pure functions over ``DataPlaneRequest``; no I/O.

Facts (AWS's "Working with AWS Lambda proxy integrations for HTTP APIs"): 1.0 puts
the last value of a repeated header or query parameter in
``headers``/``queryStringParameters`` and all of them in the ``multiValue…`` fields;
2.0 joins repeats with commas, moves the Cookie header to ``cookies`` and omits empty
fields. Header names arrive lower-cased (HTTP APIs normalise them; so does ASGI). Bodies that are not text are base64.
A 2.0 answer without ``statusCode`` is inferred: 200, JSON, the answer as body.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any
from urllib.parse import parse_qsl, unquote

from cryptography import x509

from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")
_TEXT_SUFFIXES = ("+json", "+xml")


def is_text(content_type: str | None) -> bool:
    """Whether a body of this type travels as text (else base64)."""
    if not content_type:
        return True
    kind = content_type.split(";", 1)[0].strip().lower()
    return (
        kind.startswith(_TEXT_TYPES)
        or kind.endswith(_TEXT_SUFFIXES)
        or (kind == "application/x-www-form-urlencoded")
    )


def body_of(request: DataPlaneRequest) -> tuple[str | None, bool]:
    """(body as the event carries it, isBase64Encoded)."""
    if not request.body:
        return None, False
    if is_text(request.header("content-type")):
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode(), True


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _clf_time(now: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))


def event_v2(
    request: DataPlaneRequest,
    *,
    route_key: str,
    raw_path: str,
    stage: str,
    api_id: str,
    account: str,
    request_id: str,
    domain_name: str,
    path_parameters: dict[str, str] | None = None,
    stage_variables: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event."""
    now = time.time()
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        name = name.lower()
        if name == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    query: dict[str, str] = {}
    for name, value in _query_pairs(request.query):
        query[name] = f"{query[name]},{value}" if name in query else value
    event: dict[str, Any] = {"version": "2.0", "routeKey": route_key, "rawPath": raw_path}
    event["rawQueryString"] = request.query
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    context: dict[str, Any] = {
        "accountId": account,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": unquote(raw_path),
            "protocol": "HTTP/1.1",
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": _clf_time(now),
        "timeEpoch": int(now * 1000),
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    if request.client_cert:
        context["authentication"] = {"clientCert": client_cert(request.client_cert)}
    event["requestContext"] = context
    body, encoded = body_of(request)
    if body is not None:
        event["body"] = body
    if path_parameters:
        event["pathParameters"] = path_parameters
    event["isBase64Encoded"] = encoded
    if stage_variables:
        event["stageVariables"] = stage_variables
    return event


def event_v1(
    request: DataPlaneRequest,
    *,
    resource: str,
    path: str,
    stage: str,
    api_id: str,
    account: str,
    request_id: str,
    domain_name: str,
    path_parameters: dict[str, str] | None = None,
    stage_variables: dict[str, str] | None = None,
    rest: tuple[str, str, list[str]] | None = None,
) -> dict[str, Any]:
    """The payload format 1.0 event (HTTP APIs' shape of REST's proxy event).

    ``rest`` makes it a REST API's proxy event: (resource id, path with the stage,
    binary media types). REST has no ``version``, its ``path`` lacks the stage, and a
    body is base64 only when its type is one of the API's binary media types."""
    now = time.time()
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value  # the last one wins
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in _query_pairs(request.query):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    user_agent = request.header("user-agent")
    body, encoded = body_of(request) if rest is None else _rest_body(request, rest[2])
    event = {
        "version": "1.0",
        "resource": resource,
        "path": unquote(path),
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "requestContext": {
            "accountId": account,
            "apiId": api_id,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".", 1)[0],
            "extendedRequestId": request_id,
            "httpMethod": request.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": request.source_ip,
                "user": None,
                "userAgent": user_agent,
                "userArn": None,
            },
            "path": unquote(path),
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": _clf_time(now),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": None,
            "resourcePath": resource,
            "stage": stage,
        },
        "pathParameters": path_parameters or None,
        "stageVariables": stage_variables or None,
        "body": body,
        "isBase64Encoded": encoded,
    }
    if request.client_cert:
        event["requestContext"]["identity"]["clientCert"] = client_cert(request.client_cert)
    if rest is not None:
        del event["version"]
        event["requestContext"]["resourceId"] = rest[0]
        event["requestContext"]["path"] = rest[1]
    return event


def set_header(event: dict[str, Any], name: str, value: str) -> None:
    """Replace a header of a payload 1.0 event (any case of ``name``) in both its
    ``headers`` and ``multiValueHeaders``: what API Gateway itself sets on the request
    it hands the function (the X-Ray trace header of a traced stage)."""
    for key in ("headers", "multiValueHeaders"):
        given = event.get(key) or {}
        kept = {k: v for k, v in given.items() if k.lower() != name.lower()}
        kept[name] = [value] if key == "multiValueHeaders" else value
        event[key] = kept


def client_cert(pem: str) -> dict[str, Any]:
    """A mutual TLS client certificate as API Gateway passes it to integrations
    (``clientCert``): the PEM, RFC 4514 names, the serial as colon-separated hex, and
    the validity as OpenSSL prints it (``May 28 12:30:02 2019 GMT``)."""
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    serial = f"{cert.serial_number:x}"
    serial = serial.zfill(len(serial) + len(serial) % 2)

    def when(moment) -> str:
        return moment.strftime("%b ") + f"{moment.day:2d}" + moment.strftime(" %H:%M:%S %Y GMT")

    return {
        "clientCertPem": pem,
        "subjectDN": cert.subject.rfc4514_string(),
        "issuerDN": cert.issuer.rfc4514_string(),
        "serialNumber": ":".join(serial[i : i + 2] for i in range(0, len(serial), 2)),
        "validity": {
            "notBefore": when(cert.not_valid_before_utc),
            "notAfter": when(cert.not_valid_after_utc),
        },
    }


def _rest_body(request: DataPlaneRequest, binary_types: list[str]) -> tuple[str | None, bool]:
    """REST APIs pass a body as text unless its type matches a binary media type."""
    if not request.body:
        return None, False
    kind = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    for pattern in binary_types:
        pattern = pattern.lower()
        if pattern in ("*/*", kind) or (pattern.endswith("/*") and kind.startswith(pattern[:-1])):
            return base64.b64encode(request.body).decode(), True
    return request.body.decode("utf-8", "replace"), False


def response_v2(payload: bytes) -> DataPlaneResponse | None:
    """A 2.0 function answer as HTTP; None when it is malformed."""
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(value, dict) and "statusCode" in value:
        return _structured(value, multi=False)
    # Inferred: any other valid JSON is a 200 JSON answer (a JSON string is the body).
    body = value.encode() if isinstance(value, str) else payload
    return DataPlaneResponse(200, [("Content-Type", "application/json")], body)


def response_v1(payload: bytes) -> DataPlaneResponse | None:
    """A 1.0 function answer as HTTP; None when it is malformed (no statusCode…)."""
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict) or "statusCode" not in value:
        return None
    return _structured(value, multi=True)


def _structured(value: dict[str, Any], *, multi: bool) -> DataPlaneResponse | None:
    status = value.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return None
    headers: list[tuple[str, str]] = []
    given = value.get("headers") if value.get("headers") is not None else {}
    if not isinstance(given, dict):
        return None
    headers += [(str(k), _text(v)) for k, v in given.items()]
    if multi:
        many = value.get("multiValueHeaders") if value.get("multiValueHeaders") is not None else {}
        if not isinstance(many, dict):
            return None
        for name, values in many.items():
            for item in values if isinstance(values, list) else [values]:
                headers.append((str(name), _text(item)))
    else:
        cookies = value.get("cookies") if value.get("cookies") is not None else []
        if not isinstance(cookies, list):
            return None
        headers += [("Set-Cookie", str(c)) for c in cookies]
    body = value.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        if value.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except binascii.Error:
                return None
        else:
            data = body.encode()
    else:
        return None
    return DataPlaneResponse(status, headers, data)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- CORS (a function URL's Cors, an HTTP API's CorsConfiguration: the same members) --


def _origin_allowed(cors: dict, origin: str) -> bool:
    allowed = cors.get("AllowOrigins") or []
    return "*" in allowed or origin in allowed


def _allow_origin(cors: dict, origin: str) -> str:
    star = "*" in cors["AllowOrigins"] and not cors.get("AllowCredentials")
    return "*" if star else origin


def cors_preflight(cors: dict, origin: str) -> list[tuple[str, str]]:
    """The headers answering a preflight from ``origin`` (none when it is not allowed)."""
    if not _origin_allowed(cors, origin):
        return []
    headers = [("Access-Control-Allow-Origin", _allow_origin(cors, origin))]
    if cors.get("AllowMethods"):
        headers.append(("Access-Control-Allow-Methods", ",".join(cors["AllowMethods"])))
    if cors.get("AllowHeaders"):
        headers.append(("Access-Control-Allow-Headers", ",".join(cors["AllowHeaders"])))
    if cors.get("AllowCredentials"):
        headers.append(("Access-Control-Allow-Credentials", "true"))
    if cors.get("MaxAge") is not None:
        headers.append(("Access-Control-Max-Age", str(cors["MaxAge"])))
    return headers


def with_cors(cors: dict, origin: str | None, response: DataPlaneResponse) -> DataPlaneResponse:
    """``response`` with the CORS headers an allowed ``origin`` gets."""
    if cors and origin and _origin_allowed(cors, origin):
        response.headers.append(("Access-Control-Allow-Origin", _allow_origin(cors, origin)))
        if cors.get("ExposeHeaders"):
            response.headers.append(
                ("Access-Control-Expose-Headers", ",".join(cors["ExposeHeaders"]))
            )
        if cors.get("AllowCredentials"):
            response.headers.append(("Access-Control-Allow-Credentials", "true"))
    return response
