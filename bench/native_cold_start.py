"""Cold and warm starts of compiled functions on provided.al2023, through the Invoke API.

Go (aws-lambda-go) and Rust (lambda_runtime) hello worlds, as built by
tests/e2e/test_native_runtimes.py into pytest's cache (run that module once first), and
a Ruby hello world on the newest ruby3.X discovery finds (skipped when none):
a cold start is the first invoke of a freshly created function (no environment exists);
warm is p50/p99 at concurrency 1 on one function.

    python bench/native_cold_start.py [--cold 30] [--seconds 5] [--builds DIR] [--gap S]

Targets (2-core machine): cold start p50 <= 15 ms (Ruby: <= 80 ms); warm p50 <= 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import tempfile
import time
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config
from common import create_bench_role, percentiles, replay, signed_request, start_server

from sandlot.execution.runtimes import ruby

BUILDS = Path(__file__).resolve().parent.parent / ".pytest_cache/d/native-builds"
BINARIES = {"go": "go-hello/bootstrap", "rust": "target/release/bootstrap"}
# An API Gateway proxy event: what the Go function takes (the Rust one takes any JSON).
PAYLOAD = json.dumps(
    {"resource": "/", "path": "/", "httpMethod": "GET", "headers": {}, "body": "hi"}
).encode()


RUBY_HANDLER = "def handler(event:, context:)\n  { 'ok' => true }\nend\n"


def package(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = (0o100755) << 16
        archive.writestr(info, content)
    return buffer.getvalue()


def newest_ruby() -> str | None:
    for minor in (4, 3, 2):
        try:
            ruby.find(minor)
        except ruby.NotFound:
            continue
        return f"ruby3.{minor}"
    return None


def create(lam, name: str, code: bytes, runtime: str, handler: str) -> None:
    lam.create_function(
        FunctionName=name, Runtime=runtime, Role="arn:aws:iam::000000000000:role/bench",
        Handler=handler, Code={"ZipFile": code},
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
    parser.add_argument("--builds", type=Path, default=BUILDS)
    parser.add_argument(
        "--gap", type=float, default=0,
        help="seconds between a function's creation and its cold start (0: back to back, "
        "so the spare sandbox the last cold start took may still be in the making)",
    )  # fmt: skip
    args = parser.parse_args()
    binaries = {language: args.builds / path for language, path in BINARIES.items()}
    missing = [str(path) for path in binaries.values() if not path.is_file()]
    if missing:
        raise SystemExit(f"not built: {missing}; run tests/e2e/test_native_runtimes.py first")
    # language → (runtime, handler, package)
    functions = {
        language: ("provided.al2023", "bootstrap", package("bootstrap", path.read_bytes()))
        for language, path in binaries.items()
    }
    runtime = newest_ruby()
    if runtime:
        functions["ruby"] = (runtime, "app.handler", package("app.rb", RUBY_HANDLER.encode()))
    results = {}
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            lam = boto3.client(
                "lambda", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                aws_access_key_id="benchkey", aws_secret_access_key="benchsecret",
                config=Config(retries={"max_attempts": 1}),
            )  # fmt: skip
            create_bench_role(port)
            for language, (runtime, handler, code) in functions.items():
                cold = []
                for i in range(args.cold):
                    create(lam, f"{language}-cold-{i}", code, runtime, handler)
                    time.sleep(args.gap)
                    began = time.perf_counter()
                    response = lam.invoke(FunctionName=f"{language}-cold-{i}", Payload=PAYLOAD)
                    payload = response["Payload"].read()
                    cold.append(time.perf_counter() - began)
                    assert "FunctionError" not in response, (language, payload)
                create(lam, f"{language}-warm", code, runtime, handler)
                path = f"/2015-03-31/functions/{language}-warm/invocations"
                request = signed_request(port, "lambda", path, PAYLOAD, {})
                results[language] = {
                    "runtime": runtime,
                    "cold_start": {"samples": len(cold), "gap_s": args.gap, **percentiles(cold)},
                    "warm_c1": asyncio.run(replay(port, request, 1, args.seconds, invoked_ok)),
                }
        finally:
            process.terminate()
            process.wait(20)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
