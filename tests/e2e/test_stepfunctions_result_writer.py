"""A Distributed Map's ResultWriter as AWS documents it ("ResultWriter (Map)"), driven by
boto3 and read back from sandlot's S3: WriterConfig Transformation (NONE, COMPACT,
FLATTEN) and OutputType (JSON, JSONL) with the S3 export, result files split past the
per-file size limit (``SANDLOT_SFN_RESULT_FILE_MAX_BYTES`` shrinks AWS's 5 GB here),
PENDING records for inputs never started, and the definitions AWS refuses."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.functions import unique
from tests.e2e.server import SandlotServer
from tests.e2e.sfn_support import definition, states_role, wait_done, wait_for

LIMIT = 700  # bytes per result file in this module's server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"SANDLOT_SFN_RESULT_FILE_MAX_BYTES": str(LIMIT)}
    with SandlotServer(tmp_path_factory.mktemp("result-writer"), env=env) as running:
        yield running


@pytest.fixture(scope="module")
def sfn(server):
    return make_client(server.endpoint, "stepfunctions")


@pytest.fixture(scope="module")
def s3(server):
    return make_client(server.endpoint, "s3")


@pytest.fixture(scope="module")
def role(server):
    return states_role(make_client(server.endpoint, "iam"))


def _distributed(states: dict, execution_type: str = "STANDARD", **fields) -> dict:
    return {
        "Type": "Map",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
            "StartAt": next(iter(states)),
            "States": states,
        },
        "ItemsPath": "$",
        "End": True,
        **fields,
    }


def _export(bucket: str, **config) -> dict:
    writer = {"Resource": "arn:aws:states:::s3:putObject",
              "Parameters": {"Bucket": bucket, "Prefix": "out"}}  # fmt: skip
    if config:
        writer["WriterConfig"] = config
    return writer


def _run(sfn, role, flow: str, items) -> tuple[dict, dict]:
    machine = sfn.create_state_machine(name=unique("writer"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(items))["executionArn"]
    return wait_done(sfn, arn), sfn.list_map_runs(executionArn=arn)["mapRuns"][0]


def _manifest(s3, bucket: str, run: dict) -> dict:
    run_id = run["mapRunArn"].rsplit(":", 1)[1]
    body = s3.get_object(Bucket=bucket, Key=f"out/{run_id}/manifest.json")["Body"].read()
    return json.loads(body)


def _body(s3, bucket: str, entry: dict) -> bytes:
    body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
    assert len(body) == entry["Size"]
    return body


def _lines(body: bytes) -> list:
    assert body.endswith(b"\n")  # every JSON Lines record ends with its newline
    return [json.loads(line) for line in body[:-1].split(b"\n")]


@pytest.fixture
def bucket(s3):
    name = unique("results")
    s3.create_bucket(Bucket=name)
    return name


# A child that answers an array of two, except for item 3, which fails.
PAIRS = {
    "Check": {"Type": "Choice", "Default": "Pair",
              "Choices": [{"Variable": "$", "NumericEquals": 3, "Next": "Boom"}]},
    "Boom": {"Type": "Fail", "Error": "Three", "Cause": "no threes"},
    "Pair": {"Type": "Pass", "End": True,
             "Parameters": {"pair.$": "States.Array($, States.MathAdd($, 10))"},
             "OutputPath": "$.pair"},
}  # fmt: skip


def test_compact_export_writes_the_outputs_and_keeps_failures_as_records(sfn, s3, role, bucket):
    flow = definition({"Fan": _distributed(
        PAIRS, ToleratedFailureCount=1,
        ResultWriter=_export(bucket, Transformation="COMPACT", OutputType="JSON"))})  # fmt: skip
    done, run = _run(sfn, role, flow, [1, 2, 3])
    assert done["status"] == "SUCCEEDED", done
    run_id = run["mapRunArn"].rsplit(":", 1)[1]
    assert json.loads(done["output"]) == {
        "MapRunArn": run["mapRunArn"],
        "ResultWriterDetails": {"Bucket": bucket, "Key": f"out/{run_id}/manifest.json"},
    }
    manifest = _manifest(s3, bucket, run)
    files = manifest["ResultFiles"]
    assert [f["Key"] for f in files["SUCCEEDED"]] == [f"out/{run_id}/SUCCEEDED_0.json"]
    assert [f["Key"] for f in files["FAILED"]] == [f"out/{run_id}/FAILED_0.json"]
    assert files["PENDING"] == []
    # COMPACT: the children's outputs, the arrays kept as they are.
    assert json.loads(_body(s3, bucket, files["SUCCEEDED"][0])) == [[1, 11], [2, 12]]
    # A failed child is written unchanged, as with NONE.
    (failed,) = json.loads(_body(s3, bucket, files["FAILED"][0]))
    assert (failed["Status"], failed["Error"], failed["Cause"]) == ("FAILED", "Three", "no threes")
    assert json.loads(failed["Input"]) == 3 and failed["RedriveStatus"] == "REDRIVABLE"
    described = sfn.describe_map_run(mapRunArn=run["mapRunArn"])
    assert described["executionCounts"]["resultsWritten"] == 3


def test_flatten_as_json_lines_from_express_children(sfn, s3, role, bucket):
    flow = definition({"Fan": _distributed(
        PAIRS, "EXPRESS", ToleratedFailurePercentage=50,
        ResultWriter=_export(bucket, Transformation="FLATTEN", OutputType="JSONL"))})  # fmt: skip
    done, run = _run(sfn, role, flow, [1, 2, 3, 4])
    assert done["status"] == "SUCCEEDED", done
    run_id = run["mapRunArn"].rsplit(":", 1)[1]
    files = _manifest(s3, bucket, run)["ResultFiles"]
    assert [f["Key"] for f in files["SUCCEEDED"]] == [f"out/{run_id}/SUCCEEDED_0.jsonl"]
    assert [f["Key"] for f in files["FAILED"]] == [f"out/{run_id}/FAILED_0.jsonl"]
    # FLATTEN: each child's array spliced into one list, one element a line.
    assert _lines(_body(s3, bucket, files["SUCCEEDED"][0])) == [1, 11, 2, 12, 4, 14]
    (failed,) = _lines(_body(s3, bucket, files["FAILED"][0]))
    assert failed["Status"] == "FAILED" and ":express:" in failed["ExecutionArn"]


def test_none_as_json_lines_writes_the_execution_records(sfn, s3, role, bucket):
    flow = definition({"Fan": _distributed(
        {"P": {"Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($, $)"}, "End": True}},
        ResultWriter=_export(bucket, Transformation="NONE", OutputType="JSONL"))})  # fmt: skip
    done, run = _run(sfn, role, flow, [1, 2])
    assert done["status"] == "SUCCEEDED", done
    files = _manifest(s3, bucket, run)["ResultFiles"]
    records = [r for f in files["SUCCEEDED"] for r in _lines(_body(s3, bucket, f))]
    assert sorted(json.loads(r["Output"])["twice"] for r in records) == [2, 4]
    assert {r["Status"] for r in records} == {"SUCCEEDED"}
    assert all(r["OutputDetails"] == {"Included": True} for r in records)
    assert {r["RedriveStatusReason"] for r in records} == {
        "Execution is SUCCEEDED and cannot be redriven"
    }


def test_a_failed_run_writes_its_never_started_inputs_as_pending(sfn, s3, role, bucket):
    flow = definition({"Fan": _distributed(
        PAIRS, MaxConcurrency=1, ResultWriter=_export(bucket))})  # fmt: skip
    done, run = _run(sfn, role, flow, [1, 3, 5, 6])
    assert (done["status"], done["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    run_id = run["mapRunArn"].rsplit(":", 1)[1]
    files = _manifest(s3, bucket, run)["ResultFiles"]
    assert {k: [f["Key"] for f in v] for k, v in files.items()} == {
        "SUCCEEDED": [f"out/{run_id}/SUCCEEDED_0.json"],
        "FAILED": [f"out/{run_id}/FAILED_0.json"],
        "PENDING": [f"out/{run_id}/PENDING_0.json"],
    }
    # No WriterConfig: the records (NONE). One at a time, the run stopped at item 3.
    (succeeded,) = json.loads(_body(s3, bucket, files["SUCCEEDED"][0]))
    assert json.loads(succeeded["Output"]) == [1, 11]
    pending = json.loads(_body(s3, bucket, files["PENDING"][0]))
    assert pending == [{"Input": "5", "InputDetails": {"Included": True}, "Status": "PENDING"},
                       {"Input": "6", "InputDetails": {"Included": True}, "Status": "PENDING"}]  # fmt: skip


def test_result_files_split_past_the_size_limit(sfn, s3, role, bucket):
    pad = "x" * 90
    flow = definition({"Fan": _distributed(
        {"P": {"Type": "Pass", "Parameters": {"pad": pad, "i.$": "$"}, "End": True}},
        MaxConcurrency=4,
        ResultWriter=_export(bucket, Transformation="COMPACT", OutputType="JSON"))})  # fmt: skip
    done, run = _run(sfn, role, flow, list(range(14)))
    assert done["status"] == "SUCCEEDED", done
    run_id = run["mapRunArn"].rsplit(":", 1)[1]
    entries = _manifest(s3, bucket, run)["ResultFiles"]["SUCCEEDED"]
    assert len(entries) >= 2
    assert [e["Key"] for e in entries] == [
        f"out/{run_id}/SUCCEEDED_{n}.json" for n in range(len(entries))
    ]
    chunks = [json.loads(_body(s3, bucket, e)) for e in entries]
    # Every file within the limit, and in input order the files hold every output.
    assert all(e["Size"] <= LIMIT for e in entries)
    assert [o for chunk in chunks for o in chunk] == [{"pad": pad, "i": i} for i in range(14)]
    # A file is closed only when the next output would not have fit.
    for entry, following in zip(entries, chunks[1:], strict=False):
        first = json.dumps(following[0], separators=(",", ":"))
        assert entry["Size"] + 1 + len(first) > LIMIT

    # The records (NONE) are larger than a small file: each has a file of its own.
    flow = definition({"Fan": _distributed(
        {"P": {"Type": "Pass", "Parameters": {"pad": pad * 7}, "End": True}},
        ResultWriter=_export(bucket))})  # fmt: skip
    done, run = _run(sfn, role, flow, [1, 2, 3])
    entries = _manifest(s3, bucket, run)["ResultFiles"]["SUCCEEDED"]
    assert [len(json.loads(_body(s3, bucket, e))) for e in entries] == [1, 1, 1]


def _refused(sfn, role, writer: dict, language: str = "JSONPath") -> list[tuple]:
    """The diagnostics of ValidateStateMachineDefinition, after CreateStateMachine
    refused the same definition with AWS's InvalidDefinition."""
    state = _distributed({"P": {"Type": "Pass", "End": True}}, ResultWriter=writer)
    if language == "JSONata":
        del state["ItemsPath"]  # JSONPath's; JSONata's Map takes its input's array
    flow = definition({"Fan": state}, QueryLanguage=language)
    with pytest.raises(sfn.exceptions.InvalidDefinition) as refused:
        sfn.create_state_machine(name=unique("bad"), definition=flow, roleArn=role)
    message = refused.value.response["Error"]["Message"]
    assert message.startswith("Invalid State Machine Definition: '")
    found = sfn.validate_state_machine_definition(definition=flow)
    assert found["result"] == "FAIL"
    return [(d["code"], d["message"], d["location"]) for d in found["diagnostics"]]


def test_definitions_aws_refuses(sfn, role):
    at = "/States/Fan/ResultWriter"
    s3 = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "b"}}
    assert _refused(sfn, role, {**s3, "WriterConfig": {"Transformation": "SPLIT"}}) == [
        ("SCHEMA_VALIDATION_FAILED", "Transformation must be one of [NONE, COMPACT, FLATTEN]",
         f"{at}/WriterConfig/Transformation")]  # fmt: skip
    assert _refused(sfn, role, {"WriterConfig": {"OutputType": "CSV"}}) == [
        ("SCHEMA_VALIDATION_FAILED", "OutputType must be one of [JSON, JSONL]",
         f"{at}/WriterConfig/OutputType")]  # fmt: skip
    assert _refused(sfn, role, {"Resource": "arn:aws:states:::s3:putObject"}) == [
        ("SCHEMA_VALIDATION_FAILED", "These fields are required: [Parameters]", at)
    ]
    assert _refused(sfn, role, {"Parameters": {"Bucket": "b"}}) == [
        ("SCHEMA_VALIDATION_FAILED", "These fields are required: [Resource]", at)
    ]
    assert _refused(sfn, role, {**s3, "Resource": "arn:aws:states:::s3:getObject"}) == [
        ("INVALID_RESOURCE", "Value is not a valid resource ARN: arn:aws:states:::s3:getObject",
         f"{at}/Resource")]  # fmt: skip
    assert _refused(sfn, role, {**s3, "Format": "CSV"}) == [
        ("SCHEMA_VALIDATION_FAILED", "Field 'Format' is not supported", at)
    ]
    # JSONata takes Arguments, never Parameters.
    jsonata = _refused(sfn, role, s3, "JSONata")
    assert ("SCHEMA_VALIDATION_FAILED", "These fields are required: [Arguments]", at) in jsonata
    assert any("'Parameters' is only supported" in m for _, m, _ in jsonata)
    # What AWS accepts: each documented combination.
    for writer in (
        {"WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}},
        s3,
        {**s3, "WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSONL"}},
    ):
        flow = definition({"Fan": _distributed({"P": {"Type": "Pass", "End": True}},
                                               ResultWriter=writer)})  # fmt: skip
        assert sfn.validate_state_machine_definition(definition=flow)["result"] == "OK"


def test_a_stopped_parent_still_exports_its_aborted_map_run(sfn, s3, role, bucket):
    waits = {"W": {"Type": "Wait", "Seconds": 60, "End": True}}
    flow = definition({"Fan": _distributed(waits, MaxConcurrency=1, ResultWriter=_export(bucket))})
    machine = sfn.create_state_machine(name=unique("stop"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]
    arn = sfn.start_execution(stateMachineArn=machine, input="[1, 2, 3]")["executionArn"]
    run = wait_for(lambda: sfn.list_map_runs(executionArn=arn)["mapRuns"])[0]
    wait_for(lambda: sfn.describe_map_run(mapRunArn=run["mapRunArn"])["executionCounts"]["running"])
    sfn.stop_execution(executionArn=arn)
    assert sfn.describe_map_run(mapRunArn=run["mapRunArn"])["status"] == "ABORTED"
    files = _manifest(s3, bucket, run)["ResultFiles"]
    assert files["SUCCEEDED"] == []
    (aborted,) = json.loads(_body(s3, bucket, files["FAILED"][0]))
    assert (aborted["Status"], json.loads(aborted["Input"])) == ("ABORTED", 1)
    pending = json.loads(_body(s3, bucket, files["PENDING"][0]))
    assert [(p["Status"], p["Input"]) for p in pending] == [("PENDING", "2"), ("PENDING", "3")]


def test_jsonata_arguments_export_and_an_empty_writer_failing_at_run_time(sfn, s3, role, bucket):
    writer = {"Resource": "arn:aws:states:::s3:putObject",
              "Arguments": {"Bucket": "{% $states.input.bucket %}", "Prefix": "out"},
              "WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSON"}}  # fmt: skip
    state = _distributed({"P": {"Type": "Pass", "End": True}}, ResultWriter=writer,
                         Items="{% $states.input.items %}")  # fmt: skip
    del state["ItemsPath"]
    flow = definition({"Fan": state}, QueryLanguage="JSONata")
    done, run = _run(sfn, role, flow, {"bucket": bucket, "items": [{"a": 1}, {"a": 2}]})
    assert done["status"] == "SUCCEEDED", done
    (entry,) = _manifest(s3, bucket, run)["ResultFiles"]["SUCCEEDED"]
    assert json.loads(_body(s3, bucket, entry)) == [{"a": 1}, {"a": 2}]

    # AWS accepts an empty ResultWriter and fails the execution that reaches it.
    flow = definition({"Fan": _distributed({"P": {"Type": "Pass", "End": True}}, ResultWriter={})})
    assert sfn.validate_state_machine_definition(definition=flow)["result"] == "OK"
    machine = sfn.create_state_machine(name=unique("empty"), definition=flow, roleArn=role)
    arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="[1]")[
        "executionArn"
    ]
    done = wait_done(sfn, arn)
    assert (done["status"], done["error"]) == ("FAILED", "States.Runtime")
    assert "ResultWriter" in done["cause"]
