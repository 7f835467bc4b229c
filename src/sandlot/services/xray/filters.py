"""X-Ray filter expressions, the common cases: a predicate over a trace summary.

Keywords ``ok``, ``error``, ``fault``, ``throttle``, ``partial`` (booleans, alone or
compared with ``true``/``false``); ``responsetime`` and ``duration`` (seconds);
``http.status``, ``http.url``, ``http.method``, ``http.useragent``, ``http.clientip``;
``user``; ``annotation.KEY`` (or ``annotation[KEY]``); ``service("name")`` (the trace
has a service of that name). Comparisons ``= != < <= > >=`` and, for strings,
``CONTAINS BEGINSWITH ENDSWITH``; combined with ``AND``/``&&``, ``OR``/``||``, ``!``
and parentheses. Anything else is AWS's ``InvalidRequestException``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sandlot.protocol import ServiceError

Predicate = Callable[[dict], bool]

_TOKEN = re.compile(
    r"""\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>&&|\|\||!=|<=|>=|[=<>!(),])"""
    r"""|(?P<word>annotation\[[^\]]+\]|[A-Za-z_][\w.:\-]*))"""
)
_STRING_OPS = {"CONTAINS", "BEGINSWITH", "ENDSWITH"}


def invalid(expression: str) -> ServiceError:
    return ServiceError("InvalidRequestException", f"Invalid filter expression: {expression}")


def compile_filter(expression: str) -> Predicate:
    tokens = _tokens(expression)
    parser = _Parser(tokens, expression)
    predicate = parser.disjunction()
    if parser.position != len(tokens):
        raise invalid(expression)
    return predicate


def _tokens(expression: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = expression.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise invalid(expression)
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and value.upper() in ("AND", "OR", *_STRING_OPS):
            kind, value = "op", value.upper()
        out.append((kind, value))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], expression: str) -> None:
        self.tokens = tokens
        self.expression = expression
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise invalid(self.expression)
        self.position += 1
        return token

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek() in (("op", "OR"), ("op", "||")):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda t: any(p(t) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.peek() in (("op", "AND"), ("op", "&&")):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda t: all(p(t) for p in parts))

    def negation(self) -> Predicate:
        if self.peek() == ("op", "!"):
            self.take()
            inner = self.negation()
            return lambda t: not inner(t)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.disjunction()
            if self.take() != ("op", ")"):
                raise invalid(self.expression)
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, word = self.take()
        if kind != "word":
            raise invalid(self.expression)
        if word == "service":
            return self.service()
        getter = self.getter(word)
        op = self.peek()
        if (
            op is None
            or op[0] != "op"
            or op[1] not in ("=", "!=", "<", "<=", ">", ">=", *_STRING_OPS)
        ):
            if word in ("ok", "error", "fault", "throttle", "partial"):
                return lambda t: getter(t) is True
            raise invalid(self.expression)
        self.take()
        kind, raw = self.take()
        value: object
        if kind == "num":
            value = float(raw)
        elif kind == "str":
            value = raw[1:-1].replace('\\"', '"')
        elif kind == "word" and raw in ("true", "false"):
            value = raw == "true"
        else:
            raise invalid(self.expression)
        return _compare(getter, op[1], value, self.expression)

    def service(self) -> Predicate:
        if self.take() != ("op", "("):
            raise invalid(self.expression)
        kind, raw = self.take()
        if kind == "op" and raw == ")":
            return lambda t: bool(t["ServiceIds"])
        if kind != "str" or self.take() != ("op", ")"):
            raise invalid(self.expression)
        name = raw[1:-1]
        return lambda t: any(s["Name"] == name for s in t["ServiceIds"])

    def getter(self, word: str) -> Callable[[dict], object]:
        http_keys = {"http.status": "HttpStatus", "http.url": "HttpURL",
                     "http.method": "HttpMethod", "http.useragent": "UserAgent",
                     "http.clientip": "ClientIp"}  # fmt: skip
        if word in http_keys:
            key = http_keys[word]
            return lambda t: (t.get("Http") or {}).get(key)
        simple = {
            "ok": lambda t: not (t["HasFault"] or t["HasError"] or t["HasThrottle"]),
            "error": lambda t: t["HasError"],
            "fault": lambda t: t["HasFault"],
            "throttle": lambda t: t["HasThrottle"],
            "partial": lambda t: t["IsPartial"],
            "responsetime": lambda t: t["ResponseTime"],
            "duration": lambda t: t["Duration"],
            "user": lambda t: [u["UserName"] for u in t["Users"]],
        }
        if word in simple:
            return simple[word]
        if word.startswith("annotation.") or word.startswith("annotation["):
            key = word[len("annotation.") :] if word[10] == "." else word[11:-1]
            return lambda t: [
                next(iter(a["AnnotationValue"].values())) for a in t["Annotations"].get(key, [])
            ]
        raise invalid(self.expression)


def _compare(
    getter: Callable[[dict], object], op: str, value: object, expression: str
) -> Predicate:
    def test(actual: object) -> bool:
        if actual is None:
            return False
        if op in _STRING_OPS:
            if not isinstance(actual, str) or not isinstance(value, str):
                return False
            return {"CONTAINS": value in actual, "BEGINSWITH": actual.startswith(value),
                    "ENDSWITH": actual.endswith(value)}[op]  # fmt: skip
        if isinstance(value, bool) != isinstance(actual, bool):
            return False
        if isinstance(value, float) and not isinstance(actual, int | float):
            return False
        if isinstance(value, str) and not isinstance(actual, str):
            return False
        if op == "=":
            return actual == value
        if op == "!=":
            return actual != value
        try:
            return {"<": actual < value, "<=": actual <= value, ">": actual > value,  # type: ignore[operator]
                    ">=": actual >= value}[op]  # type: ignore[operator]  # fmt: skip
        except TypeError:
            return False

    def predicate(trace: dict) -> bool:
        actual = getter(trace)
        if isinstance(actual, list):  # annotations and users: any value matches
            return any(test(a) for a in actual)
        return test(actual)

    return predicate
