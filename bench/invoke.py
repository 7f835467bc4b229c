"""Lambda Invoke benchmark: a Python hello world through the Invoke API on loopback.

Reports warm p50/p99 at concurrency 1, invokes/s at concurrency 16 (errors counted:
any non-200 or X-Amz-Function-Error), and cold starts (the first invoke of a freshly
created function, so no warm environment exists), each with a 1 KB JSON payload.

    python bench/invoke.py [--seconds 5] [--cold 30] [--sandbox process|linux]
                           [--endpoint http://127.0.0.1:PORT]

``--sandbox`` (default: SANDLOT_SANDBOX, else sandlot's own default) picks the backend
of the sandlot it starts.

With ``--endpoint`` it measures an emulator already listening there (for comparison)
instead of starting sandlot.

Targets (2-core machine): warm p50 < 2 ms at concurrency 1; >= 1,500 invokes/s at
concurrency 16 with zero errors; cold start p50 < 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import tempfile
import time
import zipfile

import boto3
from botocore.config import Config
from common import create_bench_role, percentiles, replay, signed_request, start_server

HANDLER = "def handler(event, context):\n    return {'ok': True, 'size': len(event['data'])}\n"
PAYLOAD = json.dumps({"data": "x" * 1000}).encode()  # ~1 KB


def hello_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    return buffer.getvalue()


def create(lam, name: str) -> None:
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role="arn:aws:iam::000000000000:role/bench",
        Handler="app.handler", Code={"ZipFile": hello_zip()},
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )


def invoked_ok(head: bytes, body: bytes) -> bool:
    return head.startswith(b"HTTP/1.1 200") and b"x-amz-function-error" not in head.lower()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--cold", type=int, default=30, help="cold starts to measure")
    parser.add_argument("--endpoint", help="measure this running emulator instead")
    parser.add_argument("--sandbox", choices=("process", "linux"), help="SANDLOT_SANDBOX")
    args = parser.parse_args()
    if args.sandbox:
        os.environ["SANDLOT_SANDBOX"] = args.sandbox
    with tempfile.TemporaryDirectory() as data_dir:
        if args.endpoint:
            process, port = None, int(args.endpoint.rsplit(":", 1)[1])
        else:
            process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            lam = boto3.client(
                "lambda", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                aws_access_key_id="benchkey", aws_secret_access_key="benchsecret",
                config=Config(retries={"max_attempts": 1}),
            )  # fmt: skip
            create_bench_role(port)  # Lambda assumes the role: it must exist and trust Lambda
            cold = []
            for i in range(args.cold):
                create(lam, f"cold-{i}")
                began = time.perf_counter()
                response = lam.invoke(FunctionName=f"cold-{i}", Payload=PAYLOAD)
                response["Payload"].read()
                cold.append(time.perf_counter() - began)
                assert "FunctionError" not in response, response
            create(lam, "warm")
            path = "/2015-03-31/functions/warm/invocations"
            request = signed_request(port, "lambda", path, PAYLOAD, {})
            results = {
                "sandbox": os.environ.get("SANDLOT_SANDBOX", "default"),
                "cold_start": {"samples": len(cold), **percentiles(cold)},
            }
            for concurrency in (1, 16):
                results[f"warm_c{concurrency}"] = asyncio.run(
                    replay(port, request, concurrency, args.seconds, invoked_ok)
                )
        finally:
            if process is not None:
                process.terminate()
                process.wait(20)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
