"""What every DynamoDB operation area shares: the table a request names, key and item
validation with AWS's messages, expression placeholders, consumed capacity, and the
legacy parameters sandlot refuses by name."""

from __future__ import annotations

import base64
import math
import re

from sandlot.services.dynamodb import legacy
from sandlot.services.dynamodb.errors import (
    invalid_parameters,
    table_not_found,
    validation,
)
from sandlot.services.dynamodb.expressions import (
    Compare,
    Path,
    Placeholders,
    Value,
    matches,
    parse_condition,
    parse_projection,
    project,
)
from sandlot.services.dynamodb.expressions.syntax import And
from sandlot.services.dynamodb.schema import MIGRATIONS
from sandlot.services.dynamodb.storage import IndexShape, ItemStore, KeyShape, TableInfo
from sandlot.services.dynamodb.values import (
    MAX_ITEM_BYTES,
    Item,
    item_size,
    validate_item,
    validate_value,
    value_size,
)
from sandlot.services.provider import Provider, RequestContext
from sandlot.store.group_commit import GroupCommit

_TABLE_ARN = re.compile(r"arn:aws[\w-]*:dynamodb:([^:]+):(\d{12}):table/([^/]+)\Z")


def _scalar(value: dict) -> str:
    """A key value as IAM compares it: the string, the number, or base64 of binary."""
    (kind, inner), = value.items()  # fmt: skip
    return base64.b64encode(inner).decode() if kind == "B" else str(inner)


def _conjuncts(tree) -> list:
    if isinstance(tree, And):
        return _conjuncts(tree.left) + _conjuncts(tree.right)
    return [tree]


class DynamoBase(Provider):
    service = "dynamodb"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.store = platform.store
        self.store.migrate("dynamodb", MIGRATIONS)
        self.items = ItemStore(self.store)
        self.writes = GroupCommit(self.store)

    # -- tables ------------------------------------------------------------------------

    @staticmethod
    def table_ref(ctx: RequestContext, name: str) -> tuple[str, str, str]:
        """(account, region, name) of a TableName: a name, or a table ARN."""
        m = _TABLE_ARN.match(name)
        if m:
            return m[2], m[1], m[3]
        return ctx.account_id, ctx.region, name

    def table(self, ctx: RequestContext, name: str) -> TableInfo:
        """The table ``name`` names, or AWS's ResourceNotFoundException."""
        info = self.items.table(*self.table_ref(ctx, name))
        if info is None:
            raise table_not_found(name)
        return info

    def current(self, info: TableInfo) -> TableInfo:
        """The table as it is now, inside a write job: a write maintains the indexes the
        table has when it commits (one added meanwhile included); a table deleted
        meanwhile is not found."""
        now = self.items.table(info.row["account"], info.row["region"], info.name)
        if now is None or now.table_id != info.table_id:
            raise table_not_found(info.name)
        return now

    @staticmethod
    def index(info: TableInfo, name: str | None) -> IndexShape | None:
        if name is None:
            return None
        index = info.indexes.get(name)
        if index is None or index.status == "DELETING":
            raise validation(f"The table does not have the specified index: {name}")
        if index.status == "CREATING":
            raise validation(f"Cannot read from backfilling global secondary index: {name}")
        return index

    def leading_keys_for(self, ctx: RequestContext, params: dict) -> list[str]:
        """The partition-key values a request names (IAM's dynamodb:LeadingKeys): of its
        Key or Item, its Query's key condition, or its batch's keys; a malformed request
        names none (the operation refuses it)."""
        try:
            return [_scalar(v) for v in self._leading_values(ctx, params)]
        except Exception:
            return []

    def _leading_values(self, ctx: RequestContext, params: dict) -> list[dict]:
        if isinstance(params.get("RequestItems"), dict):
            found = []
            for name, request in params["RequestItems"].items():
                hash_name = self.table(ctx, name).key.hash_name
                entries = request.get("Keys") if isinstance(request, dict) else [
                    w.get("PutRequest", {}).get("Item") or w.get("DeleteRequest", {}).get("Key")
                    for w in request
                ]  # fmt: skip
                found += [e[hash_name] for e in entries or () if e and hash_name in e]
            return found
        if not isinstance(params.get("TableName"), str):
            return []
        info = self.table(ctx, params["TableName"])
        record = params.get("Key") or params.get("Item")
        if isinstance(record, dict):
            return [record[info.key.hash_name]] if info.key.hash_name in record else []
        if params.get("KeyConditionExpression") or params.get("KeyConditions"):
            if params.get("IndexName"):  # an index's partition key is not the table's
                index = info.indexes.get(params["IndexName"])
                if index is None or index.key.hash_name != info.key.hash_name:
                    return []
            ph = Placeholders(
                names=dict(params.get("ExpressionAttributeNames") or {}),
                values=dict(params.get("ExpressionAttributeValues") or {}),
            )
            tree = self.condition(params, ph, "KeyConditionExpression")
            return [
                part.right.value if isinstance(part.right, Value) else part.left.value
                for part in _conjuncts(tree)
                if isinstance(part, Compare) and part.op == "="
                and info.key.hash_name in (getattr(part.left, "elements", (None,))[0],
                                           getattr(part.right, "elements", (None,))[0])
            ]  # fmt: skip
        return []

    @staticmethod
    def to_wire(ctx: RequestContext) -> bool:
        """Whether this answer goes straight to the gateway's serializer (a client's
        request), which writes stored item JSON handed over as ``RawJson`` as it is; an
        internal call (``Platform.call``: no HTTP request) reads the answer's dicts."""
        return ctx.request is not None

    # -- keys and items --------------------------------------------------------------------

    @staticmethod
    def key(info: TableInfo, key: dict, shape: KeyShape | None = None) -> tuple[bytes, bytes]:
        """(hk, rk) of a request's Key: exactly the key attributes, of their types."""
        shape = shape or info.key
        key = validate_item(key)
        if set(key) != set(shape.names):
            raise validation("The provided key element does not match the schema")
        for name, kind in (
            (shape.hash_name, shape.hash_type),
            (shape.range_name, shape.range_type),
        ):
            if name is None:
                continue
            value = key[name]
            if kind not in value:
                raise validation("The provided key element does not match the schema")
            if value[kind] in ("", b""):
                raise validation(
                    "One or more parameter values are not valid. The AttributeValue for a key "
                    f"attribute cannot contain an empty {'string' if kind == 'S' else 'binary'} "
                    f"value. Key: {name}"
                )
        DynamoBase.check_key_sizes(shape, key)
        encoded = shape.encode(key)
        assert encoded is not None
        return encoded

    @staticmethod
    def check_key_sizes(shape: KeyShape, item: Item) -> None:
        """AWS's limits: a partition key of at most 2048 bytes, a sort key of 1024."""
        for name, limit, which in ((shape.hash_name, 2048, "hashkey"),
                                   (shape.range_name, 1024, "rangekey")):  # fmt: skip
            value = item.get(name) if name else None
            if value is not None and value_size(value) > limit:
                raise invalid_parameters(
                    f"Size of {which} has exceeded the maximum size limit of{limit} bytes"
                )

    @staticmethod
    def check_item(info: TableInfo, item: Item) -> None:
        """A whole item as PutItem writes it: key attributes present with their types,
        index keys of their types and not empty, at most 400 KB."""
        for name, kind in (
            (info.key.hash_name, info.key.hash_type),
            (info.key.range_name, info.key.range_type),
        ):
            if name is None:
                continue
            if name not in item:
                raise invalid_parameters(f"Missing the key {name} in the item")
            if kind not in item[name]:
                actual = next(iter(item[name]))
                raise invalid_parameters(
                    f"Type mismatch for key {name} expected: {kind} actual: {actual}"
                )
            if item[name][kind] in ("", b""):
                raise validation(
                    "One or more parameter values are not valid. The AttributeValue for a key "
                    f"attribute cannot contain an empty {'string' if kind == 'S' else 'binary'} "
                    f"value. Key: {name}"
                )
        for index in info.indexes.values():
            for name, kind in (
                (index.key.hash_name, index.key.hash_type),
                (index.key.range_name, index.key.range_type),
            ):
                if name is None or name not in item:
                    continue
                actual = next(iter(item[name]))
                if actual != kind:
                    raise invalid_parameters(
                        f"Type mismatch for Index Key {name} Expected: {kind} Actual: {actual} "
                        f"IndexName: {index.name}"
                    )
                if item[name][kind] in ("", b""):
                    raise validation(
                        "One or more parameter values are not valid. A value specified for a "
                        "secondary index key is not supported. The AttributeValue for a key "
                        f"attribute cannot contain an empty string value. IndexName: "
                        f"{index.name}, IndexKey: {name}"
                    )
        DynamoBase.check_key_sizes(info.key, item)
        if item_size(item) > MAX_ITEM_BYTES:
            raise validation("Item size has exceeded the maximum allowed size")

    # -- expressions ---------------------------------------------------------------------

    @staticmethod
    def placeholders(params: dict, *expressions: str) -> Placeholders:
        """The request's ExpressionAttributeNames/Values, refused when no expression of
        the request (``expressions``: parameter names) is given."""
        names = params.get("ExpressionAttributeNames")
        values = params.get("ExpressionAttributeValues")
        present = any(params.get(e) is not None for e in expressions)
        if names is not None and not present:
            raise validation(
                "ExpressionAttributeNames can only be specified when using expressions"
            )
        if values is not None and not present:
            raise validation(
                "ExpressionAttributeValues can only be specified when using expressions"
            )
        checked = {}
        for name, value in (values or {}).items():
            if not re.fullmatch(r":[A-Za-z0-9_]+", name):
                raise validation(
                    f'ExpressionAttributeValues contains invalid key: Syntax error; key: "{name}"'
                )
            try:
                checked[name] = validate_value(value)
            except Exception as error:
                detail = getattr(error, "message", str(error))
                raise validation(
                    f"ExpressionAttributeValues contains invalid value: {detail} for key {name}"
                ) from None
        for name in names or {}:
            if not re.fullmatch(r"#[A-Za-z0-9_]+", name):
                raise validation(
                    f'ExpressionAttributeNames contains invalid key: Syntax error; key: "{name}"'
                )
        return Placeholders(names=dict(names or {}), values=checked)

    @staticmethod
    def condition(params: dict, ph: Placeholders, name: str = "ConditionExpression"):
        """The tree of the condition expression ``name``, or of the legacy parameter it
        replaces (Expected, KeyConditions, QueryFilter/ScanFilter), or None."""
        text = params.get(name)
        if text is not None:
            return parse_condition(text, name, ph)
        operator = params.get("ConditionalOperator")
        if name == "ConditionExpression":
            return legacy.condition(params.get("Expected"), operator, expected=True)
        if name == "KeyConditionExpression":
            return legacy.condition(params.get("KeyConditions"), None)
        found = params.get("QueryFilter") or params.get("ScanFilter")
        return legacy.condition(found, operator)

    @staticmethod
    def projection(params: dict, ph: Placeholders):
        text = params.get("ProjectionExpression")
        if text is not None:
            return parse_projection(text, ph)
        names = params.get("AttributesToGet")
        if names is not None:  # legacy: a projection of top-level names
            return tuple(Path((n,)) for n in names)
        return None

    @staticmethod
    def refuse_mixing(params: dict) -> None:
        legacy.refuse_mixing(params)

    @staticmethod
    def check(tree, item: Item | None) -> bool:
        return tree is None or matches(item or {}, tree)

    @staticmethod
    def projected(item: Item, paths) -> Item:
        return project(item, paths) if paths else item

    # -- consumed capacity -------------------------------------------------------------------

    def capacity(
        self, params: dict, info: TableInfo, units: float, *, read: bool,
        indexes: dict | None = None,
    ) -> dict:  # fmt: skip
        """``{"ConsumedCapacity": ...}`` as ReturnConsumedCapacity asks (TOTAL or INDEXES),
        else empty; the units count in CloudWatch either way (``consumed``). Writes cost
        one unit per started KB, reads one per started 4 KB (half for eventually
        consistent reads): AWS's rules."""
        self.consumed(info, units, read=read, indexes=indexes)
        mode = params.get("ReturnConsumedCapacity", "NONE")
        if mode == "NONE":
            return {}
        total = units + sum((indexes or {}).values())
        out: dict = {"TableName": info.name, "CapacityUnits": total}
        out["ReadCapacityUnits" if read else "WriteCapacityUnits"] = total
        if mode == "INDEXES":
            field = "ReadCapacityUnits" if read else "WriteCapacityUnits"
            out["Table"] = {"CapacityUnits": units, field: units}
            gsis = {
                n: {"CapacityUnits": u, field: u}
                for n, u in (indexes or {}).items()
                if not info.indexes[n].local
            }
            lsis = {
                n: {"CapacityUnits": u, field: u}
                for n, u in (indexes or {}).items()
                if info.indexes[n].local
            }
            if gsis:
                out["GlobalSecondaryIndexes"] = gsis
            if lsis:
                out["LocalSecondaryIndexes"] = lsis
        return {"ConsumedCapacity": out}

    def consumed(
        self, info: TableInfo, units: float, *, read: bool, indexes: dict | None = None
    ) -> None:
        """AWS/DynamoDB's ConsumedRead/WriteCapacityUnits: the table's total (its indexes
        included) by TableName, and each global secondary index's by TableName and
        GlobalSecondaryIndexName."""
        account, region = info.row["account"], info.row["region"]
        name = "ConsumedReadCapacityUnits" if read else "ConsumedWriteCapacityUnits"
        emit = self.platform.metrics.emit
        total = units + sum((indexes or {}).values())
        emit(account, region, "AWS/DynamoDB", name, (("TableName", info.name),), total, "Count")
        for index, used in (indexes or {}).items():
            if index in info.indexes and not info.indexes[index].local:
                dims = (("GlobalSecondaryIndexName", index), ("TableName", info.name))
                emit(account, region, "AWS/DynamoDB", name, dims, used, "Count")

    def collection_metrics(self, params: dict, info: TableInfo, item: Item | None) -> dict:
        """ItemCollectionMetrics as ReturnItemCollectionMetrics=SIZE asks: AWS answers
        them only for tables with a local secondary index."""
        if params.get("ReturnItemCollectionMetrics", "NONE") == "NONE" or item is None:
            return {}
        if not any(index.local for index in info.indexes.values()):
            return {}
        hk, _ = info.key.encode(item)
        gb = self.items.collection_bytes(info, hk) / 2**30
        return {
            "ItemCollectionKey": {info.key.hash_name: item[info.key.hash_name]},
            "SizeEstimateRangeGB": [float(math.floor(gb)), float(math.floor(gb) + 1)],
        }

    @staticmethod
    def write_units(*items: Item | None) -> float:
        size = max((item_size(i) for i in items if i is not None), default=0)
        return float(max(1, math.ceil(size / 1024)))

    @staticmethod
    def read_units(size: int, consistent: bool) -> float:
        units = max(1, math.ceil(size / 4096))
        return float(units) if consistent else units / 2
