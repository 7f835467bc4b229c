"""Helpers for e2e tests of event source mappings: a poller role and waiting for a
mapping's state."""

from __future__ import annotations

import json
import time

from tests.e2e.functions import unique
from tests.e2e.roles import ensure_role


def poller_role(iam, *, sqs_allowed: bool = True) -> str:
    """A Lambda execution role; with ``sqs_allowed``, one that may use every queue."""
    name = unique("mapping-role")
    arn = ensure_role(
        iam, name, managed=("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",)
    )
    if sqs_allowed:
        policy = {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}
    else:  # it may send the reports, nothing else
        policy = {
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
            "Resource": "*",
        }
    iam.put_role_policy(
        RoleName=name,
        PolicyName="sqs",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [policy]}),
    )
    return arn


def wait_state(lam, mapping_id: str, state: str, timeout: float = 10) -> dict:
    """The mapping once its State is ``state``; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = lam.get_event_source_mapping(UUID=mapping_id)
        if got["State"] == state:
            return got
        time.sleep(0.05)
    raise AssertionError(f"mapping {mapping_id} never became {state}: {got['State']}")
