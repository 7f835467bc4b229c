"""The expression engine by tables: conditions, updates, projections and AWS's errors."""

from __future__ import annotations

import pytest

from sandlot.protocol import ServiceError
from sandlot.services.dynamodb.expressions import (
    Placeholders,
    apply_update,
    matches,
    parse_condition,
    parse_projection,
    parse_update,
    project,
)

ITEM = {
    "id": {"S": "user#1"},
    "age": {"N": "42"},
    "name": {"S": "Ada"},
    "bytes": {"B": b"\x01\x02\x03"},
    "tags": {"SS": ["a", "b"]},
    "scores": {"NS": ["1", "2.5"]},
    "list": {"L": [{"S": "x"}, {"N": "7"}, {"M": {"deep": {"S": "d"}}}]},
    "map": {"M": {"inner": {"M": {"v": {"N": "1"}}}, "flag": {"BOOL": True}}},
    "nothing": {"NULL": True},
}
NAMES = {"#n": "name", "#l": "list", "#m": "map", "#i": "inner"}
VALUES = {
    ":42": {"N": "42"},
    ":42p0": {"N": "42.0"},
    ":40": {"N": "40"},
    ":50": {"N": "50"},
    ":ada": {"S": "Ada"},
    ":A": {"S": "A"},
    ":b": {"S": "b"},
    ":x": {"S": "x"},
    ":bin": {"B": b"\x01"},
    ":two": {"N": "2"},
    ":three": {"N": "3"},
    ":SS": {"S": "SS"},
    ":N": {"S": "N"},
    ":seven": {"N": "7"},
}


def _cond(text: str) -> bool:
    ph = Placeholders(names=dict(NAMES), values=dict(VALUES))
    return matches(ITEM, parse_condition(text, "ConditionExpression", ph))


CONDITIONS = [
    ("age = :42", True),
    ("age = :42p0", True),  # numbers compare by value
    ("age <> :42", False),
    ("absent <> :42", True),  # an absent attribute is unequal to everything
    ("absent = :42", False),
    ("age < :50 AND age > :40", True),
    ("age <= :42 AND age >= :42", True),
    ("#n < :A", False),  # "Ada" > "A"
    ("#n > :A", True),
    ("age > :A", False),  # different types never order
    ("age BETWEEN :40 AND :50", True),
    ("age BETWEEN :50 AND :50", False),
    ("age IN (:40, :42)", True),
    ("#n IN (:x, :b)", False),
    ("attribute_exists(age) AND attribute_not_exists(absent)", True),
    ("attribute_exists(#m.#i.v)", True),
    ("attribute_exists(#l[2].deep)", True),
    ("attribute_exists(#l[3])", False),
    ("attribute_type(tags, :SS) AND attribute_type(age, :N)", True),
    ("begins_with(id, :b)", False),
    ("begins_with(#n, :A)", True),
    ("begins_with(bytes, :bin)", True),
    ("contains(tags, :b)", True),
    ("contains(#n, :x)", False),
    ("contains(#l, :x)", True),
    ("contains(#l, :seven)", True),
    ("contains(scores, :two)", False),
    ("size(#n) = :three AND size(tags) = :two AND size(#l) = :three", True),
    ("size(bytes) = :three", True),
    ("NOT age = :42 OR #n = :ada", True),
    ("NOT (age = :42 OR #n = :ada)", False),
    ("age = :40 OR age = :42 AND #n = :x", False),  # AND binds tighter than OR
    ("(age = :40 OR age = :42) AND #n = :ada", True),
    ("#m.flag = #m.flag", True),
]


@pytest.mark.parametrize(("text", "expected"), CONDITIONS)
def test_conditions(text: str, expected: bool) -> None:
    assert _cond(text) is expected


def _update(text: str, values: dict | None = None, item: dict | None = None) -> dict:
    ph = Placeholders(names=dict(NAMES), values=values or dict(VALUES))
    return apply_update(item if item is not None else ITEM, parse_update(text, ph))


def test_update_actions() -> None:
    new = _update("SET age = age + :two, newer = if_not_exists(newer, :x) REMOVE #l[0], #l[1]")
    assert new["age"] == {"N": "44"} and new["newer"] == {"S": "x"}
    assert new["list"] == {"L": [{"M": {"deep": {"S": "d"}}}]}  # indexes name the old positions
    new = _update("SET #m.#i.v = :two, #l[9] = :x")  # past the end: appended
    assert new["map"]["M"]["inner"]["M"]["v"] == {"N": "2"}
    assert new["list"]["L"][-1] == {"S": "x"}
    new = _update("ADD tags :t, age :two, fresh :two DELETE scores :s",
                  {":t": {"SS": ["c", "a"]}, ":two": {"N": "2"}, ":s": {"NS": ["2.50"]}})  # fmt: skip
    assert new["tags"] == {"SS": ["a", "b", "c"]} and new["age"] == {"N": "44"}
    assert new["fresh"] == {"N": "2"} and new["scores"] == {"NS": ["1"]}
    new = _update("SET #l = list_append(:front, #l)", {":front": {"L": [{"N": "0"}]}})
    assert new["list"]["L"][0] == {"N": "0"} and len(new["list"]["L"]) == 4
    assert ITEM["age"] == {"N": "42"}  # the input is not changed


def test_projection_nested_paths_and_list_indexes() -> None:
    ph = Placeholders(names=dict(NAMES))
    paths = parse_projection("#l[2].deep, #l[0], #m.flag, age, absent", ph)
    assert project(ITEM, paths) == {
        "list": {"L": [{"S": "x"}, {"M": {"deep": {"S": "d"}}}]},
        "map": {"M": {"flag": {"BOOL": True}}},
        "age": {"N": "42"},
    }


ERRORS = [
    ("cond", "status = :42",
     "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"),
    ("cond", "#nope = :42", "Invalid ConditionExpression: An expression attribute name used in "
     "the document path is not defined; attribute name: #nope"),
    ("cond", "age = :nope", "Invalid ConditionExpression: An expression attribute value used in "
     "expression is not defined; attribute value: :nope"),
    ("cond", "age = ", 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "= "'),
    ("cond", "age == :42", 'Invalid ConditionExpression: Syntax error; token: "=", near: "=="'),
    ("cond", "frob(age)", "Invalid ConditionExpression: Invalid function name; function: frob"),
    ("cond", "begins_with(age)", "Invalid ConditionExpression: Incorrect number of operands for "
     "operator or function; operator or function: begins_with, number of operands: 1"),
    ("cond", "attribute_exists(:42)", "Invalid ConditionExpression: Operator or function "
     "requires a document path; operator or function: attribute_exists"),
    ("update", "SET a = :42 SET b = :42", 'Invalid UpdateExpression: The "SET" section can only '
     "be used once in an update expression;"),
    ("update", "SET a = :42, a.b = :42", "Invalid UpdateExpression: Two document paths overlap "
     "with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"),
    ("update", "SET a = :ada + :42", "Invalid UpdateExpression: Incorrect operand type for "
     "operator or function; operator or function: +, operand type: S"),
    ("update", "ADD a :ada", "Invalid UpdateExpression: Incorrect operand type for operator or "
     "function; operator: ADD, operand type: STRING"),
    ("update", "SET nope.deeper = :42", "Invalid UpdateExpression: The document path provided "
     "in the update expression is invalid for update"),
    ("update", "SET a = nope", "Invalid UpdateExpression: The provided expression refers to an "
     "attribute that does not exist in the item"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "text", "message"), ERRORS)
def test_errors(kind: str, text: str, message: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        if kind == "cond":
            _cond(text)
        else:
            _update(text)
    assert excinfo.value.code == "ValidationException"
    assert excinfo.value.message == message


def test_unused_placeholders() -> None:
    ph = Placeholders(names={"#a": "a", "#b": "b"}, values={":x": {"N": "1"}, ":y": {"N": "2"}})
    parse_condition("#a = :x", "ConditionExpression", ph)
    with pytest.raises(ServiceError) as excinfo:
        ph.check_unused()
    assert excinfo.value.message == (
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:y}"
    )
