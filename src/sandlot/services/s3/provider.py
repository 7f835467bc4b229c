"""Amazon S3's API: the provider class, assembled from one mixin per area.

Buckets (with tagging, policy, versioning, ACLs (disabled by default, as S3 has them), public
access blocks), Object Lock, static websites (with their endpoint), stored-only configurations
(acceleration, requester pays, logging, replication, inventory, metrics, analytics,
intelligent-tiering), default
encryption, lifecycle rules (executed at every midnight), CORS (with the gateway's preflight and
response-header hooks), notification configuration, objects, listings and multipart
uploads; the shared state and the write protocol that keeps objects whole across
crashes are in ``base.py``.
"""

from __future__ import annotations

from sandlot.services.s3.access import AccessOperations
from sandlot.services.s3.acl import AclOperations
from sandlot.services.s3.buckets import BucketOperations
from sandlot.services.s3.configurations import ConfigurationOperations
from sandlot.services.s3.cors import CorsOperations
from sandlot.services.s3.encryption import EncryptionOperations
from sandlot.services.s3.lifecycle import LifecycleOperations
from sandlot.services.s3.listing import ListingOperations
from sandlot.services.s3.multipart import MultipartOperations
from sandlot.services.s3.notifications import NotificationOperations
from sandlot.services.s3.objectlock import ObjectLockOperations
from sandlot.services.s3.objects import ObjectOperations
from sandlot.services.s3.replication import ReplicationOperations
from sandlot.services.s3.website import WebsiteOperations


class S3Provider(
    BucketOperations,
    CorsOperations,
    NotificationOperations,
    ObjectOperations,
    ListingOperations,
    MultipartOperations,
    EncryptionOperations,
    AclOperations,
    LifecycleOperations,
    AccessOperations,
    ObjectLockOperations,
    WebsiteOperations,
    ConfigurationOperations,
    ReplicationOperations,
):
    """Amazon S3."""
