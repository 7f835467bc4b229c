"""S3 event notifications: the event S3 sends, and its staging on the delivery path.

``stage`` is called by the S3 provider inside the transaction that creates or removes
an object version, once per matching notification configuration, so an acknowledged
write always has its notifications recorded (``events/delivery.py``: a crash before
delivery delivers them after the restart). Each is delivered as S3 does, through the
internal client as the service principal ``s3.amazonaws.com`` with ``aws:SourceArn``
(the bucket) and ``aws:SourceAccount`` (its owner), so the destination's resource policy
must allow it, exactly as in AWS: a Lambda function is invoked asynchronously (``Invoke``
with ``InvocationType=Event``), a queue gets ``SendMessage`` and a topic ``Publish`` with
the event as JSON. An event no retry can deliver (access denied, no such destination)
is dropped, as S3 drops it; the IAM decision log says why.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from sandlot.events import service_events
from sandlot.events.delivery import Deliveries, RetryPolicy, arn_service
from sandlot.iam.principal import Principal
from sandlot.store import Migration, Table

if TYPE_CHECKING:
    from sandlot.store import Store

# Throttles and system errors are retried for up to an hour; a delivery that fails
# otherwise is final at once (nothing counts as a "function error" here).
POLICY = RetryPolicy(max_attempts=5, delays_s=(1.0, 2.0, 4.0, 8.0), max_age_s=3600.0,
                     transient_base_s=1.0, transient_max_s=60.0)  # fmt: skip
TOPIC_SUBJECT = "Amazon S3 Notification"

# The outbox of earlier versions, adopted at start-up.
_LEGACY = Table(
    "s3_notification_outbox",
    columns={
        "seq": "INTEGER",
        "account_id": "TEXT",
        "bucket": "TEXT",
        "target": "TEXT",
        "event": "TEXT",
        "attempts": "INTEGER",
        "not_before": "REAL",
    },
    key=("seq",),
)


def stage(deliveries: Deliveries, account_id: str, bucket: str, target: str, event: dict) -> None:
    """Record one notification to ``target``; call inside the object change's transaction."""
    service = arn_service(target)
    options: dict = {}
    if service == "lambda":
        options["InvocationType"] = "Event"
    elif service == "sns":
        options["Subject"] = TOPIC_SUBJECT
    deliveries.stage(
        target,
        json.dumps(event),
        principal=Principal.service("s3.amazonaws.com", account_id),
        context={"aws:SourceArn": f"arn:aws:s3:::{bucket}", "aws:SourceAccount": account_id},
        options=options,
        policy=POLICY,
    )


def adopt_legacy(store: Store, deliveries: Deliveries) -> int:
    """Move notifications an earlier version staged in its own outbox onto the path."""
    store.migrate("s3_notification_outbox", [Migration(1, create=_LEGACY)])
    rows = store.select(_LEGACY, order_by=("seq",))
    with store.transaction():
        for row in rows:
            stage(deliveries, row["account_id"], row["bucket"], row["target"],
                  json.loads(row["event"]))  # fmt: skip
            store.delete(_LEGACY, row["seq"])
    return len(rows)


def s3_test_event(*, bucket: str, request_id: str, when: float) -> dict:
    """The message S3 sends a queue or topic when a configuration naming it is put."""
    stamp = dt.datetime.fromtimestamp(when, dt.UTC)
    return {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
        "Bucket": bucket,
        "RequestId": request_id,
        "HostId": request_id,
    }


def s3_event(
    *,
    region: str,
    event_name: str,
    bucket: str,
    owner_id: str,
    configuration_id: str,
    key: str,
    size: int | None,
    etag: str | None,
    version_id: str | None,
    sequencer: str,
    principal_id: str,
    source_ip: str,
    request_id: str,
    when: float,
) -> dict:
    """One notification as S3 sends it (event structure version 2.1)."""
    stamp = dt.datetime.fromtimestamp(when, dt.UTC)
    obj: dict = {"key": quote_plus(key, safe="/"), "sequencer": sequencer}
    if size is not None:
        obj["size"] = size
    if etag:
        obj["eTag"] = etag.strip('"')
    if version_id and version_id != "null":
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": stamp.strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{stamp.microsecond // 1000:03d}Z",
                "eventName": event_name.removeprefix("s3:"),
                "userIdentity": {"principalId": principal_id},
                "requestParameters": {"sourceIPAddress": source_ip},
                "responseElements": {
                    "x-amz-request-id": request_id,
                    "x-amz-id-2": request_id,
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": configuration_id,
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": owner_id},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }


# S3's reason for an "Object Created" event on EventBridge, by notification event name.
_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
}
_DELETIONS = {
    "s3:ObjectRemoved:Delete": "Permanently Deleted",
    "s3:ObjectRemoved:DeleteMarkerCreated": "Delete Marker Created",
}


def stage_eventbridge(
    deliveries: Deliveries,
    *,
    region: str,
    account_id: str,
    bucket: str,
    event_name: str,
    key: str,
    size: int | None,
    etag: str | None,
    version_id: str | None,
    sequencer: str,
    requester: str,
    source_ip: str,
    request_id: str,
) -> None:
    """A bucket with EventBridge enabled sends "Object Created" / "Object Deleted" to its
    account's default bus (AWS's event detail, version 0), as every service event goes
    (``events/service_events.py``)."""
    created = event_name.startswith("s3:ObjectCreated:")
    if not created and event_name not in _DELETIONS:
        return
    obj: dict = {"key": key}
    if created:
        obj["size"] = size
        obj["etag"] = (etag or "").strip('"')
    if version_id and version_id != "null":
        obj["version-id"] = version_id
    obj["sequencer"] = sequencer
    detail: dict = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": obj,
        "request-id": request_id,
        "requester": requester,
        "source-ip-address": source_ip,
        "reason": _REASONS.get(event_name, "PutObject") if created else "DeleteObject",
    }
    if not created:
        detail["deletion-type"] = _DELETIONS[event_name]
    service_events.emit(
        deliveries,
        region=region,
        account_id=account_id,
        source="aws.s3",
        detail_type="Object Created" if created else "Object Deleted",
        detail=detail,
        resources=[f"arn:aws:s3:::{bucket}"],
    )
