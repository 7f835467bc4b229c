"""Group commit: concurrent writers of one table share a transaction.

A durable answer needs a committed transaction, and a commit costs far more than the
rows it writes (~0.2 ms here, the WAL write). Writers queue their rows (to insert or
replace) or keys (to delete) and wait; one flusher commits everything queued in a
single transaction on a worker thread, then wakes those writers, and while it commits,
the event loop keeps serving requests whose writes queue up for the next commit.
Nobody waits for a timer: an idle table commits at once; under load each commit
carries many writes.

    writes = GroupCommit(store, MESSAGES)
    await writes.put(row)        # returns once ``row`` is committed (raises if it failed)
    await writes.put_many(rows)  # the same for several rows (one request's)
    await writes.delete([key])   # keys in ``table.key`` order
    got = await writes.run(job)  # job() inside the transaction; its result once committed

A queue made without a table runs jobs only (DynamoDB's item writes: each job reads the
item, checks its condition and writes).

Writes of one commit apply puts, then deletes, then the jobs in arrival order, each in
its own savepoint (a job that raises is undone alone and its caller gets the
exception). A job runs on the worker thread and reads through the open transaction: it
sees the commit's puts and deletes and what the jobs before it wrote, so a
read-then-write (a receive claiming due rows) needs no claim bookkeeping of its own.
The store's lock keeps the worker's transaction and the loop's own transactions apart;
the loop's reads meanwhile see the last commit (the store's reader connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sandlot.store.db import Store, Table


class _CommitThread:
    """The one thread every group commit runs on: the store's lock lets one transaction
    write at a time anyway. Work is handed over on a queue and answers come back with
    ``call_soon_threadsafe``, ~22 µs of CPU per round trip where ``asyncio.to_thread``
    or an executor's ``run_in_executor`` take ~36 (their concurrent futures, locks and
    semaphore; measured on dev-2c with an empty job). Committing on the loop itself was
    tried (2026-12-04, interleaved): level for SQS on a quiet machine, ahead for
    SendMessage under heavy load, but ~10 % fewer Kinesis PutRecords records/s, whose
    500-row commits no longer overlap the parsing of the next request."""

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, work: Callable[[], None]) -> None:
        """Run ``work()`` on the commit thread, after the work submitted before it."""
        if self._thread is None:
            with self._started:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._serve, name="group-commit", daemon=True
                    )
                    self._thread.start()
        self._work.put(work)

    def _serve(self) -> None:
        while True:
            self._work.get()()


_COMMITS = _CommitThread()

T = TypeVar("T")
_Job = tuple[Callable[[], Any], asyncio.Future]


class GroupCommit:
    """See the module docstring. What is queued is shared by the event loop, which
    queues, and the commit thread, which takes a whole batch at a time: ``_lock`` keeps
    a batch's rows and the writers waiting for them together. The commit thread takes
    the next batch itself as soon as a commit ends (instead of handing over to the loop
    and back, ~1.4 ms of waiting per commit under load: the loop is busy serving)."""

    def __init__(self, store: Store, table: Table | None = None) -> None:
        self._store = store
        self._table = table
        self._lock = threading.Lock()
        self._puts: list[dict[str, Any]] = []
        self._deletes: list[Sequence[Any]] = []
        self._jobs: list[_Job] = []
        self._waiters: list[asyncio.Future] = []
        self._draining = False  # a drain is on the commit thread's queue or running

    async def put(self, row: dict[str, Any]) -> None:
        """Insert or replace ``row``; returns after the transaction holding it commits."""
        await self._queue(puts=(row,))

    async def put_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or replace ``rows``; returns after the transaction holding them commits."""
        await self._queue(puts=rows)

    async def delete(self, keys: Sequence[Sequence[Any]]) -> None:
        """Delete the rows with ``keys``; returns after the transaction commits."""
        await self._queue(deletes=keys)

    async def run(self, job: Callable[[], T]) -> T:
        """Run ``job()`` inside the shared transaction, after the writes queued before it;
        its result once the transaction commits (its exception if it raised)."""
        return await self._queue(job=job)

    def _queue(
        self,
        *,
        puts: Sequence[dict[str, Any]] = (),
        deletes: Sequence[Sequence[Any]] = (),
        job: Callable[[], Any] | None = None,
    ) -> asyncio.Future:
        """Queue writes for the next commit; a future that resolves then (a job's: to
        its outcome)."""
        future = asyncio.get_running_loop().create_future()
        with self._lock:
            self._puts.extend(puts)
            self._deletes.extend(deletes)
            if job is not None:
                self._jobs.append((job, future))
            self._waiters.append(future)
            start, self._draining = not self._draining, True
        if start:
            _COMMITS.submit(self._drain)
        return future

    def _drain(self) -> None:
        """On the commit thread: commit what is queued, answer its writers on their
        loop, and come back (behind other tables' commits) while more is queued."""
        with self._lock:
            puts, deletes, jobs, waiters = self._puts, self._deletes, self._jobs, self._waiters
            self._puts, self._deletes, self._jobs, self._waiters = [], [], [], []
        try:
            outcomes, error = self._write(puts, deletes, jobs), None
        except BaseException as raised:  # every writer of the batch learns it failed
            outcomes, error = [], raised
        loop = waiters[0].get_loop()
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_settle, waiters, outcomes, error)
        with self._lock:
            more = self._draining = bool(self._waiters)
        if more:
            _COMMITS.submit(self._drain)

    def _write(
        self, puts: list[dict[str, Any]], deletes: list[Sequence[Any]], jobs: list[_Job]
    ) -> list[tuple[asyncio.Future, bool, Any]]:
        """One transaction; each job's (future, whether it returned, result or error)."""
        outcomes = []
        with self._store.transaction():
            if puts:
                self._store.put_many(self._table, puts)
            if deletes:
                self._store.delete_many(self._table, deletes)
            for job, future in jobs:
                try:
                    with self._store.savepoint():
                        outcomes.append((future, True, job()))
                except Exception as error:  # this caller's failure, not the batch's
                    outcomes.append((future, False, error))
        return outcomes


def _settle(
    waiters: list[asyncio.Future],
    outcomes: list[tuple[asyncio.Future, bool, Any]],
    error: BaseException | None,
) -> None:
    """On the loop: a commit's jobs get their outcomes, the other writers None (or the
    commit's error)."""
    for future, returned, value in outcomes:
        if not future.done():
            future.set_result(value) if returned else future.set_exception(value)
    for future in waiters:
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(None)
