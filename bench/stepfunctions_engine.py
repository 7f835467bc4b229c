"""Step Functions engine benchmark: state machines run in-process with an in-memory Runtime.

Measures the language engine alone (no HTTP, no store): a 100-state Pass chain through
Execution.run (the issue's ≤ 20 ms target is for the whole service; the engine should take a
small part of it), the transitions per second that implies, a 100-state chain of Pass states
with Parameters/ResultPath (paths evaluated at each state), the same chain in JSONata, and an
inline Map over 1,000 items with MaxConcurrency 40 whose task answers at once.

    python bench/stepfunctions_engine.py [--n 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from sandlot.services.stepfunctions.asl import Execution, parse


class MemoryRuntime:
    """Keeps history and the last snapshot in memory, as an Express execution does."""

    def __init__(self):
        self.events: list = []
        self.snapshot: dict | None = None

    async def invoke(self, resource, arguments, **_):
        return arguments

    def new_task_token(self) -> str:
        return "token"

    async def sleep_until(self, epoch_s: float) -> None:
        return None

    async def record(self, event_type: str, details: dict) -> int:
        self.events.append((event_type, details))
        return len(self.events) + 1

    async def checkpoint(self, snapshot: dict) -> None:
        self.snapshot = snapshot


def chain(n: int, state: dict, **top) -> str:
    states = {f"S{i}": {**state, "Next": f"S{i + 1}"} for i in range(n - 1)}
    states[f"S{n - 1}"] = {**state, "End": True}
    return json.dumps({"StartAt": "S0", "States": states, **top})


def map_machine(items: int) -> str:
    return json.dumps(
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "MaxConcurrency": 40,
                    "ItemProcessor": {
                        "StartAt": "T",
                        "States": {
                            "T": {
                                "Type": "Task",
                                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
                                "End": True,
                            }
                        },
                    },
                    "End": True,
                }
            },
        }
    )


def measure(definition: str, input, n: int) -> tuple[float, float]:
    machine = parse(definition)
    context = {"Execution": {"Id": "arn:aws:states:::execution:sm:x", "Name": "x"}}

    async def once() -> float:
        start = time.perf_counter()
        result = await Execution(machine, MemoryRuntime(), dict(context)).run(input)
        assert result.status == "SUCCEEDED", result
        return (time.perf_counter() - start) * 1000

    async def many() -> list[float]:
        for _ in range(min(n, 5)):
            await once()  # warm up caches
        return [await once() for _ in range(n)]

    samples = sorted(asyncio.run(many()))
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    data = {"order": {"id": "o-1", "items": [1, 2, 3]}, "customer": "c-1"}
    cases = [
        ("100 Pass states", chain(100, {"Type": "Pass"}), data, 100),
        (
            "100 Pass states, Parameters+ResultPath",
            chain(100, {"Type": "Pass", "Parameters": {"id.$": "$.order.id", "n.$": "$$.State.Name"},
                        "ResultPath": "$.last"}),
            data,
            100,
        ),
        (
            "100 Pass states, JSONata Output",
            chain(100, {"Type": "Pass", "Output": {"id": "{% $states.input.id %}"}},
                  QueryLanguage="JSONata"),
            {"id": "o-1"},
            100,
        ),
        ("inline Map, 1000 items, MaxConcurrency 40", map_machine(1000), list(range(1000)), 0),
    ]  # fmt: skip
    for name, definition, input, transitions in cases:
        n = args.n if transitions else max(5, args.n // 20)
        p50, p99 = measure(definition, input, n)
        rate = f"   {transitions / p50 * 1000:9.0f} transitions/s" if transitions else ""
        print(f"{name:44s} p50 {p50:8.2f} ms   p99 {p99:8.2f} ms{rate}")


if __name__ == "__main__":
    main()
