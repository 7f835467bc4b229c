"""Credentials sandlot issues (STS sessions, IAM users' and roots' keys) and their lookup.

Each issued access key maps to the principal it acts as. Keys found here are always
signature-checked, in dev mode too; only keys sandlot never issued fall back to the
dev-mode account roots.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, replace

from sandlot.iam.principal import Principal
from sandlot.store import Migration, Store, Table

CREDENTIALS = Table(
    "iam_credentials",
    columns={
        "access_key_id": "TEXT",
        "secret_access_key": "TEXT",
        "session_token": "TEXT",  # NULL for long-term keys
        "account_id": "TEXT",
        "kind": "TEXT",
        "arn": "TEXT",
        "user_id": "TEXT",
        "source_arn": "TEXT",
        "expires_at": "REAL",  # epoch seconds; NULL for long-term keys
        "status": "TEXT",  # Active | Inactive | Deleted
        "created_at": "REAL",
        "session_policy": "TEXT",  # JSON of an AssumeRole's session policies, or NULL
        "session_context": "TEXT",  # JSON of a session's tags, source identity…, or NULL
    },
    key=("access_key_id",),
    indexes=(("account_id", "arn"),),
)
SESSION_POLICY = "session_policy"
SESSION_CONTEXT = "session_context"
MIGRATIONS = [
    Migration(1, create=CREDENTIALS),
    Migration(2, add_column=(CREDENTIALS, SESSION_POLICY)),
    Migration(3, add_column=(CREDENTIALS, SESSION_CONTEXT)),
]

DELETED = "Deleted"  # a revoked key's tombstone status
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # AWS key ids are base32-like


@dataclass(frozen=True, slots=True)
class Credential:
    """An issued key with the principal it acts as."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None
    expires_at: float | None
    status: str
    principal: Principal
    created_at: float = 0.0

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= time.time()


def new_access_key_id(prefix: str) -> str:
    """``AKIA…`` (long-term) or ``ASIA…`` (temporary): 20 characters, as in AWS."""
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


_CACHE_LIMIT = 10_000


class CredentialStore:
    """Issues and looks up credentials in the durable store.

    Every signed request looks its key up, so lookups are cached in memory: a read of the
    store waits while a group commit holds it, which put that wait on every request under
    write load. Each write through this class drops the key's entry first, and only what a
    lookup read outside any open transaction is cached (never a write that may roll back).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[str, Credential | None] = {}
        store.migrate("iam_credentials", MIGRATIONS)

    def issue_session(self, principal: Principal, expires_at: float) -> Credential:
        """Temporary credentials (``ASIA…`` + session token) acting as ``principal``."""
        token = base64.b64encode(secrets.token_bytes(228)).decode()
        return self._issue(new_access_key_id("ASIA"), token, principal, expires_at)

    def issue_long_term(self, principal: Principal, access_key_id: str | None = None) -> Credential:
        """A long-term key pair (``AKIA…``) acting as ``principal``."""
        return self._issue(access_key_id or new_access_key_id("AKIA"), None, principal, None)

    def _issue(
        self, key_id: str, token: str | None, principal: Principal, expires_at: float | None
    ) -> Credential:
        secret = base64.b64encode(secrets.token_bytes(30)).decode()
        now = time.time()
        self._cache.pop(key_id, None)
        self._store.put(
            CREDENTIALS,
            {
                "access_key_id": key_id,
                "secret_access_key": secret,
                "session_token": token,
                "account_id": principal.account_id,
                "kind": principal.kind,
                "arn": principal.arn,
                "user_id": principal.user_id,
                "source_arn": principal.source_arn,
                "expires_at": expires_at,
                "status": "Active",
                "created_at": now,
                SESSION_POLICY: principal.session_policy,
                SESSION_CONTEXT: principal.session_context,
            },
            replace=False,
        )
        acting = replace(principal, access_key_id=key_id, is_session=token is not None)
        return Credential(key_id, secret, token, expires_at, "Active", acting, now)

    def lookup(self, access_key_id: str) -> Credential | None:
        if access_key_id in self._cache:
            return self._cache[access_key_id]
        cacheable = not self._store.in_transaction
        row = self._store.get(CREDENTIALS, access_key_id)
        credential = _credential(row) if row is not None else None
        if cacheable:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[access_key_id] = credential
        return credential

    def list_for(self, account_id: str, arn: str) -> list[Credential]:
        """The long-term keys acting as ``arn`` (an IAM user, a root), oldest first."""
        rows = self._store.select(
            CREDENTIALS, {"account_id": account_id, "arn": arn}, order_by=("created_at",)
        )
        return [
            _credential(r) for r in rows if r["session_token"] is None and r["status"] != DELETED
        ]

    def set_status(self, access_key_id: str, status: str) -> bool:
        """Make a key ``Active`` or ``Inactive``; False when there is no such key."""
        self._cache.pop(access_key_id, None)
        with self._store.transaction():
            row = self._store.get(CREDENTIALS, access_key_id)
            if row is None:
                return False
            self._store.put(CREDENTIALS, {**row, "status": status})
        return True

    def delete(self, access_key_id: str) -> bool:
        """Revoke a key for good; False when there is no such (live) key.

        The row stays as a tombstone: in dev mode a key sandlot does not know acts as an
        account root, so forgetting a deleted key would turn it into a root key instead
        of refusing it (``InvalidClientTokenId``), as AWS does.
        """
        self._cache.pop(access_key_id, None)
        with self._store.transaction():
            row = self._store.get(CREDENTIALS, access_key_id)
            if row is None or row["status"] == DELETED:
                return False
            self._store.put(CREDENTIALS, {**row, "status": DELETED})
        return True

    def reassign(self, account_id: str, old_arn: str, new_arn: str) -> None:
        """Point the keys of a renamed IAM user at its new ARN."""
        with self._store.transaction():
            for row in self._store.select(CREDENTIALS, {"account_id": account_id, "arn": old_arn}):
                self._cache.pop(row["access_key_id"], None)
                self._store.put(CREDENTIALS, {**row, "arn": new_arn})


def _credential(row: dict) -> Credential:
    principal = Principal(
        row["account_id"],
        row["arn"],
        row["user_id"],
        row["kind"],
        row["access_key_id"],
        row["source_arn"],
        is_session=row["session_token"] is not None,
        session_policy=row.get(SESSION_POLICY),
        session_context=row.get(SESSION_CONTEXT),
    )
    return Credential(
        row["access_key_id"],
        row["secret_access_key"],
        row["session_token"],
        row["expires_at"],
        row["status"],
        principal,
        row["created_at"],
    )
