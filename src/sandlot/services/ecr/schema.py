"""The ECR tables: repositories (their settings, policies and tags) per account and
region. Images are not stored yet (image operations answer 501)."""

from __future__ import annotations

from sandlot.store import Migration, Table

REPOSITORIES = Table(
    "ecr_repositories",
    columns={
        "account_id": "TEXT",  # the registry id
        "region": "TEXT",
        "name": "TEXT",
        "created": "REAL",
        "tag_mutability": "TEXT",  # MUTABLE | IMMUTABLE | …
        "scan_on_push": "INTEGER",
        "encryption": "TEXT",  # JSON encryptionConfiguration
        "policy": "TEXT",  # the repository policy text, or None
        "lifecycle": "TEXT",  # the lifecycle policy text, or None
        "tags": "TEXT",  # JSON list of {Key, Value}
    },
    key=("account_id", "region", "name"),
)

MIGRATIONS = [Migration(1, create=REPOSITORIES)]
