"""Lambda's asynchronous (Event) invocations: a durable queue served by the same engine.

``enqueue`` commits the invocation before Invoke answers 202, so a queued event
survives a crash or restart; a worker task takes queued events in order and runs each
through the internal client (``lambda`` ``Invoke``, RequestResponse) as the account
root. A row is deleted once its invocation has run (delivery is at least once: an
event whose run was cut short by a crash runs again after the restart). Throttled
events stay queued and are retried with a back-off. Retry attempts, maximum event age,
DLQs and destinations arrive with the event-delivery issue.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING

from sandlot.events.queue import DrainedQueue
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.store import Migration, Table

if TYPE_CHECKING:
    from sandlot.platform import Platform

log = logging.getLogger("sandlot.events")

QUEUE = Table(
    "lambda_async_invocations",
    columns={
        "request_id": "TEXT",
        "seq": "INTEGER",  # arrival order
        "account_id": "TEXT",
        "region": "TEXT",
        "function_name": "TEXT",
        "qualifier": "TEXT",
        "payload": "BLOB",
        "client_context": "TEXT",
        "enqueued_at": "REAL",
        "not_before": "REAL",  # back-off after a throttle
    },
    key=("request_id",),
    indexes=(("not_before", "seq"),),
)
MIGRATIONS = [Migration(1, create=QUEUE)]

MAX_IN_FLIGHT = 32
THROTTLE_BACKOFF_S = 1.0


class AsyncInvocations(DrainedQueue):
    """The durable queue of Event invocations and the worker that drains it."""

    table = QUEUE
    key = "request_id"
    max_in_flight = MAX_IN_FLIGHT
    poll_s = THROTTLE_BACKOFF_S

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform.store)
        self._platform = platform
        self._store.migrate("lambda_async_invocations", MIGRATIONS)

    def enqueue(
        self,
        account_id: str,
        region: str,
        function_name: str,
        qualifier: str | None,
        payload: bytes,
        client_context: str | None = None,
        request_id: str | None = None,
    ) -> str:
        """Queue one invocation durably; returns its request id."""
        request_id = request_id or str(uuid.uuid4())
        now = time.time()
        self._store.put(
            QUEUE,
            {
                "request_id": request_id,
                "seq": self.next_seq(),
                "account_id": account_id,
                "region": region,
                "function_name": function_name,
                "qualifier": qualifier,
                "payload": payload,
                "client_context": client_context,
                "enqueued_at": now,
                "not_before": now,
            },
        )
        self.wake()
        return request_id

    async def deliver(self, row: dict) -> None:
        params = {
            "FunctionName": row["function_name"],
            "InvocationType": "RequestResponse",
            "Payload": row["payload"],
        }
        if row["qualifier"]:
            params["Qualifier"] = row["qualifier"]
        if row["client_context"]:
            params["ClientContext"] = row["client_context"]
        try:
            await self._platform.call(
                "lambda",
                "Invoke",
                params,
                principal=Principal.root(row["account_id"]),
                region=row["region"],
                request_id=row["request_id"],
            )
        except ServiceError as error:
            if error.code == "TooManyRequestsException":
                row["not_before"] = time.time() + THROTTLE_BACKOFF_S
                self._store.put(QUEUE, row)
                return
            # The function is gone or cannot run: AWS drops the event (or sends it to
            # a DLQ, which arrives with the event-delivery issue).
            log.warning("async invocation %s dropped: %s", row["request_id"], error)
        except Exception:
            log.exception("async invocation %s failed", row["request_id"])
        self._store.delete(QUEUE, row["request_id"])
