"""CloudWatch Logs filter patterns: parsed once, matched against many messages.

The subset implemented (AWS's "Filter pattern syntax" page; anything else is an
``InvalidParameterException`` rather than a silent mismatch):

- **empty** (or blank) pattern: matches every event.
- **terms** (unstructured events): ``ERROR Exception`` — every term must occur
  (case-sensitive substring); ``"Failed to process"`` — a quoted phrase, the only way
  to write a term with characters other than ASCII letters, digits and ``_``
  (``\\"`` and ``\\\\`` escape inside quotes); ``-term`` — must not occur;
  ``?term ?other`` — at least one of the ``?`` terms must occur. Mixed, an event
  matches when all plain terms occur, no ``-`` term occurs and, if any ``?`` terms
  are given, one of them occurs.
- **regex**: the whole pattern ``%regex%`` — a regular-expression search (AWS's
  operators; ``(`` and ``)`` are refused as in AWS).
- **JSON** ``{ ... }`` over events whose message is a JSON document: selectors
  ``$.a.b``, ``$.a[0].b``, ``$.a[0][1]``; ``=`` and ``!=`` against numbers, strings
  (quoted or bare; a ``*`` at the start and/or end is a wildcard, elsewhere literal)
  or ``%regex%``; ``<``, ``>``, ``<=``, ``>=`` against numbers; ``IS TRUE``,
  ``IS FALSE``, ``IS NULL``, ``NOT EXISTS``; ``&&`` binds tighter than ``||``;
  parentheses. A selector must reach a value (not an array or object) for any
  comparison to match, ``!=`` included; booleans never equal numbers.
- **space-delimited** ``[ip, user, ..., status = 4* && bytes > 1000]``: the message
  is split on whitespace, text inside ``"..."`` or ``[...]`` being one field (without
  the delimiters); each entry names a field (or is empty: an anonymous field) and may
  carry conditions with the JSON operators over named fields (numbers compare
  numerically when the field is numeric); ``...`` stands for any number of fields.
  Without ``...`` the field count must be equal. Extracted values (for
  TestMetricFilter) are ``$name`` for named fields and ``$N`` (1-based) for others.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_TERM_CHARS = re.compile(r"[A-Za-z0-9_]+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SELECTOR_STEP = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_VALUE = re.compile(r"[^\s()\"&|=!<>{}\[\],%$@\\]+")
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">")
_ORDERINGS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}
_MISSING = object()

Extracted = dict[str, str]


class FilterPatternError(ValueError):
    """The pattern is not valid; ``message`` is AWS's wording where AWS has one."""

    def __init__(self, message: str = "Invalid filter pattern") -> None:
        super().__init__(message)
        self.message = message


class Pattern:
    """A compiled filter pattern."""

    def match(self, message: str) -> Extracted | None:
        """None when ``message`` does not match, else the extracted values ({} unless
        the pattern is space-delimited)."""
        raise NotImplementedError

    def matches(self, message: str) -> bool:
        return self.match(message) is not None


@lru_cache(maxsize=256)
def compile_pattern(text: str | None) -> Pattern:
    """Parse a filter pattern (cached: paginated calls repeat the same pattern)."""
    stripped = (text or "").strip()
    if not stripped:
        return _MatchAll()
    if stripped.startswith("{"):
        if not stripped.endswith("}"):
            raise FilterPatternError("If a filter pattern starts with '{' it must end with '}'")
        return _JsonPattern(_Parser(stripped[1:-1], json_mode=True).parse_expression())
    if stripped.startswith("["):
        if not stripped.endswith("]"):
            raise FilterPatternError("If a filter pattern starts with '[' it must end with ']'")
        return _SpacePattern(_parse_space_entries(stripped[1:-1]))
    if len(stripped) >= 2 and stripped.startswith("%") and stripped.endswith("%"):
        return _RegexPattern(_compile_regex(stripped[1:-1]))
    return _parse_terms(stripped)


# -- unstructured: terms and regex -------------------------------------------------


class _MatchAll(Pattern):
    def match(self, message: str) -> Extracted | None:
        return {}


@dataclass(frozen=True)
class _TermsPattern(Pattern):
    required: tuple[str, ...]
    excluded: tuple[str, ...]
    optional: tuple[str, ...]

    def match(self, message: str) -> Extracted | None:
        if not all(term in message for term in self.required):
            return None
        if any(term in message for term in self.excluded):
            return None
        if self.optional and not any(term in message for term in self.optional):
            return None
        return {}


@dataclass(frozen=True)
class _RegexPattern(Pattern):
    regex: re.Pattern[str]

    def match(self, message: str) -> Extracted | None:
        return {} if self.regex.search(message) else None


def _compile_regex(source: str) -> re.Pattern[str]:
    # AWS refuses sub-patterns; refusing them too keeps patterns portable.
    if not source or "(" in source or ")" in source:
        raise FilterPatternError()
    try:
        return re.compile(source)
    except re.error as exc:
        raise FilterPatternError() from exc


def _parse_terms(text: str) -> _TermsPattern:
    required: list[str] = []
    excluded: list[str] = []
    optional: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        bucket = required
        if text[pos] in "?-":
            bucket = optional if text[pos] == "?" else excluded
            pos += 1
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos == len(text):
                raise FilterPatternError(f"Invalid character(s) in term '{text[pos - 1]}'")
        if text[pos] == '"':
            term, pos = _read_quoted(text, pos)
            if not term:
                raise FilterPatternError("Invalid character(s) in term '\"\"'")
        else:
            end = pos
            while end < len(text) and not text[end].isspace():
                end += 1
            term, pos = text[pos:end], end
            if not _TERM_CHARS.fullmatch(term):
                raise FilterPatternError(f"Invalid character(s) in term '{term}'")
        bucket.append(term)
    return _TermsPattern(tuple(required), tuple(excluded), tuple(optional))


def _read_quoted(text: str, pos: int) -> tuple[str, int]:
    """The string of the ``"..."`` starting at ``pos`` and the position after it."""
    out: list[str] = []
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            continue
        if char == '"':
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    raise FilterPatternError()


# -- values compared against -------------------------------------------------------


@dataclass(frozen=True)
class _Number:
    value: float
    text: str


@dataclass(frozen=True)
class _Text:
    """A string literal; a ``*`` at either end is a wildcard (elsewhere it is literal)."""

    text: str

    def matches(self, candidate: str) -> bool:
        text = self.text
        if text == "*":
            return True
        head, tail = text.startswith("*"), text.endswith("*") and len(text) > 1
        core = text[1 if head else 0 : len(text) - 1 if tail else len(text)]
        if head and tail:
            return core in candidate
        if head:
            return candidate.endswith(core)
        if tail:
            return candidate.startswith(core)
        return candidate == core


@dataclass(frozen=True)
class _Regex:
    regex: re.Pattern[str]

    def matches(self, candidate: str) -> bool:
        return self.regex.search(candidate) is not None


Literal = _Number | _Text | _Regex


# -- expressions (shared by JSON and space-delimited patterns) ---------------------

# An expression evaluates against a resolver: name or selector → value (or _MISSING).
Resolver = Callable[[Any], Any]
Expression = Callable[[Resolver], bool]


def _any(parts: list[Expression]) -> Expression:
    return lambda resolve: any(part(resolve) for part in parts)


def _all(parts: list[Expression]) -> Expression:
    return lambda resolve: all(part(resolve) for part in parts)


class _Parser:
    """Recursive descent over ``||``, ``&&``, parentheses and comparisons.

    ``json_mode`` selects the operand: ``$`` selectors (JSON) or field names
    (space-delimited); the first name seen is recorded as ``first_name``.
    """

    def __init__(self, text: str, *, json_mode: bool) -> None:
        self.text = text
        self.pos = 0
        self.json_mode = json_mode
        self.first_name: str | None = None

    # lexing helpers
    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self, literal: str) -> bool:
        self._skip()
        return self.text.startswith(literal, self.pos)

    def _take(self, literal: str) -> bool:
        if self._peek(literal):
            self.pos += len(literal)
            return True
        return False

    def _keyword(self, *words: str) -> str | None:
        self._skip()
        for word in words:
            end = self.pos + len(word)
            following = self.text[end : end + 1]
            if self.text[self.pos : end].upper() == word and not following.isalnum():
                self.pos = end
                return word
        return None

    # grammar
    def parse_expression(self) -> Expression:
        expression = self._or()
        self._skip()
        if self.pos != len(self.text):
            raise FilterPatternError()
        return expression

    def _or(self) -> Expression:
        parts = [self._and()]
        while self._take("||"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else _any(parts)

    def _and(self) -> Expression:
        parts = [self._unary()]
        while self._take("&&"):
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else _all(parts)

    def _unary(self) -> Expression:
        if self._take("("):
            inner = self._or()
            if not self._take(")"):
                raise FilterPatternError()
            return inner
        return self._comparison()

    def _comparison(self) -> Expression:
        key = self._operand()
        if self.json_mode and self._keyword("IS"):
            word = self._keyword("TRUE", "FALSE", "NULL")
            if word is None:
                raise FilterPatternError()
            return _is(key, word)
        if self.json_mode and self._keyword("NOT"):
            if self._keyword("EXISTS") is None:
                raise FilterPatternError()
            return lambda resolve: resolve(key) is _MISSING
        for op in _OPERATORS:
            if self._take(op):
                return _compare(key, op, self._literal(op))
        if self.json_mode:
            raise FilterPatternError()
        return lambda resolve: True  # a bare field name binds the field, no condition

    def _operand(self) -> Any:
        self._skip()
        if self.json_mode:
            if not self.text.startswith("$", self.pos):
                raise FilterPatternError()
            self.pos += 1
            steps: list[str | int] = []
            while (step := _SELECTOR_STEP.match(self.text, self.pos)) is not None:
                steps.append(step.group(1) if step.group(1) is not None else int(step.group(2)))
                self.pos = step.end()
            if not steps:
                raise FilterPatternError()
            return tuple(steps)
        name = _NAME.match(self.text, self.pos)
        if name is None:
            raise FilterPatternError()
        self.pos = name.end()
        if self.first_name is None:
            self.first_name = name.group()
        return name.group()

    def _literal(self, op: str) -> Literal:
        self._skip()
        if self.text.startswith('"', self.pos):
            text, self.pos = _read_quoted(self.text, self.pos)
            literal: Literal = _Text(text)
        elif self.text.startswith("%", self.pos):
            end = self.text.find("%", self.pos + 1)
            if end < 0:
                raise FilterPatternError()
            literal = _Regex(_compile_regex(self.text[self.pos + 1 : end]))
            self.pos = end + 1
        else:
            bare = _BARE_VALUE.match(self.text, self.pos)
            if bare is None:
                raise FilterPatternError()
            self.pos = bare.end()
            text = bare.group()
            literal = _Number(float(text), text) if _NUMBER.fullmatch(text) else _Text(text)
        if op in ("<", ">", "<=", ">=") and not isinstance(literal, _Number):
            raise FilterPatternError()
        return literal


def _is(key: Any, word: str) -> Expression:
    if word == "NULL":
        return lambda resolve: resolve(key) is None
    expected = word == "TRUE"
    return lambda resolve: resolve(key) is expected


def _compare(key: Any, op: str, literal: Literal) -> Expression:
    def evaluate(resolve: Resolver) -> bool:
        value = resolve(key)
        if op in ("=", "!="):
            equal = _equals(value, literal)
            return equal is not None and equal == (op == "=")
        number = _as_number(value)
        # The parser only lets a number literal follow an ordering operator.
        return number is not None and _ORDERINGS[op](number, literal.value)

    return evaluate


def _as_number(value: Any) -> float | None:
    """A JSON number, or a numeric space-delimited field; None otherwise."""
    if isinstance(value, bool) or value is None or value is _MISSING:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return float(value)
    return None


def _equals(value: Any, literal: Literal) -> bool | None:
    """Whether ``value`` equals ``literal``; None when they cannot be compared
    (missing, null, an array or an object), so that ``!=`` does not match either."""
    if value is _MISSING or value is None or isinstance(value, dict | list):
        return None
    if isinstance(literal, _Number):
        number = _as_number(value)
        if number is not None:
            return number == literal.value
        return _scalar_text(value) == literal.text
    return literal.matches(_scalar_text(value))


def _scalar_text(value: Any) -> str:
    """Strings as they are; numbers and booleans as their JSON text."""
    return value if isinstance(value, str) else json.dumps(value)


# -- JSON patterns -------------------------------------------------------------------


@dataclass(frozen=True)
class _JsonPattern(Pattern):
    expression: Expression

    def match(self, message: str) -> Extracted | None:
        try:
            document = json.loads(message)
        except ValueError:
            return None
        return {} if self.expression(lambda steps: _select(document, steps)) else None


def _select(document: Any, steps: tuple[str | int, ...]) -> Any:
    node = document
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return _MISSING
        elif not isinstance(node, dict) or step not in node:
            return _MISSING
        node = node[step]
    return node


# -- space-delimited patterns --------------------------------------------------------

_ELLIPSIS = "..."


@dataclass(frozen=True)
class _Entry:
    """One comma-separated entry: a field (named or not) and its conditions."""

    name: str | None
    condition: Expression | None


@dataclass(frozen=True)
class _SpacePattern(Pattern):
    entries: tuple[_Entry | str, ...]  # _ELLIPSIS marks "any number of fields"

    def match(self, message: str) -> Extracted | None:
        fields = split_fields(message)
        for assignment in _assignments(self.entries, len(fields), 0, 0):
            bound = {
                entry.name: fields[index]
                for entry, index in assignment
                if isinstance(entry, _Entry) and entry.name is not None
            }
            resolve = _resolver(bound)
            if all(
                entry.condition is None or entry.condition(resolve)
                for entry, _ in assignment
                if isinstance(entry, _Entry)
            ):
                return _extracted(assignment, fields)
        return None


def _resolver(bound: dict[str, str]) -> Resolver:
    return lambda name: bound.get(name, _MISSING)


def _assignments(entries: tuple, count: int, i: int, j: int):
    """Every way to give each entry a field index (ellipses taking any run of fields)."""
    if i == len(entries):
        if j == count:
            yield []
        return
    entry = entries[i]
    if entry == _ELLIPSIS:
        for k in range(j, count + 1):
            for rest in _assignments(entries, count, i + 1, k):
                yield [(_ELLIPSIS, index) for index in range(j, k)] + rest
        return
    if j < count:
        for rest in _assignments(entries, count, i + 1, j + 1):
            yield [(entry, j), *rest]


def _extracted(assignment: list, fields: list[str]) -> Extracted:
    values: Extracted = {}
    for entry, index in assignment:
        named = isinstance(entry, _Entry) and entry.name is not None
        values[f"${entry.name}" if named else f"${index + 1}"] = fields[index]
    return values


def split_fields(message: str) -> list[str]:
    """Whitespace-separated fields; ``"..."`` and ``[...]`` are one field each."""
    fields: list[str] = []
    pos, length = 0, len(message)
    while pos < length:
        char = message[pos]
        if char.isspace():
            pos += 1
            continue
        closing = {'"': '"', "[": "]"}.get(char)
        if closing is not None:
            end = message.find(closing, pos + 1)
            end = length if end < 0 else end
            fields.append(message[pos + 1 : end])
            pos = end + 1
            continue
        end = pos
        while end < length and not message[end].isspace():
            end += 1
        fields.append(message[pos:end])
        pos = end
    return fields


def _parse_space_entries(body: str) -> tuple[_Entry | str, ...]:
    entries: list[_Entry | str] = []
    for raw in _split_entries(body):
        text = raw.strip()
        if text in (_ELLIPSIS, "\u2026"):
            entries.append(_ELLIPSIS)
        elif not text:
            entries.append(_Entry(None, None))
        else:
            parser = _Parser(text, json_mode=False)
            condition = parser.parse_expression()
            entries.append(_Entry(parser.first_name, condition))
    return tuple(entries)


def _split_entries(body: str) -> list[str]:
    """Split on commas outside quotes, regexes and parentheses."""
    parts: list[str] = []
    depth, start, pos = 0, 0, 0
    while pos < len(body):
        char = body[pos]
        if char == '"':
            _, pos = _read_quoted(body, pos)
            continue
        if char == "%":
            end = body.find("%", pos + 1)
            if end < 0:
                raise FilterPatternError()
            pos = end + 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:pos])
            start = pos + 1
        pos += 1
    parts.append(body[start:])
    return parts
