"""JSONPath as the Amazon States Language uses it.

A small evaluator of our own rather than a general JSONPath library: ASL needs two
flavours with AWS's own rules, which no library gives as such. *Reference paths*
(ResultPath, a Choice rule's Variable) name one node with `.name`, `['name']` and `[n]`
only; *paths* (InputPath, OutputPath, ItemsPath, `.$` fields) add what AWS's Jayway-based
engine accepts: `*`, `..`, slices, unions and `[?(@.x op value)]` filters. A definite path
yields one value (or "not found"); an indefinite one yields the list of its matches, as in
AWS. Compiled paths are cached: a state machine re-evaluates the same few paths per state.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

MISSING = object()  # a definite path that matched nothing


class PathError(ValueError):
    """The text is not a valid path (a definition error)."""


_NAME = re.compile(r"[^.\[\]()\s,'\"*=!<>&|@?]+")
_INT = re.compile(r"-?\d+")
_FILTER = re.compile(
    r"\s*@((?:\.[A-Za-z0-9_\-$]+|\[\d+\]|\['[^']*'\])*)\s*"
    r"(?:(==|!=|<=|>=|<|>)\s*('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|-?\d+(?:\.\d+)?|true|false|null))?\s*"
)


class Path:
    """A compiled path: `steps` is a list of (kind, arg); `definite` says one value."""

    __slots__ = ("text", "steps", "definite", "reference")

    def __init__(self, text: str, steps: list, definite: bool, reference: bool):
        self.text = text
        self.steps = steps
        self.definite = definite
        self.reference = reference

    def get(self, root: Any) -> Any:
        """The value at the path, MISSING when a definite path matches nothing."""
        if self.reference:
            node = root
            for kind, arg in self.steps:
                if kind == "key":
                    if not isinstance(node, dict) or arg not in node:
                        return MISSING
                    node = node[arg]
                else:  # index
                    if not isinstance(node, list) or not -len(node) <= arg < len(node):
                        return MISSING
                    node = node[arg]
            return node
        nodes = [root]
        for step in self.steps:
            nodes = _apply(step, nodes)
        if self.definite:
            return nodes[0] if nodes else MISSING
        return nodes


def _apply(step, nodes: list) -> list:
    kind, arg = step
    out: list = []
    for node in nodes:
        if kind == "key":
            if isinstance(node, dict) and arg in node:
                out.append(node[arg])
        elif kind == "index":
            if isinstance(node, list) and -len(node) <= arg < len(node):
                out.append(node[arg])
        elif kind == "wild":
            if isinstance(node, dict):
                out.extend(node.values())
            elif isinstance(node, list):
                out.extend(node)
        elif kind == "union":
            for item in arg:
                out.extend(_apply(("index" if isinstance(item, int) else "key", item), [node]))
        elif kind == "slice":
            if isinstance(node, list):
                out.extend(node[slice(*arg)])
        elif kind == "filter":
            items = node if isinstance(node, list) else [node] if isinstance(node, dict) else []
            out.extend(item for item in items if _filter_match(arg, item))
        elif kind == "desc":
            for sub in _descendants(node):
                out.extend(_apply(arg, [sub]))
    return out


def _descendants(node):
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _descendants(child)


def _filter_match(clauses, item) -> bool:
    # clauses: list of OR-groups, each a list of AND-ed (path, op, value)
    return any(all(_clause(c, item) for c in group) for group in clauses)


def _clause(clause, item) -> bool:
    sub, op, value = clause
    got = sub.get(item)
    if op is None:
        return got is not MISSING
    if got is MISSING:
        return False
    if op == "==":
        return json_equal(got, value)
    if op == "!=":
        return not json_equal(got, value)
    numeric = (int, float)
    if isinstance(got, bool) or isinstance(value, bool):
        return False
    if not (
        (isinstance(got, numeric) and isinstance(value, numeric))
        or (isinstance(got, str) and isinstance(value, str))
    ):
        return False
    return {"<": got < value, "<=": got <= value, ">": got > value, ">=": got >= value}[op]


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1` (Python's == says it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _literal(text: str) -> Any:
    if text[0] == "'":
        return text[1:-1].replace("\\'", "'")
    return json.loads(text)


@lru_cache(maxsize=4096)
def compile_path(text: str, reference: bool = False) -> Path:
    """Compile `text` (it starts with `$`; the caller strips `$$`/variables)."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathError(text)
    steps: list = []
    definite = True
    i, n = 1, len(text)
    while i < n:
        c = text[i]
        if text.startswith("..", i):
            if reference:
                raise PathError(text)
            i += 2
            if i < n and text[i] == "*":
                step, i = ("wild", None), i + 1
            elif i < n and text[i] == "[":
                step, i = _bracket(text, i)
            else:
                m = _NAME.match(text, i)
                if not m:
                    raise PathError(text)
                step, i = ("key", m.group()), m.end()
            steps.append(("desc", step))
            definite = False
        elif c == ".":
            i += 1
            if i < n and text[i] == "*" and not reference:
                steps.append(("wild", None))
                definite = False
                i += 1
                continue
            m = _NAME.match(text, i)
            if not m:
                raise PathError(text)
            steps.append(("key", m.group()))
            i = m.end()
        elif c == "[":
            step, i = _bracket(text, i)
            if step[0] not in ("key", "index"):
                if reference:
                    raise PathError(text)
                definite = False
            steps.append(step)
        else:
            raise PathError(text)
    return Path(text, steps, definite, reference)


def _bracket(text: str, i: int):
    end = _bracket_end(text, i)
    inner = text[i + 1 : end].strip()
    after = end + 1
    if not inner:
        raise PathError(text)
    if inner == "*":
        return ("wild", None), after
    if inner.startswith("?(") and inner.endswith(")"):
        return ("filter", _parse_filter(inner[2:-1], text)), after
    parts = _split_union(inner, text)
    if len(parts) > 1:
        return ("union", [_index_or_key(p, text) for p in parts]), after
    if ":" in inner and inner[0] not in "'\"":
        bounds = inner.split(":")
        if len(bounds) > 3 or not all(_INT.fullmatch(b.strip()) or not b.strip() for b in bounds):
            raise PathError(text)
        return ("slice", tuple(int(b) if b.strip() else None for b in bounds)), after
    item = _index_or_key(inner, text)
    return ("index" if isinstance(item, int) else "key", item), after


def _bracket_end(text: str, i: int) -> int:
    depth, quote = 0, None
    for j in range(i, len(text)):
        c = text[j]
        if quote:
            if c == "\\":
                continue
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return j
    raise PathError(text)


def _split_union(inner: str, text: str) -> list[str]:
    parts, current, quote = [], "", None
    for c in inner:
        if quote:
            current += c
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
            current += c
        elif c == ",":
            parts.append(current.strip())
            current = ""
        else:
            current += c
    parts.append(current.strip())
    if any(not p for p in parts):
        raise PathError(text)
    return parts


def _index_or_key(part: str, text: str):
    if _INT.fullmatch(part):
        return int(part)
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
        return part[1:-1]
    raise PathError(text)


def _parse_filter(expr: str, text: str):
    groups = []
    for group in expr.split("||"):
        clauses = []
        for clause in group.split("&&"):
            m = _FILTER.fullmatch(clause)
            if not m:
                raise PathError(text)
            sub = compile_path("$" + m.group(1), reference=True)
            value = _literal(m.group(3)) if m.group(2) else None
            clauses.append((sub, m.group(2), value))
        groups.append(clauses)
    return groups


# --- reference-path writes (ResultPath) ---------------------------------------------------


def set_reference(root: Any, path: Path, value: Any) -> Any:
    """A copy of `root` with `value` at reference path `path` (AWS: ResultPath).

    Missing objects on the way are created; a non-object on the way is an error the caller
    reports as States.Runtime. The input is never mutated (it may be shared with history).
    """
    if not path.steps:
        return value
    return _set(root, path.steps, 0, value)


def _set(node: Any, steps: list, k: int, value: Any) -> Any:
    kind, arg = steps[k]
    last = k == len(steps) - 1
    if kind == "key":
        if node is MISSING:
            node = {}
        if not isinstance(node, dict):
            raise TypeError(arg)
        copy = dict(node)
        copy[arg] = value if last else _set(node.get(arg, MISSING), steps, k + 1, value)
        return copy
    if not isinstance(node, list) or not -len(node) <= arg < len(node):
        raise TypeError(arg)
    copy = list(node)
    copy[arg] = value if last else _set(node[arg], steps, k + 1, value)
    return copy
