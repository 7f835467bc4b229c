"""Access control lists as S3 has them by default since April 2023: Object Ownership
"bucket owner enforced", ACLs disabled. Reading an ACL answers the owner's full
control; setting any ACL but the owner's full control is refused with
AccessControlListNotSupported, as S3 refuses it for such buckets."""

from __future__ import annotations

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.s3.base import S3Base
from sandlot.services.s3.buckets import canonical_id

# Canned ACLs that grant nothing beyond the bucket owner's full control.
OWNER_ONLY = frozenset({"private", "bucket-owner-full-control"})
_GRANT_MEMBERS = ("GrantFullControl", "GrantRead", "GrantReadACP", "GrantWrite", "GrantWriteACP")


def check_acl(params: dict) -> None:
    """Refuse a request that sets an ACL (canned or grants) a disabled-ACL bucket cannot
    honour."""
    canned = params.get("ACL")
    if (canned is not None and canned not in OWNER_ONLY) or any(
        params.get(m) for m in _GRANT_MEMBERS
    ):
        raise ServiceError("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)


def _owner_acl(account: str) -> dict:
    owner = {"ID": canonical_id(account)}
    return {
        "Owner": owner,
        "Grants": [{"Grantee": {**owner, "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}],
    }


class AclOperations(S3Base):
    def get_bucket_acl(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        return _owner_acl(bucket["account"])

    def put_bucket_acl(self, ctx: RequestContext, params: dict) -> dict:
        self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        check_acl(params)
        if params.get("AccessControlPolicy") is not None:
            grants = params["AccessControlPolicy"].get("Grants") or []
            if any(g.get("Permission") != "FULL_CONTROL" for g in grants) or len(grants) > 1:
                raise ServiceError(
                    "AccessControlListNotSupported", "The bucket does not allow ACLs", 400
                )
        return {}

    def get_object_acl(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        self.resolve(bucket, params["Key"], params.get("VersionId"))
        return _owner_acl(bucket["account"])

    def put_object_acl(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        self.resolve(bucket, params["Key"], params.get("VersionId"))
        check_acl(params)
        return {}

    def get_bucket_ownership_controls(self, ctx: RequestContext, params: dict) -> dict:
        self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        return {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}}
