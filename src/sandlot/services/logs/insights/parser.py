"""Parsing CloudWatch Logs Insights queries (the ``CWLI`` language) into commands.

A query is commands separated by ``|``: ``fields``, ``display``, ``filter``,
``parse``, ``stats``, ``sort``, ``limit``, ``dedup``; ``#`` starts a comment.
Expressions are trees of tuples, evaluated by ``evaluate.py``:

    ("lit", value) | ("field", name) | ("call", name, [args]) | ("op", op, left, right)
    ("not", expr) | ("neg", expr) | ("in", expr, [values], negated)
    ("like", expr, pattern, negated)   pattern: ("regex", compiled) or ("text", str)
    ("star",)  (count(*))

Errors are ``QueryError`` with the offending position, as AWS's
``MalformedQueryException`` reports them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

COMMANDS = ("fields", "display", "filter", "parse", "stats", "sort", "limit", "dedup")
MAX_LIMIT = 10_000

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|s|m|h|d|w|mo|q|y)?\b)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<regex>/(?:[^/\\\n]|\\.)+/[a-z]*)
  | (?P<quoted>`[^`]+`)
  | (?P<name>@?[A-Za-z_][\w.\-@]*(?<![.\-]))
  | (?P<op><=|>=|!=|=~|[=<>+\-*/%^(),|\[\]])
    """,
    re.VERBOSE,
)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800,
          "mo": 2592000, "q": 7776000, "y": 31536000}  # fmt: skip


class QueryError(Exception):
    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.message, self.start, self.end = message, start, end


@dataclass
class Token:
    kind: str
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass
class Command:
    name: str
    # fields/display/dedup: [(expr, alias)]; filter: expr; parse: (source, pattern, names)
    # stats: ([(agg expr, alias)], [(group expr, alias)]); sort: [(expr, descending)]
    # limit: int
    args: object = None
    start: int = 0


@dataclass
class Query:
    commands: list[Command] = field(default_factory=list)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise QueryError(f"unexpected symbol found {text[pos]!r}", pos, pos + 1)
        kind = match.lastgroup
        # "/" divides after a value (a number, a field, ")"), starts a regex elsewhere.
        after_parse = len(tokens) >= 2 and tokens[-2].text.lower() == "parse"
        if kind == "regex" and tokens and _ends_value(tokens[-1]) and not after_parse:
            match = re.compile(r"/").match(text, pos)
            kind = "op"
        if kind != "ws":
            tokens.append(Token(kind, match.group(0), pos))
        pos = match.end()
    return tokens


_KEYWORDS = frozenset({*COMMANDS, "like", "and", "or", "not", "in", "by", "as", "asc", "desc"})


def _ends_value(token: Token) -> bool:
    if token.kind in ("number", "quoted", "string"):
        return True
    if token.kind == "name":
        return token.text.lower() not in _KEYWORDS
    return token.text in (")", "]")


def duration_seconds(text: str) -> float | None:
    """``5m`` → 300.0; None when ``text`` is a plain number."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|mo|q|y)", text)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else None


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- token helpers --------------------------------------------------------------

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.text.lower() in texts and token.kind in ("op", "name")

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise QueryError("unexpected end of query", len(self.text), len(self.text))
        self.i += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.peek()
        if token is None or token.text.lower() != text:
            where = token.start if token else len(self.text)
            found = repr(token.text) if token else "end of query"
            raise QueryError(f"expected {text!r} but found {found}", where, where + 1)
        return self.take()

    def error(self, message: str) -> QueryError:
        token = self.peek()
        where = token.start if token else len(self.text)
        return QueryError(message, where, token.end if token else where)

    # -- query ----------------------------------------------------------------------

    def query(self) -> Query:
        query = Query()
        if not self.tokens:
            raise QueryError("the query is empty", 0, 0)
        while True:
            query.commands.append(self.command())
            if self.peek() is None:
                return query
            self.expect("|")

    def command(self) -> Command:
        token = self.take()
        name = token.text.lower()
        if token.kind != "name" or name not in COMMANDS:
            raise QueryError(f"unexpected symbol found {token.text}", token.start, token.end)
        parse = getattr(self, f"cmd_{name}")
        return Command(name, parse(), token.start)

    def _list(self, item) -> list:
        items = [item()]
        while self.at(","):
            self.take()
            items.append(item())
        return items

    def _aliased(self) -> tuple:
        """An expression and its column name: the alias, else the expression as written
        (``count(*)``, ``bin(5m)``), as Insights names result columns."""
        start = self.peek().start if self.peek() else len(self.text)
        expr = self.expr()
        alias = None
        if self.at("as"):
            self.take()
            alias = self.name()
        elif expr[0] != "field":
            alias = self.text[start : self.tokens[self.i - 1].end]
        return expr, alias

    def name(self) -> str:
        token = self.take()
        if token.kind == "quoted":
            return token.text[1:-1]
        if token.kind != "name":
            raise QueryError(f"expected a field name, found {token.text}", token.start, token.end)
        return token.text

    def cmd_fields(self) -> list:
        return self._list(self._aliased)

    cmd_display = cmd_fields

    def cmd_dedup(self) -> list:
        return self._list(self.name)

    def cmd_filter(self):
        return self.expr()

    def cmd_limit(self) -> int:
        token = self.take()
        if (
            token.kind != "number"
            or not token.text.isdigit()
            or not 0 < int(token.text) <= MAX_LIMIT
        ):
            raise QueryError(
                f"limit must be an integer between 1 and {MAX_LIMIT}", token.start, token.end
            )
        return int(token.text)

    def cmd_sort(self) -> list:
        def one():
            expr = self.expr()
            descending = False
            if self.at("asc", "desc"):
                descending = self.take().text.lower() == "desc"
            return expr, descending

        return self._list(one)

    def cmd_parse(self):
        source = ("field", "@message")
        if not (self.peek() and self.peek().kind in ("string", "regex")):
            source = self.expr_primary()
        token = self.take()
        if token.kind == "regex":
            pattern, flags = token.text[1:].rsplit("/", 1)
            try:
                compiled = re.compile(_python_regex(pattern), _flags(flags))
            except re.error as exc:
                raise QueryError(f"invalid regex: {exc}", token.start, token.end) from None
            if not compiled.groupindex:
                raise QueryError(
                    "parse with a regular expression needs named groups (?<name>...)",
                    token.start,
                    token.end,
                )
            return source, ("regex", compiled), list(compiled.groupindex)
        if token.kind != "string":
            raise QueryError("parse needs a pattern", token.start, token.end)
        glob = _unquote(token.text)
        self.expect("as")
        names = self._list(self.name)
        parts = glob.split("*")
        if len(parts) - 1 != len(names):
            raise QueryError(
                "the number of fields in 'as' must match the wildcards of the pattern",
                token.start,
                token.end,
            )
        regex = "".join(
            re.escape(part) + ("(.*?)" if i < len(parts) - 1 else "")
            for i, part in enumerate(parts)
        )
        return source, ("glob", re.compile(regex, re.S)), names

    def cmd_stats(self):
        aggregates = self._list(self._aliased)
        groups = []
        if self.at("by"):
            self.take()
            groups = self._list(self._aliased)
        return aggregates, groups

    # -- expressions (precedence climbing) ------------------------------------------

    def expr(self):
        return self.expr_or()

    def expr_or(self):
        left = self.expr_and()
        while self.at("or"):
            self.take()
            left = ("op", "or", left, self.expr_and())
        return left

    def expr_and(self):
        left = self.expr_not()
        while self.at("and"):
            self.take()
            left = ("op", "and", left, self.expr_not())
        return left

    def expr_not(self):
        if self.at("not"):
            self.take()
            return ("not", self.expr_not())
        return self.expr_compare()

    def expr_compare(self):
        left = self.expr_sum()
        if self.at("=", "!=", "<", "<=", ">", ">="):
            op = self.take().text
            return ("op", op, left, self.expr_sum())
        negated = False
        if self.at("not") and self.peek(1) and self.peek(1).text.lower() in ("like", "in"):
            self.take()
            negated = True
        if self.at("like", "=~"):
            self.take()
            return ("like", left, self.pattern(), negated)
        if self.at("in"):
            self.take()
            self.expect("[")
            values = [] if self.at("]") else self._list(self.expr_sum)
            self.expect("]")
            return ("in", left, values, negated)
        return left

    def pattern(self):
        token = self.take()
        if token.kind == "regex":
            pattern, flags = token.text[1:].rsplit("/", 1)
            try:
                return ("regex", re.compile(_python_regex(pattern), _flags(flags)))
            except re.error as exc:
                raise QueryError(f"invalid regex: {exc}", token.start, token.end) from None
        if token.kind == "string":
            return ("text", _unquote(token.text))
        raise QueryError("like needs a string or a /regex/", token.start, token.end)

    def expr_sum(self):
        left = self.expr_product()
        while self.at("+", "-"):
            op = self.take().text
            left = ("op", op, left, self.expr_product())
        return left

    def expr_product(self):
        left = self.expr_power()
        while self.at("*", "/", "%"):
            op = self.take().text
            left = ("op", op, left, self.expr_power())
        return left

    def expr_power(self):
        left = self.expr_unary()
        if self.at("^"):
            self.take()
            return ("op", "^", left, self.expr_power())
        return left

    def expr_unary(self):
        if self.at("-"):
            self.take()
            return ("neg", self.expr_unary())
        return self.expr_primary()

    def expr_primary(self):
        token = self.take()
        if token.kind == "number":
            seconds = duration_seconds(token.text)
            if seconds is not None:
                return ("lit", ("duration", seconds))
            value = float(token.text)
            return ("lit", int(value) if value.is_integer() and "." not in token.text else value)
        if token.kind == "string":
            return ("lit", _unquote(token.text))
        if token.kind == "quoted":
            return ("field", token.text[1:-1])
        if token.text == "(":
            inner = self.expr()
            self.expect(")")
            return inner
        if token.text == "*":
            return ("star",)
        if token.kind == "name":
            if self.at("("):
                self.take()
                args = [] if self.at(")") else self._list(self.expr)
                self.expect(")")
                return ("call", token.text.lower(), args)
            lowered = token.text.lower()
            if lowered in ("true", "false"):
                return ("lit", lowered == "true")
            return ("field", token.text)
        raise QueryError(f"unexpected symbol found {token.text}", token.start, token.end)


def _python_regex(pattern: str) -> str:
    """Insights regexes name groups ``(?<name>…)``; Python spells them ``(?P<name>…)``."""
    return re.sub(r"\(\?<(?![=!])", "(?P<", pattern.replace("\\/", "/"))


def _flags(text: str) -> int:
    return re.IGNORECASE if "i" in text else 0


def parse_query(text: str) -> Query:
    """The query's commands; QueryError with AWS-like wording and a position."""
    return _Parser(text).query()
