"""Execution engine benchmark: the Engine driven directly, no HTTP gateway.

A Python hello-world function with a 1 KB payload. Reports cold start p50/p99 (first
invoke of a function version with no warm environment: process start, runtime INIT,
one invocation), the proportional set size of an idle warm environment (the sum of
Pss in /proc/<pid>/smaps_rollup over its processes: shared pages counted once), warm
latency p50/p99 at concurrency 1, invokes/s at concurrency 16, and the Node.js
hello world's cold start (when `node` is on PATH).

    python bench/engine.py [--cold 30] [--warm 3000] [--seconds 5] [--loop uvloop|asyncio]
                           [--sandbox process|linux] [--network shared|isolated]
                           [--cold-gap 0.2] [--node-cold 20]

SANDLOT_ZYGOTE=0 turns the Python zygote off (environments start a fresh interpreter).
Targets (issue 4): cold start p50 <= 15 ms and p99 <= 40 ms (linux), p50 <= 10 ms
(process); Node.js p50 <= 80 ms; idle warm Python environment <= 15 MB PSS.

Targets (issue 3, 2-core machine): cold start p50 < 150 ms; engine overhead of a warm
invoke well under 1 ms (the whole Invoke API budget is p50 < 2 ms including HTTP);
>= 1,500 invokes/s at concurrency 16 through the API, so more than that here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sandlot.execution.api import EngineSettings, FunctionSpec, InvokeRequest, LogEvent
from sandlot.execution.engine import Engine

HANDLER = """\
def handler(event, context):
    return {"statusCode": 200, "body": "hello " + event["name"]}
"""
PAYLOAD = json.dumps({"name": "world", "padding": "x" * 990}).encode()
assert 1000 <= len(PAYLOAD) <= 1024


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


NODE_HANDLER = """\
exports.handler = async (event) => ({ statusCode: 200, body: "hello " + event.name });
"""


def pss_kb(pids: list[int]) -> int:
    """Sum of Pss (kB) over ``pids`` (shared pages counted once, across all sharers)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def process_tree(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as f:
                queue += [int(child) for child in f.read().split()]
        except OSError:
            pass
    return found


def make_spec(
    code_dir: Path, runtime: str | None = None, handler: str = "app.handler"
) -> FunctionSpec:
    return FunctionSpec(
        account_id="000000000000",
        region="us-east-1",
        function_name="hello",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:hello",
        version="$LATEST",
        runtime=runtime or f"python3.{sys.version_info.minor}",
        handler=handler,
        code_dir=code_dir,
        layer_dirs=(),
        memory_mb=128,
        timeout_s=30,
        ephemeral_storage_mb=512,
        environment=(),
        role_arn="arn:aws:iam::000000000000:role/hello",
        digest=uuid.uuid4().hex,  # a new digest: a new pool, so a cold start
    )


def request(spec: FunctionSpec) -> InvokeRequest:
    return InvokeRequest(str(uuid.uuid4()), PAYLOAD, spec.function_arn)


async def run(args: argparse.Namespace, work: Path) -> None:
    code_dir = work / "code"
    code_dir.mkdir()
    (code_dir / "app.py").write_text(HANDLER)
    delivered = 0

    async def sink(account: str, region: str, group: str, stream: str, events: list[LogEvent]):
        nonlocal delivered
        delivered += len(events)

    def credentials(spec: FunctionSpec) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "ASIA", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}

    settings = EngineSettings(
        endpoint_url="http://127.0.0.1:4566",
        work_dir=work / "engine",
        sandbox=args.sandbox,
        isolate_network=args.network == "isolated",
    )
    engine = Engine(settings, credentials, sink)
    try:
        # Cold starts: each a new function version; its environment is shut down after.
        cold: list[float] = []
        init: list[float] = []
        for _ in range(args.cold + 1):
            spec = make_spec(code_dir)
            began = time.perf_counter()
            result = await engine.invoke(spec, request(spec))
            cold.append((time.perf_counter() - began) * 1000)
            init.append(result.init_duration_ms or 0.0)
            assert result.function_error is None, result.payload
            await engine._pools.pop(spec.pool_key).close()
            await asyncio.sleep(args.cold_gap)
        cold, init = cold[1:], init[1:]  # the first also pays for the engine's start
        print(
            f"cold start        p50 {percentile(cold, 0.5):7.2f} ms   "
            f"p99 {percentile(cold, 0.99):7.2f} ms   (INIT p50 {percentile(init, 0.5):.2f} ms)"
        )

        # Warm, concurrency 1.
        spec = make_spec(code_dir)
        for _ in range(200):
            await engine.invoke(spec, request(spec))

        # The idle warm environment's memory (after the sweeper has frozen it).
        await asyncio.sleep(1.5)
        (environment,) = engine._pools[spec.pool_key].environments
        pids = process_tree(environment._sandbox.pid)
        zygote = getattr(engine._backend, "_zygote", None)
        zygote_pid = zygote.pid if zygote is not None else None
        print(
            f"idle warm env     PSS {pss_kb(pids) / 1024:6.1f} MB over {len(pids)} processes"
            + (f"   (the zygote: {pss_kb([zygote_pid]) / 1024:.1f} MB)" if zygote_pid else "")
        )
        warm = []
        cpu_began = time.process_time()
        for _ in range(args.warm):
            began = time.perf_counter()
            result = await engine.invoke(spec, request(spec))
            warm.append((time.perf_counter() - began) * 1e6)
        # The engine's own cost: CPU time of this process (the runtime runs in another).
        engine_cpu_us = (time.process_time() - cpu_began) / args.warm * 1e6
        assert result.function_error is None
        print(
            f"warm, conc. 1     p50 {percentile(warm, 0.5) / 1000:7.3f} ms   "
            f"p99 {percentile(warm, 0.99) / 1000:7.3f} ms   "
            f"({1e6 / statistics.mean(warm):,.0f} invokes/s; engine CPU {engine_cpu_us:.0f} us/invoke)"
        )

        # Throughput, concurrency 16 (16 environments).
        errors = 0
        done = 0
        stop = time.perf_counter() + args.seconds

        async def worker() -> None:
            nonlocal errors, done
            while time.perf_counter() < stop:
                result = await engine.invoke(spec, request(spec))
                done += 1
                errors += result.function_error is not None

        await asyncio.gather(*(worker() for _ in range(16)))  # warm up 16 environments
        done = errors = 0
        began = time.perf_counter()
        stop = began + args.seconds
        await asyncio.gather(*(worker() for _ in range(16)))
        elapsed = time.perf_counter() - began
        print(
            f"conc. 16          {done / elapsed:,.0f} invokes/s   errors {errors}   "
            f"environments {engine.environment_count}"
        )
        # With many environments, shared pages are divided among more sharers.
        await asyncio.sleep(1.5)
        environments = engine._pools[spec.pool_key].environments
        total = sum(pss_kb(process_tree(env._sandbox.pid)) for env in environments)
        print(
            f"idle warm envs    PSS {total / 1024 / len(environments):6.1f} MB per environment "
            f"({len(environments)} idle)"
        )
        if args.node_cold and shutil.which("node"):
            node_dir = work / "node"
            node_dir.mkdir()
            (node_dir / "index.js").write_text(NODE_HANDLER)
            node: list[float] = []
            for _ in range(args.node_cold + 1):
                spec = make_spec(node_dir, "nodejs20.x", "index.handler")
                began = time.perf_counter()
                result = await engine.invoke(spec, request(spec))
                node.append((time.perf_counter() - began) * 1000)
                assert result.function_error is None, result.payload
                await engine._pools.pop(spec.pool_key).close()
            node = node[1:]
            print(
                f"node cold start   p50 {percentile(node, 0.5):7.2f} ms   "
                f"p99 {percentile(node, 0.99):7.2f} ms"
            )
    finally:
        await engine.close()
    print(f"log events delivered: {delivered:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=30)
    parser.add_argument("--warm", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--sandbox", choices=("process", "linux"), default="process")
    parser.add_argument(
        "--network",
        choices=("shared", "isolated"),
        default="shared",
        help="linux: a network namespace per environment (pasta) or the host's",
    )
    parser.add_argument(
        "--cold-gap", type=float, default=0.0, help="seconds between cold starts (0: back to back)"
    )
    parser.add_argument("--node-cold", type=int, default=20, help="Node.js cold starts (0: none)")
    args = parser.parse_args()
    print(f"sandbox: {args.sandbox}, network: {args.network}, cold-start gap {args.cold_gap} s")
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    with tempfile.TemporaryDirectory(prefix="sandlot-bench-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
