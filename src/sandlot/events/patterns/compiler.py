"""Compiling a pattern document into a match tree, refusing it as event-ruler does.

The tree mirrors the pattern: a `Node` per JSON object (its fields, AND-ed, and its ``$or``
groups), a `Leaf` per value array. Matching walks the event alongside: an event array met
where the pattern has an object is "crushed" — some one element must satisfy the whole
sub-pattern, so two fields of the pattern never combine values from different elements of
one array (event-ruler's array-consistent matching).

Validation walks the document in its JSON order, as AWS's streaming parser does, so the
first problem met is the one reported, in event-ruler's words; the dialect wraps the
reason into its service's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sandlot.events.patterns import values as V
from sandlot.events.patterns.values import Invalid, Leaf, is_number

OR = "$or"
ALL_OPERATORS = frozenset(
    (
        "exactly",
        "prefix",
        "suffix",
        "equals-ignore-case",
        "wildcard",
        "anything-but",
        "numeric",
        "exists",
        "cidr",
    )
)
ANYTHING_BUT_INNER = frozenset(("equals-ignore-case", "prefix", "suffix", "wildcard"))
# Names event-ruler will not take as field names inside "$or" (its keywords and the
# ones it reserves for later use).
RESERVED_IN_OR = frozenset(
    ALL_OPERATORS
    | {"html", "=", "<", "<=", ">", ">=", "regex", "not-wildcard", "not-equals-ignore-case"}
    | {"date-after", "date-on-or-after", "date-before", "date-on-or-before", "in-date-range"}
    | {"ip-address-in-range", "ip-address-not-in-range"}
)


@dataclass(frozen=True, slots=True)
class Grammar:
    """What a dialect accepts: the match types and their nested forms."""

    operators: frozenset[str] = ALL_OPERATORS
    anything_but_inner: frozenset[str] = ANYTHING_BUT_INNER
    prefix_ignore_case: bool = True  # {"prefix": {"equals-ignore-case": ...}}
    suffix_ignore_case: bool = True


class Node:
    """One pattern object: every field must match, and one alternative of every ``$or``."""

    __slots__ = ("fields", "ors", "absent_ok")

    def __init__(self) -> None:
        self.fields: list[tuple[str, Node | Leaf]] = []
        self.ors: list[list[Node]] = []
        self.absent_ok = False  # would match where the event has nothing at all

    def finish(self) -> Node:
        self.absent_ok = all(
            (child.absent if isinstance(child, Leaf) else child.absent_ok)
            for _, child in self.fields
        ) and all(any(alt.absent_ok for alt in group) for group in self.ors)
        return self

    def matches(self, value: object) -> bool:
        if type(value) is dict:
            for key, child in self.fields:
                if type(child) is Leaf:
                    if key in value:
                        if not child.matches(V.leaf_values(value[key], [])):
                            return False
                    elif not child.absent:
                        return False
                elif key in value:
                    if not child.matches(value[key]):
                        return False
                elif not child.absent_ok:
                    return False
            return all(any(alt.matches(value) for alt in group) for group in self.ors)
        if type(value) is list:
            if value:
                return any(self.matches(item) for item in value)
            return self.absent_ok
        return self.absent_ok  # a scalar has no fields: all of ours are absent


def _text(value: object) -> str:
    """A JSON value as the Jackson parser's current-token text shows it in messages."""
    if isinstance(value, dict):
        return "{"
    if isinstance(value, list):
        return "["
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return str(value)


def compile_tree(document: object, grammar: Grammar) -> Node:
    """The match tree of a parsed pattern; `Invalid` with event-ruler's reason if refused."""
    if not isinstance(document, dict):
        raise Invalid("Filter is not an object")
    return _object(document, grammar, in_or=False)


def _object(document: dict, grammar: Grammar, in_or: bool) -> Node:
    if not document:
        raise Invalid("Empty objects are not allowed")
    node = Node()
    for key, value in document.items():
        if key == OR:
            node.ors.append(_or(value, grammar))
            continue
        if in_or and key in RESERVED_IN_OR:
            raise Invalid(f"{key} is Ruler reserved fieldName which cannot be used inside $or.")
        if isinstance(value, dict):
            node.fields.append((key, _object(value, grammar, in_or)))
        elif isinstance(value, list):
            node.fields.append((key, _leaf(value, grammar)))
        else:
            raise Invalid(f'"{key}" must be an object or an array')
    return node.finish()


def _or(value: object, grammar: Grammar) -> list[Node]:
    if not isinstance(value, list):
        raise Invalid("It must be an Array followed with $or.")
    alternatives = []
    for item in value:
        if not isinstance(item, dict):
            raise Invalid("Only JSON object is allowed in array of $or relationship.")
        alternatives.append(_object(item, grammar, in_or=True))
    if len(alternatives) < 2:
        raise Invalid("There must have at least 2 Objects in $or relationship.")
    return alternatives


def _leaf(items: list, grammar: Grammar) -> Leaf:
    leaf = Leaf()
    for item in items:
        if isinstance(item, dict):
            _expression(item, leaf, grammar)
        elif isinstance(item, list):
            raise Invalid("Match value must be String, number, true, false, or null")
        else:
            leaf.add_exact(item)
    if not items:
        raise Invalid("Empty arrays are not allowed")
    return leaf


def _single(expression: dict, message: str = "Only one key allowed in match expression") -> None:
    if len(expression) > 1:
        raise Invalid(message)


TOO_MANY = "Too many elements in numeric expression"


def _expression(expression: dict, leaf: Leaf, grammar: Grammar) -> None:
    """One ``{"<match type>": operand}`` object, validated in event-ruler's order."""
    if not expression:
        raise Invalid("Match expression name not found")
    kind, operand = next(iter(expression.items()))
    if kind not in grammar.operators:
        raise Invalid(f"Unrecognized match type {kind}")
    if kind == "exactly":
        _string(operand, "exact match pattern must be a string")
        _single(expression)
        leaf.strings.add(operand)
    elif kind in ("prefix", "suffix"):
        ignore_case = False
        allowed = grammar.prefix_ignore_case if kind == "prefix" else grammar.suffix_ignore_case
        if isinstance(operand, dict) and allowed:
            operand = _ignore_case_operand(operand, kind)
            ignore_case = True
        else:
            _string(operand, f"{kind} match pattern must be a string")
        _single(expression)
        build = V.prefix if kind == "prefix" else V.suffix
        leaf.tests.append(build(operand, ignore_case))
    elif kind == "equals-ignore-case":
        _string(operand, "equals-ignore-case match pattern must be a string")
        _single(expression)
        leaf.tests.append(V.equals_ignore_case(operand))
    elif kind == "wildcard":
        _string(operand, "wildcard match pattern must be a string")
        test = V.wildcard(operand)
        _single(expression)
        leaf.tests.append(test)
    elif kind == "numeric":
        if not isinstance(operand, list):
            raise Invalid("Value of numeric must be an array.")
        test = _numeric(operand)
        _single(expression, TOO_MANY)
        leaf.tests.append(test)
    elif kind == "anything-but":
        test = _anything_but(operand, grammar)
        _single(expression, TOO_MANY)
        leaf.tests.append(test)
    elif kind == "exists":
        if operand is not True and operand is not False:
            raise Invalid("exists match pattern must be either true or false.")
        _single(expression)
        if operand:
            leaf.present = True
        else:
            leaf.absent = True
    else:  # cidr
        _string(operand, "prefix match pattern must be a string")  # sic: event-ruler's text
        size, low, high = V.cidr_range(operand)
        _single(expression)
        leaf.tests.append(V.cidr(size, low, high))


def _string(operand: object, message: str) -> None:
    if not isinstance(operand, str):
        raise Invalid(message)


def _ignore_case_operand(operand: dict, kind: str) -> str:
    """``{"equals-ignore-case": "x"}`` inside prefix/suffix."""
    name = kind.capitalize()
    if not operand:
        raise Invalid(f"{name} expression name not found")
    inner, text = next(iter(operand.items()))
    if inner != "equals-ignore-case":
        raise Invalid(f"Unsupported {kind} pattern: {inner}")
    _string(text, "equals-ignore-case match pattern must be a string")
    _single(operand)
    return text


_RANGE_OPENERS = {">": True, ">=": False}
_RANGE_CLOSERS = {"<": True, "<=": False}


def _numeric(terms: list) -> V.Test:
    """``[op, n]`` or ``[">"/">=", n, "<"/"<=", m]`` with event-ruler's refusals."""
    if not terms or not isinstance(terms[0], str):
        raise Invalid(f"Invalid member in numeric match: {_text(terms[0]) if terms else ']'}")
    operator = terms[0]
    if operator not in ("=", "<", "<=", ">", ">="):
        raise Invalid(f"Unrecognized numeric range operator: {operator}")
    if len(terms) < 2 or not is_number(terms[1]):
        raise Invalid(f"Value of {'equals' if operator == '=' else operator} must be numeric")
    first = V.checked_number(terms[1])
    if operator == "=" or operator in _RANGE_CLOSERS:
        if len(terms) > 2:
            raise Invalid(TOO_MANY)
        if operator == "=":
            return V.numeric(first, False, first, False)
        bottom = -V.NUMBER_LIMIT
        if bottom >= first:
            raise Invalid("Bottom must be less than top")
        return V.numeric(None, False, first, _RANGE_CLOSERS[operator])
    if len(terms) == 2:
        if first >= V.NUMBER_LIMIT:
            raise Invalid("Bottom must be less than top")
        return V.numeric(first, _RANGE_OPENERS[operator], None, False)
    closer = terms[2]
    if not isinstance(closer, str):
        raise Invalid(f"Bad value in numeric range: {_text(closer)}")
    if closer not in _RANGE_CLOSERS:
        raise Invalid(f"Bad numeric range operator: {closer}")
    if len(terms) < 4 or not is_number(terms[3]):
        raise Invalid(f"Value of {closer} must be numeric")
    top = V.checked_number(terms[3])
    if len(terms) > 4:
        raise Invalid("Too many terms in numeric range expression")
    if first >= top:
        raise Invalid("Bottom must be less than top")
    return V.numeric(first, _RANGE_OPENERS[operator], top, _RANGE_CLOSERS[closer])


def _anything_but(operand: object, grammar: Grammar) -> V.Test:
    inner = None
    if isinstance(operand, dict):
        if not operand:
            raise Invalid("Anything-But expression name not found")
        inner, value = next(iter(operand.items()))
        if inner not in grammar.anything_but_inner:
            raise Invalid(f"Unsupported anything-but pattern: {inner}")
        operand_dict, operand = operand, value
    if not (isinstance(operand, (list, str)) or is_number(operand)):
        raise Invalid("Value of anything-but must be an array or single string/number value.")
    if inner is None:
        return _anything_but_values(operand)
    items = operand if isinstance(operand, list) else [operand]
    tests = []
    for item in items:
        if not isinstance(item, str):
            if inner == "equals-ignore-case":
                raise Invalid(
                    "Inside anything-but/equals-ignore-case list, "
                    "number|start|null|boolean is not supported."
                )
            if inner == "wildcard":
                raise Invalid("wildcard match pattern must be a string")
            raise Invalid("prefix/suffix match pattern must be a string")
        if inner in ("prefix", "suffix") and not item:
            raise Invalid("Null prefix/suffix not allowed")
        if inner == "prefix":
            tests.append(V.prefix(item))
        elif inner == "suffix":
            tests.append(V.suffix(item))
        elif inner == "equals-ignore-case":
            tests.append(V.equals_ignore_case(item))
        else:
            tests.append(V.wildcard(item))
    _single(operand_dict, TOO_MANY)
    return V.anything_but_tests(tests)


def _anything_but_values(operand: object) -> V.Test:
    items = operand if isinstance(operand, list) else [operand]
    strings: set[str] = set()
    numbers: set[Decimal] = set()
    for item in items:
        if isinstance(item, str):
            strings.add(item)
        elif is_number(item):
            numbers.add(V.checked_number(item))
        elif isinstance(operand, list):
            raise Invalid("Inside anything but list, start|null|boolean is not supported.")
    if bool(strings) == bool(numbers):
        raise Invalid(
            "Inside anything but list, either all values are number or string, "
            "mixed type is not supported"
        )
    return V.anything_but_strings(strings) if strings else V.anything_but_numbers(numbers)


def wildcard_operands(document: object) -> dict[str, list[str]]:
    """Every wildcard operand (incl. anything-but's) by field path, for the complexity rule."""
    found: dict[str, list[str]] = {}

    def walk(obj: dict, path: str) -> None:
        for key, child in obj.items():
            if key == OR and isinstance(child, list):
                for alternative in child:
                    if isinstance(alternative, dict):
                        walk(alternative, path)
                continue
            here = f"{path}.{key}" if path else key
            if isinstance(child, dict):
                walk(child, here)
            elif isinstance(child, list):
                for item in child:
                    if not isinstance(item, dict):
                        continue
                    operands = item.get("wildcard")
                    inner = item.get("anything-but")
                    if isinstance(inner, dict):
                        operands = inner.get("wildcard")
                    if isinstance(operands, str):
                        operands = [operands]
                    if isinstance(operands, list):
                        found.setdefault(here, []).extend(o for o in operands if isinstance(o, str))

    if isinstance(document, dict):
        walk(document, "")
    return found
