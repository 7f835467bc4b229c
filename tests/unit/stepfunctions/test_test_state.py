"""TestState: one state run once, with inspection data and AWS's four statuses."""

import asyncio
import json

import pytest

from sandlot.services.stepfunctions import asl

from .fake import FakeRuntime

FN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def call(state: dict, input, handlers=None, **kwargs) -> dict:
    runtime = FakeRuntime(handlers)
    return asyncio.run(asl.run_test_state(json.dumps(state), input, runtime, **kwargs))


def test_task_success_with_every_inspection_step():
    answer = call(
        {"Type": "Task", "Resource": FN, "InputPath": "$.in",
         "Parameters": {"v.$": "$.v"}, "ResultSelector": {"r.$": "$.got"},
         "ResultPath": "$.res", "Next": "After"},
        {"in": {"v": 1}},
        {FN: lambda a: {"got": a["v"] + 1}},
    )  # fmt: skip
    assert answer["status"] == "SUCCEEDED" and answer["nextState"] == "After"
    # ResultPath places the result into the raw state input, not the InputPath selection.
    assert json.loads(answer["output"]) == {"in": {"v": 1}, "res": {"r": 2}}
    data = {k: json.loads(v) for k, v in answer["inspectionData"].items()}
    assert data == {
        "input": {"in": {"v": 1}},
        "afterInputPath": {"v": 1},
        "afterParameters": {"v": 1},
        "result": {"got": 2},
        "afterResultSelector": {"r": 2},
        "afterResultPath": {"in": {"v": 1}, "res": {"r": 2}},
        "variables": {},
    }


def test_retriable_caught_and_failed():
    def boom(_):
        raise asl.TaskFailure("Err", "c")

    base = {"Type": "Task", "Resource": FN, "End": True}
    answer = call({**base, "Retry": [{"ErrorEquals": ["Err"], "IntervalSeconds": 3}]}, {},
                  {FN: boom})  # fmt: skip
    assert (answer["status"], answer["error"], answer["cause"]) == ("RETRIABLE", "Err", "c")
    assert answer["inspectionData"]["errorDetails"] == {
        "retryIndex": 0, "retryBackoffIntervalSeconds": 3}  # fmt: skip
    del base["End"]
    answer = call({**base, "Next": "N", "Catch": [{"ErrorEquals": ["Err"], "Next": "Handler"}]},
                  {}, {FN: boom})  # fmt: skip
    assert (answer["status"], answer["nextState"]) == ("CAUGHT_ERROR", "Handler")
    assert json.loads(answer["output"]) == {"Error": "Err", "Cause": "c"}
    answer = call({**base, "Next": "N"}, {}, {FN: boom})
    assert (answer["status"], answer["error"]) == ("FAILED", "Err")


def test_choice_state_in_a_whole_machine_with_variables():
    machine = {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$x", "NumericEquals": 1,
                                                 "Next": "One"}], "Default": "Other"},
            "One": {"Type": "Succeed"},
            "Other": {"Type": "Succeed"},
        },
    }  # fmt: skip
    runtime = FakeRuntime()
    answer = asyncio.run(
        asl.run_test_state(json.dumps(machine), {}, runtime, state_name="C", variables={"x": 1})
    )
    assert (answer["status"], answer["nextState"]) == ("SUCCEEDED", "One")


def test_invalid_state_is_invalid_definition():
    with pytest.raises(asl.InvalidDefinition) as e:
        call({"Type": "Nope"}, {})
    assert "SCHEMA_VALIDATION_FAILED" in e.value.message
