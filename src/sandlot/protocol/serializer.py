"""Provider results and ``ServiceError``s to HTTP responses, for every AWS protocol.

botocore's service model is the only description used: a provider returns a dict keyed
by the output shape's member names and this module writes it the way the protocol puts
it on the wire (json, rest-json, rest-xml, query), so that botocore and the other SDKs
parse it back. Per-operation plans are compiled on first use and cached, so create one
``ResponseSerializer`` per service (and protocol) and keep it.

Value rules: ``None`` members and members the model does not define are left out;
timestamps may be aware ``datetime``s (naive ones count as UTC) or epoch seconds;
blobs may be ``bytes`` or ``str`` (its UTF-8 bytes); a streaming blob payload (S3
``GetObject``'s ``Body``) may be a ``FileBody``, which becomes the response body as it
is (the gateway streams it) with its ``Content-Length``. An event-stream output (json
protocol: Kinesis ``SubscribeToShard``) is an async iterator of ``{event name:
members}`` dicts under the stream member; it becomes an ``EventStreamBody``: an
``initial-response`` event with the other members, then one message per event, and a
``ServiceError`` the iterator raises as an exception message that ends the stream.
rest-json (Lambda ``InvokeWithResponseStream``) is the same without the
``initial-response`` event: the other members are the status and headers, and an
event's ``eventpayload`` member (a blob: Lambda's ``PayloadChunk``) is the message's raw
payload. The other protocols' event streams are not supported yet
(``NotImplementedError``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any, NamedTuple

from botocore.model import OperationModel, ServiceModel, Shape

from sandlot.protocol._serial_compat import (
    BARE_ROOT_MEMBER,
    LEGACY_QUERY_CODES,
    ROOT_ELEMENTS,
    S3_ERROR_DOCUMENT,
    S3_REQUEST_ID_HEADERS,
)
from sandlot.protocol._serial_json import JsonCodec, JsonStructure, dumps
from sandlot.protocol._serial_raw import body_with_raw, has_raw
from sandlot.protocol._serial_values import (
    TIMESTAMP_TEXT,
    b64,
    bool_text,
    float_text,
    header_name_ok,
    header_text,
    raw_bytes,
    timestamp_format,
    xml_text,
)
from sandlot.protocol._serial_xml import (
    NON_BODY_LOCATIONS,
    XmlCodec,
    XmlStructure,
    member_tag,
    namespace_attribute,
)
from sandlot.protocol.errors import ServiceError
from sandlot.protocol.eventstream import event_message, exception_message
from sandlot.protocol.http import EventStreamBody, FileBody, HttpResponse

EVENT_STREAM_TYPE = "application/vnd.amazon.eventstream"

__all__ = ["ResponseSerializer"]

Plan = Callable[[dict[str, Any], str], HttpResponse]
Body = tuple[bytes | FileBody, str | None]  # body and its default Content-Type

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
# Statuses that must not carry a body (RFC 9110).
_NO_BODY_STATUSES = frozenset({204, 205, 304})
# Error members whose element name the XML error envelope already uses.
_XML_ERROR_ENVELOPE = frozenset({"Type", "Code", "Message", "RequestId", "HostId"})
_SCALARS = (str, int, float)


class _ErrorPlan(NamedTuple):
    """How one modelled error shape's members are written."""

    body: Any  # JsonStructure or XmlStructure, without the members written elsewhere
    headers: _HeaderMembers


class ResponseSerializer:
    """Serialises results and errors of one service in one protocol."""

    def __init__(self, model: ServiceModel, protocol: str | None = None) -> None:
        """``protocol`` defaults to the one botocore's clients pick for ``model``."""
        self.model = model
        self.protocol = protocol or model.resolved_protocol
        try:
            implementation = _PROTOCOLS[self.protocol]
        except KeyError:
            raise ValueError(f"unsupported protocol {self.protocol!r}") from None
        self._impl: _Protocol = implementation(model)

    def serialize(
        self, operation: OperationModel, result: dict[str, Any] | None, request_id: str
    ) -> HttpResponse:
        """The successful response of ``operation`` carrying ``result``."""
        return self._impl.serialize(operation, result or {}, request_id)

    def request_id_headers(self, request_id: str) -> dict[str, str]:
        """The headers carrying ``request_id`` in this service's responses."""
        if isinstance(self._impl, _RestProtocol):
            return self._impl.request_id_headers(request_id)
        return {"x-amzn-RequestId": request_id}

    def serialize_error(
        self, error: ServiceError, operation: OperationModel | None, request_id: str
    ) -> HttpResponse:
        """The error response for ``error``, with the members of its modelled shape.

        ``error.code`` is looked up among the model's error shapes by shape name or by
        its wire code; ``error.status`` is the HTTP status and ``error.headers`` are
        added as they are, last.
        """
        response = self._impl.serialize_error(error, self._impl.error_shape(error.code), request_id)
        response.headers.update(error.headers)
        if response.status in _NO_BODY_STATUSES:  # e.g. S3's 304 NotModified
            response.body = b""
            response.headers.pop("Content-Type", None)
        return response


# --- shared machinery --------------------------------------------------------------------


class _Protocol:
    """Plan caching and error-shape lookup common to all protocols."""

    event_streams = False  # whether the protocol writes event-stream outputs

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self.service = model.service_name
        self._plans: dict[str, Plan] = {}
        self._error_plans: dict[str, _ErrorPlan] = {}
        self._error_index: dict[str, Shape] | None = None
        self._legacy_codes = LEGACY_QUERY_CODES.get(self.service, {})

    def serialize(
        self, operation: OperationModel, result: dict[str, Any], rid: str
    ) -> HttpResponse:
        plan = self._plans.get(operation.name)
        if plan is None:
            if operation.has_event_stream_output and not self.event_streams:
                raise NotImplementedError(f"{operation.name}: event-stream output")
            plan = self._plans[operation.name] = self.compile(operation)
        return plan(result, rid)

    def compile(self, operation: OperationModel) -> Plan:
        raise NotImplementedError

    def serialize_error(self, error: ServiceError, shape: Shape | None, rid: str) -> HttpResponse:
        raise NotImplementedError

    def error_plan(self, shape: Shape) -> _ErrorPlan:
        """The cached member-writing plan of a modelled error shape."""
        plan = self._error_plans.get(shape.name)
        if plan is None:
            plan = self._error_plans[shape.name] = self.compile_error(shape)
        return plan

    def compile_error(self, shape: Shape) -> _ErrorPlan:
        raise NotImplementedError

    def error_shape(self, code: str) -> Shape | None:
        """The modelled error for ``code``: by shape name, else by wire code."""
        if self._error_index is None:
            self._error_index = self._index_errors()
        return self._error_index.get(code)

    def _index_errors(self) -> dict[str, Shape]:
        index: dict[str, Shape] = {}
        shapes = self.model.error_shapes
        for shape in shapes:
            index.setdefault(self.wire_code(shape), shape)
            index.setdefault(shape.error_code, shape)
        for shape in shapes:
            index[shape.name] = shape  # a shape name wins over another shape's code
        return index

    def wire_code(self, shape: Shape) -> str:
        """The code query-protocol clients know the error by (``error.code`` trait)."""
        trait = shape.metadata.get("error") or {}
        return trait.get("code") or self._legacy_codes.get(shape.name) or shape.name

    @staticmethod
    def fault(error: ServiceError, shape: Shape | None) -> str:
        """``Sender`` or ``Receiver``: the model's ``senderFault`` when it says, else the error's."""
        trait = shape.metadata.get("error") if shape is not None else None
        if trait and "senderFault" in trait:
            sender = bool(trait["senderFault"])
        else:
            sender = error.sender_fault and error.status < 500
        return "Sender" if sender else "Receiver"


def _message_member(shape: Shape | None) -> str | None:
    """The member carrying the error message (``message`` or ``Message``)."""
    if shape is not None:
        for name in shape.members:
            if name.lower() == "message":
                return name
    return None


def _error_values(error: ServiceError, shape: Shape | None) -> dict[str, Any]:
    """The modelled members of an error: its fields plus the message member."""
    values = dict(error.fields)
    message_member = _message_member(shape)
    if message_member and error.message:
        values[message_member] = error.message
    return values


def _unmodelled_scalars(error: ServiceError, shape: Shape | None) -> dict[str, Any]:
    """Extra scalar fields the model does not define (S3 sends e.g. ``BucketName``)."""
    members = shape.members if shape is not None else {}
    return {
        name: value
        for name, value in error.fields.items()
        if name not in members and isinstance(value, _SCALARS) and name.isidentifier()
    }


# --- headers and status (rest-json, rest-xml) ---------------------------------------------


def _header_text(shape: Shape) -> Callable[[Any], str]:
    """How a value of ``shape`` is written in a header."""
    kind = shape.type_name
    if kind == "list":
        item_text = _header_text(shape.member)
        return lambda items: ", ".join(item_text(item) for item in items if item is not None)
    if kind == "timestamp":
        return TIMESTAMP_TEXT[timestamp_format(shape, "rfc822")]
    if kind == "boolean":
        return bool_text
    if kind in ("float", "double"):
        return float_text
    if kind == "blob":
        return b64
    if kind in ("integer", "long"):
        return str
    if shape.serialization.get("jsonvalue"):
        # A JSON document, base64-encoded; a str is taken as JSON text already.
        return lambda value: b64(value if isinstance(value, str) else dumps(value))
    return lambda value: header_text(value if type(value) is str else str(value))


class _HeaderMembers:
    """Writes a structure's ``header`` and ``headers`` (prefix map) members."""

    __slots__ = ("_single", "_prefixed")

    def __init__(self, shape: Shape | None) -> None:
        self._single: list[tuple[str, str, Callable[[Any], str]]] = []
        self._prefixed: list[tuple[str, str, Callable[[Any], str]]] = []
        members = shape.members if shape is not None else {}
        for name, member in members.items():
            location = member.serialization.get("location")
            header = member.serialization.get("name", name)
            if location == "header":
                self._single.append((name, header, _header_text(member)))
            elif location == "headers":
                self._prefixed.append((name, header, _header_text(member.value)))

    def __bool__(self) -> bool:
        return bool(self._single or self._prefixed)

    def write(self, value: dict[str, Any], headers: dict[str, str]) -> None:
        for name, header, text in self._single:
            item = value.get(name)
            if item is not None and item != []:  # an empty list has no header to send
                headers[header] = text(item)
        for name, prefix, text in self._prefixed:
            entries = value.get(name)
            if entries:
                for key, item in entries.items():
                    # A key that cannot be a header name (S3 refuses them on upload)
                    # is dropped rather than corrupting the response.
                    if item is not None and header_name_ok(prefix + key):
                        headers[prefix + key] = text(item)


def _located(shape: Shape | None) -> frozenset[str]:
    """Members that travel in the status line or headers rather than the body."""
    if shape is None:
        return frozenset()
    return frozenset(
        name
        for name, member in shape.members.items()
        if member.serialization.get("location") in NON_BODY_LOCATIONS
    )


def _set_default(headers: dict[str, str], name: str, value: str) -> None:
    lowered = name.lower()
    if not any(key.lower() == lowered for key in headers):
        headers[name] = value


class _RestProtocol(_Protocol):
    """rest-json and rest-xml: status code, header members, a payload or a body document."""

    def request_id_headers(self, rid: str) -> dict[str, str]:
        return {"x-amzn-RequestId": rid}

    def body_plan(self, operation: OperationModel) -> Callable[[dict[str, Any]], Body]:
        raise NotImplementedError

    def compile(self, operation: OperationModel) -> Plan:
        shape = operation.output_shape
        header_members = _HeaderMembers(shape)
        default_status = int(operation.http.get("responseCode", 200))
        status_member = next(
            (
                name
                for name, member in (shape.members.items() if shape is not None else ())
                if member.serialization.get("location") == "statusCode"
            ),
            None,
        )
        body_of = self.body_plan(operation)

        def render(result: dict[str, Any], rid: str) -> HttpResponse:
            headers = self.request_id_headers(rid)
            if header_members:
                header_members.write(result, headers)
            status = default_status
            if status_member is not None and result.get(status_member) is not None:
                status = int(result[status_member])
            elif status == 200 and "Content-Range" in headers:
                status = 206  # a byte range of the representation (RFC 9110), e.g. GetObject
            body, content_type = body_of(result)
            if status in _NO_BODY_STATUSES:
                if type(body) is FileBody:
                    body.file.close()
                body = b""
            elif body and content_type:
                _set_default(headers, "Content-Type", content_type)
                if type(body) is FileBody:
                    headers["Content-Length"] = str(body.length)
            return HttpResponse(status, headers, body)

        return render

    def raw_payload(self, name: str, member: Shape) -> Callable[[dict[str, Any]], Body]:
        """A blob or string payload: the member's bytes are the body."""
        content_type = "text/plain" if member.type_name == "string" else "application/octet-stream"

        def body(result: dict[str, Any]) -> Body:
            value = result.get(name)
            if value is None:
                return b"", None
            if type(value) is FileBody:
                return value, content_type
            return raw_bytes(value), content_type

        return body


def _no_body(result: dict[str, Any]) -> Body:
    return b"", None


# --- json ---------------------------------------------------------------------------------


class _JsonErrors:
    """The JSON error document shared by json and rest-json."""

    codec: JsonCodec
    error_plan: Callable[[Shape], _ErrorPlan]

    def compile_error(self, shape: Shape) -> _ErrorPlan:
        return _ErrorPlan(self.codec.structure(shape, _located(shape)), _HeaderMembers(shape))

    def json_error_body(self, error: ServiceError, shape: Shape | None, code: str) -> bytes:
        document: dict[str, Any] = {"__type": code}
        if shape is not None:
            convert: JsonStructure = self.error_plan(shape).body
            document.update(convert(_error_values(error, shape)))
        if "message" not in document and "Message" not in document:
            document["message"] = error.message
        for name, value in _unmodelled_scalars(error, shape).items():
            document.setdefault(name, value)
        return dumps(document)


class _JsonProtocol(_JsonErrors, _Protocol):
    """AWS JSON 1.0/1.1: every member in a JSON body, the error type in ``__type``."""

    event_streams = True

    def __init__(self, model: ServiceModel) -> None:
        super().__init__(model)
        self.codec = JsonCodec()
        self.content_type = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"
        self.query_compatible = "awsQueryCompatible" in model.metadata

    def _compile_event_stream(self, operation: OperationModel) -> Plan:
        shape = operation.output_shape
        member = next(n for n, m in shape.members.items() if m.serialization.get("eventstream"))
        initial = self.codec.structure(shape, (member,))
        events = {
            name: self.codec.structure(event)
            for name, event in shape.members[member].members.items()
            if not event.metadata.get("exception")
        }

        def render(result: dict[str, Any], rid: str) -> HttpResponse:
            source = result[member]

            async def frames():
                yield event_message("initial-response", dumps(initial(result)))
                try:
                    async for item in source:
                        ((name, members),) = item.items()
                        yield event_message(name, dumps(events[name](members)))
                except ServiceError as error:
                    yield exception_message(error.code, dumps({"message": error.message}))
                finally:
                    await source.aclose()

            headers = {"Content-Type": EVENT_STREAM_TYPE, "x-amzn-RequestId": rid}
            return HttpResponse(200, headers, EventStreamBody(frames()))

        return render

    def compile(self, operation: OperationModel) -> Plan:
        if operation.has_event_stream_output:
            return self._compile_event_stream(operation)
        shape = operation.output_shape
        convert = self.codec.converter(shape) if shape is not None else None
        content_type = self.content_type
        wire_names = {n: m.serialization.get("name", n) for n, m in shape.members.items()} if (
            shape is not None
        ) else {}  # fmt: skip

        def render(result: dict[str, Any], rid: str) -> HttpResponse:
            if has_raw(result):  # members already in their wire form (_serial_raw.py)
                body = body_with_raw(result, wire_names, convert, dumps)
            else:
                body = dumps(convert(result)) if convert is not None else b"{}"
            return HttpResponse(200, {"Content-Type": content_type, "x-amzn-RequestId": rid}, body)

        return render

    def serialize_error(self, error: ServiceError, shape: Shape | None, rid: str) -> HttpResponse:
        headers = {"Content-Type": self.content_type, "x-amzn-RequestId": rid}
        if shape is None:
            code = query_code = error.code
        else:
            # Query-compatible services name the shape in __type and keep the legacy
            # code in x-amzn-query-error, which clients restore as Error.Code.
            query_code = self.wire_code(shape)
            code = shape.name if self.query_compatible else query_code
        headers["x-amzn-ErrorType"] = code
        if self.query_compatible:
            headers["x-amzn-query-error"] = f"{query_code};{self.fault(error, shape)}"
        return HttpResponse(error.status, headers, self.json_error_body(error, shape, code))


class _RestJsonProtocol(_JsonErrors, _RestProtocol):
    """REST-JSON: HTTP bindings from the model, the rest in a JSON document."""

    event_streams = True

    def __init__(self, model: ServiceModel) -> None:
        super().__init__(model)
        self.codec = JsonCodec()

    def compile(self, operation: OperationModel) -> Plan:
        if operation.has_event_stream_output:
            return self._compile_event_stream(operation)
        return super().compile(operation)

    def _compile_event_stream(self, operation: OperationModel) -> Plan:
        shape = operation.output_shape
        member = shape.serialization["payload"]
        header_members = _HeaderMembers(shape)
        status_member = next(
            (
                n
                for n, m in shape.members.items()
                if m.serialization.get("location") == "statusCode"
            ),
            None,
        )
        events = {
            name: self._event_plan(event)
            for name, event in shape.members[member].members.items()
            if not event.metadata.get("exception")
        }

        def render(result: dict[str, Any], rid: str) -> HttpResponse:
            headers = self.request_id_headers(rid)
            header_members.write(result, headers)
            status = int(result.get(status_member) or 200) if status_member else 200
            source = result.get(member)
            if source is None:  # no stream at all (e.g. a DryRun's 204)
                return HttpResponse(status, headers, b"")
            _set_default(headers, "Content-Type", EVENT_STREAM_TYPE)

            async def frames():
                try:
                    async for item in source:
                        ((name, members),) = item.items()
                        payload, content_type = events[name](members)
                        yield event_message(name, payload, content_type)
                except ServiceError as error:
                    yield exception_message(error.code, dumps({"message": error.message}))
                finally:
                    await source.aclose()

            return HttpResponse(status, headers, EventStreamBody(frames()))

        return render

    def _event_plan(self, event: Shape) -> Callable[[dict[str, Any]], tuple[bytes, str]]:
        """An event's message payload and content type: its ``eventpayload`` member's
        bytes (blob, string) or JSON, else its members as a JSON document."""
        payload = next(
            (n for n, m in event.members.items() if m.serialization.get("eventpayload")), None
        )
        if payload is None:
            convert = self.codec.structure(event)
            return lambda members: (dumps(convert(members)), "application/json")
        kind = event.members[payload].type_name
        if kind in ("blob", "string"):
            content_type = "application/octet-stream" if kind == "blob" else "text/plain"
            return lambda members: (raw_bytes(members.get(payload) or b""), content_type)
        convert_member = self.codec.structure(event.members[payload])
        return lambda members: (
            dumps(convert_member(members.get(payload) or {})),
            "application/json",
        )

    def body_plan(self, operation: OperationModel) -> Callable[[dict[str, Any]], Body]:
        shape = operation.output_shape
        if shape is None:
            return _no_body
        payload = shape.serialization.get("payload")
        if payload is not None:
            member = shape.members[payload]
            if member.type_name in ("blob", "string"):
                return self.raw_payload(payload, member)
            return self._json_body(self.codec.converter(member), payload)
        located = _located(shape)
        if len(located) == len(shape.members):
            return _no_body
        return self._json_body(self.codec.structure(shape, located), None)

    @staticmethod
    def _json_body(convert: Callable[[Any], Any] | None, member: str | None) -> Callable:
        def body(result: dict[str, Any]) -> Body:
            value = result if member is None else result.get(member)
            if value is None:
                return b"", None
            return dumps(value if convert is None else convert(value)), "application/json"

        return body

    def serialize_error(self, error: ServiceError, shape: Shape | None, rid: str) -> HttpResponse:
        code = error.code if shape is None else self.wire_code(shape)
        headers = {
            "Content-Type": "application/json",
            "x-amzn-RequestId": rid,
            "x-amzn-ErrorType": code,
        }
        if shape is not None:
            self.error_plan(shape).headers.write(_error_values(error, shape), headers)
        return HttpResponse(error.status, headers, self.json_error_body(error, shape, code))


# --- xml ----------------------------------------------------------------------------------


class _XmlErrors:
    """The ``<Error>`` element's content shared by rest-xml and query."""

    codec: XmlCodec
    error_plan: Callable[[Shape], _ErrorPlan]

    def compile_error(self, shape: Shape) -> _ErrorPlan:
        # The envelope already carries the message, code and request id.
        message_member = _message_member(shape)
        skip = frozenset(
            name
            for name, member in shape.members.items()
            if name == message_member or member_tag(name, member) in _XML_ERROR_ENVELOPE
        )
        return _ErrorPlan(self.codec.structure(shape, skip), _HeaderMembers(shape))

    def error_details(self, out: list[str], error: ServiceError, shape: Shape | None) -> None:
        """Append ``<Message>``, the modelled members and the extra scalar fields."""
        if error.message:
            out.append(f"<Message>{xml_text(error.message)}</Message>")
        if shape is not None:
            structure: XmlStructure = self.error_plan(shape).body
            structure.write_members(out, error.fields)
        for name, value in _unmodelled_scalars(error, shape).items():
            if name not in _XML_ERROR_ENVELOPE:
                out.append(f"<{name}>{xml_text(str(value))}</{name}>")


def _service_namespace(model: ServiceModel) -> str:
    """The service's XML namespace: the model's, else the one its input documents declare.

    S3-style models only carry the namespace on request payloads; responses use it too.
    """
    namespace = model.metadata.get("xmlNamespace")
    if namespace:
        return namespace if isinstance(namespace, str) else namespace.get("uri", "")
    for name in model.operation_names:
        shape = model.operation_model(name).input_shape
        if shape is None:
            continue
        candidates = [shape, *shape.members.values()]
        for candidate in candidates:
            found = candidate.serialization.get("xmlNamespace")
            if found:
                return found if isinstance(found, str) else found.get("uri", "")
    return ""


class _RestXmlProtocol(_XmlErrors, _RestProtocol):
    """REST-XML (S3, Route 53, CloudFront): HTTP bindings, the rest in an XML document."""

    def __init__(self, model: ServiceModel) -> None:
        super().__init__(model)
        self.codec = XmlCodec()
        self.namespace = namespace_attribute(_service_namespace(model))
        self.s3_ids = self.service in S3_REQUEST_ID_HEADERS
        self.s3_errors = self.service in S3_ERROR_DOCUMENT

    def request_id_headers(self, rid: str) -> dict[str, str]:
        if not self.s3_ids:
            return {"x-amzn-RequestId": rid}
        return {"x-amz-request-id": rid, "x-amz-id-2": _host_id(rid)}

    def body_plan(self, operation: OperationModel) -> Callable[[dict[str, Any]], Body]:
        shape = operation.output_shape
        if shape is None:
            return _no_body
        bare = BARE_ROOT_MEMBER.get((self.service, operation.name))
        if bare is not None:
            return self._bare_root(bare, shape.members[bare])
        payload = shape.serialization.get("payload")
        if payload is not None:
            member = shape.members[payload]
            if member.type_name in ("blob", "string"):
                return self.raw_payload(payload, member)
            root = member.serialization.get("name", payload)
            return self._document(root, self.codec.structure(member), payload)
        located = _located(shape)
        if len(located) == len(shape.members):
            return _no_body
        # botocore's models drop S3's root element names (kept in ROOT_ELEMENTS); for
        # other services the shape's name stands in.
        root = ROOT_ELEMENTS.get((self.service, operation.name)) or shape.serialization.get(
            "name", shape.name
        )
        return self._document(root, self.codec.structure(shape), None)

    def _document(self, root: str, structure: XmlStructure, member: str | None) -> Callable:
        namespace = self.namespace

        def body(result: dict[str, Any]) -> Body:
            value = result if member is None else result.get(member)
            if value is None:
                return b"", None
            out = [_XML_DECLARATION, structure.open_tag(root, value, namespace)]
            structure.write_members(out, value)
            out.append(f"</{root}>")
            return "".join(out).encode("utf-8"), "application/xml"

        return body

    def _bare_root(self, name: str, member: Shape) -> Callable:
        tag = member.serialization.get("name", name)
        opening = f"{_XML_DECLARATION}<{tag}{self.namespace}"
        text = self.codec.scalar_text(member)

        def body(result: dict[str, Any]) -> Body:
            value = result.get(name)
            if value is None:
                document = f"{opening}/>"
            else:
                document = f"{opening}>{xml_text(text(value))}</{tag}>"
            return document.encode("utf-8"), "application/xml"

        return body

    def serialize_error(self, error: ServiceError, shape: Shape | None, rid: str) -> HttpResponse:
        code = xml_text(error.code if shape is None else self.wire_code(shape))
        headers = self.request_id_headers(rid)
        headers["Content-Type"] = "application/xml"
        if shape is not None:
            self.error_plan(shape).headers.write(error.fields, headers)
        if self.s3_errors:
            out = [f"{_XML_DECLARATION}<Error><Code>{code}</Code>"]
            self.error_details(out, error, shape)
            out.append(f"<RequestId>{xml_text(rid)}</RequestId>")
            out.append(f"<HostId>{headers['x-amz-id-2']}</HostId></Error>")
        else:
            fault = self.fault(error, shape)
            out = [f"{_XML_DECLARATION}<ErrorResponse{self.namespace}><Error><Type>{fault}</Type>"]
            out.append(f"<Code>{code}</Code>")
            self.error_details(out, error, shape)
            out.append(f"</Error><RequestId>{xml_text(rid)}</RequestId></ErrorResponse>")
        return HttpResponse(error.status, headers, "".join(out).encode("utf-8"))


def _host_id(rid: str) -> str:
    """S3's ``x-amz-id-2``: an opaque base64 token, derived from the request id."""
    return base64.b64encode(hashlib.sha256(rid.encode("utf-8")).digest()).decode("ascii")


# --- query --------------------------------------------------------------------------------


class _QueryProtocol(_XmlErrors, _Protocol):
    """AWS query: ``<OpResponse><OpResult>...</OpResult><ResponseMetadata/></OpResponse>``."""

    def __init__(self, model: ServiceModel) -> None:
        super().__init__(model)
        self.codec = XmlCodec()
        namespace = model.metadata.get("xmlNamespace") or (
            f"http://{model.endpoint_prefix}.amazonaws.com/doc/{model.api_version}/"
        )
        self.namespace = namespace_attribute(namespace)

    def compile(self, operation: OperationModel) -> Plan:
        shape = operation.output_shape
        structure = self.codec.structure(shape) if shape is not None else None
        wrapper = shape.serialization.get("resultWrapper") if shape is not None else None
        opening = f"<{operation.name}Response{self.namespace}>"
        closing = f"</{operation.name}Response>"

        def render(result: dict[str, Any], rid: str) -> HttpResponse:
            out = [opening]
            if structure is not None:
                if wrapper:
                    out.append(structure.open_tag(wrapper, result))
                    structure.write_members(out, result)
                    out.append(f"</{wrapper}>")
                else:
                    structure.write_members(out, result)
            out.append(f"<ResponseMetadata><RequestId>{xml_text(rid)}</RequestId>")
            out.append(f"</ResponseMetadata>{closing}")
            headers = {"Content-Type": "text/xml", "x-amzn-RequestId": rid}
            return HttpResponse(200, headers, "".join(out).encode("utf-8"))

        return render

    def serialize_error(self, error: ServiceError, shape: Shape | None, rid: str) -> HttpResponse:
        code = error.code if shape is None else self.wire_code(shape)
        out = [
            f"<ErrorResponse{self.namespace}><Error><Type>{self.fault(error, shape)}</Type>",
            f"<Code>{xml_text(code)}</Code>",
        ]
        self.error_details(out, error, shape)
        out.append(f"</Error><RequestId>{xml_text(rid)}</RequestId></ErrorResponse>")
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": rid}
        return HttpResponse(error.status, headers, "".join(out).encode("utf-8"))


_PROTOCOLS: dict[str, type[_Protocol]] = {
    "json": _JsonProtocol,
    "rest-json": _RestJsonProtocol,
    "rest-xml": _RestXmlProtocol,
    "query": _QueryProtocol,
}
