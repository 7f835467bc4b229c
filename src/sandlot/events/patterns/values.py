"""Leaf matching: what one pattern array (``"field": [ ... ]``) says about one event field.

A field of an event has zero or more *leaf values*: a string, number, true, false or null;
an array contributes each of its (nested) scalar elements, an object none (its members are
fields of their own). A leaf matches when any of its matchers accepts any of those values,
or when the field has no value and the leaf holds ``{"exists": false}`` — as AWS's
event-ruler (the engine behind EventBridge, SNS filtering and Lambda filtering) decides it.

The numeric and IP rules follow event-ruler: numbers compare in [-5e9, 5e9] with six
decimals; a string that reads as an IPv4/IPv6 address compares as the address; a CIDR
covers the given address up to the address with all host bits set (the address itself is
not masked down, as in event-ruler).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

# The event-ruler numeric window and precision ("ComparableNumber").
NUMBER_LIMIT = Decimal("5E9")
NUMBER_DECIMALS = 6

_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6 = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")


class Invalid(Exception):
    """A pattern the service refuses; ``reason`` is event-ruler's text (dialects wrap it)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def is_number(value: object) -> bool:
    """A JSON number (Python's bool is an int, but JSON's true is not a number)."""
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, float)


def comparable(value: int | float) -> Decimal | None:
    """The number as event-ruler compares it, or None outside its window/precision."""
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:  # inf/nan cannot come from JSON, but stay total
        return None
    if not number.is_finite() or abs(number) > NUMBER_LIMIT:
        return None
    if number != number.quantize(Decimal(1).scaleb(-NUMBER_DECIMALS), rounding="ROUND_DOWN"):
        return None
    return number


def checked_number(value: int | float) -> Decimal:
    """A pattern operand that must be comparable, with event-ruler's refusal otherwise."""
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if number != number.quantize(Decimal(1).scaleb(-NUMBER_DECIMALS), rounding="ROUND_DOWN"):
        raise Invalid("Only values upto 6 decimals are supported")
    if abs(number) > NUMBER_LIMIT:
        raise Invalid("Value must be between -5.0E9 and 5.0E9, inclusive")
    return number


# --- IP addresses ---------------------------------------------------------------------------


def ip_value(text: str) -> tuple[int, int] | None:
    """(address bytes, integer) when ``text`` reads as an IP address as event-ruler reads it."""
    if not (_IPV4.fullmatch(text) or _IPV6.fullmatch(text)):
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return (4 if address.version == 4 else 16), int(address)


def cidr_range(text: str) -> tuple[int, int, int]:
    """(address size, low, high) for a ``cidr`` operand; refusals in event-ruler's words."""
    parts = text.split("/")
    if len(parts) != 2 or not parts[0] and not parts[1]:
        raise Invalid("Malformed CIDR, one '/' required")
    address, bits = parts
    try:
        mask = int(bits)
    except ValueError:
        raise Invalid("Malformed CIDR, mask bits must be an integer") from None
    if mask < 0:
        raise Invalid("Malformed CIDR, mask bits must not be negative")
    if not (_IPV4.fullmatch(address) or _IPV6.fullmatch(address)):
        raise Invalid(f"Nonstandard IP address: {address}")
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise Invalid(f"Invalid IP address: {address}") from None
    size, total = (4, 32) if parsed.version == 4 else (16, 128)
    if mask >= total:
        raise Invalid(f"IPv{parsed.version} mask bits must be < {total}")
    low = int(parsed)
    return size, low, low | ((1 << (total - mask)) - 1)


# --- wildcards ------------------------------------------------------------------------------


def wildcard_regex(text: str) -> re.Pattern[str]:
    """The ``wildcard`` operand as a regex; ``\\*`` and ``\\\\`` escape, ``**`` is refused.

    Positions in the messages count UTF-8 bytes of the operand behind its opening quote,
    as event-ruler reports them.
    """
    out: list[str] = []
    position = 1  # the quote event-ruler puts before the value
    i = 0
    while i < len(text):
        char = text[i]
        if char == "*":
            if i + 1 < len(text) and text[i + 1] == "*":
                raise Invalid(f"Consecutive wildcard characters at pos {position}")
            out.append(".*")
        elif char == "\\":
            if i + 1 < len(text) and text[i + 1] in "*\\":
                out.append(re.escape(text[i + 1]))
                i += 1
                position += 1
            else:
                raise Invalid(f"Invalid escape character at pos {position}")
        else:
            out.append(re.escape(char))
        position += len(char.encode("utf-8"))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def wildcard_tokens(text: str) -> list[int]:
    """The operand as event-ruler's byte machine sees it: UTF-8 bytes, 256 for ``*``, quoted."""
    tokens = [ord('"')]
    raw = text.encode("utf-8")
    i = 0
    while i < len(raw):
        if raw[i] == ord("*"):
            tokens.append(256)
        elif raw[i] == ord("\\"):
            i += 1
            tokens.append(raw[i])
        else:
            tokens.append(raw[i])
        i += 1
    tokens.append(ord('"'))
    return tokens


# --- the leaf ------------------------------------------------------------------------------

Test = Callable[[object], bool]


class Leaf:
    """The compiled matchers of one pattern array; ``matches(values)`` is the hot path."""

    __slots__ = ("strings", "numbers", "literals", "addresses", "tests", "absent", "present")

    def __init__(self) -> None:
        self.strings: set[str] = set()  # exact strings
        self.numbers: set[int | float] = set()  # exact numbers (compared as numbers)
        self.literals: set[object] = set()  # True/False/None as JSON literals, by identity
        self.addresses: set[tuple[int, int]] = set()  # exact strings that are IP addresses
        self.tests: list[Test] = []  # prefix, suffix, numeric, anything-but, ...
        self.absent = False  # {"exists": false}
        self.present = False  # {"exists": true}

    def matches(self, values: list[object]) -> bool:
        if not values:
            return self.absent
        if self.present:
            return True
        for value in values:
            if value is True or value is False or value is None:
                if value in self.literals:
                    return True
            elif isinstance(value, str):
                if value in self.strings:
                    return True
                if self.addresses and ip_value(value) in self.addresses:
                    return True
            elif value in self.numbers:
                return True
            for test in self.tests:
                if test(value):
                    return True
        return False

    def add_exact(self, value: object) -> None:
        if value is True or value is False or value is None:
            self.literals.add(value)
        elif isinstance(value, str):
            self.strings.add(value)
            if (address := ip_value(value)) is not None:
                self.addresses.add(address)
        else:
            assert is_number(value)
            number = value
            if comparable(number) is None:
                # event-ruler keeps only the literal for numbers it cannot compare (an
                # account id, say): match the same kind of number with the same value.
                self.tests.append(lambda v, n=number: type(v) is type(n) and v == n)
            else:
                self.numbers.add(number)


# Builders for the non-exact matchers. Each returns a test of one leaf value.


def prefix(text: str, ignore_case: bool = False) -> Test:
    if ignore_case:
        folded = text.lower()
        return lambda v: isinstance(v, str) and v.lower().startswith(folded)
    return lambda v: isinstance(v, str) and v.startswith(text)


def suffix(text: str, ignore_case: bool = False) -> Test:
    if ignore_case:
        folded = text.lower()
        return lambda v: isinstance(v, str) and v.lower().endswith(folded)
    return lambda v: isinstance(v, str) and v.endswith(text)


def equals_ignore_case(text: str) -> Test:
    folded = text.lower()
    return lambda v: isinstance(v, str) and v.lower() == folded


def wildcard(text: str) -> Test:
    regex = wildcard_regex(text)
    return lambda v: isinstance(v, str) and regex.fullmatch(v) is not None


def numeric(low: Decimal | None, low_open: bool, high: Decimal | None, high_open: bool) -> Test:
    """A range over JSON numbers only: the string ``"150"`` is not a number."""
    lo = float(low) if low is not None else None
    hi = float(high) if high is not None else None

    def test(v: object) -> bool:
        if not is_number(v) or comparable(v) is None:  # type: ignore[arg-type]
            return False
        if lo is not None and (v < lo or (low_open and v == lo)):  # type: ignore[operator]
            return False
        return not (hi is not None and (v > hi or (high_open and v == hi)))  # type: ignore[operator]

    return test


def cidr(size: int, low: int, high: int) -> Test:
    def test(v: object) -> bool:
        if not isinstance(v, str):
            return False
        address = ip_value(v)
        return address is not None and address[0] == size and low <= address[1] <= high

    return test


# anything-but: the value is a string (or number) that is *not* any of the given ones.
# Like event-ruler's byte machine, a value of another kind (a number against a string
# list, true, null) is "anything but" those strings; a numeric list only judges numbers.


def anything_but_strings(values: set[str]) -> Test:
    return lambda v: not (isinstance(v, str) and v in values)


def anything_but_numbers(values: set[Decimal]) -> Test:
    def test(v: object) -> bool:
        if not is_number(v):
            return False
        number = comparable(v)  # type: ignore[arg-type]
        return number is not None and number not in values

    return test


def anything_but_tests(tests: list[Test]) -> Test:
    """anything-but prefix/suffix/wildcard/equals-ignore-case: none of the string tests hold."""
    return lambda v: not (isinstance(v, str) and any(test(v) for test in tests))


def leaf_values(value: object, out: list[object]) -> list[object]:
    """The scalar values a field holds: arrays flattened (nested too), objects skipped."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, list):
                leaf_values(item, out)
            elif not isinstance(item, dict):
                out.append(item)
    elif not isinstance(value, dict):
        out.append(value)
    return out
