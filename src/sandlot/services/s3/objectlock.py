"""S3 Object Lock: write-once-read-many object versions, enforced.

A bucket gets Object Lock at creation (``ObjectLockEnabledForBucket``, which also
enables versioning for good) or later through PutObjectLockConfiguration on a
versioning-enabled bucket; its configuration may hold a default retention (``Mode``
with ``Days`` or ``Years``) every new version gets. A version's lock lives in its
metadata: ``Retention`` (``Mode``, ``RetainUntilDate`` as epoch seconds) and
``LegalHold`` (``ON``/``OFF``).

What is refused, as S3 refuses it (AccessDenied, 403): deleting a version (by version
id) under a legal hold or an unexpired retention, except GOVERNANCE with
``x-amz-bypass-governance-retention: true`` (and ``s3:BypassGovernanceRetention``,
authorized by IAM); shortening or removing a COMPLIANCE retention, or a GOVERNANCE one
without that bypass. Deleting without a version id only adds a delete marker, as on
AWS. Lifecycle rules never remove a locked version. A PUT with a retention (given or
the bucket's default) must carry Content-MD5 or a checksum.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.s3.base import S3Base, claimed_checksums, load_meta
from sandlot.services.s3.errors import invalid_argument, invalid_request, malformed_xml
from sandlot.services.s3.schema import BUCKETS

MODES = ("GOVERNANCE", "COMPLIANCE")
_DENIED = ("AccessDenied", "Access Denied", 403)


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=value.tzinfo or dt.UTC).timestamp()
    return float(value)


def _missing_configuration() -> ServiceError:
    return invalid_request("Bucket is missing Object Lock Configuration")


def lock_of(bucket: dict) -> dict | None:
    return json.loads(bucket["object_lock"]) if bucket.get("object_lock") else None


def _held(meta: dict, now: float) -> tuple[bool, str | None]:
    """(under legal hold, the retention mode still in force or None)."""
    retention = meta.get("Retention") or {}
    mode = retention.get("Mode") if retention.get("RetainUntilDate", 0) > now else None
    return meta.get("LegalHold") == "ON", mode


class ObjectLockOperations(S3Base):
    # -- bucket configuration -------------------------------------------------------------

    def put_object_lock_configuration(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        configuration = params.get("ObjectLockConfiguration") or {}
        if configuration.get("ObjectLockEnabled") != "Enabled":
            raise malformed_xml()
        rule = configuration.get("Rule")
        if rule is not None:
            retention = rule.get("DefaultRetention") or {}
            if retention.get("Mode") not in MODES:
                raise malformed_xml()
            if ("Days" in retention) == ("Years" in retention):
                raise malformed_xml()
            period = retention.get("Days", retention.get("Years"))
            if not isinstance(period, int) or period <= 0:
                raise invalid_argument("Default retention period must be a positive integer value")
        if lock_of(bucket) is None and bucket["versioning"] != "Enabled":
            raise ServiceError(
                "InvalidBucketState",
                "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
                409,
            )
        stored = {"ObjectLockEnabled": "Enabled", **({"Rule": rule} if rule else {})}
        self.store.put(BUCKETS, {**bucket, "object_lock": json.dumps(stored)})
        return {}

    def get_object_lock_configuration(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        lock = lock_of(bucket)
        if lock is None:
            raise ServiceError(
                "ObjectLockConfigurationNotFoundError",
                "Object Lock configuration does not exist for this bucket",
                404,
                BucketName=bucket["name"],
            )
        return {"ObjectLockConfiguration": lock}

    # -- writes ---------------------------------------------------------------------------

    def lock_for_write(self, bucket: dict, params: dict, *, whole_body: bool = True) -> dict:
        """The lock metadata a new version gets (given, else the bucket's default
        retention), after S3's checks. ``whole_body``: the request carries the object's
        bytes (PutObject), which must then have Content-MD5 or a checksum."""
        mode = params.get("ObjectLockMode")
        until = params.get("ObjectLockRetainUntilDate")
        hold = params.get("ObjectLockLegalHoldStatus")
        lock = lock_of(bucket)
        if lock is None:
            if mode or until or hold:
                raise _missing_configuration()
            return {}
        out: dict[str, Any] = {}
        if (mode is None) != (until is None):
            raise invalid_argument(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be "
                "supplied"
            )
        if mode is not None:
            if mode not in MODES:
                raise invalid_argument(
                    "Unknown wormMode directive.", "x-amz-object-lock-mode", mode
                )
            if _epoch(until) <= self.clock():
                raise invalid_argument("The retain until date must be in the future!")
            out["Retention"] = {"Mode": mode, "RetainUntilDate": _epoch(until)}
        elif lock.get("Rule"):
            default = lock["Rule"]["DefaultRetention"]
            days = default.get("Days") or default["Years"] * 365
            out["Retention"] = {
                "Mode": default["Mode"],
                "RetainUntilDate": self.clock() + days * 86400,
            }
        if hold is not None:
            if hold not in ("ON", "OFF"):
                raise malformed_xml()
            out["LegalHold"] = hold
        if whole_body and out.get("Retention"):
            body = params.get("Body")
            if not (
                params.get("ContentMD5")
                or params.get("ChecksumAlgorithm")
                or claimed_checksums(params, body)
            ):
                raise invalid_request(
                    "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object "
                    "requests with Object Lock parameters"
                )
        return out

    @staticmethod
    def lock_members(meta: dict) -> dict:
        """The Object Lock members GetObject/HeadObject answer."""
        out: dict[str, Any] = {}
        if meta.get("Retention"):
            out["ObjectLockMode"] = meta["Retention"]["Mode"]
            out["ObjectLockRetainUntilDate"] = meta["Retention"]["RetainUntilDate"]
        if meta.get("LegalHold"):
            out["ObjectLockLegalHoldStatus"] = meta["LegalHold"]
        return out

    def check_removable(self, bucket: dict, row: dict, bypass: bool) -> None:
        """Refuse deleting version ``row`` for good while it is locked."""
        if not bucket.get("object_lock") or row["marker"]:
            return
        hold, mode = _held(load_meta(row), self.clock())
        if hold or mode == "COMPLIANCE" or (mode == "GOVERNANCE" and not bypass):
            raise ServiceError(*_DENIED)

    def locked(self, row: dict) -> bool:
        hold, mode = _held(load_meta(row), self.clock())
        return hold or mode is not None

    # -- retention and legal hold of a version --------------------------------------------

    def _locked_version(self, ctx: RequestContext, params: dict) -> tuple[dict, dict]:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        if lock_of(bucket) is None:
            raise _missing_configuration()
        row = self.resolve(bucket, params["Key"], params.get("VersionId"))
        return bucket, row

    def put_object_retention(self, ctx: RequestContext, params: dict) -> dict:
        _bucket, row = self._locked_version(ctx, params)
        given = params.get("Retention") or {}
        mode, until = given.get("Mode"), given.get("RetainUntilDate")
        if (mode is None) != (until is None):
            raise malformed_xml()
        if mode is not None and mode not in MODES:
            raise malformed_xml()
        if until is not None and _epoch(until) <= self.clock():
            raise invalid_argument("The retain until date must be in the future!")
        meta = load_meta(row)
        _hold, current = _held(meta, self.clock())
        old_until = (meta.get("Retention") or {}).get("RetainUntilDate", 0)
        weaker = (
            mode is None
            or _epoch(until) < old_until
            or (current == "COMPLIANCE" and mode != "COMPLIANCE")
        )
        if current == "COMPLIANCE" and weaker:
            raise ServiceError(*_DENIED)
        if current == "GOVERNANCE" and weaker and not params.get("BypassGovernanceRetention"):
            raise ServiceError(*_DENIED)
        if mode is None:
            meta.pop("Retention", None)
        else:
            meta["Retention"] = {"Mode": mode, "RetainUntilDate": _epoch(until)}
        self.update_meta(row, meta)
        return {}

    def get_object_retention(self, ctx: RequestContext, params: dict) -> dict:
        _bucket, row = self._locked_version(ctx, params)
        retention = load_meta(row).get("Retention")
        if not retention:
            raise _no_lock()
        return {"Retention": dict(retention)}

    def put_object_legal_hold(self, ctx: RequestContext, params: dict) -> dict:
        _bucket, row = self._locked_version(ctx, params)
        status = (params.get("LegalHold") or {}).get("Status")
        if status not in ("ON", "OFF"):
            raise malformed_xml()
        meta = load_meta(row)
        meta["LegalHold"] = status
        self.update_meta(row, meta)
        return {}

    def get_object_legal_hold(self, ctx: RequestContext, params: dict) -> dict:
        _bucket, row = self._locked_version(ctx, params)
        hold = load_meta(row).get("LegalHold")
        if not hold:
            raise _no_lock()
        return {"LegalHold": {"Status": hold}}


def _no_lock() -> ServiceError:
    return ServiceError(
        "NoSuchObjectLockConfiguration",
        "The specified object does not have a ObjectLock configuration",
        404,
    )
