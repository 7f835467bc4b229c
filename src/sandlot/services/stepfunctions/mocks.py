"""TestState's mocks: the request's ``mock`` checked as AWS checks it, and its ``result``
validated against the API model of the Task's integration (``fieldValidationMode``:
STRICT, the default, wants the required members and right types; PRESENT only the
types of the members given; NONE nothing). Members the model does not know are
accepted, as AWS does. Messages are AWS's ("Mock result schema validation error: …").

What has no API model is not validated: a Lambda function ARN, an activity, the HTTP
and API Gateway tasks, and a Map's or Parallel's result (their shapes are the engine's).
"""

from __future__ import annotations

import json
from typing import Any

from sandlot.protocol.models import service_model
from sandlot.services.stepfunctions.base import error
from sandlot.services.stepfunctions.integrations import UnsupportedResource, parse_resource

MODES = ("STRICT", "PRESENT", "NONE")


def invalid(message: str):
    return error("ValidationException", message)


def engine_mock(params: dict, state: dict | None) -> dict | None:
    """The request's ``mock`` (and ``stateConfiguration.retrierRetryCount``) as
    ``run_test_state`` takes it; ValidationException for what AWS refuses."""
    mock = params.get("mock")
    configuration = params.get("stateConfiguration") or {}
    if not mock:
        return None
    if params.get("revealSecrets"):
        raise invalid("TestState does not support RevealSecrets when a mock is specified.")
    has_result, has_error = "result" in mock, "errorOutput" in mock
    if has_result == has_error:
        raise invalid(
            "A test mock should have only one of the following fields: [result, errorOutput]."
        )
    out: dict = {"retried": int(configuration.get("retrierRetryCount") or 0)}
    if has_error:
        given = mock["errorOutput"] or {}
        out.update(error=given.get("error", ""), cause=given.get("cause"))
        return out
    try:
        out["result"] = json.loads(mock["result"])
    except ValueError:
        raise invalid("Mocked result must be valid JSON.") from None
    mode = mock.get("fieldValidationMode", "STRICT")
    if mode not in MODES:
        raise invalid(f"fieldValidationMode must be one of {list(MODES)}")
    shape = _output_shape(state)
    if shape is not None and mode != "NONE":
        problem = _check(shape, out["result"], mode == "STRICT", None)
        if problem:
            raise invalid(f"Mock result schema validation error: {problem}")
    return out


def _output_shape(state: dict | None):
    """The API model of what the Task's integration answers, or None."""
    if not state or state.get("Type") != "Task" or not isinstance(state.get("Resource"), str):
        return None
    try:
        target = parse_resource(state["Resource"])
    except UnsupportedResource:
        return None
    if target.kind not in ("optimized", "sdk") or target.pattern == "waitForTaskToken":
        return None
    operation = target.operation
    if target.service == "stepfunctions" and target.pattern.startswith("sync"):
        operation = "DescribeExecution"  # .sync answers the child's description
    return service_model(target.service).operation_model(operation).output_shape


def _name(member: str) -> str:
    return member[:1].upper() + member[1:]  # Step Functions hands results in PascalCase


def _check(shape, value: Any, strict: bool, name: str | None) -> str | None:
    """The first way ``value`` does not fit ``shape``, in AWS's words, or None."""
    kind, field = shape.type_name, f"Field '{name}'"
    if kind == "structure":
        if not isinstance(value, dict):
            return f"{field} must be an object" if name else "The result must be an object"
        members = {_name(m).lower(): (m, s) for m, s in shape.members.items()}
        if strict:
            for required in shape.required_members:
                if not any(k.lower() == _name(required).lower() for k in value):
                    return f"Required field '{_name(required)}' is missing"
        for key, item in value.items():
            found = members.get(key.lower())
            if found is None:
                continue  # not in the model: accepted
            if (found[0], shape.name) == ("Payload", "InvocationResponse"):
                continue  # Lambda's Payload: the function's answer, any JSON
            problem = _check(found[1], item, strict, key)
            if problem:
                return problem
        return None
    if kind == "list":
        if not isinstance(value, list):
            return f"{field} must be an array"
        for item in value:
            problem = _check(shape.member, item, strict, name)
            if problem:
                return problem
        return None
    if kind == "map":
        if not isinstance(value, dict):
            return f"{field} must be an object"
        for item in value.values():
            problem = _check(shape.value, item, strict, name)
            if problem:
                return problem
        return None
    metadata = shape.metadata
    if kind in ("string", "blob", "timestamp"):
        if not isinstance(value, str):
            return f"{field} must be a string"
        if metadata.get("enum") and value not in metadata["enum"]:
            return f"{field} is not an expected value"
        if kind != "timestamp" and len(value) < metadata.get("min", 0):
            return f"{field} is smaller than the minimum length"
        return None
    if kind in ("integer", "long", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{field} must be a number"
        if "min" in metadata and value < metadata["min"]:
            return f"{field} is less than the minimum value"
        if "max" in metadata and value > metadata["max"]:
            return f"{field} exceeds the maximum value"
        return None
    if kind == "boolean" and not isinstance(value, bool):
        return f"{field} must be a boolean"
    return None
