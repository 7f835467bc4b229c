"""Condition operators: parsing a ``Condition`` block and testing it against a request.

Semantics follow AWS's condition operator reference: keys are case-insensitive; several
values for one key are ORed (for a negated operator the result is negated, so the values
are NORed); several keys, and several operators, are ANDed. A missing key makes a positive
operator false and a negated one true; ``...IfExists`` makes a missing key true; ``Null``
tests presence. ``ForAllValues:`` is true when every request value matches (and when the
key is missing or empty); ``ForAnyValue:`` when at least one does (false when missing).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from sandlot.iam.policy.patterns import (
    Lookup,
    Template,
    arn_source,
    compile_regex,
    glob_source,
    parse_template,
    plain_text,
)

Predicate = Callable[[object], bool]  # "does this request value match any policy value?"


class ConditionSyntaxError(ValueError):
    """A Condition block AWS would refuse; the message is AWS's."""


def text(value: object) -> str:
    """A request value as the string operators compare (booleans as JSON writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


# --- families: prepare one policy value, build one predicate over all of them -------------


def _string_build(values: list[tuple]) -> Predicate:
    wanted = frozenset(plain_text(v) for v in values)
    return lambda value: text(value) in wanted


def _string_ic_build(values: list[tuple]) -> Predicate:
    wanted = frozenset(plain_text(v).casefold() for v in values)
    return lambda value: text(value).casefold() in wanted


def _regex_build(source: Callable[[tuple], str]) -> Callable[[list[tuple]], Predicate]:
    def build(values: list[tuple]) -> Predicate:
        if not values:
            return lambda value: False
        match = compile_regex("|".join(f"(?:{source(v)})" for v in values)).match
        return lambda value: match(text(value)) is not None

    return build


def _to_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value if isinstance(value, int | float) else text(value))
    except ValueError:
        return None


def _to_epoch(value: object) -> float | None:
    """Dates are ISO 8601 strings or epoch seconds, in policies and in requests alike."""
    if isinstance(value, datetime):
        moment = value
    else:
        number = _to_number(value)
        if number is not None:
            return number
        try:
            moment = datetime.fromisoformat(text(value))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # AWS reads zone-less times as UTC
    return moment.timestamp()


def _ordered_build(convert: Callable[[object], float | None], compare: Callable) -> Callable:
    def build(values: list[tuple]) -> Predicate:
        wanted = [n for n in (convert(plain_text(v)) for v in values) if n is not None]

        def predicate(value: object) -> bool:
            number = convert(value)
            return number is not None and any(compare(number, w) for w in wanted)

        return predicate

    return build


def _bool_build(values: list[tuple]) -> Predicate:
    wanted = frozenset(plain_text(v).lower() for v in values)
    return lambda value: text(value).lower() in wanted


def _decode(value: object) -> bytes | None:
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(text(value), validate=True)
    except (binascii.Error, ValueError):
        return None


def _binary_build(values: list[tuple]) -> Predicate:
    wanted = frozenset(d for d in (_decode(plain_text(v)) for v in values) if d is not None)
    return lambda value: _decode(value) in wanted


@lru_cache(maxsize=4096)
def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _ip_build(values: list[tuple]) -> Predicate:
    networks = []
    for v in values:
        try:
            networks.append(ipaddress.ip_network(plain_text(v).strip(), strict=False))
        except ValueError:
            continue  # an unparseable range matches nothing

    def predicate(value: object) -> bool:
        address = _address(text(value))
        return address is not None and any(
            address.version == n.version and address in n for n in networks
        )

    return predicate


_NUMERIC = {
    "equals": operator.eq,
    "lessthan": operator.lt,
    "lessthanequals": operator.le,
    "greaterthan": operator.gt,
    "greaterthanequals": operator.ge,
}

# lower-cased operator name (no qualifier, no IfExists) -> (builder, negated)
_OPERATORS: dict[str, tuple[Callable[[list[tuple]], Predicate], bool]] = {
    "stringequals": (_string_build, False),
    "stringnotequals": (_string_build, True),
    "stringequalsignorecase": (_string_ic_build, False),
    "stringnotequalsignorecase": (_string_ic_build, True),
    "stringlike": (_regex_build(glob_source), False),
    "stringnotlike": (_regex_build(glob_source), True),
    "bool": (_bool_build, False),
    "binaryequals": (_binary_build, False),
    "ipaddress": (_ip_build, False),
    "notipaddress": (_ip_build, True),
    # ArnEquals and ArnLike are the same operator in AWS: wildcards per ARN segment.
    "arnequals": (_regex_build(arn_source), False),
    "arnlike": (_regex_build(arn_source), False),
    "arnnotequals": (_regex_build(arn_source), True),
    "arnnotlike": (_regex_build(arn_source), True),
}
for _name, _compare in _NUMERIC.items():
    _OPERATORS[f"numeric{_name}"] = (_ordered_build(_to_number, _compare), False)
    _OPERATORS[f"date{_name}"] = (_ordered_build(_to_epoch, _compare), False)
_OPERATORS["numericnotequals"] = (_ordered_build(_to_number, operator.eq), True)
_OPERATORS["datenotequals"] = (_ordered_build(_to_epoch, operator.eq), True)


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, list | tuple) and not value)


@dataclass(frozen=True, slots=True)
class Condition:
    """One (operator, key) pair of a Condition block, compiled."""

    operator: str  # as written, for traces
    key: str  # lower-cased
    qualifier: str | None  # "all" (ForAllValues), "any" (ForAnyValue) or None
    if_exists: bool
    negated: bool
    is_null: bool
    values: tuple[Template, ...]
    build: Callable[[list[tuple]], Predicate] | None
    predicate: Predicate | None  # precompiled when no value holds a policy variable

    def holds(self, lookup: Lookup) -> bool:
        """Whether the condition is true for the request context behind ``lookup``."""
        value = lookup(self.key)
        if self.is_null:
            # "true": the key must be absent; "false": present. Values are ORed.
            present = _present(value)
            return any((plain_text(v.parts).lower() == "true") != present for v in self.values)
        if not _present(value) or self.qualifier and value == "":
            # Set operators read an empty string as an empty set, as AWS documents.
            if self.qualifier == "all":
                return True
            if self.qualifier == "any":
                return self.if_exists
            return self.if_exists or self.negated
        predicate = self.predicate or self._resolve(lookup)
        values = value if isinstance(value, list | tuple) else (value,)
        if self.qualifier == "all":
            return all(predicate(v) != self.negated for v in values)
        if self.qualifier == "any":
            return any(predicate(v) != self.negated for v in values)
        matched = any(predicate(v) for v in values)
        return not matched if self.negated else matched

    def _resolve(self, lookup: Lookup) -> Predicate:
        assert self.build is not None
        resolved = [parts for v in self.values if (parts := v.resolve(lookup)) is not None]
        return self.build(resolved)


def _values(raw: object) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        else:
            raise ConditionSyntaxError("Syntax errors in policy.")
    return out


def parse_conditions(block: object, variables: bool) -> tuple[Condition, ...]:
    """Compile a statement's ``Condition`` element."""
    if not isinstance(block, dict):
        raise ConditionSyntaxError("Syntax errors in policy.")
    conditions = []
    for written, keys in block.items():
        if not isinstance(written, str) or not isinstance(keys, dict):
            raise ConditionSyntaxError("Syntax errors in policy.")
        name = written.lower()
        qualifier = None
        for prefix, tag in (("forallvalues:", "all"), ("foranyvalue:", "any")):
            if name.startswith(prefix):
                name, qualifier = name[len(prefix) :], tag
        if_exists = name.endswith("ifexists") and name != "ifexists"
        if if_exists:
            name = name[: -len("ifexists")]
        is_null = name == "null"
        if not is_null and name not in _OPERATORS or is_null and (if_exists or qualifier):
            raise ConditionSyntaxError(f"Invalid Condition type : {written}")
        build, negated = (None, False) if is_null else _OPERATORS[name]
        for key, raw in keys.items():
            if not isinstance(key, str) or ":" not in key:
                raise ConditionSyntaxError(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
                )
            templates = tuple(parse_template(v, variables) for v in _values(raw))
            static = not any(t.has_variables for t in templates)
            predicate = build([t.parts for t in templates]) if build and static else None
            conditions.append(
                Condition(
                    written,
                    key.lower(),
                    qualifier,
                    if_exists,
                    negated,
                    is_null,
                    templates,
                    build,
                    predicate,
                )
            )
    return tuple(conditions)
