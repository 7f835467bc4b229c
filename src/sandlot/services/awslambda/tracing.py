"""Active tracing (``TracingConfig: {Mode: Active}``): Lambda's own X-Ray segments.

For a sampled invocation Lambda records two segments in the invocation's trace: the
``AWS::Lambda`` service segment (the request as Lambda's service saw it, child of the
caller's ``Parent`` when the trace header names one) and the ``AWS::Lambda::Function``
segment under it, with the subsegments ``Initialization`` (cold starts only),
``Invocation`` (the handler) and ``Overhead`` (the runtime's work after the response).
The function runs with a header whose ``Parent`` is the function segment, so what the
X-Ray SDK inside records (its subsegments, sent to the daemon) joins that segment.

Sampling and the batched upload are X-Ray's shared emitting side (``xray/emit.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandlot.services.xray.emit import Sampler, Uploader, fields, join, new_id

if TYPE_CHECKING:
    from sandlot.execution.api import FunctionSpec, InvokeResult
    from sandlot.platform import Platform


@dataclass(slots=True)
class Traced:
    """One sampled invocation being traced."""

    trace_id: str
    parent_id: str | None  # the caller's segment, from the incoming header
    service_id: str  # the AWS::Lambda segment
    function_id: str  # the AWS::Lambda::Function segment (the function's Parent)
    started: float
    header: str  # what the function runs with (_X_AMZN_TRACE_ID)


class Tracer:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.sampler = Sampler()
        self.uploader = Uploader(platform)

    def begin(self, header: str, upstream: str | None) -> tuple[str, Traced | None]:
        """The header the function runs with, and the trace to record when sampled.

        ``header`` is the invocation's header (its Root set, lineage advanced);
        ``upstream`` the caller's as it came, which says whether it decided sampling."""
        sampled = self.sampler.decide(upstream)  # most invocations: ~5 % are sampled
        if not sampled and not upstream:
            # The header lineage.advance made for a chain's first invocation: already
            # Root, Sampled=0 and Lineage, with no Parent to drop.
            return header, None
        root = ""
        rest = []
        for key, value in fields(header):
            if key == "Root":
                root = value
            elif key not in ("Parent", "Sampled"):
                rest.append((key, value))
        if not sampled:
            return join([("Root", root), ("Sampled", "0"), *rest]), None
        service_id, function_id = new_id(), new_id()
        text = join([("Root", root), ("Parent", function_id), ("Sampled", "1"), *rest])
        parent = dict(fields(upstream)).get("Parent")
        return text, Traced(root, parent, service_id, function_id, time.time(), text)

    def finish(
        self,
        spec: FunctionSpec,
        traced: Traced,
        invoked_arn: str,
        request_id: str,
        result: InvokeResult | None,
    ) -> None:
        """Record the invocation's segments (in the background); ``result`` None: the
        invocation failed before the function ran (throttled)."""
        end = time.time()
        start = traced.started
        base = {"trace_id": traced.trace_id, "name": spec.function_name}
        service = {
            **base, "id": traced.service_id, "origin": "AWS::Lambda",
            "start_time": start, "end_time": end,
            "http": {"response": {"status": 200 if result is not None else 429}},
            "aws": {"request_id": request_id}, "resource_arn": invoked_arn,
        }  # fmt: skip
        if traced.parent_id:
            service["parent_id"] = traced.parent_id
        if result is None:
            service["throttle"] = service["error"] = True
            documents = [service]
        else:
            function = {
                **base, "id": traced.function_id, "parent_id": traced.service_id,
                "origin": "AWS::Lambda::Function", "start_time": start, "end_time": end,
                "aws": {"function_arn": invoked_arn, "resource_names": [spec.function_name],
                        "account_id": spec.account_id},
                "subsegments": _phases(start, end, result),
            }  # fmt: skip
            if result.function_error:
                function["fault"] = True
            documents = [service, function]
        # Lambda uploads with the execution role, as it writes the function's logs: a
        # role without xray:PutTraceSegments loses the segments.
        role, name = spec.role_arn, spec.function_name
        self.uploader.add(
            ("function", role, name),
            lambda: self.platform.function_principal(role, name),
            spec.region,
            documents,
        )


def _phases(start: float, end: float, result: InvokeResult) -> list[dict]:
    """Initialization (cold starts), Invocation and Overhead, from the engine's timings."""
    parts = []
    begin = start
    if result.init_duration_ms is not None:
        init_end = min(end, start + result.init_duration_ms / 1000)
        parts.append(_sub("Initialization", start, init_end))
        begin = init_end
    # The handler ran for duration_ms and ended before the response reached Lambda.
    invocation_end = min(end, begin + result.duration_ms / 1000)
    invocation_start = max(begin, invocation_end - result.duration_ms / 1000)
    invocation = _sub("Invocation", invocation_start, invocation_end)
    if result.function_error:
        invocation["fault"] = True
    parts.append(invocation)
    parts.append(_sub("Overhead", invocation_end, end))
    return parts


def _sub(name: str, start: float, end: float) -> dict:
    return {"id": new_id(), "name": name, "start_time": start, "end_time": end}
