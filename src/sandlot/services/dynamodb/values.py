"""DynamoDB's type system: attribute values as the wire carries them, their validation,
sizes, storage form, and the order-preserving encoding of key values.

An attribute value is a one-member dict as on the wire: ``{"S": str}``, ``{"N": str}``,
``{"B": bytes}``, ``{"SS"|"NS"|"BS": [...]}``, ``{"M": {name: value}}``,
``{"L": [value]}``, ``{"NULL": True}``, ``{"BOOL": bool}``. Numbers stay strings (AWS
returns them as given, canonicalised) and are compared as ``Decimal``.
"""

from __future__ import annotations

import base64
import decimal
import json
import re
from decimal import Decimal
from typing import Any

from sandlot.services.dynamodb.errors import invalid_parameters, validation

Item = dict[str, dict]
TYPES = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")
SETS = {"SS": "S", "NS": "N", "BS": "B"}
MAX_ITEM_BYTES = 400 * 1024

# 38 significant digits, magnitudes 1E-130 .. 9.99..E+125 (AWS's Number type).
_CONTEXT = decimal.Context(prec=38, Emin=-128, Emax=126, traps=[decimal.InvalidOperation])
_WIDE = decimal.Context(prec=100)  # normalizing without rounding (made once: on every write)
# A number already in DynamoDB's form that needs no checking: zero, or an integer of at
# most 38 digits without leading zeros (most numbers applications store).
_PLAIN_INTEGER = re.compile(r"0|-?[1-9][0-9]{0,37}")


def number(text: str) -> Decimal:
    """The value of a DynamoDB number, or AWS's ValidationException."""
    try:
        value = Decimal(text.strip()) if isinstance(text, str) else None
    except decimal.InvalidOperation:
        value = None
    if value is None or not value.is_finite() or text.strip() != text or not text:
        raise validation("A value provided cannot be converted into a number")
    if value == 0:
        return Decimal(0)
    digits = value.normalize(_WIDE).as_tuple()
    if len(digits.digits) > 38:
        raise validation("Attempting to store more than 38 significant digits in a Number")
    exponent = value.adjusted()
    if exponent > 125:
        raise validation(
            "Number overflow. Attempting to store a number with magnitude larger than "
            "supported range"
        )
    if exponent < -130:
        raise validation(
            "Number underflow. Attempting to store a number with magnitude smaller than "
            "supported range"
        )
    return value


def number_text(value: Decimal) -> str:
    """A number as DynamoDB returns it: no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    text = format(value.normalize(_WIDE), "f")
    return text


def canonical_number(text: str) -> str:
    if isinstance(text, str) and _PLAIN_INTEGER.fullmatch(text):
        return text
    return number_text(number(text))


def arithmetic(op: str, a: Decimal, b: Decimal) -> Decimal:
    """``a + b`` or ``a - b`` with DynamoDB's 38 digits (results beyond are refused)."""
    try:
        result = _CONTEXT.add(a, b) if op == "+" else _CONTEXT.subtract(a, b)
    except decimal.InvalidOperation:
        raise validation("Number overflow. Attempting to store a number with magnitude "
                         "larger than supported range") from None  # fmt: skip
    number(number_text(result))
    return result


# -- validation -----------------------------------------------------------------------


def validate_value(value: Any, *, top: bool = True) -> dict:
    """Check one attribute value as AWS does; returns it with numbers canonical."""
    if not isinstance(value, dict) or len(value) != 1:
        raise validation(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly "
            "one of the supported datatypes"
            if isinstance(value, dict) and value
            else "Supplied AttributeValue is empty, must contain exactly one of the "
            "supported datatypes"
        )
    (kind, inner), = value.items()  # fmt: skip
    if kind == "N":
        return {"N": canonical_number(inner)}
    if kind in ("S", "B", "BOOL"):
        return value
    if kind == "NULL":
        if inner is not True:
            raise validation("One or more parameter values were invalid: Null attribute value "
                             "types must have the value of true")  # fmt: skip
        return value
    if kind in SETS:
        if not inner:
            name = {"SS": "string", "NS": "number", "BS": "binary"}[kind]
            raise invalid_parameters(f"An {name} set  may not be empty")
        members = [canonical_number(n) for n in inner] if kind == "NS" else list(inner)
        keys = [Decimal(n) for n in members] if kind == "NS" else members
        if len(set(keys)) != len(keys):
            shown = ", ".join(str(m) for m in inner)
            raise invalid_parameters(f"Input collection [{shown}] contains duplicates.")
        return {kind: members}
    if kind == "L":
        return {"L": [validate_value(v, top=False) for v in inner]}
    if kind == "M":
        return {"M": {k: validate_value(v, top=False) for k, v in inner.items()}}
    raise validation(f"Supplied AttributeValue has an unknown datatype: {kind}")


def validate_item(item: Any) -> Item:
    return {name: validate_value(value) for name, value in (item or {}).items()}


# -- sizes (AWS's "Item sizes and formats") ---------------------------------------------


def value_size(value: dict) -> int:
    (kind, inner), = value.items()  # fmt: skip
    if kind == "S":
        return len(inner.encode())
    if kind == "B":
        return len(inner)
    if kind == "N":
        return _number_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())


def _number_size(text: str) -> int:
    digits = len(text.replace("-", "").replace(".", "").strip("0")) or 1
    return (digits + 1) // 2 + 1


def item_size(item: Item) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


# -- storage form: JSON with binary as base64 ------------------------------------------


def _to_json(value: dict) -> dict:
    (kind, inner), = value.items()  # fmt: skip
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "L":
        return {"L": [_to_json(v) for v in inner]}
    if kind == "M":
        return {"M": {k: _to_json(v) for k, v in inner.items()}}
    return value


def _from_json(value: dict) -> dict:
    (kind, inner), = value.items()  # fmt: skip
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "L":
        return {"L": [_from_json(v) for v in inner]}
    if kind == "M":
        return {"M": {k: _from_json(v) for k, v in inner.items()}}
    return value


_DUMPS = json.JSONEncoder(separators=(",", ":")).encode  # made once: on every write


def dump_item(item: Item) -> str:
    return _DUMPS({k: _to_json(v) for k, v in item.items()})


def load_items(texts: list[str]) -> list[Item]:
    joined = "[" + ",".join(texts) + "]"
    if '"B' not in joined:
        return json.loads(joined)
    return [load_item(t) for t in texts]


def load_item(text: str) -> Item:
    item = json.loads(text)
    if '"B' not in text:  # no binary anywhere: the JSON is the item as it is
        return item
    return {k: _from_json(v) for k, v in item.items()}


# -- order-preserving key encoding -------------------------------------------------------
#
# Key attributes are S, N or B, one type per attribute, so each only needs to sort
# among its own type: strings by their UTF-8 bytes and binary by its bytes (both as
# they are: SQLite compares BLOBs with memcmp), numbers by value. A number becomes a
# sign byte (negative 0x01 < zero 0x02 < positive 0x03), then for positives the
# adjusted exponent (+130, one byte: AWS's range is -130..125) and the significant
# digits, one byte each; a larger exponent is a larger number, and for equal
# exponents the digit strings compare like the numbers (trailing zeros dropped, so
# a prefix is smaller). Negatives store the complement of both (255 - exponent,
# 9 - digit) and end with 0xFF, so that a longer digit string (a larger magnitude,
# a smaller number) sorts first.


def encode_number(value: Decimal) -> bytes:
    if value == 0:
        return b"\x02"
    sign, digits, _ = value.normalize(_WIDE).as_tuple()
    exponent = value.adjusted() + 130
    digits = bytes(digits).rstrip(b"\x00") or b"\x00"
    if not sign:
        return b"\x03" + bytes([exponent]) + digits
    return b"\x01" + bytes([255 - exponent]) + bytes(9 - d for d in digits) + b"\xff"


# ASCII digits to digit values, and to their complements (9 - d) for negatives.
_DIGITS = bytes.maketrans(b"0123456789", bytes(range(10)))
_COMPLEMENTS = bytes.maketrans(b"0123456789", bytes(range(9, -1, -1)))


def _encode_integer(text: str) -> bytes:
    """``encode_number`` of a plain integer (``_PLAIN_INTEGER``), from its digits
    without a Decimal: the exponent is the digit count - 1, the digits lose trailing
    zeros (the same bytes, a few times faster: most keys are such numbers)."""
    if text == "0":
        return b"\x02"
    negative = text[0] == "-"
    digits = text[1:] if negative else text
    exponent = len(digits) - 1 + 130
    significant = digits.rstrip("0").encode()
    if not negative:
        return b"\x03" + bytes([exponent]) + significant.translate(_DIGITS)
    return b"\x01" + bytes([255 - exponent]) + significant.translate(_COMPLEMENTS) + b"\xff"


def encode_key_value(value: dict) -> bytes:
    (kind, inner), = value.items()  # fmt: skip
    if kind == "S":
        return inner.encode()
    if kind == "B":
        return bytes(inner)
    if _PLAIN_INTEGER.fullmatch(inner):
        return _encode_integer(inner)
    return encode_number(Decimal(inner))


def compare_key(a: dict, b: dict) -> int:
    """DynamoDB's order of two key values of one type (the reference for the encoding)."""
    (kind, x), = a.items()  # fmt: skip
    y = b[kind]
    if kind == "N":
        x, y = Decimal(x), Decimal(y)
    elif kind == "S":
        x, y = x.encode(), y.encode()
    return (x > y) - (x < y)
