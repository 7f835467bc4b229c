"""Step Functions benchmark: state transitions per second and chain latency.

Starts a real server and measures, through the gateway:

- Express: a 100-state Pass chain run by StartSyncExecution (pre-signed, replayed on
  keep-alive connections): executions/s × 100 = transitions/s, and the latency of one
  whole 100-state execution (p50/p99), at concurrency 1 and 4;
- Standard: N executions of the same 100-state chain started at once, each transition
  committed durably (snapshot + history in one transaction): transitions/s until the
  last one has SUCCEEDED;
- an inline Map over 1,000 items calling a Python Lambda function with MaxConcurrency
  40 (Express, StartSyncExecution): the first run (environments start) and the next.

    python bench/stepfunctions.py [--seconds 5] [--standard 20]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import tempfile
import time
import zipfile

from common import client, create_bench_role, replay, signed_request, start_server

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


def map_over_lambda(port: int, role_arn: str) -> dict:
    """An inline Map of 1,000 items, MaxConcurrency 40, each item a Lambda invoke."""
    iam = client(port, "iam")
    iam.put_role_policy(RoleName="sfn-bench", PolicyName="invoke", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "lambda:InvokeFunction", "Resource": "*"}]}))  # fmt: skip
    create_bench_role(port)  # the function's role (trusted by Lambda)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event['n'] * 2\n")
    lam = client(port, "lambda")
    fn = lam.create_function(
        FunctionName="double", Runtime="python3.11", Role="arn:aws:iam::000000000000:role/bench",
        Handler="app.handler", Code={"ZipFile": buffer.getvalue()},
    )["FunctionArn"]  # fmt: skip
    lam.get_waiter("function_active_v2").wait(FunctionName="double",
                                              WaiterConfig={"Delay": 0.05})  # fmt: skip
    definition = {"StartAt": "Fan", "States": {"Fan": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 40, "End": True,
        "ItemProcessor": {"StartAt": "Double", "States": {
            "Double": {"Type": "Task", "Resource": fn, "End": True}}}}}}  # fmt: skip
    sfn = client(port, "stepfunctions")
    sfn.meta.config.inject_host_prefix = False
    machine = sfn.create_state_machine(name="map-lambda", definition=json.dumps(definition),
                                       roleArn=role_arn, type="EXPRESS")["stateMachineArn"]  # fmt: skip
    body = json.dumps({"items": [{"n": i} for i in range(1000)]})
    out = {}
    for run in ("first", "second"):
        began = time.perf_counter()
        answer = sfn.start_sync_execution(stateMachineArn=machine, input=body)
        elapsed = time.perf_counter() - began
        ok = answer["status"] == "SUCCEEDED" and json.loads(answer["output"])[999] == 1998
        out[f"{run}_seconds"] = round(elapsed, 3)
        out[f"{run}_ok"] = ok
    return out


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
            results["map_1000_items_lambda_c40"] = map_over_lambda(port, arn)
        finally:
            process.terminate()
            process.wait(10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
