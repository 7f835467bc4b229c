"""CloudFormation's intrinsic functions and condition functions, as a pure engine.

``resolve(value, scope)`` walks a template value and replaces every ``Ref``/``Fn::*`` by
its result; the ``Scope`` supplies what lies outside the template text (parameter
values incl. pseudo parameters, mappings, evaluated conditions, and callbacks for
resource Ref/GetAtt values, AZs and imports). No I/O: the engine gathers the inputs.
``AWS::NoValue`` resolves to ``NO_VALUE`` and is dropped from the object or list
holding it, as AWS does.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class IntrinsicError(Exception):
    """A template whose functions AWS refuses; the message is AWS's "Template error"."""


class _NoValue:
    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE = _NoValue()
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _missing_resource(logical_id: str) -> Any:
    raise IntrinsicError(f"Unresolved resource dependencies [{logical_id}]")


def _missing_attribute(logical_id: str, attribute: str) -> Any:
    raise IntrinsicError(
        f"Template error: resource {logical_id} does not support attribute type {attribute} in Fn::GetAtt"
    )


@dataclass
class Scope:
    """What resolution needs beside the value itself."""

    parameters: dict[str, Any] = field(default_factory=dict)  # incl. AWS::Region etc.
    mappings: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    resources: frozenset[str] = frozenset()  # logical ids of the template's resources
    ref: Callable[[str], Any] = _missing_resource  # a resource's Ref value
    get_att: Callable[[str, str], Any] = _missing_attribute
    azs: Callable[[str], list[str]] = lambda region: [f"{region}{z}" for z in "abc"]
    import_value: Callable[[str], Any] = lambda name: _no_export(name)
    region: str = "us-east-1"


def _no_export(name: str) -> Any:
    raise IntrinsicError(f"No export named {name} found.")


def is_function(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    [key] = value
    return key == "Ref" or key.startswith("Fn::") or key == "Condition"


def resolve(value: Any, scope: Scope) -> Any:
    """``value`` with every intrinsic function evaluated."""
    if isinstance(value, dict):
        if len(value) == 1:
            [(key, argument)] = value.items()
            handler = _FUNCTIONS.get(key)
            if handler is not None:
                return handler(argument, scope)
        resolved = {k: resolve(v, scope) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    if isinstance(value, list):
        return [v for v in (resolve(item, scope) for item in value) if v is not NO_VALUE]
    return value


def _ref(argument: Any, scope: Scope) -> Any:
    if not isinstance(argument, str):
        raise IntrinsicError("Template error: every Ref object must have a single String value.")
    if argument == "AWS::NoValue":
        return NO_VALUE
    if argument in scope.parameters:
        return scope.parameters[argument]
    if argument in scope.resources:
        return scope.ref(argument)
    raise IntrinsicError(
        f"Template format error: Unresolved resource dependencies [{argument}] in the "
        "Resources block of the template"
    )


def _get_att(argument: Any, scope: Scope) -> Any:
    if isinstance(argument, str) and "." in argument:
        argument = argument.split(".", 1)
    if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)):
        raise IntrinsicError(
            "Template error: every Fn::GetAtt object requires two non-empty parameters"
        )
    logical_id, attribute = argument[0], resolve(argument[1], scope)
    if not isinstance(attribute, str) or not attribute:
        raise IntrinsicError(
            "Template error: every Fn::GetAtt object requires two non-empty parameters"
        )
    if logical_id not in scope.resources:
        raise IntrinsicError(
            f"Template error: instance of Fn::GetAtt references undefined resource {logical_id}"
        )
    return scope.get_att(logical_id, attribute)


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _join(argument: Any, scope: Scope) -> str:
    message = (
        "Template error: every Fn::Join object requires two parameters, (1) a string "
        "delimiter and (2) a list of strings to be joined or a function that returns a list "
        "of strings (such as Fn::GetAZs) to be joined."
    )
    if not (isinstance(argument, list) and len(argument) == 2):
        raise IntrinsicError(message)
    delimiter, items = resolve(argument[0], scope), resolve(argument[1], scope)
    if not isinstance(delimiter, str) or not isinstance(items, list):
        raise IntrinsicError(message)
    parts = [_string(item) for item in items]
    if not all(isinstance(p, str) for p in parts):
        raise IntrinsicError(message)
    return delimiter.join(parts)


def _split(argument: Any, scope: Scope) -> list[str]:
    if not (isinstance(argument, list) and len(argument) == 2):
        raise IntrinsicError(
            "Template error: every Fn::Split object requires two parameters, (1) a string "
            "delimiter and (2) a string to be split or a function that returns a string to be split."
        )
    delimiter, text = resolve(argument[0], scope), resolve(argument[1], scope)
    if not isinstance(delimiter, str) or not isinstance(text, str):
        raise IntrinsicError(
            "Template error: every Fn::Split object requires two parameters, (1) a string "
            "delimiter and (2) a string to be split or a function that returns a string to be split."
        )
    return text.split(delimiter)


def _select(argument: Any, scope: Scope) -> Any:
    if not (isinstance(argument, list) and len(argument) == 2):
        raise IntrinsicError(
            "Template error: Fn::Select requires a list argument with two elements: an integer "
            "index and a list"
        )
    index, items = resolve(argument[0], scope), resolve(argument[1], scope)
    try:
        index = int(index)
    except (TypeError, ValueError):
        raise IntrinsicError("Template error: Fn::Select requires an integer index") from None
    if not isinstance(items, list):
        raise IntrinsicError("Template error: Fn::Select requires a list as second argument")
    if not 0 <= index < len(items):
        raise IntrinsicError(
            "Template error: Fn::Select cannot select nonexistent value at index " + str(index)
        )
    return items[index]


def _sub(argument: Any, scope: Scope) -> str:
    variables: dict[str, Any] = {}
    if isinstance(argument, list):
        if len(argument) != 2 or not isinstance(argument[1], dict):
            raise IntrinsicError(
                "Template error: One or more Fn::Sub intrinsic functions don't specify expected "
                "arguments. Specify a string as first argument, and an optional second argument "
                "to specify a mapping of values to replace in the string"
            )
        text = argument[0]
        variables = {k: resolve(v, scope) for k, v in argument[1].items()}
    else:
        text = argument
    if not isinstance(text, str):
        raise IntrinsicError(
            "Template error: One or more Fn::Sub intrinsic functions don't specify expected "
            "arguments. Specify a string as first argument, and an optional second argument "
            "to specify a mapping of values to replace in the string"
        )

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name.startswith("!"):  # ${!Literal} writes ${Literal}
            return "${" + name[1:] + "}"
        name = name.strip()
        if name in variables:
            value = variables[name]
        elif "." in name and name.split(".", 1)[0] in scope.resources:
            value = _get_att(name.split(".", 1), scope)
        else:
            value = _ref(name, scope)
        value = _string(value)
        if not isinstance(value, str):
            raise IntrinsicError(
                f"Template error: variable {name} in Fn::Sub expression does not resolve to a string"
            )
        return value

    return _SUB_VARIABLE.sub(replace, text)


def _find_in_map(argument: Any, scope: Scope) -> Any:
    if not (isinstance(argument, list) and len(argument) in (3, 4)):
        raise IntrinsicError(
            "Template error: every Fn::FindInMap object requires three parameters, the map "
            "name, map key and the attribute for return value"
        )
    name, top, second = (resolve(a, scope) for a in argument[:3])
    mapping = scope.mappings.get(name)
    if mapping is None:
        raise IntrinsicError(f"Template error: Unable to get mapping for {name}::{top}::{second}")
    try:
        return mapping[_string(top)][_string(second)]
    except (KeyError, TypeError):
        if len(argument) == 4 and isinstance(argument[3], dict) and "DefaultValue" in argument[3]:
            return resolve(argument[3]["DefaultValue"], scope)  # AWS::LanguageExtensions
        raise IntrinsicError(
            f"Template error: Unable to get mapping for {name}::{top}::{second}"
        ) from None


def _base64(argument: Any, scope: Scope) -> str:
    text = resolve(argument, scope)
    if not isinstance(text, str):
        raise IntrinsicError("Template error: every Fn::Base64 object must have a String value")
    return base64.b64encode(text.encode()).decode()


def _get_azs(argument: Any, scope: Scope) -> list[str]:
    region = resolve(argument, scope)
    return scope.azs(region or scope.region)


def _import_value(argument: Any, scope: Scope) -> Any:
    name = resolve(argument, scope)
    if not isinstance(name, str):
        raise IntrinsicError(
            "Template error: every Fn::ImportValue object must have a String value"
        )
    return scope.import_value(name)


def _cidr(argument: Any, scope: Scope) -> list[str]:
    message = (
        "Template error: every Fn::Cidr object requires three parameters, (1) an IP block, "
        "(2) the number of subnets and (3) the subnet mask length"
    )
    if not (isinstance(argument, list) and len(argument) in (2, 3)):
        raise IntrinsicError(message)
    values = [resolve(a, scope) for a in argument]
    try:
        network = ipaddress.ip_network(values[0], strict=False)
        count = int(values[1])
        bits = int(values[2]) if len(values) == 3 else None
    except (TypeError, ValueError):
        raise IntrinsicError(message) from None
    if bits is None or not 0 < bits <= network.max_prefixlen - network.prefixlen:
        raise IntrinsicError(message)
    subnets = network.subnets(new_prefix=network.max_prefixlen - bits)
    result = []
    for subnet in subnets:
        if len(result) == count:
            break
        result.append(str(subnet))
    if len(result) < count:
        raise IntrinsicError(message)
    return result


def _if(argument: Any, scope: Scope) -> Any:
    if not (isinstance(argument, list) and len(argument) == 3 and isinstance(argument[0], str)):
        raise IntrinsicError(
            "Template error: every Fn::If object requires three parameters, the condition, "
            "the value if true and the value if false"
        )
    if argument[0] not in scope.conditions:
        raise IntrinsicError(
            f"Template error: unresolved condition dependency {argument[0]} in Fn::If"
        )
    return resolve(argument[1] if scope.conditions[argument[0]] else argument[2], scope)


def _boolean(value: Any, scope: Scope, name: str) -> bool:
    value = resolve(value, scope)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise IntrinsicError(f"Template error: every {name} object requires a list of boolean values")


def _equals(argument: Any, scope: Scope) -> bool:
    if not (isinstance(argument, list) and len(argument) == 2):
        raise IntrinsicError(
            "Template error: every Fn::Equals object requires a list of 2 string parameters."
        )
    left, right = (resolve(a, scope) for a in argument)
    return _string(left) == _string(right)


def _and(argument: Any, scope: Scope) -> bool:
    if not (isinstance(argument, list) and 2 <= len(argument) <= 10):
        raise IntrinsicError(
            "Template error: every Fn::And object requires a list of at least 2 and at most 10 boolean parameters."
        )
    return all(_boolean(a, scope, "Fn::And") for a in argument)


def _or(argument: Any, scope: Scope) -> bool:
    if not (isinstance(argument, list) and 2 <= len(argument) <= 10):
        raise IntrinsicError(
            "Template error: every Fn::Or object requires a list of at least 2 and at most 10 boolean parameters."
        )
    return any(_boolean(a, scope, "Fn::Or") for a in argument)


def _not(argument: Any, scope: Scope) -> bool:
    if not (isinstance(argument, list) and len(argument) == 1):
        raise IntrinsicError(
            "Template error: every Fn::Not object requires a list of exactly 1 boolean parameter."
        )
    return not _boolean(argument[0], scope, "Fn::Not")


def _condition(argument: Any, scope: Scope) -> bool:
    if argument not in scope.conditions:
        raise IntrinsicError(
            f"Template error: unresolved condition dependency {argument} in Fn::Condition"
        )
    return scope.conditions[argument]


def _length(argument: Any, scope: Scope) -> int:
    value = resolve(argument, scope)
    if not isinstance(value, list):
        raise IntrinsicError("Template error: Fn::Length requires a list")
    return len(value)


def _to_json_string(argument: Any, scope: Scope) -> str:
    return json.dumps(resolve(argument, scope), separators=(",", ":"))


_FUNCTIONS: dict[str, Callable[[Any, Scope], Any]] = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Join": _join,
    "Fn::Split": _split,
    "Fn::Select": _select,
    "Fn::Sub": _sub,
    "Fn::FindInMap": _find_in_map,
    "Fn::Base64": _base64,
    "Fn::GetAZs": _get_azs,
    "Fn::ImportValue": _import_value,
    "Fn::Cidr": _cidr,
    "Fn::If": _if,
    "Fn::Equals": _equals,
    "Fn::And": _and,
    "Fn::Or": _or,
    "Fn::Not": _not,
    "Condition": _condition,
    "Fn::Length": _length,
    "Fn::ToJsonString": _to_json_string,
}


def evaluate_conditions(definitions: dict[str, Any], scope: Scope) -> dict[str, bool]:
    """Every named condition's value; conditions may name each other (``Condition``)."""
    results: dict[str, bool] = {}
    visiting: set[str] = set()

    class _Lazy(dict):
        def __contains__(self, name: object) -> bool:
            return name in definitions

        def __getitem__(self, name: str) -> bool:
            return evaluate(name)

    def evaluate(name: str) -> bool:
        if name in results:
            return results[name]
        if name in visiting:
            raise IntrinsicError(
                f"Template error: Circular dependency between conditions: [{name}]"
            )
        visiting.add(name)
        value = resolve(definitions[name], lazy_scope)
        if not isinstance(value, bool):
            raise IntrinsicError(
                f"Template format error: Conditions can only be boolean operations on parameters and other conditions (condition {name})"
            )
        results[name] = value
        visiting.discard(name)
        return value

    lazy_scope = Scope(
        parameters=scope.parameters, mappings=scope.mappings, conditions=_Lazy(),
        region=scope.region,
    )  # fmt: skip
    for name in definitions:
        evaluate(name)
    return results


def references(value: Any) -> set[str]:
    """Logical names a value refers to through Ref, Fn::GetAtt and Fn::Sub (parameters,
    pseudo parameters and resources alike; the caller sorts them out)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if len(value) == 1:
            [(key, argument)] = value.items()
            if key == "Ref" and isinstance(argument, str):
                return {argument}
            if key == "Fn::GetAtt":
                if isinstance(argument, str):
                    return {argument.split(".", 1)[0]}
                if isinstance(argument, list) and argument and isinstance(argument[0], str):
                    return {argument[0]} | references(argument[1:])
            if key == "Fn::Sub":
                text, variables = (
                    (argument[0], argument[1])
                    if isinstance(argument, list) and len(argument) == 2
                    else (argument, {})
                )
                if isinstance(variables, dict):
                    found |= references(variables)
                else:
                    variables = {}
                if isinstance(text, str):
                    for name in _SUB_VARIABLE.findall(text):
                        name = name.strip()
                        if name and not name.startswith("!") and name not in variables:
                            found.add(name.split(".", 1)[0])
                return found
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found
