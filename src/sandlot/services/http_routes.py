"""API Gateway route keys and route selection, shared by HTTP and REST APIs (a pure
engine, no I/O).

A route key is ``$default`` or ``METHOD /path`` (``ANY`` matches every method); a path
segment is literal, ``{name}`` (one segment) or, last only, ``{name+}`` (the rest of
the path, at least one segment). AWS selects the most specific match: a literal segment
beats a variable, which beats a greedy variable, compared from the left; then a route
for the method beats ``ANY``; ``$default`` catches what nothing else matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})
DEFAULT = "$default"
_VARIABLE = re.compile(r"^\{([A-Za-z0-9._-]+)(\+?)\}$")
_LITERAL, _PARAM, _GREEDY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Route:
    key: str
    method: str  # "" for $default
    path: str  # the key's path ("" for $default)
    segments: tuple[tuple[int, str], ...]  # (kind, literal text or variable name)
    value: object  # what the caller attached (its route record)


def parse_key(key: str) -> tuple[str, str, tuple[tuple[int, str], ...]]:
    """(method, path, segments) of a route key; ValueError with AWS's reason if invalid."""
    if key == DEFAULT:
        return "", "", ()
    method, _, path = key.partition(" ")
    if method not in METHODS or not path.startswith("/"):
        raise ValueError(f"Unable to parse route key '{key}'")
    parts = [p for p in path.split("/")[1:]] if path != "/" else []
    segments: list[tuple[int, str]] = []
    for index, part in enumerate(parts):
        found = _VARIABLE.match(part)
        if found is None:
            if not part or "{" in part or "}" in part:
                raise ValueError(f"Unable to parse route key '{key}'")
            segments.append((_LITERAL, part))
        elif found[2]:
            if index != len(parts) - 1:
                raise ValueError(
                    f"Route key '{key}': a greedy path variable must be the last segment"
                )
            segments.append((_GREEDY, found[1]))
        else:
            segments.append((_PARAM, found[1]))
    return method, path, tuple(segments)


def compile_routes(items: list[tuple[str, object]]) -> list[Route]:
    """Routes of (key, value) pairs, most specific first."""
    routes = []
    for key, value in items:
        method, path, segments = parse_key(key)
        routes.append(Route(key, method, path, segments, value))
    return sorted(routes, key=_specificity)


def _specificity(route: Route):
    if route.key == DEFAULT:
        return (1, (), 0)
    return (0, tuple(kind for kind, _ in route.segments) + (-1,), route.method == "ANY")


def select(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route a request selects and its path parameters, or None."""
    parts = [unquote(p) for p in path.split("/")[1:]] if path not in ("", "/") else []
    fallback = None
    for route in routes:  # most specific first: the first match wins
        if route.key == DEFAULT:
            fallback = fallback or route
            continue
        if route.method not in (method, "ANY"):
            continue
        found = _match(route.segments, parts)
        if found is not None:
            return route, found
    return (fallback, {}) if fallback is not None else None


def _match(segments: tuple[tuple[int, str], ...], parts: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for index, (kind, text) in enumerate(segments):
        if kind == _GREEDY:
            rest = parts[index:]
            if not rest or not rest[0]:
                return None
            params[text] = "/".join(rest)
            return params
        if index >= len(parts):
            return None
        if kind == _LITERAL:
            if parts[index] != text:
                return None
        else:
            if not parts[index]:
                return None
            params[text] = parts[index]
    return params if len(parts) == len(segments) else None
