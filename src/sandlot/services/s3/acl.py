"""Access control lists (bucket and object ACLs), as S3 serves them under each Object
Ownership setting.

- ``BucketOwnerEnforced`` (S3's default for new buckets since April 2023): ACLs are
  disabled. Reading one answers the owner's full control; setting any ACL but the
  owner's full control (``private``, ``bucket-owner-full-control``, or a policy granting
  only that) is refused with AccessControlListNotSupported.
- ``ObjectWriter``/``BucketOwnerPreferred`` (or no ownership controls): ACLs are stored
  (the bucket's in ``s3_buckets.acl``, an object's in its version's meta ``ACL``),
  returned, and take part in authorization: ``acl_statements`` turns a grant into the
  bucket-policy statement S3 documents as its equivalent ("Mapping of ACL permissions and
  access policy permissions"), which ``resource_policy`` adds to the bucket's policy.

Public ACLs (grants to AllUsers or AuthenticatedUsers) are refused while the bucket's
BlockPublicAcls is on and left out of authorization while IgnorePublicAcls is on.
"""

from __future__ import annotations

import json
import re

from sandlot.iam.authorizer import ResourcePolicy
from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.s3.access import OWNERSHIPS, block_of, enforced_with_acl, ownership_of
from sandlot.services.s3.base import S3Base, load_meta
from sandlot.services.s3.buckets import canonical_id
from sandlot.services.s3.errors import invalid_argument, invalid_request, malformed_xml
from sandlot.services.s3.schema import BUCKETS, OBJECTS

_GROUPS = "http://acs.amazonaws.com/groups/"
ALL_USERS = _GROUPS + "global/AllUsers"
AUTHENTICATED_USERS = _GROUPS + "global/AuthenticatedUsers"
LOG_DELIVERY = _GROUPS + "s3/LogDelivery"
PUBLIC_GROUPS = frozenset({ALL_USERS, AUTHENTICATED_USERS})
PERMISSIONS = ("FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP")
# The request members carrying x-amz-grant-* headers, and the permission each grants.
_GRANT_MEMBERS = {
    "GrantFullControl": "FULL_CONTROL",
    "GrantRead": "READ",
    "GrantReadACP": "READ_ACP",
    "GrantWrite": "WRITE",
    "GrantWriteACP": "WRITE_ACP",
}
# Canned ACLs: the grants each adds to the owner's FULL_CONTROL (S3 User Guide, "Canned
# ACL"). "bucket-owner" grants go to the bucket's owner (on objects only).
_CANNED: dict[str, tuple[tuple[str, str], ...]] = {
    "private": (),
    "public-read": ((ALL_USERS, "READ"),),
    "public-read-write": ((ALL_USERS, "READ"), (ALL_USERS, "WRITE")),
    "authenticated-read": ((AUTHENTICATED_USERS, "READ"),),
    "aws-exec-read": (),  # EC2's read of AMI bundles: no EC2 here to grant it to
    "bucket-owner-read": (("bucket-owner", "READ"),),
    "bucket-owner-full-control": (("bucket-owner", "FULL_CONTROL"),),
    "log-delivery-write": ((LOG_DELIVERY, "WRITE"), (LOG_DELIVERY, "READ_ACP")),
}
_HEADER_GRANTEE = re.compile(r'\s*(id|uri|emailAddress)\s*=\s*"([^"]*)"\s*(?:,|$)')
_CANONICAL = re.compile(r"[0-9a-f]{64}")

# What each permission allows, as bucket-policy actions (bucket, object).
_BUCKET_ACTIONS = {
    "READ": ("s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"),
    "WRITE": ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"),
    "READ_ACP": ("s3:GetBucketAcl",),
    "WRITE_ACP": ("s3:PutBucketAcl",),
}
_OBJECT_ACTIONS = {
    "READ": ("s3:GetObject", "s3:GetObjectVersion"),
    "WRITE": (),
    "READ_ACP": ("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
    "WRITE_ACP": ("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
}


def acl_not_supported() -> ServiceError:
    return ServiceError("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)


def _user(account: str) -> dict:
    return {"Type": "CanonicalUser", "ID": canonical_id(account)}


def _group(uri: str) -> dict:
    return {"Type": "Group", "URI": uri}


def owner_acl(owner: str) -> dict:
    """The ACL every resource has by default: its owner's full control."""
    return {
        "Owner": {"ID": canonical_id(owner)},
        "Grants": [{"Grantee": _user(owner), "Permission": "FULL_CONTROL"}],
    }


def _grantee(given: dict) -> dict:
    kind = given.get("Type")
    if kind == "Group" and given.get("URI", "").startswith(_GROUPS):
        return _group(given["URI"])
    if kind == "CanonicalUser" and _CANONICAL.fullmatch(given.get("ID") or ""):
        return {"Type": "CanonicalUser", "ID": given["ID"]}
    if kind == "AmazonCustomerByEmail":
        raise ServiceError(
            "UnresolvableGrantByEmailAddress",
            "The e-mail address you provided does not match any account on record.",
            400,
        )
    if kind == "CanonicalUser":
        raise invalid_argument("Invalid id", "CanonicalUser/ID", given.get("ID") or "")
    raise ServiceError(
        "MalformedACLError",
        "The XML you provided was not well-formed or did not validate against our published schema",
        400,
    )


def _header_grants(params: dict) -> list[dict]:
    grants = []
    for member, permission in _GRANT_MEMBERS.items():
        text = params.get(member)
        if not text:
            continue
        found = _HEADER_GRANTEE.findall(text)
        if not found:
            raise invalid_argument("Invalid grant", member, text)
        for kind, value in found:
            given = {
                "id": {"Type": "CanonicalUser", "ID": value},
                "uri": {"Type": "Group", "URI": value},
                "emailAddress": {"Type": "AmazonCustomerByEmail", "EmailAddress": value},
            }[kind]
            grants.append({"Grantee": _grantee(given), "Permission": permission})
    return grants


def requested_acl(params: dict, owner: str, bucket_owner: str) -> dict | None:
    """The ACL a request sets (``x-amz-acl``, ``x-amz-grant-*`` or an
    AccessControlPolicy body), owned by ``owner``; None when it sets none."""
    canned = params.get("ACL")
    headers = _header_grants(params)
    body = params.get("AccessControlPolicy")
    if canned is not None and (headers or body is not None):
        raise invalid_request("Specifying both Canned ACLs and Header Grants is not allowed")
    if canned is not None:
        if canned not in _CANNED:
            raise invalid_argument("", "x-amz-acl", canned)
        acl = owner_acl(owner)
        for who, permission in _CANNED[canned]:
            grantee = _user(bucket_owner) if who == "bucket-owner" else _group(who)
            if grantee != acl["Grants"][0]["Grantee"]:
                acl["Grants"].append({"Grantee": grantee, "Permission": permission})
        return acl
    if headers:
        return {"Owner": {"ID": canonical_id(owner)}, "Grants": headers}
    if body is not None:
        grants = []
        for grant in body.get("Grants") or []:
            if grant.get("Permission") not in PERMISSIONS:
                raise _malformed_acl()
            grants.append(
                {"Grantee": _grantee(grant.get("Grantee") or {}), "Permission": grant["Permission"]}
            )
        return {"Owner": {"ID": canonical_id(owner)}, "Grants": grants}
    return None


def _malformed_acl() -> ServiceError:
    return ServiceError(
        "MalformedACLError",
        "The XML you provided was not well-formed or did not validate against our published schema",
        400,
    )


def owner_only(acl: dict, owner: str) -> bool:
    """Whether ``acl`` grants nothing beyond ``owner``'s full control."""
    mine = _user(owner)
    return all(g["Grantee"] == mine and g["Permission"] == "FULL_CONTROL" for g in acl["Grants"])


def is_public(acl: dict) -> bool:
    return any(g["Grantee"].get("URI") in PUBLIC_GROUPS for g in acl["Grants"])


def acl_for_write(ctx: RequestContext, bucket: dict, params: dict) -> dict | None:
    """The ACL a write (PutBucketAcl, PutObjectAcl, PutObject, CopyObject,
    CreateMultipartUpload) sets on ``bucket`` or in it, checked against the bucket's
    Object Ownership and public access block; None when it sets none, or when ACLs are
    disabled and it asks only for the owner's full control (which S3 accepts)."""
    account, ownership = bucket["account"], ownership_of(bucket)
    # An object is its writer's, except under BucketOwnerPreferred when the writer gives
    # the bucket owner full control, and always when ACLs are disabled; a bucket is its owner's.
    preferred = ownership == "BucketOwnerPreferred"
    owner = ctx.account_id
    if (
        "Key" not in params
        or ownership == "BucketOwnerEnforced"
        or (preferred and params.get("ACL") == "bucket-owner-full-control")
    ):
        owner = account
    acl = requested_acl(params, owner, account)
    if acl is None:
        # Another account's object without an ACL still records its owner.
        return owner_acl(owner) if owner != account else None
    if ownership == "BucketOwnerEnforced":
        if not owner_only(acl, account):
            raise acl_not_supported()
        return None
    if is_public(acl) and (block_of(bucket) or {}).get("BlockPublicAcls"):
        raise ServiceError("AccessDenied", "Access Denied", 403)
    return acl


def acl_statements(resource: str, acl: dict, bucket: dict, *, on_object: bool) -> list[dict]:
    """The bucket-policy statements equivalent to ``acl``'s grants on ``resource``
    (grants to the resource's owner add nothing: IAM already gives an owner's account its
    own resources)."""
    ignore_public = bool((block_of(bucket) or {}).get("IgnorePublicAcls"))
    table = _OBJECT_ACTIONS if on_object else _BUCKET_ACTIONS
    statements = []
    for grant in acl["Grants"]:
        grantee, permission = grant["Grantee"], grant["Permission"]
        uri = grantee.get("URI")
        if uri in PUBLIC_GROUPS and ignore_public:
            continue
        condition = None
        if uri == ALL_USERS:
            principal: object = "*"
        elif uri == AUTHENTICATED_USERS:  # any signed AWS caller: not anonymous
            principal = {"AWS": "*"}
            condition = {"Null": {"aws:PrincipalAccount": "false"}}
        elif uri == LOG_DELIVERY:
            principal = {"Service": "logging.s3.amazonaws.com"}
        else:
            continue  # a canonical user: see resource_policy's note
        if permission == "FULL_CONTROL":
            actions = sorted({a for group in table.values() for a in group})
        else:
            actions = list(table.get(permission, ()))
        if actions:
            statement = {
                "Effect": "Allow",
                "Principal": principal,
                "Action": actions,
                "Resource": resource,
            }
            if condition:
                statement["Condition"] = condition
            statements.append(statement)
    return statements


def policy_with_acls(policy: str | None, bucket: dict, object_acl: dict | None, arn: str):
    """``policy`` (a bucket's effective policy) with the statements its ACLs grant, when
    ACLs are enabled on the bucket (the bucket's ACL for the bucket, ``object_acl`` for an
    object ``arn``)."""
    if ownership_of(bucket) == "BucketOwnerEnforced":
        return policy
    on_object = "/" in arn[len("arn:aws:s3:::") :]
    acl = object_acl if on_object else (json.loads(bucket["acl"]) if bucket.get("acl") else None)
    if acl is None:
        return policy
    extra = acl_statements(arn, acl, bucket, on_object=on_object)
    if not extra:
        return policy
    document = json.loads(policy) if policy else {"Version": "2012-10-17", "Statement": []}
    listed = document.get("Statement") or []
    document["Statement"] = (listed if isinstance(listed, list) else [listed]) + extra
    return json.dumps(document)


class AclOperations(S3Base):
    def creation_acl(self, ctx: RequestContext, row: dict, params: dict) -> dict:
        """The ownership and ACL columns of a bucket CreateBucket makes (``x-amz-object-
        ownership``, ``x-amz-acl``, ``x-amz-grant-*``)."""
        ownership = params.get("ObjectOwnership")
        if ownership is not None and ownership not in OWNERSHIPS:
            raise malformed_xml()
        columns = {"ownership": ownership if ownership != "BucketOwnerEnforced" else None}
        try:
            acl = acl_for_write(ctx, {**row, **columns}, params)
        except ServiceError as refused:  # CreateBucket names the conflicting setting
            if refused.code == "AccessControlListNotSupported":
                raise enforced_with_acl() from None
            if refused.code == "AccessDenied":
                raise ServiceError(
                    "InvalidBucketAclWithBlockPublicAccessError",
                    "Bucket cannot have public ACLs set with BlockPublicAccess enabled",
                    400,
                ) from None
            raise
        if acl is not None and not owner_only(acl, row["account"]):
            columns["acl"] = json.dumps(acl)
        return columns

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """The policy of the bucket ``arn`` (a bucket or object ARN) names, with the
        statements its ACLs grant, the bucket's owner and tags, which IAM evaluates
        requests against; None when there is no such bucket. (ACL grants to canonical
        users of other accounts are stored and answered, not evaluated: a canonical id
        does not name its account.)"""
        if not arn.startswith("arn:aws:s3:::"):
            return None
        name, _, key = arn[len("arn:aws:s3:::") :].partition("/")
        row = self.store.get(BUCKETS, name)
        if row is None:
            return None
        tags = {t["Key"]: t["Value"] for t in json.loads(row["tags"] or "[]")}
        object_acl = None
        if key and ownership_of(row) != "BucketOwnerEnforced":
            versions = self.store.select(OBJECTS, {"bucket": name, "key": key}, limit=1)
            if versions and not versions[0]["marker"]:
                object_acl = load_meta(versions[0]).get("ACL")
        policy = policy_with_acls(self.effective_policy(row), row, object_acl, arn)
        return ResourcePolicy(policy, row["account"], tags=tags)

    def get_bucket_acl(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        if ownership_of(bucket) == "BucketOwnerEnforced" or not bucket.get("acl"):
            return owner_acl(bucket["account"])
        return json.loads(bucket["acl"])

    def put_bucket_acl(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        if not any(params.get(m) for m in ("ACL", "AccessControlPolicy", *_GRANT_MEMBERS)):
            raise ServiceError(
                "MissingSecurityHeader", "Your request was missing a required header", 400
            )
        acl = acl_for_write(ctx, bucket, params)
        if ownership_of(bucket) != "BucketOwnerEnforced":
            stored = None if acl is None or owner_only(acl, bucket["account"]) else acl
            self.store.put(BUCKETS, {**bucket, "acl": json.dumps(stored) if stored else None})
        return {}

    def get_object_acl(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        row = self.resolve(bucket, params["Key"], params.get("VersionId"))
        stored = load_meta(row).get("ACL")
        if ownership_of(bucket) == "BucketOwnerEnforced" or not stored:
            return owner_acl(bucket["account"])
        return stored

    def put_object_acl(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        row = self.resolve(bucket, params["Key"], params.get("VersionId"))
        if not any(params.get(m) for m in ("ACL", "AccessControlPolicy", *_GRANT_MEMBERS)):
            raise ServiceError(
                "MissingSecurityHeader", "Your request was missing a required header", 400
            )
        acl = acl_for_write(ctx, bucket, params)
        if acl is not None:
            meta = load_meta(row)
            # The object keeps its owner: the one its write recorded.
            acl["Owner"] = (meta.get("ACL") or acl)["Owner"]
            meta["ACL"] = acl
            self.update_meta(row, meta)
        return {}
