"""Every intrinsic function, with the examples from AWS's intrinsic-functions page."""

import base64
import hashlib
import re

import pytest

from sandlot.services.stepfunctions.asl import InvalidDefinition, parse

from .fake import machine, run


def evaluate(expression: str, input=None):
    result, _ = run(
        machine({"P": {"Type": "Pass", "Parameters": {"v.$": expression}, "End": True}}),
        input if input is not None else {},
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result.output["v"]


def failure(expression: str, input=None):
    result, _ = run(
        machine({"P": {"Type": "Pass", "Parameters": {"v.$": expression}, "End": True}}),
        input if input is not None else {},
    )
    assert result.status == "FAILED"
    return result.error, result.cause


NUMBERS = {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "chunkSize": 4}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("States.Format('Hello, my name is {}.', $.name)", "Hello, my name is Arnav."),
        ("States.Format('{} + {} = {}', 1, $.n, true)", "1 + 2 = true"),
        ("States.Format('literal \\{\\} and \\'quoted\\'')", "literal {} and 'quoted'"),
        ("States.StringToJson($.escaped)", {"foo": "bar"}),
        ("States.JsonToString($.obj)", '{"foo":"bar","n":[1,2]}'),
        ("States.Array($.name, 1, 'x', null)", ["Arnav", 1, "x", None]),
        ("States.Array()", []),
        ("States.ArrayPartition($.inputArray, 4)", [[1, 2, 3, 4], [5, 6, 7, 8], [9]]),
        ("States.ArrayContains($.inputArray, 5)", True),
        ("States.ArrayContains($.inputArray, 10)", False),
        ("States.ArrayRange(1, 9, 2)", [1, 3, 5, 7, 9]),
        ("States.ArrayRange(10, 0, -5)", [10, 5, 0]),
        ("States.ArrayGetItem($.inputArray, 5)", 6),
        ("States.ArrayLength($.inputArray)", 9),
        ("States.ArrayUnique(States.Array(1, 2, 3, 3, 3, 3, 3, 3, 4))", [1, 2, 3, 4]),
        ("States.Base64Encode('Data to encode')", "RGF0YSB0byBlbmNvZGU="),
        ("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", "Data to encode"),
        ("States.JsonMerge($.a, $.b, false)", {"a3": 1, "a4": 2, "x": 2, "c": 3}),
        ("States.MathAdd(111, -1)", 110),
        ("States.StringSplit('1,2,3,4,5', ',')", ["1", "2", "3", "4", "5"]),
        (
            "States.StringSplit('This.is+a,test=string', '.+,=')",
            ["This", "is", "a", "test", "string"],
        ),
        (
            "States.Format('{}', States.ArrayGetItem(States.StringSplit($.arn, ':'), 3))",
            "us-east-1",
        ),
        ("States.Format('{} {}', $$.Execution.Name, $$.State.Name)", "run-1 P"),
    ],
)
def test_intrinsic(expression, expected):
    source = {
        **NUMBERS,
        "name": "Arnav",
        "n": 2,
        "escaped": '{"foo": "bar"}',
        "obj": {"foo": "bar", "n": [1, 2]},
        "a": {"a3": 1, "a4": 2, "x": 2},
        "b": {"c": 3},
        "arn": "arn:aws:lambda:us-east-1:123:function:f",
    }
    assert evaluate(expression, source) == expected


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512"])
def test_hash(algorithm):
    python_name = algorithm.lower().replace("-", "")
    expected = hashlib.new(python_name, b"input data").hexdigest()
    assert evaluate(f"States.Hash('input data', '{algorithm}')") == expected


def test_uuid_and_math_random():
    value = evaluate("States.UUID()")
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value
    )
    for _ in range(20):
        assert 1 <= evaluate("States.MathRandom(1, 5)") < 5
    assert evaluate("States.MathRandom(1, 1000, 7)") == evaluate("States.MathRandom(1, 1000, 7)")


def test_base64_roundtrip_unicode():
    text = "héllo ✓"
    encoded = base64.b64encode(text.encode()).decode()
    assert evaluate("States.Base64Encode($.t)", {"t": text}) == encoded
    assert evaluate("States.Base64Decode($.e)", {"e": encoded}) == text


@pytest.mark.parametrize(
    "expression",
    [
        "States.ArrayPartition($.inputArray, 0)",
        "States.ArrayGetItem($.inputArray, 9)",
        "States.ArrayRange(1, 2000, 1)",
        "States.ArrayRange(1, 9, 0)",
        "States.Format('{} {}', 1)",
        "States.Format('{}', 1, 2)",
        "States.Hash('x', 'SHA-3')",
        "States.JsonMerge($.inputArray, $.inputArray, false)",
        "States.StringToJson('{not json')",
        "States.Base64Decode('%%%')",
        "States.MathAdd(2147483648, 1)",
        "States.MathAdd('1', 1)",
        "States.ArrayLength('abc')",
        "States.MathRandom(5, 1)",
        "States.UUID(1)",
    ],
)
def test_bad_arguments_fail_with_intrinsic_failure(expression):
    error, cause = failure(expression, NUMBERS)
    assert error == "States.IntrinsicFailure"
    assert cause


def test_missing_path_argument_is_states_runtime():
    error, cause = failure("States.Array($.missing)")
    assert error == "States.Runtime"
    assert "'$.missing'" in cause


@pytest.mark.parametrize(
    "expression",
    ["States.Nope(1)", "States.Format('a'", "States.Array(1,)", "States.Array(1) x"],
)
def test_malformed_calls_are_refused_at_parse(expression):
    definition = machine({"P": {"Type": "Pass", "Parameters": {"v.$": expression}, "End": True}})
    import json

    with pytest.raises(InvalidDefinition) as e:
        parse(json.dumps(definition))
    assert "must be a valid JSONPath or a valid intrinsic function call" in e.value.message
