"""The three services that speak the pattern language, each with its rules and messages.

- EventBridge event patterns (rules, ``TestEventPattern``, archives, Pipes' filters);
- SNS subscription filter policies, on message attributes or on the JSON message body
  (``FilterPolicyScope``);
- Lambda event source mapping ``FilterCriteria`` (up to five patterns, OR-ed).

All three compile with `compile_tree` (the one matcher); a dialect chooses the grammar,
adds its service's own limits and wraps event-ruler's reason in its service's error.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

from sandlot.events.patterns import complexity
from sandlot.events.patterns.compiler import (
    ALL_OPERATORS,
    OR,
    Grammar,
    Node,
    compile_tree,
    wildcard_operands,
)
from sandlot.events.patterns.values import Invalid, is_number

Dialect = Literal["eventbridge", "sns", "lambda"]
Scope = Literal["MessageAttributes", "MessageBody"]


class PatternError(ValueError):
    """A pattern the service refuses: ``code`` and ``message`` are what AWS answers;
    ``reason`` is the bare rule (event-ruler's text) the message wraps."""

    def __init__(self, code: str, message: str, reason: str):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason


# AWS's JSON parser (Jackson) refuses documents nested deeper than 1,000 levels. Checked
# explicitly: the interpreter's recursion limit differs between processes (a test runner's
# worker, an embedding), so a RecursionError alone would refuse only sometimes.
MAX_NESTING = 1000


def _parse(document: str | Mapping) -> object:
    if isinstance(document, Mapping):
        parsed: object = document
    else:
        try:
            parsed = json.loads(document, parse_constant=_non_standard)
        except (json.JSONDecodeError, TypeError) as error:
            raise Invalid(_json_reason(error)) from None
        except RecursionError:
            raise Invalid("Maximum nesting depth exceeded") from None
    if _depth(parsed) > MAX_NESTING:
        raise Invalid("Maximum nesting depth exceeded")
    return parsed


def _depth(value: object) -> int:
    """How deeply objects and arrays nest in ``value`` (iterative: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, Mapping):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_NESTING:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _non_standard(token: str) -> object:
    """Python reads NaN/Infinity; AWS's JSON parser (Jackson) refuses them."""
    raise Invalid(
        f"Non-standard token '{token}': enable JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS to allow"
    )


def _json_reason(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno}, column {error.colno}"
    return "Filter is not an object"


def _compile(document: object, grammar: Grammar) -> Node:
    try:
        return compile_tree(document, grammar)
    except RecursionError:
        raise Invalid("Maximum nesting depth exceeded") from None


def _match(tree: Node, event: object) -> bool:
    """Never an exception for an event: one nested past the interpreter's depth is a miss."""
    try:
        return tree.matches(event)
    except RecursionError:
        return False


class Pattern:
    """A compiled pattern: `matches` takes a parsed JSON event, `matches_json` its text."""

    __slots__ = ("_tree", "source", "uses_wildcards")

    def __init__(self, tree: Node, source: object, uses_wildcards: bool = False):
        self._tree = tree
        self.source = source  # the pattern document as given (parsed)
        # EventBridge allows 30 rules with wildcards per bus: the service counts these.
        self.uses_wildcards = uses_wildcards

    def matches(self, event: object) -> bool:
        return _match(self._tree, event)

    def matches_json(self, text: str | bytes) -> bool:
        try:
            event = json.loads(text)
        except ValueError:
            return False
        return _match(self._tree, event)


# --- EventBridge ----------------------------------------------------------------------------

EVENTBRIDGE = Grammar()
EVENTBRIDGE_CODE = "InvalidEventPatternException"
EVENT_PATTERN_MAX_LENGTH = 2048  # the default quota; AWS lets an account raise it to 4096


def compile_event_pattern(document: str | Mapping) -> Pattern:
    """An EventBridge event pattern, or `PatternError` (``InvalidEventPatternException``,
    "Event pattern is not valid. Reason: ...") as ``PutRule``/``TestEventPattern`` answer.
    Compiled patterns are immutable; a pattern text is compiled once (cached)."""
    if isinstance(document, str):
        return _event_pattern_text(document)
    return _event_pattern(document)


@lru_cache(maxsize=1024)
def _event_pattern_text(text: str) -> Pattern:
    return _event_pattern(text)


def _event_pattern(document: str | Mapping) -> Pattern:
    try:
        parsed = _parse(document)
        tree = _compile(parsed, EVENTBRIDGE)
        operands = wildcard_operands(parsed)
        if any(complexity.complexity(field) > complexity.LIMIT for field in operands.values()):
            raise Invalid(complexity.MESSAGE)
    except Invalid as invalid:
        raise PatternError(
            EVENTBRIDGE_CODE,
            f"Event pattern is not valid. Reason: {invalid.reason}",
            invalid.reason,
        ) from None
    return Pattern(tree, parsed, uses_wildcards=bool(operands))


# --- SNS ------------------------------------------------------------------------------------

# SNS filter policies: no wildcard, and anything-but nests only a prefix/suffix.
SNS = Grammar(
    operators=ALL_OPERATORS - {"wildcard", "exactly"},
    anything_but_inner=frozenset(("prefix", "suffix")),
)
SNS_CODE = "InvalidParameter"
SNS_MAX_KEYS = 5
SNS_MAX_COMBINATIONS = 150
SNS_MAX_BYTES = 256 * 1024
# The attribute types SNS compares (it ignores Binary attributes).
_SNS_TYPES = ("String", "String.Array", "Number", "Number.Array")


class FilterPolicy:
    """A compiled SNS subscription filter policy for one ``FilterPolicyScope``."""

    __slots__ = ("_tree", "scope", "source")

    def __init__(self, tree: Node, scope: Scope, source: object):
        self._tree = tree
        self.scope = scope
        self.source = source

    def matches_message(self, body: str, attributes: Mapping[str, Mapping] | None) -> bool:
        """The subscription's decision for a published message, by its scope."""
        if self.scope == "MessageBody":
            return self.matches_body(body)
        return self.matches_attributes(attributes or {})

    def matches_body(self, body: str) -> bool:
        """MessageBody scope: the body must be a JSON object, else nothing matches."""
        try:
            document = json.loads(body)
        except ValueError:
            return False
        return isinstance(document, dict) and _match(self._tree, document)

    def matches_attributes(self, attributes: Mapping[str, Mapping]) -> bool:
        """MessageAttributes scope. ``attributes`` maps a name to its ``DataType`` (or
        ``Type``) and ``StringValue`` (or ``Value``), as Publish takes them or as the
        SNS envelope shows them."""
        return _match(self._tree, sns_attribute_event(attributes))


def sns_attribute_event(attributes: Mapping[str, Mapping]) -> dict[str, object]:
    """Message attributes as the JSON document a policy is matched against: a String is a
    string, a Number a JSON number, a String.Array its JSON array; Binary is ignored."""
    event: dict[str, object] = {}
    for name, attribute in attributes.items():
        kind = attribute.get("DataType", attribute.get("Type", ""))
        text = attribute.get("StringValue", attribute.get("Value"))
        # Custom types ("String.custom", "Number.float") filter as their base type.
        base = kind.split(".", 1)[0] if kind and not kind.endswith(".Array") else kind
        if base == "Number" and is_number(text):  # already a number (a parsed envelope)
            event[name] = text
            continue
        if base not in _SNS_TYPES or not isinstance(text, str):
            continue
        if base == "String":
            event[name] = text
        elif base == "Number":
            number = _number(text)
            if number is not None:
                event[name] = number
        else:  # String.Array / Number.Array
            try:
                items = json.loads(text)
            except ValueError:
                continue
            if isinstance(items, list):
                event[name] = items
    return event


def _number(text: str) -> int | float | None:
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def compile_filter_policy(
    document: str | Mapping,
    scope: Scope = "MessageAttributes",
    *,
    subscribe: bool = False,
) -> FilterPolicy:
    """An SNS filter policy, or `PatternError` (``InvalidParameter``) with SNS's message:
    "Invalid parameter: FilterPolicy: <reason>" from SetSubscriptionAttributes, and
    "Invalid parameter: Attributes Reason: FilterPolicy: <reason>" from Subscribe.
    A policy text is compiled once per scope (cached)."""
    if isinstance(document, str):
        return _filter_policy_text(document, scope, subscribe)
    return _filter_policy(document, scope, subscribe)


@lru_cache(maxsize=1024)
def _filter_policy_text(text: str, scope: Scope, subscribe: bool) -> FilterPolicy:
    return _filter_policy(text, scope, subscribe)


def _filter_policy(document: str | Mapping, scope: Scope, subscribe: bool) -> FilterPolicy:
    lead = "Invalid parameter: Attributes Reason: " if subscribe else "Invalid parameter: "
    if isinstance(document, str) and len(document.encode("utf-8")) > SNS_MAX_BYTES:
        raise PatternError(SNS_CODE, f"{lead}FilterPolicy: Filter policy is too large", "")
    try:
        parsed = _parse(document)
        if isinstance(parsed, dict):
            with contextlib.suppress(RecursionError):  # _compile refuses such depth below
                _sns_limits(parsed, scope, lead)
        tree = _compile(parsed, SNS)
    except Invalid as invalid:
        raise PatternError(
            SNS_CODE, f"{lead}FilterPolicy: {invalid.reason}", invalid.reason
        ) from None
    return FilterPolicy(tree, scope, parsed)


def _sns_limits(policy: dict, scope: Scope, lead: str) -> None:
    """SNS's own limits: five keys, 150 combinations, no nesting for attributes."""
    if scope == "MessageAttributes" and _nested(policy):
        reason = "Filter policy scope MessageAttributes does not support nested filter policy"
        raise PatternError(SNS_CODE, f"{lead}{reason}", reason)
    if len(policy) > SNS_MAX_KEYS:
        raise Invalid("Filter policy can not have more than 5 keys")
    if _combinations(policy, 1, 1) > SNS_MAX_COMBINATIONS:
        raise Invalid("Filter policy is too complex")


def _nested(policy: dict) -> bool:
    for key, value in policy.items():
        if key == OR and isinstance(value, list):
            if any(isinstance(alt, dict) and _nested(alt) for alt in value):
                return True
        elif isinstance(value, dict):
            return True
    return False


def _combinations(policy: dict, depth: int, total: int) -> int:
    """SNS's complexity: multiply the value counts of every array, each weighted by the
    depth of its key (the documented 3 x 4 x 2 x 3 = 72); ``$or`` branches add up."""
    for key, value in policy.items():
        if key == OR and isinstance(value, list):
            total = sum(_combinations(alt, depth, total) for alt in value if isinstance(alt, dict))
        elif isinstance(value, dict):
            total = _combinations(value, depth + 1, total)
        elif isinstance(value, list):
            total *= max(len(value), 1) * depth
    return total


# --- Lambda event source mappings -----------------------------------------------------------

# Lambda documents a subset of the language for its filters: no wildcard and no nested
# anything-but forms (prefix, suffix, equals-ignore-case, numeric, exists, $or are in).
LAMBDA = Grammar(operators=ALL_OPERATORS - {"wildcard", "exactly"}, anything_but_inner=frozenset())
LAMBDA_CODE = "InvalidParameterValueException"
LAMBDA_MESSAGE = "Invalid filter pattern definition."
LAMBDA_MAX_FILTERS = 5
LAMBDA_MAX_PATTERN_LENGTH = 4096


class FilterCriteria:
    """A mapping's ``FilterCriteria``: a record passes when any pattern matches it."""

    __slots__ = ("patterns", "source")

    def __init__(self, patterns: list[Pattern], source: Mapping):
        self.patterns = patterns
        self.source = source

    def matches(
        self, record: Mapping, data_key: str = "body", *, base64_data: bool = False
    ) -> bool:
        """Whether ``record`` (the record as the function receives it) passes.

        ``data_key`` names the payload field a pattern sees as JSON when it is JSON
        (``body`` for SQS, ``data`` for Kinesis with ``base64_data=True``); a payload that
        is not JSON stays a plain string, so a pattern with keys under it cannot match."""
        view = filter_view(record, data_key, base64_data=base64_data)
        return any(pattern.matches(view) for pattern in self.patterns)


def filter_view(record: Mapping, data_key: str, *, base64_data: bool = False) -> dict:
    """The record as Lambda's filter sees it: the payload field parsed when it is JSON."""
    view = dict(record)
    raw = view.get(data_key)
    if isinstance(raw, str):
        text = raw
        if base64_data:
            try:
                text = base64.b64decode(raw, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return view
            view[data_key] = text
        with contextlib.suppress(ValueError):
            view[data_key] = json.loads(text)
    return view


def compile_filter_criteria(criteria: Mapping | None) -> FilterCriteria | None:
    """A mapping's ``FilterCriteria`` (``{"Filters": [{"Pattern": "<json>"}]}``), None when
    empty (no filtering), or `PatternError` (``InvalidParameterValueException``)."""
    if not criteria:
        return None
    filters = criteria.get("Filters") or []
    if len(filters) > LAMBDA_MAX_FILTERS:
        raise PatternError(
            LAMBDA_CODE,
            f"1 validation error detected: Value '{filters}' at 'filterCriteria.filters' "
            f"failed to satisfy constraint: Member must have length less than or equal to "
            f"{LAMBDA_MAX_FILTERS}",
            "too many filters",
        )
    patterns = []
    for item in filters:
        text = item.get("Pattern") if isinstance(item, Mapping) else None
        if not isinstance(text, str):
            raise PatternError(LAMBDA_CODE, LAMBDA_MESSAGE, "a filter needs a Pattern string")
        patterns.append(_lambda_pattern(text))
    return FilterCriteria(patterns, criteria) if patterns else None


@lru_cache(maxsize=1024)
def _lambda_pattern(text: str) -> Pattern:
    try:
        if len(text) > LAMBDA_MAX_PATTERN_LENGTH:
            raise Invalid("the pattern must be a JSON string of at most 4096 characters")
        parsed = _parse(text)
        return Pattern(_compile(parsed, LAMBDA), parsed)
    except Invalid as invalid:
        raise PatternError(LAMBDA_CODE, LAMBDA_MESSAGE, invalid.reason) from None


def compile_pattern(document: str | Mapping, dialect: Dialect = "eventbridge") -> Pattern:
    """One pattern in a dialect's grammar (for Lambda: one ``Filters[].Pattern``)."""
    if dialect == "eventbridge":
        return compile_event_pattern(document)
    if dialect == "sns":
        policy = compile_filter_policy(document, "MessageBody")
        return Pattern(policy._tree, policy.source)
    criteria = compile_filter_criteria({"Filters": [{"Pattern": _text(document)}]})
    assert criteria is not None
    return criteria.patterns[0]


def _text(document: str | Mapping) -> str:
    return document if isinstance(document, str) else json.dumps(document)
