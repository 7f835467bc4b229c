"""DynamoDB Streams' durable state: stream records, and the streams that have any.

A record is one row of ``ddbs_records``, written by the DynamoDB item hook in the
same store transaction as the item change it describes, so the stream holds exactly
the committed changes. ``seq`` is one counter across all streams (AWS's sequence
numbers only increase within a shard; a global counter does too). The images are
stored as DynamoDB's item JSON (``values.dump_item``) and the record is assembled on
read in the view type the table had when the change was written.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

STREAMS = Table(
    "ddbs_streams",
    {
        "arn": "TEXT",
        "account": "TEXT",
        "region": "TEXT",
        "table_name": "TEXT",
        "label": "TEXT",
        "view_type": "TEXT",
        "key_schema": "TEXT",  # JSON: the table's KeySchema
        "created": "REAL",  # epoch seconds of the first record
    },
    ("arn",),
    indexes=(("account", "region", "table_name"),),
)

RECORDS = Table(
    "ddbs_records",
    {
        "stream_arn": "TEXT",
        "seq": "INTEGER",
        "created": "REAL",  # epoch seconds (ApproximateCreationDateTime; retention)
        "event": "TEXT",  # INSERT, MODIFY, REMOVE
        "view_type": "TEXT",
        "keys": "TEXT",  # item JSON of the key attributes
        "new": "TEXT",  # item JSON or NULL (per the view type)
        "old": "TEXT",
        "size": "INTEGER",  # SizeBytes
        "expired": "INTEGER",  # 1: a time-to-live deletion
    },
    ("stream_arn", "seq"),
    indexes=(("seq",), ("created",)),
)

MIGRATIONS = [Migration(1, create=STREAMS), Migration(2, create=RECORDS)]
