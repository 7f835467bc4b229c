"""X-Ray for end-to-end tests: a role that may upload trace data, and a trace's documents
read back once the segments wanted are stored."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import make_client
from tests.e2e.roles import ensure_role

TRACING_POLICIES = (
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
)


def tracing_role(endpoint: str, name: str) -> str:
    """An execution role that may write logs and upload trace data (Lambda uploads its
    segments with the function's role)."""
    return ensure_role(make_client(endpoint, "iam"), name, managed=TRACING_POLICIES)


def wait_trace(xray, trace_id: str, names: set[str], timeout: float = 15) -> dict[str, dict]:
    """The trace's documents by origin (or name), once each of ``names`` is a document's
    origin or name, or a subsegment's name."""
    deadline = time.monotonic() + timeout
    found: dict[str, dict] = {}
    while time.monotonic() < deadline:
        traces = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
        if traces:
            docs = [json.loads(s["Document"]) for s in traces[0]["Segments"]]
            found = {d.get("origin", d["name"]): d for d in docs}
            subs = {s["name"] for d in docs for s in d.get("subsegments", ())}
            if names <= set(found) | subs:
                return found
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} never had {names}: {found}")
