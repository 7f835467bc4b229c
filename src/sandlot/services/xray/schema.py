"""X-Ray's durable state: the segment documents received, one row each, as sent.

A trace is the set of rows with its trace id; summaries and graphs are built from them
when asked (a trace is small). Rows older than the retention (30 days, as AWS keeps
traces) are swept; ``received`` orders them for the sweep and the per-region bound."""

from __future__ import annotations

from sandlot.store import Migration, Table

SEGMENTS = Table(
    "xray_segments",
    {
        "account": "TEXT",
        "region": "TEXT",
        "trace_id": "TEXT",
        "id": "TEXT",  # the segment's (or independently sent subsegment's) id
        "parent_id": "TEXT",  # None for a segment that starts its part of the trace
        "kind": "TEXT",  # "segment" | "subsegment" (sent on its own, joins its parent)
        "start": "REAL",  # start_time, epoch seconds
        "trace_time": "REAL",  # the epoch second the trace id carries
        "document": "TEXT",  # the JSON document as sent
        "received": "REAL",
    },
    ("account", "region", "trace_id", "id"),
    indexes=(
        ("account", "region", "trace_time"),
        ("account", "region", "start"),
        ("trace_id",),
        ("received",),
    ),
)

MIGRATIONS = [Migration(1, create=SEGMENTS)]
