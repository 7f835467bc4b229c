"""JSONata states: Arguments, Output, Assign, Conditions, $states, AWS's added functions."""

import hashlib
import time

from sandlot.services.stepfunctions.asl import TaskFailure

from .fake import machine, run

INVOKE = "arn:aws:states:::lambda:invoke"


def jsonata(states: dict, **top) -> dict:
    return machine(states, QueryLanguage="JSONata", **top)


def test_task_arguments_output_assign_and_variables_in_later_states():
    def lam(arguments):
        return {"Payload": {"total": arguments["Payload"]["a"] + arguments["Payload"]["b"]},
                "StatusCode": 200}  # fmt: skip

    definition = jsonata(
        {
            "Add": {
                "Type": "Task",
                "Resource": INVOKE,
                "Arguments": {"FunctionName": "f",
                              "Payload": {"a": "{% $states.input.x %}", "b": 2}},
                "Assign": {"total": "{% $states.result.Payload.total %}",
                           "who": "{% $states.context.Execution.Name %}"},
                "Output": "{% $states.result.Payload %}",
                "Next": "Use",
            },
            "Use": {"Type": "Pass",
                    "Output": {"sum": "{% $total %}", "by": "{% $who %}",
                               "input": "{% $states.input %}"},
                    "End": True},
        }
    )  # fmt: skip
    result, rt = run(definition, {"x": 40}, {INVOKE: lam})
    assert result.status == "SUCCEEDED", result
    assert result.output == {"sum": 42, "by": "run-1", "input": {"total": 42}}


def test_task_without_arguments_gets_the_input_and_outputs_the_result():
    result, rt = run(jsonata({"T": {"Type": "Task", "Resource": INVOKE, "End": True}}),
                     {"a": 1}, {INVOKE: lambda a: {"got": a}})  # fmt: skip
    assert result.output == {"got": {"a": 1}}


def test_pass_without_output_passes_input_through():
    result, _ = run(jsonata({"P": {"Type": "Pass", "End": True}}), {"a": [1, 2]})
    assert result.output == {"a": [1, 2]}


def test_choice_conditions_with_rule_output_and_assign():
    definition = jsonata(
        {
            "C": {"Type": "Choice",
                  "Choices": [{"Condition": "{% $states.input.n > 10 %}", "Next": "Big",
                               "Assign": {"size": "big"}},
                              {"Condition": "{% $states.input.n > 5 %}", "Next": "Mid",
                               "Output": {"m": "{% $states.input.n * 2 %}"}}],
                  "Default": "Small"},
            "Big": {"Type": "Pass", "Output": "{% $size %}", "End": True},
            "Mid": {"Type": "Pass", "End": True},
            "Small": {"Type": "Pass", "Output": "small", "End": True},
        }
    )  # fmt: skip
    assert run(definition, {"n": 11})[0].output == "big"
    assert run(definition, {"n": 6})[0].output == {"m": 12}
    assert run(definition, {"n": 1})[0].output == "small"


def test_condition_that_is_not_boolean_fails_query_evaluation():
    definition = jsonata(
        {"C": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.n %}", "Next": "D"}]},
         "D": {"Type": "Succeed"}}
    )  # fmt: skip
    result, _ = run(definition, {"n": 3})
    assert result.error == "States.QueryEvaluationError"


def test_catch_error_output_and_retry():
    def boom(_):
        raise TaskFailure("Bad", "because")

    definition = jsonata(
        {
            "T": {"Type": "Task", "Resource": INVOKE, "Next": "Z",
                  "Retry": [{"ErrorEquals": ["Bad"], "MaxAttempts": 1}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H",
                             "Output": {"err": "{% $states.errorOutput.Error %}",
                                        "was": "{% $states.input.v %}"},
                             "Assign": {"failed": True}}]},
            "H": {"Type": "Pass", "Output": {"o": "{% $states.input %}", "f": "{% $failed %}"},
                  "End": True},
            "Z": {"Type": "Succeed"},
        }
    )  # fmt: skip
    result, rt = run(definition, {"v": 9}, {INVOKE: boom})
    assert result.output == {"o": {"err": "Bad", "was": 9}, "f": True}
    assert len(rt.calls) == 2


def test_map_items_and_item_selector_and_aws_functions():
    definition = jsonata(
        {
            "M": {
                "Type": "Map",
                "Items": "{% $partition($states.input.values, 2) %}",
                "ItemSelector": {"pair": "{% $states.context.Map.Item.Value %}",
                                 "i": "{% $states.context.Map.Item.Index %}"},
                "ItemProcessor": {"StartAt": "S", "States": {"S": {
                    "Type": "Pass", "Output": "{% $sum($states.input.pair) + $states.input.i %}",
                    "End": True}}},
                "Next": "F",
            },
            "F": {"Type": "Pass",
                  "Output": {"sums": "{% $states.input %}",
                             "range": "{% $range(1, 5, 2) %}",
                             "hash": "{% $hash('input data', 'SHA-256') %}",
                             "parsed": "{% $parse('{\\\"a\\\": 1}') %}",
                             "uuid": "{% $length($uuid()) %}",
                             "random": "{% $random() < 1 %}"},
                  "End": True},
        }
    )  # fmt: skip
    result, _ = run(definition, {"values": [1, 2, 3, 4, 5]})
    assert result.status == "SUCCEEDED", result
    assert result.output == {
        "sums": [3, 8, 7],
        "range": [1, 3, 5],
        "hash": hashlib.sha256(b"input data").hexdigest(),
        "parsed": {"a": 1},
        "uuid": 36,
        "random": True,
    }


def test_parallel_arguments_and_wait_seconds_expression():
    start = time.time()
    definition = jsonata(
        {
            "P": {"Type": "Parallel", "Arguments": {"v": "{% $states.input.v + 1 %}"},
                  "Branches": [{"StartAt": "B", "States": {"B": {
                      "Type": "Wait", "Seconds": "{% $states.input.v %}", "End": True}}}],
                  "Output": "{% $states.result[0].v %}", "End": True},
        }
    )  # fmt: skip
    result, rt = run(definition, {"v": 4})
    assert result.output == 5
    assert 4 < rt.sleeps[0] - start < 6


def test_state_level_jsonata_in_a_jsonpath_machine_and_fail_expressions():
    definition = machine(
        {
            "A": {"Type": "Pass", "Assign": {"x.$": "$.x"}, "Next": "B"},
            "B": {"Type": "Fail", "QueryLanguage": "JSONata",
                  "Error": "{% 'E' & $string($x) %}", "Cause": "{% $states.input.why %}"},
        }
    )  # fmt: skip
    result, _ = run(definition, {"x": 7, "why": "because"})
    assert (result.error, result.cause) == ("E7", "because")


def test_runtime_error_in_expression_is_query_evaluation_error():
    result, _ = run(jsonata({"P": {"Type": "Pass", "Output": "{% $number('abc') + 1 %}",
                                   "End": True}}), {})  # fmt: skip
    assert result.error == "States.QueryEvaluationError"
    assert result.cause.startswith(
        "An error occurred while executing the state 'P' (entered at the event id #2). "
        "The JSONata expression '$number('abc') + 1' specified for the field 'Output' threw "
        "an error during evaluation"
    )


def test_failed_expression_records_evaluation_failed_and_eval_is_unavailable():
    result, rt = run(jsonata({"P": {"Type": "Pass", "Output": "{% $eval('1+1') %}",
                                   "End": True}}), {})  # fmt: skip
    assert result.error == "States.QueryEvaluationError"
    assert "The function $eval is not supported" in result.cause
    failed = [d for t, d in rt.events if t == "EvaluationFailed"]
    assert failed == [{"evaluationFailedEventDetails": {
        "error": "States.QueryEvaluationError", "state": "P", "cause": result.cause}}]  # fmt: skip


def test_jsonata_error_in_a_task_is_catchable_and_recorded_once():
    definition = jsonata(
        {
            "T": {"Type": "Task", "Resource": INVOKE, "Arguments": "{% $number('x') %}",
                  "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "H"}],
                  "Next": "H"},
            "H": {"Type": "Pass", "End": True},
        }
    )  # fmt: skip
    result, rt = run(definition, {}, {INVOKE: lambda a: a})
    assert result.output["Error"] == "States.QueryEvaluationError"
    assert rt.types().count("EvaluationFailed") == 1


def test_expression_returning_nothing_fails_with_the_field_named():
    definition = jsonata({"P": {"Type": "Pass", "End": True,
                                "Output": {"values": ["{% $states.input.missing %}"]}}})  # fmt: skip
    result, _ = run(definition, {})
    assert result.error == "States.QueryEvaluationError"
    assert result.cause == (
        "An error occurred while executing the state 'P' (entered at the event id #2). "
        "The JSONata expression '$states.input.missing' specified for the field "
        "'Output/values[0]' returned nothing (undefined)."
    )


def test_null_is_a_value_not_nothing():
    definition = jsonata({"P": {"Type": "Pass", "End": True,
                                "Output": {"n": "{% $states.input.n %}", "z": "{% null %}"}}})  # fmt: skip
    assert run(definition, {"n": None})[0].output == {"n": None, "z": None}


def test_variable_holding_null_reads_as_null():
    definition = jsonata({"A": {"Type": "Pass", "Assign": {"x": None}, "Next": "B"},
                          "B": {"Type": "Pass", "Output": {"x": "{% $x %}"}, "End": True}})  # fmt: skip
    assert run(definition, {})[0].output == {"x": None}
