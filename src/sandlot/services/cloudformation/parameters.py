"""Template parameters: the values a stack operation uses (given, previous or default),
their types (``Number``, ``List<…>``, ``CommaDelimitedList``, SSM parameter types) and
constraints, with AWS's messages. Pure; SSM-typed values are looked up by the caller."""

from __future__ import annotations

import re
from typing import Any

from sandlot.services.cloudformation.template import TemplateError

SSM_PREFIX = "AWS::SSM::Parameter::Value<"
MASK = "****"


def is_ssm(definition: dict) -> bool:
    return str(definition.get("Type", "")).startswith(SSM_PREFIX)


def _is_list(kind: str) -> bool:
    inner = kind[len(SSM_PREFIX) : -1] if kind.startswith(SSM_PREFIX) else kind
    return inner == "CommaDelimitedList" or inner.startswith("List<")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _check(name: str, definition: dict, value: str) -> None:
    kind = str(definition["Type"])
    items = [v.strip() for v in value.split(",")] if _is_list(kind) else [value]
    described = definition.get("ConstraintDescription")

    def fail(default: str) -> TemplateError:
        reason = f"failed to satisfy constraint: {described}" if described else default
        return TemplateError(f"Parameter '{name}' {reason}")

    for item in items:
        if kind in ("Number", "List<Number>") and _number(item) is None:
            raise TemplateError(f"Parameter '{name}' must be a number.")
        allowed = definition.get("AllowedValues")
        # YAML's `[true, false]` are booleans; CloudFormation compares their text.
        if allowed is not None and item not in [_text(a) for a in allowed]:
            raise fail("must be one of AllowedValues")
        pattern = definition.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, item):
            raise fail(f"must match pattern {pattern}")
        if "MinLength" in definition and len(item) < int(definition["MinLength"]):
            raise fail(f"must contain at least {definition['MinLength']} characters")
        if "MaxLength" in definition and len(item) > int(definition["MaxLength"]):
            raise fail(f"must contain at most {definition['MaxLength']} characters")
        number = _number(item)
        if (
            "MinValue" in definition
            and number is not None
            and number < float(definition["MinValue"])
        ):
            raise fail(f"must be a number not less than {definition['MinValue']}")
        if (
            "MaxValue" in definition
            and number is not None
            and number > float(definition["MaxValue"])
        ):
            raise fail(f"must be a number not greater than {definition['MaxValue']}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def choose(
    definitions: dict[str, dict], given: list[dict], previous: dict[str, str] | None = None
) -> dict[str, str]:
    """The raw string value of every parameter (given, UsePreviousValue, or Default),
    checked against its constraints; AWS's ValidationError messages otherwise."""
    previous = previous or {}
    chosen: dict[str, str] = {}
    unknown = [p["ParameterKey"] for p in given if p.get("ParameterKey") not in definitions]
    if unknown:
        raise TemplateError(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    supplied = {p["ParameterKey"]: p for p in given}
    missing = []
    for name, definition in definitions.items():
        entry = supplied.get(name)
        if entry is not None and entry.get("UsePreviousValue"):
            if name not in previous:
                raise TemplateError(
                    f"Invalid input for parameter key {name}. Cannot specify usePreviousValue as true for a parameter key not in the previous template"
                )
            chosen[name] = previous[name]
        elif entry is not None and "ParameterValue" in entry:
            chosen[name] = entry["ParameterValue"]
        elif "Default" in definition:
            chosen[name] = _text(definition["Default"])
        else:
            missing.append(name)
            continue
        _check(name, definition, chosen[name])
    if missing:
        raise TemplateError(f"Parameters: [{', '.join(missing)}] must have values")
    return chosen


def typed(definition: dict, value: str) -> Any:
    """The value as intrinsic functions see it: lists for list types, else a string."""
    kind = str(definition["Type"])
    if _is_list(kind):
        return [v.strip() for v in value.split(",")] if value else []
    return value


def resolved_key(name: str) -> str:
    """Where the chosen values keep an ``AWS::SSM::Parameter::Value<…>`` parameter's
    resolved value, beside its raw value (the SSM parameter's name, which
    ``UsePreviousValue`` reuses and resolves again). Parameter names are alphanumeric,
    so no parameter has this key."""
    return f"{name}@resolved"


def shown(definitions: dict[str, dict], chosen: dict[str, str]) -> list[dict]:
    """The Parameters of DescribeStacks: NoEcho values masked, an SSM-typed one's
    ResolvedValue beside its value."""
    result = []
    for name, value in chosen.items():
        if name not in definitions and name.endswith("@resolved"):
            continue
        no_echo = str(definitions.get(name, {}).get("NoEcho", "false")).lower() == "true"
        entry = {"ParameterKey": name, "ParameterValue": MASK if no_echo else value}
        if resolved_key(name) in chosen:
            entry["ResolvedValue"] = MASK if no_echo else chosen[resolved_key(name)]
        result.append(entry)
    return result
