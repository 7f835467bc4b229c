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

from sandlot.events.templates import MISSING as _MISSING
from sandlot.events.templates import TransformError, compile_path, render, resolve

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
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_NAME = re.compile(r"[A-Za-z0-9_\-]+\Z")


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


def partition_key(target: dict, event: dict) -> str:
    """A Kinesis stream target's partition key: the value at
    ``KinesisParameters.PartitionKeyPath`` in the event, else the event's id (AWS's
    default; also when the path finds nothing)."""
    path = (target.get("KinesisParameters") or {}).get("PartitionKeyPath")
    value = resolve(event, compile_path(path)) if path else _MISSING
    if value is _MISSING or value is None:
        return event["id"]
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
