"""The Secrets Manager component's tables.

A secret is keyed by its ARN (which carries the six random characters AWS appends to
the name); a version by the secret's ARN and its version id. A version holds only
ciphertext: the value sealed with AES-256-GCM under a data key from KMS, and that data
key as KMS encrypted it (``data_key``) under the secret's KMS key.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

SECRETS = Table(
    "secretsmanager_secrets",
    columns={
        "arn": "TEXT",
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "description": "TEXT",
        "kms_key_id": "TEXT",  # as the caller gave it; NULL: the AWS managed key
        "kms_key_arn": "TEXT",  # the key KMS resolved it to (encrypts new versions)
        "created": "REAL",
        "last_changed": "REAL",
        "last_accessed": "REAL",
        "deleted": "REAL",  # when deletion was requested (NULL: not scheduled)
        "deletion_date": "REAL",  # when the secret goes for good
        "tags": "TEXT",  # JSON list of {Key, Value}, in order given
        "policy": "TEXT",  # the resource policy (JSON text) or NULL
    },
    key=("arn",),
    indexes=(("account_id", "region", "name"),),
)

VERSIONS = Table(
    "secretsmanager_versions",
    columns={
        "arn": "TEXT",
        "version_id": "TEXT",
        "created": "REAL",
        "last_accessed": "REAL",
        "stages": "TEXT",  # JSON list of staging labels (empty: deprecated)
        "kind": "TEXT",  # string | binary
        "kms_key_arn": "TEXT",
        "data_key": "BLOB",  # the data key, encrypted by KMS
        "sealed": "BLOB",  # nonce + AES-GCM ciphertext of the value under the data key
    },
    key=("arn", "version_id"),
)

# A secret's rotation configuration and schedule; ``next_rotation`` is the durable due
# time the scheduler reads back after a restart.
ROTATIONS = Table(
    "secretsmanager_rotations",
    columns={
        "arn": "TEXT",
        "lambda_arn": "TEXT",
        "after_days": "INTEGER",
        "schedule": "TEXT",  # rate(...) or cron(...)
        "duration": "TEXT",
        "enabled": "INTEGER",
        "last_rotated": "REAL",
        "next_rotation": "REAL",  # NULL: none scheduled
    },
    key=("arn",),
    indexes=(("next_rotation",),),
)

MIGRATIONS = [
    Migration(1, create=SECRETS),
    Migration(2, create=VERSIONS),
    Migration(3, create=ROTATIONS),
]
