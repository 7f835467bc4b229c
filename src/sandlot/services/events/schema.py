"""EventBridge's durable state: event buses, rules and their targets, archives (and
their events) and replays.

A bus is keyed by (account, region, name); the default bus exists without a row until
something (a resource policy, tags) is stored for it. A rule is keyed by (account,
region, bus, name) and known elsewhere by its ARN; its targets by (rule ARN, target id),
each kept as the JSON the API takes.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

BUSES = Table(
    "events_buses",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "description": "TEXT",
        "policy": "TEXT",  # the resource policy (JSON text) or NULL
        "tags": "TEXT",  # JSON object
        "created": "REAL",
        "modified": "REAL",
    },
    ("account", "region", "name"),
    indexes=(("arn",),),
)

RULES = Table(
    "events_rules",
    {
        "account": "TEXT",
        "region": "TEXT",
        "bus": "TEXT",  # the event bus's name
        "name": "TEXT",
        "arn": "TEXT",
        "pattern": "TEXT",  # EventPattern as given, or NULL
        "schedule": "TEXT",  # ScheduleExpression, or NULL
        "state": "TEXT",  # ENABLED | DISABLED
        "description": "TEXT",
        "role_arn": "TEXT",
        "managed_by": "TEXT",
        "tags": "TEXT",  # JSON object
        "created": "REAL",  # also where a rate() schedule counts from
    },
    ("account", "region", "bus", "name"),
    indexes=(("arn",),),
)

TARGETS = Table(
    "events_targets",
    {
        "rule": "TEXT",  # the rule's ARN
        "id": "TEXT",
        "arn": "TEXT",
        "target": "TEXT",  # JSON: the Target as PutTargets took it
        "seq": "INTEGER",  # order of addition
    },
    ("rule", "id"),
    indexes=(("arn",),),
)

ARCHIVES = Table(
    "events_archives",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "source": "TEXT",  # the bus's ARN
        "description": "TEXT",
        "pattern": "TEXT",  # NULL: every event of the bus
        "retention_days": "INTEGER",  # 0: kept indefinitely
        "created": "REAL",
    },
    ("account", "region", "name"),
    indexes=(("source",),),
)

ARCHIVED = Table(
    "events_archived",
    {
        "archive": "TEXT",  # the archive's ARN
        "seq": "INTEGER",  # arrival order (clock-based, unique)
        "at": "REAL",  # when the bus took the event
        "event": "TEXT",  # the event's JSON
    },
    ("archive", "seq"),
    indexes=(("archive", "at"),),
)

REPLAYS = Table(
    "events_replays",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "description": "TEXT",
        "source": "TEXT",  # the archive's ARN
        "destination": "TEXT",  # JSON: Destination as given
        "start": "REAL",  # EventStartTime
        "end": "REAL",  # EventEndTime
        "state": "TEXT",  # STARTING | RUNNING | CANCELLING | COMPLETED | CANCELLED | FAILED
        "reason": "TEXT",
        "started": "REAL",
        "ended": "REAL",
        "last_replayed": "REAL",  # time of the last event replayed
        "position": "INTEGER",  # seq of the last event replayed
    },
    ("account", "region", "name"),
)

CONNECTIONS = Table(
    "events_connections",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "auth_type": "TEXT",  # API_KEY | BASIC
        "auth": "TEXT",  # JSON: AuthParameters as given (secrets included)
        "description": "TEXT",
        "created": "REAL",
        "modified": "REAL",
    },
    ("account", "region", "name"),
)

API_DESTINATIONS = Table(
    "events_api_destinations",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "connection": "TEXT",  # the connection's ARN
        "endpoint": "TEXT",
        "method": "TEXT",
        "rate": "INTEGER",
        "description": "TEXT",
        "created": "REAL",
        "modified": "REAL",
    },
    ("account", "region", "name"),
)

MIGRATIONS = [
    Migration(1, create=BUSES),
    Migration(2, create=RULES),
    Migration(3, create=TARGETS),
    Migration(4, create=ARCHIVES),
    Migration(5, create=ARCHIVED),
    Migration(6, create=REPLAYS),
    Migration(7, create=CONNECTIONS),
    Migration(8, create=API_DESTINATIONS),
]
