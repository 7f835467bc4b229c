"""AWS's event-stream encoding (``application/vnd.amazon.eventstream``): the framing of
responses that stream events (Kinesis ``SubscribeToShard``, Lambda
``InvokeWithResponseStream``, S3 ``SelectObjectContent``).

A message is ``total length (4) | headers length (4) | prelude CRC32 (4) | headers |
payload | message CRC32 (4)``, integers big-endian, each CRC32 over every byte before
it. A header is ``name length (1) | name | type (1) | value``; sandlot writes string
values only (type 7: ``length (2) | UTF-8``), which is what the event and exception
headers are.

    frame = event_message("SubscribeToShardEvent", b'{"Records": []}')
    frame = exception_message("ResourceInUseException", b'{"message": "..."}')
"""

from __future__ import annotations

import struct
import zlib

_STRING = 7


def encode_headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message."""
    raw_headers = encode_headers(headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event_message(event_type: str, payload: bytes, content_type: str = "application/json") -> bytes:
    return encode_message(
        {":event-type": event_type, ":content-type": content_type, ":message-type": "event"},
        payload,
    )


def exception_message(code: str, payload: bytes) -> bytes:
    """A modelled error ending the stream (the SDK raises it as ``code``)."""
    return encode_message(
        {
            ":exception-type": code,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        payload,
    )


def decode_messages(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The (headers, payload) of each whole message in ``data`` (tests; string headers)."""
    out, offset = [], 0
    while offset + 12 <= len(data):
        total, headers_length = struct.unpack_from(">II", data, offset)
        raw = data[offset + 12 : offset + 12 + headers_length]
        headers, i = {}, 0
        while i < len(raw):
            size = raw[i]
            name = raw[i + 1 : i + 1 + size].decode()
            i += 1 + size + 1  # name, then the type byte (7)
            (length,) = struct.unpack_from(">H", raw, i)
            headers[name] = raw[i + 2 : i + 2 + length].decode()
            i += 2 + length
        payload = data[offset + 12 + headers_length : offset + total - 4]
        out.append((headers, payload))
        offset += total
    return out
