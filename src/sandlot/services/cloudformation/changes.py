"""What an update would change: the ``Changes`` of a change set, computed from the
stack's resources as they are and the new template (AWS's shape: action, logical and
physical ids, Replacement True/False/Conditional, scope and details)."""

from __future__ import annotations

import json
from typing import Any

from sandlot.services.cloudformation import intrinsics, schemas
from sandlot.services.cloudformation.engine import active_resources, build_scope


def compute(
    platform, stack: dict, template: dict, chosen: dict[str, str], rows: dict[str, dict]
) -> list[dict]:
    rows = {k: v for k, v in rows.items() if v["status"] != "DELETE_COMPLETE"}
    scope = build_scope(platform, stack, template, chosen, rows)
    wanted = active_resources(template, scope.conditions)
    changes: list[dict] = []
    replaced: set[str] = set()
    order = list(wanted)
    for logical_id in order:
        definition = wanted[logical_id]
        row = rows.get(logical_id)
        if row is None or not row["physical_id"] or row["status"] == "CREATE_FAILED":
            changes.append(_change("Add", logical_id, definition["Type"]))
            replaced.add(logical_id)
            continue
        raw = definition.get("Properties") or {}
        previous = json.loads(row["properties"] or "{}")
        details, unknown = [], False
        for name in sorted(set(raw) | set(previous)):
            try:
                value = intrinsics.resolve(raw.get(name), scope) if name in raw else None
            except (intrinsics.IntrinsicError, KeyError):
                value, unknown = _Unknown, True  # refers to something not made yet
            if value is intrinsics.NO_VALUE:
                value = None
            if value is _Unknown or value != previous.get(name):
                details.append((name, value is _Unknown))
        if row["type"] != definition["Type"]:
            changes.append(
                _change("Modify", logical_id, definition["Type"], row["physical_id"], "True", [])
            )
            replaced.add(logical_id)
            continue
        if not details:
            continue
        create_only = schemas.create_only(definition["Type"])
        forced = any(n in create_only and not dynamic for n, dynamic in details)
        maybe = any(n in create_only and dynamic for n, dynamic in details)
        replacement = "True" if forced else "Conditional" if maybe else "False"
        if replacement != "False":
            replaced.add(logical_id)
        entries = [
            {
                "Target": {
                    "Attribute": "Tags" if n == "Tags" else "Properties",
                    **({} if n == "Tags" else {"Name": n}),
                    "RequiresRecreation": "Always" if n in create_only else "Never",
                },
                "Evaluation": "Dynamic" if dynamic else "Static",
                "ChangeSource": "ResourceReference" if dynamic else "DirectModification",
            }
            for n, dynamic in details
        ]
        del unknown
        changes.append(
            _change(
                "Modify", logical_id, definition["Type"], row["physical_id"], replacement, entries
            )
        )
    for logical_id, row in rows.items():
        if logical_id not in wanted:
            changes.append(_change("Remove", logical_id, row["type"], row["physical_id"]))
    return changes


class _UnknownType:
    pass


_Unknown: Any = _UnknownType()


def _change(
    action: str, logical_id: str, type_name: str, physical_id: str | None = None,
    replacement: str | None = None, details: list | None = None,
) -> dict:  # fmt: skip
    change: dict[str, Any] = {
        "Action": action,
        "LogicalResourceId": logical_id,
        "ResourceType": type_name,
    }
    if physical_id:
        change["PhysicalResourceId"] = physical_id
    if action == "Modify":
        change["Replacement"] = replacement
        scope = sorted({d["Target"]["Attribute"] for d in details or []})
        change["Scope"] = scope
        change["Details"] = details or []
    else:
        change["Scope"] = []
        change["Details"] = []
    return {"Type": "Resource", "ResourceChange": change}
