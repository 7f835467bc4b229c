"""Batches and transactions: BatchGetItem, BatchWriteItem, TransactGetItems,
TransactWriteItems.

A batch is validated whole before anything is written, then written in one store
transaction (AWS applies each item atomically and may leave some unprocessed; sandlot
processes them all, so Unprocessed* come back empty unless a read exceeds 16 MB).
A transaction checks every condition and computes every change first, inside one
store transaction, and writes only if all hold: all or nothing. A ClientRequestToken
makes a TransactWriteItems idempotent for 10 minutes."""

from __future__ import annotations

import base64
import hashlib
import json
import time

from sandlot.protocol import ServiceError
from sandlot.services.dynamodb.errors import validation
from sandlot.services.dynamodb.items import ItemOperations
from sandlot.services.dynamodb.schema import TOKENS
from sandlot.services.dynamodb.values import item_size
from sandlot.services.provider import RequestContext

MAX_BATCH_WRITE = 25
MAX_BATCH_GET = 100
MAX_TRANSACTION = 100
MAX_BATCH_GET_BYTES = 16 * 1024 * 1024
TOKEN_TTL_S = 600.0


def _digest(params: dict) -> str:
    def default(value):
        if isinstance(value, bytes | bytearray):
            return base64.b64encode(value).decode()
        raise TypeError(type(value))

    body = {k: v for k, v in params.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=default).encode()).hexdigest()


def _cancelled(reasons: list[dict]) -> ServiceError:
    codes = ", ".join(r["Code"] for r in reasons)
    return ServiceError(
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        CancellationReasons=reasons,
    )


class BatchOperations(ItemOperations):
    # -- batches -----------------------------------------------------------------------

    async def batch_write_item(self, ctx: RequestContext, params: dict) -> dict:
        requests = params["RequestItems"]
        total = sum(len(v) for v in requests.values())
        if not 1 <= total <= MAX_BATCH_WRITE:
            raise validation(
                "1 validation error detected: Value at 'requestItems' failed to satisfy "
                "constraint: Map value must satisfy constraint: [Member must have length less "
                f"than or equal to {MAX_BATCH_WRITE}, Member must have length greater than or "
                "equal to 1]"
            )
        planned = []  # (table, key, new item or None)
        for name, writes in requests.items():
            info = self.table(ctx, name)
            seen = set()
            for write in writes:
                if len(write) != 1:
                    raise validation("Supplied AttributeValue has more than one datatypes set, "
                                     "must contain exactly one of the supported datatypes")  # fmt: skip
                if "PutRequest" in write:
                    item, key, _ = self.prepare_put(info, {"Item": write["PutRequest"]["Item"]})
                    planned.append((info, key, item))
                else:
                    key = self.key(info, write["DeleteRequest"]["Key"])
                    planned.append((info, key, None))
                if key in seen:
                    raise validation("Provided list of item keys contains duplicates")
                seen.add(key)
        units: dict[str, float] = {}

        def job():
            for info, key, new in planned:
                old = self.items.get(info, *key)
                if old is not None or new is not None:
                    self.items.write(self.current(info), old, new)
                units[info.name] = units.get(info.name, 0.0) + self.write_units(old, new)

        await self.writes.run(job)
        tables = {info.name: info for info, _, _ in planned}
        for name, used in units.items():
            self.consumed(tables[name], used, read=False)
        out: dict = {"UnprocessedItems": {}}
        metrics: dict[str, list] = {}
        for info, _, new in planned:
            found = self.collection_metrics(params, info, new)
            if found and found not in metrics.setdefault(info.name, []):
                metrics[info.name].append(found)
        if any(metrics.values()):
            out["ItemCollectionMetrics"] = {n: m for n, m in metrics.items() if m}
        if params.get("ReturnConsumedCapacity", "NONE") != "NONE":
            out["ConsumedCapacity"] = [
                {"TableName": n, "CapacityUnits": u, "WriteCapacityUnits": u}
                for n, u in units.items()
            ]
        return out

    def batch_get_item(self, ctx: RequestContext, params: dict) -> dict:
        requests = params["RequestItems"]
        total = sum(len(v.get("Keys") or ()) for v in requests.values())
        if total > MAX_BATCH_GET:
            raise validation("Too many items requested for the BatchGetItem call")
        plans = []
        for name, request in requests.items():
            info = self.table(ctx, name)
            ph = self.placeholders(request, "ProjectionExpression")
            paths = self.projection(request, ph)
            ph.check_unused()
            keys = [self.key(info, k) for k in request["Keys"]]
            if len(set(keys)) != len(keys):
                raise validation("Provided list of item keys contains duplicates")
            plans.append((info, request, paths, keys))
        responses: dict = {}
        unprocessed: dict = {}
        size = 0
        units: dict[str, float] = {}
        for info, request, paths, keys in plans:
            found = responses.setdefault(info.name, [])
            for i, key in enumerate(keys):
                if size > MAX_BATCH_GET_BYTES:  # AWS's 16 MB answer: the rest comes later
                    rest = dict(request, Keys=request["Keys"][i:])
                    unprocessed[info.name] = rest
                    break
                item = self.items.get(info, *key)
                if item is not None:
                    size += item_size(item)
                    found.append(self.projected(item, paths))
                    units[info.name] = units.get(info.name, 0.0) + self.read_units(
                        item_size(item), bool(request.get("ConsistentRead"))
                    )
        tables = {plan[0].name: plan[0] for plan in plans}
        for name, used in units.items():
            self.consumed(tables[name], used, read=True)
        out: dict = {"Responses": responses, "UnprocessedKeys": unprocessed}
        if params.get("ReturnConsumedCapacity", "NONE") != "NONE":
            out["ConsumedCapacity"] = [
                {"TableName": n, "CapacityUnits": u, "ReadCapacityUnits": u}
                for n, u in units.items()
            ]
        return out

    # -- transactions --------------------------------------------------------------------

    def transact_get_items(self, ctx: RequestContext, params: dict) -> dict:
        actions = params["TransactItems"]
        if len(actions) > MAX_TRANSACTION:
            raise validation(
                "1 validation error detected: Value at 'transactItems' failed to satisfy "
                f"constraint: Member must have length less than or equal to {MAX_TRANSACTION}"
            )
        plans = []
        for action in actions:
            get = action["Get"]
            info = self.table(ctx, get["TableName"])
            ph = self.placeholders(get, "ProjectionExpression")
            paths = self.projection(get, ph)
            ph.check_unused()
            plans.append((info, self.key(info, get["Key"]), paths))
        responses = []
        with self.store.transaction():  # one consistent snapshot
            for info, key, paths in plans:
                item = self.items.get(info, *key)
                responses.append({"Item": self.projected(item, paths)} if item else {})
        return {"Responses": responses}

    def _replayed(self, ctx: RequestContext, token: str | None, digest: str | None):
        """The answer of the transaction this ClientRequestToken already ran (10
        minutes), None if none; another request with the token is refused."""
        if not token:
            return None
        seen = self.store.get(TOKENS, ctx.account_id, token)
        if seen is None or seen["expires"] <= time.time():
            return None
        if seen["digest"] != digest:
            raise ServiceError(
                "IdempotentParameterMismatchException",
                "The request uses the same client token as a previous, but non-identical request.",
            )
        return json.loads(seen["response"])

    async def transact_write_items(self, ctx: RequestContext, params: dict) -> dict:
        actions = params["TransactItems"]
        if len(actions) > MAX_TRANSACTION:
            raise validation(
                "1 validation error detected: Value at 'transactItems' failed to satisfy "
                f"constraint: Member must have length less than or equal to {MAX_TRANSACTION}"
            )
        token = params.get("ClientRequestToken")
        digest = _digest(params) if token else None
        replayed = self._replayed(ctx, token, digest)
        if replayed is not None:
            return replayed
        plans = []
        for action in actions:
            if len(action) != 1:
                raise validation(
                    "TransactItems can only contain one of Check, Put, Update or Delete"
                )
            (kind, body), = action.items()  # fmt: skip
            self.refuse_mixing(body)
            info = self.table(ctx, body["TableName"])
            if kind == "Put":
                item, key, tree = self.prepare_put(info, body)
                plans.append((kind, info, key, tree, item, body))
            elif kind == "Update":
                key, update, tree = self.prepare_update(info, body)
                plans.append((kind, info, key, tree, update, body))
            else:  # Delete, ConditionCheck
                key = self.key(info, body["Key"])
                ph = self.placeholders(body, "ConditionExpression")
                tree = self.condition(body, ph)
                ph.check_unused()
                if kind == "ConditionCheck" and tree is None:
                    raise validation("The ConditionExpression is required for ConditionCheck")
                plans.append((kind, info, key, tree, None, body))
        targets = [(p[1].table_id, p[2]) for p in plans]
        if len(set(targets)) != len(targets):
            raise validation("Transaction request cannot include multiple operations on one item")

        def job():
            replayed = self._replayed(ctx, token, digest)  # a twin committed meanwhile
            if replayed is not None:
                return replayed
            reasons, writes, failed = [], [], False
            for kind, info, key, tree, change, body in plans:
                old = self.items.get(info, *key)
                if not self.check(tree, old):
                    reason = {"Code": "ConditionalCheckFailed",
                              "Message": "The conditional request failed"}  # fmt: skip
                    if body.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old:
                        reason["Item"] = old
                    reasons.append(reason)
                    failed = True
                    continue
                try:
                    if kind == "Put":
                        writes.append((info, old, change))
                    elif kind == "Update":
                        writes.append((info, old, self.updated(info, old, change, body)))
                    elif kind == "Delete" and old is not None:
                        writes.append((info, old, None))
                except ServiceError as error:
                    reasons.append({"Code": "ValidationError", "Message": error.message})
                    failed = True
                    continue
                reasons.append({"Code": "None"})
            if failed:
                raise _cancelled(reasons)
            for info, old, new in writes:
                self.items.write(self.current(info), old, new)
            out: dict = {}
            metrics: dict[str, list] = {}
            for info, old, new in writes:
                found = self.collection_metrics(params, info, new if new is not None else old)
                if found and found not in metrics.setdefault(info.name, []):
                    metrics[info.name].append(found)
            if any(metrics.values()):
                out["ItemCollectionMetrics"] = {n: m for n, m in metrics.items() if m}
            if params.get("ReturnConsumedCapacity", "NONE") != "NONE":
                units: dict[str, float] = {}
                for info, old, new in writes:
                    # Transactional writes cost two units per KB (AWS's pricing rule).
                    units[info.name] = units.get(info.name, 0.0) + 2 * self.write_units(old, new)
                out["ConsumedCapacity"] = [
                    {"TableName": n, "CapacityUnits": u, "WriteCapacityUnits": u}
                    for n, u in units.items()
                ]
            if token:
                self.store.put(
                    TOKENS,
                    {
                        "account": ctx.account_id,
                        "token": token,
                        "digest": digest,
                        "expires": time.time() + TOKEN_TTL_S,
                        "response": json.dumps(out),
                    },
                )
            return out

        return await self.writes.run(job)
