"""Input templates shared by EventBridge rule targets (``InputTransformer``) and
EventBridge Pipes (``InputTemplate``): a small JSON path subset and the placeholder
filling both use. A pure engine, no I/O.

Paths: ``$``, dot notation with dashes, underscores, slashes and alphanumerics
(``$.detail.instance-id``), array indexes (``$.resources[0]``), ``['quoted keys']``.
A template is text with ``<name>`` placeholders: one outside a quoted string becomes the
value as JSON (a string with its quotes), one inside a quoted string the value's raw
text (JSON-escaped so the string stays valid). A path that matches nothing gives
``null`` outside quotes and nothing inside.
"""

from __future__ import annotations

import json
import re
from typing import Any

MISSING: Any = object()  # what a path that matches nothing resolves to
PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")  # EventBridge's <name>
_STEP = re.compile(r"\.([A-Za-z0-9_\-/]+)|\[(\d+)\]|\['([^']+)'\]")


class TransformError(ValueError):
    """An invalid path or template (the service words its ValidationException)."""


def compile_path(path: str) -> tuple[Any, ...]:
    """The steps of a JSON path (keys and indexes); TransformError if unsupported."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise TransformError(f"{path} is not a valid JSON path.")
    steps: list[Any] = []
    at = 1
    while at < len(path):
        step = _STEP.match(path, at)
        if step is None:
            raise TransformError(f"{path} is not a valid JSON path.")
        key, index, quoted = step.groups()
        steps.append(int(index) if index is not None else (key if key is not None else quoted))
        at = step.end()
    return tuple(steps)


def resolve(event: Any, steps: tuple[Any, ...]) -> Any:
    """The value at ``steps`` in ``event``, or ``MISSING``."""
    value = event
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return MISSING
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return MISSING
            value = value[step]
    return value


def render(template: str, values: dict[str, Any], placeholder: re.Pattern = PLACEHOLDER) -> str:
    """Fill the placeholders ``values`` names: JSON outside quoted strings, raw text
    inside; other ``<…>`` text is kept as it is."""
    out: list[str] = []
    quoted = False
    at = 0
    while at < len(template):
        char = template[at]
        if char == "\\" and quoted:
            out.append(template[at : at + 2])
            at += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == "<":
            found = placeholder.match(template, at)
            if found and found[1] in values:
                out.append(_inside(values[found[1]]) if quoted else _outside(values[found[1]]))
                at = found.end()
                continue
        out.append(char)
        at += 1
    return "".join(out)


def _outside(value: Any) -> str:
    return "null" if value is MISSING else json.dumps(value, ensure_ascii=False)


def _inside(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return json.dumps(text, ensure_ascii=False)[1:-1]
