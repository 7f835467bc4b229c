"""Stream event source mappings (Kinesis and DynamoDB Streams), the features they share:
tumbling windows with state (batches of one window, the state the function answers
handed on, a final invocation when the window ends, an answer without state counting
as a failure), ParallelizationFactor on a DynamoDB stream keeping each item's records
in order, and an S3 OnFailure destination getting AWS's record with the whole event."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from datetime import datetime

import pytest

from tests.e2e.conftest import error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.roles import ensure_role
from tests.e2e.server import SandlotServer
from tests.e2e.test_dynamodb_stream_mappings import function as ddb_function
from tests.e2e.test_dynamodb_stream_mappings import keys, stream_role
from tests.e2e.test_dynamodb_stream_mappings import table as ddb_table
from tests.e2e.test_kinesis_mappings import put
from tests.e2e.test_kinesis_mappings import stream as kinesis_stream
from tests.e2e.test_sqs_mappings import events, queue, wait_state

# Reports every event to the queue named by OUT; aggregates the records' numbers (Kinesis
# data, or the DynamoDB item's "n") into its window's state, unless MODE says otherwise.
WINDOW_HANDLER = """
import base64, json, os
import boto3

sqs = boto3.client("sqs")
out = sqs.get_queue_url(QueueName=os.environ["OUT"])["QueueUrl"]

def number(record):
    if "kinesis" in record:
        return int(base64.b64decode(record["kinesis"]["data"]))
    return int(record["dynamodb"]["NewImage"]["n"]["N"])

def handler(event, context):
    sqs.send_message(QueueUrl=out, MessageBody=json.dumps(event))
    if event["isFinalInvokeForWindow"]:
        return None
    if os.environ.get("MODE") == "nostate":
        return {"batchItemFailures": []}
    state = event["state"]
    numbers = [number(r) for r in event["Records"]]
    state["sum"] = state.get("sum", 0) + sum(numbers)
    state["count"] = state.get("count", 0) + len(numbers)
    return {"state": state}
"""

WINDOW_S = 2


def role(iam) -> str:
    name = unique("window-role")
    arn = ensure_role(
        iam, name, managed=("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",)
    )
    policy = {
        "Effect": "Allow",
        "Action": ["sqs:*", "kinesis:*", "dynamodb:*", "s3:*"],
        "Resource": "*",
    }
    iam.put_role_policy(
        RoleName=name,
        PolicyName="streams",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [policy]}),
    )
    return arn


def window_function(lam, role_arn: str, out_url: str, mode: str = "ok") -> str:
    name = unique("window-consumer")
    create_function(
        lam,
        name,
        {"app.py": WINDOW_HANDLER},
        role=role_arn,
        Timeout=30,
        Environment={"Variables": {"OUT": out_url.rsplit("/", 1)[1], "MODE": mode}},
    )
    return name


@pytest.fixture
def setup(client):
    sqs, lam = client("sqs"), client("lambda")
    out_url, _ = queue(sqs, "reports")
    return sqs, lam, role(client("iam")), out_url


def _epoch(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp()


def until_finals(sqs, out_url: str, total: int, timeout: float = 40) -> list[dict]:
    """Every event reported until the final invocations' states have counted ``total``
    records."""
    found: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found += events(sqs, out_url, 1, timeout=deadline - time.monotonic())
        finals = [e for e in found if e["isFinalInvokeForWindow"]]
        if sum(e["state"].get("count", 0) for e in finals) >= total:
            return found
    raise AssertionError(f"the final invocations never counted {total} records: {found}")


def check_windows(found: list[dict], source_arn: str, created) -> None:
    """Each event in AWS's shape; each record in its window; states carried over."""
    open_count: dict[str, int] = {}  # records counted per open window
    for event in found:
        start, end = _epoch(event["window"]["start"]), _epoch(event["window"]["end"])
        assert end - start == WINDOW_S and start % WINDOW_S == 0
        assert event["eventSourceARN"] == source_arn
        assert event["shardId"].startswith("shardId-")
        assert event["isWindowTerminatedEarly"] is False
        window = event["window"]["start"]
        # Each invocation gets the state the previous one of its window answered.
        assert event["state"].get("count", 0) == open_count.get(window, 0)
        if event["isFinalInvokeForWindow"]:
            assert event["Records"] == []
            open_count.pop(window)
            continue
        for record in event["Records"]:
            assert start <= created(record) < end
        open_count[window] = open_count.get(window, 0) + len(event["Records"])
    assert open_count == {}  # every window was closed


def test_kinesis_tumbling_window_aggregates_state(setup, client):
    sqs, lam, role_arn, out_url = setup
    kinesis = client("kinesis")
    arn = kinesis_stream(kinesis)
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=window_function(lam, role_arn, out_url),
        StartingPosition="TRIM_HORIZON",
        TumblingWindowInSeconds=WINDOW_S,
        BatchSize=2,
    )
    assert mapping["TumblingWindowInSeconds"] == WINDOW_S
    wait_state(lam, mapping["UUID"], "Enabled")
    for n in range(1, 6):
        put(kinesis, arn, str(n))
    found = until_finals(sqs, out_url, 5)
    finals = [e for e in found if e["isFinalInvokeForWindow"]]
    assert sum(e["state"]["sum"] for e in finals) == 15
    check_windows(found, arn, lambda r: r["kinesis"]["approximateArrivalTimestamp"])
    assert max(len(e["Records"]) for e in found) <= 2


def test_dynamodb_tumbling_window_and_missing_state_fails(setup, client):
    sqs, lam, role_arn, out_url = setup
    ddb = client("dynamodb")
    name, arn = ddb_table(ddb)
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=window_function(lam, role_arn, out_url),
        StartingPosition="TRIM_HORIZON",
        TumblingWindowInSeconds=WINDOW_S,
    )
    wait_state(lam, mapping["UUID"], "Enabled")
    for n in range(1, 4):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{n}"}, "n": {"N": str(n)}})
    found = until_finals(sqs, out_url, 3)
    assert sum(e["state"]["sum"] for e in found if e["isFinalInvokeForWindow"]) == 6
    check_windows(found, arn, lambda r: r["dynamodb"]["ApproximateCreationDateTime"])

    # A function that answers no state fails its batch (retried, then given up on).
    failed_url, failed_arn = queue(sqs, "failed")
    name2, arn2 = ddb_table(ddb)
    ddb.put_item(TableName=name2, Item={"pk": {"S": "x"}, "n": {"N": "1"}})
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn2,
        FunctionName=window_function(lam, role_arn, out_url, mode="nostate"),
        StartingPosition="TRIM_HORIZON",
        TumblingWindowInSeconds=WINDOW_S,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": failed_arn}},
    )
    (failure,) = events(sqs, failed_url, 1)
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1


def test_tumbling_window_limits(client):
    lam, kinesis = client("lambda"), client("kinesis")
    error = error_of(
        lam.create_event_source_mapping,
        EventSourceArn=kinesis_stream(kinesis),
        FunctionName="nothing-needed",
        StartingPosition="TRIM_HORIZON",
        TumblingWindowInSeconds=901,
    )
    assert error["Code"] == "ValidationException"
    assert "'tumblingWindowInSeconds'" in error["Message"]


def test_dynamodb_parallelization_factor_keeps_order_per_item(setup, client):
    sqs, lam, _, out_url = setup
    ddb = client("dynamodb")
    stream_role_arn = stream_role(client("iam"))
    name, arn = ddb_table(ddb)
    items = [f"item{k}" for k in range(6)]
    for version in range(3):
        for key in items:
            ddb.put_item(TableName=name, Item={"pk": {"S": key}, "v": {"N": str(version)}})
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=ddb_function(lam, stream_role_arn, out_url),
        StartingPosition="TRIM_HORIZON",
        ParallelizationFactor=3,
        BatchSize=2,
    )
    assert mapping["ParallelizationFactor"] == 3
    wait_state(lam, mapping["UUID"], "Enabled")
    records: list[dict] = []
    while len(records) < 18:
        records += [r for event in events(sqs, out_url, 1) for r in event["Records"]]
    assert sorted(keys([{"Records": records}])) == sorted(items * 3)
    for key in items:  # each item's changes in order: INSERT then two MODIFYs
        mine = [r for r in records if r["dynamodb"]["Keys"]["pk"]["S"] == key]
        assert [r["dynamodb"]["NewImage"]["v"]["N"] for r in mine] == ["0", "1", "2"]
        assert [r["eventName"] for r in mine] == ["INSERT", "MODIFY", "MODIFY"]


def test_s3_on_failure_gets_the_record_and_the_whole_event(setup, client):
    sqs, lam, role_arn, out_url = setup
    s3, kinesis = client("s3"), client("kinesis")
    bucket = f"failures-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    arn = kinesis_stream(kinesis)
    put(kinesis, arn, "not a number")  # the window handler cannot parse it: fails
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=window_function(lam, role_arn, out_url),
        StartingPosition="TRIM_HORIZON",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": f"arn:aws:s3:::{bucket}"}},
    )
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == f"arn:aws:s3:::{bucket}"
    deadline = time.monotonic() + 30
    listed: list[dict] = []
    while not listed and time.monotonic() < deadline:
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        time.sleep(0.1)
    (entry,) = listed
    key = entry["Key"]
    prefix = f"aws/lambda/{mapping['UUID']}/shardId-000000000000/"
    assert key.startswith(prefix)
    assert re.fullmatch(
        r"\d{4}/\d\d/\d\d/\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d-[0-9a-f-]{36}", key[len(prefix) :]
    )
    record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"]["functionError"] == "Unhandled"
    info = record["KinesisBatchInfo"]
    assert info["streamArn"] == arn and info["batchSize"] == 1
    event = json.loads(record["payload"])
    (sent,) = event["Records"]
    assert base64.b64decode(sent["kinesis"]["data"]) == b"not a number"
    assert sent["kinesis"]["sequenceNumber"] == info["startSequenceNumber"]


def test_window_state_survives_a_restart(tmp_path):
    """The open window's state is saved with the checkpoint: after kill -9 and a
    restart, the window goes on from the state the function last answered."""
    window = 20
    server = SandlotServer(tmp_path).start()
    try:
        sqs, lam = make_client(server.endpoint, "sqs"), make_client(server.endpoint, "lambda")
        kinesis = make_client(server.endpoint, "kinesis")
        out_url, _ = queue(sqs, "reports")
        arn = kinesis_stream(kinesis)
        mapping = lam.create_event_source_mapping(
            EventSourceArn=arn,
            FunctionName=window_function(lam, role(make_client(server.endpoint, "iam")), out_url),
            StartingPosition="TRIM_HORIZON",
            TumblingWindowInSeconds=window,
        )
        wait_state(lam, mapping["UUID"], "Enabled")
        time.sleep(window - time.time() % window + 0.2)  # a window's start: room to restart
        put(kinesis, arn, "1")
        put(kinesis, arn, "2")
        first: list[dict] = []
        while sum(len(e["Records"]) for e in first) < 2:
            first += events(sqs, out_url, 1)
        server.kill()
    finally:
        server.kill()
    with SandlotServer(tmp_path) as restarted:
        sqs = make_client(restarted.endpoint, "sqs")
        put(make_client(restarted.endpoint, "kinesis"), arn, "3")
        out_url = sqs.get_queue_url(QueueName=out_url.rsplit("/", 1)[1])["QueueUrl"]
        found = until_finals(sqs, out_url, 3, timeout=window + 60)
    # Without the saved state, the first window's records would be lost to its final
    # invocation (until_finals would never count 3).
    finals = [e for e in first + found if e["isFinalInvokeForWindow"]]
    assert sum(e["state"]["sum"] for e in finals) == 6
    after = [e for e in found if e["Records"]][0]
    if after["window"] == first[0]["window"]:  # "3" came in the same window (the usual)
        # The state restored is the one saved with the checkpoint: the records after
        # it come next (a batch whose answer the kill cut off comes again).
        done = after["state"]["count"]
        assert after["state"] == {"sum": sum(range(1, done + 1)), "count": done} and done >= 1
        sent = [base64.b64decode(r["kinesis"]["data"]).decode() for r in after["Records"]]
        assert sent == [str(n) for n in range(done + 1, done + 1 + len(sent))]
