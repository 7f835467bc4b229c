"""The query protocol: flat ``A.B.member.1=v`` form fields to typed params.

The fields are first folded into a tree on their dots (``{"A": {"B": {"member":
{"1": "v"}}}}``), then compiled converters walk that tree. Folding needs one pass over
the fields, and list indices are read from what was sent rather than probed one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from botocore.model import Shape

from sandlot.protocol._parse_values import (
    MISSING,
    BadInput,
    text_converter,
    type_error,
)

Node = str | dict[str, Any]
Converter = Callable[[Node], Any]
_MAX_INDEX_DIGITS = 9


def fold(fields: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The tree of ``fields`` split on dots; a leaf under a branch's name is dropped."""
    root: dict[str, Any] = {}
    for key, value in fields:
        node = root
        *parents, last = key.split(".")
        for part in parents:
            child = node.get(part)
            if type(child) is not dict:
                child = node[part] = {}
            node = child
        if type(node.get(last)) is not dict:
            node[last] = value
    return root


def _indexed(node: dict[str, Any]) -> list[Any]:
    """The values of ``node``'s numeric keys in index order (gaps are allowed)."""
    items = [
        (int(key), value)
        for key, value in node.items()
        if key.isascii() and key.isdigit() and len(key) <= _MAX_INDEX_DIGITS
    ]
    items.sort(key=lambda pair: pair[0])
    return [value for _, value in items]


class QueryCompiler:
    """Builds (and caches) tree converters for one service model's shapes."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, ...], Converter] = {}

    def converter(self, shape: Shape) -> Converter:
        kind = shape.type_name
        if kind in ("structure", "list", "map"):
            flattened = "flat" if shape.serialization.get("flattened") else ""
            key: tuple[str, ...] = (kind, shape.name, flattened)
        else:
            key = (kind, shape.serialization.get("timestampFormat", ""))
        found = self._cache.get(key)
        if found is not None:
            return found
        cell: list[Converter] = []
        self._cache[key] = lambda node: cell[0](node)
        built = self._build(shape)
        cell.append(built)
        self._cache[key] = built
        return built

    def _build(self, shape: Shape) -> Converter:
        kind = shape.type_name
        if kind == "structure":
            return self._structure(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        text_convert = text_converter(shape, "iso8601")

        def convert(node: Node) -> Any:
            if type(node) is not str:
                raise type_error("a single value", node)
            return text_convert(node)

        return convert

    def _structure(self, shape: Shape) -> Converter:
        fields: dict[str, tuple[str, Converter]] = {}
        for name, member in shape.members.items():
            field = (name, self.converter(member))
            fields.setdefault(member.serialization.get("name", name), field)
            # botocore (and AWS) name a flattened list's items after the list member.
            if member.type_name == "list" and member.serialization.get("flattened"):
                item_name = member.member.serialization.get("name")
                if item_name:
                    fields[item_name] = field
        required = tuple(shape.required_members)

        def convert(node: Node) -> dict[str, Any]:
            if type(node) is not dict:
                # "A=" is how an empty structure can be spelled too.
                if node == "":
                    node = {}
                else:
                    raise type_error("a structure", node)
            out: dict[str, Any] = {}
            for key, child in node.items():
                field = fields.get(key)
                if field is None:
                    continue
                name, member_convert = field
                try:
                    out[name] = member_convert(child)
                except BadInput as error:
                    raise error.at(name) from None
            for name in required:
                if name not in out:
                    raise BadInput(MISSING, "missing required parameter", (name,))
            return out

        return convert

    def _list(self, shape: Shape) -> Converter:
        member_convert = self.converter(shape.member)
        flattened = shape.serialization.get("flattened")
        item_name = "" if flattened else shape.member.serialization.get("name", "member")

        def convert(node: Node) -> list[Any]:
            if type(node) is not dict:
                # botocore sends an empty list as "Name=" (no items).
                if node == "":
                    return []
                raise type_error("a list", node)
            # Accept both "Name.member.N" and the flattened "Name.N" spelling.
            items = node.get(item_name) if item_name else None
            values = _indexed(items if type(items) is dict else node)
            out = []
            for index, value in enumerate(values, 1):
                try:
                    out.append(member_convert(value))
                except BadInput as error:
                    raise error.at(f"[{index}]") from None
            return out

        return convert

    def _map(self, shape: Shape) -> Converter:
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        key_convert = self.converter(shape.key)
        value_convert = self.converter(shape.value)

        def convert(node: Node) -> dict[str, Any]:
            if type(node) is not dict:
                if node == "":
                    return {}
                raise type_error("a map", node)
            entries = node.get("entry")
            out = {}
            for entry in _indexed(entries if type(entries) is dict else node):
                if type(entry) is not dict or key_name not in entry:
                    raise type_error("a map entry with a key", entry)
                key = key_convert(entry[key_name])
                if value_name in entry:
                    try:
                        out[key] = value_convert(entry[value_name])
                    except BadInput as error:
                        raise error.at(str(key)) from None
            return out

        return convert
