"""EventBridge PutEvents → rule → Lambda: how long from issuing a PutEvents to the
handler's first line.

    python bench/eventbridge_put_events.py [--samples 200] [--sandbox process|linux]

Starts sandlot, creates a Python function that EventBridge may invoke for the rule (its
resource policy, as AWS requires), a rule on the default bus matching the events and the
function as its target, then sends one event at a time (PutEvents on a keep-alive connection, as
bench/sqs.py sends). The event's detail carries the
wall-clock time just before PutEvents is issued; the handler reports
``time.time() - detail.t`` (same machine, same clock) to a queue the benchmark reads.
That latency is the PutEvents round trip (matching, staging the delivery in the same
commit) + the delivery worker + Lambda's asynchronous queue + Invoke of a warm
environment, up to the handler. Also reported: the PutEvents round trip alone.
Target: p50 <= 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from common import JsonConnection, code_zip, create_bench_role, percentiles, served
from common import client as bench_client

HANDLER = """
import time, boto3
sqs = boto3.client("sqs")
out = sqs.get_queue_url(QueueName="eventbridge-bench-out")["QueueUrl"]

def handler(event, context):
    sqs.send_message(QueueUrl=out, MessageBody=repr(time.time() - event["detail"]["t"]))
"""


class EventsConnection(JsonConnection):
    service = "events"
    target = "AWSEvents"
    content_type = "application/x-amz-json-1.1"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--sandbox", choices=("process", "linux"), help="SANDLOT_SANDBOX")
    args = parser.parse_args()
    results = served(lambda port: run(port, args.samples), args.sandbox)
    print(json.dumps(results, indent=2))


def run(port: int, samples: int) -> dict:
    def client(service: str):
        return bench_client(port, service, retries=False)

    sqs, lam, iam, events = client("sqs"), client("lambda"), client("iam"), client("events")
    role = create_bench_role(port)
    allow = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}  # fmt: skip
    iam.put_role_policy(RoleName="bench", PolicyName="sqs", PolicyDocument=json.dumps(allow))
    out = sqs.create_queue(QueueName="eventbridge-bench-out")["QueueUrl"]
    lam.create_function(
        FunctionName="target", Runtime="python3.11", Role=role, Handler="app.handler",
        Code={"ZipFile": code_zip({"app.py": HANDLER})}, Timeout=10,
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(
        FunctionName="target", WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    rule_arn = events.put_rule(Name="bench", EventPattern='{"source": ["bench"]}')["RuleArn"]
    lam.add_permission(
        FunctionName="target", StatementId="events", Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com", SourceArn=rule_arn,
    )  # fmt: skip
    function_arn = lam.get_function(FunctionName="target")["Configuration"]["FunctionArn"]
    events.put_targets(Rule="bench", Targets=[{"Id": "fn", "Arn": function_arn}])

    lags, round_trips = asyncio.run(measure(port, sqs, out, samples))
    return {
        "sandbox": os.environ.get("SANDLOT_SANDBOX", "default"),
        "put_events_to_handler": {"samples": len(lags), **percentiles(lags)},
        "put_events_round_trip": percentiles(round_trips),
    }


async def measure(port: int, sqs, out: str, samples: int) -> tuple[list, list]:
    """PutEvents on a keep-alive connection (no SDK overhead in the timing); the
    handler's report read with boto3 between samples (not timed)."""
    connection = await EventsConnection("127.0.0.1", port).open()
    lags: list[float] = []
    round_trips: list[float] = []
    for i in range(samples + 5):  # the first few warm the environment up
        sent = time.time()
        detail = json.dumps({"t": sent})
        answer = await connection.call(
            "PutEvents", {"Entries": [{"Source": "bench", "DetailType": "tick", "Detail": detail}]}
        )
        round_trip = time.time() - sent
        assert answer["FailedEntryCount"] == 0, answer
        got: list = []
        while not got:
            got = await asyncio.to_thread(
                lambda: sqs.receive_message(QueueUrl=out, WaitTimeSeconds=20).get("Messages", [])
            )
        sqs.delete_message(QueueUrl=out, ReceiptHandle=got[0]["ReceiptHandle"])
        if i >= 5:
            lags.append(float(got[0]["Body"]))
            round_trips.append(round_trip)
    connection.close()
    return lags, round_trips


if __name__ == "__main__":
    main()
