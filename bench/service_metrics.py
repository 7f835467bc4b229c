"""What publishing the AWS/Lambda metrics (and, with ``--active``, Lambda's trace
segments) costs warm invokes: one server, its service metrics switched on and off
between rounds, the same hello-world function invoked with them and without.

One server for both variants, not a server each: two processes of one build differ by a
few percent in speed (where each lands in memory, its hash seed), as much as the cost
measured, and pairs of servers read anything from a gain to a loss of 6 % for the same
build (docs/performance.md). The server runs through ``bench/metrics_switch.py``, which
switches ``Metrics.enabled`` (what ``SANDLOT_SERVICE_METRICS`` sets at start) on a
signal. The variants take turns, round after round (the order alternating): this
machine's speed drifts by ±10 % within seconds, and short alternating rounds cancel it.

Each round of a variant: the switch, p50 at concurrency 1, then invokes/s at
concurrency 16 and the server process's CPU time per invoke at concurrency 16 counted
until ``DRAIN_S`` after it (so the metrics' once-a-second flush and the segments'
upload are counted in the variant that caused them, not in the next round). The figures
are the medians over rounds of each round's change (with against without) and the CPU
per invoke over all rounds.

``--active``: the invocations with metrics go to an Active-traced function (X-Ray's
default sampling), those without to a PassThrough one: publishing metrics *and* trace
segments against neither. Two functions then, so the rounds are split over
``--sessions``, and each session swaps which of the two is traced
(UpdateFunctionConfiguration): a difference between the functions' environments cancels.
``--control``: the same shape with the metrics off and both functions PassThrough (an
A/A run): how far apart the bench reads two variants that do the same.

    python bench/service_metrics.py [--rounds 48] [--sessions 4] [--seconds 2] [--active]

Target (issue 18): publishing metrics and trace segments adds <= 5 % to warm invoke p50
and throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

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

from sandlot.services.xray.emit import FLUSH_S

DRAIN_S = FLUSH_S + 0.3  # the metrics flush once a second; the segments upload after FLUSH_S
SWITCH = Path(__file__).with_name("metrics_switch.py")
FUNCTIONS = ("first", "second")


class Bench:
    """The server, its two functions and the signed invoke request of each."""

    def __init__(self, data_dir: str) -> None:
        self.state = os.path.join(data_dir, "metrics-state")
        os.environ["SANDLOT_BENCH_METRICS_STATE"] = self.state
        os.environ["SANDLOT_SERVICE_METRICS"] = "true"
        self.process, self.port, _, _ = start_server(
            "uvicorn", os.path.join(data_dir, "sandlot"), entry=(str(SWITCH),)
        )
        bench_role_session(self.port, ["logs:*", "xray:PutTraceSegments"])
        self.lam = client(self.port, "lambda")
        self.requests = {}
        for name in FUNCTIONS:
            self.lam.create_function(
                FunctionName=name, Runtime="python3.11", Handler="app.handler",
                Role="arn:aws:iam::000000000000:role/bench",
                Code={"ZipFile": code_zip({"app.py": HANDLER})},
            )  # fmt: skip
            path = f"/2015-03-31/functions/{name}/invocations"
            self.requests[name] = signed_request(self.port, "lambda", path, PAYLOAD, {})

    def trace(self, traced: str | None) -> None:
        """Make ``traced`` (if any) the Active-traced function, the other PassThrough, and
        warm every environment of both."""
        for name in FUNCTIONS:
            mode = "Active" if name == traced else "PassThrough"
            config = self.lam.get_function_configuration(FunctionName=name)
            if config["TracingConfig"]["Mode"] != mode:
                self.lam.update_function_configuration(
                    FunctionName=name, TracingConfig={"Mode": mode}
                )
            self.lam.get_waiter("function_updated_v2").wait(
                FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
            )
        self.switch_metrics(False)  # the warm-up is in neither variant
        for name in FUNCTIONS:
            asyncio.run(replay(self.port, self.requests[name], 16, 1, invoked_ok))

    def switch_metrics(self, on: bool) -> None:
        """Switch the server's metrics and wait until it has."""
        want = "on" if on else "off"
        os.kill(self.process.pid, signal.SIGUSR1 if on else signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.state) or Path(self.state).read_text() != want:
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not switch its metrics {want}")
            # A request wakes the server's loop, where Python runs the signal's handler.
            health = f"http://127.0.0.1:{self.port}/_sandlot/health"
            urllib.request.urlopen(health, timeout=5).read()
            time.sleep(0.01)

    def round(self, metrics: bool, function: str, seconds: float) -> dict:
        self.switch_metrics(metrics)
        request = self.requests[function]
        c1 = asyncio.run(replay(self.port, request, 1, seconds, invoked_ok))
        cpu = cpu_seconds(self.process.pid)
        c16 = asyncio.run(replay(self.port, request, 16, seconds, invoked_ok))
        time.sleep(DRAIN_S)  # what the round left to flush and upload is the round's
        return {
            "c1_p50_ms": c1["p50_ms"],
            "all_invokes": c1["requests"] + c1["warmup"] + c16["requests"] + c16["warmup"],
            "c16_per_s": c16["per_s"],
            "cpu_s": cpu_seconds(self.process.pid) - cpu,
            "invokes": c16["requests"] + c16["warmup"],
            "errors": c1["errors"] + c16["errors"],
        }

    def published(self, since: float) -> tuple[int, int]:
        """The Invocations both functions published since ``since`` and the traces
        recorded: what the "with" rounds added (the check that the switch switched)."""
        time.sleep(DRAIN_S)
        window = {"StartTime": since - 60, "EndTime": time.time() + 60}
        cloudwatch, xray = client(self.port, "cloudwatch"), client(self.port, "xray")
        invocations = 0
        for name in FUNCTIONS:
            answer = cloudwatch.get_metric_statistics(
                Namespace="AWS/Lambda", MetricName="Invocations", Period=60,
                Dimensions=[{"Name": "FunctionName", "Value": name}], Statistics=["Sum"],
                **window,
            )  # fmt: skip
            invocations += sum(int(point["Sum"]) for point in answer["Datapoints"])
        traces = xray.get_paginator("get_trace_summaries").paginate(**window)
        return invocations, sum(len(page["TraceSummaries"]) for page in traces)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def cpu_us(rounds: list[dict]) -> float:
    """Server CPU per invoke at concurrency 16, over ``rounds``."""
    return sum(r["cpu_s"] for r in rounds) / sum(r["invokes"] for r in rounds) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=48)
    parser.add_argument("--sessions", type=int, default=4, help="swaps of the two functions")
    parser.add_argument("--seconds", type=float, default=2)
    parser.add_argument("--active", action="store_true", help="trace the metrics side too")
    parser.add_argument("--control", action="store_true", help="both sides the same")
    args = parser.parse_args()
    two_functions = args.active or args.control
    sessions = args.sessions if two_functions else 1
    with_, without = [], []
    per_session = []
    with tempfile.TemporaryDirectory() as data_dir:
        bench = Bench(data_dir)
        began = time.time()
        try:
            for session in range(sessions):
                # With two functions, each takes the "with" side in half the sessions.
                side_with, side_without = FUNCTIONS if session % 2 == 0 else FUNCTIONS[::-1]
                if not two_functions:
                    side_with = side_without = FUNCTIONS[0]
                bench.trace(side_with if args.active else None)
                ours, theirs = [], []
                for i in range(max(1, args.rounds // sessions)):
                    variants = [(not args.control, side_with, ours), (False, side_without, theirs)]
                    for metrics, function, into in variants if i % 2 == 0 else variants[::-1]:
                        into.append(bench.round(metrics, function, args.seconds))
                per_session.append(round((cpu_us(ours) / cpu_us(theirs) - 1) * 100, 1))
                with_ += ours
                without += theirs
            invocations, traces = bench.published(began)
        finally:
            bench.close()
    pairs = list(zip(with_, without, strict=True))
    # The switch switched: every invocation of the "with" rounds was counted, no other.
    expected = 0 if args.control else sum(r["all_invokes"] for r in with_)
    if invocations != expected or (traces > 0) != args.active:
        raise SystemExit(f"published {invocations} Invocations (expected {expected}) and "
                         f"recorded {traces} traces (active: {args.active})")  # fmt: skip

    def change(key: str) -> float:
        return round(statistics.median((w[key] / wo[key] - 1) * 100 for w, wo in pairs), 1)

    def summary(rounds: list[dict]) -> dict:
        return {"c1_p50_ms": round(statistics.median(r["c1_p50_ms"] for r in rounds), 3),
                "c16_per_s": round(statistics.median(r["c16_per_s"] for r in rounds)),
                "server_cpu_us": round(cpu_us(rounds), 1)}  # fmt: skip

    print(json.dumps({
        "rounds": len(pairs),
        "sessions": sessions,
        "active": args.active,
        "control": args.control,
        "with": summary(with_),
        "without": summary(without),
        "added_p50_pct": change("c1_p50_ms"),
        "lost_throughput_pct": -change("c16_per_s"),
        "added_server_cpu_pct": round((cpu_us(with_) / cpu_us(without) - 1) * 100, 1),
        "added_server_cpu_pct_by_session": per_session,
        "errors": sum(r["errors"] for r in with_ + without),
        "invocations_published": invocations,
        "traces_recorded": traces,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
