"""Compiled converters from decoded JSON documents to typed params (json and rest-json).

A converter is compiled once per shape and cached, so a request only pays for one
walk over its own document: no model lookups happen per request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

from botocore.model import Shape

from sandlot.protocol._parse_values import (
    MALFORMED,
    MISSING,
    SPECIAL_FLOATS,
    BadInput,
    check_int,
    decode_base64,
    int_range,
    parse_timestamp,
    type_error,
)

Converter = Callable[[Any], Any]


def load_json(body: bytes) -> Any:
    """The decoded JSON document in ``body``; an empty body is an empty object."""
    if not body or body.isspace():
        return {}
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError, bad UTF-8 and over-long integers.
        raise BadInput(MALFORMED, "the request body is not valid JSON") from None


class JsonCompiler:
    """Builds (and caches) converters for one service model's shapes."""

    def __init__(self, default_timestamp_format: str = "unixtimestamp") -> None:
        self._timestamp_format = default_timestamp_format
        self._cache: dict[tuple[str, ...], Converter] = {}

    def structure(self, shape: Shape, only: Collection[str] | None = None) -> Converter:
        """A converter for structure ``shape``, optionally restricted to members ``only``.

        Restricted converters (the body part of a REST input) are not cached: each
        operation compiles its own once.
        """
        if only is None:
            return self.converter(shape)
        return self._structure(shape, only)

    def converter(self, shape: Shape) -> Converter:
        """The (cached) converter for any shape."""
        key = self._key(shape)
        found = self._cache.get(key)
        if found is not None:
            return found
        if shape.type_name not in ("structure", "list", "map"):
            built = self._scalar(shape)
            self._cache[key] = built
            return built
        # Recursive shapes (e.g. DynamoDB's AttributeValue) reach themselves while
        # compiling: hand out a forwarder until the real converter exists.
        cell: list[Converter] = []
        self._cache[key] = lambda value: cell[0](value)
        if shape.type_name == "structure":
            built = self._structure(shape, None)
        elif shape.type_name == "list":
            built = self._list(shape)
        else:
            built = self._map(shape)
        cell.append(built)
        self._cache[key] = built
        return built

    def _key(self, shape: Shape) -> tuple[str, ...]:
        if shape.type_name == "timestamp":
            fmt = shape.serialization.get("timestampFormat", self._timestamp_format)
            return ("timestamp", fmt)
        if shape.type_name in ("structure", "list", "map"):
            return (shape.type_name, shape.name)
        return (shape.type_name,)

    def _structure(self, shape: Shape, only: Collection[str] | None) -> Converter:
        if shape.is_document_type:
            return _document
        members = shape.members
        fields: dict[str, tuple[str, Converter]] = {}
        for name, member in members.items():
            if only is None or name in only:
                wire = member.serialization.get("name", name)
                fields[wire] = (name, self.converter(member))
        required = tuple(name for name in shape.required_members if only is None or name in only)

        def convert(value: Any) -> dict[str, Any]:
            if type(value) is not dict:
                raise type_error("an object", value)
            out: dict[str, Any] = {}
            for key, item in value.items():
                field = fields.get(key)
                # Unknown keys are ignored and null means absent, as AWS does.
                if field is None or item is None:
                    continue
                name, member_convert = field
                try:
                    out[name] = member_convert(item)
                except BadInput as error:
                    raise error.at(name) from None
            for name in required:
                if name not in out:
                    raise BadInput(MISSING, "Member must not be null", (name,))
            return out

        return convert

    def _list(self, shape: Shape) -> Converter:
        member_convert = self.converter(shape.member)

        def convert(value: Any) -> list[Any]:
            if type(value) is not list:
                raise type_error("an array", value)
            out = []
            for index, item in enumerate(value):
                try:
                    out.append(member_convert(item))
                except BadInput as error:
                    raise error.at(f"[{index}]") from None
            return out

        return convert

    def _map(self, shape: Shape) -> Converter:
        value_convert = self.converter(shape.value)

        def convert(value: Any) -> dict[str, Any]:
            if type(value) is not dict:
                raise type_error("an object", value)
            out = {}
            for key, item in value.items():
                if item is None:
                    continue
                try:
                    out[key] = value_convert(item)
                except BadInput as error:
                    raise error.at(key) from None
            return out

        return convert

    def _scalar(self, shape: Shape) -> Converter:
        kind = shape.type_name
        if kind == "string":
            return _string
        if kind in ("integer", "long", "short", "byte"):
            return _integer(*int_range(shape))
        if kind in ("float", "double"):
            return _float
        if kind == "boolean":
            return _boolean
        if kind == "blob":
            return _blob
        if kind == "timestamp":
            return _timestamp(shape.serialization.get("timestampFormat", self._timestamp_format))
        raise ValueError(f"no JSON converter for shape type {kind}")


def _document(value: Any) -> Any:
    return value


def _string(value: Any) -> str:
    if type(value) is str:
        return value
    raise type_error("a string", value)


def _integer(lo: int, hi: int) -> Converter:
    def convert(value: Any) -> int:
        if type(value) is int:
            return check_int(value, lo, hi)
        # 3.0 is an integer to JSON parsers such as Jackson's; 3.5 is not.
        if type(value) is float and value.is_integer():
            return check_int(int(value), lo, hi)
        raise type_error("an integer", value)

    return convert


def _float(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            raise type_error("a number", value) from None
    # botocore sends non-finite numbers as these strings.
    if type(value) is str and value in SPECIAL_FLOATS:
        return SPECIAL_FLOATS[value]
    raise type_error("a number", value)


def _boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise type_error("a boolean", value)


def _blob(value: Any) -> bytes:
    if type(value) is str:
        return decode_base64(value)
    raise type_error("base64-encoded data", value)


def _timestamp(fmt: str) -> Converter:
    def convert(value: Any) -> Any:
        return parse_timestamp(value, fmt)

    return convert
