"""What publishing the AWS/Lambda metrics costs warm invokes: the same hello-world
function on a server with service metrics (the default) and on one without
(``SANDLOT_SERVICE_METRICS=false``), in alternating pairs.

The setting is the server's, so each variant has a server of its own, started afresh
for every measurement; a pair is one of each, in alternating order. Each measurement:
p50 at concurrency 1, invokes/s at concurrency 16 and the server process's CPU time per
invoke at concurrency 16 (all of the metrics' work is there). The figures are the
medians over pairs of each pair's change (with against without): drift between pairs
cancels out.

    python bench/service_metrics.py [--pairs 8] [--seconds 4] [--active]

``--active``: the function of the server with metrics is also Active-traced (X-Ray's
default sampling), so the pair compares publishing metrics *and* trace segments with
publishing neither.

Target (issue 18): publishing metrics and trace segments adds <= 5 % to warm invoke p50
and throughput.
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
from xray_tracing import HANDLER, PAYLOAD, invoked_ok


def measure(metrics: bool, seconds: float, tracing: str = "PassThrough") -> dict:
    os.environ["SANDLOT_SERVICE_METRICS"] = "true" if metrics else "false"
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            bench_role_session(port, ["logs:*", "xray:PutTraceSegments"])
            lam = client(port, "lambda")
            lam.create_function(
                FunctionName="hello", Runtime="python3.11", Handler="app.handler",
                Role="arn:aws:iam::000000000000:role/bench",
                Code={"ZipFile": code_zip({"app.py": HANDLER})}, TracingConfig={"Mode": tracing},
            )  # fmt: skip
            lam.get_waiter("function_active_v2").wait(
                FunctionName="hello", WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
            )
            path = "/2015-03-31/functions/hello/invocations"
            request = signed_request(port, "lambda", path, PAYLOAD, {})
            asyncio.run(replay(port, request, 16, 1, invoked_ok))  # warm every environment
            c1 = asyncio.run(replay(port, request, 1, seconds, invoked_ok))
            cpu = cpu_seconds(process.pid)
            c16 = asyncio.run(replay(port, request, 16, seconds, invoked_ok))
            spent = cpu_seconds(process.pid) - cpu
            return {
                "c1_p50_ms": c1["p50_ms"],
                "c16_per_s": c16["per_s"],
                "server_cpu_us": spent / (c16["requests"] + c16["warmup"]) * 1e6,
                "errors": c1["errors"] + c16["errors"],
            }
        finally:
            process.terminate()
            process.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--active", action="store_true", help="trace the metrics side too")
    args = parser.parse_args()
    tracing = {True: "Active" if args.active else "PassThrough", False: "PassThrough"}
    pairs = []
    for i in range(args.pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        pair = {m: measure(m, args.seconds, tracing[m]) for m in order}
        pairs.append((pair[True], pair[False]))

    def change(key: str) -> float:
        return round(statistics.median((w[key] / wo[key] - 1) * 100 for w, wo in pairs), 1)

    def median(index: int, key: str) -> float:
        return round(statistics.median(p[index][key] for p in pairs), 3)

    print(json.dumps({
        "pairs": args.pairs,
        "with_tracing": tracing[True],
        "with_metrics": {k: median(0, k) for k in ("c1_p50_ms", "c16_per_s", "server_cpu_us")},
        "without": {k: median(1, k) for k in ("c1_p50_ms", "c16_per_s", "server_cpu_us")},
        "added_p50_pct": change("c1_p50_ms"),
        "lost_throughput_pct": -change("c16_per_s"),
        "added_server_cpu_pct": change("server_cpu_us"),
        "errors": sum(w["errors"] + wo["errors"] for w, wo in pairs),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
