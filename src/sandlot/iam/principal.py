"""Who is calling: the principal a request acts as, resolved by the gateway."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``kind`` is ``root``, ``user`` or ``assumed-role``; ``arn`` and ``user_id`` are what
    ``GetCallerIdentity`` reports. ``source_arn`` is the identity behind a session (the
    role of an assumed-role session, the caller of ``GetSessionToken``).
    """

    account_id: str
    arn: str
    user_id: str
    kind: str
    access_key_id: str | None = None
    source_arn: str | None = None
    is_session: bool = False

    @classmethod
    def root(cls, account_id: str, access_key_id: str | None = None) -> Principal:
        return cls(account_id, f"arn:aws:iam::{account_id}:root", account_id, "root", access_key_id)

    @property
    def is_root(self) -> bool:
        return self.kind == "root"
