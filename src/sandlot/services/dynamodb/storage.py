"""Tables and items in the store: table descriptions, item rows keyed by the
order-preserving key encoding, and secondary-index rows kept in step with them.

Every item change goes through ``ItemStore.write`` inside the caller's store
transaction, which also tells ``listeners`` (old and new image) in that transaction:
the hook a stream writer attaches to, so a stream can never disagree with the table.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandlot.services.dynamodb.schema import INDEX_ITEMS, ITEMS, STATS, TABLES
from sandlot.services.dynamodb.values import (
    Item,
    dump_item,
    encode_key_value,
    item_size,
    load_item,
)
from sandlot.store import Store

SHARDS = 1 << 32  # shard values are CRC-32s of the partition key


@dataclass(frozen=True)
class KeyShape:
    hash_name: str
    hash_type: str
    range_name: str | None = None
    range_type: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.hash_name,) + ((self.range_name,) if self.range_name else ())

    def encode(self, item: Item) -> tuple[bytes, bytes] | None:
        """(hk, rk) of ``item`` under this key, or None if a key attribute is missing
        or of another type (an item absent from a sparse index)."""
        h = item.get(self.hash_name)
        if h is None or self.hash_type not in h:
            return None
        if self.range_name is None:
            return encode_key_value(h), b""
        r = item.get(self.range_name)
        if r is None or self.range_type not in r:
            return None
        return encode_key_value(h), encode_key_value(r)


@dataclass(frozen=True)
class IndexShape:
    name: str
    local: bool
    key: KeyShape
    projection: str  # ALL, KEYS_ONLY, INCLUDE
    non_key: tuple[str, ...]
    status: str

    def project(self, item: Item, table_key: KeyShape) -> Item:
        if self.projection == "ALL":
            return item
        keep = set(table_key.names) | set(self.key.names)
        if self.projection == "INCLUDE":
            keep |= set(self.non_key)
        return {k: v for k, v in item.items() if k in keep}


def key_shape(key_schema: list[dict], definitions: dict[str, str]) -> KeyShape:
    hash_name = next(k["AttributeName"] for k in key_schema if k["KeyType"] == "HASH")
    range_name = next((k["AttributeName"] for k in key_schema if k["KeyType"] == "RANGE"), None)
    return KeyShape(
        hash_name,
        definitions[hash_name],
        range_name,
        definitions[range_name] if range_name else None,
    )


class TableInfo:
    """One table as stored: its row, its description (``spec``) and derived shapes."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.spec: dict = json.loads(row["spec"])
        self.name: str = row["name"]
        self.table_id: str = row["table_id"]
        self.arn = f"arn:aws:dynamodb:{row['region']}:{row['account']}:table/{row['name']}"
        definitions = {
            d["AttributeName"]: d["AttributeType"] for d in self.spec["AttributeDefinitions"]
        }
        self.key = key_shape(self.spec["KeySchema"], definitions)
        self.indexes: dict[str, IndexShape] = {}
        for local, field in ((True, "LocalSecondaryIndexes"), (False, "GlobalSecondaryIndexes")):
            for index in self.spec.get(field) or ():
                projection = index.get("Projection") or {}
                self.indexes[index["IndexName"]] = IndexShape(
                    index["IndexName"],
                    local,
                    key_shape(index["KeySchema"], definitions),
                    projection.get("ProjectionType", "ALL"),
                    tuple(projection.get("NonKeyAttributes") or ()),
                    index.get("IndexStatus", "ACTIVE"),
                )

    @property
    def status(self) -> str:
        return self.spec.get("TableStatus", "ACTIVE")


# A row of a range read: (its position in the read's order, the item as stored, size).
Stored = tuple[tuple, str, int]


def _positioned(rows: list[tuple], order: tuple[str, ...]) -> list[Stored]:
    """(position, stored JSON, size) of each row read as (*order, item, size): the
    item text stays unparsed, since an answer without filter or projection hands it
    to the wire as it is."""
    n = len(order)
    return [(row[:n], row[n], row[n + 1]) for row in rows]


# (table, old image, new image, expired by time to live): called in the write transaction.
Listener = Callable[[TableInfo, Item | None, Item | None, bool], None]


class ItemStore:
    """Reads and writes of tables and items; writes run in the caller's transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.listeners: list[Listener] = []
        # Table descriptions by (account, region, name); every write of a table row goes
        # through save_table/drop_table, which keep it current.
        self._tables: dict[tuple[str, str, str], TableInfo] = {}

    # -- tables ----------------------------------------------------------------------------

    def table(self, account: str, region: str, name: str) -> TableInfo | None:
        found = self._tables.get((account, region, name))
        if found is None:
            row = self.store.get(TABLES, account, region, name)
            if row is None:
                return None
            found = self._tables[(account, region, name)] = TableInfo(row)
        return found

    def table_names(self, account: str, region: str, after: str | None, limit: int) -> list[str]:
        rows = self.store.select(
            TABLES,
            {"account": account, "region": region},
            order_by=("name",),
            after={"name": after} if after else None,
            limit=limit,
        )
        return [r["name"] for r in rows]

    def all_tables(self) -> list[TableInfo]:
        return [TableInfo(r) for r in self.store.select(TABLES)]

    def save_table(self, row: dict[str, Any]) -> None:
        self.store.put(TABLES, row)
        self._tables.pop((row["account"], row["region"], row["name"]), None)

    def drop_table(self, info: TableInfo) -> None:
        """The table and all its items and index rows, in one transaction."""
        with self.store.transaction():
            self.store.delete_where(ITEMS, {"table_id": info.table_id})
            self.store.delete_where(INDEX_ITEMS, {"table_id": info.table_id})
            self.store.delete_where(STATS, {"table_id": info.table_id})
            self.store.delete(TABLES, info.row["account"], info.row["region"], info.name)
        self._tables.pop((info.row["account"], info.row["region"], info.name), None)

    def drop_index(self, info: TableInfo, index: str) -> None:
        self.store.delete_where(INDEX_ITEMS, {"table_id": info.table_id, "index_name": index})
        self.store.delete(STATS, info.table_id, index)

    def totals(self, info: TableInfo, index: str = "") -> tuple[int, int]:
        """(ItemCount, size in bytes) of the table, or of one of its indexes."""
        row = self.store.get(STATS, info.table_id, index)
        return (row["items"], row["bytes"]) if row is not None else (0, 0)

    def collection_bytes(self, info: TableInfo, hk: bytes) -> int:
        """The size of an item collection (the items sharing a partition key)."""
        return self.store.total(ITEMS, "size", {"table_id": info.table_id, "hk": hk})[1]

    def recount_index(self, info: TableInfo, index: str) -> None:
        """Count a freshly backfilled index's rows once (writes keep the count after)."""
        items, size = self.store.total(
            INDEX_ITEMS, "size", {"table_id": info.table_id, "index_name": index}
        )
        self.store.put(
            STATS, {"table_id": info.table_id, "index_name": index, "items": items, "bytes": size}
        )

    def _count(self, info: TableInfo, index: str, old_size: int | None, new_size: int | None):
        if old_size == new_size and old_size is not None:
            return
        self.store.increment(
            STATS,
            {"table_id": info.table_id, "index_name": index},
            {
                "items": (new_size is not None) - (old_size is not None),
                "bytes": (new_size or 0) - (old_size or 0),
            },
        )

    # -- items -----------------------------------------------------------------------------

    def get(self, info: TableInfo, hk: bytes, rk: bytes) -> Item | None:
        row = self.store.get(ITEMS, info.table_id, hk, rk)
        return load_item(row["item"]) if row is not None else None

    def get_stored(self, info: TableInfo, hk: bytes, rk: bytes) -> tuple[str, int] | None:
        """(stored JSON, size) of an item, unparsed: what GetItem hands to the wire."""
        row = self.store.get(ITEMS, info.table_id, hk, rk)
        return (row["item"], row["size"]) if row is not None else None

    def write(
        self, info: TableInfo, old: Item | None, new: Item | None, *, expired: bool = False
    ) -> None:
        """Replace ``old`` by ``new`` (either None: an insert or a delete) with its index
        rows; must run inside a store transaction. ``expired``: a time-to-live deletion
        (streams show those with the service as the user identity)."""
        item = new if new is not None else old
        assert item is not None
        hk, rk = info.key.encode(item)
        new_size = item_size(new) if new is not None else None
        if new is None:
            self.store.delete(ITEMS, info.table_id, hk, rk)
        else:
            self.store.put(
                ITEMS,
                {
                    "table_id": info.table_id,
                    "hk": hk,
                    "rk": rk,
                    "shard": zlib.crc32(hk),
                    "size": new_size,
                    "item": dump_item(new),
                },
            )
        self._count(info, "", item_size(old) if old is not None else None, new_size)
        for index in info.indexes.values():
            self._write_index(info, index, hk, rk, old, new)
        for listener in self.listeners:
            listener(info, old, new, expired)

    def _write_index(
        self, info: TableInfo, index: IndexShape, hk: bytes, rk: bytes, old, new
    ) -> None:
        before = index.key.encode(old) if old is not None else None
        after = index.key.encode(new) if new is not None else None
        if before is not None and before != after:
            self.store.delete(INDEX_ITEMS, info.table_id, index.name, *before, hk, rk)
        row = None
        if after is not None:
            row = self.index_row(info, index, after, hk, rk, new)
            self.store.put(INDEX_ITEMS, row)
        if index.status != "CREATING":  # a backfilled index is counted when it is done
            old_size = item_size(index.project(old, info.key)) if before is not None else None
            self._count(info, index.name, old_size, row["size"] if row else None)

    @staticmethod
    def index_row(info, index: IndexShape, keys, hk: bytes, rk: bytes, item: Item) -> dict:
        projected = index.project(item, info.key)
        return {
            "table_id": info.table_id,
            "index_name": index.name,
            "hk": keys[0],
            "rk": keys[1],
            "phk": hk,
            "prk": rk,
            "shard": zlib.crc32(keys[0]),
            "size": item_size(projected),
            "item": dump_item(projected),
        }

    def backfill(self, info: TableInfo, index: IndexShape, after: dict | None, batch: int):
        """Index rows for the next ``batch`` items after position ``after`` (a row's
        hk/rk); the last position, or None when the table is done."""
        rows = self.store.select(
            ITEMS,
            {"table_id": info.table_id},
            order_by=("hk", "rk"),
            after=after,
            limit=batch,
        )
        with self.store.transaction():
            for row in rows:
                item = load_item(row["item"])
                keys = index.key.encode(item)
                if keys is not None:
                    self.store.put(
                        INDEX_ITEMS, self.index_row(info, index, keys, row["hk"], row["rk"], item)
                    )
        return {"hk": rows[-1]["hk"], "rk": rows[-1]["rk"]} if len(rows) == batch else None

    # -- ranges ----------------------------------------------------------------------------

    def query(
        self,
        info: TableInfo,
        index: IndexShape | None,
        hk: bytes,
        bounds: tuple[bytes | None, bytes | None],
        after: tuple | None,
        limit: int,
        forward: bool,
    ) -> list[Stored]:
        """Items of one partition with sort key in ``bounds`` (half-open), in sort-key
        order, strictly after the position ``after``."""
        if index is None:
            order: tuple[str, ...] = ("rk",)
            table, where = ITEMS, {"table_id": info.table_id, "hk": hk}
        else:
            order = ("rk", "phk", "prk")
            table = INDEX_ITEMS
            where = {"table_id": info.table_id, "index_name": index.name, "hk": hk}
        rows = self.store.select(
            table,
            where,
            order_by=order,
            after=dict(zip(order, after, strict=True)) if after else None,
            limit=limit,
            descending=not forward,
            bounds={"rk": bounds} if bounds != (None, None) else None,
            columns=(*order, "item", "size"),
        )
        return _positioned(rows, order)

    def scan(
        self,
        info: TableInfo,
        index: IndexShape | None,
        shards: tuple[int, int],
        after: tuple | None,
        limit: int,
    ) -> list[Stored]:
        """Items in scan order (shard, keys) within the shard range, after ``after``."""
        if index is None:
            order: tuple[str, ...] = ("shard", "hk", "rk")
            table, where = ITEMS, {"table_id": info.table_id}
        else:
            order = ("shard", "hk", "rk", "phk", "prk")
            table, where = INDEX_ITEMS, {"table_id": info.table_id, "index_name": index.name}
        rows = self.store.select(
            table,
            where,
            order_by=order,
            after=dict(zip(order, after, strict=True)) if after else None,
            limit=limit,
            bounds={"shard": shards} if shards != (0, SHARDS) else None,
            columns=(*order, "item", "size"),
        )
        return _positioned(rows, order)
