"""The durable timer facility: rows with a due time, fired by one worker, across restarts."""

from __future__ import annotations

import asyncio
import threading
import time

from sandlot.config import Settings
from sandlot.events.timers import TIMERS, Timers
from sandlot.platform import Platform
from sandlot.store import Migration, Store, Table

NOTES = Table("notes", columns={"id": "TEXT", "text": "TEXT"}, key=("id",))


async def _until(predicate, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def _timers(tmp_path, **kw) -> Timers:
    return Timers(Store(tmp_path / "db.sqlite"), **kw)


def test_a_timer_fires_at_its_due_time_not_before_and_is_removed(tmp_path):
    timers = _timers(tmp_path)
    fired: list[tuple[str, object, float]] = []
    timers.register("t:x", lambda t: fired.append((t.key, t.data, time.time())))

    async def main():
        worker = asyncio.create_task(timers.run())
        due = time.time() + 0.2
        timers.arm("t:x", "k", due, {"n": 1})
        await _until(lambda: fired)
        worker.cancel()
        return due

    due = asyncio.run(main())
    assert fired[0][:2] == ("k", {"n": 1})
    assert due <= fired[0][2] < due + 0.5
    assert timers.pending() == 0


def test_an_earlier_arm_wakes_a_worker_sleeping_for_a_later_timer(tmp_path):
    timers = _timers(tmp_path)
    fired: list[str] = []
    timers.register("t:x", lambda t: fired.append(t.key))

    async def main():
        timers.arm("t:x", "late", time.time() + 3600)
        worker = asyncio.create_task(timers.run())
        await asyncio.sleep(0.05)  # the worker is asleep until the late one
        started = time.monotonic()
        timers.arm("t:x", "soon", time.time() + 0.05)
        await _until(lambda: fired)
        worker.cancel()
        return time.monotonic() - started

    assert asyncio.run(main()) < 0.5
    assert fired == ["soon"] and timers.pending() == 1


def test_an_arm_from_another_thread_wakes_the_worker(tmp_path):
    timers = _timers(tmp_path)
    fired: list[str] = []
    timers.register("t:x", lambda t: fired.append(t.key))

    async def main():
        worker = asyncio.create_task(timers.run())
        await asyncio.sleep(0.05)
        thread = threading.Thread(target=timers.arm, args=("t:x", "k", time.time()))
        thread.start()
        thread.join()
        await _until(lambda: fired, 1.0)
        worker.cancel()

    asyncio.run(main())


def test_re_arming_replaces_and_cancel_removes(tmp_path):
    timers = _timers(tmp_path)
    fired: list[object] = []
    timers.register("t:x", lambda t: fired.append(t.data))

    async def main():
        worker = asyncio.create_task(timers.run())
        timers.arm("t:x", "k", time.time() + 0.1, "first")
        timers.arm("t:x", "k", time.time() + 0.2, "second")
        timers.arm("t:x", "gone", time.time() + 0.1, "cancelled")
        assert timers.pending("t:x") == 2
        assert timers.cancel("t:x", "gone") is True
        assert timers.cancel("t:x", "gone") is False
        await _until(lambda: fired)
        await asyncio.sleep(0.3)
        worker.cancel()

    asyncio.run(main())
    assert fired == ["second"]


def test_a_sync_handler_commits_with_the_removal_of_its_timer(tmp_path):
    timers = _timers(tmp_path)
    store = timers._store
    store.migrate("notes", [Migration(1, create=NOTES)])
    calls = []

    def handler(timer):
        calls.append(timer.attempts)
        store.put(NOTES, {"id": f"n{len(calls)}", "text": "written"})
        if len(calls) == 1:
            raise RuntimeError("boom")  # its write is rolled back with the failure

    timers.register("t:x", handler)
    timers.retry_base_s = 0.05

    async def main():
        worker = asyncio.create_task(timers.run())
        timers.arm("t:x", "k", time.time())
        await _until(lambda: len(calls) == 2)
        await _until(lambda: timers.pending() == 0)
        worker.cancel()

    asyncio.run(main())
    assert calls == [0, 1]
    assert [r["id"] for r in store.select(NOTES)] == ["n2"]


def test_a_raising_handler_is_retried_with_back_off_never_lost_never_spinning(tmp_path):
    timers = _timers(tmp_path, retry_base_s=0.05, retry_max_s=0.2)
    times: list[float] = []

    async def handler(timer):
        times.append(time.monotonic())
        if len(times) < 4:
            raise ValueError("not yet")

    timers.register("t:x", handler)

    async def main():
        worker = asyncio.create_task(timers.run())
        timers.arm("t:x", "k", time.time())
        await asyncio.sleep(0.08)
        row = timers._store.get(TIMERS, "t:x", "k")
        assert row["attempts"] >= 1 and "ValueError: not yet" in row["last_error"]
        await _until(lambda: len(times) == 4)
        await _until(lambda: timers.pending() == 0)
        worker.cancel()

    asyncio.run(main())
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095 and gaps[2] >= 0.19  # 0.05, 0.1, 0.2


def test_a_handler_may_re_arm_its_own_timer(tmp_path):
    timers = _timers(tmp_path)
    fired: list[int] = []

    def every(timer):
        fired.append(timer.data)
        if timer.data < 3:
            timers.arm(timer.kind, timer.key, time.time() + 0.02, timer.data + 1)

    timers.register("t:x", every)

    async def main():
        worker = asyncio.create_task(timers.run())
        timers.arm("t:x", "k", time.time(), 1)
        await _until(lambda: len(fired) == 3)
        await _until(lambda: timers.pending() == 0)
        worker.cancel()

    asyncio.run(main())
    assert fired == [1, 2, 3]


def test_a_kind_without_a_handler_is_resolved_then_fired(tmp_path):
    fired: list[str] = []
    resolved: list[str] = []

    def resolve(kind):
        resolved.append(kind)
        timers.register(kind, lambda t: fired.append(t.key))

    timers = _timers(tmp_path, resolve=resolve)

    async def main():
        worker = asyncio.create_task(timers.run())
        timers.arm("svc:thing", "k", time.time())
        await _until(lambda: fired)
        worker.cancel()

    asyncio.run(main())
    assert resolved == ["svc:thing"]


def test_timers_due_during_a_restart_fire_after_it_in_due_order(tmp_path):
    first = Platform(Settings(), tmp_path)
    now = time.time()
    with first.store.transaction():
        first.timers.arm("t:x", "b", now + 0.1, "b")
        first.timers.arm("t:x", "a", now + 0.05, "a")
        first.timers.arm("t:x", "later", now + 3600, "later")
    first.close()
    time.sleep(0.15)  # the server is down while they come due

    second = Platform(Settings(), tmp_path)
    fired: list[str] = []
    second.timers.register("t:x", lambda t: fired.append(t.data))

    async def main():
        worker = asyncio.create_task(second.timers.run())
        await _until(lambda: len(fired) == 2)
        await asyncio.sleep(0.05)
        worker.cancel()

    asyncio.run(main())
    assert fired == ["a", "b"]
    assert second.timers.get("t:x", "later").due == now + 3600
    second.close()


def test_an_async_handler_interrupted_by_shutdown_fires_again_after_restart(tmp_path):
    first = Platform(Settings(), tmp_path)
    entered: list[str] = []

    async def slow(timer):
        entered.append(timer.key)
        await asyncio.sleep(60)

    first.timers.register("t:x", slow)

    async def run_first():
        worker = asyncio.create_task(first.timers.run())
        first.timers.arm("t:x", "k", time.time())
        await _until(lambda: entered)
        worker.cancel()  # stop while the handler runs: the row stays
        await asyncio.sleep(0)

    asyncio.run(run_first())
    first.close()

    second = Platform(Settings(), tmp_path)
    fired: list[str] = []
    second.timers.register("t:x", lambda t: fired.append(t.key))

    async def run_second():
        worker = asyncio.create_task(second.timers.run())
        await _until(lambda: fired)
        worker.cancel()

    asyncio.run(run_second())
    assert fired == ["k"] and second.timers.pending() == 0
    second.close()
