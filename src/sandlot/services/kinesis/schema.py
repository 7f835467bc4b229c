"""Kinesis Data Streams' durable state: streams, their shards, records and consumers.

A shard's hash-key range is stored as decimal text (128-bit integers do not fit SQLite's
INTEGER); ranges are compared in Python. ``seq`` is one counter across all streams, so
sequence numbers only increase within a shard (as AWS's do) and survive restarts; the
wire form is ``format_seq``. A shard is closed (resharding) by setting ``end_seq``.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

STREAMS = Table(
    "kinesis_streams",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "status": "TEXT",
        "mode": "TEXT",  # PROVISIONED or ON_DEMAND
        "retention_hours": "INTEGER",
        "created": "REAL",
        "encryption": "TEXT",  # NONE or KMS
        "key_id": "TEXT",
        "tags": "TEXT",  # JSON object
        "next_shard": "INTEGER",  # the number of the next shard id
        "monitoring": "TEXT",  # JSON list: enhanced shard-level metrics
    },
    ("account", "region", "name"),
    indexes=(("arn",),),
)

SHARDS = Table(
    "kinesis_shards",
    {
        "stream_arn": "TEXT",
        "shard_id": "TEXT",
        "parent": "TEXT",
        "adjacent_parent": "TEXT",
        "start_hash": "TEXT",  # decimal
        "end_hash": "TEXT",
        "start_seq": "INTEGER",
        "end_seq": "INTEGER",  # NULL while open
        "created": "REAL",
        "closed": "REAL",
    },
    ("stream_arn", "shard_id"),
)

RECORDS = Table(
    "kinesis_records",
    {
        "stream_arn": "TEXT",
        "shard_id": "TEXT",
        "seq": "INTEGER",
        "partition_key": "TEXT",
        "data": "BLOB",
        "arrival": "REAL",  # ApproximateArrivalTimestamp (epoch seconds); retention
    },
    # No index on arrival: each write pays for every index, and the readers by time
    # (AT_TIMESTAMP, the retention sweep) scan one stream's rows in key order instead.
    ("stream_arn", "shard_id", "seq"),
)

CONSUMERS = Table(
    "kinesis_consumers",
    {
        "stream_arn": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "created": "REAL",
    },
    ("stream_arn", "name"),
    indexes=(("arn",),),
)

MIGRATIONS = [
    Migration(1, create=STREAMS),
    Migration(2, create=SHARDS),
    Migration(3, create=RECORDS),
    Migration(4, create=CONSUMERS),
]
