"""Group commit of jobs (DynamoDB's item writes): concurrent jobs share a transaction,
each in its own savepoint, so a refused job is undone alone and the others commit."""

from __future__ import annotations

import asyncio
import threading

import pytest

from sandlot.store import Migration, Store, Table
from sandlot.store.group_commit import GroupCommit

ROWS = Table("rows", {"k": "TEXT", "v": "INTEGER"}, ("k",))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    s.migrate("rows", [Migration(1, create=ROWS)])
    yield s
    s.close()


def test_a_refused_job_is_undone_alone(store) -> None:
    queue = GroupCommit(store)

    def write(key: str, fail: bool = False):
        def job():
            store.put(ROWS, {"k": key, "v": 1})
            if fail:
                raise ValueError(f"refused {key}")
            return key

        return job

    async def main():
        return await asyncio.gather(
            *(queue.run(write(f"k{i}", fail=i == 3)) for i in range(8)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert isinstance(results[3], ValueError)
    assert [r for i, r in enumerate(results) if i != 3] == [f"k{i}" for i in range(8) if i != 3]
    assert sorted(r["k"] for r in store.select(ROWS)) == [f"k{i}" for i in range(8) if i != 3]


def test_jobs_see_the_writes_queued_before_them(store) -> None:
    queue = GroupCommit(store)

    def increment():
        row = store.get(ROWS, "counter") or {"k": "counter", "v": 0}
        store.put(ROWS, {"k": "counter", "v": row["v"] + 1})
        return row["v"] + 1

    async def main():
        return await asyncio.gather(*(queue.run(increment) for _ in range(50)))

    assert sorted(asyncio.run(main())) == list(range(1, 51))
    assert store.get(ROWS, "counter")["v"] == 50


def test_writes_queued_during_a_commit_wait_for_the_next(store) -> None:
    queue = GroupCommit(store, ROWS)
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        return "slow"

    async def main():
        first = asyncio.ensure_future(queue.run(slow))
        assert await asyncio.to_thread(started.wait, 10)
        later = asyncio.ensure_future(queue.put({"k": "later", "v": 2}))
        await asyncio.sleep(0.01)
        assert not later.done()  # its row is in no commit yet
        release.set()
        assert await first == "slow"
        await later  # answered once the commit the drain took next has committed
        return store.get(ROWS, "later")

    assert asyncio.run(main()) == {"k": "later", "v": 2}


def test_savepoint_needs_a_transaction(store) -> None:
    with pytest.raises(RuntimeError), store.savepoint():
        pass
