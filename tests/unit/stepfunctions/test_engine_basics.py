"""The engine runs Pass/Task/Choice/Succeed/Fail and records AWS's state events."""

import json

from sandlot.services.stepfunctions.asl import TaskFailure

from .fake import machine, run


def test_pass_chain_succeeds_with_result_and_events():
    result, rt = run(
        machine(
            {
                "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.a", "Next": "B"},
                "B": {"Type": "Succeed"},
            }
        ),
        {"in": True},
    )
    assert result.status == "SUCCEEDED"
    assert result.output == {"in": True, "a": {"x": 1}}
    assert rt.types() == [
        "PassStateEntered",
        "PassStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]
    entered = rt.events[0][1]["stateEnteredEventDetails"]
    assert entered == {"name": "A", "input": '{"in":true}', "inputDetails": {"truncated": False}}
    exited = rt.events[1][1]["stateExitedEventDetails"]
    assert json.loads(exited["output"]) == {"in": True, "a": {"x": 1}}
    done = rt.events[-1][1]["executionSucceededEventDetails"]
    assert json.loads(done["output"]) == result.output


def test_task_calls_runtime_with_parameters_and_result_path():
    handlers = {"arn:aws:lambda:us-east-1:123456789012:function:f": lambda a: {"got": a}}
    result, rt = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
                    "Parameters": {"v.$": "$.v", "fixed": 2, "name.$": "$$.Execution.Name"},
                    "ResultSelector": {"inner.$": "$.got"},
                    "ResultPath": "$.r",
                    "TimeoutSeconds": 30,
                    "HeartbeatSeconds": 10,
                    "End": True,
                }
            }
        ),
        {"v": 7},
        handlers,
    )
    assert result.status == "SUCCEEDED", result
    assert result.output == {"v": 7, "r": {"inner": {"v": 7, "fixed": 2, "name": "run-1"}}}
    call = rt.calls[0]
    assert call["state"] == "T" and call["token"] is None and call["resumed"] is False
    assert 29 < call["timeout_s"] <= 30 and call["heartbeat_s"] == 10
    assert rt.types()[:2] == ["TaskStateEntered", "TaskStateExited"]


def test_task_failure_fails_the_execution_with_its_error_and_cause():
    def boom(_):
        raise TaskFailure("Custom.Error", "it broke")

    result, rt = run(
        machine({"T": {"Type": "Task", "Resource": "arn:aws:lambda:::function:f", "End": True}}),
        {},
        {"arn:aws:lambda:::function:f": boom},
    )
    assert (result.status, result.error, result.cause) == ("FAILED", "Custom.Error", "it broke")
    assert rt.events[-1] == (
        "ExecutionFailed",
        {"executionFailedEventDetails": {"error": "Custom.Error", "cause": "it broke"}},
    )


def test_choice_routes_and_default():
    definition = machine(
        {
            "C": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
                    {
                        "And": [
                            {"Variable": "$.s", "IsPresent": True},
                            {"Variable": "$.s", "StringMatches": "log-*.txt"},
                        ],
                        "Next": "Log",
                    },
                ],
                "Default": "Other",
            },
            "Big": {"Type": "Pass", "Result": "big", "End": True},
            "Log": {"Type": "Pass", "Result": "log", "End": True},
            "Other": {"Type": "Pass", "Result": "other", "End": True},
        }
    )
    assert run(definition, {"n": 11})[0].output == "big"
    assert run(definition, {"n": 1, "s": "log-1.txt"})[0].output == "log"
    assert run(definition, {"n": 1, "s": "x"})[0].output == "other"
    _, rt = run(definition, {"n": 11})
    assert rt.types()[:2] == ["ChoiceStateEntered", "ChoiceStateExited"]


def test_choice_without_match_or_default_fails_no_choice_matched():
    result, _ = run(
        machine(
            {
                "C": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "D"}],
                },
                "D": {"Type": "Succeed"},
            }
        ),
        {"n": 2},
    )
    assert (result.status, result.error) == ("FAILED", "States.NoChoiceMatched")


def test_fail_state_error_and_cause():
    result, rt = run(machine({"F": {"Type": "Fail", "Error": "Bad", "Cause": "because"}}), {})
    assert (result.status, result.error, result.cause) == ("FAILED", "Bad", "because")
    assert rt.types() == ["FailStateEntered", "ExecutionFailed"]


def test_fail_state_error_path_and_intrinsic_cause_path():
    result, _ = run(
        machine(
            {
                "F": {
                    "Type": "Fail",
                    "ErrorPath": "$.e",
                    "CausePath": "States.Format('code {}', $.c)",
                }
            }
        ),
        {"e": "E1", "c": 42},
    )
    assert (result.error, result.cause) == ("E1", "code 42")
