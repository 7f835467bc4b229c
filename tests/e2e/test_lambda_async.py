"""Lambda's asynchronous invocation: EventInvokeConfig, retries, dead-letter queues and
destinations, delivered as the function's role, surviving a restart."""

from __future__ import annotations

import json
import re
import sqlite3
import time

import pytest

from tests.e2e.conftest import aws, error_of, make_client
from tests.e2e.functions import create_function, unique, wait_for_log_events
from tests.e2e.roles import ensure_role
from tests.e2e.server import SandlotServer

ACCOUNT = "000000000000"
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
FAILING = {
    "app.py": "def handler(event, context):\n    raise ValueError('bad input ' + str(event))\n"
}
ECHO = {"app.py": "def handler(event, context):\n    return {'echo': event}\n"}


def sender_role(iam, *, sqs: bool = True) -> str:
    """A Lambda execution role that may (or may not) send to every queue."""
    name = unique("async-role")
    arn = ensure_role(iam, name, managed=(BASIC,))
    if sqs:
        iam.put_role_policy(
            RoleName=name,
            PolicyName="send",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}
                    ],
                }
            ),
        )
    return arn


def queue(sqs) -> tuple[str, str]:
    """(url, arn) of a new queue."""
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def receive(sqs, url: str, timeout: float = 30) -> dict:
    """The next message of the queue (with all attributes), waiting up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=url,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages")
        if messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
            return messages[0]
    raise AssertionError(f"no message arrived in {url}")


def test_event_invoke_config_operations(server, client):
    lam, iam, sqs = client("lambda"), client("iam"), client("sqs")
    name = unique("cfg")
    create_function(lam, name, ECHO, role=sender_role(iam))
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    missing = error_of(lam.get_function_event_invoke_config, FunctionName=name)
    assert missing["Code"] == "ResourceNotFoundException"
    assert missing["HTTPStatusCode"] == 404
    _, dest = queue(sqs)
    put = lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": dest}},
    )
    assert put["FunctionArn"] == f"{arn}:$LATEST"
    assert put["MaximumRetryAttempts"] == 1
    assert put["DestinationConfig"]["OnFailure"]["Destination"] == dest
    assert "MaximumEventAgeInSeconds" not in put
    # Update changes only what it is given.
    updated = lam.update_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=120
    )
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (1, 120)
    assert updated["DestinationConfig"]["OnFailure"]["Destination"] == dest
    # Put replaces the whole configuration.
    replaced = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert replaced["MaximumRetryAttempts"] == 0
    assert "MaximumEventAgeInSeconds" not in replaced and "DestinationConfig" not in replaced
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert got["MaximumRetryAttempts"] == 0 and got["FunctionArn"] == f"{arn}:$LATEST"
    # The AWS CLI reads the same configuration.
    shown = aws(server.endpoint, "lambda", "get-function-event-invoke-config",
                "--function-name", name)  # fmt: skip
    assert shown["MaximumRetryAttempts"] == 0 and shown["FunctionArn"] == f"{arn}:$LATEST"
    listed = lam.list_function_event_invoke_configs(FunctionName=name)
    assert [c["FunctionArn"] for c in listed["FunctionEventInvokeConfigs"]] == [f"{arn}:$LATEST"]
    lam.delete_function_event_invoke_config(FunctionName=name)
    assert error_of(lam.get_function_event_invoke_config, FunctionName=name)["Code"] == (
        "ResourceNotFoundException"
    )


@pytest.mark.parametrize(
    "params, code",
    [
        ({"MaximumRetryAttempts": 3}, "ValidationException"),
        ({"MaximumEventAgeInSeconds": 21601}, "ValidationException"),
        ({"Qualifier": "nope"}, "ResourceNotFoundException"),
    ],
)
def test_event_invoke_config_validation(client, params, code):
    lam, iam = client("lambda"), client("iam")
    name = unique("cfgbad")
    create_function(lam, name, ECHO, role=sender_role(iam))
    assert error_of(lam.put_function_event_invoke_config, FunctionName=name, **params)["Code"] == (
        code
    )


def test_a_destination_the_role_may_not_send_to_is_refused(client):
    lam, iam, sqs = client("lambda"), client("iam"), client("sqs")
    name = unique("cfgdeny")
    create_function(lam, name, ECHO, role=sender_role(iam, sqs=False))
    _, dest = queue(sqs)
    error = error_of(
        lam.put_function_event_invoke_config,
        FunctionName=name,
        DestinationConfig={"OnSuccess": {"Destination": dest}},
    )
    assert error["Code"] == "InvalidParameterValueException"
    assert f"does not have permissions to call SendMessage on {dest}" in error["Message"]


def test_failed_event_reaches_the_dlq_after_two_retries(client):
    lam, iam, sqs = client("lambda"), client("iam"), client("sqs")
    dlq_url, dlq_arn = queue(sqs)
    fail_url, fail_arn = queue(sqs)
    name = unique("fails")
    create_function(
        lam, name, FAILING, role=sender_role(iam), DeadLetterConfig={"TargetArn": dlq_arn}
    )
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": fail_arn}}
    )
    invoked = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"order": 7}')
    request_id = invoked["ResponseMetadata"]["RequestId"]

    message = receive(sqs, dlq_url)
    assert json.loads(message["Body"]) == {"order": 7}
    attributes = message["MessageAttributes"]
    assert attributes["RequestID"] == {"StringValue": request_id, "DataType": "String"}
    assert attributes["ErrorCode"] == {"StringValue": "200", "DataType": "Number"}
    assert attributes["ErrorMessage"]["StringValue"] == "bad input {'order': 7}"

    record = json.loads(receive(sqs, fail_url)["Body"])
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == {"order": 7}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorMessage"] == "bad input {'order': 7}"
    assert record["responsePayload"]["errorType"] == "ValueError"


def test_success_destination_gets_the_invocation_record(client):
    lam, iam, sqs = client("lambda"), client("iam"), client("sqs")
    url, arn = queue(sqs)
    name = unique("works")
    create_function(lam, name, ECHO, role=sender_role(iam))
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}}
    )
    invoked = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 1}')
    record = json.loads(receive(sqs, url)["Body"])
    assert record["requestContext"]["requestId"] == invoked["ResponseMetadata"]["RequestId"]
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"echo": {"n": 1}}


def s3_writer_role(iam, bucket: str) -> str:
    """An execution role that may put objects into and list ``bucket``."""
    name = unique("s3-dest-role")
    arn = ensure_role(iam, name, managed=(BASIC,))
    statement = [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
    ]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="s3",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statement}),
    )
    return arn


def test_an_s3_failure_destination_gets_the_record_under_aws_key(client):
    """S3 keeps failure records only, at AWS's fixed
    ``aws/lambda/async/<function>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>``."""
    lam, iam, s3 = client("lambda"), client("iam"), client("s3")
    bucket = unique("failures")
    s3.create_bucket(Bucket=bucket)
    name = unique("s3dest")
    create_function(lam, name, FAILING, role=s3_writer_role(iam, bucket))
    target = f"arn:aws:s3:::{bucket}"
    error = error_of(
        lam.put_function_event_invoke_config,
        FunctionName=name,
        DestinationConfig={"OnSuccess": {"Destination": target}},
    )
    assert error["Code"] == "InvalidParameterValueException"
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": target}},
    )
    invoked = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"k": 1}')
    deadline = time.monotonic() + 30
    objects = []
    while not objects and time.monotonic() < deadline:
        objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        if not objects:
            time.sleep(0.1)
    assert len(objects) == 1
    key = objects[0]["Key"]
    day = time.strftime("%Y/%m/%d", time.gmtime())
    assert key.startswith(f"aws/lambda/async/{name}/{day}/{day.replace('/', '-')}T")
    assert re.fullmatch(
        r"aws/lambda/async/[^/]+/\d{4}/\d\d/\d\d/\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d-"
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        key,
    )
    record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert record["requestContext"]["requestId"] == invoked["ResponseMetadata"]["RequestId"]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"k": 1}


def test_an_s3_destination_the_role_may_not_write_is_refused(client):
    lam, iam, s3 = client("lambda"), client("iam"), client("s3")
    bucket = unique("nowrite")
    s3.create_bucket(Bucket=bucket)
    name = unique("s3deny")
    create_function(lam, name, FAILING, role=sender_role(iam))
    error = error_of(
        lam.put_function_event_invoke_config,
        FunctionName=name,
        DestinationConfig={"OnFailure": {"Destination": f"arn:aws:s3:::{bucket}"}},
    )
    assert error["Code"] == "InvalidParameterValueException"
    assert "does not have permissions to call PutObject" in error["Message"]


def test_no_retries_when_maximum_retry_attempts_is_zero(client):
    lam, iam, sqs = client("lambda"), client("iam"), client("sqs")
    url, arn = queue(sqs)
    name = unique("once")
    create_function(lam, name, FAILING, role=sender_role(iam))
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    record = json.loads(receive(sqs, url)["Body"])
    assert record["requestContext"]["approximateInvokeCount"] == 1


def test_reserved_concurrency_zero_goes_straight_to_the_dlq(client):
    lam, iam, sqs = client("lambda"), client("iam"), client("sqs")
    url, arn = queue(sqs)
    name = unique("zero")
    create_function(lam, name, ECHO, role=sender_role(iam), DeadLetterConfig={"TargetArn": arn})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    invoked = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"z": 0}')
    message = receive(sqs, url, timeout=10)
    assert json.loads(message["Body"]) == {"z": 0}
    attributes = message["MessageAttributes"]
    assert attributes["RequestID"]["StringValue"] == invoked["ResponseMetadata"]["RequestId"]
    assert attributes["ErrorCode"]["StringValue"] == "429"


def test_a_dlq_the_role_may_not_send_to_is_refused(client):
    lam, iam, sqs = client("lambda"), client("iam"), client("sqs")
    _, arn = queue(sqs)
    error = error_of(
        create_function,
        lam,
        unique("baddlq"),
        ECHO,
        role=sender_role(iam, sqs=False),
        DeadLetterConfig={"TargetArn": arn},
    )
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == (
        "The provided execution role does not have permissions to call SendMessage on SQS"
    )


def test_a_dlq_the_role_may_not_send_to_gets_nothing(server, client):
    """AWS sends as the execution role; a role without sqs:SendMessage loses the event,
    and IAM's decision log says why."""
    lam, iam, sqs = client("lambda"), client("iam"), client("sqs")
    url, arn = queue(sqs)
    name = unique("nodlq")
    role = sender_role(iam)
    create_function(lam, name, FAILING, role=role, DeadLetterConfig={"TargetArn": arn})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    iam.delete_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="send")  # later
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    db = sqlite3.connect(server.data_dir / "sandlot.db")
    query = (
        "SELECT outcome, principal_arn FROM iam_decisions WHERE role_arn = ? "
        "AND action = 'sqs:SendMessage' AND resource = ? AND outcome != 'ALLOW'"
    )
    deadline = time.monotonic() + 20
    rows: list = []
    while not rows and time.monotonic() < deadline:
        rows = db.execute(query, (role, arn)).fetchall()
        time.sleep(0.1)
    assert rows, "the dead-letter send was never attempted"
    outcome, principal = rows[-1]
    assert outcome == "IMPLICIT_DENY"
    assert principal.endswith(f"/{name}")  # the role's session named after the function
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")


def test_a_function_destination_is_invoked_with_the_record(client):
    lam, iam = client("lambda"), client("iam")
    logs = client("logs")
    role = sender_role(iam)
    iam.put_role_policy(
        RoleName=role.rsplit("/", 1)[1],
        PolicyName="invoke",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}
                ],
            }
        ),
    )
    target = unique("recorder")
    create_function(
        lam,
        target,
        {
            "app.py": "import json\ndef handler(event, context):\n    print('RECORD', json.dumps(event))\n"
        },
    )
    target_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{target}"
    name = unique("source")
    create_function(lam, name, ECHO, role=role)
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": target_arn}}
    )
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"via": "lambda"}')
    found = wait_for_log_events(logs, target, '"RECORD"')
    record = json.loads(found[0]["message"].split("RECORD ", 1)[1])
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"echo": {"via": "lambda"}}


def test_deleting_the_function_deletes_its_configuration(client):
    lam, iam = client("lambda"), client("iam")
    name = unique("gone")
    role = sender_role(iam)
    create_function(lam, name, ECHO, role=role)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    lam.delete_function(FunctionName=name)
    create_function(lam, name, ECHO, role=role)
    error = error_of(lam.get_function_event_invoke_config, FunctionName=name)
    assert error["Code"] == "ResourceNotFoundException"


def test_retries_and_the_dlq_survive_a_restart(tmp_path):
    """Killed between attempts, the event keeps its attempt count and ends in the DLQ."""
    server = SandlotServer(tmp_path).start()
    try:
        lam, iam = make_client(server.endpoint, "lambda"), make_client(server.endpoint, "iam")
        sqs = make_client(server.endpoint, "sqs")
        dlq_url, dlq_arn = queue(sqs)
        name = unique("restart")
        create_function(
            lam, name, FAILING, role=sender_role(iam), DeadLetterConfig={"TargetArn": dlq_arn}
        )
        logs = make_client(server.endpoint, "logs")
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"k": 1}')
        deadline = time.monotonic() + 20  # the first attempt ran (and failed)
        while time.monotonic() < deadline:
            try:
                events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
            except Exception:
                events = []
            if any("bad input" in e["message"] for e in events):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the first attempt never ran")
    finally:
        server.kill()
    with SandlotServer(tmp_path) as restarted:
        sqs = make_client(restarted.endpoint, "sqs")
        message = receive(sqs, restarted_url(dlq_url, restarted.endpoint))
        assert json.loads(message["Body"]) == {"k": 1}
        assert message["MessageAttributes"]["ErrorCode"]["StringValue"] == "200"


def restarted_url(url: str, endpoint: str) -> str:
    """A queue URL of the earlier server, at the restarted server's endpoint."""
    return endpoint + "/" + url.split("/", 3)[3]
