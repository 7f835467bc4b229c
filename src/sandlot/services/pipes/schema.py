"""EventBridge Pipes' durable state: one row per pipe, its definition as the API takes it
and its states. Where a stream source has read up to is the pollers' checkpoint table
(``events/pollers.py``), keyed by the pipe's ``id`` (a new pipe of the same name starts
afresh)."""

from __future__ import annotations

from sandlot.store import Migration, Table

PIPES = Table(
    "pipes",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "id": "TEXT",  # a UUID per created pipe: its pollers' key
        "definition": "TEXT",  # JSON: Source, SourceParameters, Enrichment, Target… as given
        "desired": "TEXT",  # RUNNING | STOPPED
        "current": "TEXT",  # AWS's PipeState: CREATING, RUNNING, STOPPING…
        "reason": "TEXT",  # StateReason, or NULL
        "tags": "TEXT",  # JSON object
        "created": "REAL",
        "modified": "REAL",
    },
    ("account", "region", "name"),
    indexes=(("arn",),),
)

MIGRATIONS = [Migration(1, create=PIPES)]
