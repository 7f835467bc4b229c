"""Gateway benchmark: STS GetCallerIdentity over keep-alive connections.

Starts a real server, then reports time to ready, idle RSS, and requests/s with
p50/p99 latency at concurrency 1 and 16, and the server's CPU time per request
(``server_cpu_us``, the measure to compare on a busy machine). The load generator is a separate process
(asyncio on raw sockets, one pre-signed request replayed), so its cost is not counted
in the server's latencies beyond sharing the machine's cores.

    python bench/gateway.py [--server uvicorn|granian] [--seconds 5]

Targets (2-core machine): >= 3,000 req/s at concurrency 16, p50 < 1 ms at
concurrency 1, ready < 1 s, idle RSS < 80 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile

import boto3
from botocore.credentials import Credentials
from common import (
    DEV_KEY,
    cpu_seconds,
    create_bench_role,
    replay,
    rss_mb,
    signed_request,
    start_server,
)

BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def issued_session(port: int) -> Credentials:
    create_bench_role(port)
    sts = boto3.client(
        "sts", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id="benchkey", aws_secret_access_key="benchsecret",
    )  # fmt: skip
    creds = sts.assume_role(
        RoleArn="arn:aws:iam::000000000000:role/bench", RoleSessionName="bench"
    )["Credentials"]
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, wall, reported = start_server(args.server, data_dir)
        try:
            results = {"server": args.server, "ready_wall_s": round(wall, 3),
                       "ready_reported_ms": reported, "idle_rss_mb": round(rss_mb(process.pid), 1)}  # fmt: skip
            # A dev-mode key (not verifiable), then a key sandlot issued (verified each time).
            for label, credentials in (("", DEV_KEY), ("_verified", issued_session(port))):
                payload = signed_request(port, "sts", "/", BODY, FORM, credentials)
                for concurrency in (1, 16):
                    cpu = cpu_seconds(process.pid)
                    run = asyncio.run(replay(port, payload, concurrency, args.seconds))
                    # The server's CPU time per request, warm-up included: unlike
                    # latency, barely moved by other load on the machine.
                    spent = cpu_seconds(process.pid) - cpu
                    served = run["requests"] + run.pop("warmup")
                    run["server_cpu_us"] = round(spent / served * 1e6, 1)
                    results[f"c{concurrency}{label}"] = run
            results["rss_after_load_mb"] = round(rss_mb(process.pid), 1)
        finally:
            process.terminate()
            process.wait(10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
