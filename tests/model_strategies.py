"""Hypothesis strategies that generate valid values for any botocore shape.

Used by the protocol conformance tests: inputs generated here are serialised by
botocore's own client code and parsed by sandlot (requests), or serialised by sandlot
and parsed by botocore (responses). Values respect the model's constraints (enums,
min/max, required members) and the limits of where a member travels on the wire
(headers carry printable ASCII without surrounding blanks; URI labels are non-empty).
"""

from __future__ import annotations

import datetime as dt

from botocore.model import Shape
from hypothesis import strategies as st

MAX_DEPTH = 4
MAX_ITEMS = 3

_TEXT = st.text(
    alphabet=st.characters(
        codec="utf-8",
        exclude_categories=("Cs", "Cc"),  # no surrogates or control characters
    ),
    max_size=12,
)
_HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=","),
    min_size=1,
    max_size=12,
)
_TIMESTAMPS = st.datetimes(
    min_value=dt.datetime(1971, 1, 1),
    max_value=dt.datetime(2100, 1, 1),
    timezones=st.just(dt.UTC),
).map(lambda d: d.replace(microsecond=0))


def value_for(shape: Shape, location: str | None = None, depth: int = 0) -> st.SearchStrategy:
    """A strategy for valid values of ``shape`` sent at ``location`` (header, uri, ...)."""
    location = location or shape.serialization.get("location")
    kind = shape.type_name
    if location == "statusCode":
        # A response's status: 2xx (from 300 on it reads as an error), and not 204/205,
        # which must not carry the body the other members may need.
        return st.integers(200, 203) | st.integers(206, 299)
    if kind == "structure":
        return _structure(shape, depth)
    if kind == "list":
        if depth >= MAX_DEPTH:
            return st.just([])
        member = value_for(shape.member, location if location == "querystring" else None, depth + 1)
        min_size = shape.metadata.get("min", 0) or 0
        return st.lists(member, min_size=min(min_size, MAX_ITEMS), max_size=MAX_ITEMS)
    if kind == "map":
        if depth >= MAX_DEPTH:
            return st.just({})
        keys = value_for(shape.key, "header" if location == "headers" else None, depth + 1)
        if location in ("headers", "querystring"):
            keys = keys.map(str.lower) if location == "headers" else keys
        values = value_for(shape.value, location, depth + 1)
        return st.dictionaries(keys, values, max_size=MAX_ITEMS)
    if kind == "string":
        return _string(shape, location)
    if kind in ("integer", "long"):
        lo = int(shape.metadata.get("min", -(2**31)))
        hi = int(shape.metadata.get("max", 2**31 - 1))
        return st.integers(min_value=lo, max_value=max(lo, hi))
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False, width=64)
    if kind == "boolean":
        return st.booleans()
    if kind == "blob":
        return st.binary(min_size=1 if location else 0, max_size=24)
    if kind == "timestamp":
        return _TIMESTAMPS
    raise NotImplementedError(f"no strategy for shape type {kind}")


def _string(shape: Shape, location: str | None) -> st.SearchStrategy:
    if shape.enum:
        return st.sampled_from(shape.enum)
    if shape.serialization.get("hostLabel"):
        # botocore also puts it in the host name: letters, digits and hyphens only.
        return st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True)
    if shape.serialization.get("jsonvalue"):
        return st.dictionaries(_HEADER_TEXT, st.integers(0, 100), max_size=2)
    min_size = int(shape.metadata.get("min", 0) or 0)
    if location in ("header", "headers"):
        base = _HEADER_TEXT
    elif location in ("uri", "querystring"):
        base = _TEXT.filter(bool)
    else:
        base = _TEXT
    if min_size:
        return base.filter(lambda s: len(s) >= min_size) | st.just("x" * min_size)
    return base


def _structure(shape: Shape, depth: int) -> st.SearchStrategy:
    members = shape.members
    if shape.is_document_type:
        return st.dictionaries(_HEADER_TEXT, st.integers(0, 9) | _HEADER_TEXT, max_size=2)
    if getattr(shape, "is_tagged_union", False):
        if not members:
            return st.just({})
        return st.one_of(
            [
                value_for(member, None, depth + 1).map(lambda v, n=name: {n: v})
                for name, member in members.items()
            ]
        )
    required = {
        name: value_for(members[name], None, depth + 1)
        for name in shape.required_members
        if name in members
    }
    optional = {}
    if depth < MAX_DEPTH:
        optional = {
            name: value_for(member, None, depth + 1)
            for name, member in members.items()
            if name not in required
        }
    return st.fixed_dictionaries(required, optional=optional)
