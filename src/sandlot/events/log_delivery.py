"""Delivery of function logs into CloudWatch Logs: the execution engine's ``LogSink``.

The engine batches an environment's lines and calls ``LogDelivery`` off the invoke
path; it writes them with the internal client (``platform.call``), creating the log
group and stream on first use, as Lambda does.

Principal: the function's execution role (a session of it, as the function's own
credentials are). In AWS the Lambda service writes logs with the execution role, so a
role that may not ``logs:CreateLogStream`` / ``logs:PutLogEvents`` on its log group
loses them: sandlot drops them too, and says so once per function in the server log.
``logs:CreateLogGroup`` may be denied where the group exists already. These decisions
stay out of IAM's decision log: `sandlot iam suggest` reports what the code called.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from sandlot.execution.api import LogEvent, LogStream
from sandlot.protocol import ServiceError

log = logging.getLogger(__name__)

# PutLogEvents limits: 10,000 events, 1,048,576 bytes (each message's UTF-8 size plus
# 26), and at most 24 hours between the first and last event of a batch.
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000

# Streams remembered as existing; past this many the memory is simply started afresh
# (a forgotten stream costs one CreateLogStream answered ResourceAlreadyExists).
MAX_REMEMBERED_STREAMS = 10_000

_DENIED = ("AccessDeniedException", "AccessDenied")

FunctionKey = tuple[str, str, str]  # account, region, function name


def batches(events: list[LogEvent]) -> Iterator[list[dict]]:
    """``events`` in chronological order as PutLogEvents-sized ``logEvents`` lists."""
    batch: list[dict] = []
    size = 0
    for event in sorted(events, key=lambda e: e.timestamp_ms):  # stable: keeps line order
        cost = len(event.message.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD_BYTES
        if batch and (
            len(batch) == MAX_BATCH_EVENTS
            or size + cost > MAX_BATCH_BYTES
            or event.timestamp_ms - batch[0]["timestamp"] > MAX_BATCH_SPAN_MS
        ):
            yield batch
            batch, size = [], 0
        batch.append({"timestamp": event.timestamp_ms, "message": event.message})
        size += cost
    if batch:
        yield batch


class _Denied(Exception):
    """The function's role may not write its logs."""


class LogDelivery:
    """``LogDelivery(platform)`` is a ``LogSink``: ``await delivery(stream, events)``
    stores the events as the function's role, creating group and stream if needed."""

    def __init__(self, platform) -> None:
        self._platform = platform
        self._ready: set[LogStream] = set()  # streams known to exist
        self._denied: set[FunctionKey] = set()  # functions whose dropping was reported

    async def __call__(self, stream: LogStream, events: list[LogEvent]) -> None:
        try:
            for batch in batches(events):
                await self._deliver(stream, batch)
        except _Denied as denied:
            key = (stream.account_id, stream.region, stream.function_name)
            if key not in self._denied:
                self._denied.add(key)
                log.warning(
                    "logs of function %s are dropped, as in AWS: its role %s may not write "
                    "to log group %s (%s)",
                    stream.function_name,
                    stream.role_arn,
                    stream.log_group,
                    denied,
                )
            return
        self._denied.discard((stream.account_id, stream.region, stream.function_name))

    async def _deliver(self, stream: LogStream, batch: list[dict]) -> None:
        if stream not in self._ready:
            await self._create(stream)
        try:
            await self._put(stream, batch)
        except ServiceError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            # The group or stream was deleted since: create it again, as Lambda does.
            self._ready.discard(stream)
            await self._create(stream)
            await self._put(stream, batch)

    async def _create(self, stream: LogStream) -> None:
        group = stream.log_group
        with contextlib.suppress(_Denied):  # the group may exist; creating the stream tells
            await self._ignore_existing(stream, "CreateLogGroup", {"logGroupName": group})
        params = {"logGroupName": group, "logStreamName": stream.log_stream}
        try:
            await self._ignore_existing(stream, "CreateLogStream", params)
        except ServiceError as exc:
            if exc.code == "ResourceNotFoundException":  # no group, and none may be made
                raise _Denied(f"log group {group} does not exist") from None
            raise
        if len(self._ready) >= MAX_REMEMBERED_STREAMS:
            self._ready.clear()
        self._ready.add(stream)

    async def _put(self, stream: LogStream, batch: list[dict]) -> None:
        params = {
            "logGroupName": stream.log_group,
            "logStreamName": stream.log_stream,
            "logEvents": batch,
        }
        result = await self._call(stream, "PutLogEvents", params)
        if result.get("rejectedLogEventsInfo"):
            log.warning(
                "CloudWatch Logs rejected events for %s %s: %s",
                stream.log_group,
                stream.log_stream,
                result,
            )

    async def _ignore_existing(self, stream: LogStream, operation: str, params: dict) -> None:
        try:
            await self._call(stream, operation, params)
        except ServiceError as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise

    async def _call(self, stream: LogStream, operation: str, params: dict) -> dict:
        principal = self._platform.function_principal(stream.role_arn, stream.function_name)
        try:
            return await self._platform.call(
                "logs",
                operation,
                params,
                principal=principal,
                region=stream.region,
                record_decisions=False,  # Lambda's doing, not the function code's
            )
        except ServiceError as exc:
            if exc.code in _DENIED:
                raise _Denied(f"logs:{operation} denied") from None
            raise
