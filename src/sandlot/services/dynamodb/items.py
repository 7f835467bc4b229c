"""Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem.

Each write reads the current item, checks the condition and applies the change in one
store transaction (so a condition holds at the instant of the write, and the change
is durable when the answer is sent)."""

from __future__ import annotations

from sandlot.protocol import RawJson
from sandlot.services.dynamodb import legacy
from sandlot.services.dynamodb.base import DynamoBase
from sandlot.services.dynamodb.errors import condition_failed, invalid_parameters, validation
from sandlot.services.dynamodb.expressions import (
    apply_update,
    parse_update,
    project,
)
from sandlot.services.dynamodb.storage import TableInfo
from sandlot.services.dynamodb.values import Item, load_item, validate_item
from sandlot.services.provider import RequestContext

_RETURN_VALUES = {
    "PutItem": ("NONE", "ALL_OLD"),
    "DeleteItem": ("NONE", "ALL_OLD"),
    "UpdateItem": ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"),
}


def return_values(params: dict, operation: str) -> str:
    value = params.get("ReturnValues") or "NONE"
    if value not in _RETURN_VALUES[operation]:
        raise validation("Return values set to invalid value")
    return value


def on_failure(params: dict) -> bool:
    """Whether a failed condition answers the old item (ReturnValuesOnConditionCheckFailure)."""
    return params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"


class ItemOperations(DynamoBase):
    # -- the write path shared with batches and transactions -----------------------------

    def index_units(self, info: TableInfo, old: Item | None, new: Item | None) -> dict:
        units = {}
        for name, index in info.indexes.items():
            if any(i is not None and index.key.encode(i) is not None for i in (old, new)):
                units[name] = self.write_units(
                    *(index.project(i, info.key) if i is not None else None for i in (old, new))
                )
        return units

    def write_capacity(self, params: dict, info: TableInfo, old: Item | None, new: Item | None):
        """ConsumedCapacity of a single-item write as the request asks; the units count in
        CloudWatch whether asked or not."""
        units = self.write_units(old, new)
        return self.capacity(params, info, units, read=False,
                             indexes=self.index_units(info, old, new))  # fmt: skip

    def prepare_put(self, info: TableInfo, params: dict):
        """(item, key, condition tree) of a Put, validated."""
        item = validate_item(params.get("Item"))
        self.check_item(info, item)
        ph = self.placeholders(params, "ConditionExpression")
        tree = self.condition(params, ph)
        ph.check_unused()
        return item, info.key.encode(item), tree

    def prepare_update(self, info: TableInfo, params: dict):
        """(key, update tree, condition tree) of an Update, validated."""
        key = self.key(info, params.get("Key") or {})
        ph = self.placeholders(params, "UpdateExpression", "ConditionExpression")
        text = params.get("UpdateExpression")
        update = (
            parse_update(text, ph)
            if text is not None
            else legacy.update(params.get("AttributeUpdates"))
        )
        tree = self.condition(params, ph)
        ph.check_unused()
        if update is not None:
            paths = [p for p, _ in update.sets] + list(update.removes)
            paths += [p for p, _ in update.adds] + [p for p, _ in update.deletes]
            for path in paths:
                if path.elements[0] in info.key.names:
                    raise invalid_parameters(
                        f"Cannot update attribute {path.elements[0]}. This attribute is part "
                        "of the key"
                    )
        return key, update, tree

    def updated(self, info: TableInfo, old: Item | None, update, params) -> Item:
        """The item after ``update`` (a new item starts as its key)."""
        base = old if old is not None else dict(validate_item(params["Key"]))
        new = apply_update(base, update) if update is not None else dict(base)
        self.check_item(info, new)
        return new

    # -- operations ----------------------------------------------------------------------

    async def put_item(self, ctx: RequestContext, params: dict) -> dict:
        self.refuse_mixing(params)
        info = self.table(ctx, params["TableName"])
        mode = return_values(params, "PutItem")
        item, (hk, rk), tree = self.prepare_put(info, params)

        def job():
            old = self.items.get(info, hk, rk)
            if not self.check(tree, old):
                raise condition_failed(old if on_failure(params) and old else None)
            self.items.write(self.current(info), old, item)
            return old

        old = await self.writes.run(job)
        out: dict = {}
        if mode == "ALL_OLD" and old is not None:
            out["Attributes"] = old
        metrics = self.collection_metrics(params, info, item)
        if metrics:
            out["ItemCollectionMetrics"] = metrics
        out.update(self.write_capacity(params, info, old, item))
        return out

    def get_item(self, ctx: RequestContext, params: dict, *, raw: bool | None = None) -> dict:
        """``raw``: the Item may be the stored JSON as it is (``RawJson``) when nothing is
        projected; by default when the answer goes to a client's wire (``to_wire``)."""
        info = self.table(ctx, params["TableName"])
        ph = self.placeholders(params, "ProjectionExpression")
        paths = self.projection(params, ph)
        ph.check_unused()
        hk, rk = self.key(info, params.get("Key") or {})
        stored = self.items.get_stored(info, hk, rk)
        out: dict = {}
        size = 0
        if stored is not None:
            text, size = stored
            if paths or not (self.to_wire(ctx) if raw is None else raw):
                out["Item"] = self.projected(load_item(text), paths)
            else:
                out["Item"] = RawJson(text)
        out.update(
            self.capacity(
                params, info, self.read_units(size, bool(params.get("ConsistentRead"))), read=True
            )  # fmt: skip
        )
        return out

    async def update_item(self, ctx: RequestContext, params: dict) -> dict:
        self.refuse_mixing(params)
        info = self.table(ctx, params["TableName"])
        mode = return_values(params, "UpdateItem")
        (hk, rk), update, tree = self.prepare_update(info, params)

        def job():
            old = self.items.get(info, hk, rk)
            if not self.check(tree, old):
                raise condition_failed(old if on_failure(params) and old else None)
            current = self.current(info)
            new = self.updated(current, old, update, params)
            self.items.write(current, old, new)
            return old, new

        old, new = await self.writes.run(job)
        out: dict = {}
        if update is not None and mode != "NONE":
            paths = [p for p, _ in update.sets] + list(update.removes)
            paths += [p for p, _ in update.adds] + [p for p, _ in update.deletes]
            chosen = {
                "ALL_OLD": old,
                "ALL_NEW": new,
                "UPDATED_OLD": project(old, paths) if old else None,
                "UPDATED_NEW": project(new, paths),
            }[mode]
            if chosen:
                out["Attributes"] = chosen
        metrics = self.collection_metrics(params, info, new)
        if metrics:
            out["ItemCollectionMetrics"] = metrics
        out.update(self.write_capacity(params, info, old, new))
        return out

    async def delete_item(self, ctx: RequestContext, params: dict) -> dict:
        self.refuse_mixing(params)
        info = self.table(ctx, params["TableName"])
        mode = return_values(params, "DeleteItem")
        hk, rk = self.key(info, params.get("Key") or {})
        ph = self.placeholders(params, "ConditionExpression")
        tree = self.condition(params, ph)
        ph.check_unused()

        def job():
            old = self.items.get(info, hk, rk)
            if not self.check(tree, old):
                raise condition_failed(old if on_failure(params) and old else None)
            if old is not None:
                self.items.write(self.current(info), old, None)
            return old

        old = await self.writes.run(job)
        out: dict = {}
        if mode == "ALL_OLD" and old is not None:
            out["Attributes"] = old
        metrics = self.collection_metrics(params, info, old)
        if metrics:
            out["ItemCollectionMetrics"] = metrics
        out.update(self.write_capacity(params, info, old, None))
        return out
