"""A Runtime for engine tests: tasks are Python callables; effects are recorded."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json

from sandlot.services.stepfunctions.asl import Execution, parse


class FakeRuntime:
    def __init__(self, handlers: dict | None = None):
        self.handlers = handlers or {}
        self.events: list[tuple[str, dict]] = []
        self.snapshots: list[dict] = []
        self.sleeps: list[float] = []
        self.calls: list[dict] = []
        self._tokens = itertools.count(1)

    async def invoke(self, resource, arguments, *, state, task_token, resumed, timeout_s,
                     heartbeat_s):  # fmt: skip
        self.calls.append(
            {"resource": resource, "arguments": arguments, "state": state, "token": task_token,
             "resumed": resumed, "timeout_s": timeout_s, "heartbeat_s": heartbeat_s}
        )  # fmt: skip
        handler = self.handlers[resource]
        result = handler(arguments)
        if inspect.isawaitable(result):
            result = await result
        return result

    def new_task_token(self) -> str:
        return f"token-{next(self._tokens)}"

    async def sleep_until(self, epoch_s: float) -> None:
        self.sleeps.append(epoch_s)
        await asyncio.sleep(0)

    async def record(self, event_type: str, details: dict) -> int:
        self.events.append((event_type, details))
        return len(self.events) + 1  # ExecutionStarted is event 1, the service's

    async def checkpoint(self, snapshot: dict) -> None:
        self.snapshots.append(json.loads(json.dumps(snapshot)))  # must be JSON

    def types(self) -> list[str]:
        return [t for t, _ in self.events]


CONTEXT = {
    "Execution": {
        "Id": "arn:aws:states:us-east-1:123456789012:execution:sm:run-1",
        "Name": "run-1",
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "StartTime": "2026-01-01T00:00:00.000Z",
    },
    "StateMachine": {"Id": "arn:aws:states:us-east-1:123456789012:stateMachine:sm", "Name": "sm"},
}


def run(definition, input=None, handlers=None, runtime=None, resume=None):
    """(result, runtime) of one execution; `definition` a dict or JSON text."""
    text = definition if isinstance(definition, str) else json.dumps(definition)
    runtime = runtime or FakeRuntime(handlers)
    context = json.loads(json.dumps(CONTEXT))
    result = asyncio.run(Execution(parse(text), runtime, context).run(input, resume))
    return result, runtime


def machine(states: dict, start: str | None = None, **top) -> dict:
    return {"StartAt": start or next(iter(states)), "States": states, **top}
