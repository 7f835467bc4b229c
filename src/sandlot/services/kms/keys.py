"""Keys: creation (spec and usage as AWS combines them), description, listing, states
(enable, disable, scheduled deletion), rotation, tags and descriptions."""

from __future__ import annotations

import asyncio
import base64
import json

from sandlot.protocol import ServiceError
from sandlot.services.kms.base import (
    DAY_S,
    DEFAULT_ROTATION_DAYS,
    KmsBase,
    Row,
    invalid_state,
    key_arn,
    unsupported,
    validation,
)
from sandlot.services.kms.material import SPECS, generate
from sandlot.services.kms.policies import check_policy
from sandlot.services.kms.schema import KEYS, MATERIALS
from sandlot.services.provider import RequestContext

MAX_TAGS = 50
DEFAULT_LIMIT = 100


def metadata(row: Row, material_id: str | None = None) -> dict:
    """KeyMetadata as DescribeKey and CreateKey return it (``material_id``: the current
    material's KeyMaterialId, which AWS shows for symmetric keys)."""
    spec = SPECS[row["key_spec"]]
    out: dict = {
        "AWSAccountId": row["account_id"],
        "KeyId": row["key_id"],
        "Arn": key_arn(row),
        "CreationDate": row["created"],
        "Enabled": row["state"] == "Enabled",
        "Description": row["description"] or "",
        "KeyUsage": row["key_usage"],
        "KeyState": row["state"],
        "Origin": row["origin"],
        "KeyManager": row["manager"],
        "CustomerMasterKeySpec": row["key_spec"],
        "KeySpec": row["key_spec"],
        "MultiRegion": bool(row["multi_region"]),
    }
    if row["state"] == "PendingDeletion":
        out["DeletionDate"] = row["deletion_date"]
        out["PendingDeletionWindowInDays"] = row["pending_window"]
    usage = row["key_usage"]
    if usage == "ENCRYPT_DECRYPT":
        out["EncryptionAlgorithms"] = list(spec.encryption)
    elif usage == "SIGN_VERIFY":
        out["SigningAlgorithms"] = list(spec.signing)
    elif usage == "GENERATE_VERIFY_MAC":
        out["MacAlgorithms"] = list(spec.mac)
    elif usage == "KEY_AGREEMENT":
        out["KeyAgreementAlgorithms"] = list(spec.agreement)
    if row["expiration_model"]:
        out["ExpirationModel"] = row["expiration_model"]
        if row["valid_to"] is not None:
            out["ValidTo"] = row["valid_to"]
    if material_id is not None and row["key_spec"] == "SYMMETRIC_DEFAULT":
        out["CurrentKeyMaterialId"] = material_id
    if row["multi_region"]:
        out["MultiRegionConfiguration"] = {
            "MultiRegionKeyType": "PRIMARY",
            "PrimaryKey": {"Arn": key_arn(row), "Region": row["region"]},
            "ReplicaKeys": [],
        }
    return out


def check_tags(tags: list) -> None:
    keys = [t["TagKey"] for t in tags]
    if len(set(keys)) != len(keys):
        raise ServiceError("TagException", "Duplicate tag keys")
    for key in keys:
        if key.lower().startswith("aws:"):
            raise ServiceError("TagException", "Tags beginning with aws: are reserved")


def _merge_tags(current: list, new: list) -> list:
    merged = {t["TagKey"]: t["TagValue"] for t in current}
    merged.update({t["TagKey"]: t["TagValue"] for t in new})
    return [{"TagKey": k, "TagValue": v} for k, v in merged.items()]


def _page(items: list, params: dict, key) -> tuple[list, str | None]:
    """A page after ``Marker`` (an opaque position) and the next marker."""
    marker = params.get("Marker")
    if marker:
        try:
            after = base64.urlsafe_b64decode(marker.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise ServiceError("InvalidMarkerException", "Invalid marker") from None
        items = [i for i in items if key(i) > after]
    limit = params.get("Limit") or DEFAULT_LIMIT
    if len(items) > limit:
        return items[:limit], base64.urlsafe_b64encode(key(items[limit - 1]).encode()).decode()
    return items, None


def paged(name: str, items: list, params: dict, key) -> dict:
    page, marker = _page(items, params, key)
    out: dict = {name: page, "Truncated": marker is not None}
    if marker is not None:
        out["NextMarker"] = marker
    return out


class KeyOperations(KmsBase):
    async def create_key(self, ctx: RequestContext, params: dict) -> dict:
        spec = params.get("KeySpec") or params.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
        if params.get("KeySpec") and params.get("CustomerMasterKeySpec"):
            raise validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
                "CustomerMasterKeySpec is deprecated."
            )
        origin = params.get("Origin") or "AWS_KMS"
        if origin not in ("AWS_KMS", "EXTERNAL"):
            raise unsupported(f"Origin {origin} is not supported by sandlot's KMS.")
        if params.get("CustomKeyStoreId") or params.get("XksKeyId"):
            raise unsupported("Custom key stores are not supported by sandlot's KMS.")
        if spec not in SPECS:
            raise unsupported(f"KeySpec {spec} is not supported in this region.")
        usage = params.get("KeyUsage")
        if usage is None:
            if spec != "SYMMETRIC_DEFAULT":
                what = "an HMAC" if spec.startswith("HMAC_") else "an asymmetric"
                raise validation(f"You must specify a KeyUsage value for {what} KMS key.")
            usage = "ENCRYPT_DECRYPT"
        if usage not in SPECS[spec].usages:
            raise validation(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        if origin == "EXTERNAL" and not (spec == "SYMMETRIC_DEFAULT" or spec.startswith("HMAC_")):
            raise unsupported(f"Importing {spec} key material is not supported by sandlot.")
        policy = params.get("Policy")
        if policy is not None:
            check_policy(policy, ctx, bool(params.get("BypassPolicyLockoutSafetyCheck")))
        tags = params.get("Tags") or []
        check_tags(tags)
        # An RSA key takes up to seconds to generate: off the event loop.
        rsa = spec.startswith("RSA_") and origin == "AWS_KMS"
        material = await asyncio.to_thread(generate, spec) if rsa else None
        with self.store.transaction():  # the key and its material, or neither
            row = self.new_key(
                ctx.account_id,
                ctx.region,
                spec=spec,
                usage=usage,
                description=params.get("Description") or "",
                policy=policy,
                tags=tags,
                multi_region=bool(params.get("MultiRegion")),
                material=material,
                origin=origin,
            )
            self.save(row)
        return {"KeyMetadata": self.metadata(row)}

    def describe_key(self, ctx: RequestContext, params: dict) -> dict:
        return {"KeyMetadata": self.metadata(self.lookup(ctx, params["KeyId"]))}

    def metadata(self, row: Row) -> dict:
        return metadata(row, self.material_id(row["key_id"], row["current_version"]))

    def list_keys(self, ctx: RequestContext, params: dict) -> dict:
        rows = [
            r
            for r in self.store.select(
                KEYS, {"account_id": ctx.account_id, "region": ctx.region}, order_by=("key_id",)
            )
            if self._live_key(r["key_id"]) is not None
        ]
        keys = [{"KeyId": r["key_id"], "KeyArn": key_arn(r)} for r in rows]
        return paged("Keys", keys, params, lambda k: k["KeyId"])

    def _customer_key(self, ctx: RequestContext, params: dict) -> Row:
        row = self.lookup(ctx, params["KeyId"])
        if row["manager"] == "AWS":
            raise unsupported(f"{key_arn(row)} is an AWS managed key; you cannot change it.")
        return row

    def enable_key(self, ctx: RequestContext, params: dict) -> dict:
        row = self._customer_key(ctx, params)
        self.usable_state(row)
        row["state"] = "Enabled"
        self.save(row)
        return {}

    def disable_key(self, ctx: RequestContext, params: dict) -> dict:
        row = self._customer_key(ctx, params)
        self.usable_state(row)
        row["state"] = "Disabled"
        self.save(row)
        return {}

    def schedule_key_deletion(self, ctx: RequestContext, params: dict) -> dict:
        row = self._customer_key(ctx, params)
        self.not_pending_deletion(row)
        days = params.get("PendingWindowInDays") or 30
        if not 7 <= days <= 30:
            bound = "greater than or equal to 7" if days < 7 else "less than or equal to 30"
            raise validation(
                f"1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed "
                f"to satisfy constraint: Member must have value {bound}"
            )
        row["state"] = "PendingDeletion"
        row["pending_window"] = days
        row["deletion_date"] = self.clock() + days * DAY_S
        self.save(row)
        return {
            "KeyId": key_arn(row),
            "DeletionDate": row["deletion_date"],
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": days,
        }

    def cancel_key_deletion(self, ctx: RequestContext, params: dict) -> dict:
        row = self._customer_key(ctx, params)
        if row["state"] != "PendingDeletion":
            raise invalid_state(f"{key_arn(row)} is not pending deletion.")
        # AWS: a key whose deletion is canceled is Disabled (PendingImport without material).
        material = self.material_id(row["key_id"], row["current_version"])
        row["state"] = "Disabled" if material is not None else "PendingImport"
        row["deletion_date"] = row["pending_window"] = None
        self.save(row)
        return {"KeyId": key_arn(row)}

    def update_key_description(self, ctx: RequestContext, params: dict) -> dict:
        row = self._customer_key(ctx, params)
        self.not_pending_deletion(row)
        row["description"] = params["Description"]
        self.save(row)
        return {}

    def get_key_last_usage(self, ctx: RequestContext, params: dict) -> dict:
        row = self.lookup(ctx, params["KeyId"])
        out: dict = {
            "KeyId": key_arn(row),
            "TrackingStartDate": row["created"],  # sandlot tracks every key from its creation
            "KeyCreationDate": row["created"],
        }
        usage = self.last_usage(row["key_id"])
        if usage is not None:
            out["KeyLastUsage"] = {
                "Operation": usage["operation"],
                "Timestamp": usage["ts"],
                "KmsRequestId": usage["request_id"],
            }
        return out

    # -- rotation -------------------------------------------------------------------------

    def _rotatable(self, ctx: RequestContext, params: dict) -> Row:
        row = self._customer_key(ctx, params)
        if row["key_spec"] != "SYMMETRIC_DEFAULT":
            raise unsupported(
                f"{key_arn(row)} key spec {row['key_spec']} does not support key rotation."
            )
        if row["origin"] != "AWS_KMS":
            raise unsupported(
                f"{key_arn(row)} has imported key material; sandlot does not rotate it."
            )
        if row["state"] == "Disabled":
            raise ServiceError("DisabledException", f"{key_arn(row)} is disabled.")
        self.not_pending_deletion(row)
        return row

    def enable_key_rotation(self, ctx: RequestContext, params: dict) -> dict:
        row = self._rotatable(ctx, params)
        period = params.get("RotationPeriodInDays") or DEFAULT_ROTATION_DAYS
        if not 90 <= period <= 2560:
            bound = "greater than or equal to 90" if period < 90 else "less than or equal to 2560"
            raise validation(
                f"1 validation error detected: Value '{period}' at 'rotationPeriodInDays' "
                f"failed to satisfy constraint: Member must have value {bound}"
            )
        row["rotation_enabled"] = 1
        row["rotation_period"] = period
        row["next_rotation"] = self.clock() + period * DAY_S
        self.save(row)
        return {}

    def disable_key_rotation(self, ctx: RequestContext, params: dict) -> dict:
        row = self._rotatable(ctx, params)
        row["rotation_enabled"] = 0
        row["next_rotation"] = None
        self.save(row)
        return {}

    def get_key_rotation_status(self, ctx: RequestContext, params: dict) -> dict:
        row = self.lookup(ctx, params["KeyId"])
        if row["key_spec"] != "SYMMETRIC_DEFAULT":
            raise unsupported(
                f"{key_arn(row)} key spec {row['key_spec']} does not support key rotation."
            )
        self.not_pending_deletion(row)
        out: dict = {
            "KeyRotationEnabled": bool(row["rotation_enabled"]),
            "KeyId": key_arn(row),
        }
        if row["rotation_enabled"]:
            out["RotationPeriodInDays"] = row["rotation_period"] or DEFAULT_ROTATION_DAYS
            out["NextRotationDate"] = row["next_rotation"]
        return out

    def rotate_key_on_demand(self, ctx: RequestContext, params: dict) -> dict:
        row = self._rotatable(ctx, params)
        self.rotate(row, "ON_DEMAND")
        return {"KeyId": row["key_id"]}

    def list_key_rotations(self, ctx: RequestContext, params: dict) -> dict:
        row = self.lookup(ctx, params["KeyId"])
        if row["key_spec"] != "SYMMETRIC_DEFAULT":
            raise unsupported(
                f"{key_arn(row)} key spec {row['key_spec']} does not support key rotation."
            )
        versions = self.store.select(MATERIALS, {"key_id": row["key_id"]}, order_by=("version",))
        rotations = [
            {
                "KeyId": row["key_id"],
                "KeyMaterialId": self.material_id(row["key_id"], v["version"]),
                "KeyMaterialState": (
                    "CURRENT" if v["version"] == row["current_version"] else "NON_CURRENT"
                ),
                "RotationDate": v["created"],
                "RotationType": v["rotation_type"],
            }
            for v in versions
            if v["rotation_type"] is not None
        ]
        return paged("Rotations", rotations, params, lambda r: f"{r['RotationDate']:020.6f}")

    # -- tags -----------------------------------------------------------------------------

    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        row = self._customer_key(ctx, params)
        self.not_pending_deletion(row)
        check_tags(params["Tags"])
        merged = _merge_tags(json.loads(row["tags"]), params["Tags"])
        if len(merged) > MAX_TAGS:
            raise ServiceError("LimitExceededException", "Tag limit exceeded")
        row["tags"] = json.dumps(merged)
        self.save(row)
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        row = self._customer_key(ctx, params)
        self.not_pending_deletion(row)
        drop = set(params["TagKeys"])
        row["tags"] = json.dumps([t for t in json.loads(row["tags"]) if t["TagKey"] not in drop])
        self.save(row)
        return {}

    def list_resource_tags(self, ctx: RequestContext, params: dict) -> dict:
        row = self.lookup(ctx, params["KeyId"])
        tags = sorted(json.loads(row["tags"]), key=lambda t: t["TagKey"])
        return paged("Tags", tags, params, lambda t: t["TagKey"])
