"""The Parameter Store tables.

A parameter is one row (its current version, tags) and one row per version (value and
attributes as of that version, its labels). A SecureString version's value is the KMS
ciphertext (base64), never the plaintext.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

PARAMETERS = Table(
    "ssm_parameters",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",  # as given: "/app/db/url" or "flat-name"
        "version": "INTEGER",  # the current (newest) version
        "tags": "TEXT",  # JSON list of {Key, Value}
    },
    key=("account_id", "region", "name"),
)

VERSIONS = Table(
    "ssm_parameter_versions",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "version": "INTEGER",
        "type": "TEXT",  # String | StringList | SecureString
        "value": "TEXT",  # SecureString: base64 of the KMS ciphertext
        "key_id": "TEXT",  # SecureString: the KeyId given, else alias/aws/ssm
        "description": "TEXT",
        "allowed_pattern": "TEXT",
        "tier": "TEXT",  # Standard | Advanced
        "data_type": "TEXT",  # text | aws:ec2:image | aws:ssm:integration
        "labels": "TEXT",  # JSON list
        "modified": "REAL",
        "modified_user": "TEXT",
    },
    key=("account_id", "region", "name", "version"),
)

MIGRATIONS = [Migration(1, create=PARAMETERS), Migration(2, create=VERSIONS)]
