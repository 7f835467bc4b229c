"""Amazon SQS's API: the provider class, assembled from one mixin per area (queues,
messages, dead-letter redrive) over ``SqsBase``, and its background work: the
retention sweep and resumed message move tasks."""

from __future__ import annotations

import asyncio
import logging
import time

from sandlot.services.sqs.messages import MessageOperations
from sandlot.services.sqs.queues import QueueOperations
from sandlot.services.sqs.redrive import RedriveOperations

log = logging.getLogger("sandlot.sqs")

SWEEP_INTERVAL_S = 60.0


class SqsProvider(QueueOperations, MessageOperations, RedriveOperations):
    service = "sqs"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self._movers: set[asyncio.Task] = set()

    async def start(self) -> asyncio.Task:
        """Resume message move tasks; the retention sweep (the task returned)."""
        self.resume_tasks()
        return asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        try:
            while True:
                await asyncio.sleep(SWEEP_INTERVAL_S)
                try:
                    self.storage.sweep(time.time())
                except Exception:
                    log.exception("SQS retention sweep failed")
        finally:  # the platform stops: so do the move tasks (they resume at the next start)
            for task in list(self._movers):
                task.cancel()
