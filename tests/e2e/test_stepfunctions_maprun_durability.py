"""A Standard execution's Distributed Map under kill -9: after the restart the parent
rejoins its Map Run (no second run, no child started twice), the Standard children
that were waiting resume, the ones not yet started start, and an Express Map Run's
interrupted children run again."""

from __future__ import annotations

import json

from tests.e2e.conftest import make_client
from tests.e2e.server import SandlotServer
from tests.e2e.sfn_support import definition, history_types, states_role, wait_done, wait_for


def _flow(execution_type: str) -> str:
    return definition({"Fan": {
        "Type": "Map", "ItemsPath": "$", "MaxConcurrency": 2, "End": True,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
            "StartAt": "W",
            "States": {"W": {"Type": "Wait", "Seconds": 2, "Next": "P"},
                       "P": {"Type": "Pass", "Parameters": {"got.$": "$"}, "End": True}}}}})  # fmt: skip


def test_a_map_run_resumes_after_kill_9(tmp_path):
    server = SandlotServer(tmp_path, lambda_role=False).start()
    sfn = make_client(server.endpoint, "stepfunctions")
    role = states_role(make_client(server.endpoint, "iam"))
    runs = {}
    for kind in ("STANDARD", "EXPRESS"):
        machine = sfn.create_state_machine(
            name=f"fan-{kind.lower()}", definition=_flow(kind), roleArn=role
        )["stateMachineArn"]
        runs[kind] = sfn.start_execution(stateMachineArn=machine, input="[1, 2, 3, 4]")[
            "executionArn"
        ]
    for arn in runs.values():
        wait_for(lambda arn=arn: sfn.list_map_runs(executionArn=arn)["mapRuns"])
    standard_run = sfn.list_map_runs(executionArn=runs["STANDARD"])["mapRuns"][0]["mapRunArn"]
    wait_for(
        lambda: sfn.describe_map_run(mapRunArn=standard_run)["executionCounts"]["running"] == 2
    )
    server.kill()

    with SandlotServer(tmp_path, lambda_role=False) as restarted:
        sfn = make_client(restarted.endpoint, "stepfunctions")
        for kind, arn in runs.items():
            done = wait_done(sfn, arn, timeout=60)
            assert done["status"] == "SUCCEEDED", (kind, done)
            assert json.loads(done["output"]) == [{"got": n} for n in (1, 2, 3, 4)]
            map_runs = sfn.list_map_runs(executionArn=arn)["mapRuns"]
            assert len(map_runs) == 1, kind
            described = sfn.describe_map_run(mapRunArn=map_runs[0]["mapRunArn"])
            assert described["status"] == "SUCCEEDED"
            assert described["executionCounts"]["succeeded"] == 4
            children = sfn.list_executions(mapRunArn=map_runs[0]["mapRunArn"])["executions"]
            assert len(children) == 4 and {c["status"] for c in children} == {"SUCCEEDED"}
            types = history_types(sfn, arn)
            assert types.count("MapRunStarted") == 1 and types.count("MapStateEntered") == 1
            assert types[-3:] == ["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
        # A Standard child waiting at the kill went on where it was: one Wait entered.
        child = sfn.list_executions(mapRunArn=standard_run)["executions"][-1]
        assert history_types(sfn, child["executionArn"]).count("WaitStateEntered") == 1
