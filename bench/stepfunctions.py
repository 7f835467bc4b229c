"""Step Functions benchmark: state transitions per second and chain latency.

Starts a real server and measures, through the gateway:

- Express: a 100-state Pass chain run by StartSyncExecution (pre-signed, replayed on
  keep-alive connections): executions/s × 100 = transitions/s, and the latency of one
  whole 100-state execution (p50/p99), at concurrency 1 and 4;
- Standard: N executions of the same 100-state chain started at once, each transition
  committed durably (snapshot + history in one transaction): transitions/s until the
  last one has SUCCEEDED.

    python bench/stepfunctions.py [--seconds 5] [--standard 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time

from common import client, replay, signed_request, start_server

STATES = 100
HEADERS = {"Content-Type": "application/x-amz-json-1.0",
           "X-Amz-Target": "AWSStepFunctions.StartSyncExecution"}  # fmt: skip


def chain(n: int) -> str:
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(n - 1)}
    states[f"S{n - 1}"] = {"Type": "Pass", "End": True}
    return json.dumps({"StartAt": "S0", "States": states})


def role(port: int) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "states.amazonaws.com"}}]}  # fmt: skip
    iam = client(port, "iam")
    return iam.create_role(RoleName="sfn-bench", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]


def succeeded(head: bytes, body: bytes) -> bool:
    return head.startswith(b"HTTP/1.1 200") and b'"status":"SUCCEEDED"' in body.replace(b" ", b"")


def standard(port: int, machine: str, count: int) -> dict:
    sfn = client(port, "stepfunctions")
    began = time.perf_counter()
    arns = [sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(count)]
    while sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]:
        time.sleep(0.01)
    elapsed = time.perf_counter() - began
    failed = [a for a in arns if sfn.describe_execution(executionArn=a)["status"] != "SUCCEEDED"]
    events = len(sfn.get_execution_history(executionArn=arns[0], maxResults=1000)["events"])
    return {
        "executions": count,
        "failed": len(failed),
        "seconds": round(elapsed, 3),
        "transitions_per_s": round(count * STATES / elapsed),
        "history_events_per_execution": events,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--standard", type=int, default=20)
    args = parser.parse_args()
    results: dict = {}
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            arn = role(port)
            sfn = client(port, "stepfunctions")
            express = sfn.create_state_machine(
                name="express-chain", definition=chain(STATES), roleArn=arn, type="EXPRESS"
            )["stateMachineArn"]
            body = json.dumps({"stateMachineArn": express}).encode()
            payload = signed_request(port, "states", "/", body, HEADERS)
            for concurrency in (1, 4):
                run = asyncio.run(replay(port, payload, concurrency, args.seconds, succeeded))
                run["transitions_per_s"] = run["per_s"] * STATES
                results[f"express_100_state_chain_c{concurrency}"] = run
            machine = sfn.create_state_machine(
                name="standard-chain", definition=chain(STATES), roleArn=arn
            )["stateMachineArn"]
            results["standard_100_state_chain"] = standard(port, machine, args.standard)
        finally:
            process.terminate()
            process.wait(10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
