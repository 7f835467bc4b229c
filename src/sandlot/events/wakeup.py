"""Wake-ups: how a waiter learns that durable rows with a due time may be ready.

The durable half of sandlot's "Time" facility is data: rows carry the time they become
due (an SQS message's ``visible_at``, a retry's ``not_before``), so nothing sleeps in a
request and whatever came due while the server was down is simply due when it is back.
This module is the in-memory half: a waiter (a long-polling ReceiveMessage, a mapping
poller) sleeps until the earliest of its deadline, the next due time it read from the
rows, or a ``notify`` for its key from whoever wrote a row that is due now.

    ready = await wakeups.wait("queue-arn", until=min(deadline, next_due))
    ...
    wakeups.notify("queue-arn")  # after the commit that made a row due

``notify`` wakes every waiter of the key (each re-reads the rows; losers of the race
wait again). A waiter that reads the rows and then waits would miss a ``notify`` that
comes in between (its read is awaited; the commit's notify runs meanwhile): it takes
``mark(key)`` before reading and passes it as ``since``, and ``wait`` returns at once if
the key was notified after the mark.

    since = wakeups.mark("stream-arn")
    rows = await read()
    if not rows:
        await wakeups.wait("stream-arn", until, since=since)
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict


class Wakeups:
    """Keyed wake-up signals for waiters on durable, time-stamped rows."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future]] = defaultdict(set)
        self._notified: dict[str, int] = defaultdict(int)  # notifies per key, for ``mark``

    def mark(self, key: str) -> int:
        """Where ``key``'s notifications stand now (see ``wait``'s ``since``)."""
        return self._notified[key]

    def notify(self, key: str) -> None:
        """Wake every current waiter of ``key`` (call after the commit, not before)."""
        self._notified[key] += 1
        waiters = self._waiters.pop(key, None)
        for future in waiters or ():
            if not future.done():
                future.set_result(True)

    def waiting(self, key: str) -> int:
        """How many waiters ``key`` has (for tests and counters)."""
        return len(self._waiters.get(key, ()))

    async def wait(self, key: str, until: float, *, since: int | None = None) -> bool:
        """Sleep until ``notify(key)`` or the wall-clock time ``until``; True if notified
        (at once if ``key`` was notified after the ``mark`` ``since``)."""
        if since is not None and self._notified[key] != since:
            return True
        remaining = until - time.time()
        if remaining <= 0:
            return False
        future = asyncio.get_running_loop().create_future()
        self._waiters[key].add(future)
        try:
            return await asyncio.wait_for(future, remaining)
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    del self._waiters[key]
