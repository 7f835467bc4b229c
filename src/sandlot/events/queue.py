"""A durable work queue drained by one worker task: the pattern behind Lambda's Event
invocations and S3's notification outbox.

Rows live in a store table with an arrival ``seq`` and a ``not_before`` time (back-off).
The worker takes due rows in ``seq`` order, at most ``max_in_flight`` at a time, and
hands each to ``deliver``, which removes or reschedules its row.

The store is the truth; what the worker keeps in memory only saves queries. A row just
written is announced with ``added(key)``: the worker fetches that row by key (which also
shows whether its transaction committed) instead of querying every due row. A full
query of due rows ("rescan") runs when a back-off comes due (the worker sleeps until
the earliest known one, at most ``poll_s``) and when a finished row freed room the
worker had run out of; when a row of an ordering group finishes, the group's next row
is looked up by itself.

Ordering (``order_column``): rows with the same non-NULL value run one at a time in
``seq`` order. A row runs only when no earlier row of its group is still in the table,
whether that one is running or backing off, so a retried delivery holds back the later
ones of its group (FIFO).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sandlot.store import Store, Table

log = logging.getLogger("sandlot.events")

PAGE = 256  # due rows read per query while looking for runnable ones


class DrainedQueue:
    """Subclasses set ``table``, ``key`` (the row's identifying column), the limits,
    optionally ``order_column``, and implement ``deliver``."""

    table: Table
    key: str
    order_column: str | None = None
    max_in_flight: int = 16
    poll_s: float = 1.0

    def __init__(self, store: Store) -> None:
        self._store = store
        self._wake = asyncio.Event()
        self._running: set[Any] = set()  # keys of rows being handled
        self._running_groups: set[Any] = set()  # their ordering groups
        self._fresh: list[Any] = []  # keys added since the worker last looked
        self._finished_groups: list[Any] = []  # groups whose running row finished
        self._rescan = True  # the next round queries every due row
        self._next_due: float | None = None  # earliest known back-off, if any
        self._saturated = False  # the last round ran out of room
        self._loop: asyncio.AbstractEventLoop | None = None  # the worker's
        self._seq = int(time.time() * 1e6)

    def next_seq(self) -> int:
        """A sequence number after every earlier one, across restarts (clock-based)."""
        self._seq = max(self._seq + 1, int(time.time() * 1e6))
        return self._seq

    def wake(self) -> None:
        """Make the worker look (safe from a thread: a transaction may run on one)."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if self._loop is None or current is self._loop:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    def added(self, key: Any) -> None:
        """A row was written, in a transaction that may still be open: the worker looks
        it up by key once that transaction has committed (its reads see only committed
        rows, and a group commit may end on another thread after this event-loop step;
        a rolled-back transaction drops the wake-up)."""

        def look() -> None:
            self._fresh.append(key)
            self.wake()

        self._store.after_commit(look)

    def rescheduled(self, when: float) -> None:
        """A row's ``not_before`` was moved to ``when`` (a back-off)."""

        def look() -> None:
            self._next_due = when if self._next_due is None else min(self._next_due, when)
            self.wake()

        self._store.after_commit(look)

    def pending(self) -> int:
        return self._store.count(self.table)

    async def run(self) -> None:
        """Drain the queue forever (cancel the task to stop)."""
        tasks: set[asyncio.Task] = set()
        self._loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            room = self.max_in_flight - len(tasks)
            if self._rescan:
                self._rescan, self._fresh, self._finished_groups = False, [], []
                rows = self._due(room)
            else:
                rows = self._take_fresh(room)
            for row in rows:
                self._running.add(row[self.key])
                if self.order_column and row[self.order_column] is not None:
                    self._running_groups.add(row[self.order_column])
                task = asyncio.create_task(self._handle(row))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if len(rows) >= room:  # more may be waiting: look again when room frees
                self._saturated = True
            timeout = self._sleep()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            except TimeoutError:
                self._rescan = True

    def _sleep(self) -> float:
        """Until the earliest back-off comes due, at most ``poll_s``. After a rescan the
        earliest is read from the store; between rescans back-offs are announced."""
        now = time.time()
        if self._next_due is None or self._next_due <= now:
            later = self._store.select(
                self.table, order_by=("not_before",), limit=1, bounds={"not_before": (now, None)}
            )
            self._next_due = later[0]["not_before"] if later else None
        if self._next_due is None:
            return self.poll_s
        return max(0.0, min(self.poll_s, self._next_due - now))

    def _due(self, room: int) -> list[dict]:
        """Up to ``room`` runnable due rows in ``seq`` order. Only rows already due are
        read: rows backing off must not hide due ones behind them."""
        picked: list[dict] = []
        after = None
        now = time.time()
        seen: dict[Any, bool] = {}  # a group's first row in this scan decides it
        while len(picked) < room:
            rows = self._store.select(
                self.table,
                order_by=("seq",),
                after=after,
                limit=PAGE,
                bounds={"not_before": (None, now)},
            )
            picked += [r for r in rows if self._runnable(r, seen)][: room - len(picked)]
            if len(rows) < PAGE:
                break
            after = {"seq": rows[-1]["seq"]}
        return picked

    def _take_fresh(self, room: int) -> list[dict]:
        """The rows added since the last round and the next rows of finished groups,
        by key; no query of every due row."""
        fresh, self._fresh = self._fresh, []
        groups, self._finished_groups = self._finished_groups, []
        for group in groups:
            fresh += [r[self.key] for r in self._first_of(group)]
        picked: list[dict] = []
        now = time.time()
        for key in fresh:
            row = self._store.get(self.table, key)
            if row is None or not self._runnable(row, {}):
                continue  # rolled back, or already taken, or held by its group
            if row["not_before"] > now:
                self.rescheduled(row["not_before"])
            elif len(picked) < room:
                picked.append(row)
            else:
                self._rescan = True  # no room: the rescan after a task ends finds it
        return picked

    def _runnable(self, row: dict, seen: dict[Any, bool]) -> bool:
        """Not running, and the first row of its ordering group (``seen``: groups
        already met in this scan, of which only the first row may run)."""
        if row[self.key] in self._running:
            return False
        group = row[self.order_column] if self.order_column else None
        if group is None:
            return True
        if group in self._running_groups or group in seen:
            return False
        first = self._first_of(group)
        seen[group] = True
        return bool(first) and first[0][self.key] == row[self.key]

    def _first_of(self, group: Any) -> list[dict]:
        return self._store.select(
            self.table, {self.order_column: group}, order_by=("seq",), limit=1
        )

    async def _handle(self, row: dict) -> None:
        group = row[self.order_column] if self.order_column else None
        try:
            await self.deliver(row)
        except Exception:  # a bug must not make the row due again at once, forever
            log.exception("%s: handling %s failed", self.table.name, row[self.key])
            when = time.time() + self.poll_s
            self._store.put(self.table, {**row, "not_before": when})
            self.rescheduled(when)
        finally:
            self._running.discard(row[self.key])
            self._running_groups.discard(group)
            if group is not None:  # its group's next row may run now
                self._finished_groups.append(group)
                self._wake.set()
            if self._saturated:  # room freed for rows the last round left
                self._saturated = False
                self._rescan = True
                self._wake.set()

    async def deliver(self, row: dict) -> None:
        """Do the row's work, then delete the row or reschedule it (``not_before``,
        then ``rescheduled``)."""
        raise NotImplementedError
