"""Bucket configurations S3 keeps and answers: Transfer Acceleration, Requester Pays,
server access logging, replication (executed by ``replication.py``), and the id-keyed
inventory, metrics, analytics and S3 Intelligent-Tiering configurations.

They are validated as S3 validates them (S3's error codes and words), stored in the
bucket's ``configurations`` column (JSON: one member per kind) and returned as given.
Apart from replication, what they would make happen does not happen here: no access log objects are written,
no inventory reports or metrics are produced, requests are
not charged (a Requester Pays bucket does not demand ``x-amz-request-payer``), and there
is no accelerate endpoint.
"""

from __future__ import annotations

import json
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.s3.base import S3Base
from sandlot.services.s3.errors import invalid_argument, invalid_request, malformed_xml
from sandlot.services.s3.schema import BUCKETS

MAX_CONFIGURATIONS = 1000
# Id-keyed kinds: the request/response member holding one configuration, and the list's.
_KEYED = {
    "inventory": ("InventoryConfiguration", "InventoryConfigurationList"),
    "metrics": ("MetricsConfiguration", "MetricsConfigurationList"),
    "analytics": ("AnalyticsConfiguration", "AnalyticsConfigurationList"),
    "intelligent_tiering": (
        "IntelligentTieringConfiguration",
        "IntelligentTieringConfigurationList",
    ),
}


def _no_configuration() -> ServiceError:
    return ServiceError("NoSuchConfiguration", "The specified configuration does not exist.", 404)


class ConfigurationOperations(S3Base):
    def _configurations(self, bucket: dict) -> dict[str, Any]:
        return json.loads(bucket.get("configurations") or "{}")

    def _save(self, bucket: dict, kind: str, value: Any) -> None:
        with self.store.transaction():
            current = self.store.get(BUCKETS, bucket["name"]) or bucket
            stored = self._configurations(current)
            if value is None:
                stored.pop(kind, None)
            else:
                stored[kind] = value
            self.store.put(BUCKETS, {**current, "configurations": json.dumps(stored)})

    def _target(self, ctx: RequestContext, params: dict) -> dict:
        return self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))

    # -- Transfer Acceleration ------------------------------------------------------------

    def put_bucket_accelerate_configuration(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self._target(ctx, params)
        status = (params.get("AccelerateConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise malformed_xml()
        if "." in bucket["name"]:
            raise invalid_request(
                "S3 Transfer Acceleration is not supported for buckets with periods (.) in "
                "their names"
            )
        self._save(bucket, "accelerate", status)
        return {}

    def get_bucket_accelerate_configuration(self, ctx: RequestContext, params: dict) -> dict:
        status = self._configurations(self._target(ctx, params)).get("accelerate")
        return {"Status": status} if status else {}

    # -- Requester Pays -------------------------------------------------------------------

    def put_bucket_request_payment(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self._target(ctx, params)
        payer = (params.get("RequestPaymentConfiguration") or {}).get("Payer")
        if payer not in ("Requester", "BucketOwner"):
            raise malformed_xml()
        self._save(bucket, "request_payment", payer)
        return {}

    def get_bucket_request_payment(self, ctx: RequestContext, params: dict) -> dict:
        payer = self._configurations(self._target(ctx, params)).get("request_payment")
        return {"Payer": payer or "BucketOwner"}

    # -- server access logging ------------------------------------------------------------

    def put_bucket_logging(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self._target(ctx, params)
        enabled = (params.get("BucketLoggingStatus") or {}).get("LoggingEnabled")
        if enabled is not None:
            target = self.store.get(BUCKETS, enabled.get("TargetBucket") or "")
            if target is None:
                raise ServiceError(
                    "InvalidTargetBucketForLogging",
                    "The target bucket for logging does not exist",
                    400,
                    TargetBucket=enabled.get("TargetBucket") or "",
                )
            if target["account"] != bucket["account"] or target["region"] != bucket["region"]:
                raise ServiceError(
                    "InvalidTargetBucketForLogging",
                    "The owner for the bucket to be logged and the target bucket must be the same."
                    if target["account"] != bucket["account"]
                    else "The target bucket for logging must be in the same region as the "
                    "source bucket.",
                    400,
                    TargetBucket=target["name"],
                )
        self._save(bucket, "logging", enabled)
        return {}

    def get_bucket_logging(self, ctx: RequestContext, params: dict) -> dict:
        enabled = self._configurations(self._target(ctx, params)).get("logging")
        return {"LoggingEnabled": enabled} if enabled else {}

    # -- replication ----------------------------------------------------------------------

    def put_bucket_replication(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self._target(ctx, params)
        configuration = params.get("ReplicationConfiguration") or {}
        rules = configuration.get("Rules") or []
        if not configuration.get("Role") or not rules:
            raise malformed_xml()
        if bucket["versioning"] != "Enabled":
            raise invalid_request(
                "Versioning must be 'Enabled' on the bucket to apply a replication configuration"
            )
        for rule in rules:
            if rule.get("Status") not in ("Enabled", "Disabled"):
                raise malformed_xml()
            destination = (rule.get("Destination") or {}).get("Bucket") or ""
            name = destination.removeprefix("arn:aws:s3:::")
            target = self.store.get(BUCKETS, name)
            if target is None:
                raise invalid_request("Destination bucket must exist.")
            if target["versioning"] != "Enabled":
                raise invalid_request("Destination bucket must have versioning enabled.")
        ids = [r["ID"] for r in rules if r.get("ID")]
        if len(set(ids)) != len(ids):
            raise invalid_argument("Rule Id must be unique")
        self._save(bucket, "replication", configuration)
        return {}

    def get_bucket_replication(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self._target(ctx, params)
        configuration = self._configurations(bucket).get("replication")
        if not configuration:
            raise ServiceError(
                "ReplicationConfigurationNotFoundError",
                "The replication configuration was not found",
                404,
                BucketName=bucket["name"],
            )
        return {"ReplicationConfiguration": configuration}

    def delete_bucket_replication(self, ctx: RequestContext, params: dict) -> dict:
        self._save(self._target(ctx, params), "replication", None)
        return {}

    # -- id-keyed configurations (inventory, metrics, analytics, intelligent-tiering) -----

    def _put_keyed(self, kind: str, ctx: RequestContext, params: dict) -> dict:
        bucket = self._target(ctx, params)
        member = _KEYED[kind][0]
        configuration = params.get(member) or {}
        if configuration.get("Id") != params["Id"]:
            raise invalid_argument(
                "Configuration Id in the request body and the query string do not match",
                "id",
                params["Id"],
            )
        stored = dict(self._configurations(bucket).get(kind) or {})
        if params["Id"] not in stored and len(stored) >= MAX_CONFIGURATIONS:
            raise ServiceError(
                "TooManyConfigurations", "You are attempting to create a new configuration "
                "but have already reached the 1,000-configuration limit.", 400,
            )  # fmt: skip
        stored[params["Id"]] = configuration
        self._save(bucket, kind, stored)
        return {}

    def _get_keyed(self, kind: str, ctx: RequestContext, params: dict) -> dict:
        stored = self._configurations(self._target(ctx, params)).get(kind) or {}
        if params["Id"] not in stored:
            raise _no_configuration()
        return {_KEYED[kind][0]: stored[params["Id"]]}

    def _delete_keyed(self, kind: str, ctx: RequestContext, params: dict) -> dict:
        bucket = self._target(ctx, params)
        stored = dict(self._configurations(bucket).get(kind) or {})
        if stored.pop(params["Id"], None) is None:
            raise _no_configuration()
        self._save(bucket, kind, stored or None)
        return {}

    def _list_keyed(self, kind: str, ctx: RequestContext, params: dict) -> dict:
        stored = self._configurations(self._target(ctx, params)).get(kind) or {}
        listed = [stored[k] for k in sorted(stored)]
        return {_KEYED[kind][1]: listed or None, "IsTruncated": False}

    def put_bucket_inventory_configuration(self, ctx, params):
        return self._put_keyed("inventory", ctx, params)

    def get_bucket_inventory_configuration(self, ctx, params):
        return self._get_keyed("inventory", ctx, params)

    def delete_bucket_inventory_configuration(self, ctx, params):
        return self._delete_keyed("inventory", ctx, params)

    def list_bucket_inventory_configurations(self, ctx, params):
        return self._list_keyed("inventory", ctx, params)

    def put_bucket_metrics_configuration(self, ctx, params):
        return self._put_keyed("metrics", ctx, params)

    def get_bucket_metrics_configuration(self, ctx, params):
        return self._get_keyed("metrics", ctx, params)

    def delete_bucket_metrics_configuration(self, ctx, params):
        return self._delete_keyed("metrics", ctx, params)

    def list_bucket_metrics_configurations(self, ctx, params):
        return self._list_keyed("metrics", ctx, params)

    def put_bucket_analytics_configuration(self, ctx, params):
        return self._put_keyed("analytics", ctx, params)

    def get_bucket_analytics_configuration(self, ctx, params):
        return self._get_keyed("analytics", ctx, params)

    def delete_bucket_analytics_configuration(self, ctx, params):
        return self._delete_keyed("analytics", ctx, params)

    def list_bucket_analytics_configurations(self, ctx, params):
        return self._list_keyed("analytics", ctx, params)

    def put_bucket_intelligent_tiering_configuration(self, ctx, params):
        return self._put_keyed("intelligent_tiering", ctx, params)

    def get_bucket_intelligent_tiering_configuration(self, ctx, params):
        return self._get_keyed("intelligent_tiering", ctx, params)

    def delete_bucket_intelligent_tiering_configuration(self, ctx, params):
        return self._delete_keyed("intelligent_tiering", ctx, params)

    def list_bucket_intelligent_tiering_configurations(self, ctx, params):
        return self._list_keyed("intelligent_tiering", ctx, params)
