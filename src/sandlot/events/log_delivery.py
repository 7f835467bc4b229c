"""Delivery of function logs into CloudWatch Logs: the execution engine's ``LogSink``.

The engine batches an environment's lines and calls ``LogDelivery`` off the invoke
path; it writes them with the internal client (``platform.call``), creating the log
group and stream on first use, as Lambda does.

Principal: the account's root. In AWS the Lambda service writes with the function's
execution role, so a role without ``logs:PutLogEvents`` silently loses its logs; the
engine's sink is not told the role, so sandlot delivers as the account itself —
logs always arrive, and requests still run through the same provider (and, once IAM
lands, the same authorisation path) as external ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from sandlot.execution.api import LogEvent
from sandlot.iam.principal import Principal
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

StreamKey = tuple[str, str, str, str]


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


class LogDelivery:
    """``LogDelivery(platform)`` is a ``LogSink``: ``await delivery(account, region,
    group, stream, events)`` stores the events, creating group and stream if needed."""

    def __init__(self, platform) -> None:
        self._platform = platform
        self._ready: set[StreamKey] = set()  # streams known to exist

    async def __call__(
        self,
        account_id: str,
        region: str,
        log_group: str,
        log_stream: str,
        events: list[LogEvent],
    ) -> None:
        key = (account_id, region, log_group, log_stream)
        for batch in batches(events):
            if key not in self._ready:
                await self._create(key)
            try:
                await self._put(key, batch)
            except ServiceError as exc:
                if exc.code != "ResourceNotFoundException":
                    raise
                # The group or stream was deleted since: create it again, as Lambda does.
                self._ready.discard(key)
                await self._create(key)
                await self._put(key, batch)

    async def _create(self, key: StreamKey) -> None:
        _, _, group, stream = key
        await self._ignore_existing(key, "CreateLogGroup", {"logGroupName": group})
        await self._ignore_existing(
            key, "CreateLogStream", {"logGroupName": group, "logStreamName": stream}
        )
        if len(self._ready) >= MAX_REMEMBERED_STREAMS:
            self._ready.clear()
        self._ready.add(key)

    async def _put(self, key: StreamKey, batch: list[dict]) -> None:
        _, _, group, stream = key
        result = await self._call(
            key,
            "PutLogEvents",
            {"logGroupName": group, "logStreamName": stream, "logEvents": batch},
        )
        if result.get("rejectedLogEventsInfo"):
            log.warning("CloudWatch Logs rejected events for %s %s: %s", group, stream, result)

    async def _ignore_existing(self, key: StreamKey, operation: str, params: dict) -> None:
        try:
            await self._call(key, operation, params)
        except ServiceError as exc:
            if exc.code != "ResourceAlreadyExistsException":
                raise

    async def _call(self, key: StreamKey, operation: str, params: dict) -> dict:
        account_id, region, _, _ = key
        return await self._platform.call(
            "logs", operation, params, principal=Principal.root(account_id), region=region
        )
