"""What publishing the AWS/Lambda metrics costs warm invokes: the same hello-world
function on a server with service metrics (the default) and on one without
(``SANDLOT_SERVICE_METRICS=false``), measured in alternating rounds.

The setting is the server's, so each variant has a server of its own. Both run at once
and take turns, round after round (the order alternating): this machine's speed drifts
by ±10 % within seconds, and short alternating rounds on both servers cancel that drift
far better than a fresh pair of servers per sample. The rounds are split over
``--sessions`` pairs of fresh servers, started in alternating order: two processes of
the same build differ by a few percent (where each lands in memory, its hash seed), so
one pair alone can read a difference that is the pair's, not the variant's. Both
servers of a session share a hash seed (``PYTHONHASHSEED``, one per session); give each
session an even number of rounds, so each server goes first in as many as it goes
second.
Each round: p50 at concurrency 1, invokes/s at concurrency 16 and the server process's
CPU time per invoke at concurrency 16 (all of the metrics' work is there). The figures
are the medians over rounds of each round's change (with against without), and the
CPU per invoke over all rounds.

    python bench/service_metrics.py [--rounds 48] [--sessions 8] [--seconds 2] [--active]

``--active``: the function of the server with metrics is also Active-traced (X-Ray's
default sampling), so the rounds compare publishing metrics *and* trace segments with
publishing neither. ``--control``: both servers without either (an A/A run): how far
apart the bench reads two servers of the same build.

Target (issue 18): publishing metrics and trace segments adds <= 5 % to warm invoke p50
and throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


class Server:
    """A fresh server (its own data directory) with the hello function, warm."""

    def __init__(self, metrics: bool, tracing: str) -> None:
        self.metrics, self.tracing = metrics, tracing
        self.rounds: list[dict] = []

    def __enter__(self) -> Server:
        os.environ["SANDLOT_SERVICE_METRICS"] = "true" if self.metrics else "false"
        self._dir = tempfile.TemporaryDirectory()
        self.process, self.port, _, _ = start_server("uvicorn", self._dir.name)
        bench_role_session(self.port, ["logs:*", "xray:PutTraceSegments"])
        lam = client(self.port, "lambda")
        lam.create_function(
            FunctionName="hello", Runtime="python3.11", Handler="app.handler",
            Role="arn:aws:iam::000000000000:role/bench",
            Code={"ZipFile": code_zip({"app.py": HANDLER})}, TracingConfig={"Mode": self.tracing},
        )  # fmt: skip
        lam.get_waiter("function_active_v2").wait(
            FunctionName="hello", WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
        )
        path = "/2015-03-31/functions/hello/invocations"
        self.request = signed_request(self.port, "lambda", path, PAYLOAD, {})
        asyncio.run(replay(self.port, self.request, 16, 1, invoked_ok))  # every environment
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(20)
        self._dir.cleanup()

    def round(self, seconds: float) -> None:
        c1 = asyncio.run(replay(self.port, self.request, 1, seconds, invoked_ok))
        cpu = cpu_seconds(self.process.pid)
        c16 = asyncio.run(replay(self.port, self.request, 16, seconds, invoked_ok))
        self.rounds.append({
            "c1_p50_ms": c1["p50_ms"],
            "c16_per_s": c16["per_s"],
            "cpu_s": cpu_seconds(self.process.pid) - cpu,
            "invokes": c16["requests"] + c16["warmup"],
            "errors": c1["errors"] + c16["errors"],
        })  # fmt: skip

    def cpu_us(self) -> float:
        """Server CPU per invoke at concurrency 16, over every round."""
        return sum(r["cpu_s"] for r in self.rounds) / sum(r["invokes"] for r in self.rounds) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=48)
    parser.add_argument("--sessions", type=int, default=8, help="pairs of fresh servers")
    parser.add_argument("--seconds", type=float, default=2)
    parser.add_argument("--active", action="store_true", help="trace the metrics side too")
    parser.add_argument("--control", action="store_true", help="two identical servers")
    args = parser.parse_args()
    tracing = "Active" if args.active and not args.control else "PassThrough"
    on, off = Server(not args.control, tracing), Server(False, "PassThrough")
    # Sessions of fresh servers, started in alternating order: the server started first
    # is not always the same variant.
    for session in range(args.sessions):
        os.environ["PYTHONHASHSEED"] = str(session + 1)
        with contextlib.ExitStack() as servers:
            for server in (on, off) if session % 2 == 0 else (off, on):
                servers.enter_context(server)
            for i in range(max(1, args.rounds // args.sessions)):
                for server in (on, off) if i % 2 == 0 else (off, on):
                    server.round(args.seconds)
    pairs = list(zip(on.rounds, off.rounds, strict=True))

    def change(key: str) -> float:
        return round(statistics.median((w[key] / wo[key] - 1) * 100 for w, wo in pairs), 1)

    def median(server: Server, key: str) -> float:
        return round(statistics.median(r[key] for r in server.rounds), 3)

    def summary(server: Server) -> dict:
        return {"c1_p50_ms": median(server, "c1_p50_ms"),
                "c16_per_s": median(server, "c16_per_s"),
                "server_cpu_us": round(server.cpu_us(), 1)}  # fmt: skip

    print(json.dumps({
        "rounds": len(pairs),
        "sessions": args.sessions,
        "with_tracing": tracing,
        "control": args.control,
        "with_metrics": summary(on),
        "without": summary(off),
        "added_p50_pct": change("c1_p50_ms"),
        "lost_throughput_pct": -change("c16_per_s"),
        "added_server_cpu_pct": round((on.cpu_us() / off.cpu_us() - 1) * 100, 1),
        "errors": sum(r["errors"] for r in on.rounds + off.rounds),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
