"""S3's durable state: tables and their migrations.

Buckets are global (unique in the partition), so they are keyed by name alone and
carry their owning account and region. Every version of every object is one row of
``s3_objects``, keyed by (bucket, key, rank) where ``rank`` is the negated write
sequence, so that a key's versions sort newest first. ``listed`` is 1 on exactly the
row a plain listing shows (the latest version of a key, when it is not a delete
marker); the (bucket, listed, key) index makes ListObjects a keyset range scan.

Blob lifecycle: ``s3_garbage`` holds ids of blobs that may be unreferenced. An id is
entered before its blob is written and leaves in the transaction that makes a row
reference it; the blob of a replaced or deleted row is entered in the transaction
that drops the row and removed after commit. At start-up every id still listed is a
blob no row references (a crash interrupted the sequence): its file is removed.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

BUCKETS = Table(
    "s3_buckets",
    {
        "name": "TEXT",
        "account": "TEXT",
        "region": "TEXT",
        "created": "REAL",
        "versioning": "TEXT",  # NULL (never enabled), "Enabled" or "Suspended"
        "tags": "TEXT",  # JSON list of {"Key", "Value"}, NULL when none
        "policy": "TEXT",  # the bucket policy document as given
        "cors": "TEXT",  # JSON list of CORSRules
        "notification": "TEXT",  # JSON NotificationConfiguration
        "encryption": "TEXT",  # JSON ServerSideEncryptionConfiguration; NULL: S3's default
        "lifecycle": "TEXT",  # JSON {Rules, TransitionDefaultMinimumObjectSize}; NULL: none
        "public_access_block": "TEXT",  # JSON settings; NULL: S3's default (all on); {}: none
        "object_lock": "TEXT",  # JSON ObjectLockConfiguration; NULL: no Object Lock
        "website": "TEXT",  # JSON WebsiteConfiguration; NULL: not a website
        "configurations": "TEXT",  # JSON: stored-only configurations (configurations.py)
        "ownership": "TEXT",  # Object Ownership; NULL: BucketOwnerEnforced; "": none
        "acl": "TEXT",  # JSON AccessControlPolicy; NULL: the owner's full control
    },
    ("name",),
    indexes=(("account", "name"),),
)

OBJECTS = Table(
    "s3_objects",
    {
        "bucket": "TEXT",
        "key": "TEXT",
        "rank": "INTEGER",  # -sequence: newer versions first
        "version_id": "TEXT",  # "null" for the null version
        "latest": "INTEGER",  # 1: the key's current version
        "marker": "INTEGER",  # 1: a delete marker
        "listed": "INTEGER",  # latest and not a marker
        "blob_id": "TEXT",
        "size": "INTEGER",
        "etag": "TEXT",  # quoted, as S3 returns it
        "modified": "REAL",  # epoch seconds
        "meta": "TEXT",  # JSON: content headers, user metadata, checksums, tags, parts
    },
    ("bucket", "key", "rank"),
    indexes=(("bucket", "listed", "key"),),
)

UPLOADS = Table(
    "s3_uploads",
    {
        "upload_id": "TEXT",
        "bucket": "TEXT",
        "key": "TEXT",
        "initiated": "REAL",
        "meta": "TEXT",  # JSON: what CreateMultipartUpload was given for the object
    },
    ("upload_id",),
    indexes=(("bucket", "key", "initiated"),),
)

PARTS = Table(
    "s3_parts",
    {
        "upload_id": "TEXT",
        "part_number": "INTEGER",
        "blob_id": "TEXT",
        "size": "INTEGER",
        "etag": "TEXT",
        "modified": "REAL",
        "checksums": "TEXT",  # JSON: algorithm → base64 value
        "iv": "TEXT",  # a sealed part's initial counter (SSE-C/SSE-KMS uploads), else NULL
    },
    ("upload_id", "part_number"),
)

GARBAGE = Table("s3_garbage", {"blob_id": "TEXT"}, ("blob_id",))

MIGRATIONS = [
    Migration(1, create=BUCKETS),
    Migration(2, create=OBJECTS),
    Migration(3, create=UPLOADS),
    Migration(4, create=PARTS),
    Migration(5, create=GARBAGE),
    Migration(6, add_column=(BUCKETS, "encryption")),
    Migration(7, add_column=(PARTS, "iv")),
    Migration(8, add_column=(BUCKETS, "lifecycle")),
    Migration(9, add_column=(BUCKETS, "public_access_block")),
    Migration(10, add_column=(BUCKETS, "object_lock")),
    Migration(11, add_column=(BUCKETS, "website")),
    Migration(12, add_column=(BUCKETS, "configurations")),
    Migration(13, add_column=(BUCKETS, "ownership")),
    Migration(14, add_column=(BUCKETS, "acl")),
]
