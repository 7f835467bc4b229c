"""Rows staged before a restart find their hooks and timers' handlers even when nothing
has used their service since: the platform creates the provider a hook or timer kind
names (EventBridge's dead-letter hook, its schedule timers)."""

from __future__ import annotations

import asyncio
import time

from sandlot.config import Settings
from sandlot.events.delivery import RetryPolicy
from sandlot.iam.principal import Principal
from sandlot.platform import Platform
from sandlot.protocol import ServiceError
from sandlot.services.events.putevents import FAILED_HOOK

RULE = "arn:aws:events:us-east-1:000000000000:rule/r"
FN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
DLQ = "arn:aws:sqs:us-east-1:000000000000:dlq"


def test_a_dead_letter_hook_staged_before_a_restart_runs_after_it(tmp_path):
    first = Platform(Settings(), tmp_path)
    with first.store.transaction():
        first.deliveries.stage(
            FN,
            '{"id": "e-1"}',
            principal=Principal.service("events.amazonaws.com", "000000000000"),
            policy=RetryPolicy(max_attempts=1),
            on_failure=FAILED_HOOK,
            hook_data={"rule": RULE, "target": FN, "queue": DLQ, "account": "000000000000"},
        )
    first.close()

    second = Platform(Settings(), tmp_path)  # nothing has created the events provider
    calls: list[dict] = []

    async def call(service, operation, params, **kw):
        calls.append({"service": service, "params": params, **kw})
        if service == "lambda":
            raise ServiceError("AccessDeniedException", "not allowed", 403)
        return {}

    second.call = call

    async def drain():
        worker = asyncio.create_task(second.deliveries.run())
        deadline = time.monotonic() + 5
        while len(calls) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        worker.cancel()

    asyncio.run(drain())
    dead = calls[1]
    assert dead["service"] == "sqs" and dead["params"]["MessageBody"] == '{"id": "e-1"}'
    attributes = {k: v["StringValue"] for k, v in dead["params"]["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS" and attributes["RULE_ARN"] == RULE
    second.close()
