"""Distributed Map as AWS runs it: a Map Run of child workflow executions (Standard and
Express), DescribeMapRun / ListMapRuns / UpdateMapRun, ListExecutions(mapRunArn),
ItemBatcher, tolerated failures, ResultWriter's export to S3, and a stopped parent
aborting its Map Run — driven by boto3."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from tests.e2e.conftest import error_of, make_client
from tests.e2e.functions import unique
from tests.e2e.sfn_support import definition, history_types, states_role, wait_done, wait_for


@pytest.fixture(scope="module")
def sfn(server):
    return make_client(server.endpoint, "stepfunctions")


@pytest.fixture(scope="module")
def s3(server):
    return make_client(server.endpoint, "s3")


@pytest.fixture(scope="module")
def role(server):
    return states_role(make_client(server.endpoint, "iam"))


def _distributed(processor_states: dict, execution_type: str = "STANDARD", **fields) -> dict:
    start = next(iter(processor_states))
    return {
        "Type": "Map",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
            "StartAt": start,
            "States": processor_states,
        },
        "End": True,
        **fields,
    }


def _only_map_run(sfn, execution_arn: str) -> str:
    runs = sfn.list_map_runs(executionArn=execution_arn)["mapRuns"]
    assert len(runs) == 1, runs
    return runs[0]["mapRunArn"]


def test_standard_children_from_an_s3_object(sfn, s3, role):
    bucket = unique("items")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="items.json", Body=json.dumps([{"n": i} for i in range(5)]))
    name = unique("fan")
    flow = definition({"Fan": _distributed(
        {"Double": {"Type": "Pass", "End": True,
                    "Parameters": {"v.$": "States.MathAdd($.n, $.n)", "i.$": "$.i"}}},
        Label="Fan", MaxConcurrency=2,
        ItemReader={"Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket": bucket, "Key": "items.json"}},
        ItemSelector={"n.$": "$$.Map.Item.Value.n", "i.$": "$$.Map.Item.Index"},
    )})  # fmt: skip
    machine = sfn.create_state_machine(name=name, definition=flow, roleArn=role)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    done = wait_done(sfn, arn)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == [{"v": 2 * i, "i": i} for i in range(5)]
    types = history_types(sfn, arn)  # the reader's calls are no Task events
    assert types[types.index("MapStateEntered") :] == [
        "MapStateEntered", "MapStateStarted", "MapRunStarted", "MapRunSucceeded",
        "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded",
    ]  # fmt: skip
    events = sfn.get_execution_history(executionArn=arn)["events"]
    run_arn = _only_map_run(sfn, arn)
    started = next(e for e in events if e["type"] == "MapRunStarted")
    assert started["mapRunStartedEventDetails"] == {"mapRunArn": run_arn}
    prefix = f"arn:aws:states:us-east-1:000000000000:mapRun:{name}/Fan:"
    assert run_arn.startswith(prefix) and len(run_arn) == len(prefix) + 36

    described = sfn.describe_map_run(mapRunArn=run_arn)
    assert described["status"] == "SUCCEEDED" and described["executionArn"] == arn
    assert described["maxConcurrency"] == 2 and described["toleratedFailureCount"] == 0
    assert described["executionCounts"]["succeeded"] == 5
    assert described["executionCounts"]["total"] == 5
    assert described["itemCounts"]["succeeded"] == 5 and described["itemCounts"]["pending"] == 0
    assert described["stopDate"] >= described["startDate"]

    children = sfn.list_executions(mapRunArn=run_arn)["executions"]
    assert len(children) == 5
    assert all(c["status"] == "SUCCEEDED" and c["mapRunArn"] == run_arn for c in children)
    child_prefix = f"arn:aws:states:us-east-1:000000000000:execution:{name}/Fan:"
    assert all(c["executionArn"].startswith(child_prefix) for c in children)
    assert {c["stateMachineArn"] for c in children} == {f"{machine}/Fan"}
    child = sfn.describe_execution(executionArn=children[0]["executionArn"])
    assert (
        child["mapRunArn"] == run_arn
        and json.loads(child["input"])["n"] * 2 == json.loads(child["output"])["v"]
    )
    assert history_types(sfn, child["executionArn"])[0] == "ExecutionStarted"
    # The children are the Map Run's, not the machine's own executions.
    assert [
        e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]
    ] == [arn]
    assert error_of(sfn.list_executions)["Code"] == "ValidationException"
    missing = run_arn[:-36] + "00000000-0000-0000-0000-000000000000"
    assert error_of(sfn.describe_map_run, mapRunArn=missing)["Code"] == "ResourceNotFound"


def test_express_batches_tolerated_failures_and_the_result_writer(sfn, s3, role):
    bucket = unique("results")
    s3.create_bucket(Bucket=bucket)
    name = unique("batch")
    flow = definition({"Fan": _distributed(
        {"Check": {"Type": "Choice", "Default": "Sum",
                   "Choices": [{"Variable": "$.Items[1]", "NumericEquals": 6, "Next": "Boom"}]},
         "Boom": {"Type": "Fail", "Error": "Six", "Cause": "no sixes"},
         "Sum": {"Type": "Pass", "End": True,
                 "Parameters": {"sum.$": "States.MathAdd($.Items[0], $.Items[1])",
                                "tag.$": "$.BatchInput.tag"}}},
        "EXPRESS",
        ItemsPath="$.numbers", ToleratedFailureCount=1,
        ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"tag.$": "$.tag"}},
        ResultWriter={"Resource": "arn:aws:states:::s3:putObject",
                      "Parameters": {"Bucket": bucket, "Prefix": "out"}},
    )})  # fmt: skip
    machine = sfn.create_state_machine(name=name, definition=flow, roleArn=role)["stateMachineArn"]
    arn = sfn.start_execution(
        stateMachineArn=machine, input=json.dumps({"numbers": [1, 2, 3, 4, 5, 6], "tag": "t"})
    )["executionArn"]
    done = wait_done(sfn, arn)
    assert done["status"] == "SUCCEEDED", done
    run_arn = _only_map_run(sfn, arn)
    run_id = run_arn.rsplit(":", 1)[1]
    output = json.loads(done["output"])
    manifest_key = f"out/{run_id}/manifest.json"
    assert output == {"MapRunArn": run_arn,
                      "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key}}  # fmt: skip

    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    assert manifest["DestinationBucket"] == bucket and manifest["MapRunArn"] == run_arn
    files = manifest["ResultFiles"]
    assert [f["Key"] for f in files["SUCCEEDED"]] == [f"out/{run_id}/SUCCEEDED_0.json"]
    assert [f["Key"] for f in files["FAILED"]] == [f"out/{run_id}/FAILED_0.json"]
    assert files["PENDING"] == []
    body = s3.get_object(Bucket=bucket, Key=files["SUCCEEDED"][0]["Key"])["Body"].read()
    assert len(body) == files["SUCCEEDED"][0]["Size"]
    succeeded = json.loads(body)
    assert sorted(json.loads(r["Output"])["sum"] for r in succeeded) == [3, 7]
    record = succeeded[0]
    assert record["Status"] == "SUCCEEDED" and record["InputDetails"] == {"Included": True}
    assert record["ExecutionArn"].startswith(
        f"arn:aws:states:us-east-1:000000000000:express:{name}/Fan:{run_id}:"
    )
    assert record["StateMachineArn"] == f"{machine}/Fan"
    assert json.loads(record["Input"])["BatchInput"] == {"tag": "t"}
    assert record["StartDate"].endswith("Z") and record["StopDate"].endswith("Z")
    failed = json.loads(s3.get_object(Bucket=bucket, Key=files["FAILED"][0]["Key"])["Body"].read())
    assert [(r["Status"], r["Error"], r["Cause"]) for r in failed] == [("FAILED", "Six", "no sixes")]  # fmt: skip

    described = sfn.describe_map_run(mapRunArn=run_arn)
    assert described["executionCounts"]["total"] == 3
    counts = described["executionCounts"]
    assert (counts["succeeded"], counts["failed"]) == (2, 1)
    assert (described["itemCounts"]["total"], described["itemCounts"]["failed"]) == (6, 2)
    assert described["executionCounts"]["resultsWritten"] == 3
    assert described["toleratedFailureCount"] == 1
    # Express children of a Map Run are described (AWS: only those).
    child = sfn.describe_execution(executionArn=record["ExecutionArn"])
    assert child["status"] == "SUCCEEDED" and child["mapRunArn"] == run_arn
    listed = sfn.list_executions(mapRunArn=run_arn)["executions"]
    assert sorted(c["itemCount"] for c in listed) == [2, 2, 2]
    machine_of = sfn.describe_state_machine_for_execution(executionArn=record["ExecutionArn"])
    assert (machine_of["mapRunArn"], machine_of["label"]) == (run_arn, "Fan")
    assert machine_of["stateMachineArn"] == f"{machine}/Fan"
    assert json.loads(machine_of["definition"])["StartAt"] == "Check"
    # Only the Describe operations answer an Express child (no history, no stop).
    for call in (sfn.get_execution_history, sfn.stop_execution):
        assert error_of(call, executionArn=record["ExecutionArn"])["Code"] == "InvalidArn"


def test_a_failure_past_the_threshold_fails_the_map_run(sfn, role):
    flow = definition({"Fan": _distributed(
        {"Check": {"Type": "Choice", "Default": "Ok",
                   "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "Boom"}]},
         "Boom": {"Type": "Fail", "Error": "Two", "Cause": "no twos"},
         "Ok": {"Type": "Pass", "End": True}},
        ItemsPath="$", MaxConcurrency=1,
    )})  # fmt: skip
    machine = sfn.create_state_machine(name=unique("fail"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]
    arn = sfn.start_execution(stateMachineArn=machine, input="[1, 2, 3, 4]")["executionArn"]
    done = wait_done(sfn, arn)
    assert done["status"] == "FAILED"
    assert done["error"] == "States.ExceedToleratedFailureThreshold"
    events = sfn.get_execution_history(executionArn=arn)["events"]
    failed = next(e for e in events if e["type"] == "MapRunFailed")
    assert failed["mapRunFailedEventDetails"]["error"] == "States.ExceedToleratedFailureThreshold"
    assert "MapStateFailed" in [e["type"] for e in events]
    described = sfn.describe_map_run(mapRunArn=_only_map_run(sfn, arn))
    assert described["status"] == "FAILED"
    counts = described["executionCounts"]
    # One at a time: the run stops at the first failure; the rest never start.
    assert (counts["succeeded"], counts["failed"], counts["pending"]) == (1, 1, 2)


def test_update_map_run_and_a_stopped_parent(sfn, role):
    waits = {"W": {"Type": "Wait", "Seconds": 1, "End": True}}
    flow = definition({"Fan": _distributed(waits, ItemsPath="$", MaxConcurrency=1)})
    machine = sfn.create_state_machine(name=unique("upd"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]
    arn = sfn.start_execution(stateMachineArn=machine, input="[1, 2, 3, 4]")["executionArn"]
    run_arn = wait_for(lambda: sfn.list_map_runs(executionArn=arn)["mapRuns"])[0]["mapRunArn"]
    assert sfn.describe_map_run(mapRunArn=run_arn)["executionCounts"]["running"] == 1
    sfn.update_map_run(mapRunArn=run_arn, maxConcurrency=4, toleratedFailurePercentage=50)
    described = sfn.describe_map_run(mapRunArn=run_arn)
    assert described["maxConcurrency"] == 4 and described["toleratedFailurePercentage"] == 50.0
    # The raised limit applies to the running Map Run: the rest start together.
    wait_for(lambda: sfn.describe_map_run(mapRunArn=run_arn)["executionCounts"]["pending"] == 0)
    assert wait_done(sfn, arn)["status"] == "SUCCEEDED"
    assert error_of(sfn.update_map_run, mapRunArn=run_arn)["Code"] == "ValidationException"

    slow = definition({"Fan": _distributed({"W": {"Type": "Wait", "Seconds": 60, "End": True}},
                                           ItemsPath="$")})  # fmt: skip
    machine = sfn.create_state_machine(name=unique("stop"), definition=slow, roleArn=role)[
        "stateMachineArn"
    ]
    arn = sfn.start_execution(stateMachineArn=machine, input="[1, 2]")["executionArn"]
    run_arn = wait_for(lambda: sfn.list_map_runs(executionArn=arn)["mapRuns"])[0]["mapRunArn"]
    wait_for(lambda: sfn.describe_map_run(mapRunArn=run_arn)["executionCounts"]["running"] == 2)
    started = time.monotonic()
    sfn.stop_execution(executionArn=arn)
    assert time.monotonic() - started < 10
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert sfn.describe_map_run(mapRunArn=run_arn)["status"] == "ABORTED"
    children = sfn.list_executions(mapRunArn=run_arn)["executions"]
    assert [c["status"] for c in children] == ["ABORTED", "ABORTED"]
    assert "MapRunAborted" in history_types(sfn, arn)


def test_writer_config_none_answers_the_execution_records(sfn, role):
    flow = definition({"Fan": _distributed(
        {"P": {"Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($, $)"}, "End": True}},
        ItemsPath="$", ResultWriter={"WriterConfig": {"Transformation": "NONE",
                                                      "OutputType": "JSON"}},
    )})  # fmt: skip
    machine = sfn.create_state_machine(name=unique("none"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]
    done = wait_done(sfn, sfn.start_execution(stateMachineArn=machine, input="[1, 2]")[
        "executionArn"])  # fmt: skip
    records = json.loads(done["output"])
    assert [json.loads(r["Output"]) for r in records] == [{"twice": 2}, {"twice": 4}]
    assert [json.loads(r["Input"]) for r in records] == [1, 2]
    assert {r["Status"] for r in records} == {"SUCCEEDED"}
    assert all(r["ExecutionArn"].split(":")[5] == "execution" for r in records)


def test_redriving_the_parent_redrives_its_map_run(sfn, s3, role):
    """A child fails (its S3 object is missing); once it exists, RedriveExecution of
    the parent redrives the same Map Run: only the failed child runs again."""
    bucket = unique("flags")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="flag-1", Body=b"1")
    flow = definition({"Fan": _distributed(
        {"W": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Read"},
         "Read": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                  "Parameters": {"Bucket": bucket, "Key.$": "States.Format('flag-{}', $.n)"},
                  "ResultSelector": {"body.$": "$.Body"}, "End": True}},
        ItemsPath="$",
    )})  # fmt: skip
    machine = sfn.create_state_machine(name=unique("redrive"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]
    items = json.dumps([{"n": 1, "wait": 0}, {"n": 2, "wait": 1}])
    arn = sfn.start_execution(stateMachineArn=machine, input=items)["executionArn"]
    failed = wait_done(sfn, arn)
    assert failed["error"] == "States.ExceedToleratedFailureThreshold"
    run_arn = _only_map_run(sfn, arn)
    first = {c["name"]: c for c in sfn.list_executions(mapRunArn=run_arn)["executions"]}

    s3.put_object(Bucket=bucket, Key="flag-2", Body=b"2")
    sfn.redrive_execution(executionArn=arn)
    done = wait_done(sfn, arn)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == [{"body": "1"}, {"body": "2"}]
    assert _only_map_run(sfn, arn) == run_arn  # the same Map Run, redriven
    described = sfn.describe_map_run(mapRunArn=run_arn)
    assert described["status"] == "SUCCEEDED" and described["redriveCount"] == 1
    assert described["executionCounts"]["succeeded"] == 2
    after = {c["name"]: c for c in sfn.list_executions(mapRunArn=run_arn)["executions"]}
    assert set(after) == set(first)
    redriven = {name: c["redriveCount"] for name, c in after.items()}
    assert sorted(redriven.values()) == [0, 1]  # only the failed child ran again
    events = sfn.get_execution_history(executionArn=arn)["events"]
    types = [e["type"] for e in events]
    assert types[types.index("ExecutionRedriven") :] == [
        "ExecutionRedriven", "MapRunRedriven", "MapRunSucceeded", "MapStateSucceeded",
        "MapStateExited", "ExecutionSucceeded",
    ]  # fmt: skip
    redrive_event = next(e for e in events if e["type"] == "MapRunRedriven")
    assert redrive_event["mapRunRedrivenEventDetails"] == {"mapRunArn": run_arn, "redriveCount": 1}


def test_the_role_must_allow_starting_the_children(server, sfn, role):
    """AWS starts the children as the machine's role: without states:StartExecution
    on its own state machine the Map state fails."""
    narrow = states_role(make_client(server.endpoint, "iam"), actions=("logs:*",))
    flow = definition({"Fan": _distributed({"P": {"Type": "Pass", "End": True}}, ItemsPath="$")})
    machine = sfn.create_state_machine(name=unique("deny"), definition=flow, roleArn=narrow)[
        "stateMachineArn"
    ]
    arn = sfn.start_execution(stateMachineArn=machine, input="[1]")["executionArn"]
    done = wait_done(sfn, arn)
    assert (done["status"], done["error"]) == ("FAILED", "States.Runtime")
    assert "states:StartExecution" in done["cause"] and machine in done["cause"]
    assert sfn.list_map_runs(executionArn=arn)["mapRuns"] == []


def test_csv_reader_delimiters(sfn, s3, role):
    """ReaderConfig CSVDelimiter (AWS's COMMA, PIPE, SEMICOLON, SPACE, TAB); another
    value is refused at create."""
    bucket = unique("csv")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="rows.tsv", Body=b"id\tname\n1\tann, b\n2\tbob\n")
    s3.put_object(Bucket=bucket, Key="rows.psv", Body=b"1|x;y\n2|z\n")

    def reader(key: str, **config) -> dict:
        return {"Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": {"InputType": "CSV", **config},
                "Parameters": {"Bucket": bucket, "Key": key}}  # fmt: skip

    def run(item_reader: dict):
        flow = definition({"Fan": _distributed({"P": {"Type": "Pass", "End": True}},
                                               ItemReader=item_reader)})  # fmt: skip
        machine = sfn.create_state_machine(name=unique("csv"), definition=flow, roleArn=role)
        arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
        done = wait_done(sfn, arn)
        assert done["status"] == "SUCCEEDED", done
        return json.loads(done["output"])

    assert run(reader("rows.tsv", CSVDelimiter="TAB")) == [
        {"id": "1", "name": "ann, b"}, {"id": "2", "name": "bob"}]  # fmt: skip
    given = reader("rows.psv", CSVDelimiter="PIPE", CSVHeaderLocation="GIVEN",
                   CSVHeaders=["n", "v"])  # fmt: skip
    assert run(given) == [{"n": "1", "v": "x;y"}, {"n": "2", "v": "z"}]

    bad = definition({"Fan": _distributed({"P": {"Type": "Pass", "End": True}},
                                          ItemReader=reader("rows.tsv", CSVDelimiter="|"))})  # fmt: skip
    with pytest.raises(sfn.exceptions.InvalidDefinition) as refused:
        sfn.create_state_machine(name=unique("csv"), definition=bad, roleArn=role)
    assert "CSVDelimiter must be one of [COMMA, PIPE, SEMICOLON, SPACE, TAB]" in str(refused.value)


def _reader_run(sfn, role, item_reader: dict) -> dict:
    flow = definition({"Fan": _distributed({"P": {"Type": "Pass", "End": True}},
                                           ItemReader=item_reader)})  # fmt: skip
    machine = sfn.create_state_machine(name=unique("reader"), definition=flow, roleArn=role)
    arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    return wait_done(sfn, arn)


def test_item_reader_datasets(sfn, s3, role):
    """ItemsPointer into a JSON document, GZIP objects, AWS's text-delimited rules,
    LOAD_AND_FLATTEN over a listing, an S3 inventory and an Athena UNLOAD manifest."""
    bucket = unique("datasets")
    s3.create_bucket(Bucket=bucket)

    def get(key: str, **config) -> dict:
        return {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": config,
                "Parameters": {"Bucket": bucket, "Key": key}}  # fmt: skip

    def items(item_reader: dict) -> list:
        done = _reader_run(sfn, role, item_reader)
        assert done["status"] == "SUCCEEDED", done
        return json.loads(done["output"])

    nested = {"inventory": {"products": {"featured": [{"sku": 1}, {"sku": 2}]}}}
    s3.put_object(Bucket=bucket, Key="nested.json", Body=json.dumps(nested))
    pointer = get("nested.json", InputType="JSON", ItemsPointer="/inventory/products/featured")
    assert items(pointer) == [{"sku": 1}, {"sku": 2}]
    missing = _reader_run(sfn, role, {**pointer, "ReaderConfig": {
        "InputType": "JSON", "ItemsPointer": "/inventory/none"}})  # fmt: skip
    assert (missing["status"], missing["error"]) == ("FAILED", "States.ItemReaderFailed")

    s3.put_object(Bucket=bucket, Key="rows.jsonl.gz", Body=gzip.compress(b'{"a":1}\n{"a":2}\n'))
    assert items(get("rows.jsonl.gz", InputType="JSONL")) == [{"a": 1}, {"a": 2}]
    # A short row gets empty strings, a long one loses its extra fields, \ escapes.
    s3.put_object(Bucket=bucket, Key="rules.csv", Body=b"a,b\n1\n2,3,4\nx\\,y,z\n")
    assert items(get("rules.csv", InputType="CSV")) == [
        {"a": "1", "b": ""}, {"a": "2", "b": "3"}, {"a": "x,y", "b": "z"}]  # fmt: skip

    s3.put_object(Bucket=bucket, Key="parts/1.json", Body=b"[1, 2]")
    s3.put_object(Bucket=bucket, Key="parts/2.json", Body=b"[3]")
    listing = {"Resource": "arn:aws:states:::s3:listObjectsV2",
               "ReaderConfig": {"InputType": "JSON", "Transformation": "LOAD_AND_FLATTEN"},
               "Parameters": {"Bucket": bucket, "Prefix": "parts/"}}  # fmt: skip
    assert items(listing) == [1, 2, 3]

    data = b'"src","a.txt","3","2022-11-16T00:29:32.000Z"\n"src","b/c.jpg","9","2022-11-15T20:02:16.000Z"\n'
    s3.put_object(Bucket=bucket, Key="inv/data/one.csv.gz", Body=gzip.compress(data))
    manifest = {"sourceBucket": "src", "destinationBucket": f"arn:aws:s3:::{bucket}",
                "version": "2016-11-30", "fileFormat": "CSV",
                "fileSchema": "Bucket, Key, Size, LastModifiedDate",
                "files": [{"key": "inv/data/one.csv.gz", "size": 1, "MD5checksum": "x"}]}  # fmt: skip
    s3.put_object(Bucket=bucket, Key="inv/manifest.json", Body=json.dumps(manifest))
    expected = [{"Bucket": "src", "Key": "a.txt", "Size": "3",
                 "LastModifiedDate": "2022-11-16T00:29:32.000Z"},
                {"Bucket": "src", "Key": "b/c.jpg", "Size": "9",
                 "LastModifiedDate": "2022-11-15T20:02:16.000Z"}]  # fmt: skip
    assert items(get("inv/manifest.json", InputType="MANIFEST")) == expected
    assert items(get("inv/manifest.json", ManifestType="S3_INVENTORY")) == expected

    s3.put_object(Bucket=bucket, Key="athena/q1.jsonl", Body=b'{"n":1}\n')
    s3.put_object(Bucket=bucket, Key="athena/q2.jsonl", Body=b'{"n":2}\n')
    listed = f"s3://{bucket}/athena/q1.jsonl\ns3://{bucket}/athena/q2.jsonl\n"
    s3.put_object(Bucket=bucket, Key="athena/q-manifest.csv", Body=listed.encode())
    athena = get("athena/q-manifest.csv", ManifestType="ATHENA_DATA", InputType="JSONL")
    assert items(athena) == [{"n": 1}, {"n": 2}]

    # What AWS refuses in a ReaderConfig.
    for config, message in (
        ({"Transformation": "LOAD_AND_FLATTEN"}, "InputType is required when Transformation"),
        ({"ManifestType": "S3_INVENTORY", "InputType": "CSV"}, "InputType must not be set"),
        ({"InputType": "XML"}, "InputType must be one of [CSV, JSON, JSONL, PARQUET, MANIFEST]"),
    ):
        flow = definition({"Fan": _distributed({"P": {"Type": "Pass", "End": True}},
                                               ItemReader={**listing, "ReaderConfig": config})})  # fmt: skip
        found = sfn.validate_state_machine_definition(definition=flow)["diagnostics"]
        assert any(message in d["message"] for d in found), (config, found)
