"""The bounded log of authorization decisions, for `sandlot iam explain` and `suggest`.

Every evaluated request (IAM users, role sessions, services, and roots acting across
accounts) leaves one row per action and resource it needed. Denials keep the whole
evaluation trace; allows keep the statements that allowed. The newest ``capacity``
rows are kept.

Allowed decisions are buffered and written in batches (``flush``: when the buffer
fills, and by the platform every ``FLUSH_INTERVAL_S``), so logging costs a request
microseconds, not a database transaction; a denial is written at once. The log is a diagnostic: a crash may lose its last fraction of
a second, never anything a request acknowledged.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass

from sandlot.iam.policy import Decision
from sandlot.store import Migration, Store, Table

DECISIONS = Table(
    "iam_decisions",
    columns={
        "request_id": "TEXT",
        "seq": "INTEGER",  # position within the request (one row per action × resource)
        "time": "REAL",
        "account_id": "TEXT",
        "principal_arn": "TEXT",
        "role_arn": "TEXT",  # the role of a role session, else NULL
        "service": "TEXT",
        "operation": "TEXT",
        "action": "TEXT",
        "resource": "TEXT",
        "outcome": "TEXT",  # ALLOW | EXPLICIT_DENY | IMPLICIT_DENY
        "enforced": "INTEGER",  # 0 when --iam soft let a denial through
        "reason": "TEXT",
        "policies": "TEXT",  # JSON: ids of the policies evaluated, by kind
        "statements": "TEXT",  # JSON: deciding statements (allow) or the trace (deny)
    },
    key=("request_id", "seq"),
    indexes=(("role_arn", "time"), ("time",)),
)
MIGRATIONS = [Migration(1, create=DECISIONS)]

CAPACITY = 20_000
FLUSH_INTERVAL_S = 0.2
_BATCH = 256


@dataclass(frozen=True, slots=True)
class Record:
    """One logged decision, as `explain` and `suggest` read it."""

    request_id: str
    time: float
    account_id: str
    principal_arn: str
    role_arn: str | None
    service: str
    operation: str
    action: str
    resource: str
    outcome: str
    enforced: bool
    reason: str
    policies: dict[str, list[str]]
    statements: list[dict]

    @property
    def allowed(self) -> bool:
        return self.outcome == "ALLOW"


class DecisionLog:
    """Appends decisions and reads them back."""

    def __init__(self, store: Store, capacity: int = CAPACITY) -> None:
        self._store = store
        self._capacity = capacity
        self._pending: list[dict] = []
        self._flushes = itertools.count(1)
        store.migrate("iam_decisions", MIGRATIONS)

    def record(
        self,
        request_id: str,
        seq: int,
        *,
        account_id: str,
        principal_arn: str,
        role_arn: str | None,
        service: str,
        operation: str,
        action: str,
        resource: str,
        decision: Decision,
        enforced: bool,
        policies: dict[str, list[str]],
    ) -> None:
        if decision.allowed:
            statements = [{"statement": str(ref)} for ref in decision.deciding]
        else:
            statements = [
                {
                    "statement": str(e.statement),
                    "applied": e.applied,
                    "ruled_out_by": e.ruled_out_by,
                }
                for e in decision.trace
            ]
        self._pending.append(
            {
                "request_id": request_id,
                "seq": seq,
                "time": time.time(),
                "account_id": account_id,
                "principal_arn": principal_arn,
                "role_arn": role_arn,
                "service": service,
                "operation": operation,
                "action": action,
                "resource": resource,
                "outcome": decision.outcome.value,
                "enforced": int(enforced),
                "reason": decision.reason,
                "policies": json.dumps(policies),
                "statements": json.dumps(statements),
            }
        )
        # A denial is written at once: it is what a developer runs `explain` on next.
        if not decision.allowed or len(self._pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the buffered entries (and now and then drop the oldest beyond capacity)."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        self._store.put_many(DECISIONS, rows)
        if next(self._flushes) % 8 == 0:
            self._store.trim(DECISIONS, "time", self._capacity)

    def for_request(self, request_id: str) -> list[Record]:
        self.flush()
        rows = self._store.select(DECISIONS, {"request_id": request_id}, order_by=("seq",))
        return [_record(r) for r in rows]

    def for_role(self, role_arn: str, since: float = 0.0) -> list[Record]:
        self.flush()
        rows = self._store.select(
            DECISIONS, {"role_arn": role_arn}, bounds={"time": (since, None)}, order_by=("time",)
        )
        return [_record(r) for r in rows]

    def recent(self, account_id: str, limit: int, denied_only: bool = False) -> list[Record]:
        """The newest ``limit`` decisions about ``account_id``'s requests, newest first."""
        self.flush()
        rows = self._store.select(
            DECISIONS,
            {"account_id": account_id},
            order_by=("time",),
            descending=True,
            limit=limit,
            excluding={"outcome": ["ALLOW"]} if denied_only else None,
        )
        return [_record(r) for r in rows]

    def role_arns(self, account_id: str, role_name: str) -> list[str]:
        """ARNs (any path) of roles named ``role_name`` whose sessions were logged."""
        self.flush()
        rows = self._store.select(DECISIONS, {"account_id": account_id})
        arns = {r["role_arn"] for r in rows if r["role_arn"]}
        return sorted(a for a in arns if a.rsplit("/", 1)[-1] == role_name)


def _record(row: dict) -> Record:
    return Record(
        row["request_id"],
        row["time"],
        row["account_id"],
        row["principal_arn"],
        row["role_arn"],
        row["service"],
        row["operation"],
        row["action"],
        row["resource"],
        row["outcome"],
        bool(row["enforced"]),
        row["reason"],
        json.loads(row["policies"]),
        json.loads(row["statements"]),
    )
