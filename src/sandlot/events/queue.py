"""A durable work queue drained by one worker task: the pattern behind Lambda's Event
invocations and S3's notification outbox.

Rows live in a store table with an arrival ``seq`` and a ``not_before`` time (back-off).
The worker takes due rows in ``seq`` order, at most ``max_in_flight`` at a time, and
hands each to ``deliver``, which removes or reschedules its row; it wakes when work is
added (``wake``), when the earliest back-off comes due, and at least every ``poll_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from sandlot.store import Store, Table


class DrainedQueue:
    """Subclasses set ``table``, ``key`` (the row's identifying column), the limits, and
    implement ``deliver``."""

    table: Table
    key: str
    max_in_flight: int = 16
    poll_s: float = 1.0

    def __init__(self, store: Store) -> None:
        self._store = store
        self._wake = asyncio.Event()
        self._running: set[Any] = set()
        self._seq = int(time.time() * 1e6)

    def next_seq(self) -> int:
        """A sequence number after every earlier one, across restarts (clock-based)."""
        self._seq = max(self._seq + 1, int(time.time() * 1e6))
        return self._seq

    def wake(self) -> None:
        self._wake.set()

    def pending(self) -> int:
        return self._store.count(self.table)

    async def run(self) -> None:
        """Drain the queue forever (cancel the task to stop)."""
        tasks: set[asyncio.Task] = set()
        while True:
            self._wake.clear()
            for row in self._due(self.max_in_flight - len(tasks)):
                self._running.add(row[self.key])
                task = asyncio.create_task(self._handle(row))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._sleep())

    def _sleep(self) -> float:
        """Until the next back-off comes due, at most ``poll_s``."""
        now = time.time()
        later = self._store.select(
            self.table, order_by=("not_before",), limit=1, bounds={"not_before": (now, None)}
        )
        return min(self.poll_s, later[0]["not_before"] - now) if later else self.poll_s

    def _due(self, room: int) -> list[dict]:
        if room <= 0:
            return []
        now = time.time()
        # Only rows already due: rows backing off must not hide due ones behind them.
        rows = self._store.select(
            self.table,
            order_by=("seq",),
            limit=room + len(self._running),
            bounds={"not_before": (None, now)},
        )
        return [r for r in rows if r[self.key] not in self._running][:room]

    async def _handle(self, row: dict) -> None:
        try:
            await self.deliver(row)
        finally:
            self._running.discard(row[self.key])
            self._wake.set()

    async def deliver(self, row: dict) -> None:
        """Do the row's work, then delete the row or reschedule it (``not_before``)."""
        raise NotImplementedError
