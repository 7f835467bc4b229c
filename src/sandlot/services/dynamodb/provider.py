"""Amazon DynamoDB: tables with secondary indexes, items with the expression language,
queries and scans, batches and transactions — stored in sandlot's store with an
order-preserving key encoding (``values.py``, ``storage.py``).

The provider is assembled from one mixin per area over ``DynamoBase`` (``base.py``);
its background work is the time-to-live sweep and resumed index backfills.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sandlot.services.dynamodb.schema import TOKENS
from sandlot.services.dynamodb.statements import StatementOperations
from sandlot.services.dynamodb.tables import TableOperations

log = logging.getLogger("sandlot.dynamodb")

TTL_INTERVAL_S = 30.0


class DynamoDBProvider(TableOperations, StatementOperations):
    service = "dynamodb"

    async def start(self) -> asyncio.Task:
        """Resume index backfills; the time-to-live sweep (the task returned)."""
        self.resume_backfills()
        return asyncio.create_task(self._ttl_sweep())

    async def _ttl_sweep(self) -> None:
        while True:
            await asyncio.sleep(TTL_INTERVAL_S)
            try:
                now = time.time()
                self.expire(now)
                self.store.delete_where(TOKENS, {}, bounds={"expires": (None, now)})
            except Exception:
                log.exception("DynamoDB time-to-live sweep failed")
