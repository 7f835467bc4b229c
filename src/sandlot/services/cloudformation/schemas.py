"""AWS's published resource schemas (the CloudFormation registry's), as cfn-lint ships
them: which properties force a replacement (``createOnlyProperties``), which are
attributes (``readOnlyProperties``, what Fn::GetAtt may ask), the primary identifier."""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path


@cache
def _root() -> Path:
    """cfn-lint's schema directory, found without importing cfn-lint (its package
    imports the whole linter: seconds on a loaded machine, for data files)."""
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("cfn-lint is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "schemas"


@cache
def _index() -> dict[str, str]:
    return json.loads((_root() / "providers" / "us-east-1.json").read_text())


@cache
def schema(type_name: str) -> dict | None:
    """The resource schema of ``type_name`` or None when AWS publishes none."""
    digest = _index().get(type_name)
    if digest is None:
        return None
    return json.loads((_root() / "resources" / f"{digest}.json").read_text())


def _top(pointers: list[str]) -> set[str]:
    """``/properties/Code/S3Key`` → ``Code``: the top-level property a pointer is in."""
    return {p.split("/")[2] for p in pointers if p.startswith("/properties/")}


# Properties the schema lists only as conditionally create-only that AWS's template
# reference documents as "Update requires: Replacement" (a change replaces the resource).
_REPLACED_BY = {"AWS::DynamoDB::Table": {"KeySchema", "LocalSecondaryIndexes"}}


def create_only(type_name: str) -> set[str]:
    found = schema(type_name) or {}
    return _top(found.get("createOnlyProperties", [])) | _REPLACED_BY.get(type_name, set())


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
