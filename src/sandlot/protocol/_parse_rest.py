"""One REST (rest-json / rest-xml) operation's compiled request plan.

Built once per operation: where each input member travels (URI label, query string,
header, header-prefix map, host prefix, payload or body) and the converter for it.
Parsing a request then touches only what the request carries.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from xml.etree import ElementTree

from botocore.model import OperationModel, Shape

from sandlot.protocol._parse_json import JsonCompiler, load_json
from sandlot.protocol._parse_values import (
    MALFORMED,
    MISSING,
    MISSING_BODY,
    TYPE,
    BadInput,
    text_converter,
    type_error,
)
from sandlot.protocol._parse_xml import XmlCompiler, load_xml

TextConverter = Callable[[str], Any]

# Default timestamp formats by location (the rest protocols' rules, as botocore's).
_URI_TIMESTAMPS = "iso8601"
_QUERY_TIMESTAMPS = "iso8601"
_HEADER_TIMESTAMPS = "rfc822"


class RestOperation:
    """Extracts one operation's params from an already routed request."""

    def __init__(
        self,
        operation: OperationModel,
        json_compiler: JsonCompiler | None = None,
        xml_compiler: XmlCompiler | None = None,
    ) -> None:
        self.operation = operation
        self._xml = xml_compiler is not None
        self._labels: list[tuple[str, str, TextConverter]] = []
        self._query: dict[str, tuple[str, bool, TextConverter]] = {}
        self._query_map: tuple[str, bool, TextConverter] | None = None
        self._headers: dict[str, tuple[str, TextConverter]] = {}
        self._header_maps: list[tuple[str, str, TextConverter]] = []
        self._host: tuple[re.Pattern[str], tuple[str, ...]] | None = None
        self._payload: tuple[str, str, Callable[[Any], Any] | None] | None = None
        self._body: Callable[[Any], dict[str, Any]] | None = None
        self._required: tuple[str, ...] = ()
        self._literal_keys = frozenset(
            part.partition("=")[0]
            for part in operation.http.get("requestUri", "").partition("?")[2].split("&")
        )
        shape = operation.input_shape
        if shape is not None:
            self._compile(shape, json_compiler, xml_compiler)

    def _compile(
        self, shape: Shape, json_compiler: JsonCompiler | None, xml_compiler: XmlCompiler | None
    ) -> None:
        body_members = []
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "uri":
                self._labels.append((wire, name, text_converter(member, _URI_TIMESTAMPS)))
            elif location == "querystring":
                self._add_query(name, wire, member)
            elif location == "header":
                self._headers[wire.lower()] = (name, _header_converter(member))
            elif location == "headers":
                value_convert = _header_converter(member.value)
                self._header_maps.append((wire.lower(), name, value_convert))
            else:
                body_members.append(name)
        self._host = _host_pattern(self.operation, shape)
        payload = shape.serialization.get("payload")
        if payload is not None:
            self._payload = _payload_plan(shape, payload, json_compiler, xml_compiler)
        elif body_members:
            if xml_compiler is not None:
                self._body = xml_compiler.structure(shape, body_members)
            elif json_compiler is not None:
                self._body = json_compiler.structure(shape, body_members)
        # Body members are checked by the body's converter; with a payload, nothing
        # else travels in the body, so every required member is checked here.
        self._required = tuple(
            name
            for name in shape.required_members
            if payload is not None or name not in body_members
        )

    def _add_query(self, name: str, wire: str, member: Shape) -> None:
        if member.type_name == "map":
            value = member.value
            is_list = value.type_name == "list"
            item = value.member if is_list else value
            self._query_map = (name, is_list, text_converter(item, _QUERY_TIMESTAMPS))
        elif member.type_name == "list":
            item_convert = text_converter(member.member, _QUERY_TIMESTAMPS)
            self._query[wire] = (name, True, item_convert)
        else:
            self._query[wire] = (name, False, text_converter(member, _QUERY_TIMESTAMPS))

    def parse(
        self,
        labels: Mapping[str, str],
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> dict[str, Any]:
        """The params of a request routed to this operation.

        ``labels`` are the decoded URI labels by template name, ``query`` maps each
        query-string key to its values, ``headers`` has lower-case names.
        """
        out: dict[str, Any] = {}
        for wire, name, convert in self._labels:
            value = labels.get(wire)
            if value is not None:
                _put(out, name, convert, value)
        if query:
            self._parse_query(out, query)
        if headers:
            self._parse_headers(out, headers)
        if self._host is not None:
            self._parse_host(out, headers.get("host", ""))
        if self._payload is not None:
            self._parse_payload(out, body)
        elif self._body is not None:
            self._parse_body(out, body)
        for name in self._required:
            if name not in out:
                payload = self._payload is not None and self._payload[0] == name
                raise BadInput(MISSING_BODY if payload else MISSING, "missing", (name,))
        return out

    def _parse_query(self, out: dict[str, Any], query: Mapping[str, list[str]]) -> None:
        remaining: dict[str, Any] | None = None
        for key, values in query.items():
            field = self._query.get(key)
            if field is not None:
                name, is_list, convert = field
                if is_list:
                    try:
                        out[name] = [convert(value) for value in values]
                    except BadInput as error:
                        raise error.at(name) from None
                else:
                    _put(out, name, convert, values[0])
            elif self._query_map is not None and key not in self._literal_keys:
                # A querystring map takes the parameters no other member claims.
                name, is_list, convert = self._query_map
                if remaining is None:
                    remaining = out[name] = {}
                try:
                    remaining[key] = (
                        [convert(value) for value in values] if is_list else convert(values[0])
                    )
                except BadInput as error:
                    raise error.at(name) from None

    def _parse_headers(self, out: dict[str, Any], headers: Mapping[str, str]) -> None:
        maps: dict[str, dict[str, Any]] = {}
        for header, value in headers.items():
            # An empty header carries nothing (proxies drop them, AWS ignores them).
            if not value:
                continue
            field = self._headers.get(header)
            if field is not None:
                _put(out, field[0], field[1], value)
                continue
            for prefix, name, convert in self._header_maps:
                if header.startswith(prefix):
                    entries = maps.get(name)
                    if entries is None:
                        entries = maps[name] = out[name] = {}
                    try:
                        entries[header[len(prefix) :]] = convert(value)
                    except BadInput as error:
                        raise error.at(name) from None
                    break

    def _parse_host(self, out: dict[str, Any], host: str) -> None:
        assert self._host is not None
        pattern, names = self._host
        found = pattern.match(host)
        if found is not None:
            for name, value in zip(names, found.groups(), strict=True):
                out.setdefault(name, value)

    def _parse_payload(self, out: dict[str, Any], body: bytes) -> None:
        assert self._payload is not None
        name, kind, convert = self._payload
        # A raw payload is the body itself, present even when empty.
        if kind == "blob":
            out[name] = body
            return
        if kind == "string":
            try:
                out[name] = body.decode("utf-8")
            except UnicodeDecodeError:
                raise BadInput(TYPE, "the body is not UTF-8 text", (name,)) from None
            return
        assert convert is not None
        if not body.strip():
            return
        document = self._load(body)
        try:
            out[name] = convert(document)
        except BadInput as error:
            raise self._body_error(error.at(name)) from None

    def _parse_body(self, out: dict[str, Any], body: bytes) -> None:
        assert self._body is not None
        if self._xml:
            # No body still has to satisfy the required members: read it as empty.
            document: Any = self._load(body) if body.strip() else ElementTree.Element("_")
        else:
            document = load_json(body)
        try:
            out.update(self._body(document))
        except BadInput as error:
            raise self._body_error(error) from None

    def _load(self, body: bytes) -> Any:
        return load_xml(body) if self._xml else load_json(body)

    def _body_error(self, error: BadInput) -> BadInput:
        # An XML document that does not match the model "does not validate against
        # the schema" (S3's MalformedXML), whatever the detail.
        if self._xml:
            error.kind = MALFORMED
        return error


def _put(out: dict[str, Any], name: str, convert: TextConverter, text: str) -> None:
    try:
        out[name] = convert(text)
    except BadInput as error:
        raise error.at(name) from None


def _payload_plan(
    shape: Shape,
    payload: str,
    json_compiler: JsonCompiler | None,
    xml_compiler: XmlCompiler | None,
) -> tuple[str, str, Callable[[Any], Any] | None]:
    member = shape.members[payload]
    if member.type_name in ("blob", "string"):
        return (payload, member.type_name, None)
    if xml_compiler is not None:
        return (payload, "document", xml_compiler.converter(member))
    assert json_compiler is not None
    return (payload, "document", json_compiler.converter(member))


def _host_pattern(
    operation: OperationModel, shape: Shape
) -> tuple[re.Pattern[str], tuple[str, ...]] | None:
    """A pattern reading the host labels (``{RequestRoute}.``) off the Host header."""
    prefix = (operation.endpoint or {}).get("hostPrefix")
    if not prefix or "{" not in prefix:
        return None
    names: list[str] = []
    pattern = ""
    for literal, label in re.findall(r"([^{]*)(?:\{([^}]*)\})?", prefix):
        pattern += re.escape(literal)
        if label:
            names.append(label)
            # Dots would be ambiguous with the endpoint's own host name.
            pattern += "([A-Za-z0-9-]+)"
    if not all(name in shape.members for name in names):
        return None
    return re.compile(pattern), tuple(names)


# ------------------------------------------------------------------------- headers


def _header_converter(shape: Shape) -> TextConverter:
    """Header text to a value of ``shape``: scalars, comma lists, JSON values."""
    if shape.type_name == "list":
        item = shape.member
        item_convert = text_converter(item, _HEADER_TIMESTAMPS)
        rfc822 = (
            item.type_name == "timestamp"
            and item.serialization.get("timestampFormat", _HEADER_TIMESTAMPS) == "rfc822"
        )
        split = _split_http_dates if rfc822 else split_header_list

        def convert_list(text: str) -> list[Any]:
            return [item_convert(part) for part in split(text)]

        return convert_list
    if shape.type_name == "string" and shape.serialization.get("jsonvalue"):
        return _json_value
    if shape.type_name == "blob":
        return _header_blob
    return text_converter(shape, _HEADER_TIMESTAMPS)


def split_header_list(text: str) -> list[str]:
    """The items of a comma-separated header; ``"a,\\"b"`` quoting is honoured."""
    if '"' not in text:
        return [part.strip() for part in text.split(",")]
    items: list[str] = []
    index, size = 0, len(text)
    while index <= size:
        while index < size and text[index] in " \t":
            index += 1
        if index < size and text[index] == '"':
            item, index = _quoted(text, index + 1)
            comma = text.find(",", index)
            index = size + 1 if comma < 0 else comma + 1
        else:
            comma = text.find(",", index)
            end = size if comma < 0 else comma
            item = text[index:end].strip()
            index = end + 1
        items.append(item)
    return items


def _quoted(text: str, index: int) -> tuple[str, int]:
    """The quoted string starting after its opening quote, and the index past it."""
    chars: list[str] = []
    size = len(text)
    while index < size:
        char = text[index]
        if char == "\\" and index + 1 < size:
            chars.append(text[index + 1])
            index += 2
        elif char == '"':
            return "".join(chars), index + 1
        else:
            chars.append(char)
            index += 1
    raise type_error("a closed quoted string", text)


def _split_http_dates(text: str) -> list[str]:
    # An HTTP date has a comma of its own ("Mon, 01 Jan 2024 ..."): pair the pieces up.
    parts = text.split(",")
    return [",".join(parts[index : index + 2]).strip() for index in range(0, len(parts), 2)]


def _json_value(text: str) -> Any:
    try:
        return json.loads(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise type_error("base64-encoded JSON", text) from None


def _header_blob(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise type_error("base64-encoded data", text) from None
