"""Bucket operations: create (naming and location rules), delete, head, list, location,
tagging, policy, versioning."""

from __future__ import annotations

import base64
import hashlib
import json
import re

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.s3.base import S3Base
from sandlot.services.s3.errors import invalid_argument, malformed_xml
from sandlot.services.s3.policy import validate_bucket_policy
from sandlot.services.s3.schema import BUCKETS, OBJECTS, UPLOADS

DEFAULT_REGION = "us-east-1"
MAX_BUCKET_TAGS = 50
MAX_OBJECT_TAGS = 10
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
# General purpose bucket naming rules (Amazon S3 User Guide, "Bucket naming rules").
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# Regions a LocationConstraint may name (S3's BucketLocationConstraint values plus the
# regions opened since, which botocore leaves open).
_EU = "EU"  # the legacy name of eu-west-1


def valid_bucket_name(name: str) -> bool:
    return bool(
        _NAME.fullmatch(name)
        and ".." not in name
        and ".-" not in name
        and "-." not in name
        and not _IP.fullmatch(name)
        and not name.startswith(_RESERVED_PREFIXES)
        and not name.endswith(_RESERVED_SUFFIXES)
    )


def _tag_text(text: str, limit: int, minimum: int) -> bool:
    """A tag key or value as AWS allows it: Unicode letters, digits, spaces and
    ``_ . : / = + - @``, ``minimum``..``limit`` characters."""
    return minimum <= len(text) <= limit and all(
        c.isalnum() or c.isspace() or c in _TAG_PUNCTUATION for c in text
    )


def check_tags(tags: list[dict], limit: int = MAX_BUCKET_TAGS) -> list[dict]:
    """A TagSet as S3 accepts it: each tag checked first (AWS's order), then the count
    (50 on a bucket, 10 on an object)."""
    seen = set()
    for tag in tags:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not _tag_text(key, 128, 1):
            raise ServiceError("InvalidTag", "The TagKey you have provided is invalid", 400)
        if not _tag_text(value, 256, 0):
            raise ServiceError("InvalidTag", "The TagValue you have provided is invalid", 400)
        if key in seen:
            raise ServiceError("InvalidTag", "Cannot provide multiple Tags with the same key", 400)
        seen.add(key)
        if key.lower().startswith("aws:"):
            raise ServiceError(
                "InvalidTag", "System tags cannot be added/updated by requester", 400
            )
    if len(tags) > limit:
        message = (
            "Object tags cannot be greater than 10"
            if limit == MAX_OBJECT_TAGS
            else f"Bucket tag count cannot be greater than {limit}"
        )
        raise ServiceError("BadRequest", message, 400)
    return [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags]


def _location_of(region: str) -> str | None:
    """GetBucketLocation's answer: None (empty) for us-east-1, as S3 answers."""
    return None if region == DEFAULT_REGION else region


class BucketOperations(S3Base):
    # -- lifecycle ------------------------------------------------------------------------

    def create_bucket(self, ctx: RequestContext, params: dict) -> dict:
        name = params["Bucket"]
        if not valid_bucket_name(name):
            raise ServiceError(
                "InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=name
            )
        region = self._creation_region(ctx, params.get("CreateBucketConfiguration") or {})
        existing = self.store.get(BUCKETS, name)
        if existing is not None:
            if existing["account"] != ctx.account_id:
                raise ServiceError(
                    "BucketAlreadyExists",
                    "The requested bucket name is not available. The bucket namespace is "
                    "shared by all users of the system. Please select a different name and "
                    "try again.",
                    409,
                    BucketName=name,
                )
            # Legacy compatibility: us-east-1 answers 200 to re-creating your own bucket.
            if existing["region"] == DEFAULT_REGION and region == DEFAULT_REGION:
                return {"Location": f"/{name}"}
            raise ServiceError(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already "
                "own it.",
                409,
                BucketName=name,
            )
        row = {"name": name, "account": ctx.account_id, "region": region, "created": self.clock()}
        row.update(self.creation_acl(ctx, row, params))
        if params.get("ObjectLockEnabledForBucket"):  # versioning comes with it, for good
            row.update(object_lock='{"ObjectLockEnabled": "Enabled"}', versioning="Enabled")
        created = self.store.put(BUCKETS, row, replace=False)
        if not created:  # a concurrent create won
            return self.create_bucket(ctx, params)
        location = f"/{name}" if region == DEFAULT_REGION else self._virtual_url(name)
        return {"Location": location}

    def _virtual_url(self, name: str) -> str:
        endpoint = self.platform.endpoint_url.rstrip("/")
        scheme, _, host = endpoint.partition("://")
        return f"{scheme}://{name}.s3.{host}/"

    @staticmethod
    def _creation_region(ctx: RequestContext, configuration: dict) -> str:
        constraint = configuration.get("LocationConstraint")
        if constraint == _EU:
            constraint = "eu-west-1"
        if not constraint:
            if ctx.region != DEFAULT_REGION:
                raise ServiceError(
                    "IllegalLocationConstraintException",
                    "The unspecified location constraint is incompatible for the region "
                    "specific endpoint this request was sent to.",
                    400,
                )
            return DEFAULT_REGION
        if constraint == DEFAULT_REGION or not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", constraint):
            raise ServiceError(
                "InvalidLocationConstraint",
                "The specified location-constraint is not valid",
                400,
                LocationConstraint=constraint,
            )
        if constraint != ctx.region:
            raise ServiceError(
                "IllegalLocationConstraintException",
                f"The {constraint} location constraint is incompatible for the region "
                "specific endpoint this request was sent to.",
                400,
            )
        return constraint

    def delete_bucket(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        name = bucket["name"]
        if self.store.select(OBJECTS, {"bucket": name}, limit=1):
            raise ServiceError(
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty",
                409,
                BucketName=name,
            )
        for upload in self.store.select(UPLOADS, {"bucket": name}):
            self.discard_upload(upload)
        with self.store.transaction():
            self.store.delete(BUCKETS, name)
            self.platform.timers.cancel("s3:lifecycle", name)
        return {}

    def head_bucket(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        return {
            "BucketRegion": bucket["region"],
            "BucketLocationType": None,
            "AccessPointAlias": False,
        }

    def get_bucket_location(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        return {"LocationConstraint": _location_of(bucket["region"])}

    def list_buckets(self, ctx: RequestContext, params: dict) -> dict:
        prefix = params.get("Prefix") or ""
        region = params.get("BucketRegion")
        limit = params.get("MaxBuckets")
        if limit is not None and not 1 <= limit <= 10000:
            raise invalid_argument(
                "Argument max-buckets must be an integer between 1 and 10000",
                "max-buckets",
                str(limit),
            )
        after = None
        token = params.get("ContinuationToken")
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except (ValueError, UnicodeDecodeError):
                raise invalid_argument(
                    "The continuation token provided is incorrect",
                    "continuation-token",
                    token,
                ) from None
        rows = self.store.select(
            BUCKETS,
            {"account": ctx.account_id},
            order_by=("name",),
            after={"name": after} if after else None,
            bounds={"name": (prefix, None)} if prefix else None,
        )
        rows = [r for r in rows if r["name"].startswith(prefix)]
        if region:
            rows = [r for r in rows if r["region"] == region]
        next_token = None
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            next_token = base64.urlsafe_b64encode(rows[-1]["name"].encode()).decode()
        return {
            "Buckets": [
                {"Name": r["name"], "CreationDate": r["created"], "BucketRegion": r["region"]}
                for r in rows
            ],
            "Owner": {"ID": canonical_id(ctx.account_id)},
            "ContinuationToken": next_token,
            "Prefix": params.get("Prefix"),
        }

    # -- tagging --------------------------------------------------------------------------

    def put_bucket_tagging(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        tags = check_tags(params["Tagging"].get("TagSet") or [])
        self.store.put(BUCKETS, {**bucket, "tags": json.dumps(tags)})
        return {}

    def get_bucket_tagging(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        if not bucket["tags"]:
            raise ServiceError(
                "NoSuchTagSet", "The TagSet does not exist", 404, BucketName=bucket["name"]
            )
        return {"TagSet": json.loads(bucket["tags"])}

    def delete_bucket_tagging(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        self.store.put(BUCKETS, {**bucket, "tags": None})
        return {}

    # -- policy ---------------------------------------------------------------------------

    def put_bucket_policy(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        text = params["Policy"]
        validate_bucket_policy(text, bucket["name"])
        self.check_public_policy(ctx, bucket, text)
        self.store.put(BUCKETS, {**bucket, "policy": text})
        return {}

    def get_bucket_policy(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        if not bucket["policy"]:
            raise ServiceError(
                "NoSuchBucketPolicy",
                "The bucket policy does not exist",
                404,
                BucketName=bucket["name"],
            )
        return {"Policy": bucket["policy"]}

    def delete_bucket_policy(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        self.store.put(BUCKETS, {**bucket, "policy": None})
        return {}

    # -- versioning -----------------------------------------------------------------------

    def put_bucket_versioning(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        status = (params.get("VersioningConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise malformed_xml()
        if bucket.get("object_lock") and status != "Enabled":
            raise ServiceError(
                "InvalidBucketState",
                "An Object Lock configuration is present on this bucket, so the versioning "
                "state cannot be changed.",
                409,
            )
        self.store.put(BUCKETS, {**bucket, "versioning": status})
        return {}

    def get_bucket_versioning(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        return {"Status": bucket["versioning"]} if bucket["versioning"] else {}


def canonical_id(account: str) -> str:
    """A stable 64-hex canonical user id for an account."""
    return hashlib.sha256(f"sandlot-canonical-{account}".encode()).hexdigest()
