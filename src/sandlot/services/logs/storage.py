"""Rows of the logs component: groups, streams and events over the store.

All methods are synchronous and short (bounded batches), as the store runs on the
event loop thread; every multi-row change is one transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sandlot.services.logs.schema import EVENTS, FILTERS, GROUPS, MIGRATIONS, PURGES, STREAMS
from sandlot.services.logs.tokens import Position
from sandlot.store import Store

Row = dict[str, Any]


def message_bytes(message: str) -> int:
    return len(message.encode("utf-8", "surrogatepass"))


def position(row: Row) -> Position:
    return row["ts"], row["seq"]


class LogStorage:
    """The logs tables of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("logs", MIGRATIONS)

    # -- groups ----------------------------------------------------------------------

    def group(self, account_id: str, region: str, name: str) -> Row | None:
        return self.store.get(GROUPS, account_id, region, name)

    def groups(self, account_id: str, region: str) -> list[Row]:
        """The groups of an account and region, ordered by name (ASCII, as AWS)."""
        return self.store.select(
            GROUPS, {"account_id": account_id, "region": region}, order_by=("name",)
        )

    def all_groups(self) -> list[Row]:
        return self.store.select(GROUPS)

    def create_group(self, row: Row) -> bool:
        """Insert a new group (fresh ``group_id``); False if the name is taken."""
        row = {**row, "group_id": secrets.token_hex(16), "stored_bytes": 0, "next_seq": 1}
        return self.store.put(GROUPS, row, replace=False)

    def save_group(self, row: Row) -> None:
        self.store.put(GROUPS, row)

    def delete_group(self, group: Row, now_ms: int) -> None:
        """Remove the group and its streams now; its events are purged in batches."""
        with self.store.transaction():
            for stream in self.streams(group["group_id"]):
                self.store.delete(STREAMS, stream["group_id"], stream["name"])
            self.store.delete(GROUPS, group["account_id"], group["region"], group["name"])
            self.store.put(PURGES, {"kind": "group", "id": group["group_id"], "deleted_ms": now_ms})

    # -- streams ---------------------------------------------------------------------

    def stream(self, group_id: str, name: str) -> Row | None:
        return self.store.get(STREAMS, group_id, name)

    def streams(self, group_id: str) -> list[Row]:
        return self.store.select(STREAMS, {"group_id": group_id}, order_by=("name",))

    def create_stream(self, group_id: str, name: str, now_ms: int) -> bool:
        row = {
            "group_id": group_id,
            "name": name,
            "stream_id": secrets.token_hex(16),
            "created_ms": now_ms,
            "stored_bytes": 0,
            "upload_seq": 0,
        }
        return self.store.put(STREAMS, row, replace=False)

    def delete_stream(self, group: Row, stream: Row, now_ms: int) -> None:
        with self.store.transaction():
            self.store.delete(STREAMS, stream["group_id"], stream["name"])
            fresh = self.store.get(GROUPS, group["account_id"], group["region"], group["name"])
            if fresh is not None:
                fresh["stored_bytes"] = max(0, fresh["stored_bytes"] - stream["stored_bytes"])
                self.store.put(GROUPS, fresh)
            self.store.put(
                PURGES, {"kind": "stream", "id": stream["stream_id"], "deleted_ms": now_ms}
            )

    # -- events ----------------------------------------------------------------------

    def append(
        self, group: Row, stream: Row, events: Iterable[tuple[int, str]], ingestion_ms: int
    ) -> tuple[Row, list[Row]]:
        """Store ``(timestamp, message)`` events and count one upload (in the caller's
        transaction, if any); returns the updated stream row and the stored events."""
        with self.store.transaction():
            group = self.store.get(GROUPS, group["account_id"], group["region"], group["name"])
            stream = self.store.get(STREAMS, stream["group_id"], stream["name"])
            seq, added, rows = group["next_seq"], 0, []
            for timestamp, message in events:
                rows.append(
                    {
                        "stream_id": stream["stream_id"],
                        "ts": timestamp,
                        "seq": seq,
                        "group_id": group["group_id"],
                        "ingestion_ms": ingestion_ms,
                        "message": message,
                    }
                )
                seq += 1
                added += message_bytes(message)
                _widen(stream, timestamp)
            self.store.put_many(EVENTS, rows)
            if seq != group["next_seq"]:
                stream["last_ingestion_ms"] = ingestion_ms
            stream["stored_bytes"] += added
            stream["upload_seq"] += 1
            group["stored_bytes"] += added
            group["next_seq"] = seq
            self.store.put(STREAMS, stream)
            self.store.put(GROUPS, group)
        return stream, rows

    def forward(self, stream_id: str, after: Position, limit: int) -> list[Row]:
        """A stream's events strictly after ``after``, oldest first."""
        return self.store.select(
            EVENTS,
            {"stream_id": stream_id},
            order_by=("ts", "seq"),
            after={"ts": after[0], "seq": after[1]},
            limit=limit,
        )

    def backward(self, stream_id: str, before: Position | None, limit: int) -> list[Row]:
        """A stream's events strictly before ``before`` (None: from the newest), newest
        first."""
        return self.store.select(
            EVENTS,
            {"stream_id": stream_id},
            order_by=("ts", "seq"),
            after=None if before is None else {"ts": before[0], "seq": before[1]},
            limit=limit,
            descending=True,
        )

    def scan_group(self, group_id: str, after: Position, limit: int) -> list[Row]:
        """A group's events (all streams) strictly after ``after``, oldest first."""
        return self.store.select(
            EVENTS,
            {"group_id": group_id},
            order_by=("ts", "seq"),
            after={"ts": after[0], "seq": after[1]},
            limit=limit,
        )

    # -- expiry and purges -----------------------------------------------------------

    def expire(self, group: Row, cutoff_ms: int, budget: int) -> int:
        """Delete up to ``budget`` of the group's events older than ``cutoff_ms``."""
        oldest = self.scan_group(group["group_id"], (-1, 0), 1)
        if not oldest or oldest[0]["ts"] >= cutoff_ms:  # the common case: nothing to do
            return 0
        rows = [
            row
            for row in self.scan_group(group["group_id"], (-1, 0), budget)
            if row["ts"] < cutoff_ms
        ]
        if not rows:
            return 0
        with self.store.transaction():
            streams = {s["stream_id"]: s for s in self.streams(group["group_id"])}
            freed = 0
            for row in rows:
                self.store.delete(EVENTS, row["stream_id"], row["ts"], row["seq"])
                stream = streams.get(row["stream_id"])
                if stream is not None:  # events of deleted streams were already uncounted
                    size = message_bytes(row["message"])
                    stream["stored_bytes"] = max(0, stream["stored_bytes"] - size)
                    freed += size
            for stream in streams.values():
                self.store.put(STREAMS, stream)
            fresh = self.store.get(GROUPS, group["account_id"], group["region"], group["name"])
            if fresh is not None and fresh["group_id"] == group["group_id"]:
                fresh["stored_bytes"] = max(0, fresh["stored_bytes"] - freed)
                self.store.put(GROUPS, fresh)
        return len(rows)

    def purge(self, budget: int) -> int:
        """Delete up to ``budget`` events of deleted groups and streams."""
        deleted = 0
        for pending in self.store.select(PURGES, order_by=("deleted_ms",)):
            column = "group_id" if pending["kind"] == "group" else "stream_id"
            rows = self.store.select(EVENTS, {column: pending["id"]}, limit=budget - deleted)
            with self.store.transaction():
                for row in rows:
                    self.store.delete(EVENTS, row["stream_id"], row["ts"], row["seq"])
                if len(rows) < budget - deleted:
                    self.store.delete(PURGES, pending["kind"], pending["id"])
            deleted += len(rows)
            if deleted >= budget:
                break
        return deleted


def _widen(stream: Row, timestamp: int) -> None:
    """Extend a stream's first/last event timestamps to cover ``timestamp``."""
    first, last = stream.get("first_event_ts"), stream.get("last_event_ts")
    stream["first_event_ts"] = timestamp if first is None else min(first, timestamp)
    stream["last_event_ts"] = timestamp if last is None else max(last, timestamp)


class FilterStorage:
    """A group's subscription and metric filters."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def filters(self, group_id: str, kind: str) -> list[Row]:
        return self.store.select(FILTERS, {"group_id": group_id, "kind": kind}, order_by=("name",))

    def get(self, group_id: str, kind: str, name: str) -> Row | None:
        return self.store.get(FILTERS, group_id, kind, name)

    def put(self, row: Row) -> None:
        self.store.put(FILTERS, row)

    def delete(self, group_id: str, kind: str, name: str) -> bool:
        return self.store.delete(FILTERS, group_id, kind, name)
