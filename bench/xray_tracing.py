"""Active tracing's cost on warm invokes: the same hello-world function with
``TracingConfig`` PassThrough and Active, through the Invoke API on loopback.

Three variants, each measured in alternating rounds (so drift hits all alike):
PassThrough; Active with Lambda's own sampling (X-Ray's default rule: one a second,
then 5 %); Active with every request sampled by the caller (``Sampled=1`` header: each
invocation writes its two segments). Reports p50/p99 at concurrency 1, invokes/s at
concurrency 16, the server process's CPU time per invoke (the tracing work is all
there; steadier than latency on a shared machine), and the added cost against
PassThrough.

    python bench/xray_tracing.py [--seconds 3] [--rounds 3] [--sandbox process|linux] [--control]

Target (issue 18): Active tracing adds <= 5 % to warm invoke p50 and throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile

from common import (
    bench_role_session,
    client,
    code_zip,
    cpu_seconds,
    replay,
    signed_request,
    start_server,
)

HANDLER = "def handler(event, context):\n    return {'ok': True, 'size': len(event['data'])}\n"
PAYLOAD = json.dumps({"data": "x" * 1000}).encode()
SAMPLED = "Root=1-6b000000-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"


def invoked_ok(head: bytes, body: bytes) -> bool:
    return head.startswith(b"HTTP/1.1 200") and b"x-amz-function-error" not in head.lower()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sandbox", choices=("process", "linux"), help="SANDLOT_SANDBOX")
    parser.add_argument(
        "--control",
        action="store_true",
        help="an A/A run: the 'active' function is PassThrough too, so its 'added' figures "
        "are the bench's own noise between two identical functions",
    )
    args = parser.parse_args()
    if args.sandbox:
        os.environ["SANDLOT_SANDBOX"] = args.sandbox
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            # The role Lambda uploads the segments with may call X-Ray.
            bench_role_session(port, ["xray:PutTraceSegments", "logs:*"])
            lam = client(port, "lambda")
            second = "PassThrough" if args.control else "Active"
            for name, mode in (("passthrough", "PassThrough"), ("active", second)):
                lam.create_function(
                    FunctionName=name, Runtime="python3.11", Handler="app.handler",
                    Role="arn:aws:iam::000000000000:role/bench",
                    Code={"ZipFile": code_zip({"app.py": HANDLER})},
                    TracingConfig={"Mode": mode},
                )  # fmt: skip
                lam.get_waiter("function_active_v2").wait(
                    FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
                )
            variants = {
                "passthrough": ("passthrough", {}),
                "active": ("active", {}),
                "active_all_sampled": ("active", {"X-Amzn-Trace-Id": SAMPLED}),
            }
            samples: dict[str, dict[int, list[dict]]] = {v: {1: [], 16: []} for v in variants}
            for _ in range(args.rounds):
                for variant, (name, headers) in variants.items():
                    path = f"/2015-03-31/functions/{name}/invocations"
                    request = signed_request(port, "lambda", path, PAYLOAD, headers)
                    for concurrency in (1, 16):
                        cpu = cpu_seconds(process.pid)
                        result = asyncio.run(
                            replay(port, request, concurrency, args.seconds, invoked_ok)
                        )
                        spent = cpu_seconds(process.pid) - cpu  # the server's own CPU
                        result["server_cpu_us"] = (
                            spent / (result["requests"] + result["warmup"]) * 1e6
                        )
                        samples[variant][concurrency].append(result)
        finally:
            process.terminate()
            process.wait(20)
    results: dict = {
        "sandbox": os.environ.get("SANDLOT_SANDBOX", "default"),
        "control": args.control,
    }
    for variant, by_c in samples.items():
        results[variant] = {
            "c1_p50_ms": round(statistics.median(r["p50_ms"] for r in by_c[1]), 3),
            "c1_p99_ms": round(statistics.median(r["p99_ms"] for r in by_c[1]), 3),
            "c16_per_s": round(statistics.median(r["per_s"] for r in by_c[16])),
            "errors": sum(r["errors"] for c in by_c.values() for r in c),
            "c16_server_cpu_us_per_invoke": round(
                statistics.median(r["server_cpu_us"] for r in by_c[16])
            ),
        }
    base = results["passthrough"]
    for variant in ("active", "active_all_sampled"):
        mine = results[variant]
        mine["added_p50_pct"] = round((mine["c1_p50_ms"] / base["c1_p50_ms"] - 1) * 100, 1)
        mine["lost_throughput_pct"] = round((1 - mine["c16_per_s"] / base["c16_per_s"]) * 100, 1)
        mine["added_server_cpu_pct"] = round(
            (mine["c16_server_cpu_us_per_invoke"] / base["c16_server_cpu_us_per_invoke"] - 1) * 100,
            1,
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
