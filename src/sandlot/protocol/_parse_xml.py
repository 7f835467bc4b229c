"""Safe XML loading and compiled converters from XML elements to typed params (rest-xml)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any
from xml.etree import ElementTree

from botocore.model import Shape

from sandlot.protocol._parse_values import (
    MALFORMED,
    MISSING,
    BadInput,
    text_converter,
    type_error,
)

ElementConverter = Callable[[ElementTree.Element], Any]
ItemsConverter = Callable[[list[ElementTree.Element]], Any]

# A DTD is how entity-expansion ("billion laughs") and external-entity attacks start;
# no AWS request carries one. The document is parsed as UTF-8 whatever it declares,
# so this byte-level check cannot be dodged with another encoding.
_DTD_RE = re.compile(rb"<!\s*(?i:doctype|entity)")


def load_xml(body: bytes) -> ElementTree.Element:
    """The root element of XML document ``body``, refusing DTDs and entities."""
    if _DTD_RE.search(body) is not None:
        raise BadInput(MALFORMED, "DOCTYPE and ENTITY declarations are not allowed")
    parser = ElementTree.XMLParser(encoding="utf-8")
    try:
        parser.feed(body)
        return parser.close()
    except (ElementTree.ParseError, ValueError):
        raise BadInput(MALFORMED, "the XML is not well-formed") from None


def local_name(tag: str) -> str:
    """``tag`` without its ``{namespace}`` (or ``prefix:``) part."""
    if tag[:1] == "{":
        return tag[tag.find("}") + 1 :]
    return tag.rpartition(":")[2]


class XmlCompiler:
    """Builds (and caches) element converters for one service model's shapes."""

    def __init__(self, default_timestamp_format: str = "iso8601") -> None:
        self._timestamp_format = default_timestamp_format
        self._cache: dict[tuple[Any, ...], Callable[[Any], Any]] = {}

    def converter(self, shape: Shape) -> ElementConverter:
        """Converter for one element holding a value of ``shape``."""
        return self._cached(shape, flattened=False)

    def structure(self, shape: Shape, only: Collection[str]) -> ElementConverter:
        """A (not cached) converter for structure ``shape`` limited to members ``only``."""
        return self._structure(shape, only)

    def items_converter(self, shape: Shape) -> ItemsConverter:
        """Converter for the sibling elements of a flattened list or map ``shape``."""
        return self._cached(shape, flattened=True)

    def _cached(self, shape: Shape, flattened: bool) -> Callable[[Any], Any]:
        kind = shape.type_name
        if kind not in ("structure", "list", "map"):
            fmt = shape.serialization.get("timestampFormat", self._timestamp_format)
            key: tuple[Any, ...] = (kind, fmt)
        else:
            key = (kind, shape.name, flattened)
        found = self._cache.get(key)
        if found is not None:
            return found
        # Recursive shapes reach themselves while compiling: forward until built.
        cell: list[Callable[[Any], Any]] = []
        self._cache[key] = lambda value: cell[0](value)
        built = self._build(shape, flattened)
        cell.append(built)
        self._cache[key] = built
        return built

    def _build(self, shape: Shape, flattened: bool) -> Callable[[Any], Any]:
        kind = shape.type_name
        if kind == "structure":
            return self._structure(shape)
        if kind == "list":
            return self._list(shape, flattened)
        if kind == "map":
            return self._map(shape, flattened)
        text_convert = text_converter(shape, self._timestamp_format)

        def convert(element: ElementTree.Element) -> Any:
            return text_convert(element.text or "")

        return convert

    def _structure(self, shape: Shape, only: Collection[str] | None = None) -> ElementConverter:
        fields: dict[str, tuple[str, bool, Callable[[Any], Any]]] = {}
        attributes: list[tuple[str, str, Callable[[str], Any]]] = []
        for name, member in shape.members.items():
            if only is not None and name not in only:
                continue
            wire = member.serialization.get("name", name)
            if member.serialization.get("xmlAttribute"):
                convert = text_converter(member, self._timestamp_format)
                attributes.append((local_name(wire), name, convert))
                continue
            flat = bool(member.serialization.get("flattened")) and member.type_name in (
                "list",
                "map",
            )
            fields[wire] = (name, flat, self._cached(member, flat))
        required = tuple(name for name in shape.required_members if only is None or name in only)

        def convert(element: ElementTree.Element) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if attributes and element.attrib:
                _read_attributes(element, attributes, out)
            flat_items: dict[str, tuple[Callable[[Any], Any], list]] | None = None
            for child in element:
                field = fields.get(local_name(child.tag))
                if field is None:
                    continue
                name, flat, member_convert = field
                if flat:
                    if flat_items is None:
                        flat_items = {}
                    flat_items.setdefault(name, (member_convert, []))[1].append(child)
                    continue
                try:
                    out[name] = member_convert(child)
                except BadInput as error:
                    raise error.at(name) from None
            if flat_items:
                for name, (member_convert, items) in flat_items.items():
                    try:
                        out[name] = member_convert(items)
                    except BadInput as error:
                        raise error.at(name) from None
            for name in required:
                if name not in out:
                    raise BadInput(MISSING, "missing required element", (name,))
            return out

        return convert

    def _list(self, shape: Shape, flattened: bool) -> Callable[[Any], list]:
        member_convert = self.converter(shape.member)

        def convert_items(items: list[ElementTree.Element]) -> list:
            out = []
            for index, item in enumerate(items):
                try:
                    out.append(member_convert(item))
                except BadInput as error:
                    raise error.at(f"[{index}]") from None
            return out

        if flattened:
            return convert_items
        # A wrapped list's items are its child elements, whatever their names.
        return lambda element: convert_items(list(element))

    def _map(self, shape: Shape, flattened: bool) -> Callable[[Any], dict]:
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        key_convert = self.converter(shape.key)
        value_convert = self.converter(shape.value)

        def convert_entries(entries: list[ElementTree.Element]) -> dict:
            out = {}
            for entry in entries:
                key_element = value_element = None
                for child in entry:
                    tag = local_name(child.tag)
                    if tag == key_name:
                        key_element = child
                    elif tag == value_name:
                        value_element = child
                if key_element is None:
                    raise type_error("a map entry with a key", entry.tag)
                key = key_convert(key_element)
                if value_element is not None:
                    try:
                        out[key] = value_convert(value_element)
                    except BadInput as error:
                        raise error.at(str(key)) from None
            return out

        if flattened:
            return convert_entries
        return lambda element: convert_entries(list(element))


def _read_attributes(
    element: ElementTree.Element,
    attributes: list[tuple[str, str, Callable[[str], Any]]],
    out: dict[str, Any],
) -> None:
    # Attribute names arrive namespace-qualified (xsi:type -> {uri}type): match locally.
    present = {local_name(key): value for key, value in element.attrib.items()}
    for local, name, convert in attributes:
        value = present.get(local)
        if value is not None:
            try:
                out[name] = convert(value)
            except BadInput as error:
                raise error.at(name) from None
