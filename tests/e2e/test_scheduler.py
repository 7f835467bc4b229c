"""EventBridge Scheduler end to end: one-time, rate and universal-target schedules call
their targets as the schedule's role on the durable timers, ActionAfterCompletion DELETE
removes a finished schedule, a failing target's call reaches the dead-letter queue, and
a one-time schedule due while the server was down fires after the restart.
``SANDLOT_SCHEDULE_SPEEDUP=60`` makes rate(1 minute) fire every second (no fixed
sleeps: waits poll with a deadline)."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import error_of, make_client
from tests.e2e.queues import receive as _receive
from tests.e2e.roles import ensure_role, trust_policy
from tests.e2e.server import SandlotServer

ENV = {"SANDLOT_SCHEDULE_SPEEDUP": "60"}
OFF = {"Mode": "OFF"}


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("scheduler"), env=ENV, lambda_role=False) as s:
        yield s


def _role(endpoint: str, name: str) -> str:
    """A role Scheduler may assume, allowed to send to any queue."""
    iam = make_client(endpoint, "iam")
    arn = ensure_role(iam, name, trust=trust_policy({"Service": "scheduler.amazonaws.com"}))
    allow = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}  # fmt: skip
    iam.put_role_policy(RoleName=name, PolicyName="send", PolicyDocument=json.dumps(allow))
    return arn


def _queue(endpoint: str, name: str) -> tuple[str, str]:
    sqs = make_client(endpoint, "sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def _at(seconds_from_now: float) -> str:
    return (
        "at("
        + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + seconds_from_now))
        + ")"
    )


def test_one_time_schedule_runs_then_deletes_itself(scheduled):
    scheduler, sqs = (
        make_client(scheduled.endpoint, "scheduler"),
        make_client(scheduled.endpoint, "sqs"),
    )
    role = _role(scheduled.endpoint, "sched-once")
    url, arn = _queue(scheduled.endpoint, "once")
    scheduler.create_schedule(
        Name="once",
        ScheduleExpression=_at(2),
        FlexibleTimeWindow=OFF,
        ActionAfterCompletion="DELETE",
        Target={"Arn": arn, "RoleArn": role,
                "Input": '{"schedule": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>"}'},
    )  # fmt: skip
    error = error_of(
        scheduler.create_schedule, Name="once", ScheduleExpression=_at(60),
        FlexibleTimeWindow=OFF, Target={"Arn": arn, "RoleArn": role},
    )  # fmt: skip
    assert error["Code"] == "ConflictException"
    [message] = _receive(sqs, url, timeout=15)
    body = json.loads(message["Body"])
    assert body["schedule"].endswith(":schedule/default/once")
    assert body["at"].endswith("Z")
    deadline = time.monotonic() + 5
    while [s["Name"] for s in scheduler.list_schedules()["Schedules"]].count("once"):
        assert time.monotonic() < deadline, "ActionAfterCompletion DELETE did not delete it"
        time.sleep(0.1)


def test_rate_schedule_in_a_group_and_its_state(scheduled):
    scheduler, sqs = (
        make_client(scheduled.endpoint, "scheduler"),
        make_client(scheduled.endpoint, "sqs"),
    )
    role = _role(scheduled.endpoint, "sched-rate")
    url, arn = _queue(scheduled.endpoint, "rate")
    scheduler.create_schedule_group(Name="team")
    created = scheduler.create_schedule(
        Name="every-minute", GroupName="team", ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow=OFF, Target={"Arn": arn, "RoleArn": role, "Input": '"tick"'},
    )  # fmt: skip
    assert created["ScheduleArn"].endswith(":schedule/team/every-minute")
    assert len(_receive(sqs, url, count=2, timeout=10)) >= 2
    got = scheduler.get_schedule(Name="every-minute", GroupName="team")
    assert got["ScheduleExpression"] == "rate(1 minute)" and got["State"] == "ENABLED"
    scheduler.update_schedule(
        Name="every-minute", GroupName="team", ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow=OFF, State="DISABLED", Target={"Arn": arn, "RoleArn": role},
    )  # fmt: skip
    _receive(sqs, url, count=10, timeout=1.5)  # what was on its way
    assert _receive(sqs, url, timeout=2.5) == []
    scheduler.delete_schedule_group(Name="team")
    error = error_of(scheduler.get_schedule, Name="every-minute", GroupName="team")
    assert error["Code"] == "ResourceNotFoundException"


def test_universal_target_and_dead_letter_queue(scheduled):
    scheduler, sqs = (
        make_client(scheduled.endpoint, "scheduler"),
        make_client(scheduled.endpoint, "sqs"),
    )
    role = _role(scheduled.endpoint, "sched-sdk")
    url, _ = _queue(scheduled.endpoint, "sdk")
    dlq_url, dlq_arn = _queue(scheduled.endpoint, "sched-dlq")
    scheduler.create_schedule(
        Name="sdk", ScheduleExpression=_at(1), FlexibleTimeWindow=OFF,
        Target={"Arn": "arn:aws:scheduler:::aws-sdk:sqs:sendMessage", "RoleArn": role,
                "Input": json.dumps({"QueueUrl": url, "MessageBody": "via the SDK"})},
    )  # fmt: skip
    [message] = _receive(sqs, url, timeout=15)
    assert message["Body"] == "via the SDK"
    missing = "arn:aws:sqs:us-east-1:000000000000:no-such-queue"
    scheduler.create_schedule(
        Name="failing", ScheduleExpression=_at(1), FlexibleTimeWindow=OFF,
        Target={"Arn": missing, "RoleArn": role, "Input": '{"lost": true}',
                "DeadLetterConfig": {"Arn": dlq_arn},
                "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}},
    )  # fmt: skip
    [dead] = _receive(sqs, dlq_url, timeout=15)
    assert json.loads(dead["Body"]) == {"lost": True}
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes["TARGET_ARN"] == missing
    assert attributes["SCHEDULE_ARN"].endswith(":schedule/default/failing")
    assert attributes["ERROR_CODE"] and attributes["EXECUTION_ID"]


def test_invalid_schedules_are_refused(scheduled):
    scheduler = make_client(scheduled.endpoint, "scheduler")
    target = {
        "Arn": "arn:aws:sqs:us-east-1:000000000000:q",
        "RoleArn": "arn:aws:iam::000000000000:role/r",
    }
    for expression in ("rate(0 minutes)", "cron(0 12 * * * *)", "at(2024-13-01T00:00:00)"):
        error = error_of(
            scheduler.create_schedule, Name="bad", ScheduleExpression=expression,
            FlexibleTimeWindow=OFF, Target=target,
        )  # fmt: skip
        assert error["Code"] == "ValidationException", expression
    error = error_of(
        scheduler.create_schedule, Name="bad", ScheduleExpression="rate(5 minutes)",
        ScheduleExpressionTimezone="Mars/Olympus", FlexibleTimeWindow=OFF, Target=target,
    )  # fmt: skip
    assert error["Code"] == "ValidationException"
    error = error_of(scheduler.delete_schedule_group, Name="default")
    assert error["Code"] == "ValidationException"


def test_a_one_time_schedule_due_while_down_fires_after_restart(tmp_path):
    server = SandlotServer(tmp_path, env=ENV, lambda_role=False).start()
    try:
        role = _role(server.endpoint, "sched-restart")
        url, arn = _queue(server.endpoint, "restart")
        make_client(server.endpoint, "scheduler").create_schedule(
            Name="while-down", ScheduleExpression=_at(3), FlexibleTimeWindow=OFF,
            Target={"Arn": arn, "RoleArn": role, "Input": '"late but sent"'},
        )  # fmt: skip
        due = time.time() + 3
    finally:
        server.kill()
    while time.time() < due + 1:  # it comes due while the server is down
        time.sleep(0.2)
    with SandlotServer(tmp_path, env=ENV, lambda_role=False) as again:
        [message] = _receive(make_client(again.endpoint, "sqs"), url, timeout=15)
        assert message["Body"] == '"late but sent"'


def test_the_aws_cli_lists_and_creates_schedules(scheduled):
    from tests.e2e.conftest import aws

    groups = aws(scheduled.endpoint, "scheduler", "list-schedule-groups")["ScheduleGroups"]
    assert "default" in [g["Name"] for g in groups]
    created = aws(
        scheduled.endpoint, "scheduler", "create-schedule", "--name", "cli-made",
        "--schedule-expression", "cron(30 9 ? * MON-FRI *)",
        "--schedule-expression-timezone", "America/New_York",
        "--flexible-time-window", "Mode=OFF",
        "--target", "Arn=arn:aws:sqs:us-east-1:000000000000:q,RoleArn=arn:aws:iam::000000000000:role/r",
    )  # fmt: skip
    assert created["ScheduleArn"].endswith(":schedule/default/cli-made")
    got = aws(scheduled.endpoint, "scheduler", "get-schedule", "--name", "cli-made")
    assert got["ScheduleExpressionTimezone"] == "America/New_York"
