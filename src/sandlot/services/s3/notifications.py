"""Bucket event notification configuration: stored and validated as S3 does (event
names, destination ARNs, prefix/suffix filter rules, no overlapping configurations,
destinations that exist and allow S3 to send to them), matched against (event, key), and
staged on the platform's delivery path (``events/s3_notifications.py``) in the
transaction of each object change."""

from __future__ import annotations

import json
import secrets

from sandlot.events import s3_notifications
from sandlot.events.s3_notifications import s3_event, s3_test_event
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.s3.base import S3Base
from sandlot.services.s3.buckets import canonical_id
from sandlot.services.s3.schema import BUCKETS

# The event types S3 publishes (Amazon S3 User Guide, "Event notification types").
EVENTS = frozenset(
    {
        "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload",
        "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated",
        "s3:ObjectRestore:*", "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed",
        "s3:ObjectRestore:Delete", "s3:ReducedRedundancyLostObject",
        "s3:Replication:*", "s3:Replication:OperationFailedReplication",
        "s3:Replication:OperationNotTracked", "s3:Replication:OperationMissedThreshold",
        "s3:Replication:OperationReplicatedAfterThreshold",
        "s3:LifecycleExpiration:*", "s3:LifecycleExpiration:Delete",
        "s3:LifecycleExpiration:DeleteMarkerCreated", "s3:LifecycleTransition",
        "s3:IntelligentTiering", "s3:ObjectTagging:*", "s3:ObjectTagging:Put",
        "s3:ObjectTagging:Delete", "s3:ObjectAcl:Put",
    }
)  # fmt: skip
# Configuration list member → (ARN member, the service its ARN must name, kind).
KINDS = {
    "LambdaFunctionConfigurations": ("LambdaFunctionArn", "lambda", "Lambda"),
    "QueueConfigurations": ("QueueArn", "sqs", "Queue"),
    "TopicConfigurations": ("TopicArn", "sns", "Topic"),
}


def _invalid(message: str, name: str, value: str) -> ServiceError:
    return ServiceError("InvalidArgument", message, 400, ArgumentName=name, ArgumentValue=value)


def _key_filter(config: dict) -> tuple[str, str]:
    """(prefix, suffix) of a configuration's key filter; "" when absent."""
    rules = ((config.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
    found = {"prefix": "", "suffix": ""}
    for rule in rules:
        found[rule["Name"].lower()] = rule.get("Value", "")
    return found["prefix"], found["suffix"]


def _event_matches(configured: str, event: str) -> bool:
    if configured.endswith(":*"):
        return event.startswith(configured[:-1])
    return configured == event


def _events_overlap(a: list[str], b: list[str]) -> bool:
    return any(_event_matches(x, y) or _event_matches(y, x) for x in a for y in b)


def _filters_overlap(a: tuple[str, str], b: tuple[str, str]) -> bool:
    prefixes = a[0].startswith(b[0]) or b[0].startswith(a[0])
    suffixes = a[1].endswith(b[1]) or b[1].endswith(a[1])
    return prefixes and suffixes


def validate(configuration: dict) -> dict:
    """The configuration as S3 stores it (Ids filled in), or S3's InvalidArgument."""
    checked: dict = {}
    seen: list[tuple[list[str], tuple[str, str]]] = []
    for member, (arn_member, service, _kind) in KINDS.items():
        entries = []
        for config in configuration.get(member) or []:
            arn = config.get(arn_member, "")
            parts = arn.split(":")
            if len(parts) < 6 or parts[0] != "arn" or parts[2] != service:
                raise _invalid("The ARN is not well formed", arn_member, arn)
            events = config.get("Events") or []
            for event in events:
                if event not in EVENTS:
                    raise _invalid("The event is not supported for notifications", "Event", event)
            rules = ((config.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
            names = [rule.get("Name", "").lower() for rule in rules]
            for name in names:
                if name not in ("prefix", "suffix"):
                    raise _invalid(
                        "filter rule name must be either prefix or suffix", "FilterRule", name
                    )
                if names.count(name) > 1:
                    raise _invalid(
                        f"Cannot specify more than one {name} rule in a filter.",
                        "FilterRule",
                        name,
                    )
            key_filter = _key_filter(config)
            for other_events, other_filter in seen:
                if _events_overlap(events, other_events) and _filters_overlap(
                    key_filter, other_filter
                ):
                    raise _invalid(
                        "Configurations overlap. Configurations on the same bucket cannot "
                        "share a common event type.",
                        "Event",
                        ", ".join(events),
                    )
            seen.append((events, key_filter))
            entries.append({**config, "Id": config.get("Id") or secrets.token_urlsafe(18)})
        if entries:
            checked[member] = entries
    if configuration.get("EventBridgeConfiguration") is not None:
        checked["EventBridgeConfiguration"] = {}
    return checked


class NotificationOperations(S3Base):
    async def put_bucket_notification_configuration(
        self, ctx: RequestContext, params: dict
    ) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        checked = validate(params.get("NotificationConfiguration") or {})
        await self._check_destinations(bucket, checked)
        deliveries = getattr(self.platform, "deliveries", None)
        with self.store.transaction():
            self.store.put(BUCKETS, {**bucket, "notification": json.dumps(checked)})
            # S3 tells each queue and topic it now notifies with an s3:TestEvent.
            for member, config in _configurations(checked):
                if member != "LambdaFunctionConfigurations" and deliveries is not None:
                    event = s3_test_event(
                        bucket=bucket["name"], request_id=ctx.request_id, when=self.clock()
                    )
                    s3_notifications.stage(
                        deliveries, bucket["account"], bucket["name"],
                        config[KINDS[member][0]], event,
                    )  # fmt: skip
        return {}

    async def _check_destinations(self, bucket: dict, configuration: dict) -> None:
        """S3 accepts a destination only if it exists and S3 may send to it, asked as
        S3 itself asks: as ``s3.amazonaws.com`` for the bucket (``aws:SourceArn``,
        ``aws:SourceAccount``), so the function's, queue's or topic's resource policy
        decides (a DryRun Invoke for a function)."""
        refused = {}
        for member, config in _configurations(configuration):
            arn = config[KINDS[member][0]]
            if arn.split(":")[3] != bucket["region"]:  # S3 notifies within its region only
                raise ServiceError(
                    "InvalidArgument",
                    "The notification destination service region is not valid for the "
                    "bucket location constraint",
                    400,
                )
            reason = await self._refusal(bucket, KINDS[member][2], arn)
            if reason:
                refused[arn] = reason
        if refused:
            fields = {}
            for n, (arn, reason) in enumerate(refused.items(), 1):
                fields[f"ArgumentName{n}"] = arn
                fields[f"ArgumentValue{n}"] = reason
            raise ServiceError(
                "InvalidArgument",
                "Unable to validate the following destination configurations",
                400,
                **fields,
            )

    async def _refusal(self, bucket: dict, kind: str, arn: str) -> str | None:
        """Why S3 could not send to destination ``arn`` (None: it can)."""
        region, account, name = arn.split(":")[3], arn.split(":")[4], arn.split(":", 5)[5]
        s3 = Principal.service("s3.amazonaws.com", bucket["account"])
        context = {
            "aws:SourceArn": f"arn:aws:s3:::{bucket['name']}",
            "aws:SourceAccount": bucket["account"],
        }
        if kind == "Lambda":
            try:
                await self.platform.call(
                    "lambda",
                    "Invoke",
                    {"FunctionName": arn, "InvocationType": "DryRun"},
                    principal=s3,
                    region=region,
                    context=context,
                )
            except ServiceError:
                return f"Not authorized to invoke function [{arn}]"
            return None
        service, lookup, send = (
            ("sqs", ("GetQueueUrl", {"QueueName": name, "QueueOwnerAWSAccountId": account}),
             ("SendMessage", {"QueueUrl": f"{self.platform.endpoint_url}/{account}/{name}",
                              "MessageBody": "{}"}))
            if kind == "Queue"
            else ("sns", ("GetTopicAttributes", {"TopicArn": arn}),
                  ("Publish", {"TopicArn": arn, "Message": "{}"}))
        )  # fmt: skip
        noun = "queue" if kind == "Queue" else "topic"
        try:  # does it exist? (asked as its owner, which is not S3's doing)
            await self.platform.call(
                service,
                lookup[0],
                lookup[1],
                principal=Principal.root(account),
                region=region,
                record_decisions=False,
            )
        except ServiceError:
            return f"The destination {noun} does not exist"
        if not self.platform.authorizer.permits(
            s3, service, send[0], send[1], region=region, context=context
        ):
            return (
                f"Permissions on the destination {noun} do not allow S3 to publish "
                "notifications from this bucket"
            )
        return None

    def stage_notifications(self, ctx: RequestContext, bucket: dict, event: str, row: dict) -> None:
        """Stage one notification per matching configuration on the platform's delivery
        path (inside the caller's transaction)."""
        deliveries = getattr(self.platform, "deliveries", None)
        if deliveries is None or not bucket.get("notification"):
            return
        configuration = json.loads(bucket["notification"])
        created = event.startswith("s3:ObjectCreated:")
        principal = ctx.principal
        request = ctx.request
        if configuration.get("EventBridgeConfiguration") is not None:
            s3_notifications.stage_eventbridge(
                deliveries,
                region=bucket["region"],
                account_id=bucket["account"],
                bucket=bucket["name"],
                event_name=event,
                key=row["key"],
                size=row["size"] if created else None,
                etag=row["etag"] if created else None,
                version_id=row["version_id"] if bucket["versioning"] else None,
                sequencer=f"{-row['rank']:016X}",
                requester=principal.account_id,
                source_ip=(request.client_ip if request is not None else "") or "127.0.0.1",
                request_id=ctx.request_id,
            )
        for member, config in _configurations(configuration):
            if not _matches(config, event, row["key"]):
                continue
            s3_notifications.stage(
                deliveries,
                bucket["account"],
                bucket["name"],
                config[KINDS[member][0]],
                s3_event(
                    region=bucket["region"],
                    event_name=event,
                    bucket=bucket["name"],
                    owner_id=canonical_id(bucket["account"]),
                    configuration_id=config["Id"],
                    key=row["key"],
                    size=row["size"] if created else None,
                    etag=row["etag"] if created else None,
                    version_id=row["version_id"] if bucket["versioning"] else None,
                    sequencer=f"{-row['rank']:016X}",
                    principal_id=principal.user_id
                    if principal.kind == "service"  # lifecycle: "s3.amazonaws.com"
                    else f"AWS:{principal.user_id}",
                    source_ip=(request.client_ip if request is not None else "") or "127.0.0.1",
                    request_id=ctx.request_id,
                    when=self.clock(),
                ),
            )

    def get_bucket_notification_configuration(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        return json.loads(bucket["notification"]) if bucket["notification"] else {}

    def notification_targets(self, bucket: str, event: str, key: str) -> list[tuple[str, dict]]:
        """The configurations of ``bucket`` an ``event`` (e.g. "s3:ObjectCreated:Put") on
        ``key`` triggers: (kind "Lambda"/"Queue"/"Topic", configuration) pairs."""
        row = self.store.get(BUCKETS, bucket)
        if row is None or not row["notification"]:
            return []
        return [
            (KINDS[member][2], config)
            for member, config in _configurations(json.loads(row["notification"]))
            if _matches(config, event, key)
        ]


def _matches(config: dict, event: str, key: str) -> bool:
    prefix, suffix = _key_filter(config)
    return (
        any(_event_matches(e, event) for e in config.get("Events") or [])
        and key.startswith(prefix)
        and key.endswith(suffix)
    )


def _configurations(configuration: dict):
    for member in KINDS:
        for config in configuration.get(member) or []:
            yield member, config
