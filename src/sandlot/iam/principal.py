"""Who is calling: the principal a request acts as, resolved by the gateway."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/((?:[\w+=,.@-]+/)*)([\w+=,.@-]{1,64})$")
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``kind`` is ``root``, ``user``, ``assumed-role``, ``anonymous`` or ``service`` (an AWS service
    acting on an account's behalf, e.g. S3 invoking a function: ``arn`` is the service
    principal ``s3.amazonaws.com``); ``arn`` and ``user_id`` are what
    ``GetCallerIdentity`` reports. ``source_arn`` is the identity behind a session (the
    role of an assumed-role session, the caller of ``GetSessionToken``).
    ``session_policy`` is the JSON of the session policies an ``AssumeRole`` was given
    (``{"Policy": text, "PolicyArns": [...]}``), None when it had none.
    ``session_context`` is the JSON of what a session carries besides its policies
    (``{"tags": {key: value}, "transitive": [key, ...], "source_identity": name}``): its
    session tags, which override the role's tags, the tag keys that pass on to sessions
    it assumes (role chaining), and its source identity. None when it has none.
    """

    account_id: str
    arn: str
    user_id: str
    kind: str
    access_key_id: str | None = None
    source_arn: str | None = None
    is_session: bool = False
    session_policy: str | None = None
    session_context: str | None = None

    @classmethod
    def root(cls, account_id: str, access_key_id: str | None = None) -> Principal:
        return cls(account_id, f"arn:aws:iam::{account_id}:root", account_id, "root", access_key_id)

    @classmethod
    def service(cls, name: str, account_id: str) -> Principal:
        """The AWS service ``name`` (``s3.amazonaws.com``) acting for ``account_id``."""
        return cls(account_id, name, name, "service")

    @classmethod
    def anonymous(cls, account_id: str) -> Principal:
        """An unsigned caller of an operation AWS serves without credentials
        (``AssumeRoleWithWebIdentity``: the token in the request is the credential)."""
        return cls(account_id, "anonymous", "anonymous", "anonymous")

    @property
    def is_root(self) -> bool:
        return self.kind == "root"


def role_id(role_arn: str) -> str:
    """A stable ``AROA…`` unique id for a role (IAM will store real ones)."""
    digest = hashlib.sha256(role_arn.encode()).digest()
    return "AROA" + "".join(_ID_ALPHABET[b % 32] for b in digest[:17])


def assumed_role(
    role_arn: str,
    session_name: str,
    unique_id: str | None = None,
    session_policy: str | None = None,
    session_context: str | None = None,
) -> Principal:
    """The principal of a session of ``role_arn`` (which must match ``ROLE_ARN``);
    ``unique_id`` is the role's id in IAM (derived from the ARN when IAM has no role)."""
    match = ROLE_ARN.match(role_arn)
    if match is None:
        raise ValueError(f"not a role ARN: {role_arn}")
    account, _, role_name = match.groups()
    return Principal(
        account,
        f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}",
        f"{unique_id or role_id(role_arn)}:{session_name}",
        "assumed-role",
        source_arn=role_arn,
        session_policy=session_policy,
        session_context=session_context,
    )
