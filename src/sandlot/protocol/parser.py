"""The generic request parser: an HTTP request to (operation, params), for any service.

Everything is driven by the botocore service model: the operation is found from the
``X-Amz-Target`` header (json), the ``Action`` field (query) or the method and path
through a precompiled route table (rest-json, rest-xml), and the params are decoded by
converters compiled once per operation from the model's shapes. Params come back keyed
by member names and typed as boto3 takes them: int, float, bool, str, bytes for blobs,
aware UTC datetimes for timestamps, lists and dicts.

Anything wrong with a request becomes the ``ServiceError`` the SDKs expect for that
protocol; no other exception leaves :meth:`RequestParser.parse`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel, ServiceModel

from sandlot.protocol._parse_json import JsonCompiler, load_json
from sandlot.protocol._parse_query import QueryCompiler, fold
from sandlot.protocol._parse_rest import RestOperation
from sandlot.protocol._parse_values import (
    MALFORMED,
    MISSING,
    MISSING_BODY,
    TYPE,
    BadInput,
    query_pairs,
)
from sandlot.protocol._parse_xml import XmlCompiler
from sandlot.protocol._serial_compat import QUERY_NAMES
from sandlot.protocol.errors import ServiceError
from sandlot.protocol.http import HttpRequest
from sandlot.protocol.models import query_view, speaks_legacy_query
from sandlot.protocol.routes import RouteTable

log = logging.getLogger(__name__)

JSON, REST_JSON, REST_XML, QUERY = "json", "rest-json", "rest-xml", "query"
_SUPPORTED = (JSON, REST_JSON, REST_XML, QUERY)
_CBOR = "smithy-rpc-v2-cbor"

# AWS's error code and status for each way a request can be bad, by protocol:
# - json / rest-json: the Smithy/Coral codes, SerializationException when the body
#   cannot be read into the model's types, ValidationException when a constraint
#   (here: required) fails.
# - query: the "Common Errors" of the query APIs (MalformedQueryString is a 404 there).
# - rest-xml (S3): MalformedXML for bodies that are not well-formed or do not match
#   the model, InvalidArgument for a bad header or query value, InvalidRequest for a
#   missing one, MissingRequestBodyError when a required XML body is absent.
_CODES: dict[str, dict[str, tuple[str, int]]] = {
    JSON: {
        TYPE: ("SerializationException", 400),
        MALFORMED: ("SerializationException", 400),
        MISSING: ("ValidationException", 400),
        MISSING_BODY: ("ValidationException", 400),
    },
    QUERY: {
        TYPE: ("InvalidParameterValue", 400),
        MALFORMED: ("MalformedQueryString", 404),
        MISSING: ("MissingParameter", 400),
        MISSING_BODY: ("MissingParameter", 400),
    },
    REST_XML: {
        TYPE: ("InvalidArgument", 400),
        MALFORMED: ("MalformedXML", 400),
        MISSING: ("InvalidRequest", 400),
        MISSING_BODY: ("MissingRequestBodyError", 400),
    },
}
_CODES[REST_JSON] = _CODES[JSON]
_MALFORMED_XML = (
    "The XML you provided was not well-formed or did not validate against our published schema"
)
_FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(slots=True)
class ParsedRequest:
    """A request understood: the operation, its params, and the protocol it used."""

    operation: OperationModel
    params: dict
    protocol: str


class RequestParser:
    """Parses HTTP requests for one service, in any protocol its model declares."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        declared = model.metadata.get("protocols") or [model.metadata.get("protocol")]
        self._default: str = model.resolved_protocol
        # A service that moved from query to JSON still takes query requests from older
        # SDKs, named as its query-era model named them.
        self._legacy_query = speaks_legacy_query(model.service_name)
        if self._legacy_query:
            declared = [*declared, QUERY]
        self._protocols = frozenset(p for p in [*declared, self._default] if p in _SUPPORTED)
        self._speaks_cbor = _CBOR in declared
        operations = [model.operation_model(name) for name in model.operation_names]
        self._by_name: dict[str, OperationModel] = {op.name: op for op in operations}
        self._target_prefix = model.metadata.get("targetPrefix", "")
        # Converters compile lazily, once per operation, on its first request: a
        # service's full model is large and most servers use a few operations.
        self._json = JsonCompiler("unixtimestamp")
        self._query = QueryCompiler()
        self._plans: dict[tuple[str, str], Any] = {}
        self._compile_lock = threading.Lock()
        self._routes: RouteTable | None = None
        # Operations whose input payload is a streaming blob (S3 PutObject, UploadPart):
        # the gateway streams their bodies to a file instead of reading them into memory.
        self._streaming: dict[str, str] = {}
        for op in operations:
            streamed = op.get_streaming_input()
            if streamed is not None and streamed.type_name == "blob":
                self._streaming[op.name] = op.input_shape.serialization["payload"]
        if REST_JSON in self._protocols or REST_XML in self._protocols:
            self._routes = RouteTable(operations)
            self._xml = XmlCompiler("iso8601")

    def parse(self, request: HttpRequest) -> ParsedRequest:
        """The operation and params of ``request``; raises ``ServiceError`` if invalid."""
        try:
            protocol = self._detect(request)
            try:
                return self._parse_with(protocol, request)
            except BadInput as error:
                raise _service_error(protocol, error) from None
            except RecursionError:
                # Nesting deeper than the interpreter's stack: no real request does that.
                code, status = _CODES[protocol][MALFORMED]
                raise ServiceError(code, "The request is nested too deeply.", status) from None
        except ServiceError:
            raise
        except Exception as exc:
            # Defence in depth: a parser bug must still answer like AWS, not crash
            # the connection. The fuzz tests make sure this never happens.
            log.exception("request parser failed on %s %s", request.method, request.path)
            raise ServiceError(
                "InternalFailure",
                "The request processing has failed because of an unknown error.",
                500,
                sender_fault=False,
            ) from exc

    def matches(self, request: HttpRequest) -> bool:
        """Whether ``request`` names an operation of this service; never raises.

        Cheap (no params are decoded): the gateway asks it to choose among REST
        services whose paths start alike.
        """
        try:
            protocol = self._detect(request)
            if protocol == JSON:
                prefix, _, name = request.headers.get("x-amz-target", "").rpartition(".")
                return prefix == self._target_prefix and name in self._by_name
            if protocol == QUERY:
                action = self._query_tree(request).get("Action")
                return type(action) is str and action in self._by_name
            assert self._routes is not None
            method = request.method.upper()
            query = _query_values(request.query)
            path = request.path or "/"
            return self._routes.match(method, path, query, request.headers) is not None
        except Exception:
            return False

    def streaming_member(self, request: HttpRequest) -> str | None:
        """The input member that is a streaming blob of the operation ``request`` names
        (its body is then not buffered), or None; never raises, reads no body."""
        if not self._streaming or self._routes is None:
            return None
        try:
            found = self._routes.match(
                request.method.upper(),
                request.path or "/",
                _query_values(request.query),
                request.headers,
            )
        except Exception:
            return None
        return self._streaming.get(found.operation.name) if found is not None else None

    # ------------------------------------------------------------------ dispatch

    def _detect(self, request: HttpRequest) -> str:
        """The protocol of ``request`` among those the service speaks."""
        headers = request.headers
        if self._speaks_cbor and (
            headers.get("smithy-protocol") == "rpc-v2-cbor"
            or headers.get("content-type", "").startswith("application/cbor")
        ):
            raise _unsupported(_CBOR)
        if len(self._protocols) > 1:
            if JSON in self._protocols and "x-amz-target" in headers:
                return JSON
            if QUERY in self._protocols and (
                headers.get("content-type", "").startswith(_FORM_TYPE) or "Action=" in request.query
            ):
                return QUERY
        if self._default not in _SUPPORTED:
            raise _unsupported(self._default)
        return self._default

    def _parse_with(self, protocol: str, request: HttpRequest) -> ParsedRequest:
        if protocol == JSON:
            return self._parse_json(request)
        if protocol == QUERY:
            return self._parse_query(request)
        return self._parse_rest(protocol, request)

    # ---------------------------------------------------------------------- json

    def _parse_json(self, request: HttpRequest) -> ParsedRequest:
        target = request.headers.get("x-amz-target", "")
        prefix, _, name = target.rpartition(".")
        operation = self._by_name.get(name) if prefix == self._target_prefix else None
        if operation is None:
            # awsJson's answer to a target it does not know (or no target at all).
            raise ServiceError(
                "UnknownOperationException",
                f"Unknown operation {target!r}." if target else "Missing X-Amz-Target header.",
                400,
            )
        convert = self._plan(JSON, operation)
        document = load_json(request.body)
        return ParsedRequest(operation, convert(document), JSON)

    # --------------------------------------------------------------------- query

    def _query_tree(self, request: HttpRequest) -> dict[str, Any]:
        """The query string and form body fields of ``request``, folded on their dots."""
        fields = query_pairs(request.query)
        content_type = request.headers.get("content-type", _FORM_TYPE)
        if request.body and content_type.startswith(_FORM_TYPE):
            fields += query_pairs(request.body.decode("utf-8", "replace"))
        return fold(fields)

    def _parse_query(self, request: HttpRequest) -> ParsedRequest:
        tree = self._query_tree(request)
        action = tree.get("Action")
        if not action or type(action) is not str:
            # Query APIs' "Common Errors": no action at all.
            raise ServiceError("MissingAction", "The request must contain an Action.", 400)
        operation = self._query_operation(action)
        if operation is None:
            raise ServiceError(
                "InvalidAction", f"The action {action} is not valid for this web service.", 400
            )
        if self._legacy_query:
            self._from_path(operation, request, tree)
        convert = self._plan(QUERY, operation)
        return ParsedRequest(operation, convert(tree), QUERY)

    def _from_path(self, operation: OperationModel, request: HttpRequest, tree: dict) -> None:
        """A query request posted to a resource URL (``/<account>/<queue>``) without
        the parameter naming it: the URL is the parameter (``_serial_compat``)."""
        member = QUERY_NAMES[self.model.service_name].get("path_member")
        shape = operation.input_shape
        path = (request.path or "/").strip("/")
        needed = member and shape is not None and member in shape.members and member not in tree
        if needed and path.count("/") == 1:
            tree[member] = f"http://{request.headers.get('host', 'localhost')}/{path}"

    def _query_operation(self, action: str) -> OperationModel | None:
        if action not in self._by_name:
            return None
        if self._legacy_query:
            return query_view(self.model.service_name).operation_model(action)
        return self._by_name[action]

    # ---------------------------------------------------------------------- rest

    def _parse_rest(self, protocol: str, request: HttpRequest) -> ParsedRequest:
        assert self._routes is not None
        query = _query_values(request.query)
        method = request.method.upper()
        path = request.path or "/"
        found = self._routes.match(method, path, query, request.headers)
        if found is None:
            raise self._no_route(protocol, method, path, query)
        plan: RestOperation = self._plan(protocol, found.operation)
        params = plan.parse(found.labels, query, request.headers, request.body)
        return ParsedRequest(found.operation, params, protocol)

    def _no_route(
        self, protocol: str, method: str, path: str, query: dict[str, list[str]]
    ) -> ServiceError:
        assert self._routes is not None
        if protocol == REST_XML:
            # S3 answers a method its resource does not support with a 405.
            allowed = self._routes.allowed_methods(path, query)
            headers = {"Allow": ", ".join(allowed)} if allowed else None
            return ServiceError(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                405,
                headers=headers,
                Method=method,
                ResourceType="OBJECT" if path.strip("/").count("/") else "BUCKET",
            )
        # rest-json services (Lambda, API Gateway) answer unknown paths with this 404.
        return ServiceError(
            "UnknownOperationException", f"No operation matches {method} {path}.", 404
        )

    # --------------------------------------------------------------------- plans

    def _plan(self, protocol: str, operation: OperationModel) -> Any:
        """The compiled converter (json, query) or RestOperation for ``operation``."""
        key = (protocol, operation.name)
        try:
            return self._plans[key]
        except KeyError:
            pass
        # Compiling is rare and must not interleave: a recursive shape's converter is
        # only usable once its compilation has finished.
        with self._compile_lock:
            plan = self._plans.get(key)
            if plan is None:
                plan = self._plans[key] = self._compile(protocol, operation)
        return plan

    def _compile(self, protocol: str, operation: OperationModel) -> Any:
        shape = operation.input_shape
        if protocol == JSON:
            return self._json.converter(shape) if shape is not None else _no_params
        if protocol == QUERY:
            return self._query.converter(shape) if shape is not None else _no_params
        if protocol == REST_XML:
            return RestOperation(operation, xml_compiler=self._xml)
        return RestOperation(operation, json_compiler=self._json)


def _no_params(document: Any) -> dict[str, Any]:
    return {}


def _query_values(query: str) -> dict[str, list[str]]:
    """Each query-string key with its values, in order (keys without ``=`` included)."""
    values: dict[str, list[str]] = {}
    if query:
        for key, value in query_pairs(query):
            found = values.get(key)
            if found is None:
                values[key] = [value]
            else:
                found.append(value)
    return values


def _service_error(protocol: str, error: BadInput) -> ServiceError:
    code, status = _CODES[protocol][error.kind]
    path = error.path or "the request"
    if code == "ValidationException":
        message = (
            f"1 validation error detected: Value null at '{path}' failed to satisfy "
            "constraint: Member must not be null"
        )
    elif code == "MissingParameter":
        message = f"The request must contain the parameter {path}."
    elif code == "MalformedXML":
        message = _MALFORMED_XML
    elif code == "MissingRequestBodyError":
        message = "Request Body is empty"
    elif code == "InvalidRequest":
        message = f"Missing required parameter {path}."
    elif error.kind == MALFORMED:
        message = f"{error.detail[:1].upper()}{error.detail[1:]}."
    else:
        message = f"Invalid value for {path}: {error.detail}."
    return ServiceError(code, message, status)


def _unsupported(protocol: str) -> ServiceError:
    return ServiceError(
        "NotImplemented",
        f"sandlot does not speak the {protocol} protocol; configure the client to use "
        "another protocol of this service.",
        501,
        sender_fault=False,
    )
