"""Amazon DynamoDB: tables with secondary indexes, items with the expression language,
queries and scans, batches and transactions — stored in sandlot's store with an
order-preserving key encoding (``values.py``, ``storage.py``).

The provider is assembled from one mixin per area over ``DynamoBase`` (``base.py``);
its background work is the time-to-live sweep and resumed index backfills.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time

from botocore import xform_name

from sandlot.protocol import ServiceError
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


# The item operations AWS/DynamoDB reports SuccessfulRequestLatency for (by TableName and
# Operation); their 400s count in UserErrors (account-wide), a failed condition in
# ConditionalCheckFailedRequests (by TableName) instead. Wrapped once, here, rather than
# timed in each operation.
TIMED = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
         "BatchWriteItem", "TransactGetItems", "TransactWriteItems")  # fmt: skip


def _tables(params: dict) -> list[str]:
    if params.get("TableName"):
        names = [params["TableName"]]
    elif params.get("RequestItems"):
        names = list(params["RequestItems"])
    else:
        names = [next(iter(i.values()))["TableName"] for i in params.get("TransactItems") or ()]
    # A table may be named by its ARN.
    return sorted({n.rsplit("/", 1)[-1] if n.startswith("arn:") else n for n in names})


def _observe(self, ctx, params: dict, operation: str, began: float, error) -> None:
    emit = self.platform.metrics.emit
    account, region = ctx.account_id, ctx.region
    if error is None:
        elapsed = (time.perf_counter() - began) * 1000
        for table in _tables(params):
            dims = (("Operation", operation), ("TableName", table))
            emit(account, region, "AWS/DynamoDB", "SuccessfulRequestLatency", dims, elapsed,
                 "Milliseconds")  # fmt: skip
    elif error.code == "ConditionalCheckFailedException":
        for table in _tables(params):
            emit(account, region, "AWS/DynamoDB", "ConditionalCheckFailedRequests",
                 (("TableName", table),), 1, "Count")  # fmt: skip
    elif error.status == 400:
        emit(account, region, "AWS/DynamoDB", "UserErrors", (), 1, "Count")


def _timed(operation: str, method):
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def timed_async(self, ctx, params: dict, **options):
            began = time.perf_counter()
            try:
                result = await method(self, ctx, params, **options)
            except ServiceError as error:
                _observe(self, ctx, params, operation, began, error)
                raise
            _observe(self, ctx, params, operation, began, None)
            return result

        return timed_async

    @functools.wraps(method)
    def timed(self, ctx, params: dict, **options):
        began = time.perf_counter()
        try:
            result = method(self, ctx, params, **options)
        except ServiceError as error:
            _observe(self, ctx, params, operation, began, error)
            raise
        _observe(self, ctx, params, operation, began, None)
        return result

    return timed


for _operation in TIMED:
    _name = xform_name(_operation)
    setattr(DynamoDBProvider, _name, _timed(_operation, getattr(DynamoDBProvider, _name)))
