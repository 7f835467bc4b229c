"""Scalar formatting shared by the response serializers.

Timestamps, blobs, floats, XML text and HTTP header values: the small, hot functions
every protocol needs. Nothing here knows about shapes or operations.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- timestamps --------------------------------------------------------------------------
# Providers hand over aware datetimes (naive ones are taken as UTC) or epoch seconds; a
# string is taken as already formatted and passed through.


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)
    return _EPOCH + dt.timedelta(seconds=value)


def iso8601(value: Any) -> str:
    """``2024-05-01T12:00:00Z``; milli- or microseconds only when the value has them."""
    if isinstance(value, str):
        return value
    d = _utc(value)
    text = d.isoformat(timespec="seconds")[:19]  # C-fast; years are always four digits
    micro = d.microsecond
    if not micro:
        return text + "Z"
    if micro % 1000 == 0:
        return f"{text}.{micro // 1000:03d}Z"
    return f"{text}.{micro:06d}Z"


def rfc822(value: Any) -> str:
    """HTTP-date (``Wed, 01 May 2024 12:00:00 GMT``), the default for timestamps in headers."""
    if isinstance(value, str):
        return value
    d = _utc(value)
    return (
        f"{_DAYS[d.weekday()]}, {d.day:02d} {_MONTHS[d.month - 1]} {d.year:04d} "
        f"{d.hour:02d}:{d.minute:02d}:{d.second:02d} GMT"
    )


def epoch_seconds(value: Any) -> Any:
    """Epoch seconds: an int when whole, else a float (JSON's default timestamp form)."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return value
    delta = _utc(value) - _EPOCH
    whole = delta.days * 86400 + delta.seconds
    return whole + delta.microseconds / 1e6 if delta.microseconds else whole


def _epoch_text(value: Any) -> str:
    return str(epoch_seconds(value))


TIMESTAMP_TEXT: dict[str, Callable[[Any], str]] = {
    "iso8601": iso8601,
    "rfc822": rfc822,
    "unixTimestamp": _epoch_text,
}


def timestamp_format(shape: Any, default: str) -> str:
    """The shape's ``timestampFormat`` (the member reference's wins), else ``default``."""
    return shape.serialization.get("timestampFormat") or default


# --- blobs and numbers -------------------------------------------------------------------


def b64(value: Any) -> str:
    """Base64 text of a blob; a ``str`` blob is taken as its UTF-8 bytes."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).decode("ascii")


def raw_bytes(value: Any) -> bytes:
    """The bytes of a payload blob or string."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def float_text(value: Any) -> str:
    """Shortest round-tripping text; non-finite values as Smithy spells them."""
    value = float(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def json_float(value: Any) -> Any:
    """A JSON number, or ``"NaN"``/``"Infinity"``/``"-Infinity"`` strings (JSON has none)."""
    if value != value or value in (float("inf"), float("-inf")):
        return float_text(value)
    return value


def bool_text(value: Any) -> str:
    return "true" if value else "false"


# --- XML text ----------------------------------------------------------------------------
# XML 1.0 cannot carry most C0 controls, lone surrogates, U+FFFE or U+FFFF, not even as
# character references. They are replaced by U+FFFD so a document always parses; the
# rest of the string is kept. A carriage return is written as ``&#13;`` because parsers
# normalise a literal one to a line feed.

_INVALID_XML = [
    *range(0x00, 0x09),
    0x0B,
    0x0C,
    *range(0x0E, 0x20),
    *range(0xD800, 0xE000),
    0xFFFE,
    0xFFFF,
]
TEXT_TABLE = {
    **dict.fromkeys(_INVALID_XML, "\ufffd"),
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    ord('"'): "&quot;",  # AWS writes ETags as &quot;...&quot;
    ord("\r"): "&#13;",
}
# Attribute values are also normalised (tabs and newlines become spaces) unless escaped.
_ATTRIBUTE_TABLE = {**TEXT_TABLE, ord("'"): "&apos;", ord("\t"): "&#9;", ord("\n"): "&#10;"}
TEXT_SPECIAL = re.compile('[&<>"\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')
_ATTRIBUTE_SPECIAL = re.compile("[&<>\"'\t\n\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """``value`` escaped for XML character data (see the note above on invalid characters)."""
    if TEXT_SPECIAL.search(value) is None:
        return value
    return value.translate(TEXT_TABLE)


def xml_attribute(value: str) -> str:
    """``value`` escaped for a double-quoted XML attribute."""
    if _ATTRIBUTE_SPECIAL.search(value) is None:
        return value
    return value.translate(_ATTRIBUTE_TABLE)


# --- HTTP header values ------------------------------------------------------------------
# A header value can only carry visible ASCII, spaces and tabs, and loses surrounding
# blanks. Anything else (non-ASCII text, CR/LF that would split the response) is sent as
# one RFC 2047 encoded-word, which is what S3 does for non-ASCII user metadata.

_HEADER_SAFE = re.compile(r"(?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?\Z")


def header_text(value: str) -> str:
    """``value`` made safe for an HTTP header."""
    if _HEADER_SAFE.match(value):
        return value
    return f"=?UTF-8?B?{b64(value.encode('utf-8', 'replace'))}?="


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


def header_name_ok(name: str) -> bool:
    """Whether ``name`` is a valid header field name (an RFC 9110 token)."""
    return _HEADER_NAME.match(name) is not None
