"""Shape-driven XML writing (rest-xml and query).

``XmlCodec.writer(shape)`` compiles a shape into ``write(out, tag, value)``, which appends
the element's text pieces to the list ``out``; the caller joins them once. String
building is several times faster than ElementTree for these small documents, and every
piece of character data goes through ``xml_text``/``xml_attribute``.

Rules (those botocore's XML parser reads back): an element is named by the member's
``locationName`` or member name; lists wrap items in ``<member>`` (or the list member's
``locationName``) unless ``flattened``, when the items repeat under the list's name;
maps hold ``<entry><key/><value/></entry>`` (names from ``locationName``), or repeat
``<key/><value/>`` pairs under the map's name when flattened; ``xmlAttribute`` members
become attributes of their structure's element; ``xmlNamespace`` declares a namespace
on the element of the shape that carries it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.model import Shape

from sandlot.protocol._serial_json import shape_key
from sandlot.protocol._serial_values import (
    TEXT_SPECIAL,
    TEXT_TABLE,
    TIMESTAMP_TEXT,
    b64,
    bool_text,
    float_text,
    timestamp_format,
    xml_attribute,
    xml_text,
)

Writer = Callable[[list[str], str, Any], None]

# Members the parser reads from elsewhere than the XML body.
NON_BODY_LOCATIONS = frozenset({"header", "headers", "statusCode"})


def namespace_attribute(namespace: Any) -> str:
    """`` xmlns="uri"`` or `` xmlns:prefix="uri"`` from a model ``xmlNamespace`` value."""
    if not namespace:
        return ""
    if isinstance(namespace, str):
        return f' xmlns="{xml_attribute(namespace)}"'
    prefix = namespace.get("prefix")
    name = f"xmlns:{prefix}" if prefix else "xmlns"
    return f' {name}="{xml_attribute(namespace.get("uri", ""))}"'


def member_tag(name: str, shape: Shape) -> str:
    """The element name of member ``name``; a flattened list repeats its member's name."""
    if shape.type_name == "list" and shape.serialization.get("flattened"):
        item_name = shape.member.serialization.get("name")
        if item_name:
            return item_name
    return shape.serialization.get("name", name)


def _text(value: Any) -> str:
    return xml_text(value if type(value) is str else str(value))


class XmlStructure:
    """Writes a structure: attributes on its element, modelled members as children."""

    __slots__ = ("_codec", "_shape", "_skip", "_namespace", "_elements", "_attributes")

    def __init__(self, codec: XmlCodec, shape: Shape, skip: frozenset[str] = frozenset()) -> None:
        self._codec = codec
        self._shape = shape
        self._skip = skip
        self._namespace = namespace_attribute(shape.serialization.get("xmlNamespace"))
        self._elements: dict[str, tuple[str, Writer]] | None = None
        self._attributes: dict[str, tuple[str, Callable[[Any], str]]] = {}

    def _plan(self) -> dict[str, tuple[str, Writer]]:
        elements = {}
        for name, member in self._shape.members.items():
            serialization = member.serialization
            if name in self._skip or serialization.get("location") in NON_BODY_LOCATIONS:
                continue
            if serialization.get("xmlAttribute"):
                text = self._codec.scalar_text(member)
                self._attributes[name] = (serialization.get("name", name), text)
            else:
                elements[name] = (member_tag(name, member), self._codec.writer(member))
        self._elements = elements
        return elements

    def open_tag(self, tag: str, value: dict[str, Any], default_namespace: str = "") -> str:
        """``<tag ...>`` with the namespace declaration and the attribute members."""
        if self._elements is None:
            self._plan()
        opening = f"<{tag}{self._namespace or default_namespace}"
        for name, (attribute, text) in self._attributes.items():
            item = value.get(name)
            if item is not None:
                opening += f' {attribute}="{xml_attribute(text(item))}"'
        return opening + ">"

    def write_members(self, out: list[str], value: dict[str, Any]) -> None:
        """Append the child elements of every modelled, non-``None`` member in ``value``."""
        elements = self._elements if self._elements is not None else self._plan()
        for name, item in value.items():
            if item is None:
                continue
            entry = elements.get(name)
            if entry is not None:
                entry[1](out, entry[0], item)

    def __call__(self, out: list[str], tag: str, value: dict[str, Any]) -> None:
        out.append(self.open_tag(tag, value))
        self.write_members(out, value)
        out.append(f"</{tag}>")


class XmlCodec:
    """Compiles shapes into XML writers; one per service model and protocol."""

    def __init__(self, default_timestamp: str = "iso8601") -> None:
        self._default_timestamp = default_timestamp
        self._cache: dict[tuple[str, str, str], Writer] = {}

    def writer(self, shape: Shape) -> Writer:
        """The writer for values of ``shape``."""
        key = shape_key(shape)
        try:
            return self._cache[key]
        except KeyError:
            write = self._build(shape)
            self._cache[key] = write
            return write

    def structure(self, shape: Shape, skip: frozenset[str] = frozenset()) -> XmlStructure:
        """A structure writer for ``shape`` without the members in ``skip`` (uncached)."""
        return XmlStructure(self, shape, skip)

    def scalar_text(self, shape: Shape) -> Callable[[Any], str]:
        """The character-data formatter of a scalar shape (not yet XML-escaped)."""
        kind = shape.type_name
        if kind == "boolean":
            return bool_text
        if kind in ("float", "double"):
            return float_text
        if kind == "blob":
            return b64
        if kind == "timestamp":
            return TIMESTAMP_TEXT[timestamp_format(shape, self._default_timestamp)]
        return str

    def _build(self, shape: Shape) -> Writer:
        kind = shape.type_name
        if kind == "structure":
            return XmlStructure(self, shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        if kind == "string":
            return _write_string
        text = self.scalar_text(shape)
        if kind in ("integer", "long", "timestamp"):
            text = _escaping_strings(text)

        def write_scalar(out: list[str], tag: str, value: Any) -> None:
            out.append(f"<{tag}>{text(value)}</{tag}>")

        return write_scalar

    def _list(self, shape: Shape) -> Writer:
        write_item = self.writer(shape.member)
        if shape.serialization.get("flattened"):

            def write_flat(out: list[str], tag: str, items: Any) -> None:
                for item in items:
                    if item is not None:
                        write_item(out, tag, item)

            return write_flat
        item_tag = shape.member.serialization.get("name", "member")

        def write_wrapped(out: list[str], tag: str, items: Any) -> None:
            out.append(f"<{tag}>")
            for item in items:
                if item is not None:
                    write_item(out, item_tag, item)
            out.append(f"</{tag}>")

        return write_wrapped

    def _map(self, shape: Shape) -> Writer:
        key_tag = shape.key.serialization.get("name", "key")
        value_tag = shape.value.serialization.get("name", "value")
        write_value = self.writer(shape.value)
        flattened = bool(shape.serialization.get("flattened"))

        def write_map(out: list[str], tag: str, entries: Any) -> None:
            if not flattened:
                out.append(f"<{tag}>")
            entry_tag = tag if flattened else "entry"
            for key, item in entries.items():
                if item is None:
                    continue
                out.append(f"<{entry_tag}><{key_tag}>{_text(key)}</{key_tag}>")
                write_value(out, value_tag, item)
                out.append(f"</{entry_tag}>")
            if not flattened:
                out.append(f"</{tag}>")

        return write_map


def _escaping_strings(formatted: Callable[[Any], str]) -> Callable[[Any], str]:
    """Formatted numbers, booleans, base64 and timestamps are XML-safe text; a string
    given for a number, or passed through as a timestamp, may need escaping."""

    def text(value: Any) -> str:
        return xml_text(value) if type(value) is str else formatted(value)

    return text


def _write_string(out: list[str], tag: str, value: Any) -> None:
    if type(value) is not str:
        value = str(value)
    if TEXT_SPECIAL.search(value) is not None:  # xml_text, inlined: the hottest path
        value = value.translate(TEXT_TABLE)
    out.append(f"<{tag}>{value}</{tag}>")
