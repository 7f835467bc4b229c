"""The model's input constraints (lengths, ranges, patterns, enums), in AWS's words.

The parser checks required members and types for every request; the finer constraints
are checked by providers that want them, through ``validated``, because services
answer them with different codes (Lambda ``ValidationException``, CloudWatch Logs
``InvalidParameterException``, ...) but the same wording:
``1 validation error detected: Value 'x' at 'memorySize' failed to satisfy constraint:
Member must have value less than or equal to 10240``.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from botocore.model import Shape

from sandlot.protocol.errors import ServiceError
from sandlot.protocol.models import service_model


def validated(error: Callable[[str], ServiceError]) -> Callable[[Callable], Callable]:
    """A decorator for provider operations: check ``params`` against the operation's
    input shape first, raising ``error(summary)`` when constraints are broken."""

    def decorate(method: Callable) -> Callable:
        def check(ctx, params: dict[str, Any]) -> None:
            check_input(ctx.service, ctx.operation, params, error)

        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def run_async(self, ctx, params: dict[str, Any]):
                check(ctx, params)
                return await method(self, ctx, params)

            return run_async

        @functools.wraps(method)
        def run(self, ctx, params: dict[str, Any]):
            check(ctx, params)
            return method(self, ctx, params)

        return run

    return decorate


def check_input(
    service: str, operation: str, params: dict[str, Any], error: Callable[[str], ServiceError]
) -> None:
    """Raise ``error(summary)`` when ``params`` break the operation's input constraints."""
    shape = _input_shape(service, operation)
    found = violations(shape, params) if shape is not None else []
    if found:
        raise error(summary(found))


def summary(errors: list[str]) -> str:
    """``N validation error(s) detected: …`` over the errors of ``violations``."""
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(errors)


def violations(shape: Shape, params: dict[str, Any], prefix: str = "") -> list[str]:
    """Every broken constraint of ``params`` (a structure of ``shape``), one message each."""
    errors: list[str] = []
    _check_members(shape, params, prefix, errors)
    return errors


def constraint_error(value: Any, path: str, constraint: str, *, sensitive: bool = False) -> str:
    """One error in AWS's form; values of sensitive members are left out, as AWS does."""
    shown = "Value" if sensitive else f"Value '{_render(value)}'"
    return f"{shown} at '{path}' failed to satisfy constraint: {constraint}"


@cache
def _input_shape(service: str, operation: str) -> Shape | None:
    return service_model(service).operation_model(operation).input_shape


def _check_members(shape: Shape, value: dict, prefix: str, errors: list[str]) -> None:
    for name, member in shape.members.items():
        if value.get(name) is not None:
            path = f"{prefix}{name[:1].lower()}{name[1:]}"
            _check_value(member, value[name], path, errors)


def _check_value(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if shape.type_name == "structure":
        if isinstance(value, dict):
            _check_members(shape, value, path + ".", errors)
        return
    hidden = _sensitive(shape)
    for constraint in _broken(shape, value):
        errors.append(constraint_error(value, path, constraint, sensitive=hidden))
    if shape.type_name == "list" and isinstance(value, list):
        inner = [v for item in value for v in _broken(shape.member, item)]
        if inner:
            constraint = f"Member must satisfy constraint: [{_join(inner)}]"
            errors.append(constraint_error(value, path, constraint, sensitive=hidden))
    elif shape.type_name == "map" and isinstance(value, dict):
        for label, part, items in (
            ("Map keys", shape.key, value.keys()),
            ("Map value", shape.value, value.values()),
        ):
            inner = [v for item in items for v in _broken(part, item)]
            if inner:
                constraint = f"{label} must satisfy constraint: [{_join(inner)}]"
                errors.append(constraint_error(value, path, constraint, sensitive=hidden))


def _broken(shape: Shape, value: Any) -> list[str]:
    """The constraints of one scalar or collection shape that ``value`` breaks."""
    meta, found = shape.metadata, []
    kind = shape.type_name
    if kind in ("string", "list", "map", "blob") and isinstance(value, str | list | dict | bytes):
        if "min" in meta and len(value) < meta["min"]:
            found.append(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"Member must have length less than or equal to {meta['max']}")
    numeric = kind in ("integer", "long", "double", "float")
    if numeric and isinstance(value, int | float) and not isinstance(value, bool):
        if "min" in meta and value < meta["min"]:
            found.append(f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            found.append(f"Member must have value less than or equal to {meta['max']}")
    if kind == "string" and isinstance(value, str):
        pattern = meta.get("pattern")
        regex = _regex(pattern) if pattern else None
        if regex is not None and regex.fullmatch(value) is None:
            found.append(f"Member must satisfy regular expression pattern: {pattern}")
        if shape.enum and value not in shape.enum:
            found.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    return found


def _sensitive(shape: Shape) -> bool:
    """Whether a value (or any key or member of it) is sensitive."""
    parts = [shape, getattr(shape, "member", None), getattr(shape, "key", None)]
    parts.append(getattr(shape, "value", None))
    return any(p is not None and p.metadata.get("sensitive") for p in parts)


def _join(constraints: list[str]) -> str:
    return ", ".join(dict.fromkeys(constraints))


@cache
def _regex(pattern: str) -> re.Pattern[str] | None:
    """The model's (Java) pattern as a Python regex; None where Python cannot express
    it (``\\p{…}`` classes), which is then not checked."""
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _render(value: Any) -> str:
    """A value as AWS's (Java) messages print it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_render(v)}" for k, v in value.items()) + "}"
    return str(value)
