"""CloudFormation helpers shared by the e2e tests that deploy stacks."""

from __future__ import annotations

import time


def settled(cfn, name: str, timeout: float = 120) -> dict:
    """The stack once no operation is in progress (polled with a deadline)."""
    deadline = time.monotonic() + timeout
    stack: dict = {}
    while time.monotonic() < deadline:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        time.sleep(0.1)
    raise AssertionError(f"{name} still {stack.get('StackStatus')} after {timeout} s")
