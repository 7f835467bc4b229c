"""DynamoDB's durable state: tables and their migrations.

A table is keyed by (account, region, name); its ``table_id`` (a UUID, the TableId)
keys its items, so a deleted and re-created table never sees the old items. An item
is one row of ``ddb_items`` keyed by (table_id, hk, rk): the order-preserving
encodings (``values.encode_key_value``) of its partition and sort key (``rk`` empty
without a sort key), so GetItem is a primary-key lookup and Query a range scan of the
primary-key index. ``shard`` is a hash of ``hk`` (Scan order and parallel segments,
as AWS spreads partitions by the hash of the partition key). Secondary indexes keep
one row per indexed item in ``ddb_index_items`` — the index's keys, then the item's
keys (unique, and the order among equal index keys), and the projected item — written
in the same transaction as the item.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

TABLES = Table(
    "ddb_tables",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "table_id": "TEXT",
        "spec": "TEXT",  # JSON: the table's settable description (see tables.py)
        "tags": "TEXT",  # JSON object
        "created": "REAL",  # epoch seconds
    },
    ("account", "region", "name"),
    indexes=(("table_id",),),
)

ITEMS = Table(
    "ddb_items",
    {
        "table_id": "TEXT",
        "hk": "BLOB",
        "rk": "BLOB",
        "shard": "INTEGER",
        "size": "INTEGER",  # bytes, as AWS counts an item's size
        "item": "TEXT",  # JSON (values.dump_item)
    },
    ("table_id", "hk", "rk"),
    indexes=(("table_id", "shard", "hk", "rk"),),
)

INDEX_ITEMS = Table(
    "ddb_index_items",
    {
        "table_id": "TEXT",
        "index_name": "TEXT",
        "hk": "BLOB",
        "rk": "BLOB",
        "phk": "BLOB",  # the item's own keys
        "prk": "BLOB",
        "shard": "INTEGER",
        "size": "INTEGER",  # of the projected item
        "item": "TEXT",  # the projected item
    },
    ("table_id", "index_name", "hk", "rk", "phk", "prk"),
    indexes=(("table_id", "index_name", "shard", "hk", "rk", "phk", "prk"),),
)

# TransactWriteItems' ClientRequestToken: the same token within 10 minutes is the same
# transaction (answered again, not applied again); another request with it is refused.
TOKENS = Table(
    "ddb_tx_tokens",
    {
        "account": "TEXT",
        "token": "TEXT",
        "digest": "TEXT",  # SHA-256 of the request
        "expires": "REAL",
        "response": "TEXT",  # JSON
    },
    ("account", "token"),
)

# Item counts and sizes of each table (index_name "") and index, kept in the write
# transaction (DescribeTable answers them without counting a large table).
STATS = Table(
    "ddb_stats",
    {"table_id": "TEXT", "index_name": "TEXT", "items": "INTEGER", "bytes": "INTEGER"},
    ("table_id", "index_name"),
)

MIGRATIONS = [
    Migration(1, create=TABLES),
    Migration(2, create=ITEMS),
    Migration(3, create=INDEX_ITEMS),
    Migration(4, create=TOKENS),
    Migration(5, create=STATS),
]
