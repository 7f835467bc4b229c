"""Choice Rules in JSONPath states: comparisons, Is* tests, And/Or/Not.

`matches(rule, resolve)` says whether a rule holds; `resolve(path)` returns the value at a
path or paths.MISSING. A Variable that matches nothing is AWS's States.Runtime error
(except for IsPresent, which is the way to ask).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .definition import parse_timestamp
from .errors import StatesError
from .paths import MISSING


def matches(rule: dict, resolve) -> bool:
    if "And" in rule:
        return all(matches(sub, resolve) for sub in rule["And"])
    if "Or" in rule:
        return any(matches(sub, resolve) for sub in rule["Or"])
    if "Not" in rule:
        return not matches(rule["Not"], resolve)
    variable = rule["Variable"]
    value = resolve(variable)
    op = next(k for k in rule if k not in ("Variable", "Next", "Comment", "Assign"))
    expected = rule[op]
    if op == "IsPresent":
        return (value is not MISSING) == expected
    if value is MISSING:
        raise StatesError(
            "States.Runtime",
            f"Invalid path '{variable}': The choice state's condition path references an "
            "invalid value.",
        )
    if op.endswith("Path"):
        op = op[:-4]
        path = expected
        expected = resolve(path)
        if expected is MISSING:
            raise StatesError(
                "States.Runtime",
                f"Invalid path '{path}': The choice state's condition path references an "
                "invalid value.",
            )
    return _compare(op, value, expected)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _compare(op: str, value: Any, expected: Any) -> bool:
    if op.startswith("Is"):
        test = {
            "IsNull": value is None,
            "IsNumeric": _is_number(value),
            "IsString": isinstance(value, str),
            "IsBoolean": isinstance(value, bool),
            "IsTimestamp": parse_timestamp(value) is not None,
        }[op]
        return test == expected
    if op == "BooleanEquals":
        return isinstance(value, bool) and isinstance(expected, bool) and value == expected
    if op.startswith("Numeric"):
        if not (_is_number(value) and _is_number(expected)):
            return False
        return _order(op[len("Numeric") :], value, expected)
    if op == "StringMatches":
        return isinstance(value, str) and bool(_pattern(expected).fullmatch(value))
    if op.startswith("String"):
        if not (isinstance(value, str) and isinstance(expected, str)):
            return False
        return _order(op[len("String") :], value, expected)
    if op.startswith("Timestamp"):
        a, b = parse_timestamp(value), parse_timestamp(expected)
        if a is None or b is None:
            return False
        return _order(op[len("Timestamp") :], a, b)
    raise StatesError("States.Runtime", f"Unsupported Choice Rule operator {op}")


def _order(relation: str, a: Any, b: Any) -> bool:
    if relation == "Equals":
        return a == b
    if relation == "LessThan":
        return a < b
    if relation == "GreaterThan":
        return a > b
    if relation == "LessThanEquals":
        return a <= b
    return a >= b  # GreaterThanEquals


@lru_cache(maxsize=1024)
def _pattern(text: str) -> re.Pattern:
    """StringMatches: `*` matches any run of characters; `\\*` and `\\\\` are literal."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(re.escape(text[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.S)
