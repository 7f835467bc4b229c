"""Kinesis Data Streams: PutRecords throughput, and put → Lambda latency through an
event source mapping, against sandlot and optionally a peer.

    python bench/kinesis.py --seconds 5 --samples 200 [--peer-endpoint http://127.0.0.1:5000]

- records/s through PutRecords in batches of 500 (100-byte records, random partition
  keys) at concurrency 4, on a stream of 64 shards (each shard takes 1,000 records/s,
  as in AWS, so 64 shards leave room for 64,000/s); every acknowledged record is
  committed. Target >= 20,000 records/s. Records refused by a shard's limit are
  counted, not retried.
- one PutRecord at a time on a one-shard stream mapped (TRIM_HORIZON, BatchSize 1) to
  a warm Python function; the record carries the wall-clock time just before the put
  and the handler reports ``time.time() - t`` to a queue: p50/p99 of put → handler.
  Target p50 <= 50 ms.
The peer (e.g. moto's server mode, ``moto_server -p 5000``) gets the same PutRecords
load (no Lambda part: moto runs functions only through Docker).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import tempfile
import time
import uuid

from common import JsonConnection, code_zip, create_bench_role, percentiles, start_server
from common import client as bench_client

HANDLER = """
import base64, time, boto3
sqs = boto3.client("sqs")
out = sqs.get_queue_url(QueueName="kinesis-bench-out")["QueueUrl"]

def handler(event, context):
    now = time.time()
    lags = [now - float(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
    sqs.send_message(QueueUrl=out, MessageBody=" ".join(map(repr, lags)))
"""


class Connection(JsonConnection):
    service, target, content_type = "kinesis", "Kinesis_20131202", "application/x-amz-json-1.1"


def boto(endpoint: str, service: str):
    return bench_client(endpoint, service, retries=False)


async def put_records_rate(host: str, port: int, stream: str, seconds: float, concurrency: int):
    data = base64.b64encode(b"x" * 100).decode()
    counts = {"ok": 0, "failed": 0, "calls": 0}
    latencies: list[float] = []

    async def worker(until: float, record: bool) -> None:
        conn = await Connection(host, port).open()
        while time.perf_counter() < until:
            records = [{"Data": data, "PartitionKey": uuid.uuid4().hex} for _ in range(500)]
            began = time.perf_counter()
            got = await conn.call("PutRecords", {"StreamName": stream, "Records": records})
            if record:
                latencies.append(time.perf_counter() - began)
                counts["calls"] += 1
                counts["failed"] += got["FailedRecordCount"]
                counts["ok"] += 500 - got["FailedRecordCount"]
        conn.close()

    await asyncio.gather(*(worker(time.perf_counter() + 0.5, False) for _ in range(concurrency)))
    await asyncio.sleep(1.0)  # a fresh second for every shard's write limit
    began = time.perf_counter()
    await asyncio.gather(*(worker(began + seconds, True) for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {
        "records_per_s": round(counts["ok"] / elapsed),
        "failed_per_s": round(counts["failed"] / elapsed),
        "calls": counts["calls"],
        "call": percentiles(latencies),
    }


def make_stream(endpoint: str, name: str, shards: int) -> None:
    kinesis = boto(endpoint, "kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
    )


def put_to_handler(port: int, samples: int, pause: float) -> dict:
    endpoint = f"http://127.0.0.1:{port}"
    sqs, lam, iam = boto(endpoint, "sqs"), boto(endpoint, "lambda"), boto(endpoint, "iam")
    kinesis = boto(endpoint, "kinesis")
    role = create_bench_role(port)
    allow = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sqs:*", "kinesis:*"], "Resource": "*"}]}  # fmt: skip
    iam.put_role_policy(RoleName="bench", PolicyName="kinesis", PolicyDocument=json.dumps(allow))
    out = sqs.create_queue(QueueName="kinesis-bench-out")["QueueUrl"]
    make_stream(endpoint, "mapped-stream", 1)
    arn = kinesis.describe_stream_summary(StreamName="mapped-stream")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    lam.create_function(
        FunctionName="mapped", Runtime="python3.11", Role=role, Handler="app.handler",
        Code={"ZipFile": code_zip({"app.py": HANDLER})}, Timeout=10,
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(
        FunctionName="mapped", WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="mapped", BatchSize=1, StartingPosition="TRIM_HORIZON"
    )["UUID"]
    while lam.get_event_source_mapping(UUID=mapping)["State"] != "Enabled":
        time.sleep(0.05)
    lags: list[float] = []
    for i in range(samples + 5):  # the first few warm the environment up
        kinesis.put_record(
            StreamName="mapped-stream", Data=repr(time.time()).encode(), PartitionKey="p"
        )
        got: list = []
        while not got:
            got = sqs.receive_message(QueueUrl=out, WaitTimeSeconds=20).get("Messages", [])
        sqs.delete_message(QueueUrl=out, ReceiptHandle=got[0]["ReceiptHandle"])
        if i >= 5:
            lags.extend(float(x) for x in got[0]["Body"].split())
        time.sleep(pause)
    return {"samples": len(lags), "pause_s": pause, **percentiles(lags)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--pause", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--shards", type=int, default=64)
    parser.add_argument("--peer-endpoint", help="also measure this Kinesis endpoint (moto)")
    args = parser.parse_args()
    results: dict = {}
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            make_stream(f"http://127.0.0.1:{port}", "bench", args.shards)
            results["sandlot_put_records"] = asyncio.run(
                put_records_rate("127.0.0.1", port, "bench", args.seconds, args.concurrency)
            )
            if args.samples:
                results["sandlot_put_to_handler"] = put_to_handler(port, args.samples, args.pause)
        finally:
            process.terminate()
            process.wait(20)
    if args.peer_endpoint:
        host, _, peer_port = args.peer_endpoint.removeprefix("http://").partition(":")
        name = f"bench-{uuid.uuid4().hex[:6]}"
        make_stream(args.peer_endpoint, name, args.shards)
        results["peer_put_records"] = asyncio.run(
            put_records_rate(host, int(peer_port), name, args.seconds, args.concurrency)
        )
    results["sandbox"] = os.environ.get("SANDLOT_SANDBOX", "default")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
