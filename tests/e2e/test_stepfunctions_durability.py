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
        assert done["stopDate"].timestamp() - started < 4 + 6  # began ≤ 1 s in; restart ≤ ~5 s
        assert history_types(sfn, wait_run) == [
            "ExecutionStarted", "PassStateEntered", "PassStateExited", "WaitStateEntered",
            "WaitStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded",
        ]  # fmt: skip
        # The callback's token went out after the restart; answering it ends the run.
        message = wait_for(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get(
            "Messages"))  # fmt: skip
        token = message[0]["Body"]
        restarted.kill()

    # A second crash while the token is pending: the same token still works.
    with SandlotServer(tmp_path, lambda_role=False) as again:
        sfn = make_client(again.endpoint, "stepfunctions")
        sfn.send_task_success(taskToken=token, output='{"done": 1}')
        done = wait_done(sfn, approval_run)
        assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"done": 1}
        types = history_types(sfn, approval_run)
        assert types.count("TaskStateEntered") == 2  # Ask and Callback, each entered once
        assert types[-1] == "ExecutionSucceeded"
