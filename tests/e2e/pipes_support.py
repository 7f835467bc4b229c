"""Helpers for the EventBridge Pipes e2e tests: the pipe's role, waiting for a state."""

from __future__ import annotations

import json

from tests.e2e.functions import unique
from tests.e2e.roles import ensure_role, trust_policy
from tests.e2e.sfn_support import wait_for


def pipe_role(iam, actions=("sqs:*", "lambda:*", "states:*", "events:*", "kinesis:*",
                            "dynamodb:*")) -> str:  # fmt: skip
    name = unique("pipe-role")
    arn = ensure_role(iam, name, trust=trust_policy({"Service": "pipes.amazonaws.com"}))
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}  # fmt: skip
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def wait_state(pipes, name: str, state: str, timeout: float = 10) -> dict:
    return wait_for(
        lambda: (got := pipes.describe_pipe(Name=name))["CurrentState"] == state and got, timeout
    )
