"""REST APIs' non-proxy integrations: ``AWS`` (Lambda, and service actions through
``Platform.call``), ``HTTP`` and ``MOCK``, all around Velocity mapping templates
(``vtl.py``).

The request template is chosen by the request's Content-Type (default
``application/json``); without one the ``passthroughBehavior`` decides: ``WHEN_NO_MATCH``
passes the body through, ``WHEN_NO_TEMPLATES`` only when the integration has no template
at all, ``NEVER`` not — else 415 ``{"message":"Unsupported Media Type"}``, as AWS answers.

The backend's answer selects an integration response: for Lambda, the ``errorMessage``
of a function error against each ``selectionPattern`` (a Java regex matching the whole
string); for HTTP and AWS services, the status code; no match takes the response without
a pattern. Its response template renders the backend body (``$input``), its
``responseParameters`` set ``method.response.header.X`` from ``'literal'``,
``integration.response.header.Y`` or ``integration.response.body[.path]``, and the
templates' ``$context.responseOverride`` sets the status and headers last.

Service actions run as the integration's ``credentials`` role (API Gateway must be
trusted to assume it); IAM decides each call: SQS
(``arn:aws:apigateway:<region>:sqs:path/<account>/<queue>`` with a form-encoded body,
answered in the query API's JSON form), and JSON-protocol services by
``…:<service>:action/<Operation>`` (Step Functions ``states``, DynamoDB).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import functools
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse, json_response
from sandlot.protocol.http import HttpRequest
from sandlot.protocol.models import service_model
from sandlot.protocol.parser import RequestParser
from sandlot.services import http_proxy
from sandlot.services.apigateway import vtl
from sandlot.services.apigateway.base import Doc, function_of
from sandlot.services.apigateway.tracing import StageTrace

log = logging.getLogger("sandlot.apigateway")

_STATIC = re.compile(r"^'(.*)'$", re.S)
STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_.:/?#&=,-]+)\}")
_SERVICE_URI = re.compile(r"^arn:aws:apigateway:([a-z0-9-]+):([a-z0-9.-]+):(path|action)/(.+)$")
# The URI's service names for sandlot's providers' names, where they differ.
_PROVIDERS = {"states": "stepfunctions"}
_JSON_SERVICES = ("states", "dynamodb")


# X-Ray's names of the services a traced stage calls (as the AWS X-Ray SDKs name them).
_TRACE_NAMES = {"sqs": "SQS", "dynamodb": "DynamoDB", "states": "SFN"}


def _traced(call: Call, service: str, operation: str) -> str | None:
    """The trace header of a call to ``service`` (its subsegment opened), or None."""
    if call.trace is None:
        return None
    aws = {"operation": operation, "region": call.region}
    return call.trace.call(_TRACE_NAMES.get(service, service), aws)


def traced_headers(headers: list[tuple[str, str]], header: str) -> list[tuple[str, str]]:
    """``headers`` with the traced stage's ``X-Amzn-Trace-Id`` for the backend in place
    of the client's."""
    kept = [(k, v) for k, v in headers if k.lower() != "x-amzn-trace-id"]
    return [*kept, ("X-Amzn-Trace-Id", header)]


def _answered(call: Call, status: int | None) -> None:
    if call.trace is not None:
        call.trace.answered(status)


# AWS's x-amzn-ErrorType of API Gateway's own failures (gateway responses select by it).
_ERROR_TYPES = {415: "UnsupportedMediaTypeException", 504: "IntegrationTimeoutException"}


def _failed(status: int = 500, text: str = "Internal server error") -> DataPlaneResponse:
    kind = _ERROR_TYPES.get(status, "InternalServerErrorException")
    return json_response(status, {"message": text}, [("x-amzn-ErrorType", kind)])


@dataclass
class Call:
    """What a non-proxy integration needs of the request."""

    request: DataPlaneRequest
    params: dict[str, dict[str, str]]  # $input.params(): path, querystring, header
    context: dict  # $context
    stage_variables: dict[str, str]
    account: str
    region: str
    source_arn: str  # the method's execute-api ARN (aws:SourceArn for Lambda)
    trace: StageTrace | None = None  # the stage's X-Ray trace, when tracing and sampled


@dataclass
class Answer:
    """The backend's answer before the integration response maps it."""

    status: int
    body: str
    headers: dict[str, str]
    error: str | None = None  # a Lambda function error's errorMessage
    raw: bytes | None = None  # the body's bytes, when the backend answered bytes (HTTP)


def check_templates(templates: dict | None) -> str | None:
    """Why one of ``templates`` is not valid Velocity, or None."""
    for content_type, template in (templates or {}).items():
        problem = vtl.check(template or "")
        if problem is not None:
            return f"Invalid mapping template specified for {content_type}: {problem}"
    return None


def _request_body(integration: Doc, call: Call) -> tuple[str, dict] | DataPlaneResponse:
    """(the integration request's body, $context after the template) or a 415/500.
    ``contentHandling`` ``CONVERT_TO_TEXT`` hands a (binary) body on base64-encoded."""
    if integration.get("contentHandling") == "CONVERT_TO_TEXT":
        body = base64.b64encode(call.request.body).decode()
    else:
        body = call.request.body.decode("utf-8", "replace")
    templates = integration.get("requestTemplates") or {}
    content_type = (call.request.header("content-type") or "application/json").split(";")[0]
    template = templates.get(content_type.strip().lower())
    if template is None:
        behaviour = integration.get("passthroughBehavior") or "WHEN_NO_MATCH"
        if behaviour == "NEVER" or (behaviour == "WHEN_NO_TEMPLATES" and templates):
            return _failed(415, "Unsupported Media Type")
        return body, {}
    try:
        return vtl.render(template, body=body, params=call.params, context=call.context,
                          stage_variables=call.stage_variables)  # fmt: skip
    except vtl.TemplateError as error:
        log.warning("REST API %s: Execution failed: unable to transform request: %s",
                    call.context.get("apiId"), error)  # fmt: skip
        return _failed()


async def run(platform, integration: Doc, call: Call) -> DataPlaneResponse:
    """Serve one request through an ``AWS``, ``HTTP`` or ``MOCK`` integration."""
    prepared = _request_body(integration, call)
    if isinstance(prepared, DataPlaneResponse):
        return prepared
    body, context = prepared
    kind = integration.get("type")
    if kind == "MOCK":
        try:
            status = str(json.loads(body or "{}").get("statusCode", 200))
        except (ValueError, AttributeError):
            return _failed()
        answer = Answer(int(status) if status.isdigit() else 200, "", {})
    elif kind == "HTTP":
        answer = await _http(integration, call, body, context)
    elif function_of(integration.get("uri")):
        answer = await _lambda(platform, integration, call, body)
    else:
        answer = await _service(platform, integration, call, body)
    if isinstance(answer, DataPlaneResponse):
        return answer
    return _respond(integration, call, answer, context)


async def _http(integration: Doc, call: Call, body: str, context: dict):
    """The (templated) body to the integration's URI with its method; the answer's
    status selects the integration response."""
    # A non-proxy request carries only the mapped headers (and the overrides).
    headers = [("Content-Type", call.request.header("content-type") or "application/json")]
    overrides = context.get("requestOverride") or {}
    path_parameters = {**call.params.get("path", {}), **(overrides.get("path") or {})}
    uri, headers = endpoint(integration, call.request, path_parameters, call.stage_variables,
                            headers, dict(overrides.get("querystring") or {}))  # fmt: skip
    for name, value in (overrides.get("header") or {}).items():
        headers = [(k, v) for k, v in headers if k.lower() != str(name).lower()]
        headers.append((str(name), str(value)))
    method = str(integration.get("httpMethod") or call.request.method)
    method = call.request.method if method == "ANY" else method
    forwarded = dataclasses.replace(call.request, body=body.encode(), query="")
    if call.trace is not None:
        headers = traced_headers(headers, call.trace.call_http(uri, method))
    try:
        answered = await http_proxy.forward(
            uri, method, forwarded, int(integration.get("timeoutInMillis") or 29000) / 1000,
            headers,
        )  # fmt: skip
    except TimeoutError:
        _answered(call, None)
        return _failed(504, "Endpoint request timed out")
    except OSError as error:
        _answered(call, None)
        log.warning("REST API: HTTP integration to %s failed: %s", uri, error)
        return _failed()
    _answered(call, answered.status)
    return Answer(answered.status, answered.body.decode("utf-8", "replace"),
                  {k.lower(): v for k, v in answered.headers}, raw=answered.body)  # fmt: skip


def endpoint(
    integration: Doc,
    request: DataPlaneRequest,
    path_parameters: dict[str, str],
    variables: dict[str, str],
    headers: list[tuple[str, str]],
    query: dict[str, str] | None = None,
) -> tuple[str, list[tuple[str, str]]]:
    """An HTTP integration's URL and headers: stage variables substituted, its
    ``{name}`` path variables filled as ``requestParameters`` map them
    (``integration.request.path.x`` ← ``method.request.path.y``; unmapped ones by the
    same name), header and query string mappings (and ``query``) added."""
    uri = STAGE_VARIABLE.sub(lambda m: variables.get(m[1], ""), integration.get("uri", ""))
    values = dict(path_parameters)
    extra_query = [f"{quote(k)}={quote(str(v))}" for k, v in (query or {}).items()]
    for target, source in (integration.get("requestParameters") or {}).items():
        value = mapped(str(source), request, path_parameters)
        if value is None:
            continue
        kind, _, name = target.removeprefix("integration.request.").partition(".")
        if kind == "path":
            values[name] = value
        elif kind == "header":
            headers = [(k, v) for k, v in headers if k.lower() != name.lower()]
            headers.append((name, value))
        elif kind == "querystring":
            extra_query.append(f"{quote(name)}={quote(value)}")
    uri = http_proxy.fill(uri, values)
    if extra_query:
        uri += ("&" if "?" in uri else "?") + "&".join(extra_query)
    return uri, headers


def mapped(source: str, request: DataPlaneRequest, path_parameters: dict[str, str]) -> str | None:
    """A request parameter mapping's value: ``'literal'``, or a method request's path,
    header or query string parameter."""
    literal = _STATIC.match(source)
    if literal is not None:
        return literal[1]
    kind, _, name = source.removeprefix("method.request.").partition(".")
    if kind == "path":
        return path_parameters.get(name)
    if kind == "header":
        return request.header(name)
    if kind == "querystring":
        found = [v for k, v in parse_qsl(request.query, keep_blank_values=True) if k == name]
        return found[-1] if found else None
    return None


def _principal(platform, integration: Doc, call: Call) -> Principal | DataPlaneResponse | None:
    """The integration's ``credentials`` role as API Gateway's session of it (None: no
    role given)."""
    role = integration.get("credentials")
    if not role:
        return None
    if not platform.authorizer.can_assume(role, "apigateway.amazonaws.com", call.account):
        log.warning("REST API %s: Execution failed due to configuration error: API Gateway "
                    "does not have permission to assume the provided role %s",
                    call.context.get("apiId"), role)  # fmt: skip
        return _failed()
    try:
        return platform.function_principal(role, "BackplaneAssumeRoleSession")
    except ValueError:
        return _failed()


async def _lambda(platform, integration: Doc, call: Call, body: str):
    """Lambda's non-proxy integration: the (templated) body is the event, the function's
    result the integration response's body; a function error selects by its message."""
    principal = _principal(platform, integration, call)
    if isinstance(principal, DataPlaneResponse):
        return principal
    function = function_of(integration["uri"])
    header = None
    if call.trace is not None:
        header = call.trace.call_lambda(function, call.region)
    try:
        result = await platform.call(
            "lambda",
            "Invoke",
            {"FunctionName": function, "Payload": body.encode()},
            principal=principal or Principal.service("apigateway.amazonaws.com", call.account),
            region=call.region,
            request_id=call.context.get("requestId"),
            context={"aws:SourceArn": call.source_arn, "aws:SourceAccount": call.account},
            trace_header=header,
        )
        _answered(call, 200)
    except ServiceError as error:
        _answered(call, error.status)
        log.warning("REST API %s: Execution failed due to configuration error: %s",
                    call.context.get("apiId"),
                    "Invalid permissions on Lambda function" if error.status == 403 else error)  # fmt: skip
        return _failed()
    payload = (result.get("Payload") or b"").decode("utf-8", "replace")
    error = None
    if result.get("FunctionError"):
        try:
            error = str(json.loads(payload).get("errorMessage", ""))
        except (ValueError, AttributeError):
            error = payload
    return Answer(200, payload, {}, error)


async def _service(platform, integration: Doc, call: Call, body: str):
    match = _SERVICE_URI.match(str(integration.get("uri") or ""))
    if match is None:
        log.warning("REST API %s: integration URI %s names no AWS service action",
                    call.context.get("apiId"), integration.get("uri"))  # fmt: skip
        return _failed()
    _, service, how, rest = match.groups()
    principal = _principal(platform, integration, call)
    if isinstance(principal, DataPlaneResponse):
        return principal
    if principal is None:
        log.warning("REST API %s: Execution failed due to configuration error: the %s "
                    "integration has no credentials role", call.context.get("apiId"), service)  # fmt: skip
        return _failed()
    if service == "sqs" and how == "path":
        return await _sqs(platform, principal, call, rest, body)
    if service in _JSON_SERVICES and how == "action":
        try:
            params = json.loads(body or "{}")
        except ValueError:
            return Answer(400, json.dumps({"__type": "SerializationException"}), {})
        return await _invoke(platform, principal, call, service, rest, params)
    log.warning("REST API %s: sandlot does not serve %s %s/%s integrations",
                call.context.get("apiId"), service, how, rest)  # fmt: skip
    return _failed()


async def _invoke(platform, principal: Principal, call: Call, service: str, operation: str,
                  params: dict) -> Answer:  # fmt: skip
    header = _traced(call, service, operation)
    try:
        result = await platform.call(
            _PROVIDERS.get(service, service), operation, params, principal=principal,
            region=call.region, request_id=call.context.get("requestId"), trace_header=header,
        )  # fmt: skip
        _answered(call, 200)
    except ServiceError as error:
        _answered(call, error.status)
        body = {"__type": error.code, "message": error.message}
        return Answer(
            error.status, json.dumps(body), {"content-type": "application/x-amz-json-1.0"}
        )
    return Answer(200, json.dumps(result, default=_json_default),
                  {"content-type": "application/x-amz-json-1.0"})  # fmt: skip


async def _sqs(platform, principal: Principal, call: Call, path: str, body: str) -> Answer:
    """SQS's query API as API Gateway calls it: ``Action=SendMessage&MessageBody=…`` to
    the queue ``<account>/<name>``, answered as ``{"<Action>Response": {...}}``."""
    # SQS's own query-protocol parser: the form as an SDK of the query era sends it,
    # posted to the queue's path (which names the queue when QueueUrl is absent).
    request_id = call.context.get("requestId")
    try:
        parsed = _sqs_parser().parse(HttpRequest(
            "POST", "/" + path,
            headers={"content-type": "application/x-www-form-urlencoded",
                     "host": urlsplit(platform.endpoint_url).netloc},
            body=body.encode(),
        ))  # fmt: skip
    except ServiceError as error:
        return _query_error(error, request_id)
    action, params = parsed.operation.name, parsed.params
    header = _traced(call, "sqs", action)
    try:
        result = await platform.call("sqs", action, params, principal=principal,
                                     region=call.region, request_id=request_id,
                                     trace_header=header)  # fmt: skip
        _answered(call, 200)
    except ServiceError as error:
        _answered(call, error.status)
        return _query_error(error, request_id)
    answer = {f"{action}Response": {f"{action}Result": result,
                                    "ResponseMetadata": {"RequestId": request_id}}}  # fmt: skip
    return Answer(
        200, json.dumps(answer, default=_json_default), {"content-type": "application/json"}
    )


@functools.cache
def _sqs_parser() -> RequestParser:
    return RequestParser(service_model("sqs"))


def _query_error(error: ServiceError, request_id: str | None) -> Answer:
    """A query-protocol error as API Gateway's SQS integration answers it (JSON)."""
    doc = {"Error": {"Code": error.code, "Message": error.message,
                     "Type": "Sender" if error.sender_fault else "Receiver"},
           "RequestId": request_id}  # fmt: skip
    return Answer(error.status, json.dumps(doc), {"content-type": "application/json"})


def _json_default(value):
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(type(value).__name__)


def _select(integration: Doc, answer: Answer) -> Doc | None:
    responses = list((integration.get("integrationResponses") or {}).values())
    subject = answer.error if answer.error is not None else str(answer.status)
    default = next((r for r in responses if not r.get("selectionPattern")), None)
    if answer.error is None and function_of(integration.get("uri")):
        return default  # a Lambda success always takes the default response
    for response in responses:
        pattern = response.get("selectionPattern")
        if pattern:
            try:
                if re.fullmatch(pattern, subject, re.S):
                    return response
            except re.error:
                continue
    return default


def _respond(integration: Doc, call: Call, answer: Answer, context: dict) -> DataPlaneResponse:
    api_id = call.context.get("apiId")
    chosen = _select(integration, answer)
    if chosen is None:
        log.warning("REST API %s: Execution failed due to configuration error: No match for "
                    "output mapping and no default output mapping specified", api_id)  # fmt: skip
        return _failed()
    status = int(chosen.get("statusCode") or 200)
    headers: dict[str, str] = {}
    content_type = "application/json"
    body = answer.body
    templates = chosen.get("responseTemplates") or {}
    handling = chosen.get("contentHandling")
    payload: bytes | None = None
    if handling == "CONVERT_TO_BINARY":
        # A base64 text answer (a function's) becomes the bytes; no template applies.
        text = answer.body.strip()
        if text.startswith('"'):  # a function's answer is a JSON string
            with contextlib.suppress(ValueError):
                text = str(json.loads(text))
        try:
            payload = base64.b64decode(text, validate=True)
        except ValueError:
            log.warning("REST API %s: unable to convert the response to binary", api_id)
            return _failed()
        templates = {}
    elif handling == "CONVERT_TO_TEXT":
        body = base64.b64encode(answer.raw if answer.raw is not None else body.encode()).decode()
        answer = dataclasses.replace(answer, body=body)
    if templates:
        content_type = (
            "application/json" if "application/json" in templates else next(iter(templates))
        )
        template = templates[content_type]
        if template:
            response_context = {**call.context,
                                "requestOverride": context.get("requestOverride", vtl.JMap())}  # fmt: skip
            try:
                body, context = vtl.render(template, body=answer.body, params=call.params,
                                           context=response_context,
                                           stage_variables=call.stage_variables)  # fmt: skip
            except vtl.TemplateError as error:
                log.warning("REST API %s: Execution failed: unable to transform response: %s",
                            api_id, error)  # fmt: skip
                return _failed()
    for target, source in (chosen.get("responseParameters") or {}).items():
        if not target.startswith("method.response.header."):
            continue
        value = _response_value(str(source), answer)
        if value is not None:
            headers[target.removeprefix("method.response.header.")] = value
    override = context.get("responseOverride") or {}
    if override.get("status"):
        with contextlib.suppress(ValueError):
            status = int(str(override["status"]))
    for name, value in (override.get("header") or {}).items():
        headers[name] = str(value)
    if payload is None:
        payload = answer.raw if body is answer.body and answer.raw is not None else body.encode()
    pairs = [("Content-Type", headers.pop("Content-Type", content_type)), *headers.items()]
    return DataPlaneResponse(status, pairs, payload)


def _response_value(source: str, answer: Answer) -> str | None:
    literal = _STATIC.match(source)
    if literal is not None:
        return literal[1]
    if source.startswith("integration.response.header."):
        return answer.headers.get(source.removeprefix("integration.response.header.").lower())
    if source == "integration.response.body":
        return answer.body
    if source.startswith("integration.response.body."):
        try:
            found = vtl.jsonpath(
                json.loads(answer.body), "$" + source[len("integration.response.body") :]
            )
        except (ValueError, vtl.TemplateError):
            return None
        return None if found is None else found if isinstance(found, str) else json.dumps(found)
    return None
