"""The ECR tables: repositories (their settings, policies and tags) per account and
region; per repository its layers (blobs: content in the store's blob files, addressed
by digest), its images (manifests by digest) and its tags, and layer uploads in
progress (their bytes in a file under the data directory until completed)."""

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

LAYERS = Table(
    "ecr_layers",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "repository": "TEXT",
        "digest": "TEXT",  # sha256:<hex> of the content, verified on upload
        "blob_id": "TEXT",  # the store's blob file
        "size": "INTEGER",
        "created": "REAL",
    },
    key=("account_id", "region", "repository", "digest"),
)

IMAGES = Table(
    "ecr_images",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "repository": "TEXT",
        "digest": "TEXT",  # sha256 of the manifest's bytes
        "manifest": "TEXT",  # the manifest exactly as pushed
        "media_type": "TEXT",
        "size": "INTEGER",  # the manifest's layers and config, as DescribeImages reports
        "pushed": "REAL",
    },
    key=("account_id", "region", "repository", "digest"),
)

TAGS = Table(
    "ecr_tags",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "repository": "TEXT",
        "tag": "TEXT",
        "digest": "TEXT",
    },
    key=("account_id", "region", "repository", "tag"),
    indexes=(("account_id", "region", "repository", "digest"),),
)

UPLOADS = Table(
    "ecr_uploads",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "repository": "TEXT",
        "upload_id": "TEXT",
        "received": "INTEGER",  # bytes written to the upload's file so far
        "created": "REAL",
    },
    key=("account_id", "region", "repository", "upload_id"),
)

MIGRATIONS = [
    Migration(1, create=REPOSITORIES),
    Migration(2, create=LAYERS),
    Migration(3, create=IMAGES),
    Migration(4, create=TAGS),
    Migration(5, create=UPLOADS),
]
