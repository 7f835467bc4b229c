"""A stack operation survives kill -9: after a restart a create that was in progress
rolls back (nothing it made is left) and the stack is never stuck IN_PROGRESS."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import make_client
from tests.e2e.server import SandlotServer
from tests.e2e.stacks import settled

CHAIN = 60  # resources created one after another (each DependsOn the previous)


def _template(value: str = "v1", extra: int = 0) -> str:
    resources = {}
    for i in range(CHAIN + extra):
        resource = {"Type": "AWS::SSM::Parameter",
                    "Properties": {"Name": f"/durable/p{i}", "Type": "String", "Value": value}}  # fmt: skip
        if i:
            resource["DependsOn"] = f"P{i - 1}"
        resources[f"P{i}"] = resource
    resources["Queue"] = {"Type": "AWS::SQS::Queue", "DependsOn": f"P{CHAIN - 1}"}
    return json.dumps({"Resources": resources})


def test_kill_9_mid_create_rolls_back_after_restart(tmp_path) -> None:
    server = SandlotServer(tmp_path, lambda_role=False).start()
    cfn = make_client(server.endpoint, "cloudformation")
    cfn.create_stack(StackName="durable", TemplateBody=_template())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # some resources made, the create still running
        done = [e for e in cfn.describe_stack_events(StackName="durable")["StackEvents"]
                if e["ResourceStatus"] == "CREATE_COMPLETE"]  # fmt: skip
        if done:
            break
        time.sleep(0.005)
    server.kill()

    with SandlotServer(tmp_path, lambda_role=False) as restarted:
        cfn = make_client(restarted.endpoint, "cloudformation")
        stack = settled(cfn, "durable")
        assert stack["StackStatus"] == "ROLLBACK_COMPLETE", stack
        events = cfn.describe_stack_events(StackName="durable")["StackEvents"]
        reasons = {e["ResourceStatus"]: e.get("ResourceStatusReason") for e in events
                   if e["LogicalResourceId"] == "durable"}  # fmt: skip
        assert reasons["ROLLBACK_IN_PROGRESS"] == (
            "The stack operation was interrupted by a restart of sandlot. Rollback requested by user."
        )
        made = {e["LogicalResourceId"] for e in events if e["ResourceStatus"] == "CREATE_COMPLETE"}
        assert 1 <= len(made - {"durable"}) < CHAIN + 1  # it was killed mid-create
        ssm = make_client(restarted.endpoint, "ssm")
        assert ssm.get_parameters_by_path(Path="/durable")["Parameters"] == []
        assert cfn.list_stack_resources(StackName="durable")["StackResourceSummaries"] == []
        cfn.delete_stack(StackName="durable")
        assert settled(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def test_kill_9_mid_update_rolls_back_to_the_previous_template(tmp_path) -> None:
    server = SandlotServer(tmp_path, lambda_role=False).start()
    cfn = make_client(server.endpoint, "cloudformation")
    cfn.create_stack(StackName="durable-update", TemplateBody=_template("v1"))
    assert settled(cfn, "durable-update")["StackStatus"] == "CREATE_COMPLETE"
    # Killed right after the update is acknowledged: its IN_PROGRESS state is stored
    # before the answer, and the 65 chained steps are still running (in place updates are
    # fast enough that waiting for events would often see the update finish first).
    cfn.update_stack(StackName="durable-update", TemplateBody=_template("v2", extra=5))
    server.kill()

    with SandlotServer(tmp_path, lambda_role=False) as restarted:
        cfn = make_client(restarted.endpoint, "cloudformation")
        stack = settled(cfn, "durable-update")
        assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", stack
        ssm = make_client(restarted.endpoint, "ssm")
        found = ssm.get_paginator("get_parameters_by_path").paginate(Path="/durable")
        values = {p["Name"]: p["Value"] for page in found for p in page["Parameters"]}
        assert values == {f"/durable/p{i}": "v1" for i in range(CHAIN)}  # old values, no new ones
        resources = cfn.list_stack_resources(StackName="durable-update")["StackResourceSummaries"]
        assert {r["ResourceStatus"] for r in resources} <= {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
        assert len(resources) == CHAIN + 1
