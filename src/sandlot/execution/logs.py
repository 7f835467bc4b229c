"""Environment log lines: reading runtime output, Lambda's platform lines, batched delivery.

Messages follow what CloudWatch Logs holds for Lambda: one event per output line, each
message ending in "\\n" (``START RequestId: … Version: $LATEST\\n``), the REPORT line
with tab-separated fields and a trailing tab. Runtimes that want a multi-line message
in one event write "\\r" for the inner line breaks, as Lambda's own runtimes do for
tracebacks when no log framing is available; sandlot's bootstraps do the same.

With ``LoggingConfig.LogFormat`` JSON (``LogPolicy``) the platform's lines are Lambda's
JSON records (``{"time", "type": "platform.start", "record": {…}}``), and records below
the configured levels are dropped: the application's by the ``level`` of a JSON line
(INFO for a line without one, as Lambda assigns), the platform's by their type.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable

from sandlot.execution.api import LogEvent, LogSink, LogStream

log = logging.getLogger(__name__)

# CloudWatch Logs limits: an event is at most 256 KB (with 26 bytes of overhead), a
# PutLogEvents batch at most 10,000 events and 1 MB (each event counting +26 bytes).
MAX_EVENT_BYTES = 256 * 1024 - 26
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1024 * 1024
# A line's share of an event: room for the newline and a character split by the cut.
_MAX_LINE_BYTES = MAX_EVENT_BYTES - 8
# Beyond this many undelivered events (a stalled sink), new events are dropped.
MAX_BUFFERED_EVENTS = 100_000


def iso_timestamp(seconds: float) -> str:
    """``2024-01-31T12:00:00.123Z``: the timestamp Lambda's runtimes put in lines."""
    millis = int(seconds * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def report_line(
    request_id: str,
    duration_ms: float,
    memory_mb: int,
    max_memory_mb: int,
    init_duration_ms: float | None,
    status: str | None = None,
    restore_duration_ms: float | None = None,
    trace_header: str | None = None,
) -> str:
    """Lambda's REPORT line (without the newline); billed duration rounds up to the ms.

    ``trace_header``: an Active-traced invocation's header; when it is sampled the event
    goes on with Lambda's ``XRAY TraceId: … SegmentId: … Sampled: true`` line."""
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {max(1, math.ceil(duration_ms))} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {max_memory_mb} MB\t"
    )
    if init_duration_ms is not None:
        line += f"Init Duration: {init_duration_ms:.2f} ms\t"
    if restore_duration_ms is not None:  # SnapStart: a restored environment's first
        line += (
            f"Restore Duration: {restore_duration_ms:.2f} ms\t"
            f"Billed Restore Duration: {math.ceil(restore_duration_ms)} ms\t"
        )
    if status:
        line += status + "\t"
    sampled = sampled_trace(trace_header)
    if sampled:
        line += f"\nXRAY TraceId: {sampled[0]}\tSegmentId: {sampled[1]}\tSampled: true\t"
    return line


def sampled_trace(header: str | None) -> tuple[str, str] | None:
    """(Root, Parent) of a trace header that says Sampled=1, else None: the trace and the
    function's segment that an Active-traced invocation's REPORT names."""
    if not header or "Sampled=1" not in header:  # every invocation asks; ~5 % are
        return None
    fields = dict(part.strip().split("=", 1) for part in header.split(";") if "=" in part)
    if fields.get("Sampled") != "1" or not fields.get("Root") or not fields.get("Parent"):
        return None
    return fields["Root"], fields["Parent"]


# Levels from the most detailed; a level keeps records at it and after it.
_APPLICATION_RANK = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "ERROR": 4, "FATAL": 5}
_LEVEL_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL"}
_SYSTEM_RANK = {"DEBUG": 0, "INFO": 1, "WARN": 2}
# The level Lambda gives each platform record (START and REPORT show at INFO, the
# runtime's completion only at DEBUG).
PLATFORM_LEVELS = {
    "platform.start": "INFO",
    "platform.runtimeDone": "DEBUG",
    "platform.report": "INFO",
}


class LogPolicy:
    """How one function's logs are written and filtered (its LoggingConfig)."""

    def __init__(
        self, log_format: str, application_level: str | None, system_level: str | None
    ) -> None:
        self.json = log_format == "JSON"
        self._application = _APPLICATION_RANK.get(application_level or "INFO", 2)
        self._system = _SYSTEM_RANK.get(system_level or "INFO", 1)

    def keeps_application(self, line: str) -> bool:
        """Whether an output line of the function passes ApplicationLogLevel."""
        if not self.json or self._application == 0:
            return True
        level = "INFO"
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict):
                found = record.get("level") or record.get("log_level")
                if isinstance(found, str):
                    found = found.upper()
                    level = _LEVEL_ALIASES.get(found, found)
        return _APPLICATION_RANK.get(level, 2) >= self._application

    def keeps_platform(self, record_type: str) -> bool:
        """Whether a platform record of ``record_type`` passes SystemLogLevel."""
        return _SYSTEM_RANK[PLATFORM_LEVELS[record_type]] >= self._system


def platform_record(record_type: str, record: dict, seconds: float) -> str:
    """One of Lambda's JSON platform records, as CloudWatch Logs shows it."""
    document = {"time": iso_timestamp(seconds), "type": record_type, "record": record}
    return json.dumps(document, separators=(",", ":"))


def report_record(
    request_id: str,
    duration_ms: float,
    memory_mb: int,
    max_memory_mb: int,
    init_duration_ms: float | None,
    status: str,
    error_type: str | None,
    restore_duration_ms: float | None = None,
    trace_header: str | None = None,
) -> dict:
    """The ``record`` of ``platform.report``: the REPORT line's numbers, as numbers, and
    for a sampled Active-traced invocation its ``tracing`` (Lambda's TraceContext)."""
    metrics: dict[str, float | int] = {
        "durationMs": round(duration_ms, 2),
        "billedDurationMs": max(1, math.ceil(duration_ms)),
        "memorySizeMB": memory_mb,
        "maxMemoryUsedMB": max_memory_mb,
    }
    if init_duration_ms is not None:
        metrics["initDurationMs"] = round(init_duration_ms, 2)
    if restore_duration_ms is not None:
        metrics["restoreDurationMs"] = round(restore_duration_ms, 2)
        metrics["billedRestoreDurationMs"] = math.ceil(restore_duration_ms)
    record: dict = {"requestId": request_id, "metrics": metrics, "status": status}
    if error_type:
        record["errorType"] = error_type
    sampled = sampled_trace(trace_header)
    if sampled:
        record["tracing"] = {"spanId": sampled[1], "type": "X-Amzn-Trace-Id", "value": trace_header}
    return record


class OutputReader:
    """Turns a runtime's stdout/stderr pipe into lines, without blocking.

    Reading is driven by the event loop, and also synchronously through ``drain()``:
    whatever a runtime wrote before it posted its response is already in the pipe
    when the response arrives, so draining then attributes it to the right invocation.
    """

    def __init__(self, fd: int, on_line: Callable[[str], None]) -> None:
        self._fd = fd
        self._on_line = on_line
        self._partial = b""
        self._loop = asyncio.get_running_loop()
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self.drain)
        self._open = True

    def drain(self) -> None:
        """Read everything available now and emit the complete lines."""
        while self._open:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:  # every writer has exited
                self.flush()
                self.close()
                return
            self._feed(chunk)

    def _feed(self, chunk: bytes) -> None:
        data = self._partial + chunk if self._partial else chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)
        if len(self._partial) >= _MAX_LINE_BYTES:
            self.flush()

    def _line(self, line: bytes) -> None:
        if len(line) <= _MAX_LINE_BYTES:
            self._on_line(line.decode("utf-8", "replace"))
            return
        for start in range(0, len(line), _MAX_LINE_BYTES):  # an over-long line: several events
            self._on_line(line[start : start + _MAX_LINE_BYTES].decode("utf-8", "replace"))

    def flush(self) -> None:
        """Emit a pending partial line (output that did not end with a newline)."""
        if self._partial:
            partial, self._partial = self._partial, b""
            self._line(partial)

    def close(self) -> None:
        if self._open:
            self._open = False
            self._loop.remove_reader(self._fd)
            os.close(self._fd)


class LogShipper:
    """Buffers log events per stream and hands them to the sink from one task.

    ``emit`` is what the invoke path calls: an append and, at most once per batch, a
    wake-up. Delivery happens ``interval`` seconds later, in CloudWatch-sized batches.
    """

    def __init__(self, sink: LogSink, interval: float = 0.05) -> None:
        self._sink = sink
        self._interval = interval
        self._pending: dict[LogStream, list[LogEvent]] = {}
        self._count = 0
        self._dropped = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def emit(self, key: LogStream, event: LogEvent) -> None:
        if self._count >= MAX_BUFFERED_EVENTS:
            self._dropped += 1
            return
        batch = self._pending.get(key)
        if batch is None:
            self._pending[key] = [event]
        else:
            batch.append(event)
        self._count += 1
        if not self._wake.is_set():
            self._wake.set()

    async def _run(self) -> None:
        while not self._closing:
            await self._wake.wait()
            if not self._closing:
                await asyncio.sleep(self._interval)  # let a batch gather
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Deliver everything buffered so far."""
        if self._dropped:
            log.warning("log sink too slow: dropped %d log events", self._dropped)
            self._dropped = 0
        pending, self._pending, self._count = self._pending, {}, 0
        for key, events in pending.items():
            for batch in _batches(events):
                try:
                    await self._sink(key, batch)
                except Exception:  # a failing sink must not stop log delivery
                    log.exception("log sink failed for %s %s", key.log_group, key.log_stream)

    async def close(self, timeout: float = 5.0) -> None:
        """Deliver what is left, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                log.warning("log sink did not finish within %.1f s", timeout)
            self._task = None
        if self._pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush(), timeout)


def _batches(events: list[LogEvent]) -> list[list[LogEvent]]:
    if len(events) <= MAX_BATCH_EVENTS and sum(len(e.message) for e in events) < (
        MAX_BATCH_BYTES // 4 - 26 * len(events)  # fast path: safe even if all 4-byte chars
    ):
        return [events]
    batches: list[list[LogEvent]] = []
    batch: list[LogEvent] = []
    size = 0
    for event in events:
        event_size = len(event.message.encode()) + 26
        if batch and (len(batch) >= MAX_BATCH_EVENTS or size + event_size > MAX_BATCH_BYTES):
            batches.append(batch)
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        batches.append(batch)
    return batches
