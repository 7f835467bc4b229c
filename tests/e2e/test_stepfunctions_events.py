"""Step Functions execution status changes on the default EventBridge bus: a rule on
``aws.states`` / "Step Functions Execution Status Change" gets RUNNING and the end
(SUCCEEDED, FAILED, TIMED_OUT, ABORTED) of Standard executions, with AWS's detail
fields; Express executions emit none."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.functions import unique
from tests.e2e.sfn_support import definition, history_types, states_role, wait_done, wait_for

DETAIL_TYPE = "Step Functions Execution Status Change"


@pytest.fixture(scope="module")
def clients(server):
    return {s: make_client(server.endpoint, s) for s in ("stepfunctions", "events", "sqs", "iam")}


@pytest.fixture(scope="module")
def role(clients):
    return states_role(clients["iam"])


def _queue_for(clients, machine_arns: list[str]) -> str:
    """A rule on the default bus for these machines' status changes, to a new queue."""
    events, sqs = clients["events"], clients["sqs"]
    name = unique("rule")
    pattern = {"source": ["aws.states"], "detail-type": [DETAIL_TYPE],
               "detail": {"stateMachineArn": machine_arns}}  # fmt: skip
    rule_arn = events.put_rule(Name=name, EventPattern=json.dumps(pattern))["RuleArn"]
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]}  # fmt: skip
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    return url


def _events(sqs, url: str, count: int, timeout: float = 20) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for m in answer.get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            got.append(json.loads(m["Body"]))
    return got


def _by_status(events: list[dict], arn: str) -> dict[str, dict]:
    return {e["detail"]["status"]: e for e in events if e["detail"]["executionArn"] == arn}


def test_standard_executions_emit_running_and_their_end(clients, role):
    sfn, sqs = clients["stepfunctions"], clients["sqs"]
    ok = sfn.create_state_machine(
        name=unique("ok"), roleArn=role,
        definition=definition({"P": {"Type": "Pass", "Result": {"r": 1}, "End": True}}),
    )["stateMachineArn"]  # fmt: skip
    bad = sfn.create_state_machine(
        name=unique("bad"), roleArn=role,
        definition=definition({"F": {"Type": "Fail", "Error": "Boom", "Cause": "why"}}),
    )["stateMachineArn"]  # fmt: skip
    slow = sfn.create_state_machine(
        name=unique("slow"), roleArn=role,
        definition=definition({"W": {"Type": "Wait", "Seconds": 30, "End": True}}),
    )["stateMachineArn"]  # fmt: skip
    late = sfn.create_state_machine(
        name=unique("late"), roleArn=role, definition=definition(
            {"W": {"Type": "Wait", "Seconds": 30, "End": True}}, TimeoutSeconds=1),
    )["stateMachineArn"]  # fmt: skip
    url = _queue_for(clients, [ok, bad, slow, late])

    run_ok = sfn.start_execution(stateMachineArn=ok, name="e1", input='{"a": 1}')
    run_bad = sfn.start_execution(stateMachineArn=bad, input="{}")["executionArn"]
    run_late = sfn.start_execution(stateMachineArn=late, input="{}")["executionArn"]
    run_slow = sfn.start_execution(stateMachineArn=slow, input="{}")["executionArn"]
    done = wait_done(sfn, run_ok["executionArn"])
    wait_for(lambda: "WaitStateEntered" in history_types(sfn, run_slow))
    sfn.stop_execution(executionArn=run_slow, error="Halt", cause="by test")
    wait_done(sfn, run_late)

    events = _events(sqs, url, 8)
    assert len(events) == 8, [(e["detail"]["name"], e["detail"]["status"]) for e in events]
    first = _by_status(events, run_ok["executionArn"])
    assert set(first) == {"RUNNING", "SUCCEEDED"}
    running, succeeded = first["RUNNING"], first["SUCCEEDED"]
    assert running["source"] == "aws.states" and running["detail-type"] == DETAIL_TYPE
    assert running["resources"] == [run_ok["executionArn"]]
    assert running["account"] == "000000000000" and running["region"] == "us-east-1"
    detail = running["detail"]
    assert detail["stateMachineArn"] == ok and detail["name"] == "e1"
    assert detail["startDate"] == int(run_ok["startDate"].timestamp() * 1000)
    assert detail["stopDate"] is None and detail["output"] is None
    assert detail["input"] == '{"a": 1}' and detail["inputDetails"] == {"included": True}
    assert detail["error"] is None and detail["cause"] is None
    assert detail["redriveStatus"] == "NOT_REDRIVABLE"
    end = succeeded["detail"]
    assert json.loads(end["output"]) == {"r": 1} and end["outputDetails"] == {"included": True}
    assert end["stopDate"] == int(done["stopDate"].timestamp() * 1000)

    failed = _by_status(events, run_bad)["FAILED"]["detail"]
    assert (failed["error"], failed["cause"], failed["output"]) == ("Boom", "why", None)
    assert _by_status(events, run_late)["TIMED_OUT"]["detail"]["error"] == "States.Timeout"
    aborted = _by_status(events, run_slow)["ABORTED"]["detail"]
    assert (aborted["error"], aborted["cause"]) == ("Halt", "by test")
    assert aborted["redriveStatus"] == "REDRIVABLE"

    # A redrive runs it again: RUNNING once more, with the redrive's count and date.
    sfn.redrive_execution(executionArn=run_slow)
    again = _events(sqs, url, 1)
    assert [e["detail"]["status"] for e in again] == ["RUNNING"]
    assert again[0]["detail"]["redriveCount"] == 1 and again[0]["detail"]["redriveDate"]
    sfn.stop_execution(executionArn=run_slow)


def test_data_past_248_kib_is_left_out(clients, role):
    sfn, sqs = clients["stepfunctions"], clients["sqs"]
    machine = sfn.create_state_machine(
        name=unique("big"), roleArn=role,
        definition=definition({"P": {"Type": "Pass", "Result": "small", "End": True}}),
    )["stateMachineArn"]  # fmt: skip
    url = _queue_for(clients, [machine])
    big = json.dumps({"blob": "x" * (250 * 1024)})
    arn = sfn.start_execution(stateMachineArn=machine, input=big)["executionArn"]
    wait_done(sfn, arn)
    by_status = _by_status(_events(sqs, url, 2), arn)
    running = by_status["RUNNING"]["detail"]
    assert running["input"] is None and running["inputDetails"] == {"included": False}
    done = by_status["SUCCEEDED"]["detail"]
    assert done["output"] == '"small"' and done["outputDetails"] == {"included": True}


def test_express_executions_emit_nothing(clients, role):
    sfn, sqs = clients["stepfunctions"], clients["sqs"]
    express = sfn.create_state_machine(
        name=unique("ex"), roleArn=role, type="EXPRESS",
        definition=definition({"P": {"Type": "Pass", "End": True}}),
    )["stateMachineArn"]  # fmt: skip
    standard = sfn.create_state_machine(
        name=unique("std"), roleArn=role,
        definition=definition({"P": {"Type": "Pass", "End": True}}),
    )["stateMachineArn"]  # fmt: skip
    url = _queue_for(clients, [express, standard])
    sfn.meta.config.inject_host_prefix = False  # StartSyncExecution at an IP endpoint
    assert sfn.start_sync_execution(stateMachineArn=express, input="{}")["status"] == "SUCCEEDED"
    sfn.start_execution(stateMachineArn=express, input="{}")
    # The Standard execution started after the Express ones: once its events are in,
    # any Express event would be too.
    arn = sfn.start_execution(stateMachineArn=standard, input="{}")["executionArn"]
    wait_done(sfn, arn)
    events = _events(sqs, url, 2)
    time.sleep(0.5)  # a margin for a stray Express event behind the Standard ones
    events += _events(sqs, url, 1, timeout=1)
    assert {e["detail"]["executionArn"] for e in events} == {arn}
    assert sorted(e["detail"]["status"] for e in events) == ["RUNNING", "SUCCEEDED"]
