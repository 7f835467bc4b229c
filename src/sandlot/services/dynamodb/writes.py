"""Group commit for item writes: concurrent writers share one transaction.

A durable answer needs a committed transaction, and a commit costs more than the
read-check-write of an item. Each write is a job (a function that reads the item,
checks its condition and writes, raising to refuse); jobs queue up, and one flusher
runs everything queued in a single store transaction on a worker thread, each job in
its own savepoint (a refused or failing job is undone alone), commits, then answers
each writer. Jobs run in arrival order, so each sees the writes queued before it.
Nobody waits for a timer: an idle table commits at once; under load each commit
carries many writes.

    writes = WriteQueue(store)
    old = await writes.run(job)   # job's result once committed (or its exception)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sandlot.store import Store

T = TypeVar("T")


class WriteQueue:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._jobs: list[tuple[Callable[[], Any], asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    async def run(self, job: Callable[[], T]) -> T:
        future = asyncio.get_running_loop().create_future()
        self._jobs.append((job, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    def _apply(self, jobs: list) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        with self._store.transaction():
            for job, _ in jobs:
                try:
                    with self._store.savepoint():
                        results.append((True, job()))
                except Exception as error:  # this writer's refusal, not the batch's
                    results.append((False, error))
        return results

    async def _flush(self) -> None:
        try:
            while self._jobs:
                jobs, self._jobs = self._jobs, []
                try:
                    results = await asyncio.to_thread(self._apply, jobs)
                except Exception as error:  # the commit failed: every writer learns it
                    for _, future in jobs:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), (ok, value) in zip(jobs, results, strict=True):
                    if not future.done():
                        future.set_result(value) if ok else future.set_exception(value)
        finally:
            self._flusher = None
