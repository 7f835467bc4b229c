"""EventBridge's durable state: event buses, rules and their targets.

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

MIGRATIONS = [
    Migration(1, create=BUSES),
    Migration(2, create=RULES),
    Migration(3, create=TARGETS),
]
