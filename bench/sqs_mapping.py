"""SQS → Lambda event source mapping: how long from a SendMessage to the handler.

    python bench/sqs_mapping.py [--samples 200] [--sandbox process|linux]

Starts sandlot, creates a queue, a Python function and a mapping (BatchSize 1, no
batching window), then sends one message at a time to the idle queue; the body is
the wall-clock time just before the SendMessage is issued, and the handler reports
``time.time() - body`` (same machine, same clock) to a second queue the benchmark
reads. p50 and p99 of that latency: SendMessage round trip + the poller's long poll
waking + ReceiveMessage + Invoke of a warm environment, up to the handler's first
line. Target: p50 <= 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from common import client as bench_client
from common import code_zip, create_bench_role, percentiles, served

HANDLER = """
import time, boto3
sqs = boto3.client("sqs")
out = sqs.get_queue_url(QueueName="mapping-bench-out")["QueueUrl"]

def handler(event, context):
    now = time.time()
    lags = [now - float(r["body"]) for r in event["Records"]]
    sqs.send_message(QueueUrl=out, MessageBody=" ".join(map(repr, lags)))
"""


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

    sqs, lam, iam = client("sqs"), client("lambda"), client("iam")
    role = create_bench_role(port)
    allow = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}  # fmt: skip
    iam.put_role_policy(RoleName="bench", PolicyName="sqs", PolicyDocument=json.dumps(allow))
    source = sqs.create_queue(QueueName="mapping-bench")["QueueUrl"]
    out = sqs.create_queue(QueueName="mapping-bench-out")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    lam.create_function(
        FunctionName="mapped", Runtime="python3.11", Role=role, Handler="app.handler",
        Code={"ZipFile": code_zip({"app.py": HANDLER})}, Timeout=10,
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(
        FunctionName="mapped", WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="mapped", BatchSize=1
    )["UUID"]
    while lam.get_event_source_mapping(UUID=mapping)["State"] != "Enabled":
        time.sleep(0.05)

    lags: list[float] = []
    for i in range(samples + 5):  # the first few warm the environment up
        sqs.send_message(QueueUrl=source, MessageBody=repr(time.time()))
        got: list = []
        while not got:
            got = sqs.receive_message(QueueUrl=out, WaitTimeSeconds=20).get("Messages", [])
        sqs.delete_message(QueueUrl=out, ReceiptHandle=got[0]["ReceiptHandle"])
        if i >= 5:
            lags.extend(float(x) for x in got[0]["Body"].split())
    return {
        "sandbox": os.environ.get("SANDLOT_SANDBOX", "default"),
        "send_to_handler": {"samples": len(lags), **percentiles(lags)},
    }


if __name__ == "__main__":
    main()
