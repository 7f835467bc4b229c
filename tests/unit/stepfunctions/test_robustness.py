"""Bad input never crashes the engine: parse answers InvalidDefinition, runs answer FAILED."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandlot.services.stepfunctions.asl import InvalidDefinition, diagnostics, parse

from .fake import machine, run

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = ["Type", "Next", "End", "Resource", "Choices", "Default", "Branches", "ItemProcessor",
          "InputPath", "OutputPath", "ResultPath", "Parameters", "Retry", "Catch", "Seconds",
          "Timestamp", "Error", "Cause", "Assign", "Output", "Arguments", "QueryLanguage",
          "Variable", "ItemsPath", "ResultSelector", "TimeoutSeconds"]  # fmt: skip
TYPES = st.sampled_from(["Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"])
states = st.dictionaries(
    st.sampled_from(FIELDS), json_values | TYPES | st.just("A") | st.just("$.a"), max_size=6
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.sampled_from(["A", "B", None, 3]),
    body=st.dictionaries(st.sampled_from(["A", "B"]), states | json_values, max_size=2),
    top=st.dictionaries(st.sampled_from(["QueryLanguage", "TimeoutSeconds", "X"]), json_values,
                        max_size=1),
)  # fmt: skip
def test_parse_never_crashes(start, body, top):
    text = json.dumps({"StartAt": start, "States": body, **top})
    found = diagnostics(text)
    assert all({"severity", "code", "message"} <= set(d) <= {"severity", "code", "message",
                                                             "location"} for d in found)  # fmt: skip
    try:
        parse(text)
    except InvalidDefinition as e:
        assert e.message.startswith("Invalid State Machine Definition: '")


@settings(max_examples=100, deadline=None)
@given(value=json_values)
def test_paths_and_intrinsics_on_any_input_fail_cleanly(value):
    definition = machine(
        {
            "A": {"Type": "Pass", "InputPath": "$.a", "Parameters": {
                "x.$": "$.b[0]", "f.$": "States.Format('{}', $.b[0])",
                "n.$": "States.MathAdd($.b[0], 1)"}, "ResultPath": "$.a.r", "Next": "C"},
            "C": {"Type": "Choice", "Choices": [
                {"Variable": "$.a.r.x", "NumericGreaterThan": 1, "Next": "D"}], "Default": "D"},
            "D": {"Type": "Succeed"},
        }
    )  # fmt: skip
    result, _ = run(definition, value)
    assert result.status in ("SUCCEEDED", "FAILED")
    if result.status == "FAILED":
        assert result.error in ("States.Runtime", "States.IntrinsicFailure")


def test_non_json_and_empty_definitions():
    for text in ("", "   ", "[]", "null", "{"):
        try:
            parse(text)
        except InvalidDefinition as e:
            assert "Invalid State Machine Definition" in e.message
        else:
            raise AssertionError(text)
