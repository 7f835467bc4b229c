"""Parsing DynamoDB expressions into trees (evaluation is ``evaluate.py``).

One parser serves the five kinds (ConditionExpression, KeyConditionExpression,
FilterExpression, UpdateExpression, ProjectionExpression). Placeholders are resolved
while parsing: ``#name`` from ExpressionAttributeNames, ``:value`` from
ExpressionAttributeValues, and the ones used are recorded in ``Placeholders`` so the
request can refuse unused ones afterwards, as AWS does. Errors are AWS's
ValidationException texts, naming the offending token.

Grammar (AWS's "Comparison operator and function reference", "Update expressions"):

    condition  := or ;  or := and (OR and)* ;  and := not (AND not)*
    not        := NOT not | primary
    primary    := '(' condition ')' | function '(' operands ')'
                | operand (comparator operand | BETWEEN operand AND operand
                           | IN '(' operand (',' operand)* ')')
    operand    := path | :value | size '(' path ')'
    path       := (name | #name) ('.' (name | #name) | '[' digits ']')*
    update     := (SET set (',' set)* | REMOVE path (',' path)*
                   | ADD path :value (',' ...)* | DELETE path :value (',' ...)*)+
    set        := path '=' term (('+' | '-') term)?
    term       := operand | if_not_exists '(' path ',' term ')'
                | list_append '(' term ',' term ')'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sandlot.services.dynamodb.errors import validation
from sandlot.services.dynamodb.expressions.reserved import RESERVED

# -- trees -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Path:
    elements: tuple  # str (attribute name) or int (list index)

    def __str__(self) -> str:  # AWS's rendering in messages: [a, b, [0]]
        return "[" + ", ".join(f"[{e}]" if isinstance(e, int) else e for e in self.elements) + "]"


@dataclass(frozen=True, slots=True)
class Value:
    name: str  # ":v"
    value: dict


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: object
    right: object


@dataclass(frozen=True, slots=True)
class Between:
    subject: object
    low: object
    high: object


@dataclass(frozen=True, slots=True)
class In:
    subject: object
    options: tuple


@dataclass(frozen=True, slots=True)
class And:
    left: object
    right: object


@dataclass(frozen=True, slots=True)
class Or:
    left: object
    right: object


@dataclass(frozen=True, slots=True)
class Not:
    operand: object


@dataclass(frozen=True, slots=True)
class Arith:
    op: str  # "+" or "-"
    left: object
    right: object


@dataclass(frozen=True, slots=True)
class Update:
    sets: tuple = ()  # (Path, value tree)
    removes: tuple = ()  # Path
    adds: tuple = ()  # (Path, Value)
    deletes: tuple = ()  # (Path, Value)


@dataclass
class Placeholders:
    """A request's ExpressionAttributeNames/Values and which of them its expressions use."""

    names: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    used_names: set = field(default_factory=set)
    used_values: set = field(default_factory=set)

    def check_unused(self) -> None:
        unused = [v for v in self.values if v not in self.used_values]
        if unused:
            raise validation(
                "Value provided in ExpressionAttributeValues unused in expressions: "
                f"keys: {{{', '.join(unused)}}}"
            )
        unused = [n for n in self.names if n not in self.used_names]
        if unused:
            raise validation(
                "Value provided in ExpressionAttributeNames unused in expressions: "
                f"keys: {{{', '.join(unused)}}}"
            )


# -- tokens ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<alias>#[A-Za-z0-9_]+)"
    r"|(?P<value>:[A-Za-z0-9_]+)|(?P<int>[0-9]+)|(?P<op><>|<=|>=|[=<>()\[\],.+\-]))"
)
_SPACE = re.compile(r"\s*")
EOF = "<EOF>"

CONDITION_FUNCTIONS = {  # name -> number of arguments
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
}
UPDATE_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
FUNCTIONS = {**CONDITION_FUNCTIONS, **UPDATE_FUNCTIONS, "size": 1}
COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
MAX_IN_OPERANDS = 100


@dataclass(slots=True)
class _Token:
    kind: str  # name, alias, value, int, op, eof
    text: str
    start: int


def _tokens(text: str, kind: str) -> list[_Token]:
    out, pos = [], 0
    while True:
        pos = _SPACE.match(text, pos).end()
        if pos >= len(text):
            out.append(_Token("eof", EOF, pos))
            return out
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos]
            near = text[max(0, pos - 1) : pos + 2].strip() or bad
            raise validation(f'Invalid {kind}: Syntax error; token: "{bad}", near: "{near}"')
        group = m.lastgroup
        out.append(_Token(group, m.group(group), m.start(group)))
        pos = m.end()


class Parser:
    """Parses one expression of ``kind`` (AWS's parameter name, used in messages)."""

    def __init__(self, text: str, kind: str, placeholders: Placeholders) -> None:
        self.text = text
        self.kind = kind
        self.ph = placeholders
        if not text.strip():
            raise validation(f"Invalid {kind}: The expression can not be empty;")
        self.tokens = _tokens(text, kind)
        self.i = 0

    # -- token helpers ---------------------------------------------------------------

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def keyword(self, word: str) -> bool:
        return self.tok.kind == "name" and self.tok.text.upper() == word

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        if self.tok.kind != "op" or self.tok.text != text:
            self.syntax_error()
        self.i += 1

    def syntax_error(self):
        tok = self.tok
        prev = self.tokens[self.i - 1] if self.i else None
        start = prev.start if prev is not None else tok.start
        end = tok.start + (0 if tok.kind == "eof" else len(tok.text))
        near = self.text[start:end]
        raise validation(f'Invalid {self.kind}: Syntax error; token: "{tok.text}", near: "{near}"')

    def error(self, detail: str):
        raise validation(f"Invalid {self.kind}: {detail}")

    def done(self) -> None:
        if self.tok.kind != "eof":
            self.syntax_error()

    # -- placeholders ----------------------------------------------------------------

    def name(self, tok: _Token) -> str:
        if tok.kind == "alias":
            if tok.text not in self.ph.names:
                self.error(
                    "An expression attribute name used in the document path is not defined; "
                    f"attribute name: {tok.text}"
                )
            self.ph.used_names.add(tok.text)
            return self.ph.names[tok.text]
        if tok.text.upper() in RESERVED:
            self.error(f"Attribute name is a reserved keyword; reserved keyword: {tok.text}")
        return tok.text

    def value(self, tok: _Token) -> Value:
        if tok.text not in self.ph.values:
            self.error(
                "An expression attribute value used in expression is not defined; "
                f"attribute value: {tok.text}"
            )
        self.ph.used_values.add(tok.text)
        return Value(tok.text, self.ph.values[tok.text])

    # -- paths and operands --------------------------------------------------------------

    def path(self) -> Path:
        tok = self.tok
        if tok.kind not in ("name", "alias"):
            self.syntax_error()
        self.i += 1
        elements: list = [self.name(tok)]
        while self.tok.kind == "op" and self.tok.text in (".", "["):
            if self.next().text == ".":
                tok = self.tok
                if tok.kind not in ("name", "alias"):
                    self.syntax_error()
                self.i += 1
                elements.append(self.name(tok))
            else:
                if self.tok.kind != "int":
                    self.syntax_error()
                elements.append(int(self.next().text))
                self.expect("]")
        return Path(tuple(elements))

    def is_call(self) -> bool:
        nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
        return self.tok.kind == "name" and nxt is not None and nxt.text == "("

    def call(self, allowed: dict[str, int]) -> Call:
        name = self.next().text
        if name not in FUNCTIONS:
            self.error(f"Invalid function name; function: {name}")
        if name not in allowed:
            self.error(f"The function is not allowed to be used this way in an expression; "
                       f"function: {name}")  # fmt: skip
        self.expect("(")
        args = []
        if not (self.tok.kind == "op" and self.tok.text == ")"):
            args.append(self.term() if name in UPDATE_FUNCTIONS else self.operand())
            while self.tok.kind == "op" and self.tok.text == ",":
                self.i += 1
                args.append(self.term() if name in UPDATE_FUNCTIONS else self.operand())
        self.expect(")")
        if len(args) != FUNCTIONS[name]:
            self.error(
                "Incorrect number of operands for operator or function; operator or "
                f"function: {name}, number of operands: {len(args)}"
            )
        needs_path = name not in ("list_append",)
        if needs_path and not isinstance(args[0], Path):
            self.error(
                f"Operator or function requires a document path; operator or function: {name}"
            )
        if name == "attribute_type" and not isinstance(args[1], Value):
            self.error("Incorrect operand type for operator or function; operator or function: "
                       "attribute_type, operand type: PATH")  # fmt: skip
        return Call(name, tuple(args))

    def operand(self):
        tok = self.tok
        if tok.kind == "value":
            self.i += 1
            return self.value(tok)
        if self.is_call():
            return self.call({"size": 1})
        if tok.kind in ("name", "alias"):
            return self.path()
        self.syntax_error()

    def term(self):
        """An operand of SET: also if_not_exists and list_append."""
        if self.is_call():
            return self.call({**UPDATE_FUNCTIONS})
        return self.operand()

    # -- conditions ----------------------------------------------------------------------

    def condition(self):
        tree = self._or()
        self.done()
        return tree

    def _or(self):
        left = self._and()
        while self.keyword("OR"):
            self.i += 1
            left = Or(left, self._and())
        return left

    def _and(self):
        left = self._not()
        while self.keyword("AND"):
            self.i += 1
            left = And(left, self._not())
        return left

    def _not(self):
        if self.keyword("NOT"):
            self.i += 1
            return Not(self._not())
        return self._primary()

    def _primary(self):
        tok = self.tok
        if tok.kind == "op" and tok.text == "(":
            self.i += 1
            inner = self._or()
            self.expect(")")
            return inner
        if self.is_call() and tok.text != "size":
            return self.call(CONDITION_FUNCTIONS)
        left = self.operand()
        if self.tok.kind == "op" and self.tok.text in COMPARATORS:
            op = self.next().text
            return Compare(op, left, self.operand())
        if self.keyword("BETWEEN"):
            self.i += 1
            low = self.operand()
            if not self.keyword("AND"):
                self.syntax_error()
            self.i += 1
            return Between(left, low, self.operand())
        if self.keyword("IN"):
            self.i += 1
            self.expect("(")
            options = [self.operand()]
            while self.tok.kind == "op" and self.tok.text == ",":
                self.i += 1
                options.append(self.operand())
            self.expect(")")
            if len(options) > MAX_IN_OPERANDS:
                self.error("The IN operator is provided with too many operands; "
                           f"number of operands: {len(options)}")  # fmt: skip
            return In(left, tuple(options))
        self.syntax_error()

    # -- update and projection -------------------------------------------------------------

    def update(self) -> Update:
        clauses: dict[str, list] = {}
        while self.tok.kind != "eof":
            if self.tok.kind != "name" or self.tok.text.upper() not in (
                "SET", "REMOVE", "ADD", "DELETE"
            ):  # fmt: skip
                self.syntax_error()
            clause = self.next().text.upper()
            if clause in clauses:
                self.error(f'The "{clause}" section can only be used once in an update '
                           "expression;")  # fmt: skip
            actions = clauses[clause] = [self._action(clause)]
            while self.tok.kind == "op" and self.tok.text == ",":
                self.i += 1
                actions.append(self._action(clause))
        update = Update(
            tuple(clauses.get("SET", ())),
            tuple(clauses.get("REMOVE", ())),
            tuple(clauses.get("ADD", ())),
            tuple(clauses.get("DELETE", ())),
        )
        _check_overlaps(self, update)
        return update

    def _action(self, clause: str):
        path = self.path()
        if clause == "REMOVE":
            return path
        if clause == "SET":
            self.expect("=")
            value = self.term()
            if self.tok.kind == "op" and self.tok.text in ("+", "-"):
                op = self.next().text
                value = Arith(op, value, self.term())
            return (path, value)
        tok = self.tok
        if tok.kind != "value":
            self.syntax_error()
        self.i += 1
        return (path, self.value(tok))

    def projection(self) -> tuple[Path, ...]:
        paths = [self.path()]
        while self.tok.kind == "op" and self.tok.text == ",":
            self.i += 1
            paths.append(self.path())
        self.done()
        return tuple(paths)


def _check_overlaps(parser: Parser, update: Update) -> None:
    """AWS refuses an update whose actions touch overlapping paths (one a prefix of
    another, or the same path twice)."""
    paths = [p for p, _ in update.sets] + list(update.removes)
    paths += [p for p, _ in update.adds] + [p for p, _ in update.deletes]
    for i, one in enumerate(paths):
        for two in paths[i + 1 :]:
            n = min(len(one.elements), len(two.elements))
            if one.elements[:n] == two.elements[:n]:
                parser.error(
                    "Two document paths overlap with each other; must remove or rewrite one "
                    f"of these paths; path one: {one}, path two: {two}"
                )


# -- entry points ------------------------------------------------------------------------


def parse_condition(text: str, kind: str, placeholders: Placeholders):
    return Parser(text, kind, placeholders).condition()


def parse_update(text: str, placeholders: Placeholders) -> Update:
    parser = Parser(text, "UpdateExpression", placeholders)
    return parser.update()


def parse_projection(text: str, placeholders: Placeholders) -> tuple[Path, ...]:
    return Parser(text, "ProjectionExpression", placeholders).projection()
