"""Provisioned concurrency in the engine: environments initialised ahead of invocations."""

from __future__ import annotations

import asyncio
import json

from .helpers import harness, wait_until

# INIT records when it ran; each invocation says how long after INIT it came, which
# environment (pid) served it, and how the environment was initialised.
STAMPED = {
    "app.py": """
        import os, time

        INIT_AT = time.time()
        COUNT = 0

        def handler(event, context):
            global COUNT
            COUNT += 1
            time.sleep(event.get("sleep", 0))
            if event.get("exit_after"):  # the runtime dies while idle, after answering
                import threading
                threading.Timer(event["exit_after"], os._exit, (0,)).start()
            return {"init_at": INIT_AT, "now": time.time(), "count": COUNT, "pid": os.getpid(),
                    "type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
    """
}

BROKEN_INIT = {"app.py": "raise RuntimeError('cannot initialise')\n"}


async def _ready(h, owner: str, timeout: float = 10.0):
    assert await wait_until(
        lambda: (
            (status := h.engine.provisioned(owner)) is not None and status.status != "IN_PROGRESS"
        ),
        timeout,
    )
    return h.engine.provisioned(owner)


async def test_provisioned_environments_start_before_any_invoke(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(STAMPED, version="1")
        h.engine.provision("fn:1", [(spec, 2)])
        status = h.engine.provisioned("fn:1")
        assert (status.requested, status.allocated, status.status) == (2, 0, "IN_PROGRESS")
        status = await _ready(h, "fn:1")
        assert (status.allocated, status.status, status.reason) == (2, "READY", None)
        assert h.engine.environment_count == 2
        await asyncio.sleep(0.2)
        result = await h.invoke(spec)
        body = json.loads(result.payload)
        assert result.init_duration_ms is None  # no cold start
        assert body["type"] == "provisioned-concurrency"
        assert body["count"] == 1
        assert body["now"] - body["init_at"] >= 0.2  # INIT ran well before the invoke
        assert h.engine.environment_count == 2  # no new environment
        await asyncio.sleep(0.1)  # logs are shipped in batches
        report = [m for m in h.messages() if m.startswith("REPORT")]
        assert report and "Init Duration" not in report[-1]
        tail = result.log_tail.decode()
        assert "START RequestId" in tail and "Init Duration" not in tail


async def test_beyond_provisioned_invokes_run_on_demand_with_cold_start(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(STAMPED, version="1")
        h.engine.provision("fn:1", [(spec, 1)])
        await _ready(h, "fn:1")
        results = await asyncio.gather(*(h.invoke(spec, b'{"sleep": 0.3}') for _ in range(2)))
        kinds = sorted(json.loads(r.payload)["type"] for r in results)
        assert kinds == ["on-demand", "provisioned-concurrency"]
        cold = [r for r in results if json.loads(r.payload)["type"] == "on-demand"]
        assert cold[0].init_duration_ms is not None


async def test_provisioned_environments_outlive_the_keep_alive(tmp_path):
    async with harness(tmp_path, keep_alive_s=0.2) as h:
        spec = h.spec(STAMPED, version="1")
        h.engine.provision("fn:1", [(spec, 1)])
        await _ready(h, "fn:1")
        pid = json.loads((await h.invoke(spec)).payload)["pid"]
        await asyncio.sleep(1.0)  # several keep-alives
        assert h.engine.environment_count == 1
        again = json.loads((await h.invoke(spec)).payload)
        assert (again["pid"], again["count"]) == (pid, 2)


async def test_scale_down_and_release(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(STAMPED, version="1")
        h.engine.provision("fn:1", [(spec, 3)])
        await _ready(h, "fn:1")
        assert h.engine.environment_count == 3
        h.engine.provision("fn:1", [(spec, 1)])
        assert await wait_until(lambda: h.engine.environment_count == 1)
        assert h.engine.provisioned("fn:1").status == "READY"
        assert (await h.invoke(spec)).init_duration_ms is None
        h.engine.provision("fn:1", [])
        assert h.engine.provisioned("fn:1") is None
        assert await wait_until(lambda: h.engine.environment_count == 0)
        assert (await h.invoke(spec)).init_duration_ms is not None  # on-demand again


async def test_a_dead_provisioned_environment_is_replaced(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(STAMPED, version="1")
        h.engine.provision("fn:1", [(spec, 1)])
        await _ready(h, "fn:1")
        first = await h.invoke(spec, b'{"exit_after": 0.05}')
        assert first.function_error is None
        # Noticed and replaced: a new environment, initialised ahead again.
        await asyncio.sleep(0.5)
        await _ready(h, "fn:1")
        result = await h.invoke(spec)
        body = json.loads(result.payload)
        assert result.function_error is None, body
        assert result.environment_id != first.environment_id
        assert (body["type"], body["count"]) == ("provisioned-concurrency", 1)
        assert result.init_duration_ms is None


async def test_failed_init_fails_the_configuration(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(BROKEN_INIT, version="1")
        h.engine.provision("fn:1", [(spec, 2)])
        status = await _ready(h, "fn:1")
        assert (status.status, status.reason, status.allocated) == (
            "FAILED",
            "FUNCTION_ERROR_INIT_FAILURE",
            0,
        )
        assert await wait_until(lambda: h.engine.environment_count == 0)


async def test_weighted_targets_and_other_owners_are_independent(tmp_path):
    async with harness(tmp_path) as h:
        one, two = h.spec(STAMPED, version="1"), h.spec(STAMPED, version="2")
        h.engine.provision("fn:live", [(one, 1), (two, 1)])
        status = await _ready(h, "fn:live")
        assert (status.requested, status.allocated) == (2, 2)
        h.engine.provision("fn:2", [(two, 1)])
        await _ready(h, "fn:2")
        assert h.engine.environment_count == 3  # version 2 keeps one per configuration
        h.engine.provision("fn:live", [])
        assert await wait_until(lambda: h.engine.environment_count == 1)
        assert h.engine.provisioned("fn:2").status == "READY"
