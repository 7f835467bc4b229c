"""Subscription filters and metric filters of log groups.

A subscription filter sends the events of its group that match its filter pattern to a
destination as they are ingested: each PutLogEvents call stages, in the transaction
that stores the events, one delivery per matching filter on the shared delivery path
(``events/delivery.py``), carrying CloudWatch Logs' payload (``DATA_MESSAGE``, gzipped
and base64-encoded under ``awslogs.data`` for Lambda) as the service principal
``logs.amazonaws.com`` with the group's ARN as ``aws:SourceArn``, so the destination's
resource policy decides, as in AWS. Lambda destinations are served; Kinesis and
Firehose destinations are refused until those services exist.

Metric filters are stored and described; they turn events into metrics once sandlot
serves CloudWatch metrics.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from sandlot.events.delivery import RetryPolicy
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.services.logs.filter_pattern import FilterPatternError, compile_pattern
from sandlot.services.logs.storage import FilterStorage, Row, position
from sandlot.services.logs.tokens import event_id
from sandlot.services.logs.validation import invalid_parameter, validated
from sandlot.services.provider import RequestContext

SUBSCRIPTION = "subscription"
METRIC = "metric"
MAX_SUBSCRIPTION_FILTERS = 2  # per log group (AWS's quota)
MAX_METRIC_FILTERS = 100
SERVICE = "logs.amazonaws.com"
# CloudWatch Logs retries a failing Lambda destination for up to 24 hours.
SUBSCRIPTION_RETRY = RetryPolicy(max_attempts=3, delays_s=(1.0, 2.0), max_age_s=24 * 3600.0)


def _limit_exceeded() -> ServiceError:
    return ServiceError("LimitExceededException", "Resource limit exceeded.")


def _checked_pattern(text: str) -> str:
    try:
        compile_pattern(text)
    except FilterPatternError as exc:
        raise invalid_parameter(exc.message) from exc
    return text


def subscription_payload(group: Row, stream: Row, names: list[str], events: list[Row]) -> bytes:
    """What a Lambda subscription receives: the DATA_MESSAGE, gzipped, base64 in JSON."""
    message = {
        "messageType": "DATA_MESSAGE",
        "owner": group["account_id"],
        "logGroup": group["name"],
        "logStream": stream["name"],
        "subscriptionFilters": names,
        "logEvents": [
            {"id": event_id(position(e)), "timestamp": e["ts"], "message": e["message"]}
            for e in events
        ],
    }
    data = base64.b64encode(gzip.compress(json.dumps(message).encode())).decode()
    return json.dumps({"awslogs": {"data": data}}).encode()


class FilterOperations:
    """Mixin of LogsProvider: the filter operations and the subscription hand-off."""

    platform: Any
    storage: Any

    @property
    def filters(self) -> FilterStorage:
        return FilterStorage(self.platform.store)

    # -- subscription filters ------------------------------------------------------

    @validated
    def put_subscription_filter(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        name, destination = params["filterName"], params["destinationArn"]
        pattern = _checked_pattern(params["filterPattern"])
        self._check_destination(ctx, group, destination, params.get("roleArn"))
        existing = self.filters.filters(group["group_id"], SUBSCRIPTION)
        if name not in {f["name"] for f in existing} and len(existing) >= MAX_SUBSCRIPTION_FILTERS:
            raise _limit_exceeded()
        spec = {
            "destinationArn": destination,
            "distribution": params.get("distribution") or "ByLogStream",
        }
        if params.get("roleArn"):
            spec["roleArn"] = params["roleArn"]
        if params.get("applyOnTransformedLogs"):
            raise invalid_parameter("sandlot has no log transformers: applyOnTransformedLogs")
        self._put_filter(group, SUBSCRIPTION, name, pattern, spec)
        return {}

    def _check_destination(
        self, ctx: RequestContext, group: Row, destination: str, role: str | None
    ) -> None:
        parts = destination.split(":")
        service = parts[2] if len(parts) > 5 and parts[0] == "arn" else ""
        if service != "lambda":
            raise invalid_parameter(
                f"sandlot delivers subscription filters to Lambda functions only, not to {destination}"
            )
        allowed = self.platform.authorizer.permits(
            Principal.service(SERVICE, ctx.account_id),
            "lambda",
            "Invoke",
            {"FunctionName": destination, "InvocationType": "Event"},
            parts[3],
            context=self._source(group),
        )
        if not allowed:
            raise invalid_parameter(
                "Could not execute the lambda function. Make sure you have given CloudWatch "
                "Logs permission to execute your function."
            )

    @validated
    def describe_subscription_filters(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        prefix = params.get("filterNamePrefix") or ""
        rows = [
            r
            for r in self.filters.filters(group["group_id"], SUBSCRIPTION)
            if r["name"].startswith(prefix)
        ]
        out = []
        for row in rows:
            spec = json.loads(row["spec"])
            out.append(
                {
                    "filterName": row["name"],
                    "logGroupName": group["name"],
                    "filterPattern": row["pattern"],
                    "destinationArn": spec["destinationArn"],
                    **({"roleArn": spec["roleArn"]} if "roleArn" in spec else {}),
                    "distribution": spec["distribution"],
                    "applyOnTransformedLogs": False,
                    "creationTime": row["created_ms"],
                }
            )
        return {"subscriptionFilters": out}

    @validated
    def delete_subscription_filter(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        if not self.filters.delete(group["group_id"], SUBSCRIPTION, params["filterName"]):
            raise ServiceError(
                "ResourceNotFoundException", "The specified subscription filter does not exist."
            )
        return {}

    # -- metric filters ------------------------------------------------------------

    @validated
    def put_metric_filter(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        pattern = _checked_pattern(params["filterPattern"])
        if params.get("applyOnTransformedLogs"):
            raise invalid_parameter("sandlot has no log transformers: applyOnTransformedLogs")
        existing = self.filters.filters(group["group_id"], METRIC)
        name = params["filterName"]
        if name not in {f["name"] for f in existing} and len(existing) >= MAX_METRIC_FILTERS:
            raise _limit_exceeded()
        transformations = params["metricTransformations"]
        self._put_filter(group, METRIC, name, pattern, {"metricTransformations": transformations})
        return {}

    @validated
    def describe_metric_filters(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("filterNamePrefix") and not params.get("logGroupName"):
            raise invalid_parameter("logGroupName is required when filterNamePrefix is given.")
        if (params.get("metricName") is None) != (params.get("metricNamespace") is None):
            raise invalid_parameter("metricName and metricNamespace must be given together.")
        if params.get("logGroupName"):
            groups = [self._group(ctx, params["logGroupName"])]
        else:
            groups = self.storage.groups(ctx.account_id, ctx.region)
        out = []
        for group in groups:
            for row in self.filters.filters(group["group_id"], METRIC):
                if not row["name"].startswith(params.get("filterNamePrefix") or ""):
                    continue
                transformations = json.loads(row["spec"])["metricTransformations"]
                if params.get("metricName") and not any(
                    t["metricName"] == params["metricName"]
                    and t["metricNamespace"] == params["metricNamespace"]
                    for t in transformations
                ):
                    continue
                out.append(
                    {
                        "filterName": row["name"],
                        "filterPattern": row["pattern"],
                        "metricTransformations": transformations,
                        "creationTime": row["created_ms"],
                        "logGroupName": group["name"],
                        "applyOnTransformedLogs": False,
                    }
                )
        start = int(params["nextToken"]) if str(params.get("nextToken") or "").isdigit() else 0
        limit = params.get("limit") or 50
        page = out[start : start + limit]
        result: dict = {"metricFilters": page}
        if start + limit < len(out):
            result["nextToken"] = str(start + limit)
        return result

    @validated
    def delete_metric_filter(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        if not self.filters.delete(group["group_id"], METRIC, params["filterName"]):
            raise ServiceError(
                "ResourceNotFoundException", "The specified metric filter does not exist."
            )
        return {}

    # -- shared ----------------------------------------------------------------------

    def _put_filter(self, group: Row, kind: str, name: str, pattern: str, spec: dict) -> None:
        existing = self.filters.get(group["group_id"], kind, name)
        self.filters.put(
            {
                "group_id": group["group_id"],
                "kind": kind,
                "name": name,
                "pattern": pattern,
                "created_ms": existing["created_ms"] if existing else self.now_ms(),
                "spec": json.dumps(spec),
            }
        )

    @staticmethod
    def _source(group: Row) -> dict[str, object]:
        arn = f"arn:aws:logs:{group['region']}:{group['account_id']}:log-group:{group['name']}:*"
        return {"aws:SourceArn": arn, "aws:SourceAccount": group["account_id"]}

    def stage_subscriptions(self, group: Row, stream: Row, events: list[Row]) -> None:
        """Hand newly stored ``events`` to the group's subscription filters (inside the
        transaction that stored them)."""
        if not events:
            return
        for row in self.filters.filters(group["group_id"], SUBSCRIPTION):
            pattern = compile_pattern(row["pattern"])
            matching = [e for e in events if pattern.matches(e["message"])]
            if not matching:
                continue
            destination = json.loads(row["spec"])["destinationArn"]
            self.platform.deliveries.stage(
                destination,
                subscription_payload(group, stream, [row["name"]], matching),
                principal=Principal.service(SERVICE, group["account_id"]),
                context=self._source(group),
                options={"InvocationType": "Event"},
                policy=SUBSCRIPTION_RETRY,
            )
