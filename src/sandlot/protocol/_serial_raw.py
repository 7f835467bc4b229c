"""Output members handed over already in their JSON wire form (json protocol).

A provider whose stored data is already the wire's JSON (DynamoDB keeps each item as
the JSON of its attribute values, binary as base64, exactly what the json protocol
writes) returns a top-level output member as ``RawJson(text)``; the serializer writes
that text into the body as it is instead of parsing the data into dicts only to
convert and encode them again (for a Query of 100 items, most of the answer's cost).
The provider vouches that the text is valid JSON of the member's shape.

    {"Items": RawJson("[" + ",".join(stored_texts) + "]"), "Count": 2}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class RawJson(str):
    """JSON text that is a top-level output member's value as the wire carries it."""

    __slots__ = ()


def has_raw(result: dict[str, Any]) -> bool:
    return any(type(value) is RawJson for value in result.values())


def body_with_raw(
    result: dict[str, Any],
    wire_names: dict[str, str],
    convert: Callable[[dict[str, Any]], Any] | None,
    dumps: Callable[[Any], bytes],
) -> bytes:
    """The JSON body of ``result``: its ``RawJson`` members (those the output shape
    defines: ``wire_names`` maps their names to the body's) spliced in as they are, the
    others converted and encoded."""
    raw = [
        f"{json.dumps(wire_names[name])}:{value}"
        for name, value in result.items()
        if type(value) is RawJson and name in wire_names
    ]
    rest = {name: value for name, value in result.items() if type(value) is not RawJson}
    body = dumps(convert(rest)) if convert is not None else b"{}"
    spliced = ",".join(raw).encode()
    if not spliced:
        return body
    return b"{" + spliced + (b"}" if body == b"{}" else b"," + body[1:])
