"""Step Functions end to end: state machines, versions, aliases, executions, history,
integrations (Lambda, SQS with task tokens), activities, Express sync executions —
driven by boto3 and the AWS CLI against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.e2e.conftest import aws, cli_env, error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import send
from tests.e2e.sfn_support import definition, history_types, states_role, wait_done, wait_for

PASS_CHAIN = definition(
    {
        "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.a", "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a.x, $.n)"}, "End": True},
    }
)


@pytest.fixture(scope="module")
def sfn(server):
    return make_client(server.endpoint, "stepfunctions")


@pytest.fixture(scope="module")
def role(server):
    return states_role(make_client(server.endpoint, "iam"))


def test_state_machine_lifecycle_versions_aliases_and_tags(sfn, role):
    name = unique("sm")
    created = sfn.create_state_machine(
        name=name, definition=PASS_CHAIN, roleArn=role, publish=True,
        tags=[{"key": "team", "value": "a"}],
    )  # fmt: skip
    arn = created["stateMachineArn"]
    assert arn.endswith(f":stateMachine:{name}")
    assert created["stateMachineVersionArn"] == f"{arn}:1"
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["status"] == "ACTIVE" and described["type"] == "STANDARD"
    assert described["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}
    # The same create again answers the same machine; a different one is refused.
    assert (
        sfn.create_state_machine(name=name, definition=PASS_CHAIN, roleArn=role)["stateMachineArn"]
        == arn
    )
    other = definition({"Only": {"Type": "Succeed"}})
    assert (
        error_of(sfn.create_state_machine, name=name, definition=other, roleArn=role)["Code"]
        == "StateMachineAlreadyExists"
    )
    updated = sfn.update_state_machine(stateMachineArn=arn, definition=other, publish=True)
    assert updated["stateMachineVersionArn"] == f"{arn}:2"
    versions = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [f"{arn}:2", f"{arn}:1"]
    assert sfn.describe_state_machine(stateMachineArn=f"{arn}:1")["definition"] == PASS_CHAIN
    alias = sfn.create_state_machine_alias(
        name="prod", routingConfiguration=[{"stateMachineVersionArn": f"{arn}:1", "weight": 100}]
    )["stateMachineAliasArn"]
    assert alias == f"{arn}:prod"
    # An execution through the alias runs version 1's definition.
    started = sfn.start_execution(stateMachineArn=alias, input='{"n": 2}')
    done = wait_done(sfn, started["executionArn"])
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"sum": 3}
    assert done["stateMachineAliasArn"] == alias
    assert done["stateMachineVersionArn"] == f"{arn}:1"
    assert (
        error_of(sfn.delete_state_machine_version, stateMachineVersionArn=f"{arn}:1")["Code"]
        == "ConflictException"
    )
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "dev"}])
    sfn.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "env", "value": "dev"}]
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias)
    sfn.delete_state_machine(stateMachineArn=arn)
    assert error_of(sfn.describe_state_machine, stateMachineArn=arn)["Code"] == (
        "StateMachineDoesNotExist"
    )


def test_invalid_definitions_and_roles_are_refused_as_aws_does(sfn, role, server):
    bad = definition({"A": {"Type": "Pass", "Next": "Nowhere"}})
    refused = error_of(sfn.create_state_machine, name=unique("bad"), definition=bad, roleArn=role)
    assert refused["Code"] == "InvalidDefinition"
    assert "MISSING_TRANSITION_TARGET" in refused["Message"]
    checked = sfn.validate_state_machine_definition(definition=bad)
    assert checked["result"] == "FAIL"
    assert checked["diagnostics"][0]["code"] == "MISSING_TRANSITION_TARGET"
    assert sfn.validate_state_machine_definition(definition=PASS_CHAIN)["result"] == "OK"
    assert error_of(sfn.create_state_machine, name="has space", definition=PASS_CHAIN,
                    roleArn=role)["Code"] == "InvalidName"  # fmt: skip
    # A role Step Functions may not assume (trusted by Lambda only).
    lambda_role = "arn:aws:iam::000000000000:role/lambda-role"
    denied = error_of(sfn.create_state_machine, name=unique("r"), definition=PASS_CHAIN,
                      roleArn=lambda_role)  # fmt: skip
    assert denied["Code"] == "AccessDeniedException"


def test_executions_are_idempotent_by_name_and_listed_and_their_history_is_in_order(sfn, role):
    wait = definition(
        {
            "W": {"Type": "Wait", "Seconds": 1, "Next": "P"},
            "P": {"Type": "Pass", "End": True},
        }
    )
    arn = sfn.create_state_machine(name=unique("sm"), definition=wait, roleArn=role)[
        "stateMachineArn"
    ]
    first = sfn.start_execution(stateMachineArn=arn, name="run-1", input='{"k": 1}')
    again = sfn.start_execution(stateMachineArn=arn, name="run-1", input='{"k": 1}')
    assert again["executionArn"] == first["executionArn"]
    clash = error_of(sfn.start_execution, stateMachineArn=arn, name="run-1", input='{"k": 2}')
    assert clash["Code"] == "ExecutionAlreadyExists"
    assert error_of(sfn.start_execution, stateMachineArn=arn, input="{not json")["Code"] == (
        "InvalidExecutionInput"
    )
    running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    assert [e["name"] for e in running] == ["run-1"]
    done = wait_done(sfn, first["executionArn"])
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"k": 1}
    events = sfn.get_execution_history(executionArn=first["executionArn"])["events"]
    assert [e["type"] for e in events] == [
        "ExecutionStarted", "WaitStateEntered", "WaitStateExited", "PassStateEntered",
        "PassStateExited", "ExecutionSucceeded",
    ]  # fmt: skip
    assert [e["id"] for e in events] == list(range(1, 7))
    assert [e["previousEventId"] for e in events] == list(range(0, 6))
    assert events[2]["timestamp"] - events[1]["timestamp"] >= __import__("datetime").timedelta(
        seconds=1
    )
    assert events[0]["executionStartedEventDetails"]["roleArn"] == role
    # Reverse order and pagination.
    page1 = sfn.get_execution_history(executionArn=first["executionArn"], reverseOrder=True,
                                      maxResults=4)  # fmt: skip
    assert [e["id"] for e in page1["events"]] == [6, 5, 4, 3]
    page2 = sfn.get_execution_history(executionArn=first["executionArn"], reverseOrder=True,
                                      maxResults=4, nextToken=page1["nextToken"])  # fmt: skip
    assert [e["id"] for e in page2["events"]] == [2, 1] and "nextToken" not in page2
    machine = sfn.describe_state_machine_for_execution(executionArn=first["executionArn"])
    assert machine["definition"] == wait


def test_stop_execution_aborts_it(sfn, role):
    arn = sfn.create_state_machine(
        name=unique("sm"), definition=definition({"W": {"Type": "Wait", "Seconds": 300,
                                                        "End": True}}), roleArn=role,
    )["stateMachineArn"]  # fmt: skip
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    wait_for(lambda: "WaitStateEntered" in history_types(sfn, execution))
    sfn.stop_execution(executionArn=execution, error="Manual", cause="operator")
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "ABORTED" and described["error"] == "Manual"
    assert history_types(sfn, execution)[-1] == "ExecutionAborted"


def test_lambda_task_chain_with_retry_and_catch(sfn, role, client):
    lam = client("lambda")
    name = unique("fn")
    create_function(lam, name, {"app.py": (
        "import json, os\n"
        "COUNT = {'n': 0}\n"
        "class Flaky(Exception):\n    pass\n"
        "class Broken(Exception):\n    pass\n"
        "def handler(event, context):\n"
        "    if event.get('mode') == 'flaky':\n"
        "        COUNT['n'] += 1\n"
        "        if COUNT['n'] < 3:\n            raise Flaky('try again')\n"
        "        return {'tries': COUNT['n']}\n"
        "    if event.get('mode') == 'broken':\n        raise Broken('no')\n"
        "    return {'doubled': event['value'] * 2}\n"
    )})  # fmt: skip
    fn_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    chain = definition({
        "Double": {"Type": "Task", "Resource": fn_arn, "ResultPath": "$.double",
                   "Next": "Flaky"},
        "Flaky": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": fn_arn, "Payload": {"mode": "flaky"}},
                  "ResultSelector": {"tries.$": "$.Payload.tries", "code.$": "$.StatusCode"},
                  "ResultPath": "$.flaky",
                  "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 3,
                             "BackoffRate": 1}],
                  "Next": "Broken"},
        "Broken": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                   "Parameters": {"FunctionName": fn_arn, "Payload": {"mode": "broken"}},
                   "Catch": [{"ErrorEquals": ["Broken"], "ResultPath": "$.caught",
                              "Next": "Handled"}],
                   "End": True},
        "Handled": {"Type": "Pass", "End": True},
    })  # fmt: skip
    arn = sfn.create_state_machine(name=unique("chain"), definition=chain, roleArn=role)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, input='{"value": 21}')["executionArn"]
    done = wait_done(sfn, execution, timeout=60)
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["double"] == {"doubled": 42}
    assert output["flaky"] == {"tries": 3, "code": 200}
    assert output["caught"]["Error"] == "Broken"
    assert json.loads(output["caught"]["Cause"])["errorMessage"] == "no"
    types = history_types(sfn, execution)
    assert types[:5] == ["ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled",
                         "LambdaFunctionStarted", "LambdaFunctionSucceeded"]  # fmt: skip
    assert types.count("TaskFailed") == 3  # two Flaky attempts, then Broken


def test_wait_for_task_token_approved_and_rejected(sfn, role, client):
    sqs = client("sqs")
    queue = sqs.create_queue(QueueName=unique("tokens"))["QueueUrl"]
    flow = definition({
        "Ask": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue,
                               "MessageBody": {"token.$": "$$.Task.Token", "order.$": "$.order"}},
                "HeartbeatSeconds": 60, "End": True},
    })  # fmt: skip
    arn = sfn.create_state_machine(name=unique("cb"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]

    def next_token() -> str:
        got = wait_for(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get(
            "Messages"))  # fmt: skip
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=got[0]["ReceiptHandle"])
        return json.loads(got[0]["Body"])["token"]

    approved = sfn.start_execution(stateMachineArn=arn, input='{"order": 7}')["executionArn"]
    token = next_token()
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output='{"approved": true}')
    done = wait_done(sfn, approved)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"approved": True}
    assert error_of(sfn.send_task_success, taskToken=token, output="{}")["Code"] == "TaskTimedOut"
    assert error_of(sfn.send_task_success, taskToken="nope", output="{}")["Code"] == "InvalidToken"
    unknown = "AAAA" + "A" * 64
    assert error_of(sfn.send_task_failure, taskToken=unknown)["Code"] == "TaskDoesNotExist"

    rejected = sfn.start_execution(stateMachineArn=arn, input='{"order": 8}')["executionArn"]
    sfn.send_task_failure(taskToken=next_token(), error="Rejected", cause="by a human")
    done = wait_done(sfn, rejected)
    assert done["status"] == "FAILED"
    assert (done["error"], done["cause"]) == ("Rejected", "by a human")
    types = history_types(sfn, rejected)
    assert "TaskSubmitted" in types and types[-2:] == ["TaskFailed", "ExecutionFailed"]


def test_manual_approval_activity_worker_and_lambda_calling_send_task_success(
    sfn, role, client, server
):
    """The source documents' workflow: an activity waits, a worker takes the task with
    GetActivityTask and hands the token on; a Lambda function approves with
    SendTaskSuccess (or rejects with SendTaskFailure)."""
    iam = client("iam")
    activity = sfn.create_activity(name=unique("approval"))["activityArn"]
    assert sfn.describe_activity(activityArn=activity)["name"].startswith("approval")
    approver_role = states_role(iam)  # allows states:SendTask*; trusted by states only
    iam.update_assume_role_policy(
        RoleName=approver_role.rsplit("/", 1)[1],
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
             "Action": "sts:AssumeRole"}]}),
    )  # fmt: skip
    lam = client("lambda")
    approver = unique("approver")
    create_function(lam, approver, {"app.py": (
        "import boto3, json\n"
        "def handler(event, context):\n"
        "    sfn = boto3.client('stepfunctions')\n"
        "    if event['decision'] == 'approve':\n"
        "        sfn.send_task_success(taskToken=event['token'],\n"
        "                              output=json.dumps({'approvedBy': event['who']}))\n"
        "    else:\n"
        "        sfn.send_task_failure(taskToken=event['token'], error='Rejected',\n"
        "                              cause=event['who'])\n"
        "    return 'ok'\n"
    )}, role=approver_role, Timeout=30)  # fmt: skip
    flow = definition({
        "WaitForApproval": {"Type": "Task", "Resource": activity, "TimeoutSeconds": 120,
                            "HeartbeatSeconds": 60, "Next": "Approved"},
        "Approved": {"Type": "Pass", "End": True},
    })  # fmt: skip
    arn = sfn.create_state_machine(name=unique("approval"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]
    # A worker long-polls before any task exists (the read timeout must exceed 60 s).
    worker = make_client(server.endpoint, "stepfunctions")
    worker.meta.config.read_timeout = 70
    got: dict = {}
    polling = threading.Thread(
        target=lambda: got.update(
            worker.get_activity_task(activityArn=activity, workerName="w1")
        )  # fmt: skip
    )
    polling.start()
    execution = sfn.start_execution(stateMachineArn=arn, input='{"amount": 500}')["executionArn"]
    polling.join(30)
    assert json.loads(got["input"]) == {"amount": 500}
    lam.invoke(FunctionName=approver, Payload=json.dumps(
        {"token": got["taskToken"], "decision": "approve", "who": "alice"}))  # fmt: skip
    done = wait_done(sfn, execution)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"approvedBy": "alice"}
    assert history_types(sfn, execution)[2:5] == ["ActivityScheduled", "ActivityStarted",
                                                  "ActivitySucceeded"]  # fmt: skip
    # Rejected, through the AWS CLI's worker side.
    execution = sfn.start_execution(stateMachineArn=arn, input='{"amount": 9}')["executionArn"]
    task = aws(server.endpoint, "stepfunctions", "get-activity-task", "--activity-arn", activity)
    lam.invoke(FunctionName=approver, Payload=json.dumps(
        {"token": task["taskToken"], "decision": "reject", "who": "bob"}))  # fmt: skip
    done = wait_done(sfn, execution)
    assert (done["status"], done["error"], done["cause"]) == ("FAILED", "Rejected", "bob")


def test_activity_heartbeat_timeout_fails_the_state(sfn, role):
    activity = sfn.create_activity(name=unique("slow"))["activityArn"]
    flow = definition({"Work": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 1,
                                "End": True}})  # fmt: skip
    arn = sfn.create_state_machine(name=unique("hb"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    task = sfn.get_activity_task(activityArn=activity)
    assert task["taskToken"]
    done = wait_done(sfn, execution)
    assert (done["status"], done["error"]) == ("FAILED", "States.HeartbeatTimeout")
    assert "ActivityTimedOut" in history_types(sfn, execution)
    assert (
        error_of(sfn.send_task_success, taskToken=task["taskToken"], output="{}")["Code"]
        == "TaskTimedOut"
    )


def test_express_sync_execution_on_the_main_endpoint(sfn, role, server):
    arn = sfn.create_state_machine(
        name=unique("ex"), definition=PASS_CHAIN, roleArn=role, type="EXPRESS"
    )["stateMachineArn"]
    # botocore puts "sync-" before the host; against an IP endpoint a client turns that
    # off (inject_host_prefix=False) and sandlot serves the call on its main endpoint.
    sync = make_client(server.endpoint, "stepfunctions")
    sync.meta.config.inject_host_prefix = False
    answer = sync.start_sync_execution(stateMachineArn=arn, input='{"n": 4}')
    assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == {"sum": 5}
    assert ":express:" in answer["executionArn"]
    # What botocore sends with the prefix on (Host: sync-<host>) is served too, when a
    # resolver or /etc/hosts entry brings it to sandlot.
    port = server.endpoint.rsplit(":", 1)[1]
    url = f"http://sync-127.0.0.1:{port}/"
    body = json.dumps({"stateMachineArn": arn, "input": '{"n": 0}'}).encode()
    request = AWSRequest(method="POST", url=url, data=body, headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AWSStepFunctions.StartSyncExecution"})  # fmt: skip
    SigV4Auth(Credentials("test", "test"), "states", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    raw = send(server.endpoint, "POST", url, body, headers)
    assert raw.status == 200, raw.body
    assert json.loads(raw.json()["output"]) == {"sum": 1}
    # The AWS CLI, with the prefix turned off through the environment.
    env = {**cli_env(server.endpoint), "AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}
    ran = subprocess.run(
        [sys.executable, "-m", "awscli", "stepfunctions", "start-sync-execution",
         "--state-machine-arn", arn, "--input", '{"n": 9}', "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(json.loads(ran.stdout)["output"]) == {"sum": 10}
    callback = definition({"T": {"Type": "Task", "End": True,
                                 "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken"}})  # fmt: skip
    refused = error_of(sfn.create_state_machine, name=unique("ex"), definition=callback,
                       roleArn=role, type="EXPRESS")  # fmt: skip
    assert refused["Code"] == "InvalidDefinition" and "/States/T/Resource" in refused["Message"]
    standard = sfn.create_state_machine(name=unique("st"), definition=PASS_CHAIN, roleArn=role)
    assert (
        error_of(sync.start_sync_execution, stateMachineArn=standard["stateMachineArn"])["Code"]
        == "StateMachineTypeNotSupported"
    )


def test_the_cli_drives_a_state_machine(server, role):
    name = unique("cli")
    created = aws(server.endpoint, "stepfunctions", "create-state-machine", "--name", name,
                  "--definition", PASS_CHAIN, "--role-arn", role)  # fmt: skip
    started = aws(server.endpoint, "stepfunctions", "start-execution", "--state-machine-arn",
                  created["stateMachineArn"], "--input", '{"n": 1}')  # fmt: skip
    sfn = make_client(server.endpoint, "stepfunctions")
    assert wait_done(sfn, started["executionArn"])["status"] == "SUCCEEDED"
    listed = aws(server.endpoint, "stepfunctions", "list-state-machines")
    assert name in [m["name"] for m in listed["stateMachines"]]


def test_service_integrations_dynamodb_aws_sdk_and_nested_executions(sfn, role, client):
    ddb = client("dynamodb")
    table = unique("orders")
    ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )  # fmt: skip
    topic = client("sns").create_topic(Name=unique("orders"))["TopicArn"]
    child = sfn.create_state_machine(
        name=unique("child"), roleArn=role,
        definition=definition({"Echo": {"Type": "Pass", "Parameters": {"got.$": "$.v"},
                                        "End": True}}),
    )["stateMachineArn"]  # fmt: skip
    flow = definition({
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": table,
                               "Item": {"id": {"S.$": "$.id"}, "n": {"N": "5"}}},
                "ResultPath": None, "Next": "Get"},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
                "Parameters": {"TableName": table, "Key": {"id": {"S.$": "$.id"}}},
                "ResultSelector": {"n.$": "$.Item.n.N"}, "ResultPath": "$.item",
                "Next": "Sdk"},
        "Sdk": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:describeTable",
                "Parameters": {"TableName": table},
                "ResultSelector": {"status.$": "$.Table.TableStatus"}, "ResultPath": "$.sdk",
                "Next": "Child"},
        "Child": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                  "Parameters": {"StateMachineArn": child, "Input": {"v.$": "$.id"}},
                  "ResultSelector": {"out.$": "$.Output", "status.$": "$.Status"},
                  "ResultPath": "$.child", "Next": "Notify"},
        "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                   "Parameters": {"TopicArn": topic, "Message": {"order.$": "$.id"}},
                   "ResultSelector": {"id.$": "$.MessageId"}, "ResultPath": "$.sns",
                   "Next": "Missing"},
        "Missing": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                    "Parameters": {"Bucket": unique("no-such-bucket"), "Key": "k"},
                    "Catch": [{"ErrorEquals": ["S3.NoSuchBucketException"],
                               "ResultPath": "$.missing", "Next": "Done"}],
                    "End": True},
        "Done": {"Type": "Pass", "End": True},
    })  # fmt: skip
    arn = sfn.create_state_machine(name=unique("ints"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]
    run = sfn.start_execution(stateMachineArn=arn, input='{"id": "o-1"}')["executionArn"]
    done = wait_done(sfn, run)
    assert done["status"] == "SUCCEEDED", done
    out = json.loads(done["output"])
    assert out["item"] == {"n": "5"}
    assert out["sdk"] == {"status": "ACTIVE"}
    assert out["child"] == {"out": {"got": "o-1"}, "status": "SUCCEEDED"}
    assert out["missing"]["Error"] == "S3.NoSuchBucketException"
    assert len(out["sns"]["id"]) == 36  # the MessageId SNS answered
    assert ddb.get_item(TableName=table, Key={"id": {"S": "o-1"}})["Item"]["n"] == {"N": "5"}


def test_the_state_machine_role_is_what_iam_evaluates(sfn, client):
    """A role that may not invoke the function fails the task with Lambda's
    AccessDeniedException; the caller's own rights do not matter."""
    iam = client("iam")
    weak = states_role(iam, actions=("sqs:SendMessage",))
    flow = definition({
        "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:x"},
                 "End": True},
    })  # fmt: skip
    arn = sfn.create_state_machine(name=unique("weak"), definition=flow, roleArn=weak)[
        "stateMachineArn"
    ]
    done = wait_done(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert done["status"] == "FAILED"
    assert done["error"] == "Lambda.AccessDeniedException"
    assert "lambda:InvokeFunction" in done["cause"]


def test_express_executions_log_to_cloudwatch_logs(sfn, role, client):
    logs = client("logs")
    group = unique("/aws/vendedlogs/states/flow")
    logs.create_log_group(logGroupName=group)
    group_arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    arn = sfn.create_state_machine(
        name=unique("logged"), definition=PASS_CHAIN, roleArn=role, type="EXPRESS",
        loggingConfiguration={"level": "ALL", "includeExecutionData": True,
                              "destinations": [{"cloudWatchLogsLogGroup":
                                                {"logGroupArn": group_arn}}]},
    )["stateMachineArn"]  # fmt: skip
    execution = sfn.start_execution(stateMachineArn=arn, input='{"n": 1}')["executionArn"]
    events = wait_for(lambda: logs.filter_log_events(logGroupName=group)["events"])
    records = [json.loads(e["message"]) for e in events]
    assert [r["type"] for r in records][0] == "ExecutionStarted"
    assert records[-1]["type"] == "ExecutionSucceeded"
    assert all(r["execution_arn"] == execution for r in records)
    assert json.loads(records[-1]["details"]["output"]) == {"sum": 2}
    refused = error_of(
        sfn.create_state_machine, name=unique("badlog"), definition=PASS_CHAIN, roleArn=role,
        loggingConfiguration={"level": "ALL"},
    )  # fmt: skip
    assert refused["Code"] == "InvalidLoggingConfiguration"


def test_redrive_runs_a_failed_execution_again_from_the_failed_state(sfn, role, client):
    sqs = client("sqs")
    name = unique("later")
    url = f"{sqs.meta.endpoint_url}/000000000000/{name}"
    flow = definition({
        "First": {"Type": "Pass", "Result": 1, "ResultPath": "$.first", "Next": "Send"},
        "Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                 "Parameters": {"QueueUrl": url, "MessageBody.$": "$.body"},
                 "ResultPath": None, "End": True},
    })  # fmt: skip
    arn = sfn.create_state_machine(name=unique("redrive"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]
    run = sfn.start_execution(stateMachineArn=arn, input='{"body": "hi"}')["executionArn"]
    failed = wait_done(sfn, run)
    assert failed["status"] == "FAILED" and failed["error"].startswith("SQS.")
    assert failed["redriveStatus"] == "REDRIVABLE"
    sqs.create_queue(QueueName=name)
    sfn.redrive_execution(executionArn=run)
    done = wait_done(sfn, run)
    assert done["status"] == "SUCCEEDED" and done["redriveCount"] == 1
    assert json.loads(done["output"]) == {"body": "hi", "first": 1}
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hi"
    types = history_types(sfn, run)
    assert types.count("PassStateEntered") == 1  # First is not run again
    assert types.index("ExecutionRedriven") < len(types) - 1
    assert error_of(sfn.redrive_execution, executionArn=run)["Code"] == "ExecutionNotRedrivable"
    assert [e["name"] for e in sfn.list_executions(stateMachineArn=arn,
                                                   redriveFilter="REDRIVEN")["executions"]] == [
        run.rsplit(":", 1)[1]
    ]  # fmt: skip


def test_test_state_runs_one_state(server, role):
    sfn = make_client(server.endpoint, "stepfunctions")
    sfn.meta.config.inject_host_prefix = False  # TestState has the "sync-" prefix too
    state = json.dumps({"Type": "Pass", "Parameters": {"d.$": "States.MathAdd($.x, 1)"},
                        "ResultPath": "$.r", "Next": "After"})  # fmt: skip
    answer = sfn.test_state(definition=state, input='{"x": 1}', inspectionLevel="DEBUG")
    assert answer["status"] == "SUCCEEDED" and answer["nextState"] == "After"
    assert json.loads(answer["output"]) == {"x": 1, "r": {"d": 2}}
    assert json.loads(answer["inspectionData"]["afterParameters"]) == {"d": 2}
    failing = json.dumps({"Type": "Fail", "Error": "Oops", "Cause": "because"})
    answer = sfn.test_state(definition=failing, roleArn=role)
    assert (answer["status"], answer["error"], answer["cause"]) == ("FAILED", "Oops", "because")
    assert error_of(sfn.test_state, definition='{"Type": "Nope"}')["Code"] == "InvalidDefinition"


def test_distributed_map_fans_out_over_an_s3_objects_items(sfn, role, client, bucket):
    s3 = client("s3")
    s3.put_object(Bucket=bucket, Key="items.json",
                  Body=json.dumps([{"n": i} for i in range(1, 6)]).encode())  # fmt: skip
    flow = definition({
        "Fan": {"Type": "Map",
                "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                               "ReaderConfig": {"InputType": "JSON"},
                               "Parameters": {"Bucket": bucket, "Key": "items.json"}},
                "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                                      "ExecutionType": "STANDARD"},
                                  "StartAt": "Double",
                                  "States": {"Double": {"Type": "Pass", "End": True,
                                                        "Parameters": {
                                                            "v.$": "States.MathAdd($.n, $.n)"}}}},
                "End": True},
    })  # fmt: skip
    arn = sfn.create_state_machine(name=unique("fan"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]
    done = wait_done(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == [{"v": 2}, {"v": 4}, {"v": 6}, {"v": 8}, {"v": 10}]


def test_eventbridge_put_events_task_and_a_rule_starting_an_execution(sfn, role, client):
    """A Task puts events with events:putEvents; a rule whose target is a state machine
    starts an execution (as the target's role)."""
    events, sqs = client("events"), client("sqs")
    queue = sqs.create_queue(QueueName=unique("seen"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage",
        "Principal": {"Service": "events.amazonaws.com"}, "Resource": queue_arn}]})})  # fmt: skip
    source = unique("my.app")
    target = sfn.create_state_machine(
        name=unique("target"), roleArn=role,
        definition=definition({"Emit": {
            "Type": "Task", "Resource": "arn:aws:states:::events:putEvents",
            "Parameters": {"Entries": [{"Source": source, "DetailType": "order",
                                        "Detail": {"id.$": "$.detail.id"}}]},
            "End": True}}),
    )["stateMachineArn"]  # fmt: skip
    emitted = unique("emitted")
    events.put_rule(Name=emitted, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=emitted, Targets=[{"Id": "q", "Arn": queue_arn}])
    starter = unique("starter")
    events.put_rule(Name=starter, EventPattern=json.dumps({"source": ["orders"]}))
    events.put_targets(Rule=starter, Targets=[{"Id": "sm", "Arn": target, "RoleArn": role}])

    events.put_events(Entries=[{"Source": "orders", "DetailType": "new",
                                "Detail": json.dumps({"id": "o-9"})}])  # fmt: skip
    got = wait_for(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get(
        "Messages"), timeout=30)  # fmt: skip
    event = json.loads(got[0]["Body"])
    assert (event["source"], event["detail-type"], event["detail"]) == (
        source, "order", {"id": "o-9"})  # fmt: skip
    [run] = sfn.list_executions(stateMachineArn=target)["executions"]
    assert wait_done(sfn, run["executionArn"])["status"] == "SUCCEEDED"


def test_timeout_seconds_fails_a_waiting_task_and_its_token_expires(sfn, role, client):
    sqs = client("sqs")
    queue = sqs.create_queue(QueueName=unique("slow"))["QueueUrl"]
    flow = definition({
        "Ask": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody.$": "$$.Task.Token"},
                "TimeoutSeconds": 1, "End": True},
    })  # fmt: skip
    arn = sfn.create_state_machine(name=unique("to"), definition=flow, roleArn=role)[
        "stateMachineArn"
    ]
    run = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    done = wait_done(sfn, run)
    assert (done["status"], done["error"]) == ("FAILED", "States.Timeout")
    assert "TaskTimedOut" in history_types(sfn, run)
    token = sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"]
    assert error_of(sfn.send_task_success, taskToken=token, output="{}")["Code"] == ("TaskTimedOut")


def test_creating_a_state_machine_needs_iam_pass_role(server, role, client):
    """A caller allowed states:* but not iam:PassRole on the machine's role is refused,
    as in AWS; with PassRole it may create it."""
    from tests.e2e.roles import role_client

    iam = client("iam")
    _, limited = role_client(server.endpoint, iam, "stepfunctions",
                             {"Version": "2012-10-17", "Statement": [
                                 {"Effect": "Allow", "Action": "states:*", "Resource": "*"}]})  # fmt: skip
    denied = error_of(limited.create_state_machine, name=unique("np"), definition=PASS_CHAIN,
                      roleArn=role)  # fmt: skip
    assert (denied["Code"], denied["HTTPStatusCode"]) == ("AccessDeniedException", 400)
    assert "iam:PassRole" in denied["Message"]
    _, allowed = role_client(server.endpoint, iam, "stepfunctions",
                             {"Version": "2012-10-17", "Statement": [
                                 {"Effect": "Allow", "Action": ["states:*", "iam:PassRole"],
                                  "Resource": "*"}]})  # fmt: skip
    assert allowed.create_state_machine(name=unique("p"), definition=PASS_CHAIN, roleArn=role)


def test_express_machines_refuse_what_only_standard_runs(sfn, role):
    """An Express machine takes Request Response only: a .waitForTaskToken task (here in
    a Parallel branch) is refused by CreateStateMachine, and reported by
    ValidateStateMachineDefinition when it is told the type, not otherwise."""
    waiting = {"Type": "Task", "End": True,
               "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
               "Parameters": {"QueueUrl": "q", "MessageBody.$": "$$.Task.Token"}}  # fmt: skip
    flow = definition({"Both": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Wait", "States": {"Wait": waiting}}]}})  # fmt: skip
    location = "/States/Both/Branches[0]/States/Wait/Resource"
    message = "Express state machine does not support '.waitForTaskToken' service integration"
    refused = error_of(sfn.create_state_machine, name=unique("ex"), definition=flow,
                       roleArn=role, type="EXPRESS")  # fmt: skip
    assert refused["Code"] == "InvalidDefinition"
    assert refused["Message"] == (
        f"Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: {message} at {location}'"
    )
    checked = sfn.validate_state_machine_definition(definition=flow, type="EXPRESS")
    assert checked["result"] == "FAIL"
    assert [(d["code"], d["message"], d["location"]) for d in checked["diagnostics"]] == [
        ("SCHEMA_VALIDATION_FAILED", message, location)]  # fmt: skip
    assert sfn.validate_state_machine_definition(definition=flow)["result"] == "OK"
    assert sfn.validate_state_machine_definition(definition=flow, type="STANDARD")["result"] == "OK"


def test_test_state_mocks(server, role):
    """TestState's mock stands for a Task's call (validated against the integration's API
    model as AWS does), or a Map's or Parallel's work; AWS's refusals."""
    sfn = make_client(server.endpoint, "stepfunctions")
    sfn.meta.config.inject_host_prefix = False

    def test(state: dict, **params) -> dict:
        return sfn.test_state(definition=json.dumps(state), roleArn=role, **params)

    def refused(state: dict, **params) -> tuple[str, str]:
        found = error_of(sfn.test_state, definition=json.dumps(state), roleArn=role, **params)
        return found["Code"], found["Message"]

    send = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True,
            "Parameters": {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/1/none",
                           "MessageBody": "hi"},
            "ResultSelector": {"id.$": "$.MessageId"}, "ResultPath": "$.sent"}  # fmt: skip
    mocked = {"result": json.dumps({"MessageId": "m-1", "MD5OfMessageBody": "x"})}
    answer = test(send, input='{"k": 1}', mock=mocked)  # no such queue: the mock answers
    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == {"k": 1, "sent": {"id": "m-1"}}
    # The model decides, STRICT by default; members it does not know are accepted.
    start = {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution", "End": True,
             "Parameters": {"StateMachineArn": "arn:aws:states:us-east-1:000000000000:"
                                                "stateMachine:none"}}  # fmt: skip
    assert refused(start, mock={"result": '{"StartDate": "2025-01-01T00:00:00Z"}'}) == (
        "ValidationException",
        "Mock result schema validation error: Required field 'ExecutionArn' is missing")  # fmt: skip
    lenient = {"result": '{"StartDate": "2025-01-01T00:00:00Z", "extra": 1}',
               "fieldValidationMode": "PRESENT"}  # fmt: skip
    assert test(start, mock=lenient)["status"] == "SUCCEEDED"
    put = {"Type": "Task", "Resource": "arn:aws:states:::events:putEvents", "End": True,
           "Parameters": {"Entries": [{"Source": "s", "DetailType": "t", "Detail": {}}]}}  # fmt: skip
    assert refused(put, mock={"result": '{"Entries": [{"EventId": "a"}, {"EventId": 7}]}'})[
        1] == "Mock result schema validation error: Field 'EventId' must be a string"  # fmt: skip
    assert refused(put, mock={"result": '{"FailedEntryCount": "0"}'})[1] == (
        "Mock result schema validation error: Field 'FailedEntryCount' must be a number")  # fmt: skip
    assert test(put, mock={"result": '{"FailedEntryCount": "0"}',
                           "fieldValidationMode": "NONE"})["status"] == "SUCCEEDED"  # fmt: skip

    # A mocked error meets Retry (RETRIABLE) until retrierRetryCount uses it up, then Catch.
    retried = {**send, "Retry": [{"ErrorEquals": ["SQS.Boom"], "MaxAttempts": 2}],
               "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle"}]}  # fmt: skip
    boom = {"errorOutput": {"error": "SQS.Boom", "cause": "down"}}
    answer = test(retried, mock=boom)
    assert (answer["status"], answer["error"]) == ("RETRIABLE", "SQS.Boom")
    answer = test(retried, mock=boom, stateConfiguration={"retrierRetryCount": 2})
    assert (answer["status"], answer["nextState"]) == ("CAUGHT_ERROR", "Handle")
    # An activity task, which TestState runs only mocked.
    activity = {"Type": "Task", "End": True,
                "Resource": "arn:aws:states:us-east-1:000000000000:activity:none"}  # fmt: skip
    assert json.loads(test(activity, mock={"result": '{"ok": true}'})["output"]) == {"ok": True}

    # Map and Parallel run only mocked; other states take no mock.
    parallel = {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}] * 2}  # fmt: skip
    code, message = refused(parallel)
    assert code == "InvalidDefinition" and message.startswith(
        "TestState API does not support Map or Parallel states.")  # fmt: skip
    assert json.loads(test(parallel, mock={"result": "[1, 2]"})["output"]) == [1, 2]
    assert refused(parallel, mock={"result": "[1]"})[1] == (
        "Mocked result must contain the same number of items as number of Parallel branches."
    )
    mapped = {"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}  # fmt: skip
    assert refused(mapped, mock={"result": "{}"})[1] == "Mocked result must be an array."
    assert json.loads(test(mapped, mock={"result": "[3]"})["output"]) == [3]
    assert refused({"Type": "Pass", "End": True}, mock={"result": "{}"}) == (
        "ValidationException",
        "State type 'Pass' is not supported when a mock is specified",
    )
    assert refused(send, mock={**mocked, **boom})[1] == (
        "A test mock should have only one of the following fields: [result, errorOutput]."
    )
    assert refused(send, mock=mocked, revealSecrets=True)[1] == (
        "TestState does not support RevealSecrets when a mock is specified."
    )
