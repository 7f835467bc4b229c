"""DynamoDB stream → Lambda event source mapping: how long from a PutItem to the handler.

    python bench/dynamodb_stream_mapping.py [--samples 200] [--pause 0.1] [--sandbox ...]

Starts sandlot, creates a table with a stream, a Python function and a mapping
(TRIM_HORIZON, BatchSize 1, no batching window), then writes one item at a time; the
item carries the wall-clock time just before the PutItem is issued, and the handler
reports ``time.time() - t`` (same machine, same clock) to a queue the benchmark reads.
p50 and p99 of that latency: PutItem round trip (a durable commit with its stream
record) + the poller's wake-up + GetRecords + Invoke of a warm environment, up to the
handler's first line. Target: p50 <= 50 ms.

A shard runs one batch at a time, and the handler's report reaches the benchmark
before its invocation has returned; ``--pause`` waits that long after each report so
the next write finds the shard idle (``--pause 0``: back to back, each write also
waits for the end of the previous invocation).
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
out = sqs.get_queue_url(QueueName="stream-bench-out")["QueueUrl"]

def handler(event, context):
    now = time.time()
    lags = [now - float(r["dynamodb"]["NewImage"]["t"]["N"]) for r in event["Records"]]
    sqs.send_message(QueueUrl=out, MessageBody=" ".join(map(repr, lags)))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--pause", type=float, default=0.1)
    parser.add_argument("--sandbox", choices=("process", "linux"), help="SANDLOT_SANDBOX")
    args = parser.parse_args()
    results = served(lambda port: run(port, args.samples, args.pause), args.sandbox)
    print(json.dumps(results, indent=2))


def run(port: int, samples: int, pause: float) -> dict:
    def client(service: str):
        return bench_client(port, service, retries=False)

    sqs, lam, iam, ddb = client("sqs"), client("lambda"), client("iam"), client("dynamodb")
    role = create_bench_role(port)
    allow = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sqs:*", "dynamodb:*"], "Resource": "*"}]}  # fmt: skip
    iam.put_role_policy(RoleName="bench", PolicyName="streams", PolicyDocument=json.dumps(allow))
    out = sqs.create_queue(QueueName="stream-bench-out")["QueueUrl"]
    stream = ddb.create_table(
        TableName="stream-bench",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    lam.create_function(
        FunctionName="mapped", Runtime="python3.11", Role=role, Handler="app.handler",
        Code={"ZipFile": code_zip({"app.py": HANDLER})}, Timeout=10,
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(
        FunctionName="mapped", WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    mapping = lam.create_event_source_mapping(
        EventSourceArn=stream, FunctionName="mapped", BatchSize=1, StartingPosition="TRIM_HORIZON"
    )["UUID"]
    while lam.get_event_source_mapping(UUID=mapping)["State"] != "Enabled":
        time.sleep(0.05)

    lags: list[float] = []
    for i in range(samples + 5):  # the first few warm the environment up
        item = {"pk": {"S": f"k{i}"}, "t": {"N": repr(time.time())}}
        ddb.put_item(TableName="stream-bench", Item=item)
        got: list = []
        while not got:
            got = sqs.receive_message(QueueUrl=out, WaitTimeSeconds=20).get("Messages", [])
        sqs.delete_message(QueueUrl=out, ReceiptHandle=got[0]["ReceiptHandle"])
        if i >= 5:
            lags.extend(float(x) for x in got[0]["Body"].split())
        time.sleep(pause)
    return {
        "sandbox": os.environ.get("SANDLOT_SANDBOX", "default"),
        "pause_s": pause,
        "put_to_handler": {"samples": len(lags), **percentiles(lags)},
    }


if __name__ == "__main__":
    main()
