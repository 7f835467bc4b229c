"""SnapStart in the engine: a version's template, its restores, and what cannot snapshot."""

from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest

from sandlot.execution import zygote
from sandlot.execution.sandbox_linux import linux_backend_available

from .helpers import harness, wait_until

APP = """
import os
from snapshot_restore_py import register_after_restore, register_before_snapshot

INIT_PID = os.getpid()
COUNTS = {"before": 0, "after": 0}
register_before_snapshot(lambda: COUNTS.__setitem__("before", COUNTS["before"] + 1))


@register_before_snapshot
def before():
    if os.environ.get("FAIL_SNAPSHOT"):
        raise OSError("snapshot refused")


@register_after_restore
def after():
    COUNTS["after"] += 1
    if os.environ.get("FAIL_RESTORE"):
        raise ValueError("restore refused")


def handler(event, context):
    return {**COUNTS, "pid": os.getpid(), "init_pid": INIT_PID}
"""

needs_zygote = pytest.mark.skipif(not zygote.enabled(), reason="SnapStart needs the zygote")


def snap(spec):
    return dataclasses.replace(spec, version="1", snap_start=True)


# SnapStart works on both sandboxes (the linux one restores inside the template's sandbox).
SANDBOXES = [
    "process",
    pytest.param(
        "linux",
        marks=pytest.mark.skipif(not linux_backend_available()[0], reason="no linux sandbox"),
    ),
]


@needs_zygote
@pytest.mark.parametrize("sandbox", SANDBOXES)
async def test_restores_fork_the_initialised_template(tmp_path, sandbox):
    async with harness(tmp_path, sandbox=sandbox) as h:
        spec = snap(h.spec({"app.py": APP}))
        h.engine.snapshot(spec)
        assert h.engine.snapshot_state(spec) == "Pending"
        result = await h.invoke(spec, b"{}")
        assert result.function_error is None, result.payload
        seen = json.loads(result.payload)
        assert seen["before"] == 1 and seen["after"] == 1
        if sandbox == "process":  # linux: the runtime is PID 2 of its own namespace
            assert seen["pid"] != seen["init_pid"]
        assert h.engine.snapshot_state(spec) == "Active"
        assert result.init_duration_ms is None  # a restore, not an INIT


@needs_zygote
@pytest.mark.parametrize("sandbox", SANDBOXES)
async def test_a_failing_after_restore_hook_fails_the_invocation(tmp_path, sandbox):
    async with harness(tmp_path, sandbox=sandbox) as h:
        spec = snap(h.spec({"app.py": APP}, environment={"FAIL_RESTORE": "1"}))
        result = await h.invoke(spec, b"{}")
        assert result.function_error == "Unhandled"
        error = json.loads(result.payload)
        assert error["errorType"] == "Runtime.AfterRestoreError"
        assert error["errorMessage"] == "restore refused"
        assert h.engine.snapshot_state(spec) == "Active"  # the snapshot itself is fine


@pytest.mark.skipif(not linux_backend_available()[0], reason="no linux sandbox here")
async def test_the_linux_sandbox_cannot_snapshot_other_runtimes(tmp_path):
    async with harness(tmp_path, sandbox="linux") as h:
        # A PYTHON* variable only an interpreter start applies: not forked, so no snapshot.
        spec = snap(h.spec({"app.py": APP}, environment={"PYTHONWARNINGS": "ignore"}))
        result = await h.invoke(spec, b"{}")
        assert result.function_error == "Unhandled"
        error = json.loads(result.payload)
        assert error["errorType"] == "SnapStartException"
        assert "snapshots of Python runtimes forked by its zygote" in error["errorMessage"]
        assert h.engine.snapshot_state(spec) == "Failed"


@needs_zygote
@pytest.mark.parametrize("sandbox", SANDBOXES)
async def test_a_failing_before_snapshot_hook_fails_the_snapshot(tmp_path, sandbox):
    async with harness(tmp_path, sandbox=sandbox) as h:
        spec = snap(h.spec({"app.py": APP}, environment={"FAIL_SNAPSHOT": "1"}))
        result = await h.invoke(spec, b"{}")
        assert result.function_error == "Unhandled"
        error = json.loads(result.payload)
        assert error["errorType"] == "Runtime.BeforeSnapshotError"
        assert error["errorMessage"] == "snapshot refused"
        assert h.engine.snapshot_state(spec) == "Failed"


@needs_zygote
async def test_closing_does_not_wait_for_a_snapshot_being_made(tmp_path):
    async with harness(tmp_path, sandbox="process") as h:
        spec = snap(h.spec({"app.py": "import time\ntime.sleep(30)\n" + APP}))
        h.engine.snapshot(spec)
        assert await wait_until(
            lambda: h.engine.snapshot_state(spec) == "Pending" and h.engine._pools
        )
        began = time.monotonic()
        await h.engine.close()
        assert time.monotonic() - began < 5


@pytest.mark.skipif(not linux_backend_available()[0], reason="no linux sandbox here")
async def test_linux_restores_made_ahead_end_with_their_template(tmp_path):
    async with harness(tmp_path, sandbox="linux") as h:
        spec = snap(h.spec({"app.py": APP}))
        assert (await h.invoke(spec, b"{}")).function_error is None
        backend = h.engine._backend
        # The next cold start's restore is made ahead of time.
        assert await wait_until(lambda: len(backend._restore_spares) == 1, timeout=15)
        (ahead,) = backend._restore_spares.values()
        assert os.path.exists(f"/proc/{ahead.pid}")
        await h.engine._pools.pop(spec.pool_key).close()  # the template goes
        assert await wait_until(lambda: not backend._restore_spares, timeout=15)
        assert await wait_until(lambda: not os.path.exists(f"/proc/{ahead.pid}"), timeout=15)
        assert ahead.listener is None and ahead.cgroup is None  # released
