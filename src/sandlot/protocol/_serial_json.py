"""Shape-driven conversion of provider values into JSON documents (json and rest-json).

``JsonCodec.converter(shape)`` compiles a shape into a function that maps a provider value
to a JSON-ready value, or ``None`` when the value can be used unchanged (strings,
numbers, booleans and lists or maps of them), so those cost nothing at run time.
Structures resolve their members on first use, which also makes recursive shapes
(DynamoDB's ``AttributeValue``) safe to compile.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

import orjson
from botocore.model import Shape

from sandlot.protocol._serial_values import (
    TIMESTAMP_TEXT,
    b64,
    epoch_seconds,
    json_float,
    timestamp_format,
)

Converter = Callable[[Any], Any]

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_ASCII_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON. orjson writes it 5-7x faster than ``json`` (CloudWatch's
    144,000-number answers, docs/performance.md); what orjson refuses — strings with lone
    surrogates (then ``\\uXXXX`` escapes), integers past 64 bits — goes through ``json``."""
    try:
        return orjson.dumps(document)
    except TypeError:  # orjson.JSONEncodeError
        pass
    text = _ENCODER.encode(document)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _ASCII_ENCODER.encode(document).encode("ascii")


def loads(text: str | bytes) -> Any:
    """JSON text as Python values: orjson (~3x ``json``'s speed), and ``json`` for what
    orjson refuses but ``json`` takes (lone surrogates, integers past 64 bits, NaN).
    Raises ValueError for text that is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def shape_key(shape: Shape) -> tuple[str, str, str]:
    """Cache key for a resolved shape: a member reference can change its serialization."""
    serialization = shape.serialization
    return (
        shape.name,
        shape.type_name,
        repr(sorted(serialization.items())) if serialization else "",
    )


class JsonStructure:
    """Converts a structure's dict, keeping only modelled, non-``None`` members."""

    __slots__ = ("_codec", "_shape", "_skip", "_members")

    def __init__(self, codec: JsonCodec, shape: Shape, skip: Collection[str] = ()) -> None:
        self._codec = codec
        self._shape = shape
        self._skip = frozenset(skip)
        self._members: dict[str, tuple[str, Converter | None]] | None = None

    def _plan(self) -> dict[str, tuple[str, Converter | None]]:
        plan = {}
        for name, member in self._shape.members.items():
            if name not in self._skip:
                plan[name] = (member.serialization.get("name", name), self._codec.converter(member))
        self._members = plan
        return plan

    def __call__(self, value: dict[str, Any]) -> dict[str, Any]:
        members = self._members if self._members is not None else self._plan()
        document = {}
        for name, item in value.items():
            if item is None:
                continue
            entry = members.get(name)
            if entry is None:
                continue
            key, convert = entry
            document[key] = item if convert is None else convert(item)
        return document


class JsonCodec:
    """Compiles shapes into converters; one per service model and protocol."""

    def __init__(self, default_timestamp: str = "unixTimestamp") -> None:
        self._default_timestamp = default_timestamp
        self._cache: dict[tuple[str, str, str], Converter | None] = {}

    def converter(self, shape: Shape) -> Converter | None:
        """The converter for ``shape``, or ``None`` if its values need no conversion."""
        key = shape_key(shape)
        try:
            return self._cache[key]
        except KeyError:
            convert = self._build(shape)
            self._cache[key] = convert
            return convert

    def structure(self, shape: Shape, skip: Collection[str] = ()) -> JsonStructure:
        """A converter for ``shape`` without the members named in ``skip`` (uncached)."""
        return JsonStructure(self, shape, skip)

    def _build(self, shape: Shape) -> Converter | None:
        kind = shape.type_name
        if kind == "structure":
            return None if shape.is_document_type else JsonStructure(self, shape)
        if kind == "list":
            return _list(self.converter(shape.member))
        if kind == "map":
            return _map(self.converter(shape.value))
        if kind == "blob":
            return b64
        if kind == "timestamp":
            form = timestamp_format(shape, self._default_timestamp)
            return epoch_seconds if form == "unixTimestamp" else TIMESTAMP_TEXT[form]
        if kind in ("float", "double"):
            return json_float
        return None  # string, boolean, integer, long: JSON-ready as they are


def _list(convert: Converter | None) -> Converter | None:
    if convert is None:
        return None
    # Lists are sparse on the wire: a None item stays a JSON null.
    each = lambda items: [None if item is None else convert(item) for item in items]  # noqa: E731
    if convert is epoch_seconds or convert is json_float:
        # Long lists of numbers (CloudWatch's datapoints): when every item is a finite
        # int or float, checked at C speed, the list is already its JSON form.
        return lambda items: items if _finite_numbers(items) else each(items)
    return each


_NUMBER_TYPES = frozenset({int, float})


def _finite_numbers(items: list) -> bool:
    """Every item an int or float and finite, in one C-speed pass: ``sum`` refuses
    anything else but numbers (TypeError; a Decimal gives a Decimal), and its total is
    finite only when every item is (NaN and infinities propagate; an overflow to
    infinity just takes the slow path)."""
    try:
        total = sum(items)
    except TypeError:
        return False
    return type(total) in _NUMBER_TYPES and total - total == 0


def _map(convert: Converter | None) -> Converter:
    if convert is None:
        return lambda entries: {k: v for k, v in entries.items() if v is not None}
    return lambda entries: {k: convert(v) for k, v in entries.items() if v is not None}
