"""Metric math: GetMetricData's ``Expression`` (and metric math alarms).

A time series is a list of floats (NaN where there is no datapoint) on the query's
grid of timestamps; an expression evaluates to a scalar, a series, or an array of
(label, series). Served: numbers, query ids, ``+ - * / ^``, comparisons (1/0),
``AND``/``OR``, parentheses, and the functions ABS, AVG, CEIL, DIFF, FILL, FLOOR, IF,
MAX, METRICS, MIN, RATE, SUM, SEARCH (a simple ``{namespace,dims} MetricName="x"``
form). Anything else is AWS's ValidationError naming the expression.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from sandlot.protocol import ServiceError

NAN = float("nan")
Series = list[float]
Array = list[tuple[str, Series]]
Value = Union[float, Series, Array]  # noqa: UP007 (a runtime alias)

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<str>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')|(?P<op><=|>=|==|!=|[-+*/^(),<>]))"
)


def error(query_id: str, detail: str) -> ServiceError:
    return ServiceError("ValidationError", f"Error in expression {query_id}: {detail}")


@dataclass(slots=True)
class Context:
    """What an expression can see: the grid, the other queries' results, and a search."""

    timestamps: list[int]
    period: int
    results: dict[str, Value]
    labels: dict[str, str]
    search: Callable[[str, str, int], Array]
    stat_ids: list[str]  # the MetricStat queries, in request order: what METRICS() sees


def tokens(text: str, query_id: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise error(query_id, f"Unrecognized character at position {pos}")
        kind = match.lastgroup or "op"
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def references(text: str, query_id: str) -> set[str]:
    """The query ids an expression names (outside function calls' names)."""
    toks = tokens(text, query_id)
    found = set()
    for i, (kind, value) in enumerate(toks):
        following = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "name" and following != "(" and value.upper() not in ("AND", "OR"):
            found.add(value)
    return found


class Parser:
    """Recursive descent over the tokens, evaluating as it goes."""

    def __init__(self, text: str, query_id: str, ctx: Context) -> None:
        self.toks = tokens(text, query_id)
        self.pos = 0
        self.id = query_id
        self.ctx = ctx

    def fail(self, detail: str) -> ServiceError:
        return error(self.id, detail)

    def peek(self) -> str | None:
        return self.toks[self.pos][1] if self.pos < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.toks):
            raise self.fail("Unexpected end of expression")
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def expect(self, op: str) -> None:
        kind, value = self.take()
        if value != op:
            raise self.fail(f"Expected '{op}' but found '{value}'")

    def run(self) -> Value:
        value = self.logical()
        if self.pos != len(self.toks):
            raise self.fail(f"Unexpected token '{self.toks[self.pos][1]}'")
        return value

    def logical(self) -> Value:
        left = self.comparison()
        while (self.peek() or "").upper() in ("AND", "OR"):
            op = self.take()[1].upper()
            right = self.comparison()
            if op == "AND":
                left = combine(left, right, lambda a, b: float(bool(a) and bool(b)), self)
            else:
                left = combine(left, right, lambda a, b: float(bool(a) or bool(b)), self)
        return left

    def comparison(self) -> Value:
        left = self.additive()
        while self.peek() in ("<", ">", "<=", ">=", "==", "!="):
            op = self.take()[1]
            right = self.additive()
            left = combine(left, right, _COMPARE[op], self)
        return left

    def additive(self) -> Value:
        left = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            right = self.term()
            left = combine(left, right, (lambda a, b: a + b) if op == "+" else _sub, self)
        return left

    def term(self) -> Value:
        left = self.power()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            right = self.power()
            left = combine(left, right, _mul if op == "*" else _div, self)
        return left

    def power(self) -> Value:
        base = self.unary()
        if self.peek() == "^":
            self.take()
            exponent = self.power()
            return combine(base, exponent, _pow, self)
        return base

    def unary(self) -> Value:
        if self.peek() == "-":
            self.take()
            return combine(0.0, self.unary(), _sub, self)
        return self.primary()

    def primary(self) -> Value:
        kind, value = self.take()
        if kind == "num":
            return float(value)
        if value == "(":
            inner = self.logical()
            self.expect(")")
            return inner
        if kind == "str":
            raise self.fail(f"Unexpected string {value}")
        if kind == "name":
            if self.peek() == "(":
                return self.call(value.upper())
            if value not in self.ctx.results:
                raise self.fail(f"Unrecognized metric or expression id '{value}'")
            return self.ctx.results[value]
        raise self.fail(f"Unexpected token '{value}'")

    def arguments(self) -> list[Any]:
        self.expect("(")
        args: list[Any] = []
        if self.peek() == ")":
            self.take()
            return args
        while True:
            kind, value = self.toks[self.pos] if self.pos < len(self.toks) else ("", "")
            if kind == "str":
                self.take()
                args.append(("str", value[1:-1]))
            elif kind == "name" and value.upper() in ("REPEAT", "LINEAR") and self.is_arg_end(1):
                self.take()
                args.append(("word", value.upper()))
            else:
                args.append(self.logical())
            if self.peek() == ",":
                self.take()
                continue
            self.expect(")")
            return args

    def is_arg_end(self, offset: int) -> bool:
        index = self.pos + offset
        return index < len(self.toks) and self.toks[index][1] in (",", ")")

    def call(self, name: str) -> Value:
        args = self.arguments()
        handler = _FUNCTIONS.get(name)
        if handler is None:
            raise self.fail(f"Unknown function {name}")
        return handler(self, args)


# -- element-wise arithmetic ----------------------------------------------------------------


def _sub(a: float, b: float) -> float:
    return a - b


def _mul(a: float, b: float) -> float:
    return a * b


def _div(a: float, b: float) -> float:
    return a / b if b else NAN


def _pow(a: float, b: float) -> float:
    try:
        return float(a**b) if not isinstance(a**b, complex) else NAN
    except (OverflowError, ZeroDivisionError):
        return NAN


_COMPARE: dict[str, Callable[[float, float], float]] = {
    "<": lambda a, b: float(a < b),
    ">": lambda a, b: float(a > b),
    "<=": lambda a, b: float(a <= b),
    ">=": lambda a, b: float(a >= b),
    "==": lambda a, b: float(a == b),
    "!=": lambda a, b: float(a != b),
}


def _elementwise(a: float | Series, b: float | Series, op: Callable) -> float | Series:
    if isinstance(a, float) and isinstance(b, float):
        return op(a, b)
    n = len(a) if isinstance(a, list) else len(b)  # type: ignore[arg-type]
    left = a if isinstance(a, list) else [a] * n
    right = b if isinstance(b, list) else [b] * n
    return [NAN if (x != x or y != y) else op(x, y) for x, y in zip(left, right, strict=True)]


def is_array(value: Value) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], tuple)


def combine(a: Value, b: Value, op: Callable, parser: Parser) -> Value:
    """A binary operator over scalars, series and (one side) arrays, as metric math does."""
    if is_array(a) and is_array(b):
        raise parser.fail("Binary operations between two arrays of time series are not supported")
    if is_array(a):
        return [(label, _elementwise(s, b, op)) for label, s in a]  # type: ignore[misc]
    if is_array(b):
        return [(label, _elementwise(a, s, op)) for label, s in b]  # type: ignore[misc]
    return _elementwise(a, b, op)  # type: ignore[arg-type]


# -- functions ------------------------------------------------------------------------------


def _one(parser: Parser, args: list, name: str) -> Value:
    if len(args) != 1 or isinstance(args[0], tuple):
        raise parser.fail(f"Invalid number of arguments for function {name}")
    return args[0]


def _reduce(name: str, fold: Callable[[list[float]], float]) -> Callable[[Parser, list], Value]:
    """SUM/AVG/MIN/MAX: an array → one series (per timestamp across the array); one series
    → a scalar (over its datapoints), as AWS's metric math defines them."""

    def apply(parser: Parser, args: list) -> Value:
        value = _one(parser, args, name)
        if is_array(value):
            columns = zip(*(s for _, s in value), strict=True)  # type: ignore[misc]
            out = []
            for column in columns:
                present = [x for x in column if x == x]
                out.append(fold(present) if present else NAN)
            return out
        if isinstance(value, list):
            present = [x for x in value if x == x]
            return fold(present) if present else NAN
        return value

    return apply


def _map(name: str, fn: Callable[[float], float]) -> Callable[[Parser, list], Value]:
    def apply(parser: Parser, args: list) -> Value:
        value = _one(parser, args, name)
        return combine(value, 0.0, lambda a, _b: fn(a), parser)

    return apply


def _per_series(fn: Callable[[Series, int], Series], name: str) -> Callable[[Parser, list], Value]:
    def apply(parser: Parser, args: list) -> Value:
        value = _one(parser, args, name)
        if is_array(value):
            return [(label, fn(s, parser.ctx.period)) for label, s in value]  # type: ignore[misc]
        if isinstance(value, list):
            return fn(value, parser.ctx.period)
        raise parser.fail(f"Function {name} expects a time series")

    return apply


def _diff(series: Series, _period: int) -> Series:
    out, previous = [], NAN
    for x in series:
        out.append(x - previous if x == x and previous == previous else NAN)
        if x == x:
            previous = x
    return out


def _rate(series: Series, period: int) -> Series:
    # Change per second between consecutive datapoints (AWS: RATE).
    out, previous, gap = [], NAN, 0
    for x in series:
        gap += period
        out.append((x - previous) / gap if x == x and previous == previous else NAN)
        if x == x:
            previous, gap = x, 0
    return out


def _fill(parser: Parser, args: list) -> Value:
    if len(args) != 2:
        raise parser.fail("Invalid number of arguments for function FILL")
    target, how = args

    def fill(series: Series) -> Series:
        if isinstance(how, tuple) and how == ("word", "REPEAT"):
            out, last = [], NAN
            for x in series:
                last = x if x == x else last
                out.append(last)
            return out
        if isinstance(how, tuple) and how == ("word", "LINEAR"):
            known = [i for i, x in enumerate(series) if x == x]
            out = list(series)
            for a, b in zip(known, known[1:], strict=False):
                for i in range(a + 1, b):
                    out[i] = series[a] + (series[b] - series[a]) * (i - a) / (b - a)
            return out
        if isinstance(how, float):
            return [x if x == x else how for x in series]
        if isinstance(how, list) and not is_array(how):
            return [x if x == x else y for x, y in zip(series, how, strict=True)]
        raise parser.fail(
            "The second argument of FILL must be a number, a time series, REPEAT or LINEAR"
        )

    if is_array(target):
        return [(label, fill(s)) for label, s in target]  # type: ignore[misc]
    if isinstance(target, list):
        return fill(target)
    raise parser.fail("The first argument of FILL must be a time series")


def _if(parser: Parser, args: list) -> Value:
    if len(args) not in (2, 3) or any(isinstance(a, tuple) for a in args):
        raise parser.fail("Invalid number of arguments for function IF")
    condition, then = args[0], args[1]
    otherwise = args[2] if len(args) == 3 else NAN
    if is_array(condition):
        raise parser.fail("IF does not take an array of time series as its condition")
    n = len(parser.ctx.timestamps)

    def at(value: Value, i: int) -> float:
        return value[i] if isinstance(value, list) else value  # type: ignore[return-value]

    if isinstance(condition, float):
        return then if condition else otherwise
    return [
        (at(then, i) if condition[i] else at(otherwise, i)) if condition[i] == condition[i] else NAN
        for i in range(n)
    ]


def _metrics(parser: Parser, args: list) -> Value:
    if len(args) > 1 or (args and not (isinstance(args[0], tuple) and args[0][0] == "str")):
        raise parser.fail("METRICS takes at most one string argument")
    needle = args[0][1] if args else ""
    out: Array = []
    # Metrics only: math expressions are not part of METRICS() (AWS).
    for qid in parser.ctx.stat_ids:
        label = parser.ctx.labels.get(qid, qid)
        if not needle or needle in label:
            out.append((label, parser.ctx.results[qid]))  # type: ignore[arg-type]
    return out


def _search(parser: Parser, args: list) -> Value:
    if len(args) not in (2, 3) or not all(isinstance(a, tuple) and a[0] == "str" for a in args[:2]):
        raise parser.fail("SEARCH takes a search expression, a statistic and an optional period")
    period = parser.ctx.period
    if len(args) == 3:
        if not isinstance(args[2], float) or args[2] <= 0:
            raise parser.fail("The period of SEARCH must be a positive number")
        period = int(args[2])
    return parser.ctx.search(args[0][1], args[1][1], period)


_FUNCTIONS: dict[str, Callable[[Parser, list], Value]] = {
    "SUM": _reduce("SUM", math.fsum),
    "AVG": _reduce("AVG", lambda xs: math.fsum(xs) / len(xs)),
    "MIN": _reduce("MIN", min),
    "MAX": _reduce("MAX", max),
    "ABS": _map("ABS", abs),
    "CEIL": _map("CEIL", lambda x: float(math.ceil(x)) if math.isfinite(x) else x),
    "FLOOR": _map("FLOOR", lambda x: float(math.floor(x)) if math.isfinite(x) else x),
    "DIFF": _per_series(_diff, "DIFF"),
    "RATE": _per_series(_rate, "RATE"),
    "FILL": _fill,
    "IF": _if,
    "METRICS": _metrics,
    "SEARCH": _search,
}


def evaluate(text: str, query_id: str, ctx: Context) -> Value:
    return Parser(text, query_id, ctx).run()


_SEARCH_TERM = re.compile(r'\s*(?:(\w+)\s*=\s*)?("(?:[^"\\]|\\.)*"|[^\s"]+)')


def parse_search(text: str) -> tuple[str | None, list[str] | None, list[tuple[str | None, str]]]:
    """``{Namespace,Dim1,Dim2} MetricName="x" term`` → (namespace, schema dimension
    names or None, [(property or None, value)]). Terms match as AWS's simple search
    does: a property equals the value; a bare term is a substring of name, namespace
    or any dimension value."""
    namespace = dims = None
    text = text.strip()
    if text.startswith("{"):
        close = text.find("}")
        if close < 0:
            raise ValueError("unclosed schema")
        parts = [p.strip().strip('"') for p in text[1:close].split(",")]
        namespace, dims = parts[0], [p for p in parts[1:] if p]
        text = text[close + 1 :]
    terms = []
    for prop, value in _SEARCH_TERM.findall(text):
        terms.append((prop or None, value.strip('"')))
    return namespace, dims, terms
