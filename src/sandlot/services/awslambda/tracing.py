"""Active tracing (``TracingConfig: {Mode: Active}``): Lambda's own X-Ray segments.

For a sampled invocation Lambda records two segments in the invocation's trace: the
``AWS::Lambda`` service segment (the request as Lambda's service saw it, child of the
caller's ``Parent`` when the trace header names one) and the ``AWS::Lambda::Function``
segment under it, with the subsegments ``Initialization`` (cold starts only),
``Invocation`` (the handler) and ``Overhead`` (the runtime's work after the response).
The function runs with a header whose ``Parent`` is the function segment, so what the
X-Ray SDK inside records (its subsegments, sent to the daemon) joins that segment.

Sampling: a header's ``Sampled=1``/``0`` from upstream is honoured; without one Lambda
decides by X-Ray's default rule (the first request each second, then 5 %). The
segments are written off the invoke path, through X-Ray's PutTraceSegments, in
batches (one call per function every ``FLUSH_S``), as the daemon batches them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandlot.execution.api import FunctionSpec, InvokeResult
    from sandlot.platform import Platform

log = logging.getLogger(__name__)

RESERVOIR_PER_SECOND = 1  # X-Ray's default sampling rule
FIXED_RATE = 0.05
FLUSH_S = 0.05  # segments are uploaded in batches, this long after the first waits


@dataclass(slots=True)
class Traced:
    """One sampled invocation being traced."""

    trace_id: str
    parent_id: str | None  # the caller's segment, from the incoming header
    service_id: str  # the AWS::Lambda segment
    function_id: str  # the AWS::Lambda::Function segment (the function's Parent)
    started: float
    header: str  # what the function runs with (_X_AMZN_TRACE_ID)


def _fields(header: str) -> list[tuple[str, str]]:
    pairs = []
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            pairs.append((key, value))
    return pairs


class Tracer:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._second = 0
        self._taken = 0
        self._random = random.Random()
        self._tasks: set[asyncio.Task] = set()
        # Documents waiting for the next flush, per function (its role uploads them):
        # one PutTraceSegments per function and flush, not one per invocation.
        self._pending: dict[tuple[str, str, str, str], list[str]] = {}
        self._flush: asyncio.TimerHandle | None = None

    def _sample(self) -> bool:
        now = int(time.time())
        if now != self._second:
            self._second, self._taken = now, 0
        if self._taken < RESERVOIR_PER_SECOND:
            self._taken += 1
            return True
        return self._random.random() < FIXED_RATE

    def begin(self, header: str, upstream: str | None) -> tuple[str, Traced | None]:
        """The header the function runs with, and the trace to record when sampled.

        ``header`` is the invocation's header (its Root set, lineage advanced);
        ``upstream`` the caller's as it came, which says whether it decided sampling."""
        fields = _fields(header)
        incoming = dict(_fields(upstream or ""))
        decided = incoming.get("Sampled")
        sampled = decided == "1" if decided in ("0", "1") else self._sample()
        values = dict(fields)
        root = ("Root", values["Root"])
        rest = [(k, v) for k, v in fields if k not in ("Root", "Parent", "Sampled")]
        if not sampled:
            out = [root, ("Sampled", "0"), *rest]
            return ";".join(f"{k}={v}" for k, v in out), None
        service_id, function_id = os.urandom(8).hex(), os.urandom(8).hex()
        out = [root, ("Parent", function_id), ("Sampled", "1"), *rest]
        text = ";".join(f"{k}={v}" for k, v in out)
        traced = Traced(
            values["Root"], incoming.get("Parent"), service_id, function_id, time.time(), text
        )
        return text, traced

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
        key = (spec.account_id, spec.region, spec.role_arn, spec.function_name)
        self._pending.setdefault(key, []).extend(json.dumps(d) for d in documents)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(FLUSH_S, self._flush_now)

    def _flush_now(self) -> None:
        self._flush = None
        pending, self._pending = self._pending, {}
        for key, documents in pending.items():
            task = asyncio.get_running_loop().create_task(self._put(*key, documents))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _put(
        self, account: str, region: str, role_arn: str, function: str, documents: list[str]
    ) -> None:
        del account  # the role's account: the principal carries it
        try:
            answer = await self.platform.call(
                "xray",
                "PutTraceSegments",
                {"TraceSegmentDocuments": documents},
                # Lambda uploads with the execution role, as it writes the function's logs:
                # a role without xray:PutTraceSegments loses the segments.
                principal=self.platform.function_principal(role_arn, function),
                region=region,
                record_decisions=False,
            )
            for bad in answer.get("UnprocessedTraceSegments") or ():
                log.warning("Lambda's X-Ray segment refused: %s", bad)
        except Exception:
            log.exception("Lambda's X-Ray segments for %s were lost", function)


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
    return {"id": os.urandom(8).hex(), "name": name, "start_time": start, "end_time": end}
