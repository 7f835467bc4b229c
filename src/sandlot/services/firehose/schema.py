"""Amazon Data Firehose's durable state: delivery streams, the records they buffer, and
where a Kinesis-sourced stream has read its source up to.

A record accepted by PutRecord(Batch) (or read from the source stream) is a row of
``firehose_buffer`` before it is acknowledged; a flush writes the buffered rows to S3
and deletes them afterwards, so a crash between the two delivers them again (Firehose
delivers at least once).
"""

from __future__ import annotations

from sandlot.store import Migration, Table

DELIVERY_STREAMS = Table(
    "firehose_streams",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "kind": "TEXT",  # DirectPut or KinesisStreamAsSource
        "source": "TEXT",  # JSON: KinesisStreamSourceConfiguration, or NULL
        "destination": "TEXT",  # JSON: the ExtendedS3DestinationConfiguration as stored
        "version": "INTEGER",
        "created": "REAL",
        "tags": "TEXT",  # JSON object
    },
    ("account", "region", "name"),
    indexes=(("arn",),),
)

BUFFER = Table(
    "firehose_buffer",
    {
        "stream_arn": "TEXT",
        "seq": "INTEGER",
        "data": "BLOB",
        "size": "INTEGER",
        "arrival": "REAL",
    },
    ("stream_arn", "seq"),
)

SOURCE_CHECKPOINTS = Table(
    "firehose_source_checkpoints",
    {"stream_arn": "TEXT", "shard": "TEXT", "seq": "TEXT"},
    ("stream_arn", "shard"),
)

MIGRATIONS = [
    Migration(1, create=DELIVERY_STREAMS),
    Migration(2, create=BUFFER),
    Migration(3, create=SOURCE_CHECKPOINTS),
]
