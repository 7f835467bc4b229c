"""What a rule's target receives: the event, or ``Input``, ``InputPath`` or
``InputTransformer`` applied to it. A pure engine, no I/O.

EventBridge's JSON paths are a small subset: ``$``, dot notation with dashes,
underscores and alphanumerics (``$.detail.instance-id``), array indexes
(``$.resources[0]``). The template is text with ``<name>`` placeholders: a placeholder
outside a quoted string becomes the value as JSON (a string with its quotes), one inside
a quoted string the value's raw text (JSON-escaped so the string stays valid). A path
that matches nothing gives ``null`` outside quotes and nothing inside. Reserved
names: ``aws.events.rule-arn``, ``aws.events.rule-name``, ``aws.events.event`` (the
event without its ``detail``), ``aws.events.event.json`` (the whole event) and
``aws.events.event.ingestion-time``.
"""

from __future__ import annotations

import json
import re
from typing import Any

RESERVED = frozenset(
    {
        "aws.events.rule-arn",
        "aws.events.rule-name",
        "aws.events.event",
        "aws.events.event.json",
        "aws.events.event.ingestion-time",
    }
)
MAX_PATHS = 100
_STEP = re.compile(r"\.([A-Za-z0-9_\-/]+)|\[(\d+)\]|\['([^']+)'\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_NAME = re.compile(r"[A-Za-z0-9_\-]+\Z")
_MISSING = object()


class TransformError(ValueError):
    """An invalid path or transformer (AWS's ValidationException text)."""


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
    """The value at ``steps`` in ``event``, or ``_MISSING``."""
    value = event
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return _MISSING
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return _MISSING
            value = value[step]
    return value


def check_transformer(transformer: dict) -> None:
    """PutTargets' validation of an ``InputTransformer``."""
    paths = transformer.get("InputPathsMap") or {}
    if len(paths) > MAX_PATHS:
        raise TransformError(
            f"InputTransformer.InputPathsMap can have at most {MAX_PATHS} entries."
        )
    for name, path in paths.items():
        if name in RESERVED:
            raise TransformError(
                f"InputTransformer.InputPathsMap key {name} is reserved and cannot be used."
            )
        if not _NAME.match(name):
            raise TransformError(f"InputTransformer.InputPathsMap key {name} is not valid.")
        compile_path(path)
    template = transformer.get("InputTemplate")
    if not isinstance(template, str):
        raise TransformError("InputTransformer.InputTemplate must be specified.")
    for name in _PLACEHOLDER.findall(template):
        if name not in paths and name not in RESERVED:
            raise TransformError(
                f"InputTemplate for target contains a placeholder {name} that is not "
                "defined in InputPathsMap."
            )


def target_input(target: dict, event: dict, event_text: str, context: dict[str, str]) -> str:
    """The payload ``target`` gets for ``event`` (``event_text``: its JSON); ``context``
    holds the reserved values (rule ARN and name, ingestion time)."""
    if target.get("Input") is not None:
        return target["Input"]
    if target.get("InputPath"):
        value = resolve(event, compile_path(target["InputPath"]))
        return "null" if value is _MISSING else json.dumps(value)
    transformer = target.get("InputTransformer")
    if not transformer:
        return event_text
    values: dict[str, Any] = {}
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        values[name] = resolve(event, compile_path(path))
    values["aws.events.rule-arn"] = context.get("rule-arn", "")
    values["aws.events.rule-name"] = context.get("rule-name", "")
    values["aws.events.event.ingestion-time"] = context.get("ingestion-time", "")
    # AWS: ``aws.events.event`` is the event without its detail, ``.json`` the whole of it.
    values["aws.events.event"] = {k: v for k, v in event.items() if k != "detail"}
    values["aws.events.event.json"] = event
    return render(transformer["InputTemplate"], values)


def render(template: str, values: dict[str, Any]) -> str:
    """Fill ``<name>`` placeholders: JSON outside quoted strings, raw text inside."""
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
            found = _PLACEHOLDER.match(template, at)
            if found and found[1] in values:
                out.append(_inside(values[found[1]]) if quoted else _outside(values[found[1]]))
                at = found.end()
                continue
        out.append(char)
        at += 1
    return "".join(out)


def _outside(value: Any) -> str:
    return "null" if value is _MISSING else json.dumps(value, ensure_ascii=False)


def _inside(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return json.dumps(text, ensure_ascii=False)[1:-1]
