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


def stack_events(cfn, name: str) -> list[tuple[str, str, str]]:
    """The stack's events, oldest first: (logical id, status, reason)."""
    found = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return [
        (e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", ""))
        for e in reversed(found)
    ]


def physical_ids(cfn, name: str) -> dict[str, str]:
    """Logical id → physical id of the stack's resources."""
    resources = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
