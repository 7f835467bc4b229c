"""Pagination tokens: opaque to clients, stable keyset positions for sandlot.

GetLogEvents tokens look like AWS's: ``f/<56 digits>/s`` (forward) and
``b/<56 digits>/s`` (backward), the digits being an event position (timestamp,
sequence number). A forward token means "events after this position", a backward
token "events before it". FilterLogEvents and the Describe* operations use
URL-safe base64 of a small JSON document instead, as their AWS tokens are free-form.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from sandlot.protocol import ServiceError

_TS_DIGITS = 20
_SEQ_DIGITS = 36
_EVENT_TOKEN = re.compile(rf"([fb])/(\d{{{_TS_DIGITS}}})(\d{{{_SEQ_DIGITS}}})/s")

Position = tuple[int, int]  # (timestamp ms, sequence number within the log group)


def invalid_token() -> ServiceError:
    return ServiceError("InvalidParameterException", "The specified nextToken is invalid.")


def event_id(position: Position) -> str:
    """A 56-digit event id, unique within a log group, as AWS's ids look."""
    timestamp, seq = position
    return f"{timestamp:0{_TS_DIGITS}d}{seq:0{_SEQ_DIGITS}d}"


def encode_event_token(direction: str, position: Position) -> str:
    """``f/…/s`` or ``b/…/s`` for ``position``; ``direction`` is ``"f"`` or ``"b"``."""
    return f"{direction}/{event_id(position)}/s"


def decode_event_token(token: str) -> tuple[str, Position]:
    """(direction, position) of a GetLogEvents token; InvalidParameterException if bad."""
    match = _EVENT_TOKEN.fullmatch(token)
    if match is None:
        raise invalid_token()
    direction, timestamp, seq = match.groups()
    return direction, (int(timestamp), int(seq))


def encode_opaque(state: dict[str, Any]) -> str:
    """A free-form token carrying ``state``."""
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_opaque(token: str, *keys: str) -> dict[str, Any]:
    """The state of an ``encode_opaque`` token, which must hold ``keys``."""
    try:
        padded = token + "=" * (-len(token) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise invalid_token() from exc
    if not isinstance(state, dict) or not all(key in state for key in keys):
        raise invalid_token()
    return state


def encode_position(position: Position) -> str:
    """A FilterLogEvents token: continue after ``position``."""
    return encode_opaque({"t": position[0], "s": position[1]})


def decode_position(token: str) -> Position:
    state = decode_opaque(token, "t", "s")
    timestamp, seq = state["t"], state["s"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (timestamp, seq)):
        raise invalid_token()
    return timestamp, seq
