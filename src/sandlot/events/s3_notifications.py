"""S3 event notifications: a durable outbox, filled in the same transaction as the
object change, drained into the destinations.

``stage`` is called by the S3 provider inside the transaction that creates or removes
an object version, once per matching notification configuration, so an acknowledged
write always has its notifications recorded (a crash before delivery delivers them
after the restart). A worker task takes staged events in order and delivers each as
S3 does: a Lambda destination is invoked asynchronously (``Invoke`` with
``InvocationType=Event``) through the internal client as the service principal
``s3.amazonaws.com`` with ``aws:SourceArn``/``aws:SourceAccount``, so the function's
resource policy must allow it, exactly as in AWS. A row is deleted once the invocation
is queued (at least once). Queue and topic destinations are kept in the bucket's
configuration but no events are staged for them until sandlot serves SQS and SNS.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from sandlot.events.queue import DrainedQueue
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.store import Migration, Table

if TYPE_CHECKING:
    from sandlot.platform import Platform

log = logging.getLogger("sandlot.events")

OUTBOX = Table(
    "s3_notification_outbox",
    columns={
        "seq": "INTEGER",  # staging order
        "account_id": "TEXT",  # the bucket owner's
        "bucket": "TEXT",
        "target": "TEXT",  # the destination ARN
        "event": "TEXT",  # the notification body (JSON)
        "attempts": "INTEGER",
        "not_before": "REAL",
    },
    key=("seq",),
)
MIGRATIONS = [Migration(1, create=OUTBOX)]

MAX_IN_FLIGHT = 16
RETRY_BACKOFF_S = 1.0
MAX_ATTEMPTS = 5  # transient failures (throttling, internal errors) before dropping
# Codes after which a retry cannot succeed: the event is dropped, as S3 drops it.
_FINAL = frozenset(
    {
        "AccessDeniedException",
        "ResourceNotFoundException",
        "InvalidParameterValueException",
        "RequestTooLargeException",
    }
)


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


class S3Notifications(DrainedQueue):
    """The outbox of S3 event notifications and the worker that delivers them."""

    table = OUTBOX
    key = "seq"
    max_in_flight = MAX_IN_FLIGHT
    poll_s = RETRY_BACKOFF_S

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform.store)
        self._platform = platform
        self._store.migrate("s3_notification_outbox", MIGRATIONS)

    def stage(self, account_id: str, bucket: str, target: str, event: dict) -> None:
        """Record one notification; call inside the transaction of the object change."""
        self._store.put(
            OUTBOX,
            {
                "seq": self.next_seq(),
                "account_id": account_id,
                "bucket": bucket,
                "target": target,
                "event": json.dumps(event),
                "attempts": 0,
                "not_before": 0.0,
            },
        )
        self.wake()

    async def deliver(self, row: dict) -> None:
        target, owner = row["target"], row["account_id"]
        keep = False
        try:
            await self._platform.call(
                "lambda",
                "Invoke",
                {
                    "FunctionName": target,
                    "InvocationType": "Event",
                    "Payload": row["event"].encode(),
                },
                principal=Principal.service("s3.amazonaws.com", owner),
                region=target.split(":")[3],
                context={
                    "aws:SourceArn": f"arn:aws:s3:::{row['bucket']}",
                    "aws:SourceAccount": owner,
                },
            )
        except ServiceError as error:
            keep = error.code not in _FINAL and row["attempts"] + 1 < MAX_ATTEMPTS
            log.warning(
                "S3 notification for %s to %s %s: %s",
                row["bucket"],
                target,
                "will be retried" if keep else "dropped",
                error,
            )
        except Exception:
            keep = row["attempts"] + 1 < MAX_ATTEMPTS
            log.exception("S3 notification for %s to %s failed", row["bucket"], target)
        if keep:
            retry = row["attempts"] + 1
            backoff = RETRY_BACKOFF_S * 2 ** (retry - 1)
            self._store.put(OUTBOX, {**row, "attempts": retry, "not_before": time.time() + backoff})
        else:
            self._store.delete(OUTBOX, row["seq"])
