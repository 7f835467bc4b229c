"""The legacy (pre-expression) parameters older SDKs and ORMs still send, translated
into the expression trees the engine evaluates: ``Expected``, ``KeyConditions``,
``QueryFilter`` and ``ScanFilter`` (with ``ConditionalOperator``) become condition
trees, ``AttributeUpdates`` an update tree (AWS's "Legacy conditional parameters")."""

from __future__ import annotations

from sandlot.services.dynamodb.errors import invalid_parameters, validation
from sandlot.services.dynamodb.expressions.syntax import (
    And,
    Between,
    Call,
    Compare,
    In,
    Not,
    Or,
    Path,
    Update,
    Value,
)
from sandlot.services.dynamodb.values import validate_value

_COMPARE = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
_ARGUMENTS = {**dict.fromkeys(_COMPARE, 1), "NOT_NULL": 0, "NULL": 0, "CONTAINS": 1,
              "NOT_CONTAINS": 1, "BEGINS_WITH": 1, "BETWEEN": 2}  # fmt: skip

# Which legacy parameter each expression parameter replaces (mixing them is refused).
PAIRS = {
    "ConditionExpression": ("Expected",),
    "UpdateExpression": ("AttributeUpdates",),
    "KeyConditionExpression": ("KeyConditions",),
    "FilterExpression": ("QueryFilter", "ScanFilter"),
    "ProjectionExpression": ("AttributesToGet",),
}


def refuse_mixing(params: dict) -> None:
    """AWS refuses a request that mixes expression and legacy parameters."""
    legacy = [n for names in PAIRS.values() for n in names if params.get(n) is not None]
    modern = [n for n in PAIRS if params.get(n) is not None]
    if legacy and modern:
        raise validation(
            "Can not use both expression and non-expression parameters in the same request: "
            f"Non-expression parameters: {{{', '.join(legacy)}}} Expression parameters: "
            f"{{{', '.join(modern)}}}"
        )


def _values(name: str, condition: dict, operator: str) -> list[Value]:
    values = [validate_value(v) for v in condition.get("AttributeValueList") or ()]
    wanted = _ARGUMENTS.get(operator)
    if (wanted is not None and len(values) != wanted) or (operator == "IN" and not values):
        raise invalid_parameters(
            f"Invalid number of argument(s) for the {operator} ComparisonOperator"
        )
    return [Value(f":{name}{i}", v) for i, v in enumerate(values)]


def _one(name: str, condition: dict, *, expected: bool):
    path = Path((name,))
    operator = condition.get("ComparisonOperator")
    if operator is None and expected:  # Expected's Value/Exists form
        exists = condition.get("Exists", True)
        if "Value" in condition:
            if not exists:
                raise validation(
                    "One or more parameter values were invalid: Value cannot be used when "
                    "Exists is false for Attribute: " + name
                )
            return Compare("=", path, Value(f":{name}", validate_value(condition["Value"])))
        if exists:
            raise validation(
                "One or more parameter values were invalid: Value must be provided when Exists "
                "is true for Attribute: " + name
            )
        return Call("attribute_not_exists", (path,))
    if operator is None:
        raise validation("ComparisonOperator is required")
    values = _values(name, condition, operator)
    if operator in _COMPARE:
        return Compare(_COMPARE[operator], path, values[0])
    if operator == "NOT_NULL":
        return Call("attribute_exists", (path,))
    if operator == "NULL":
        return Call("attribute_not_exists", (path,))
    if operator == "CONTAINS":
        return Call("contains", (path, values[0]))
    if operator == "NOT_CONTAINS":
        return And(Call("attribute_exists", (path,)), Not(Call("contains", (path, values[0]))))
    if operator == "BEGINS_WITH":
        return Call("begins_with", (path, values[0]))
    if operator == "BETWEEN":
        return Between(path, values[0], values[1])
    if operator == "IN":
        return In(path, tuple(values))
    raise validation(f"Unsupported operator on ComparisonOperator: {operator}")


def condition(conditions: dict | None, operator: str | None, *, expected: bool = False):
    """The tree of a legacy condition map (None when there is none)."""
    if not conditions:
        return None
    combine = Or if (operator or "AND") == "OR" else And
    tree = None
    for name, spec in conditions.items():
        one = _one(name, spec, expected=expected)
        tree = one if tree is None else combine(tree, one)
    return tree


def update(updates: dict | None) -> Update | None:
    """The update tree of AttributeUpdates: PUT sets, DELETE removes (or takes elements
    out of a set), ADD adds to a number or set, appends to a list."""
    if not updates:
        return None
    sets, removes, adds, deletes = [], [], [], []
    for name, spec in updates.items():
        path = Path((name,))
        action = spec.get("Action", "PUT")
        value = Value(f":{name}", validate_value(spec["Value"])) if "Value" in spec else None
        if action == "PUT":
            if value is None:
                raise invalid_parameters(f"Only DELETE action is allowed when no attribute "
                                         f"value is specified: {name}")  # fmt: skip
            sets.append((path, value))
        elif action == "DELETE":
            (deletes.append((path, value)) if value is not None else removes.append(path))
        elif value is None:
            raise invalid_parameters(f"Only DELETE action is allowed when no attribute value is "
                                     f"specified: {name}")  # fmt: skip
        elif "L" in value.value:
            fallback = Value(f":{name}_empty", {"L": []})
            sets.append((path, Call("list_append",
                                    (Call("if_not_exists", (path, fallback)), value))))  # fmt: skip
        else:
            adds.append((path, value))
    return Update(tuple(sets), tuple(removes), tuple(adds), tuple(deletes))
