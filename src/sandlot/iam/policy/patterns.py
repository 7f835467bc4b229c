"""Wildcard patterns and policy variables, compiled once into regular expressions.

A policy string (a Resource, a condition value) is parsed into a `Template`: literal text,
in which ``*`` and ``?`` are wildcards where the operator allows them, and ``${...}``
references (policy variables with an optional default, or the ``${*}``, ``${?}``, ``${$}``
escapes for the literal characters). Templates without variables compile once; the rest
are resolved per request and their regexes cached by source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

# ${key} or ${key, 'default'}; the key grammar is loose on purpose (tag keys may hold
# most characters) but never spans a closing brace.
_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,]+?)\s*,\s*'([^']*)'\s*$")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}

Lookup = Callable[[str], object]


@dataclass(frozen=True, slots=True)
class Literal:
    """A character an escape produced (``${*}``): never a wildcard."""

    text: str


@dataclass(frozen=True, slots=True)
class Variable:
    """A policy variable, e.g. ``${aws:username}``; ``key`` is lower-cased."""

    key: str
    default: str | None


Part = str | Literal | Variable  # a bare str is pattern text: wildcards are live


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed policy string."""

    source: str
    parts: tuple[Part, ...]
    has_variables: bool

    def resolve(self, lookup: Lookup) -> tuple[Part, ...] | None:
        """Substitute variables (as `Literal`s); None when one has no value nor default.

        AWS: a variable whose key is missing from the request makes the element not
        match, unless the variable names a default.
        """
        if not self.has_variables:
            return self.parts
        out: list[Part] = []
        for part in self.parts:
            if isinstance(part, Variable):
                value = lookup(part.key)
                if isinstance(value, list | tuple):
                    value = None  # multivalued keys cannot be substituted
                if value is None:
                    if part.default is None:
                        return None
                    value = part.default
                out.append(Literal(_text(value)))
            else:
                out.append(part)
        return tuple(out)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_template(source: str, variables: bool) -> Template:
    """Parse ``source``; policy variables only exist in Version 2012-10-17 documents."""
    if not variables or "${" not in source:
        return Template(source, (source,) if source else (), False)
    parts: list[Part] = []
    position = 0
    has_variables = False
    for match in _REFERENCE.finditer(source):
        if match.start() > position:
            parts.append(source[position : match.start()])
        body = match.group(1)
        if body in _ESCAPES:
            parts.append(Literal(_ESCAPES[body]))
        else:
            default = _DEFAULT.match(body)
            if default:
                parts.append(Variable(default.group(1).lower(), default.group(2)))
            else:
                parts.append(Variable(body.strip().lower(), None))
            has_variables = True
        position = match.end()
    if position < len(source):
        parts.append(source[position:])
    return Template(source, tuple(parts), has_variables)


def plain_text(parts: tuple[Part, ...]) -> str:
    """The string a resolved template stands for, wildcards kept as characters."""
    return "".join(p if isinstance(p, str) else p.text for p in parts)  # type: ignore[union-attr]


def has_wildcards(parts: tuple[Part, ...]) -> bool:
    return any(isinstance(p, str) and ("*" in p or "?" in p) for p in parts)


def glob_source(parts: tuple[Part, ...]) -> str:
    """Regex source for a glob: ``*`` any run, ``?`` any one character."""
    out = []
    for part in parts:
        if isinstance(part, str):
            for char in part:
                out.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
        else:
            out.append(re.escape(part.text))  # type: ignore[union-attr]
    return "".join(out)


def arn_source(parts: tuple[Part, ...]) -> str:
    """Regex source for an ARN pattern, matched segment by segment.

    AWS matches each of the six colon-separated ARN components separately: a wildcard in
    partition, service, region or account never spans a colon, while the resource part
    (the sixth component, which may itself hold colons) matches freely. A pattern with
    fewer components lets its last one run to the end.
    """
    colons = sum(p.count(":") for p in parts if isinstance(p, str))
    final = min(colons, 5)
    segment = 0
    out = []
    for part in parts:
        if not isinstance(part, str):
            out.append(re.escape(part.text))  # type: ignore[union-attr]
            continue
        for char in part:
            bounded = segment < final
            if char == ":":
                segment += 1
                out.append(":")
            elif char == "*":
                out.append("[^:]*" if bounded else ".*")
            elif char == "?":
                out.append("[^:]" if bounded else ".")
            else:
                out.append(re.escape(char))
    return "".join(out)


@lru_cache(maxsize=8192)
def compile_regex(source: str, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile (and cache) an anchored regex; patterns resolved per request hit the cache."""
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(f"(?:{source})\\Z", flags)


@lru_cache(maxsize=8192)
def arn_regex(parts: tuple[Part, ...]) -> re.Pattern[str]:
    """The compiled ARN pattern of resolved template parts (cached: a resolved variable
    such as a user name recurs across requests)."""
    return compile_regex(arn_source(parts))
