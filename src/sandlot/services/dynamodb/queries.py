"""Query and Scan: range reads over the key encoding, with filters, projections,
Limit, pagination (ExclusiveStartKey/LastEvaluatedKey), Select and the 1 MB page rule.

Limit and the 1 MB rule count items *evaluated* (read), before the filter, as AWS
does; a page that stops early answers the LastEvaluatedKey to continue from."""

from __future__ import annotations

import zlib

from sandlot.protocol import RawJson
from sandlot.services.dynamodb.base import DynamoBase
from sandlot.services.dynamodb.errors import invalid_parameters, validation
from sandlot.services.dynamodb.expressions import (
    Between,
    Call,
    Compare,
    Path,
    Value,
    check_between_bounds,
)
from sandlot.services.dynamodb.expressions.syntax import And
from sandlot.services.dynamodb.storage import SHARDS, IndexShape, TableInfo
from sandlot.services.dynamodb.values import encode_key_value, load_item, load_items
from sandlot.services.provider import RequestContext

PAGE_BYTES = 1024 * 1024
CHUNK = 256  # rows read from the store at a time


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class QueryOperations(DynamoBase):
    def _read_target(self, info: TableInfo, params: dict):
        index = self.index(info, params.get("IndexName"))
        if index is not None and not index.local and params.get("ConsistentRead"):
            raise validation("Consistent reads are not supported on global secondary indexes")
        return index

    def _select(self, info: TableInfo, index: IndexShape | None, params: dict, paths) -> str:
        select = params.get("Select")
        if select is None:
            if paths:
                return "SPECIFIC_ATTRIBUTES"
            return "ALL_PROJECTED_ATTRIBUTES" if index is not None else "ALL_ATTRIBUTES"
        if paths and select != "SPECIFIC_ATTRIBUTES":
            raise validation(
                f"Cannot specify the ProjectionExpression when choosing to get {select}"
            )
        if select == "SPECIFIC_ATTRIBUTES" and not paths:
            raise validation(
                "Select type SPECIFIC_ATTRIBUTES requires an AttributesToGet or a "
                "ProjectionExpression"
            )
        if select == "ALL_PROJECTED_ATTRIBUTES" and index is None:
            raise validation(
                "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
            )
        if (
            select == "ALL_ATTRIBUTES"
            and index is not None
            and not index.local
            and index.projection != "ALL"
        ):
            raise invalid_parameters(
                f"Select type ALL_ATTRIBUTES is not supported for global secondary index "
                f"{index.name} because its projection type is not ALL"
            )
        return select

    def _start(self, info: TableInfo, index: IndexShape | None, params: dict, scan: bool):
        """The position after ExclusiveStartKey, in the order the store reads."""
        start = params.get("ExclusiveStartKey")
        if start is None:
            return None
        names = set(info.key.names) | (set(index.key.names) if index else set())
        if set(start) != names:
            raise validation("The provided starting key is invalid: The provided key element "
                             "does not match the schema")  # fmt: skip
        try:
            hk, rk = self.key(info, {n: start[n] for n in info.key.names})
            if index is None:
                return (zlib.crc32(hk), hk, rk) if scan else (rk,)
            ihk, irk = self.key(info, {n: start[n] for n in index.key.names}, index.key)
        except Exception:
            raise validation("The provided starting key is invalid: The provided key element "
                             "does not match the schema") from None  # fmt: skip
        return (zlib.crc32(ihk), ihk, irk, hk, rk) if scan else (irk, hk, rk)

    def _last_key(self, info: TableInfo, index: IndexShape | None, item: dict) -> dict:
        names = list(info.key.names) + (list(index.key.names) if index else [])
        return {n: item[n] for n in names if n in item}

    def _page(self, info, index, params, read, start, tree, paths, select, consistent, raw):
        """Read with ``read(after, limit)`` until Limit or 1 MB; the output dict. ``raw``:
        the Items may be the stored JSON as it is (``RawJson``, for the wire), which
        spares parsing every item when no filter, projection or fetch needs it."""
        limit = params.get("Limit")
        if limit is not None and limit < 1:
            raise validation(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                "constraint: Member must have value greater than or equal to 1"
            )
        # An LSI fetches what it does not project from the table (AWS: a fetch).
        fetch = index is not None and select == "ALL_ATTRIBUTES" and index.projection != "ALL"
        raw = raw and select != "COUNT" and not paths and not fetch
        parse = tree is not None or not raw
        texts, items, scanned, size, last = [], [], 0, 0, None
        position = start
        while last is None:
            want = CHUNK if limit is None else min(CHUNK, limit - scanned)
            rows = read(position, want)
            # One JSON parse for the chunk's items, when anything needs them parsed.
            parsed = load_items([text for _, text, _ in rows]) if parse else None
            for n, (_, text, item_bytes) in enumerate(rows):
                scanned += 1
                size += item_bytes
                if tree is None or self.check(tree, parsed[n]):
                    texts.append(text)
                    if parsed is not None:
                        items.append(parsed[n])
                if (limit is not None and scanned >= limit) or size >= PAGE_BYTES:
                    last = parsed[n] if parsed is not None else load_item(text)
                    break  # the page ends here: LastEvaluatedKey
            if len(rows) < want:
                break
            position = rows[-1][0]
        out: dict = {"Count": len(texts), "ScannedCount": scanned}
        if raw:
            out["Items"] = RawJson("[" + ",".join(texts) + "]")
        elif select != "COUNT":
            if fetch:
                items = [self.items.get(info, *info.key.encode(i)) or i for i in items]
            out["Items"] = [self.projected(i, paths) for i in items]
        if last is not None:
            out["LastEvaluatedKey"] = self._last_key(info, index, last)
        units = self.read_units(size, consistent)
        out.update(self.capacity(params, info, 0.0 if index else units, read=True,
                                 indexes={index.name: units} if index else None))  # fmt: skip
        return out

    # -- Query -------------------------------------------------------------------------------

    def _key_condition(self, info: TableInfo, index: IndexShape | None, tree):
        """(hk, rk bounds) from a KeyConditionExpression tree."""
        shape = index.key if index else info.key
        parts = []

        def flatten(node):
            if isinstance(node, And):
                flatten(node.left)
                flatten(node.right)
            else:
                parts.append(node)

        flatten(tree)
        hash_eq, range_cond = None, None
        for part in parts:
            subject = self._key_subject(part)
            if subject is None:
                raise validation("Query key condition not supported")
            if subject == shape.hash_name:
                if not (isinstance(part, Compare) and part.op == "=") or hash_eq is not None:
                    raise validation("Query key condition not supported")
                hash_eq = part
            elif subject == shape.range_name:
                if range_cond is not None:
                    raise validation("KeyConditionExpressions must only contain one condition "
                                     "per key")  # fmt: skip
                range_cond = part
            else:  # an attribute that is not part of the key
                raise validation("Query key condition not supported")
        if hash_eq is None:
            raise validation(f"Query condition missed key schema element: {shape.hash_name}")
        hash_value = self._key_value(hash_eq.right if isinstance(hash_eq.left, Path)
                                     else hash_eq.left, shape.hash_type)  # fmt: skip
        hk = encode_key_value(hash_value)
        bounds: tuple = (None, None)
        if range_cond is not None:
            bounds = self._range_bounds(range_cond, shape.range_type)
        return hk, bounds

    @staticmethod
    def _key_subject(part) -> str | None:
        """The key attribute a key condition part constrains (a top-level path)."""
        if isinstance(part, Compare):
            paths = [o for o in (part.left, part.right) if isinstance(o, Path)]
            values = [o for o in (part.left, part.right) if isinstance(o, Value)]
            if (
                len(paths) == 1
                and len(values) == 1
                and part.op != "<>"
                and (len(paths[0].elements) == 1)
            ):
                return paths[0].elements[0]
            return None
        if isinstance(part, Between) and isinstance(part.subject, Path):
            return part.subject.elements[0]
        if isinstance(part, Call) and part.name == "begins_with":
            return part.args[0].elements[0]
        return None

    @staticmethod
    def _key_value(node, kind: str) -> dict:
        if not isinstance(node, Value) or kind not in node.value:
            raise invalid_parameters("Condition parameter type does not match schema type")
        return node.value

    def _range_bounds(self, part, kind: str) -> tuple:
        if isinstance(part, Between):
            low, high = self._key_value(part.low, kind), self._key_value(part.high, kind)
            check_between_bounds("KeyConditionExpression", low, high)
            return encode_key_value(low), encode_key_value(high) + b"\x00"
        if isinstance(part, Call):
            value = self._key_value(part.args[1], kind)
            if kind == "N":
                raise validation(
                    "Invalid KeyConditionExpression: Incorrect operand type for operator or "
                    "function; operator or function: begins_with, operand type: N"
                )
            prefix = encode_key_value(value)
            return prefix, _successor(prefix)
        op = part.op
        if isinstance(part.left, Value):  # :v < sk is sk > :v
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="}[op]
            value = self._key_value(part.left, kind)
        else:
            value = self._key_value(part.right, kind)
        enc = encode_key_value(value)
        return {
            "=": (enc, enc + b"\x00"),
            "<": (None, enc),
            "<=": (None, enc + b"\x00"),
            ">": (enc + b"\x00", None),
            ">=": (enc, None),
        }[op]

    def query(self, ctx: RequestContext, params: dict, *, raw: bool | None = None) -> dict:
        """``raw``: Items may be ``RawJson`` (see ``_page``); by default when the answer
        goes to a client's wire (``to_wire``)."""
        self.refuse_mixing(params)
        info = self.table(ctx, params["TableName"])
        index = self._read_target(info, params)
        if params.get("KeyConditionExpression") is None and not params.get("KeyConditions"):
            raise validation(
                "Either the KeyConditions or KeyConditionExpression parameter must be "
                "specified in the request."
            )
        ph = self.placeholders(
            params, "KeyConditionExpression", "FilterExpression", "ProjectionExpression"
        )
        key_tree = self.condition(params, ph, "KeyConditionExpression")
        tree = self.condition(params, ph, "FilterExpression")
        paths = self.projection(params, ph)
        ph.check_unused()
        shape = index.key if index else info.key
        if tree is not None:
            self._refuse_key_filter(tree, shape.names)
        hk, bounds = self._key_condition(info, index, key_tree)
        select = self._select(info, index, params, paths)
        forward = params.get("ScanIndexForward", True)
        start = self._start(info, index, params, scan=False)

        def read(after, limit):
            return self.items.query(info, index, hk, bounds, after, limit, forward)

        return self._page(info, index, params, read, start, tree, paths, select,
                          bool(params.get("ConsistentRead")),
                          self.to_wire(ctx) if raw is None else raw)  # fmt: skip

    @staticmethod
    def _refuse_key_filter(tree, key_names) -> None:
        """AWS: a filter may not name the key attributes of a Query."""
        found = []

        def walk(node):
            if isinstance(node, Path):
                if node.elements[0] in key_names:
                    found.append(node.elements[0])
            elif hasattr(node, "__dataclass_fields__"):
                for field in node.__dataclass_fields__:
                    child = getattr(node, field)
                    for c in child if isinstance(child, tuple) else (child,):
                        walk(c)

        walk(tree)
        if found:
            raise validation(
                "Filter Expression can only contain non-primary key attributes: Primary key "
                f"attribute: {found[0]}"
            )

    # -- Scan --------------------------------------------------------------------------------

    def scan(self, ctx: RequestContext, params: dict, *, raw: bool | None = None) -> dict:
        """``raw``: Items may be ``RawJson`` (see ``_page``); by default when the answer
        goes to a client's wire (``to_wire``)."""
        self.refuse_mixing(params)
        info = self.table(ctx, params["TableName"])
        index = self._read_target(info, params)
        ph = self.placeholders(params, "FilterExpression", "ProjectionExpression")
        tree = self.condition(params, ph, "FilterExpression")
        paths = self.projection(params, ph)
        ph.check_unused()
        select = self._select(info, index, params, paths)
        segment, total = params.get("Segment"), params.get("TotalSegments")
        if (segment is None) != (total is None):
            missing = "TotalSegments" if total is None else "Segment"
            present = "Segment" if total is None else "TotalSegments"
            raise validation(
                f"The {missing} parameter is required but was not present in the request when "
                f"{present} parameter is present"
            )
        shards = (0, SHARDS)
        if total is not None:
            if not 1 <= total <= 1000000:
                raise validation(f"1 validation error detected: Value '{total}' at "
                                 "'totalSegments' failed to satisfy constraint: Member must "
                                 "have value less than or equal to 1000000")  # fmt: skip
            if not 0 <= segment < total:
                raise validation(
                    f"The Segment parameter is zero-based and must be less than parameter "
                    f"TotalSegments: Segment: {segment} is not less than TotalSegments: {total}"
                )
            shards = (segment * SHARDS // total, (segment + 1) * SHARDS // total)
        start = self._start(info, index, params, scan=True)

        def read(after, limit):
            return self.items.scan(info, index, shards, after, limit)

        return self._page(info, index, params, read, start, tree, paths, select,
                          bool(params.get("ConsistentRead")),
                          self.to_wire(ctx) if raw is None else raw)  # fmt: skip
