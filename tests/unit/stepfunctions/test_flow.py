"""Retry, Catch, timeouts, Wait, Choice operators, Parallel, Map, variables, resume."""

import asyncio
import json
import time

import pytest

from sandlot.services.stepfunctions.asl import Execution, TaskFailure, parse

from .fake import CONTEXT, FakeRuntime, machine, run

FN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def flaky(failures: int, error: str = "Lambda.ServiceException"):
    calls = {"n": 0}

    def handler(arguments):
        calls["n"] += 1
        if calls["n"] <= failures:
            raise TaskFailure(error, f"attempt {calls['n']}")
        return {"ok": calls["n"]}

    return handler, calls


def task(**extra):
    return {"Type": "Task", "Resource": FN, "End": True, **extra}


def test_retry_until_success_with_backoff_and_max_delay():
    handler, calls = flaky(3)
    retry = [{"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 2,
              "BackoffRate": 3, "MaxAttempts": 3, "MaxDelaySeconds": 10}]  # fmt: skip
    before = time.time()
    result, rt = run(machine({"T": task(Retry=retry)}), {}, {FN: handler})
    assert result.output == {"ok": 4} and calls["n"] == 4
    delays = [s - before for s in rt.sleeps]
    assert [round(d) for d in delays] == [2, 6, 10]  # 2, 2*3, min(18, 10)


def test_retry_gives_up_after_max_attempts_then_catch():
    handler, calls = flaky(10, "Custom")
    definition = machine(
        {
            "T": task(
                Retry=[{"ErrorEquals": ["Custom"], "MaxAttempts": 2, "IntervalSeconds": 1}],
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "H"}],
                End=None,
                Next="Never",
            ),
            "Never": {"Type": "Succeed"},
            "H": {"Type": "Pass", "End": True},
        }
    )
    del definition["States"]["T"]["End"]
    result, rt = run(definition, {"in": 1}, {FN: handler})
    assert calls["n"] == 3
    assert result.output == {"in": 1, "error": {"Error": "Custom", "Cause": "attempt 3"}}
    assert "PassStateEntered" in rt.types()


def test_max_attempts_zero_never_retries_and_jitter_full_stays_below_delay():
    handler, calls = flaky(1, "E")
    result, _ = run(machine({"T": task(Retry=[{"ErrorEquals": ["E"], "MaxAttempts": 0}])}), {},
                    {FN: handler})  # fmt: skip
    assert result.error == "E" and calls["n"] == 1
    handler, _ = flaky(1, "E")
    before = time.time()
    _, rt = run(machine({"T": task(Retry=[{"ErrorEquals": ["E"], "IntervalSeconds": 5,
                                           "JitterStrategy": "FULL"}])}), {}, {FN: handler})  # fmt: skip
    assert 0 <= rt.sleeps[0] - before <= 5.1


def test_catch_order_task_failed_wildcard_and_states_runtime_uncatchable():
    def boom(_):
        raise TaskFailure("Oops", "c")

    definition = machine(
        {
            "T": {"Type": "Task", "Resource": FN, "Next": "Done",
                  "Catch": [{"ErrorEquals": ["Other"], "Next": "A"},
                            {"ErrorEquals": ["States.TaskFailed"], "Next": "B"}]},
            "A": {"Type": "Pass", "Result": "A", "End": True},
            "B": {"Type": "Pass", "Result": "B", "End": True},
            "Done": {"Type": "Succeed"},
        }
    )  # fmt: skip
    assert run(definition, {}, {FN: boom})[0].output == "B"
    # A path failure (States.Runtime) is not caught even by States.ALL.
    definition["States"]["T"]["InputPath"] = "$.missing"
    definition["States"]["T"]["Catch"] = [
        {"ErrorEquals": ["Other"], "Next": "A"},
        {"ErrorEquals": ["States.ALL"], "Next": "B"},
    ]
    result, _ = run(definition, {}, {FN: boom})
    assert result.error == "States.Runtime"


def test_task_timeout_is_states_timeout():
    async def slow(_):
        await asyncio.sleep(5)

    definition = machine({"T": task(TimeoutSeconds=1, Catch=[
        {"ErrorEquals": ["States.TaskFailed"], "Next": "X"},
        {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.e", "Next": "Y"}]),
        "X": {"Type": "Succeed"}, "Y": {"Type": "Succeed"}})  # fmt: skip
    del definition["States"]["T"]["End"]
    definition["States"]["T"]["Next"] = "X"
    started = time.monotonic()
    result, _ = run(definition, {}, {FN: slow})
    assert time.monotonic() - started < 3
    assert result.output == {"e": {"Error": "States.Timeout", "Cause": None}}


def test_timeout_seconds_path_and_heartbeat_handed_to_runtime():
    _, rt = run(machine({"T": task(TimeoutSecondsPath="$.t", HeartbeatSecondsPath="$.h")}),
                {"t": 100, "h": 20}, {FN: lambda a: 1})  # fmt: skip
    assert 99 < rt.calls[0]["timeout_s"] <= 100 and rt.calls[0]["heartbeat_s"] == 20


def test_wait_variants_compute_deadlines():
    start = time.time()
    _, rt = run(machine({"W": {"Type": "Wait", "Seconds": 30, "End": True}}), {})
    assert 29 < rt.sleeps[0] - start < 31
    _, rt = run(machine({"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}), {"s": 5})
    assert 4 < rt.sleeps[0] - start < 6
    _, rt = run(machine({"W": {"Type": "Wait", "Timestamp": "2030-01-01T00:00:00Z", "End": True}}))
    assert rt.sleeps == [1893456000.0]
    result, rt = run(machine({"W": {"Type": "Wait", "TimestampPath": "$.at", "End": True}}),
                     {"at": "2030-01-01T01:00:00+01:00"})  # fmt: skip
    assert rt.sleeps == [1893456000.0] and result.output == {"at": "2030-01-01T01:00:00+01:00"}
    assert rt.types()[:2] == ["WaitStateEntered", "WaitStateExited"]
    result, _ = run(machine({"W": {"Type": "Wait", "TimestampPath": "$.at", "End": True}}),
                    {"at": "not a time"})  # fmt: skip
    assert result.error == "States.Runtime"


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ({"StringEquals": "a"}, "a", True),
        ({"StringEquals": "a"}, 1, False),
        ({"StringLessThan": "b"}, "a", True),
        ({"StringGreaterThanEquals": "b"}, "b", True),
        ({"StringMatches": "log-*.txt"}, "log-2024.txt", True),
        ({"StringMatches": "a\\*b"}, "a*b", True),
        ({"StringMatches": "a\\*b"}, "axb", False),
        ({"NumericEquals": 1}, 1.0, True),
        ({"NumericEquals": 1}, True, False),
        ({"NumericLessThanEquals": 2}, 2, True),
        ({"NumericGreaterThan": 2}, "3", False),
        ({"BooleanEquals": True}, True, True),
        ({"BooleanEquals": True}, 1, False),
        ({"TimestampLessThan": "2024-01-01T00:00:00Z"}, "2023-12-31T23:59:59Z", True),
        ({"TimestampEquals": "2024-01-01T00:00:00Z"}, "2024-01-01T01:00:00+01:00", True),
        ({"IsNull": True}, None, True),
        ({"IsNumeric": True}, 3, True),
        ({"IsString": False}, 3, True),
        ({"IsBoolean": True}, False, True),
        ({"IsTimestamp": True}, "2024-01-01T00:00:00Z", True),
        ({"IsTimestamp": True}, "2024-01-01", False),
        ({"NumericLessThanPath": "$.limit"}, 3, True),
        ({"StringEqualsPath": "$.name"}, "bob", True),
    ],
)
def test_choice_operators(rule, value, expected):
    definition = machine(
        {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.v", **rule, "Next": "Yes"}],
                  "Default": "No"},
            "Yes": {"Type": "Pass", "Result": True, "End": True},
            "No": {"Type": "Pass", "Result": False, "End": True},
        }
    )  # fmt: skip
    result, _ = run(definition, {"v": value, "limit": 4, "name": "bob"})
    assert result.output is expected


def test_choice_variable_missing_is_runtime_error_but_is_present_works():
    definition = machine(
        {
            "C": {"Type": "Choice", "Choices": [
                {"Or": [{"Variable": "$.v", "IsPresent": False},
                        {"Variable": "$.v", "NumericEquals": 1}], "Next": "Y"},
                {"Variable": "$.w", "NumericEquals": 1, "Next": "Y"}]},
            "Y": {"Type": "Succeed"},
        }
    )  # fmt: skip
    assert run(definition, {})[0].status == "SUCCEEDED"
    result, _ = run(definition, {"v": 2})
    assert result.error == "States.Runtime"
    assert "Invalid path '$.w'" in result.cause


def test_parallel_runs_branches_and_collects_results_in_order():
    async def slow(a):
        await asyncio.sleep(0.05)
        return a["n"] * 10

    definition = machine(
        {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": task(Parameters={"n.$": "$.x"})}},
                    {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "b", "End": True}}},
                ],
                "ResultPath": "$.r",
                "End": True,
            }
        }
    )
    started = time.monotonic()
    result, rt = run(definition, {"x": 2}, {FN: slow})
    assert result.output == {"x": 2, "r": [20, "b"]}
    assert rt.types()[:2] == ["ParallelStateEntered", "ParallelStateStarted"]
    assert rt.types()[-3:] == [
        "ParallelStateSucceeded",
        "ParallelStateExited",
        "ExecutionSucceeded",
    ]
    assert time.monotonic() - started < 1


def test_parallel_branch_failure_fails_the_state_and_can_be_caught():
    definition = machine(
        {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Fail", "Error": "BranchErr",
                                                      "Cause": "no"}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 1, "End": True}}},
                ],
                "Catch": [{"ErrorEquals": ["BranchErr"], "Next": "H"}],
                "Next": "Z",
            },
            "H": {"Type": "Pass", "End": True},
            "Z": {"Type": "Succeed"},
        }
    )  # fmt: skip
    result, rt = run(definition, {})
    assert result.output == {"Error": "BranchErr", "Cause": "no"}
    assert "ParallelStateFailed" in rt.types()


def test_map_with_items_path_item_selector_and_concurrency():
    running = {"now": 0, "peak": 0}

    async def work(a):
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        await asyncio.sleep(0.01)
        running["now"] -= 1
        return a["value"] * a["index"]

    definition = machine(
        {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 3,
                "ItemSelector": {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index",
                                 "k.$": "$.k"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "T",
                    "States": {"T": task()},
                },
                "ResultPath": "$.out",
                "End": True,
            }
        }
    )  # fmt: skip
    result, rt = run(definition, {"items": [1, 2, 3, 4, 5, 6, 7, 8], "k": "x"}, {FN: work})
    assert result.output["out"] == [0, 2, 6, 12, 20, 30, 42, 56]
    assert running["peak"] == 3
    started = [e for e in rt.events if e[0] == "MapStateStarted"]
    assert started == [("MapStateStarted", {"mapStateStartedEventDetails": {"length": 8}})]
    assert rt.types().count("MapIterationSucceeded") == 8


def test_map_input_must_be_an_array():
    definition = machine({"M": {"Type": "Map", "ItemProcessor": {
        "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True}})  # fmt: skip
    result, _ = run(definition, {"not": "array"})
    assert result.error == "States.Runtime"


def test_map_failure_and_tolerated_failures():
    def sometimes(a):
        if a % 2:
            raise TaskFailure("Odd", str(a))
        return a

    def definition(**extra):
        return machine({"M": {"Type": "Map", "ItemProcessor": {
            "StartAt": "T", "States": {"T": task()}}, "End": True, **extra}})  # fmt: skip

    items = [0, 1, 2, 3]
    result, _ = run(definition(), items, {FN: sometimes})
    assert result.error == "Odd"
    result, _ = run(definition(ToleratedFailureCount=2), items, {FN: sometimes})
    assert result.output == [0, {"Error": "Odd", "Cause": "1"}, 2, {"Error": "Odd", "Cause": "3"}]
    result, _ = run(definition(ToleratedFailurePercentage=25), items, {FN: sometimes})
    assert result.error == "States.ExceedToleratedFailureThreshold"


def test_assign_variables_in_jsonpath_states():
    definition = machine(
        {
            "A": {"Type": "Pass", "Assign": {"count.$": "$.n", "label": "fixed"},
                  "Next": "B"},
            "B": {"Type": "Pass",
                  "Parameters": {"c.$": "$count", "l.$": "$label",
                                 "s.$": "States.Format('{}-{}', $label, $count)"},
                  "End": True},
        }
    )  # fmt: skip
    result, rt = run(definition, {"n": 5})
    assert result.output == {"c": 5, "l": "fixed", "s": "fixed-5"}
    exited = rt.events[1][1]["stateExitedEventDetails"]
    assert exited["assignedVariables"] == {"count": "5", "label": '"fixed"'}


def test_resume_a_pending_wait_keeps_its_deadline_and_skips_reentry():
    definition = machine({"W": {"Type": "Wait", "Seconds": 3600, "Next": "E"},
                          "E": {"Type": "Pass", "Result": "done", "End": True}})  # fmt: skip
    _, first = run(definition, {"a": 1})
    snapshot = first.snapshots[1]  # taken before sleeping
    assert snapshot["state"] == "W" and "wait_until" in snapshot["pending"]
    result, second = run(definition, None, resume=snapshot)
    assert result.output == "done"
    assert second.sleeps == [snapshot["pending"]["wait_until"]]
    assert second.types()[0] == "WaitStateExited"


def test_wait_for_task_token_and_resume_with_the_same_token():
    seen = []

    def waiter(arguments):
        seen.append(arguments)
        return {"approved": True}

    resource = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    definition = machine(
        {
            "Ask": {"Type": "Task", "Resource": resource,
                    "Parameters": {"MessageBody": {"token.$": "$$.Task.Token"}},
                    "ResultPath": "$.answer", "TimeoutSeconds": 600, "Next": "After"},
            "After": {"Type": "Pass", "Parameters": {"t.$": "$$.Task"}, "End": True},
        }
    )  # fmt: skip
    result, rt = run(definition, {}, {resource: waiter})
    token = rt.calls[0]["token"]
    assert seen[0] == {"MessageBody": {"token": token}}
    pending = rt.snapshots[1]["pending"]["task"]
    assert pending["token"] == token and pending["arguments"] == seen[0]
    # $$.Task is gone in the next state.
    assert result.status == "FAILED" and result.error == "States.Runtime"

    runtime = FakeRuntime({resource: waiter})
    context = json.loads(json.dumps(CONTEXT))
    definition["States"]["After"] = {"Type": "Pass", "End": True}
    resumed = asyncio.run(
        Execution(parse(json.dumps(definition)), runtime, context).run(None, rt.snapshots[1])
    )
    assert resumed.output == {"answer": {"approved": True}}
    assert runtime.calls[0]["token"] == token and runtime.calls[0]["resumed"] is True
    assert 0 < runtime.calls[0]["timeout_s"] <= 600


def test_execution_timeout_seconds():
    async def slow(_):
        await asyncio.sleep(5)

    runtime = FakeRuntime({FN: slow})
    context = json.loads(json.dumps(CONTEXT))
    context["Execution"]["StartTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    definition = {"StartAt": "T", "TimeoutSeconds": 1, "States": {"T": task()}}
    result = asyncio.run(Execution(parse(json.dumps(definition)), runtime, context).run({}))
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")
    assert runtime.types()[-1] == "ExecutionTimedOut"


def test_checkpoint_at_each_top_level_state():
    definition = machine({"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}})
    _, rt = run(definition, {"x": 1})
    assert [s["state"] for s in rt.snapshots] == ["A", "B"]
    assert rt.snapshots[0] == {"state": "A", "input": {"x": 1}, "variables": {}}


def test_output_over_256_kib_fails_data_limit_exceeded():
    definition = machine({"P": {"Type": "Pass", "Parameters": {"big.$": "$.s"}, "End": True},
                          })  # fmt: skip
    result, _ = run(definition, {"s": "x" * 262144})
    assert result.error == "States.DataLimitExceeded"
    assert "'P' returned a result with a size exceeding" in result.cause


def _reader_map(resource: str, config: dict) -> dict:
    return machine(
        {
            "M": {
                "Type": "Map",
                "ItemReader": {"Resource": resource, "ReaderConfig": config,
                               "Parameters": {"Bucket.$": "$.bucket", "Key": "items"}},
                "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                                      "ExecutionType": "STANDARD"},
                                  "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "End": True,
            }
        }
    )  # fmt: skip


def test_item_reader_reads_json_csv_and_listings_through_the_runtime():
    objects = {
        "json": '[{"a": 1}, {"a": 2}, {"a": 3}]',
        "csv": "name,size\nx,1\ny,2\n",
    }
    handlers = {
        "arn:aws:states:::aws-sdk:s3:getObject": lambda a: {"Body": objects[a["Bucket"]]},
        "arn:aws:states:::aws-sdk:s3:listObjectsV2": lambda a: (
            {"Contents": [{"Key": "k1"}], "IsTruncated": True, "NextContinuationToken": "t"}
            if "ContinuationToken" not in a
            else {"Contents": [{"Key": "k2"}], "IsTruncated": False}
        ),
    }
    get = "arn:aws:states:::s3:getObject"
    result, rt = run(_reader_map(get, {"InputType": "JSON", "MaxItems": 2}), {"bucket": "json"},
                     handlers)  # fmt: skip
    assert result.output == [{"a": 1}, {"a": 2}]
    assert rt.calls[0]["arguments"] == {"Bucket": "json", "Key": "items"}
    result, _ = run(_reader_map(get, {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}),
                    {"bucket": "csv"}, handlers)  # fmt: skip
    assert result.output == [{"name": "x", "size": "1"}, {"name": "y", "size": "2"}]
    result, _ = run(_reader_map("arn:aws:states:::s3:listObjectsV2", {}), {"bucket": "b"},
                    handlers)  # fmt: skip
    assert result.output == [{"Key": "k1"}, {"Key": "k2"}]


def test_item_reader_failure_is_item_reader_failed():
    def missing(_):
        raise TaskFailure("S3.NoSuchKeyException", "The specified key does not exist.")

    result, _ = run(_reader_map("arn:aws:states:::s3:getObject", {"InputType": "JSON"}),
                    {"bucket": "b"}, {"arn:aws:states:::aws-sdk:s3:getObject": missing})  # fmt: skip
    assert result.error == "States.ItemReaderFailed"
    assert "NoSuchKey" in result.cause


def test_map_failure_aborts_running_iterations():
    async def work(a):
        if a == 0:
            raise TaskFailure("First", "x")
        await asyncio.sleep(5)

    definition = machine({"M": {"Type": "Map", "ItemProcessor": {
        "StartAt": "T", "States": {"T": task()}}, "End": True}})  # fmt: skip
    started = time.monotonic()
    result, rt = run(definition, [0, 1, 2], {FN: work})
    assert result.error == "First" and time.monotonic() - started < 3
    assert rt.types().count("MapIterationAborted") == 2
    assert "MapStateFailed" in rt.types()


def test_result_writer_config_flatten_and_s3_export_refused():
    def definition(writer):
        return machine({"M": {"Type": "Map", "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            "ResultWriter": writer, "End": True}})  # fmt: skip

    flat = {"WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}}
    assert run(definition(flat), [[1, 2], [3], 4])[0].output == [1, 2, 3, 4]
    compact = {"WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSON"}}
    assert run(definition(compact), [[1, 2], [3]])[0].output == [[1, 2], [3]]
    s3 = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "b"}}
    result, _ = run(definition(s3), [1])
    assert result.error == "States.Runtime" and "run by the service" in result.cause


def test_an_unexpected_runtime_exception_fails_the_execution_not_the_caller():
    def broken(_):
        raise KeyError("bug in an integration")

    result, rt = run(machine({"T": task()}), {}, {FN: broken})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "bug in an integration" in result.cause
    assert rt.types()[-1] == "ExecutionFailed"


def test_jsonata_item_batcher_size_expression():
    definition = machine(
        {"M": {"Type": "Map", "ItemBatcher": {"MaxItemsPerBatch": "{% 2 %}"},
               "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                                     "ExecutionType": "EXPRESS"},
                                 "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
               "End": True}},
        QueryLanguage="JSONata",
    )  # fmt: skip
    assert run(definition, [1, 2, 3])[0].output == [{"Items": [1, 2]}, {"Items": [3]}]


def test_item_batcher_max_input_bytes():
    """A batch is cut where its JSON ({"Items":[…]}) would pass MaxInputBytesPerBatch."""
    definition = machine(
        {"M": {"Type": "Map", "ItemBatcher": {"MaxInputBytesPerBatch": 25},
               "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                                     "ExecutionType": "EXPRESS"},
                                 "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
               "End": True}})  # fmt: skip
    # {"Items":["aaaa","bbbb"]} is 25 bytes; a third item would make it 32.
    output = run(definition, ["aaaa", "bbbb", "cccc", "dddd", "eeee"])[0].output
    assert output == [{"Items": ["aaaa", "bbbb"]}, {"Items": ["cccc", "dddd"]}, {"Items": ["eeee"]}]
    result, _ = run(definition, ["x" * 30])
    assert result.error == "States.Runtime" and "MaxInputBytesPerBatch" in result.cause
