"""Active tracing's cost on warm invokes: the same hello-world function with
``TracingConfig`` PassThrough and Active, through the Invoke API on loopback.

Variants: PassThrough; a second, identical PassThrough function (the control: what
this bench reads between two functions that do the same, i.e. its own noise); Active
with Lambda's own sampling (X-Ray's default rule: one a second, then 5 %); Active with
every request sampled by the caller (``Sampled=1`` header: each invocation writes its
two segments). Each round measures every variant once, in a shuffled order, at
concurrency 1 (p50) and 16 (invokes/s, and the server process's CPU time per invoke:
all of tracing's work is there, and it is steadier than latency on a shared machine).

Each variant is compared with PassThrough *in the same round* and the median of those
per-round differences is reported (``added_p50_pct``, ``lost_throughput_pct``,
``added_server_cpu_pct``): drift between rounds cancels out. The control's figures are
how far apart two identical functions read; a difference smaller than those is not
resolved by the run.

    python bench/xray_tracing.py [--seconds 2] [--rounds 8] [--sandbox process|linux] [--detail]

Target (issue 18): Active tracing adds <= 5 % to warm invoke p50 and throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time

from common import (
    bench_role_session,
    client,
    code_zip,
    cpu_seconds,
    replay,
    signed_request,
    start_server,
)

from sandlot.services.xray.emit import FLUSH_S

HANDLER = "def handler(event, context):\n    return {'ok': True, 'size': len(event['data'])}\n"
PAYLOAD = json.dumps({"data": "x" * 1000}).encode()
SAMPLED = "Root=1-6b000000-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"


def invoked_ok(head: bytes, body: bytes) -> bool:
    return head.startswith(b"HTTP/1.1 200") and b"x-amz-function-error" not in head.lower()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--sandbox", choices=("process", "linux"), help="SANDLOT_SANDBOX")
    parser.add_argument("--detail", action="store_true", help="each round's figures on stderr")
    args = parser.parse_args()
    if args.sandbox:
        os.environ["SANDLOT_SANDBOX"] = args.sandbox
    variants = {
        "passthrough": ("passthrough", {}),
        "control": ("control", {}),
        "active": ("active", {}),
        # A function of its own: each function then serves as many invocations (and
        # writes as many log events) as the others.
        "active_all_sampled": ("sampled", {"X-Amzn-Trace-Id": SAMPLED}),
    }
    rounds: list[dict[str, dict]] = []
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            # The role Lambda uploads the segments with may call X-Ray.
            bench_role_session(port, ["xray:PutTraceSegments", "logs:*"])
            lam = client(port, "lambda")
            functions = (
                ("passthrough", "PassThrough"), ("control", "PassThrough"), ("active", "Active"),
                ("sampled", "Active"),
            )  # fmt: skip
            for name, mode in functions:
                lam.create_function(
                    FunctionName=name, Runtime="python3.11", Handler="app.handler",
                    Role="arn:aws:iam::000000000000:role/bench",
                    Code={"ZipFile": code_zip({"app.py": HANDLER})},
                    TracingConfig={"Mode": mode},
                )  # fmt: skip
                lam.get_waiter("function_active_v2").wait(
                    FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
                )
            order = list(variants)
            shuffle = random.Random(18)
            for _ in range(args.rounds):
                shuffle.shuffle(order)
                measured = {}
                for variant in order:
                    name, headers = variants[variant]
                    path = f"/2015-03-31/functions/{name}/invocations"
                    request = signed_request(port, "lambda", path, PAYLOAD, headers)
                    c1 = asyncio.run(replay(port, request, 1, args.seconds, invoked_ok))
                    cpu = cpu_seconds(process.pid)
                    c16 = asyncio.run(replay(port, request, 16, args.seconds, invoked_ok))
                    spent = cpu_seconds(process.pid) - cpu  # the server's own CPU
                    measured[variant] = {
                        "c1_p50_ms": c1["p50_ms"],
                        "c1_p99_ms": c1["p99_ms"],
                        "c16_per_s": c16["per_s"],
                        "server_cpu_us": spent / (c16["requests"] + c16["warmup"]) * 1e6,
                        "errors": c1["errors"] + c16["errors"],
                    }
                    time.sleep(FLUSH_S + 0.5)  # segments still waiting are written here
                rounds.append(measured)
                if args.detail:  # the order and each variant's c16 figures, as they came
                    line = [(v, measured[v]["c16_per_s"], round(measured[v]["server_cpu_us"]))
                            for v in order]  # fmt: skip
                    print(json.dumps(line), file=sys.stderr)
        finally:
            process.terminate()
            process.wait(20)
    results: dict = {
        "sandbox": os.environ.get("SANDLOT_SANDBOX", "default"),
        "rounds": args.rounds,
    }
    for variant in variants:
        mine = [r[variant] for r in rounds]
        base = [r["passthrough"] for r in rounds]
        results[variant] = summary = {
            "c1_p50_ms": round(statistics.median(m["c1_p50_ms"] for m in mine), 3),
            "c1_p99_ms": round(statistics.median(m["c1_p99_ms"] for m in mine), 3),
            "c16_per_s": round(statistics.median(m["c16_per_s"] for m in mine)),
            "c16_server_cpu_us_per_invoke": round(
                statistics.median(m["server_cpu_us"] for m in mine)
            ),
            "errors": sum(m["errors"] for m in mine),
        }
        if variant == "passthrough":
            continue
        summary["added_p50_pct"] = _paired(mine, base, "c1_p50_ms")
        summary["lost_throughput_pct"] = -_paired(mine, base, "c16_per_s")
        summary["added_server_cpu_pct"] = _paired(mine, base, "server_cpu_us")
    print(json.dumps(results, indent=2))


def _paired(mine: list[dict], base: list[dict], key: str) -> float:
    """The median over rounds of ``mine``'s change against ``base`` in the same round, %."""
    changes = [(m[key] / b[key] - 1) * 100 for m, b in zip(mine, base, strict=True)]
    return round(statistics.median(changes), 1)


if __name__ == "__main__":
    main()
