"""Queue and message rows: the reads and writes every SQS operation (and later the
SQS event source poller) is made of. No SQL here: it goes through ``Store``.

Receiving is a selection plus one transaction: the due rows of the queue, in due-time
order for standard queues, in ``seq`` order with group locking for FIFO queues, are
given a new receipt nonce and a new ``visible_at``. Expired rows (past retention) met
on the way are deleted; a periodic sweep removes the rest.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass

from sandlot.services.sqs.schema import DEDUP, MESSAGES, QUEUES
from sandlot.store import Store
from sandlot.store.group_commit import GroupCommit

DEDUP_WINDOW_S = 300.0
_FIFO_SCAN = 2000  # rows of a FIFO queue looked at per receive


@dataclass
class Queue:
    """A queue row, with its attributes decoded."""

    row: dict
    attributes: dict[str, str]

    @property
    def arn(self) -> str:
        return self.row["arn"]

    @property
    def name(self) -> str:
        return self.row["name"]

    @property
    def account(self) -> str:
        return self.row["account"]

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoQueue") == "true"

    def int(self, name: str) -> int:
        return int(self.attributes[name])

    @property
    def retention(self) -> int:
        return int(self.attributes.get("MessageRetentionPeriod", 345_600))


class QueueStorage:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._seq = int(time.time() * 1e6)
        # Queue rows change only through this class, so they are cached (every message
        # operation looks its queue up); callers get copies they may change.
        self._queues: dict[tuple[str, str, str], Queue | None] = {}
        # Standard queues' sends, receives and deletes share commits with concurrent ones.
        self.writes = GroupCommit(store, MESSAGES)
        # Receives (a redrive's move takes a seq) run on the commit thread, sends on the loop.
        self._seq_lock = threading.Lock()

    def next_seq(self) -> int:
        """A sequence number after every earlier one, across restarts (clock-based)."""
        with self._seq_lock:
            self._seq = max(self._seq + 1, int(time.time() * 1e6))
            return self._seq

    # -- queues ---------------------------------------------------------------------

    def queue(self, account: str, region: str, name: str) -> Queue | None:
        key = (account, region, name)
        if key not in self._queues:
            row = self.store.get(QUEUES, account, region, name)
            self._queues[key] = Queue(row, json.loads(row["attributes"])) if row else None
        found = self._queues[key]
        return Queue(dict(found.row), dict(found.attributes)) if found is not None else None

    def queue_by_arn(self, arn: str) -> Queue | None:
        parts = arn.split(":")
        if len(parts) != 6 or parts[2] != "sqs":
            return None
        return self.queue(parts[4], parts[3], parts[5])

    def save_queue(self, queue: Queue) -> None:
        self.put_queue({**queue.row, "attributes": json.dumps(queue.attributes)})

    def put_queue(self, row: dict, *, replace: bool = True) -> bool:
        """Write a queue row (``replace=False``: only if the name is free)."""
        self._queues.pop((row["account"], row["region"], row["name"]), None)
        return self.store.put(QUEUES, row, replace=replace)

    def drop_queue(self, account: str, region: str, name: str) -> None:
        self._queues.pop((account, region, name), None)
        self.store.delete(QUEUES, account, region, name)

    # -- messages -------------------------------------------------------------------

    def counts(self, queue: Queue, now: float) -> tuple[int, int, int]:
        """(visible, in flight, delayed) messages of ``queue`` at ``now``."""
        self.expire(queue, now)
        queue = queue.arn
        visible = self.store.count(MESSAGES, {"queue": queue}, bounds={"visible_at": (None, now)})
        in_flight = self.store.count(
            MESSAGES, {"queue": queue, "received": 1}, bounds={"visible_at": (now, None)}
        )
        delayed = self.store.count(
            MESSAGES, {"queue": queue, "received": 0}, bounds={"visible_at": (now, None)}
        )
        return visible, in_flight, delayed

    def expire(self, queue: Queue, now: float) -> int:
        """Delete the messages of ``queue`` past its retention period, counted from
        their first send (a dead-letter queue keeps the original time, as in AWS), so
        a shortened period applies to the messages already there."""
        oldest = now - queue.retention
        return self.store.delete_where(
            MESSAGES, {"queue": queue.arn}, bounds={"sent": (None, oldest)}
        )

    def next_due(self, queue: str, now: float) -> float | None:
        """When the next message of ``queue`` that is not due yet becomes due."""
        rows = self.store.select(
            MESSAGES,
            {"queue": queue},
            order_by=("visible_at",),
            bounds={"visible_at": (now, None)},
            limit=1,
        )
        return rows[0]["visible_at"] if rows else None

    def due(self, queue: Queue, limit: int, now: float) -> list[dict]:
        """Up to ``limit`` messages that may be received now (FIFO: head of unlocked groups)."""
        if not queue.fifo:
            return self.store.select(
                MESSAGES,
                {"queue": queue.arn},
                order_by=("visible_at", "seq"),
                bounds={"visible_at": (None, now), "sent": (now - queue.retention, None)},
                limit=limit,
            )
        rows = self.store.select(
            MESSAGES, {"queue": queue.arn}, order_by=("seq",), limit=_FIFO_SCAN
        )
        oldest = now - queue.retention
        blocked: set[str] = set()
        groups: dict[str, list[dict]] = {}  # receivable rows per group, groups in order
        for row in rows:
            group = row["group_id"]
            if group in blocked or row["sent"] < oldest:
                continue
            if row["visible_at"] > now:
                blocked.add(group)  # in flight or delayed: the rest of the group waits
                continue
            groups.setdefault(group, []).append(row)
        # As many messages of one group as possible first, then the next group's, as
        # AWS does: a group's messages stay in order within one answer.
        chosen = [row for group in groups.values() for row in group]
        return chosen[:limit]

    def mark_received(self, rows: list[dict], visibility: int, now: float) -> list[dict]:
        """Give each row a new receipt and make it invisible for ``visibility`` seconds
        (inside the caller's transaction, which just read them)."""
        updated = self._received(rows, visibility, now)
        # An UPDATE leaves the primary-key index alone, where INSERT OR REPLACE deletes
        # and re-inserts every index entry (~20 µs less per ten rows).
        self.store.update_many(MESSAGES, updated)
        return updated

    def _received(self, rows: list[dict], visibility: int, now: float) -> list[dict]:
        updated = []
        for row in rows:
            updated.append(
                {
                    **row,
                    "visible_at": now + visibility,
                    "received": 1,
                    "receive_count": row["receive_count"] + 1,
                    "first_received": row["first_received"] or now,
                    "receipt": secrets.token_hex(8),
                }
            )
        return updated

    def message(self, queue: str, seq: int) -> dict | None:
        return self.store.get(MESSAGES, queue, seq)

    def put_message(self, row: dict) -> None:
        self.store.put(MESSAGES, row)

    def delete_message(self, queue: str, seq: int) -> bool:
        return self.store.delete(MESSAGES, queue, seq)

    def delete_messages(self, queue: str, seqs: list[int]) -> None:
        self.store.delete_many(MESSAGES, [(queue, seq) for seq in seqs])

    def put_messages(self, rows: list[dict]) -> None:
        self.store.put_many(MESSAGES, rows)

    def purge(self, queue: str) -> int:
        return self.store.delete_where(MESSAGES, {"queue": queue})

    def messages(self, queue: str, limit: int, after_seq: int | None = None) -> list[dict]:
        after = {"seq": after_seq} if after_seq is not None else None
        return self.store.select(
            MESSAGES, {"queue": queue}, order_by=("seq",), after=after, limit=limit
        )

    def last_seq(self, queue: str) -> int:
        """The seq of the newest message of ``queue`` (0 when it is empty)."""
        rows = self.store.select(
            MESSAGES, {"queue": queue}, order_by=("seq",), descending=True, limit=1
        )
        return rows[0]["seq"] if rows else 0

    def count(self, queue: str) -> int:
        return self.store.count(MESSAGES, {"queue": queue})

    # -- FIFO deduplication ---------------------------------------------------------------

    def deduplicated(self, queue: str, key: str, now: float) -> dict | None:
        """The earlier send with this deduplication key within the window, or None."""
        row = self.store.get(DEDUP, queue, key)
        return row if row is not None and row["expires"] > now else None

    def remember(self, queue: str, key: str, message_id: str, seq: int, now: float) -> None:
        self.store.put(
            DEDUP,
            {
                "queue": queue,
                "key": key,
                "message_id": message_id,
                "seq": seq,
                "expires": now + DEDUP_WINDOW_S,
            },
        )

    def sweep(self, now: float) -> None:
        """Remove expired messages and deduplication entries of every queue."""
        for row in self.store.select(QUEUES):
            self.expire(Queue(row, json.loads(row["attributes"])), now)
        self.store.delete_where(DEDUP, {}, bounds={"expires": (None, now)})
