"""Event invocations on the delivery path: durable before 202, run in order, throttles
retried, outcomes to the dead-letter queue and destinations as the function's role."""

from __future__ import annotations

import asyncio

from sandlot.config import Settings
from sandlot.platform import Platform
from sandlot.protocol import ServiceError


class Recorder:
    """Stands in for the internal client: records calls, optionally throttles some."""

    def __init__(self, throttle: int = 0) -> None:
        self.calls: list[tuple[str, str, dict, str]] = []
        self.throttle = throttle

    async def __call__(self, service, operation, params, *, principal, region, request_id, context):
        if self.throttle:
            self.throttle -= 1
            raise ServiceError("TooManyRequestsException", "Rate Exceeded.", 429)
        self.calls.append((service, operation, params, request_id))
        return {"StatusCode": 200}


async def _drain(platform: Platform, seconds: float = 3.0) -> None:
    worker = asyncio.create_task(platform.deliveries.run())
    deadline = asyncio.get_running_loop().time() + seconds
    while platform.deliveries.pending() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    worker.cancel()


def test_queued_events_survive_a_restart_and_run_in_order(tmp_path):
    first = Platform(Settings(), tmp_path)
    ids = [
        first.async_invocations.enqueue("000000000000", "us-east-1", "fn", None, b'{"n": %d}' % i)
        for i in range(5)
    ]
    first.close()  # the process goes away before the worker ran anything

    second = Platform(Settings(), tmp_path)
    recorder = Recorder()
    second.call = recorder
    asyncio.run(_drain(second))
    assert [call[3] for call in recorder.calls] == ids
    service, operation, params, _ = recorder.calls[0]
    assert (service, operation) == ("lambda", "Invoke")
    assert params == {
        "FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "InvocationType": "RequestResponse",
        "Payload": b'{"n": 0}',
    }
    assert second.deliveries.pending() == 0


def test_throttled_event_stays_queued_and_is_retried(tmp_path):
    platform = Platform(Settings(), tmp_path)
    recorder = Recorder(throttle=1)
    platform.call = recorder
    platform.async_invocations.enqueue(
        "000000000000", "us-east-1", "fn", "live", b"{}", client_context="e30="
    )
    asyncio.run(_drain(platform))
    assert len(recorder.calls) == 1
    assert recorder.calls[0][2]["Qualifier"] == "live"
    assert recorder.calls[0][2]["ClientContext"] == "e30="
