"""events/wakeup.py: a notify between a reader's mark and its wait is not lost."""

from __future__ import annotations

import asyncio
import time

from sandlot.events.wakeup import Wakeups


def test_a_notify_after_the_mark_wakes_the_wait_at_once():
    async def scenario() -> None:
        wakeups = Wakeups()
        since = wakeups.mark("k")
        wakeups.notify("k")  # while the reader was reading: nobody waited yet
        began = time.monotonic()
        assert await wakeups.wait("k", time.time() + 5, since=since) is True
        assert time.monotonic() - began < 1
        # With nothing new since the mark, it waits (here until its deadline).
        assert await wakeups.wait("k", time.time() + 0.05, since=wakeups.mark("k")) is False
        assert wakeups.mark("other") == 0

    asyncio.run(scenario())
