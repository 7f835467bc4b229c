"""How sandlot's own services take part in X-Ray traces: the trace header, the sampling
decision and the upload of the segments they record (Lambda's Active tracing, API
Gateway's traced stages). One place, so every service samples and uploads alike.

Sampling: a header's ``Sampled=1``/``0`` from upstream is honoured; without one the
service decides by X-Ray's default rule (the first request each second, then 5 %), each
service with its own reservoir as in AWS. The segments are written off the request
path, through X-Ray's PutTraceSegments, in batches: one call per uploader principal a
second (``FLUSH_S``, the longest the X-Ray daemon holds a segment) after the first
document waits, or at once when ``BATCH_SIZE`` wait. Each call costs an IAM check and a
commit (~1 ms with its parsing, here): at Lambda's 5 % sampling of ~2,800 invokes a
second, uploading 50 documents at a time as the daemon does cost 1.6 % more server CPU
per invoke than once a second (two builds side by side, docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import urllib.parse
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from sandlot.protocol import json_dumps

if TYPE_CHECKING:
    from sandlot.iam.principal import Principal
    from sandlot.platform import Platform

log = logging.getLogger(__name__)

# AWS's default rule: the first request each second, and 5 % of any more.
DEFAULT_RESERVOIR = 1
DEFAULT_RATE = 0.05
FLUSH_S = 1.0  # a batch is uploaded this long after its first document waits
BATCH_SIZE = 500  # or at once with this many documents (one bounded transaction)


def fields(header: str | None) -> list[tuple[str, str]]:
    """The ``key=value`` fields of an ``X-Amzn-Trace-Id`` header, in order."""
    text = header or ""
    if "%" in text:  # the SDKs percent-encode the Lineage field's ``|``
        text = urllib.parse.unquote(text)
    pairs = []
    for part in text.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            pairs.append((key.strip(), value.strip()))
    return pairs


def join(pairs: list[tuple[str, str]]) -> str:
    return ";".join(f"{k}={v}" for k, v in pairs)


_ids = random.Random(os.urandom(16))


def new_id() -> str:
    """A segment or subsegment id: 64 random bits in hex. Ids need to be unique, not
    secret (the X-Ray SDKs' are as public as the trace): a seeded generator makes them
    without a system call each."""
    return f"{_ids.getrandbits(64):016x}"


class Sampler:
    """X-Ray's default sampling rule, for one service."""

    def __init__(self) -> None:
        self._second = 0
        self._taken = 0
        self._random = random.Random()

    def decide(self, upstream: str | None) -> bool:
        """Whether to record this request: as ``upstream``'s header decided, if it did."""
        if upstream and "Sampled" in upstream:  # most requests come without a decision
            decided = dict(fields(upstream)).get("Sampled")
            if decided in ("0", "1"):
                return decided == "1"
        now = int(time.time())
        if now != self._second:
            self._second, self._taken = now, 0
        if self._taken < DEFAULT_RESERVOIR:
            self._taken += 1
            return True
        return self._random.random() < DEFAULT_RATE


class Uploader:
    """Segment documents batched per uploader and region, then written with
    PutTraceSegments as the uploader's principal (so IAM decides, as for a function's
    role). The principal is resolved once per batch (a function's role session reads its
    role), and the documents serialised at the upload: neither is on the request path."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._tasks: set[asyncio.Task] = set()
        self._pending: dict[tuple[Hashable, str], tuple[Callable[[], Principal], list]] = {}
        self._flush: asyncio.TimerHandle | None = None

    def add(
        self,
        uploader: Hashable,
        principal: Callable[[], Principal],
        region: str,
        documents: list[dict],
    ) -> None:
        """Queue ``documents`` for upload as ``principal()`` (``uploader`` names it)."""
        key = (uploader, region)
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = (principal, [])
        entry[1].extend(documents)
        if len(entry[1]) >= BATCH_SIZE:
            del self._pending[key]
            self._send(entry[0], region, entry[1])
        elif self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(FLUSH_S, self._flush_now)

    def _flush_now(self) -> None:
        self._flush = None
        pending, self._pending = self._pending, {}
        for (_, region), (principal, documents) in pending.items():
            self._send(principal, region, documents)

    def _send(self, principal: Callable[[], Principal], region: str, documents: list) -> None:
        task = asyncio.get_running_loop().create_task(self._put(principal, region, documents))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _put(
        self, principal: Callable[[], Principal], region: str, documents: list[dict]
    ) -> None:
        who = None
        try:
            who = principal()
            texts = [json_dumps(d).decode() for d in documents]
            answer = await self.platform.call(
                "xray",
                "PutTraceSegments",
                {"TraceSegmentDocuments": texts},
                principal=who,
                region=region,
                record_decisions=False,
            )
            for bad in answer.get("UnprocessedTraceSegments") or ():
                log.warning("X-Ray segment refused: %s", bad)
        except Exception:
            log.exception("X-Ray segments uploaded as %s were lost", who.arn if who else "?")
