"""The logs component's tables.

Groups are keyed by (account, region, name) and carry a random ``group_id``; streams
and events hang off ``group_id`` and ``stream_id`` rather than names, so that deleting
a group or stream is one row (its events become unreachable at once, and are purged
in bounded batches) and a re-created group of the same name starts empty.

Events are stored once and indexed two ways, both keyset orders the store pages
through in either direction: per stream (the primary key: GetLogEvents) and per group
(FilterLogEvents, the retention sweep and purges).
"""

from __future__ import annotations

from sandlot.store import Migration, Table

GROUPS = Table(
    "logs_groups",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "group_id": "TEXT",
        "created_ms": "INTEGER",
        "retention_days": "INTEGER",  # NULL: never expire
        "kms_key_id": "TEXT",
        "group_class": "TEXT",
        "deletion_protection": "INTEGER",
        "tags": "TEXT",  # JSON object
        "stored_bytes": "INTEGER",
        "next_seq": "INTEGER",  # next event sequence number in this group
    },
    key=("account_id", "region", "name"),
)

STREAMS = Table(
    "logs_streams",
    columns={
        "group_id": "TEXT",
        "name": "TEXT",
        "stream_id": "TEXT",
        "created_ms": "INTEGER",
        "first_event_ts": "INTEGER",
        "last_event_ts": "INTEGER",
        "last_ingestion_ms": "INTEGER",
        "stored_bytes": "INTEGER",  # kept for the group's total; AWS reports 0 per stream
        "upload_seq": "INTEGER",  # PutLogEvents calls so far: the sequence token
    },
    key=("group_id", "name"),
)

EVENTS = Table(
    "logs_events",
    columns={
        "stream_id": "TEXT",
        "ts": "INTEGER",
        "seq": "INTEGER",
        "group_id": "TEXT",
        "ingestion_ms": "INTEGER",
        "message": "TEXT",
    },
    key=("stream_id", "ts", "seq"),
    indexes=(("group_id", "ts", "seq"),),
)

# Deleted groups and streams whose events are still being purged.
PURGES = Table(
    "logs_purges",
    columns={"kind": "TEXT", "id": "TEXT", "deleted_ms": "INTEGER"},
    key=("kind", "id"),
)

# Subscription and metric filters of a group (by group_id: they go with the group).
FILTERS = Table(
    "logs_filters",
    columns={
        "group_id": "TEXT",
        "kind": "TEXT",  # subscription | metric
        "name": "TEXT",
        "pattern": "TEXT",
        "created_ms": "INTEGER",
        "spec": "TEXT",  # JSON: destination/role/distribution, or metric transformations
    },
    key=("group_id", "kind", "name"),
)

# Logs Insights queries and their results (kept as AWS keeps them, for a while).
QUERIES = Table(
    "logs_queries",
    columns={
        "query_id": "TEXT",
        "account_id": "TEXT",
        "region": "TEXT",
        "query_string": "TEXT",
        "groups": "TEXT",  # JSON list of log group names
        "start_s": "INTEGER",
        "end_s": "INTEGER",
        "query_limit": "INTEGER",
        "status": "TEXT",  # Running | Complete | Failed | Cancelled
        "created_ms": "INTEGER",
        "results": "TEXT",  # JSON list of rows of {field, value}
        "statistics": "TEXT",  # JSON
    },
    key=("query_id",),
    indexes=(("account_id", "region", "created_ms"),),
)

# Export tasks (events of a group's time range copied to S3 objects).
EXPORTS = Table(
    "logs_export_tasks",
    columns={
        "task_id": "TEXT",
        "account_id": "TEXT",
        "region": "TEXT",
        "task_name": "TEXT",
        "group_name": "TEXT",
        "stream_prefix": "TEXT",
        "from_ms": "INTEGER",
        "to_ms": "INTEGER",
        "destination": "TEXT",  # the bucket
        "destination_prefix": "TEXT",
        "status": "TEXT",  # PENDING | RUNNING | COMPLETED | CANCELLED | FAILED
        "message": "TEXT",
        "created_ms": "INTEGER",
        "completed_ms": "INTEGER",
    },
    key=("task_id",),
    indexes=(("account_id", "region", "created_ms"),),
)

# Resource policies (PutResourcePolicy): account-wide (resource_arn "") or one group's.
RESOURCE_POLICIES = Table(
    "logs_resource_policies",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "resource_arn": "TEXT",  # "" for an account-level policy
        "document": "TEXT",
        "revision": "TEXT",
        "updated_ms": "INTEGER",
    },
    key=("account_id", "region", "name", "resource_arn"),
)

MIGRATIONS = [
    Migration(1, create=GROUPS),
    Migration(2, create=STREAMS),
    Migration(3, create=EVENTS),
    Migration(4, create=PURGES),
    Migration(5, create=FILTERS),
    Migration(6, create=QUERIES),
    Migration(7, create=EXPORTS),
    Migration(8, create=RESOURCE_POLICIES),
]
