"""Definitions are refused with AWS's InvalidDefinition text; diagnostics list every problem."""

import json

import pytest

from sandlot.services.stepfunctions.asl import InvalidDefinition, diagnostics, parse


def refuse(definition) -> str:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    with pytest.raises(InvalidDefinition) as e:
        parse(text)
    assert e.value.message.startswith("Invalid State Machine Definition: '")
    return e.value.message


def test_missing_next_target_message_is_aws_text():
    message = refuse({"StartAt": "Start", "States": {"Start": {"Type": "Pass", "Next": "Foo"}}})
    assert "MISSING_TRANSITION_TARGET: Missing 'Next' target: Foo at /States/Start/Next" in message


def test_unreachable_state_and_missing_target_together():
    message = refuse(
        {
            "StartAt": "pass1",
            "States": {
                "pass1": {"Type": "Pass", "Next": "pass3"},
                "pass2": {"Type": "Pass", "End": True},
            },
        }
    )
    # The exact text AWS answered for this definition (quoted in localstack PR 12487).
    assert message == (
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: "
        'pass3 at /States/pass1/Next, MISSING_TRANSITION_TARGET: State "pass2" is not '
        "reachable. at /States/pass2'"
    )


@pytest.mark.parametrize(
    ("definition", "fragment"),
    [
        ("{not json", "INVALID_JSON_DESCRIPTION"),
        ({"States": {"A": {"Type": "Succeed"}}}, "These fields are required: [StartAt] at /"),
        ({"StartAt": "B", "States": {"A": {"Type": "Succeed"}}},
         "Missing 'Next' target: B at /StartAt"),
        ({"StartAt": "A", "States": {"A": {"Type": "Bogus", "End": True}}},
         "SCHEMA_VALIDATION_FAILED: Value is not a valid state type: Bogus at /States/A/Type"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True, "Next": "A"}}},
         "The fields Next and End cannot both be set at /States/A"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass"}}},
         "These fields are required: [Next] or [End] at /States/A"),
        ({"StartAt": "A", "States": {"A": {"Type": "Choice", "Default": "A"}}},
         "These fields are required: [Choices] at /States/A"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True, "Foo": 1}}},
         "SCHEMA_VALIDATION_FAILED: Field 'Foo' is not supported at /States/A"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True, "InputPath": "x"}}},
         "The value for the field 'InputPath' must be a valid JSONPath at /States/A/InputPath"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True, "ResultPath": "$..x"}}},
         "must be a valid reference path"),
        ({"StartAt": "A", "States": {"A": {"Type": "Task", "End": True}}},
         "These fields are required: [Resource] at /States/A"),
        ({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "lambda", "End": True}}},
         "INVALID_RESOURCE"),
        ({"StartAt": "A", "States": {"A": {"Type": "Wait", "End": True}}},
         "exactly one of Seconds, Timestamp, SecondsPath or TimestampPath"),
        ({"StartAt": "A", "States": {"A": {"Type": "Wait", "Timestamp": "yesterday", "End": True}}},
         "Timestamp must be an ISO-8601 timestamp at /States/A/Timestamp"),
        ({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:lambda:::function:f",
                                           "End": True,
                                           "Retry": [{"ErrorEquals": ["States.ALL"]},
                                                     {"ErrorEquals": ["X"]}]}}},
         'with "States.ALL" must be the last in Retry'),
        ({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:lambda:::function:f",
                                           "End": True,
                                           "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]}}},
         "BackoffRate must be a number greater than or equal to 1.0"),
        ({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:lambda:::function:f",
                                           "End": True,
                                           "Catch": [{"ErrorEquals": ["X"], "Next": "Nowhere"}]}}},
         "Missing 'Next' target: Nowhere at /States/A/Catch[0]/Next"),
        ({"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [
            {"Variable": "$.x", "Next": "A"}]}}},
         "A Choice Rule must have exactly one comparison operator"),
        ({"StartAt": "A", "States": {"A": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}}}]}}},
         "Missing 'Next' target: Y at /States/A/Branches[0]/States/X/Next"),
        ({"StartAt": "A", "States": {"A": {"Type": "Map", "End": True, "ItemProcessor": {
            "StartAt": "X", "States": {"X": {"Type": "Nope"}}}}}},
         "Value is not a valid state type: Nope at /States/A/ItemProcessor/States/X/Type"),
        ({"QueryLanguage": "JSONata", "StartAt": "A",
          "States": {"A": {"Type": "Pass", "InputPath": "$", "End": True}}},
         "The QueryLanguage is set to 'JSONata', but field 'InputPath' is only supported for "
         "the 'JSONPath' QueryLanguage at /States/A"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Output": {}, "End": True}}},
         "SCHEMA_VALIDATION_FAILED: The QueryLanguage is set to 'JSONPath', but field 'Output' "
         "is only supported for the 'JSONata' QueryLanguage at /States/A"),
        ({"QueryLanguage": "JSONata", "StartAt": "A",
          "States": {"A": {"Type": "Pass", "Output": "{% $states.input.( %}", "End": True}}},
         "INVALID_JSONATA_EXPRESSION: Expected ) before end of expression at /States/A/Output"),
        # Measured on AWS (floci issues 2670, 2786): bare top-level references; a loop with
        # an unreachable state reports only MISSING_END_STATE.
        ({"QueryLanguage": "JSONata", "StartAt": "E",
          "States": {"E": {"Type": "Pass", "Output": {"v": "{% phone %}"}, "End": True}}},
         "UNSUPPORTED_JSONATA_EXPRESSION: Reference to 'phone' at the top level is not "
         "supported. at /States/E/Output/v"),
        ({"QueryLanguage": "JSONata", "StartAt": "C", "States": {"C": {"Type": "Choice",
          "Choices": [{"Condition": "{% $states.input.a and b %}", "Next": "D"}]},
          "D": {"Type": "Succeed"}}},
         "Reference to 'b' at the top level is not supported. at /States/C/Choices[0]/Condition"),
        ({"QueryLanguage": "JSONata", "StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "T", "Output": "{% 1 + %}"}]}}},
         "INVALID_JSONATA_EXPRESSION: Unexpected end of expression at /States/T/Catch[0]/Output"),
        ({"QueryLanguage": "JSONata", "StartAt": "A",
          "States": {"A": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": True}}},
         "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine "
         "at /States/A"),
        # Measured on AWS (floci issue 2735): TimeoutSeconds only on Task; a bare loop.
        ({"StartAt": "M", "States": {"M": {"Type": "Map", "TimeoutSeconds": 5, "End": True,
                                           "ItemProcessor": {"StartAt": "P", "States": {
                                               "P": {"Type": "Pass", "End": True}}}}}},
         "SCHEMA_VALIDATION_FAILED: Field 'TimeoutSeconds' is not supported at /States/M"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},
                                     "B": {"Type": "Pass", "Next": "A"}}},
         "MISSING_END_STATE: Workflow has no terminal state at null"),
        ({"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, "ItemProcessor": {
            "QueryLanguage": "JSONata", "StartAt": "P", "States": {
                "P": {"Type": "Pass", "End": True}}}}}},
         "Field 'QueryLanguage' is not supported at /States/M/ItemProcessor"),
        # A JSONata Map does not make its item processor JSONata: it inherits the machine's.
        ({"StartAt": "M", "States": {"M": {"Type": "Map", "QueryLanguage": "JSONata",
                                           "End": True, "ItemProcessor": {
            "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": 1, "End": True}}}}}},
         "field 'Output' is only supported for the 'JSONata' QueryLanguage at "
         "/States/M/ItemProcessor/States/P"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True,
                                           "Assign": {"states": 1}}}},
         "The variable name 'states' is not valid"),
    ],
)  # fmt: skip
def test_refused(definition, fragment):
    assert fragment in refuse(definition)


def test_diagnostics_report_errors_and_warnings():
    text = json.dumps(
        {
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Parameters": {"x": "$.looks.like.a.path"}, "Next": "Z"},
            },
        }
    )
    found = diagnostics(text)
    codes = [(d["severity"], d["code"], d.get("location")) for d in found]
    assert ("ERROR", "MISSING_TRANSITION_TARGET", "/States/A/Next") in codes
    assert ("WARNING", "NO_DOLLAR", "/States/A/Parameters/x") in codes
    assert [d["severity"] for d in found] == sorted((d["severity"] for d in found),
                                                    key=lambda s: s != "ERROR")  # fmt: skip


def test_valid_definition_has_no_diagnostics():
    text = json.dumps(
        {
            "Comment": "ok",
            "StartAt": "A",
            "TimeoutSeconds": 30,
            "States": {
                "A": {"Type": "Pass", "Next": "C"},
                "C": {"Type": "Choice",
                      "Choices": [{"Not": {"Variable": "$.x", "IsPresent": True}, "Next": "D"}],
                      "Default": "F"},
                "D": {"Type": "Succeed"},
                "F": {"Type": "Fail", "Error": "E"},
            },
        }
    )  # fmt: skip
    assert diagnostics(text) == []
    assert parse(text).timeout_seconds == 30


def test_missing_end_state_suppresses_the_unreachable_walk():
    message = refuse({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},
                                                 "B": {"Type": "Pass", "Next": "A"},
                                                 "X": {"Type": "Pass", "Next": "A"}}})  # fmt: skip
    assert message == (
        "Invalid State Machine Definition: 'MISSING_END_STATE: Workflow has no terminal state "
        "at null'"
    )


def test_jsonata_references_inside_context_are_accepted():
    text = json.dumps(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "P",
            "States": {"P": {"Type": "Pass", "End": True, "Output": {
                "a": "{% $states.input.items[price > 5].name %}",
                "b": "{% $map($states.input.items, function($i) { $i.name }) %}",
                "c": "{% ($x := $states.input; $x.a) %}",
                "d": "{% $states.input.items.(price * 2) %}",
            }}},
        }
    )  # fmt: skip
    assert diagnostics(text) == []
