"""The KMS component's tables.

Keys are keyed by their id alone (a UUID, unique across accounts), so a ciphertext
blob that carries the id finds its key wherever the caller stands (cross-account
Decrypt). Key material is one row per version: rotation adds a version, the newest
encrypts, every version still decrypts. Material is stored sealed by the data
directory's master key (``vault.py``), never in plaintext.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

KEYS = Table(
    "kms_keys",
    columns={
        "key_id": "TEXT",
        "account_id": "TEXT",
        "region": "TEXT",
        "created": "REAL",
        "description": "TEXT",
        "key_spec": "TEXT",
        "key_usage": "TEXT",
        "state": "TEXT",  # Enabled | Disabled | PendingDeletion | PendingImport
        "deletion_date": "REAL",  # set while PendingDeletion
        "pending_window": "INTEGER",
        "multi_region": "INTEGER",
        "manager": "TEXT",  # CUSTOMER | AWS
        "policy": "TEXT",  # the key policy (JSON text), named "default"
        "tags": "TEXT",  # JSON list of {TagKey, TagValue}, in order given
        "rotation_enabled": "INTEGER",
        "rotation_period": "INTEGER",  # days
        "next_rotation": "REAL",
        "current_version": "INTEGER",
        "origin": "TEXT",  # AWS_KMS | EXTERNAL (imported key material)
        "expiration_model": "TEXT",  # of imported material
        "valid_to": "REAL",  # imported material expires then (NULL: never)
    },
    key=("key_id",),
    indexes=(("account_id", "region", "key_id"),),
)

MATERIALS = Table(
    "kms_materials",
    columns={
        "key_id": "TEXT",
        "version": "INTEGER",
        "sealed": "BLOB",  # AES-GCM under the master key; AAD names key and version
        "created": "REAL",
        "rotation_type": "TEXT",  # NULL for the first material, AUTOMATIC | ON_DEMAND
    },
    key=("key_id", "version"),
)

ALIASES = Table(
    "kms_aliases",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",  # alias/...
        "key_id": "TEXT",
        "created": "REAL",
        "updated": "REAL",
    },
    key=("account_id", "region", "name"),
    indexes=(("key_id",),),
)

GRANTS = Table(
    "kms_grants",
    columns={
        "grant_id": "TEXT",
        "key_id": "TEXT",
        "name": "TEXT",
        "grantee": "TEXT",
        "retiring": "TEXT",
        "issuing_account": "TEXT",  # arn:aws:iam::<account>:root
        "operations": "TEXT",  # JSON list
        "constraints": "TEXT",  # JSON object or NULL
        "created": "REAL",
        "token": "TEXT",
    },
    key=("grant_id",),
    indexes=(("key_id", "created"), ("retiring",)),
)

# The last successful cryptographic use of each key (GetKeyLastUsage); written at most
# once a second per key (the provider answers from memory in between).
USAGE = Table(
    "kms_usage",
    columns={"key_id": "TEXT", "operation": "TEXT", "ts": "REAL", "request_id": "TEXT"},
    key=("key_id",),
)

MIGRATIONS = [
    Migration(1, create=KEYS),
    Migration(2, create=MATERIALS),
    Migration(3, create=ALIASES),
    Migration(4, create=GRANTS),
    Migration(5, create=USAGE),
]
