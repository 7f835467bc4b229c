"""Message content rules and the digests SDKs verify (pure, no I/O).

The MD5 of message attributes follows the algorithm the SQS developer guide gives
("Calculating the MD5 message digest for message attributes"): attributes sorted by
name, each encoded as name, data type (both length-prefixed UTF-8), a transport byte
(1 string, 2 binary, 3 string list, 4 binary list) and the length-prefixed value(s).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services.sqs.errors import invalid_parameter

# The characters a body or string attribute may contain (XML 1.0's character set).
_ALLOWED = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_\-.]{1,256}")
_RESERVED_PREFIXES = ("aws.", "amazon.")
MAX_ATTRIBUTES = 10


def check_characters(text: str) -> None:
    """Refuse characters outside the allowed set, as AWS words it."""
    found = _ALLOWED.match(text)
    if found is not None and found.end() == len(text):
        return
    bad = text[found.end() if found else 0]
    raise ServiceError(
        "InvalidMessageContents",
        f"Invalid binary character '#x{ord(bad):X}' was found in the message body, the set of "
        "allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | "
        "#x10000 to #x10FFFF",
    )


def _binary(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return base64.b64decode(value)


def check_attributes(attributes: dict[str, dict], *, system: bool = False) -> int:
    """Validate MessageAttributes (or MessageSystemAttributes); their size in bytes."""
    if not attributes:
        return 0
    if len(attributes) > MAX_ATTRIBUTES and not system:
        raise invalid_parameter(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum "
            f"[{MAX_ATTRIBUTES}]."
        )
    size = 0
    for name, value in attributes.items():
        if system:
            if name != "AWSTraceHeader":
                raise invalid_parameter(f"Message system attribute name '{name}' is invalid.")
        elif (
            not _ATTRIBUTE_NAME.fullmatch(name)
            or name.lower().startswith(_RESERVED_PREFIXES)
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
        ):
            raise invalid_parameter(f"Message (user) attribute name '{name}' is invalid.")
        kind = (value or {}).get("DataType") or ""
        base = kind.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise invalid_parameter(
                f"The type of message (user) attribute '{name}' is invalid. You must use only "
                "the following supported type prefixes: Binary, Number, String."
            )
        if base == "Binary":
            data = value.get("BinaryValue")
            if data is None or not _binary(data):
                raise invalid_parameter(
                    f"Message (user) attribute '{name}' must contain a non-empty value of type "
                    "'Binary'."
                )
            size += len(_binary(data))
        else:
            text = value.get("StringValue")
            if text is None or text == "":
                raise invalid_parameter(
                    f"Message (user) attribute '{name}' must contain a non-empty value of type "
                    f"'{base}'."
                )
            if base == "Number":
                try:
                    float(text)
                except ValueError:
                    raise invalid_parameter(
                        f"Could not cast message attribute '{name}' value to number."
                    ) from None
            check_characters(text)
            size += len(text.encode())
        size += len(name.encode()) + len(kind.encode())
    return size


def attributes_md5(attributes: dict[str, dict]) -> str | None:
    """The MD5 SDKs compare against ``MD5OfMessageAttributes`` (None when there are none)."""
    if not attributes:
        return None
    digest = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        kind = value["DataType"]
        for text in (name, kind):
            encoded = text.encode()
            digest.update(struct.pack(">I", len(encoded)) + encoded)
        if value.get("BinaryValue") is not None:
            data = _binary(value["BinaryValue"])
            digest.update(b"\x02" + struct.pack(">I", len(data)) + data)
        else:
            data = value["StringValue"].encode()
            digest.update(b"\x01" + struct.pack(">I", len(data)) + data)
    return digest.hexdigest()


def body_md5(body: str) -> str:
    return hashlib.md5(body.encode()).hexdigest()


def content_dedup_id(body: str) -> str:
    """Content-based deduplication: the SHA-256 of the body (attributes excluded)."""
    return hashlib.sha256(body.encode()).hexdigest()


def stored(attributes: dict[str, dict] | None) -> dict[str, dict]:
    """Attributes as stored (JSON): binary values base64-encoded, list members dropped."""
    out = {}
    for name, value in (attributes or {}).items():
        entry = {"DataType": value["DataType"]}
        if value.get("BinaryValue") is not None:
            entry["BinaryValue"] = base64.b64encode(_binary(value["BinaryValue"])).decode()
        else:
            entry["StringValue"] = value["StringValue"]
        out[name] = entry
    return out


def wire(attributes: dict[str, dict]) -> dict[str, dict]:
    """Stored attributes as the serializer takes them (binary values as bytes)."""
    out = {}
    for name, value in attributes.items():
        if "BinaryValue" in value:
            out[name] = {
                "DataType": value["DataType"],
                "BinaryValue": base64.b64decode(value["BinaryValue"]),
            }
        else:
            out[name] = dict(value)
    return out
