"""Block Public Access (bucket level) and Object Ownership, as S3 has them by default
since April 2023, enforced.

A bucket's public access block (Put/Get/DeletePublicAccessBlock) defaults to all four
settings on. What they do here, as S3 documents ("Blocking public access to your
Amazon S3 storage"):

- ``BlockPublicPolicy``: PutBucketPolicy refuses a public policy (AccessDenied, 403);
  a policy stored before stays;
- ``RestrictPublicBuckets``: while the bucket's policy is public, its statements that
  grant access to principals outside the bucket owner's account (anyone, other
  accounts) are ignored: only the owner's account and AWS service principals keep the
  access the policy gives;
- ``BlockPublicAcls``/``IgnorePublicAcls``: a public ACL is refused / left out of
  authorization (``acl.py``), on buckets whose Object Ownership enables ACLs.

A policy is public ("The meaning of public") unless each Allow statement names fixed
principals (no ``*``, no NotPrincipal) or carries a condition fixing one of the keys S3
lists (``aws:SourceArn``, ``aws:SourceAccount``, ``aws:PrincipalOrgID``...).

Object Ownership (``s3_buckets.ownership``): ``BucketOwnerEnforced`` (the default: ACLs
disabled), ``ObjectWriter`` or ``BucketOwnerPreferred`` (ACLs enabled, ``acl.py``), or no
ownership controls at all (deleted: ACLs enabled, as ObjectWriter). A bucket whose ACL
grants more than its owner's full control cannot become BucketOwnerEnforced.
"""

from __future__ import annotations

import json
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.s3.base import S3Base
from sandlot.services.s3.errors import malformed_xml
from sandlot.services.s3.schema import BUCKETS

SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
DEFAULT_BLOCK = dict.fromkeys(SETTINGS, True)
OWNERSHIPS = ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter")
# Condition keys whose fixed value makes a statement non-public (S3 User Guide).
_FIXING_KEYS = frozenset(
    k.lower()
    for k in (
        "aws:SourceArn", "aws:SourceVpc", "aws:SourceVpce", "aws:SourceOwner",
        "aws:SourceAccount", "aws:userid", "aws:PrincipalArn", "aws:PrincipalAccount",
        "aws:PrincipalOrgID", "s3:DataAccessPointArn", "s3:DataAccessPointAccount",
        "aws:SourceIp",
    )
)  # fmt: skip


def ownership_of(bucket: dict) -> str | None:
    """The bucket's Object Ownership; None when its ownership controls were deleted."""
    stored = bucket.get("ownership")
    if stored is None:
        return "BucketOwnerEnforced"
    return stored or None


def block_of(bucket: dict) -> dict | None:
    """The bucket's public access block; None when deleted (NULL: S3's default)."""
    stored = bucket.get("public_access_block")
    if stored is None:
        return dict(DEFAULT_BLOCK)
    return json.loads(stored) or None


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _fixed(value: Any) -> bool:
    return all(isinstance(v, str) and "*" not in v and "?" not in v for v in _listed(value))


def _statement_public(statement: dict) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if "NotPrincipal" in statement:
        return True
    principal = statement.get("Principal")
    if isinstance(principal, dict) and all(_fixed(v) for v in principal.values()):
        return False
    for operator, conditions in (statement.get("Condition") or {}).items():
        if "IfExists" in operator or not isinstance(conditions, dict):
            continue
        for key, value in conditions.items():
            if key.lower() in _FIXING_KEYS and _fixed(value):
                return False
    return True


def _statements(text: str) -> list[dict]:
    statements = json.loads(text).get("Statement") or []
    return [s for s in _listed(statements) if isinstance(s, dict)]


def policy_is_public(text: str) -> bool:
    return any(_statement_public(s) for s in _statements(text))


def _within(statement: dict, account: str) -> bool:
    """Whether an Allow statement grants only the owner's account and services."""
    principal = statement.get("Principal")
    if statement.get("Effect") != "Allow":
        return True
    if not isinstance(principal, dict):
        return False
    for kind, values in principal.items():
        if kind == "Service":
            continue
        if kind != "AWS":
            return False
        for value in _listed(values):
            if value not in (account, f"arn:aws:iam::{account}:root") and not str(value).startswith(
                f"arn:aws:iam::{account}:"
            ):
                return False
    return True


def restricted_policy(text: str, account: str) -> str | None:
    """The policy as IAM evaluates it under RestrictPublicBuckets: statements granting
    principals outside ``account`` dropped (None when none is left)."""
    document = json.loads(text)
    document["Statement"] = [s for s in _statements(text) if _within(s, account)]
    return json.dumps(document) if document["Statement"] else None


class AccessOperations(S3Base):
    # -- public access block --------------------------------------------------------------

    def put_public_access_block(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        given = params.get("PublicAccessBlockConfiguration") or {}
        block = {name: bool(given.get(name, False)) for name in SETTINGS}
        self.store.put(BUCKETS, {**bucket, "public_access_block": json.dumps(block)})
        return {}

    def get_public_access_block(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        block = block_of(bucket)
        if block is None:
            raise ServiceError(
                "NoSuchPublicAccessBlockConfiguration",
                "The public access block configuration was not found",
                404,
                BucketName=bucket["name"],
            )
        return {"PublicAccessBlockConfiguration": block}

    def delete_public_access_block(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        self.store.put(BUCKETS, {**bucket, "public_access_block": "{}"})
        return {}

    def check_public_policy(self, ctx: RequestContext, bucket: dict, text: str) -> None:
        block = block_of(bucket) or {}
        if block.get("BlockPublicPolicy") and policy_is_public(text):
            raise ServiceError(
                "AccessDenied",
                f"User: {ctx.principal.arn} is not authorized to perform: s3:PutBucketPolicy "
                f'on resource: "arn:aws:s3:::{bucket["name"]}" because public policies are '
                "blocked by the BlockPublicPolicy block public access setting.",
                403,
            )

    def effective_policy(self, bucket: dict) -> str | None:
        text = bucket.get("policy")
        if not text:
            return text
        block = block_of(bucket) or {}
        if block.get("RestrictPublicBuckets") and policy_is_public(text):
            return restricted_policy(text, bucket["account"])
        return text

    def get_bucket_policy_status(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        if not bucket.get("policy"):
            raise ServiceError(
                "NoSuchBucketPolicy",
                "The bucket policy does not exist",
                404,
                BucketName=bucket["name"],
            )
        return {"PolicyStatus": {"IsPublic": policy_is_public(bucket["policy"])}}

    # -- object ownership -----------------------------------------------------------------

    def put_bucket_ownership_controls(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        rules = (params.get("OwnershipControls") or {}).get("Rules") or []
        if len(rules) != 1 or rules[0].get("ObjectOwnership") not in OWNERSHIPS:
            raise malformed_xml()
        ownership = rules[0]["ObjectOwnership"]
        if ownership == "BucketOwnerEnforced" and bucket.get("acl"):
            raise enforced_with_acl()
        self.store.put(BUCKETS, {**bucket, "ownership": ownership})
        return {}

    def get_bucket_ownership_controls(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        ownership = ownership_of(bucket)
        if ownership is None:
            raise ServiceError(
                "OwnershipControlsNotFoundError",
                "The bucket ownership controls were not found",
                404,
                BucketName=bucket["name"],
            )
        return {"OwnershipControls": {"Rules": [{"ObjectOwnership": ownership}]}}

    def delete_bucket_ownership_controls(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        self.store.put(BUCKETS, {**bucket, "ownership": ""})
        return {}


def enforced_with_acl() -> ServiceError:
    return ServiceError(
        "InvalidBucketAclWithObjectOwnership",
        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
        400,
    )
