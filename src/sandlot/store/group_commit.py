"""Group commit: concurrent writers of one table share a transaction.

A durable answer needs a committed transaction, and a commit costs far more than the
row it writes. Writers that are ready in the same event-loop turn (concurrent
requests) queue their rows; one callback scheduled behind them writes the lot in a
single transaction and then wakes them all. Nobody waits for a timer: at concurrency
1 a row is committed in the next loop turn, under load each commit carries many rows.

    rows = GroupCommit(store, MESSAGES)
    await rows.put(row)  # returns once ``row`` is committed (raises if the commit failed)
"""

from __future__ import annotations

import asyncio
from typing import Any

from sandlot.store.db import Store, Table


class GroupCommit:
    def __init__(self, store: Store, table: Table) -> None:
        self._store = store
        self._table = table
        self._pending: list[tuple[dict[str, Any], asyncio.Future]] = []

    async def put(self, row: dict[str, Any]) -> None:
        """Insert or replace ``row``; returns after the transaction holding it commits."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((row, future))
        await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            self._store.put_many(self._table, [row for row, _ in batch])
        except Exception as error:  # every writer of the batch learns its write failed
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)
