"""Scalar decoding shared by every request protocol, and the internal error it raises.

Wire formats carry scalars either as JSON values or as text (XML text, query string,
form field, header, URI label). The converters here turn text into the Python type the
model asks for, strictly: what Python's ``int()``/``float()`` would also accept
(underscores, non-ASCII digits, ``inf``) is rejected, as AWS rejects it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from botocore.model import Shape

UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)

# Kinds of BadInput; parser.py maps (protocol, kind) to the AWS error code.
TYPE = "type"  # a value of the wrong type or format
MISSING = "missing"  # a required member is absent
MALFORMED = "malformed"  # the document itself cannot be read (bad JSON/XML/form)
MISSING_BODY = "missing-body"  # a required structure payload arrived without a body

_INT_RE = re.compile(r"[+-]?[0-9]{1,20}")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,5})?")
# How botocore (and AWS) spell the non-finite numbers.
SPECIAL_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
# The two's-complement range of each integer wire type (byte and short are rare).
_INT_RANGES = {
    "byte": (-(2**7), 2**7 - 1),
    "short": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
}

TextConverter = Callable[[str], Any]


class BadInput(Exception):
    """A request that cannot be turned into valid params; never leaves the parser."""

    def __init__(self, kind: str, detail: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self._reversed_path = list(reversed(path))

    def at(self, name: str) -> BadInput:
        """Record that the error happened inside member (or index) ``name``."""
        self._reversed_path.append(name)
        return self

    @property
    def path(self) -> str:
        """Where the error is, e.g. ``Attributes.Tags[2].Key``."""
        out = ""
        for part in reversed(self._reversed_path):
            out += part if part.startswith("[") or not out else "." + part
        return out


def type_error(expected: str, value: Any) -> BadInput:
    """The error for ``value`` found where a value of type ``expected`` belongs."""
    shown = repr(value) if isinstance(value, str | int | float | bool) else type(value).__name__
    if len(shown) > 64:
        shown = shown[:61] + "..."
    return BadInput(TYPE, f"expected {expected}, got {shown}")


def int_range(shape: Shape) -> tuple[int, int]:
    """The two's-complement range of an integer shape (integer, long, ...)."""
    return _INT_RANGES.get(shape.type_name, _INT_RANGES["long"])


def check_int(value: int, lo: int, hi: int) -> int:
    """``value`` if it fits the wire type's range (AWS rejects overflow, not clamps)."""
    if lo <= value <= hi:
        return value
    raise BadInput(TYPE, f"number {value} is out of range")


# --------------------------------------------------------------------------- forms


def query_pairs(query: str) -> list[tuple[str, str]]:
    """The ``key=value`` pairs of a query string or form body, decoded, blanks kept.

    The same result as ``urllib.parse.parse_qsl(query, keep_blank_values=True)``,
    at a fraction of the cost for the common case of parts needing no decoding.
    """
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        pairs.append((key, value))
    return pairs


# ---------------------------------------------------------------------------- text


def text_int(lo: int, hi: int) -> TextConverter:
    def convert(text: str) -> int:
        text = text.strip()
        if _INT_RE.fullmatch(text) is None:
            raise type_error("an integer", text)
        return check_int(int(text), lo, hi)

    return convert


def text_float(text: str) -> float:
    text = text.strip()
    special = SPECIAL_FLOATS.get(text)
    if special is not None:
        return special
    if _FLOAT_RE.fullmatch(text) is None:
        raise type_error("a number", text)
    return float(text)


def text_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise type_error("true or false", text)


def text_str(text: str) -> str:
    return text


def text_timestamp(default_format: str) -> TextConverter:
    def convert(text: str) -> dt.datetime:
        return parse_timestamp(text.strip(), default_format)

    return convert


def text_converter(shape: Shape, default_timestamp_format: str) -> TextConverter:
    """A converter from text to the Python value of scalar ``shape``."""
    kind = shape.type_name
    if kind == "string":
        return text_str
    if kind in _INT_RANGES:
        return text_int(*int_range(shape))
    if kind in ("float", "double"):
        return text_float
    if kind == "boolean":
        return text_bool
    if kind == "blob":
        return decode_base64
    if kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", default_timestamp_format)
        return text_timestamp(fmt)
    raise ValueError(f"{shape.name} ({kind}) is not a scalar shape")


def decode_base64(text: str) -> bytes:
    """Standard base64 (with padding), as every AWS protocol sends blobs."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise type_error("base64-encoded data", text) from None


# ---------------------------------------------------------------------- timestamps


def parse_timestamp(value: str | int | float, preferred: str) -> dt.datetime:
    """An aware UTC datetime from an epoch number or an ISO 8601/RFC 822/epoch string.

    ``preferred`` (the model's timestampFormat) is tried first; the others follow
    because clients are not consistent about it (AWS accepts them too).
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise type_error("a timestamp", value)
    if not isinstance(value, str):
        return _from_epoch(value)
    parsers = _TIMESTAMP_PARSERS.get(preferred, _DEFAULT_ORDER)
    for parse in parsers:
        parsed = parse(value)
        if parsed is not None:
            return parsed
    raise type_error("a timestamp", value)


def _from_epoch(seconds: float) -> dt.datetime:
    try:
        return _EPOCH + dt.timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise type_error("a timestamp", seconds) from None


def _iso8601(text: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _rfc822(text: str) -> dt.datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _epoch_text(text: str) -> dt.datetime | None:
    if _FLOAT_RE.fullmatch(text) is None:
        return None
    try:
        return _from_epoch(float(text))
    except BadInput:
        return None


_DEFAULT_ORDER = (_iso8601, _rfc822, _epoch_text)
_TIMESTAMP_PARSERS = {
    "iso8601": _DEFAULT_ORDER,
    "rfc822": (_rfc822, _iso8601, _epoch_text),
    "unixtimestamp": (_epoch_text, _iso8601, _rfc822),
}
