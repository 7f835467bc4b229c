"""`sam traces` (the SAM CLI from PyPI) against sandlot: a traced invocation's segments
printed by trace id and by time range, as the SAM CLI reads GetTraceSummaries and
BatchGetTraces."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.test_sam_cli import _sam_env
from tests.e2e.tools import sam_cli
from tests.e2e.traces import tracing_role

APP = "def handler(event, context):\n    return {'ok': True}\n"


@pytest.fixture(scope="module")
def traced(server):
    """A function with Active tracing, invoked once with a sampled header; the trace id
    and the function's name, once all of Lambda's segments are stored."""
    lam, xray = make_client(server.endpoint, "lambda"), make_client(server.endpoint, "xray")
    role = tracing_role(server.endpoint, "sam-traces-role")
    name = unique("samtraced")
    create_function(lam, name, {"app.py": APP}, role=role, TracingConfig={"Mode": "Active"})
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"

    def add(request, **_):
        request.headers["X-Amzn-Trace-Id"] = f"Root={root};Sampled=1"

    lam.meta.events.register("before-sign.lambda.Invoke", add)
    assert "FunctionError" not in lam.invoke(FunctionName=name, Payload=b"{}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        traces = xray.batch_get_traces(TraceIds=[root])["Traces"]
        if traces and len(traces[0]["Segments"]) == 2:
            return {"root": root, "name": name}
        time.sleep(0.1)
    raise AssertionError(f"trace {root} was never stored")


def _sam(server, *args: str) -> str:
    result = subprocess.run(
        [str(sam_cli()), "traces", *args, "--region", "us-east-1"],
        env=_sam_env(server.endpoint), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _check(out: str, traced: dict) -> None:
    assert f"with id ({traced['root']}) and duration (" in out, out
    lines = out.splitlines()
    # Lambda's two segments, the function's with its phases indented under it.
    assert any(line.endswith(f"s - {traced['name']} [HTTP: 200]") for line in lines), out
    assert sum(line.endswith(f"s - {traced['name']}") for line in lines) == 1, out
    for phase in ("Initialization", "Invocation", "Overhead"):
        assert any(line.startswith("   - ") and line.endswith(f"s - {phase}") for line in lines)


def test_sam_traces_by_id(server, traced) -> None:
    _check(_sam(server, "--trace-id", traced["root"]), traced)


def test_sam_traces_by_time(server, traced) -> None:
    # The SAM CLI fetches a trace whose summary's Revision grew since it last saw it.
    xray = make_client(server.endpoint, "xray")
    now = dt.datetime.now(dt.UTC)
    summaries = xray.get_trace_summaries(
        StartTime=now - dt.timedelta(minutes=10), EndTime=now + dt.timedelta(minutes=1)
    )["TraceSummaries"]
    (summary,) = [s for s in summaries if s["Id"] == traced["root"]]
    assert summary["Revision"] == 2 and summary["IsPartial"] is False
    out = _sam(server, "--start-time", "10mins ago")
    _check(out, traced)
    # The service graph of the period follows the traces.
    assert "New XRay Service Graph" in out and f"AWS::Lambda - {traced['name']}" in out, out
