"""The precompiled route table of a REST service (rest-json, rest-xml).

Every operation's ``http.requestUri`` (``/{Bucket}/{Key+}?uploads``) is compiled once
into a per-method trie of path segments: a literal child per segment text, one child
for a ``{Label}`` and one for a greedy ``{Label+}``. Matching walks the trie once,
preferring literals over labels over greedy labels and backtracking only when a branch
dead-ends, so the cost depends on the path's depth, not on the number of operations.

Operations that end on the same node (S3's ``PUT /{Bucket}/{Key+}`` is PutObject,
CopyObject, UploadPart and UploadPartCopy) are told apart the way AWS does: by the
query-string literals of their template (``?uploads``, ``?list-type=2``), then by which
of their required query parameters and headers the request carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from botocore.model import OperationModel


@dataclass(slots=True)
class RouteMatch:
    """The operation a request is for, and its URI labels (percent-decoded)."""

    operation: OperationModel
    labels: dict[str, str]


@dataclass(slots=True, eq=False)
class _Route:
    operation: OperationModel
    label_names: tuple[str, ...]  # in path order, greedy ones included
    literals: tuple[tuple[str, str | None], ...]  # (key, value or None for any)
    required_query: tuple[str, ...]
    required_headers: tuple[str, ...]
    known_query: frozenset[str]
    deprecated: bool
    order: int

    def accepts(self, query: Mapping[str, list[str]]) -> bool:
        for key, value in self.literals:
            values = query.get(key)
            if values is None or (value is not None and value not in values):
                return False
        return True

    def rank(self, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> tuple:
        """Sort key: lower is a better fit for the request.

        The template's own ``?literals`` count most (``?attributes`` is a different
        operation even when the request lacks a header it requires), then an ``x-id``
        naming the operation, then having all required parameters, then how many of
        the sent ones the operation knows.
        """
        present = 0
        for key in self.required_query:
            if key in query:
                present += 1
        for name in self.required_headers:
            if name in headers:
                present += 1
        missing = len(self.required_query) + len(self.required_headers) - present
        known = len(self.known_query.intersection(query)) if query else 0
        # Several SDKs name the operation in an x-id parameter (?x-id=ListParts).
        named = self.operation.name in query.get("x-id", ())
        return (
            -len(self.literals),
            not named,
            missing > 0,
            -present,
            -known,
            self.deprecated,
            self.order,
        )


@dataclass(slots=True, eq=False)
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    label: _Node | None = None
    greedy: _Node | None = None
    # Operations ending here: those without ?literals, and the others by the key of
    # their first literal (S3's GET /{Bucket} alone has dozens: ?acl, ?cors, ...).
    plain: list[_Route] = field(default_factory=list)
    by_literal: dict[str, list[_Route]] = field(default_factory=dict)

    def add(self, route: _Route) -> None:
        if route.literals:
            self.by_literal.setdefault(route.literals[0][0], []).append(route)
        else:
            self.plain.append(route)

    def choose(self, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> _Route | None:
        """The operation ending here that fits the request best, if any."""
        candidates: list[_Route] = []
        if self.by_literal and query:
            for key in query:
                for route in self.by_literal.get(key, ()):
                    if route.accepts(query):
                        candidates.append(route)
        # An operation whose ?literals the request carries beats any without.
        if not candidates:
            candidates = self.plain
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        return min(candidates, key=lambda route: route.rank(query, headers))


class RouteTable:
    """Finds the operation (and its URI labels) for a method, path and query."""

    def __init__(self, operations: Iterable[OperationModel]) -> None:
        self._tries: dict[str, _Node] = {}
        for order, operation in enumerate(operations):
            self._add(operation, order)

    def match(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
    ) -> RouteMatch | None:
        """The operation for the request, or None when no template fits.

        ``path`` is the raw (percent-encoded) path; ``query`` maps each query-string
        key to its values; ``headers`` has lower-case names.
        """
        root = self._tries.get(method)
        if root is None or not path.startswith("/"):
            return None
        segments = path[1:].split("/")
        captured: list[str] = []
        route = _walk(root, segments, 0, captured, query, headers)
        if route is None:
            return None
        labels = {name: unquote(raw) for name, raw in zip(route.label_names, captured, strict=True)}
        return RouteMatch(route.operation, labels)

    def allowed_methods(self, path: str, query: Mapping[str, list[str]]) -> list[str]:
        """The methods for which ``path`` would match (for a 405's Allow header)."""
        return [
            method
            for method in sorted(self._tries)
            if self.match(method, path, query, {}) is not None
        ]

    def _add(self, operation: OperationModel, order: int) -> None:
        template = operation.http.get("requestUri", "/")
        path, _, literal_query = template.partition("?")
        node = self._tries.setdefault(operation.http.get("method", "POST"), _Node())
        label_names: list[str] = []
        for segment in _template_segments(path):
            if segment.startswith("{") and segment.endswith("}"):
                name = segment[1:-1]
                if name.endswith("+"):
                    label_names.append(name[:-1])
                    node.greedy = node.greedy or _Node()
                    node = node.greedy
                else:
                    label_names.append(name)
                    node.label = node.label or _Node()
                    node = node.label
            else:
                node = node.literals.setdefault(segment, _Node())
        node.add(_route(operation, tuple(label_names), literal_query, order))


def _template_segments(path: str) -> list[str]:
    segments = path.strip("/").split("/")
    return [] if segments == [""] else segments


def _route(
    operation: OperationModel, label_names: tuple[str, ...], literal_query: str, order: int
) -> _Route:
    literals = []
    for part in filter(None, literal_query.split("&")):
        key, sep, value = part.partition("=")
        # ?x-id=Op only names the operation: older clients do not send it, and rank()
        # already prefers the operation it names.
        if key != "x-id":
            literals.append((key, value if sep else None))
    required_query: list[str] = []
    required_headers: list[str] = []
    known_query: set[str] = set()
    shape = operation.input_shape
    if shape is not None:
        required = set(shape.required_members)
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "querystring":
                known_query.add(wire)
                if name in required:
                    required_query.append(wire)
            elif location == "header" and name in required:
                required_headers.append(wire.lower())
    return _Route(
        operation,
        label_names,
        tuple(literals),
        tuple(required_query),
        tuple(required_headers),
        frozenset(known_query),
        bool(operation.deprecated),
        order,
    )


def _walk(
    node: _Node,
    segments: list[str],
    index: int,
    captured: list[str],
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
) -> _Route | None:
    """Depth-first match of ``segments[index:]`` below ``node``; fills ``captured``."""
    count = len(segments)
    if index == count:
        return node.choose(query, headers)
    segment = segments[index]
    child = node.literals.get(segment)
    if child is None and "%" in segment:
        child = node.literals.get(unquote(segment))
    if child is not None:
        found = _walk(child, segments, index + 1, captured, query, headers)
        if found is not None:
            return found
    if segment and node.label is not None:
        captured.append(segment)
        found = _walk(node.label, segments, index + 1, captured, query, headers)
        if found is not None:
            return found
        captured.pop()
    greedy = node.greedy
    if greedy is not None:
        if greedy.literals or greedy.label is not None or greedy.greedy is not None:
            # More template follows ({name+}/policy): the shortest run that lets the
            # rest match.
            for end in range(index + 1, count):
                found = _take(greedy, segments, index, end, captured, query, headers)
                if found is not None:
                    return found
        # At the end of a template it takes the rest, trailing slash included.
        found = _take(greedy, segments, index, count, captured, query, headers)
        if found is not None:
            return found
    # A trailing slash is not significant unless a greedy label took it above.
    if index == count - 1 and segment == "":
        return node.choose(query, headers)
    return None


def _take(
    node: _Node,
    segments: list[str],
    index: int,
    end: int,
    captured: list[str],
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
) -> _Route | None:
    """Match with a greedy label capturing ``segments[index:end]`` (never empty)."""
    value = "/".join(segments[index:end])
    if not value:
        return None
    captured.append(value)
    found = _walk(node, segments, end, captured, query, headers)
    if found is None:
        captured.pop()
    return found
