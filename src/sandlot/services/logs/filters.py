"""Subscription filters and metric filters of log groups.

A subscription filter sends the events of its group that match its filter pattern to a
destination as they are ingested: each PutLogEvents call stages, in the transaction
that stores the events, one delivery per matching filter on the shared delivery path
(``events/delivery.py``), carrying CloudWatch Logs' payload (``DATA_MESSAGE``, gzipped
and base64-encoded under ``awslogs.data`` for Lambda) as the service principal
``logs.amazonaws.com`` with the group's ARN as ``aws:SourceArn``, so the destination's
resource policy decides, as in AWS. Kinesis and Firehose destinations get the gzipped
DATA_MESSAGE itself as the record's data, put as the filter's ``roleArn`` (which
CloudWatch Logs assumes); creating such a filter puts AWS's CONTROL_MESSAGE there
first, as the test delivery AWS makes.

Metric filters turn matching events into CloudWatch metrics as they are stored
(``publish_metrics``, with the embedded metric format; ``metrics.py``).
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Any

from sandlot.events.delivery import RetryPolicy
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.services.logs import metrics as log_metrics
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
ROLE_SESSION = "CWLtoStreamSession"  # the session CloudWatch Logs puts stream records as
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


def subscription_payload(
    group: Row, stream: Row, names: list[str], events: list[Row], *, raw: bool = False
) -> bytes:
    """What a Lambda subscription receives: the DATA_MESSAGE, gzipped, base64 in JSON
    (``raw``: the gzipped DATA_MESSAGE alone, a Kinesis or Firehose record's data)."""
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
    compressed = gzip.compress(json.dumps(message).encode())
    if raw:
        return compressed
    data = base64.b64encode(compressed).decode()
    return json.dumps({"awslogs": {"data": data}}).encode()


def control_message(kind: str) -> bytes:
    """The test record CloudWatch Logs puts to a new Kinesis or Firehose destination."""
    message = {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [
            {
                "id": "",
                "timestamp": int(time.time() * 1000),
                "message": f"CWL CONTROL MESSAGE: Checking health of destination {kind}.",
            }
        ],
    }
    return gzip.compress(json.dumps(message).encode())


# Destinations other than Lambda: (service, how AWS names it in its messages).
_STREAM_DESTINATIONS = {"kinesis": "Kinesis stream", "firehose": "Firehose stream"}


class FilterOperations:
    """Mixin of LogsProvider: the filter operations and the subscription hand-off."""

    platform: Any
    storage: Any

    @property
    def filters(self) -> FilterStorage:
        return FilterStorage(self.platform.store)

    # -- subscription filters ------------------------------------------------------

    @validated
    async def put_subscription_filter(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        name, destination = params["filterName"], params["destinationArn"]
        pattern = _checked_pattern(params["filterPattern"])
        if _service(destination) in _STREAM_DESTINATIONS:
            await self._check_stream_destination(destination, params.get("roleArn"))
        else:
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

    async def _check_stream_destination(self, destination: str, role: str | None) -> None:
        """As AWS: a role is required, and the test record must reach the destination
        when put as that role."""
        service = _service(destination)
        kind = _STREAM_DESTINATIONS[service]
        if not role:
            raise invalid_parameter(f"roleArn is required for a {kind} destination.")
        try:
            await _put_record(self.platform, destination, control_message(kind), role, "")
        except ServiceError:
            raise invalid_parameter(
                f"Could not deliver test message to specified {kind}. Check if the given "
                f"{service} stream is in ACTIVE state."
            ) from None

    def _check_destination(
        self, ctx: RequestContext, group: Row, destination: str, role: str | None
    ) -> None:
        parts = destination.split(":")
        if _service(destination) != "lambda":
            raise invalid_parameter(
                f"sandlot delivers subscription filters to Lambda functions, Kinesis and "
                f"Firehose streams only, not to {destination}"
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

    def publish_metrics(self, group: Row, events: list[Row]) -> None:
        """EMF events and the group's metric filters → CloudWatch metrics (buffered in
        ``platform.metrics``, so this costs the write path no I/O)."""
        if not events:
            return
        account, region = group["account_id"], group["region"]
        metrics = self.platform.metrics

        def emit(namespace, name, dims, value, unit, stamp) -> None:
            metrics.emit(account, region, namespace, name, dims, value, unit, stamp)

        for event in events:
            log_metrics.emf(event["message"], event["ts"], emit)
        rows = self.filters.filters(group["group_id"], METRIC)
        if rows:
            compiled = [
                (compile_pattern(r["pattern"]), json.loads(r["spec"])["metricTransformations"])
                for r in rows
            ]
            log_metrics.metric_filters(compiled, events, emit)

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
            spec = json.loads(row["spec"])
            destination = spec["destinationArn"]
            if _service(destination) in _STREAM_DESTINATIONS:
                # Put as the filter's role; ByLogStream keeps a stream's events on one
                # shard (its name is the partition key), Random spreads them.
                by_stream = spec.get("distribution", "ByLogStream") == "ByLogStream"
                self.platform.deliveries.stage(
                    destination,
                    subscription_payload(group, stream, [row["name"]], matching, raw=True),
                    principal=self.platform.function_principal(spec["roleArn"], ROLE_SESSION),
                    options={"PartitionKey": stream["name"] if by_stream else ""},
                    policy=SUBSCRIPTION_RETRY,
                )
                continue
            self.platform.deliveries.stage(
                destination,
                subscription_payload(group, stream, [row["name"]], matching),
                principal=Principal.service(SERVICE, group["account_id"]),
                context=self._source(group),
                options={"InvocationType": "Event"},
                policy=SUBSCRIPTION_RETRY,
            )


def _service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 5 and parts[0] == "arn" else ""


async def _put_record(platform, destination: str, data: bytes, role: str, key: str) -> dict:
    """One record to a Kinesis or Firehose destination, as ``role`` (the test message)."""
    principal = platform.function_principal(role, ROLE_SESSION)
    region = destination.split(":")[3]
    if _service(destination) == "kinesis":
        params = {"StreamARN": destination, "Data": data, "PartitionKey": key or "control"}
        return await platform.call("kinesis", "PutRecord", params, principal=principal,
                                   region=region)  # fmt: skip
    name = destination.split(":", 5)[5].removeprefix("deliverystream/")
    return await platform.call("firehose", "PutRecord",
                               {"DeliveryStreamName": name, "Record": {"Data": data}},
                               principal=principal, region=region)  # fmt: skip
