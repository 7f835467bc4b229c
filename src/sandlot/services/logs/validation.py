"""Input constraints from the botocore model, reported as CloudWatch Logs reports them.

The protocol layer checks only required members; lengths, ranges, patterns and enums
are checked here, from the model (so they never drift from it), and answered as
``InvalidParameterException: N validation error(s) detected: Value '…' at '…' failed
to satisfy constraint: Member must …`` — the wording and error code Logs uses.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from botocore.model import Shape

from sandlot.protocol import ServiceError
from sandlot.protocol.models import service_model


def invalid_parameter(message: str) -> ServiceError:
    return ServiceError("InvalidParameterException", message)


def validation_message(failures: list[str]) -> str:
    count = len(failures)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(failures)


def validated(method: Callable) -> Callable:
    """Decorate a provider operation: check ``params`` against the operation's input
    shape before the method runs."""

    @functools.wraps(method)
    def wrapper(self, ctx, params: dict[str, Any]):
        shape = service_model(ctx.service).operation_model(ctx.operation).input_shape
        failures: list[str] = []
        _check_structure(shape, params, "", failures)
        if failures:
            raise invalid_parameter(validation_message(failures))
        return method(self, ctx, params)

    return wrapper


@functools.cache
def _regex(pattern: str) -> re.Pattern[str] | None:
    """The model's (Java) pattern as a Python regex; None where Python cannot express
    it (``\\p{…}`` classes), which is then not checked."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _check_structure(shape: Shape, value: dict, path: str, failures: list[str]) -> None:
    for name, member in shape.members.items():
        if value.get(name) is not None:
            _check(member, value[name], f"{path}.{name}" if path else name, failures)


def _check(shape: Shape, value: Any, path: str, failures: list[str]) -> None:
    problem = _problem(shape, value)
    if problem is not None:
        shown = "" if isinstance(value, list | dict) else f" '{value}'"
        failures.append(f"Value{shown} at '{path}' failed to satisfy constraint: {problem}")
        return
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        _check_structure(shape, value, path, failures)
    elif kind == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            if item is not None:
                _check(shape.member, item, f"{path}.{index + 1}.member", failures)
    elif kind == "map" and isinstance(value, dict):
        _check_map(shape, value, path, failures)


def _check_map(shape: Shape, value: dict, path: str, failures: list[str]) -> None:
    for key, item in value.items():
        for part, sub_shape, sub_value in (("keys", shape.key, key), ("value", shape.value, item)):
            problem = _problem(sub_shape, sub_value)
            if problem is not None:
                failures.append(
                    f"Value '{value}' at '{path}' failed to satisfy constraint: "
                    f"Map {part} must satisfy constraint: [{problem}]"
                )
                return


def _problem(shape: Shape, value: Any) -> str | None:
    """The first constraint ``value`` breaks, in AWS's words, or None."""
    meta = shape.metadata
    kind = shape.type_name
    if kind in ("string", "list", "map") and isinstance(value, str | list | dict):
        if "min" in meta and len(value) < meta["min"]:
            return f"Member must have length greater than or equal to {meta['min']}"
        if "max" in meta and len(value) > meta["max"]:
            return f"Member must have length less than or equal to {meta['max']}"
    if kind == "string" and isinstance(value, str):
        enum = shape.enum
        if enum and value not in enum:
            return f"Member must satisfy enum value set: [{', '.join(enum)}]"
        regex = _regex(meta["pattern"]) if "pattern" in meta else None
        if regex is not None and regex.fullmatch(value) is None:
            return f"Member must satisfy regular expression pattern: {meta['pattern']}"
    if kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        if "min" in meta and value < meta["min"]:
            return f"Member must have value greater than or equal to {meta['min']}"
        if "max" in meta and value > meta["max"]:
            return f"Member must have value less than or equal to {meta['max']}"
    return None
