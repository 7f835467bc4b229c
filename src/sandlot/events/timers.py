"""The durable timer facility: work that must happen at a time, across restarts.

A timer is a row ``(kind, key) -> due, data`` in the store. ``arm`` writes it in the
caller's transaction; arming the same ``(kind, key)`` again replaces it (one pending timer
per key: re-arming a schedule moves it, it never doubles it); ``cancel`` removes it. One
worker (``run``, started by ``Platform.start``) sleeps until the earliest due row, or until
an ``arm`` makes an earlier one (``events/wakeup.py`` is that in-memory half), and hands
each due timer to the handler registered for its kind. Whatever came due while the
server was down is due when it is back and fires then, in due order.

Handlers (``register(kind, handler)``, at platform or provider construction, like the
delivery path's hooks):

- kinds are ``"<service>:<name>"``: a due timer whose kind has no handler yet makes the
  platform create that service's provider, which registers its handlers in ``__init__``,
  so a timer armed before a restart fires even if nothing touched its service since;
- a plain function runs inside the transaction that removes the timer: its writes (a
  delivery staged, a state changed) and the removal commit together;
- a coroutine function is awaited, then the timer is removed: a crash in between fires
  it again after the restart;
- a handler that raises is logged, and its timer stays, due again after a back-off
  (``retry_base_s`` doubling up to ``retry_max_s``; ``Timer.attempts`` counts them):
  never lost, never a tight loop;
- a handler may re-arm its own ``(kind, key)`` (a rate schedule arming its next firing):
  each arming has its own ``generation`` and the worker removes only the one it fired.

Firing is AT LEAST ONCE: a timer can fire twice (a crash after an async handler ran, a
re-arm racing a firing), so a handler checks the state it acts on (is the execution
still waiting? is the rule still enabled?) and is idempotent.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sandlot.events.wakeup import Wakeups
from sandlot.store import Migration, Store, Table

log = logging.getLogger("sandlot.events")

TIMERS = Table(
    "timers",
    columns={
        "kind": "TEXT",  # "<service>:<name>": picks the handler
        "key": "TEXT",  # what the timer is for (an ARN, an execution id…)
        "due": "REAL",  # epoch seconds
        "data": "TEXT",  # JSON handed to the handler
        "generation": "INTEGER",  # this arming (re-arming gives a new one)
        "armed_at": "REAL",
        "attempts": "INTEGER",  # failed firings of this arming
        "last_error": "TEXT",
    },
    key=("kind", "key"),
    indexes=(("due",),),
)
MIGRATIONS = [Migration(1, create=TIMERS)]

WAKE_KEY = "timers"
MAX_SLEEP_S = 60.0  # a safety net only: arms wake the worker themselves
MAX_IN_FLIGHT = 64


@dataclass(frozen=True)
class Timer:
    """A due timer as its handler sees it."""

    kind: str
    key: str
    due: float
    data: Any
    generation: int
    armed_at: float
    attempts: int  # earlier firings of this arming that raised

    @classmethod
    def from_row(cls, row: dict) -> Timer:
        return cls(
            row["kind"],
            row["key"],
            row["due"],
            json.loads(row["data"]) if row["data"] else None,
            row["generation"],
            row["armed_at"],
            row["attempts"],
        )


Handler = Callable[[Timer], Any] | Callable[[Timer], Awaitable[Any]]


class Timers:
    """The timers table and the worker that fires its due rows."""

    def __init__(
        self,
        store: Store,
        resolve: Callable[[str], object] | None = None,
        *,
        retry_base_s: float = 1.0,
        retry_max_s: float = 300.0,
    ) -> None:
        """``resolve(kind)`` is called once for a due kind with no handler (the platform
        creates the kind's provider there)."""
        self._store = store
        self._store.migrate("timers", MIGRATIONS)
        self._resolve = resolve
        self._handlers: dict[str, tuple[Handler, bool]] = {}
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self._wakeups = Wakeups()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._until = -math.inf  # when the sleeping worker looks next (-inf: not started)
        self._dirty = False  # an arm the worker may not have seen
        self._running: set[tuple[str, str]] = set()
        self._generation = int(time.time() * 1e6)

    def register(self, kind: str, handler: Handler) -> None:
        """The handler of ``kind``'s timers: ``handler(timer)``, a plain function (runs in
        the transaction that removes the timer) or a coroutine function."""
        self._handlers[kind] = (handler, inspect.iscoroutinefunction(handler))

    def arm(self, kind: str, key: str, due: float, data: Any = None) -> int:
        """Make ``(kind, key)`` fire at ``due`` (epoch seconds; past = as soon as
        possible), replacing a pending one. Call inside the transaction of the change
        that wants it. Returns the arming's generation."""
        self._generation = max(self._generation + 1, int(time.time() * 1e6))
        self._store.put(
            TIMERS,
            {
                "kind": kind,
                "key": key,
                "due": float(due),
                "data": json.dumps(data) if data is not None else None,
                "generation": self._generation,
                "armed_at": time.time(),
                "attempts": 0,
                "last_error": None,
            },
        )
        # Its reads see only committed rows: poke once the arming transaction commits.
        self._store.after_commit(lambda: self._poke(float(due)))
        return self._generation

    def cancel(self, kind: str, key: str) -> bool:
        """Remove the pending timer ``(kind, key)``; True if there was one. (A firing
        already under way still completes: handlers check their state.)"""
        return self._store.delete(TIMERS, kind, key)

    def get(self, kind: str, key: str) -> Timer | None:
        row = self._store.get(TIMERS, kind, key)
        return Timer.from_row(row) if row is not None else None

    def pending(self, kind: str | None = None) -> int:
        return self._store.count(TIMERS, {"kind": kind} if kind else None)

    # -- the worker -----------------------------------------------------------------

    def _poke(self, due: float) -> None:
        """Wake the worker if ``due`` is before it would look anyway (safe from any
        thread: a transaction may commit on one)."""
        if self._loop is None or due >= self._until:
            return
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is self._loop:
            self._wake()
        else:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._dirty = True
        self._wakeups.notify(WAKE_KEY)

    async def run(self) -> None:
        """Fire due timers forever (cancel the task to stop)."""
        self._loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task] = set()
        try:
            while True:
                self._dirty = False
                self._until = math.inf  # awake: any arm now must be seen
                now = time.time()
                room = MAX_IN_FLIGHT - len(self._running)
                rows = self._store.select(
                    TIMERS,
                    order_by=("due",),
                    limit=room + len(self._running),
                    bounds={"due": (None, now)},
                )
                rows = [r for r in rows if (r["kind"], r["key"]) not in self._running][:room]
                for row in rows:
                    self._running.add((row["kind"], row["key"]))
                    task = asyncio.create_task(self._fire(row))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                later = self._store.select(
                    TIMERS, order_by=("due",), limit=1, bounds={"due": (now, None)}
                )
                until = min(later[0]["due"] if later else math.inf, now + MAX_SLEEP_S)
                if len(rows) == room:  # maybe more due: look again when one finishes
                    until = now + MAX_SLEEP_S
                self._until = until
                if not self._dirty:
                    await self._wakeups.wait(WAKE_KEY, until)
        finally:
            self._until = -math.inf
            for task in tasks:
                task.cancel()

    def _handler(self, kind: str) -> tuple[Handler, bool] | None:
        if kind not in self._handlers and self._resolve is not None:
            try:
                self._resolve(kind)
            except Exception:
                log.exception("timers: resolving kind %s failed", kind)
        return self._handlers.get(kind)

    async def _fire(self, row: dict) -> None:
        timer = Timer.from_row(row)
        try:
            entry = self._handler(timer.kind)
            if entry is None:
                raise LookupError(f"no handler registered for timer kind {timer.kind}")
            handler, is_async = entry
            if is_async:
                await handler(timer)
                self._retire(timer)
            else:
                with self._store.transaction():
                    handler(timer)
                    self._retire(timer)
        except asyncio.CancelledError:
            raise  # shutting down: the row stays and fires after the restart
        except Exception as error:
            log.exception(
                "timer %s %s failed (attempt %d)", timer.kind, timer.key, timer.attempts + 1
            )
            try:
                self._back_off(timer, error)
            except Exception:
                log.exception("timer %s %s: recording the failure failed", timer.kind, timer.key)
        finally:
            self._running.discard((timer.kind, timer.key))
            self._wake()  # look again: this row may be due anew, or room freed

    def _retire(self, timer: Timer) -> None:
        """Remove the fired arming (a re-arm made during the firing stays)."""
        self._store.delete_where(
            TIMERS, {"kind": timer.kind, "key": timer.key, "generation": timer.generation}
        )

    def _back_off(self, timer: Timer, error: Exception) -> None:
        attempts = timer.attempts + 1
        wait = min(self.retry_max_s, self.retry_base_s * 2 ** (attempts - 1))
        with self._store.transaction():
            row = self._store.get(TIMERS, timer.kind, timer.key)
            if row is None or row["generation"] != timer.generation:
                return  # cancelled or re-armed meanwhile: that wins
            self._store.put(
                TIMERS,
                {
                    **row,
                    "due": time.time() + wait,
                    "attempts": attempts,
                    "last_error": f"{type(error).__name__}: {error}",
                },
            )
