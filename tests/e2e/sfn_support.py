"""Helpers for the Step Functions end-to-end tests: a role Step Functions may assume,
definitions, and waiting for an execution to end."""

from __future__ import annotations

import json
import time

from tests.e2e.functions import unique
from tests.e2e.roles import ensure_role, trust_policy


def states_role(iam, actions: tuple[str, ...] = ("*",), name: str | None = None) -> str:
    """A role trusted by states.amazonaws.com allowing ``actions`` on every resource."""
    name = name or unique("sfn-role")
    arn = ensure_role(iam, name, trust=trust_policy({"Service": "states.amazonaws.com"}))
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}  # fmt: skip
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def definition(states: dict, start: str | None = None, **top) -> str:
    return json.dumps({"StartAt": start or next(iter(states)), "States": states, **top})


def wait_done(sfn, arn: str, timeout: float = 30) -> dict:
    """DescribeExecution once the execution is no longer RUNNING."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError(f"{arn} still RUNNING after {timeout} s")


def wait_for(predicate, timeout: float = 20, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def history_types(sfn, arn: str) -> list[str]:
    return [
        e["type"] for e in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    ]
