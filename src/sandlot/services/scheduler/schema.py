"""EventBridge Scheduler's durable state: schedule groups and schedules (each kept as
the definition the API takes). Firings are the platform's timers
(``scheduler:schedule``, keyed by the schedule's ARN)."""

from __future__ import annotations

from sandlot.store import Migration, Table

GROUPS = Table(
    "scheduler_groups",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "tags": "TEXT",  # JSON object
        "created": "REAL",
        "modified": "REAL",
    },
    ("account", "region", "name"),
)

SCHEDULES = Table(
    "scheduler_schedules",
    {
        "account": "TEXT",
        "region": "TEXT",
        "group_name": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "definition": "TEXT",  # JSON: ScheduleExpression, Target, StartDate… as given
        "state": "TEXT",  # ENABLED | DISABLED
        "created": "REAL",
        "modified": "REAL",
    },
    ("account", "region", "group_name", "name"),
    indexes=(("arn",),),
)

MIGRATIONS = [Migration(1, create=GROUPS), Migration(2, create=SCHEDULES)]
