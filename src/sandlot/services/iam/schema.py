"""The IAM component's tables. IAM is global: every row is keyed by account, never region.

Users, groups and roles share one table (``kind`` tells them apart) because they share
almost every column and every relation (inline policies, attached policies, tags);
the relations then name an entity by (kind, name key). IAM names are unique
case-insensitively, so keys hold the lower-cased name and rows keep the name as given.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

ENTITIES = Table(
    "iam_entities",
    columns={
        "account_id": "TEXT",
        "kind": "TEXT",  # user | group | role
        "name_key": "TEXT",  # lower-cased name: IAM names are case-insensitive
        "name": "TEXT",
        "path": "TEXT",
        "entity_id": "TEXT",  # AIDA… / AGPA… / AROA…
        "arn": "TEXT",
        "created_at": "REAL",
        "tags": "TEXT",  # JSON list of {Key, Value}, in insertion order
        "trust_policy": "TEXT",  # roles: the assume-role policy document
        "description": "TEXT",
        "max_session_duration": "INTEGER",
        "permissions_boundary": "TEXT",  # a managed policy ARN
        "last_used_at": "REAL",  # roles: when a session of it last made a request
        "last_used_region": "TEXT",
    },
    key=("account_id", "kind", "name_key"),
    indexes=(("account_id", "arn"),),
)

MEMBERS = Table(
    "iam_group_members",
    columns={"account_id": "TEXT", "group_key": "TEXT", "user_key": "TEXT"},
    key=("account_id", "group_key", "user_key"),
    indexes=(("account_id", "user_key"),),
)

POLICIES = Table(
    "iam_policies",
    columns={
        "account_id": "TEXT",
        "arn": "TEXT",
        "name": "TEXT",
        "path": "TEXT",
        "policy_id": "TEXT",  # ANPA…
        "description": "TEXT",
        "default_version": "TEXT",  # v1, v2, …
        "next_version": "INTEGER",  # version numbers are never reused
        "created_at": "REAL",
        "updated_at": "REAL",
        "tags": "TEXT",
    },
    key=("account_id", "arn"),
)

VERSIONS = Table(
    "iam_policy_versions",
    columns={
        "account_id": "TEXT",
        "policy_arn": "TEXT",
        "version_id": "TEXT",
        "number": "INTEGER",
        "document": "TEXT",
        "created_at": "REAL",
    },
    key=("account_id", "policy_arn", "version_id"),
)

INLINE = Table(
    "iam_inline_policies",
    columns={
        "account_id": "TEXT",
        "kind": "TEXT",
        "name_key": "TEXT",
        "policy_name": "TEXT",
        "document": "TEXT",
    },
    key=("account_id", "kind", "name_key", "policy_name"),
)

ATTACHMENTS = Table(
    "iam_attachments",
    columns={
        "account_id": "TEXT",
        "kind": "TEXT",
        "name_key": "TEXT",
        "policy_arn": "TEXT",
        "attached_at": "REAL",
    },
    key=("account_id", "kind", "name_key", "policy_arn"),
    indexes=(("account_id", "policy_arn"),),
)

MIGRATIONS = [
    Migration(1, create=ENTITIES),
    Migration(2, create=MEMBERS),
    Migration(3, create=POLICIES),
    Migration(4, create=VERSIONS),
    Migration(5, create=INLINE),
    Migration(6, create=ATTACHMENTS),
]

OIDC_PROVIDERS = Table(
    "iam_oidc_providers",
    columns={
        "account_id": "TEXT",
        "arn": "TEXT",  # arn:aws:iam::A:oidc-provider/<host/path>
        "url": "TEXT",  # the issuer without its https:// (what Get… answers)
        "client_ids": "TEXT",  # JSON list, in insertion order
        "thumbprints": "TEXT",  # JSON list of lower-case SHA-1 hex digests
        "created_at": "REAL",
        "tags": "TEXT",
    },
    key=("account_id", "arn"),
)

MIGRATIONS.append(Migration(7, create=OIDC_PROVIDERS))

SAML_PROVIDERS = Table(
    "iam_saml_providers",
    columns={
        "account_id": "TEXT",
        "arn": "TEXT",  # arn:aws:iam::A:saml-provider/<name>
        "name": "TEXT",
        "uuid": "TEXT",
        "metadata": "TEXT",  # the IdP's SAML metadata document, as given
        "valid_until": "REAL",
        "created_at": "REAL",
        "tags": "TEXT",
    },
    key=("account_id", "arn"),
)

MIGRATIONS.append(Migration(8, create=SAML_PROVIDERS))

SLR_DELETIONS = Table(
    "iam_slr_deletions",
    columns={
        "account_id": "TEXT",
        "task_id": "TEXT",  # task/aws-service-role/<service>/<role>/<uuid>
        "status": "TEXT",  # SUCCEEDED | IN_PROGRESS | FAILED | NOT_STARTED
        "created_at": "REAL",
    },
    key=("account_id", "task_id"),
)

MIGRATIONS.append(Migration(9, create=SLR_DELETIONS))
