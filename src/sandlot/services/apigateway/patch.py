"""API Gateway's ``patchOperations`` (the Update… operations): ``replace``, ``add`` and
``remove`` of a ``/``-separated path into a document, ``~1`` standing for ``/`` in a
key (``/variables/name``, ``/*/*/throttling/burstLimit`` in a stage's method settings).
Every value arrives as a string; ``kinds`` says which top-level fields are booleans or
integers. A path outside ``allowed`` is AWS's BadRequestException."""

from __future__ import annotations

from typing import Any

from sandlot.services.apigateway.base import Doc, bad_request


def apply(
    doc: Doc, operations: list[dict], allowed: tuple[str, ...], kinds: dict[str, type] | None = None
) -> Doc:
    kinds = kinds or {}
    for operation in operations or []:
        op = operation.get("op")
        path = str(operation.get("path") or "")
        keys = [k.replace("~1", "/") for k in path.lstrip("/").split("/")] if path else []
        if not keys or keys[0] not in allowed:
            raise bad_request(
                f"Invalid patch path '{path}' specified for op '{op}'. "
                f"Must be one of: [{', '.join('/' + a for a in allowed)}]"
            )
        parent: Any = doc
        for key in keys[:-1]:
            parent = parent.setdefault(key, {})
        if op in ("replace", "add"):
            parent[keys[-1]] = _typed(
                operation.get("value"), kinds.get(keys[0]) if len(keys) == 1 else None
            )
        elif op == "remove":
            parent.pop(keys[-1], None)
        else:
            raise bad_request(
                f"Invalid patch operation specified. Must be 'add'|'remove'|'replace', not '{op}'"
            )
    return doc


def _typed(value: Any, kind: type | None) -> Any:
    if kind is bool:
        if str(value).lower() not in ("true", "false"):
            raise bad_request(f"Invalid boolean value: {value}")
        return str(value).lower() == "true"
    if kind is int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"Invalid integer value: {value}") from None
    if kind is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"Invalid number value: {value}") from None
    if kind is list:
        return [v.strip() for v in str(value).split(",") if v.strip()]
    return value
