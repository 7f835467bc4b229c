"""AWS's published resource schemas (the CloudFormation registry's), as cfn-lint ships
them: which properties force a replacement (``createOnlyProperties``), which are
attributes (``readOnlyProperties``, what Fn::GetAtt may ask), the primary identifier."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def _index() -> dict[str, str]:
    root = resources.files("cfnlint.data.schemas")
    return json.loads((root / "providers" / "us-east-1.json").read_text())


@cache
def schema(type_name: str) -> dict | None:
    """The resource schema of ``type_name`` or None when AWS publishes none."""
    digest = _index().get(type_name)
    if digest is None:
        return None
    root = resources.files("cfnlint.data.schemas")
    return json.loads((root / "resources" / f"{digest}.json").read_text())


def _top(pointers: list[str]) -> set[str]:
    """``/properties/Code/S3Key`` → ``Code``: the top-level property a pointer is in."""
    return {p.split("/")[2] for p in pointers if p.startswith("/properties/")}


def create_only(type_name: str) -> set[str]:
    found = schema(type_name) or {}
    return _top(found.get("createOnlyProperties", []))


def conditional_create_only(type_name: str) -> set[str]:
    found = schema(type_name) or {}
    return _top(found.get("conditionalCreateOnlyProperties", []))


def attributes(type_name: str) -> set[str]:
    """The names Fn::GetAtt accepts: read-only properties, nested ones dotted."""
    found = schema(type_name) or {}
    return {
        p[len("/properties/") :].replace("/", ".")
        for p in found.get("readOnlyProperties", [])
        if p.startswith("/properties/")
    }


def primary_identifier(type_name: str) -> list[str]:
    found = schema(type_name) or {}
    return [p.split("/")[-1] for p in found.get("primaryIdentifier", [])]
