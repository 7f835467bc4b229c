"""Standard executions under kill -9: a Wait resumes and ends on time, a pending
activity task and a pending task token are still answerable after the restart, and the
history reads as one execution (no state entered twice)."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import make_client
from tests.e2e.server import SandlotServer
from tests.e2e.sfn_support import definition, history_types, states_role, wait_done, wait_for


def test_executions_resume_after_kill_9(tmp_path):
    server = SandlotServer(tmp_path, lambda_role=False).start()
    sfn = make_client(server.endpoint, "stepfunctions")
    sqs = make_client(server.endpoint, "sqs")
    role = states_role(make_client(server.endpoint, "iam"))
    queue = sqs.create_queue(QueueName="tokens")["QueueUrl"]
    activity = sfn.create_activity(name="approval")["activityArn"]
    waiting = sfn.create_state_machine(
        name="waits",
        roleArn=role,
        definition=definition(
            {
                "Before": {"Type": "Pass", "Result": "x", "ResultPath": "$.before", "Next": "W"},
                "W": {"Type": "Wait", "Seconds": 4, "Next": "After"},
                "After": {"Type": "Pass", "End": True},
            }
        ),  # fmt: skip
    )["stateMachineArn"]
    approval = sfn.create_state_machine(
        name="approval",
        roleArn=role,
        definition=definition(
            {
                "Ask": {"Type": "Task", "Resource": activity, "Next": "Callback"},
                "Callback": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": queue, "MessageBody.$": "$$.Task.Token"},
                    "End": True,
                },
            }
        ),  # fmt: skip
    )["stateMachineArn"]
    started = time.time()
    wait_run = sfn.start_execution(stateMachineArn=waiting, input='{"k": 1}')["executionArn"]
    approval_run = sfn.start_execution(stateMachineArn=approval, input='{"amount": 5}')[
        "executionArn"
    ]
    wait_for(lambda: "WaitStateEntered" in history_types(sfn, wait_run))
    wait_for(lambda: "ActivityScheduled" in history_types(sfn, approval_run))
    server.kill()

    with SandlotServer(tmp_path, lambda_role=False) as restarted:
        back = time.time()
        sfn = make_client(restarted.endpoint, "stepfunctions")
        sqs = make_client(restarted.endpoint, "sqs")
        # The activity's task is still queued for a worker.
        task = sfn.get_activity_task(activityArn=activity, workerName="after-restart")
        assert json.loads(task["input"]) == {"amount": 5}
        sfn.send_task_success(taskToken=task["taskToken"], output='{"approved": true}')
        # The Wait ends on time: 4 s after it began, not 4 s after the restart.
        done = wait_done(sfn, wait_run)
        assert done["status"] == "SUCCEEDED"
        assert json.loads(done["output"]) == {"k": 1, "before": "x"}
        stopped = done["stopDate"].timestamp()
        assert stopped - started >= 4
        assert stopped - back < 3.5  # not a new 4 s Wait counted from the restart
        assert history_types(sfn, wait_run) == [
            "ExecutionStarted", "PassStateEntered", "PassStateExited", "WaitStateEntered",
            "WaitStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded",
        ]  # fmt: skip
        # The callback's token went out after the restart; answering it ends the run.
        message = wait_for(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get(
            "Messages"))  # fmt: skip
        token = message[0]["Body"]
        assert restarted.stop() == 0

    # A clean stop while the token is pending: the same token still works after it.
    with SandlotServer(tmp_path, lambda_role=False) as again:
        sfn = make_client(again.endpoint, "stepfunctions")
        sfn.send_task_success(taskToken=token, output='{"done": 1}')
        done = wait_done(sfn, approval_run)
        assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"done": 1}
        types = history_types(sfn, approval_run)
        assert types.count("TaskStateEntered") == 2  # Ask and Callback, each entered once
        assert types[-1] == "ExecutionSucceeded"


APPROVER = """
import boto3, json
def handler(event, context):
    query = event.get("queryStringParameters") or {}
    sfn = boto3.client("stepfunctions")
    if query.get("action") == "approve":
        sfn.send_task_success(taskToken=query["token"], output=json.dumps({"approved": True}))
    else:
        sfn.send_task_failure(taskToken=query["token"], error="Rejected", cause="by email")
    return {"statusCode": 200, "body": "thanks"}
"""


def test_manual_approval_through_api_gateway_across_a_restart(tmp_path):
    """The source documents' manual approval: an activity task waits; a worker takes it
    (GetActivityTask) and mails out approve/reject links; the link is an HTTP API route
    to a Lambda function calling SendTaskSuccess/SendTaskFailure. The server is killed
    while the execution waits; the link still works after the restart."""
    from tests.e2e.functions import create_function
    from tests.e2e.http_clients import send

    server = SandlotServer(tmp_path).start()
    sfn = make_client(server.endpoint, "stepfunctions")
    iam = make_client(server.endpoint, "iam")
    lam = make_client(server.endpoint, "lambda")
    role = states_role(iam)
    approver_role = states_role(iam, actions=("states:SendTask*", "logs:*"))
    iam.update_assume_role_policy(
        RoleName=approver_role.rsplit("/", 1)[1],
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
             "Action": "sts:AssumeRole"}]}),
    )  # fmt: skip
    create_function(lam, "approver", {"app.py": APPROVER}, role=approver_role, Timeout=30)
    fn_arn = lam.get_function(FunctionName="approver")["Configuration"]["FunctionArn"]
    api_id = make_client(server.endpoint, "apigatewayv2").create_api(
        Name="approvals", ProtocolType="HTTP", Target=fn_arn
    )["ApiId"]
    lam.add_permission(
        FunctionName="approver", StatementId="api", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/*",
    )  # fmt: skip
    activity = sfn.create_activity(name="ManualStep")["activityArn"]
    machine = sfn.create_state_machine(
        name="approval-flow",
        roleArn=role,
        definition=definition(
            {
                "ManualApproval": {
                    "Type": "Task",
                    "Resource": activity,
                    "TimeoutSeconds": 3600,
                    "Next": "Done",
                },
                "Done": {"Type": "Pass", "End": True},
            }
        ),  # fmt: skip
    )["stateMachineArn"]
    approved = sfn.start_execution(
        stateMachineArn=machine, name="approved", input='{"action": "approve"}'
    )["executionArn"]
    rejected = sfn.start_execution(
        stateMachineArn=machine, name="rejected", input='{"action": "reject"}'
    )["executionArn"]
    links = {}  # what the worker mails out: action -> token
    for _ in range(2):
        task = sfn.get_activity_task(activityArn=activity, workerName="mailer")
        links[json.loads(task["input"])["action"]] = task["taskToken"]
    server.kill()

    with SandlotServer(tmp_path) as restarted:
        sfn = make_client(restarted.endpoint, "stepfunctions")
        base = f"{restarted.endpoint}/_aws/execute-api/{api_id}/"
        for action, token in links.items():
            answer = send(restarted.endpoint, "GET", f"{base}?action={action}&token={token}")
            assert (answer.status, answer.body) == (200, b"thanks")
        done = wait_done(sfn, approved)
        assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"approved": True}
        done = wait_done(sfn, rejected)
        assert (done["status"], done["error"], done["cause"]) == ("FAILED", "Rejected", "by email")
