"""Lambda's asynchronous (Event) invocations, on the delivery path.

``enqueue`` stages a delivery (``events/delivery.py``) before Invoke answers 202, so a
queued event survives a crash or restart. The delivery runs the function through the
internal client (``lambda`` ``Invoke``, RequestResponse) as the account root, under the
function's asynchronous configuration: ``MaximumRetryAttempts`` + 1 attempts for
function errors, with AWS's back-off (1 minute, then 2; seconds by default, see the
``retry_timing`` setting), throttles and system errors retried until
``MaximumEventAgeInSeconds``. Its outcome hook then does what AWS does with the result:
an invocation record to the ``OnSuccess``/``OnFailure`` destination, and a failed event
to the function's dead-letter queue with the ``RequestID``/``ErrorCode``/``ErrorMessage``
attributes, both sent as the function's execution role (whose policy must allow it).

The configuration is taken when the event is queued (``AsyncSettings``), so what an
event does after a restart does not depend on the provider being loaded.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from sandlot.events.delivery import (
    TRACE_OPTION,
    Deliveries,
    Delivery,
    Outcome,
    RetryPolicy,
    arn_region,
    arn_service,
)
from sandlot.iam.principal import Principal
from sandlot.store import Migration, Table

if TYPE_CHECKING:
    from sandlot.platform import Platform

log = logging.getLogger("sandlot.events")

HOOK = "lambda-async"
FORWARD_HOOK = "lambda-async-forward"  # a DLQ message or destination record failed
DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21600
ERROR_MESSAGE_LIMIT = 1024  # the DLQ's ErrorMessage attribute: the first 1 KB

# Retry timing (``Settings.retry_timing``): waits after the 1st and 2nd failure, and
# the throttle back-off's start and cap.
TIMINGS = {
    "fast": {"delays_s": (1.0, 2.0), "transient_base_s": 0.5, "transient_max_s": 5.0},
    "aws": {"delays_s": (60.0, 120.0), "transient_base_s": 1.0, "transient_max_s": 300.0},
}

# Deliveries from earlier versions' own queue, adopted at start-up.
_LEGACY = Table(
    "lambda_async_invocations",
    columns={
        "request_id": "TEXT",
        "seq": "INTEGER",
        "account_id": "TEXT",
        "region": "TEXT",
        "function_name": "TEXT",
        "qualifier": "TEXT",
        "payload": "BLOB",
        "client_context": "TEXT",
        "enqueued_at": "REAL",
        "not_before": "REAL",
    },
    key=("request_id",),
    indexes=(("not_before", "seq"),),
)


@dataclass(frozen=True)
class AsyncSettings:
    """What happens to one event: the function's asynchronous configuration
    (``EventInvokeConfig`` and ``DeadLetterConfig``) when it was queued."""

    function_arn: str  # as the invocation record names it (qualified)
    function_name: str
    role_arn: str
    max_retry_attempts: int = DEFAULT_RETRIES
    max_event_age_s: int = DEFAULT_MAX_AGE_S
    dead_letter: str | None = None
    on_success: str | None = None
    on_failure: str | None = None
    zero_concurrency: bool = False  # reserved concurrency 0: straight to failure


def retry_policy(settings: AsyncSettings, timing: str) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.max_retry_attempts + 1,
        max_age_s=float(settings.max_event_age_s),
        retry_transient=not settings.zero_concurrency,
        **TIMINGS.get(timing, TIMINGS["fast"]),
    )


class AsyncInvocations:
    """Queues Event invocations on the delivery path and handles their outcomes."""

    def __init__(self, platform: Platform, deliveries: Deliveries) -> None:
        self._platform = platform
        self._deliveries = deliveries
        deliveries.register_hook(HOOK, self._outcome)
        deliveries.register_hook(FORWARD_HOOK, self._forward_failed)

    def enqueue(
        self,
        account_id: str,
        region: str,
        function_name: str,
        qualifier: str | None,
        payload: bytes,
        client_context: str | None = None,
        request_id: str | None = None,
        settings: AsyncSettings | None = None,
        trace_header: str | None = None,
    ) -> str:
        """Queue one invocation durably; returns its request id. ``trace_header`` is the
        X-Ray header of the caller's chain, which the run continues (loop detection)."""
        target = function_name
        if not function_name.startswith("arn:"):
            target = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        settings = settings or AsyncSettings(target, function_name, "")
        options = {"InvocationType": "RequestResponse"}
        if qualifier:
            options["Qualifier"] = qualifier
        if client_context:
            options["ClientContext"] = client_context
        if trace_header:
            options[TRACE_OPTION] = trace_header
        self._emit(account_id, region, settings.function_name, "AsyncEventsReceived")
        return self._deliveries.stage(
            target,
            payload,
            principal=Principal.root(account_id),
            region=region,
            options=options,
            policy=retry_policy(settings, self._platform.settings.retry_timing),
            on_success=HOOK if settings.on_success else None,
            on_failure=HOOK,  # AsyncEventsDropped counts every failed event
            hook_data=asdict(settings),
            delivery_id=request_id,
        )

    def adopt_legacy(self) -> int:
        """Move events an earlier version queued in its own table onto the delivery path."""
        store = self._platform.store
        store.migrate("lambda_async_invocations", [Migration(1, create=_LEGACY)])
        rows = store.select(_LEGACY, order_by=("seq",))
        with store.transaction():
            for row in rows:
                self.enqueue(
                    row["account_id"],
                    row["region"],
                    row["function_name"],
                    row["qualifier"],
                    bytes(row["payload"] or b""),
                    row["client_context"],
                    row["request_id"],
                )
                store.delete(_LEGACY, row["request_id"])
        return len(rows)

    # -- outcomes -------------------------------------------------------------------------

    def _outcome(self, deliveries: Deliveries, delivery: Delivery, outcome: Outcome) -> None:
        settings = AsyncSettings(**delivery.hook_data)
        if not outcome.succeeded:  # sent to its DLQ or destination, if any, then dropped
            account = delivery.principal.account_id
            region = delivery.region or arn_region(settings.function_arn)
            self._emit(account, region, settings.function_name, "AsyncEventsDropped")
        if not outcome.succeeded and not (settings.dead_letter or settings.on_failure):
            return
        try:
            sender = self._platform.function_principal(settings.role_arn, settings.function_name)
        except ValueError:
            log.warning("function %s has no valid role to send with", settings.function_name)
            return
        if outcome.succeeded:
            if settings.on_success:
                body = record(delivery, outcome, settings)
                self._send(settings.on_success, body, sender, "Success", settings)
            return
        if settings.dead_letter:
            self._dead_letter(settings.dead_letter, delivery, outcome, sender, settings)
        if settings.on_failure:
            body = record(delivery, outcome, settings)
            self._send(settings.on_failure, body, sender, "Failure", settings)

    def _emit(self, account: str, region: str, function: str, name: str) -> None:
        self._platform.metrics.lambda_async(account, region, function, name)

    def _forward_failed(self, deliveries: Deliveries, delivery: Delivery, outcome: Outcome) -> None:
        """A dead-letter message or destination record that could not be sent:
        DeadLetterErrors or DestinationDeliveryFailures of the function."""
        data = delivery.hook_data
        self._emit(data["account"], data["region"], data["function"], data["metric"])

    def _forward_hook(self, settings: AsyncSettings, sender: Principal, metric: str) -> dict:
        region = arn_region(settings.function_arn)
        return {"on_failure": FORWARD_HOOK,
                "hook_data": {"account": sender.account_id, "region": region,
                              "function": settings.function_name, "metric": metric}}  # fmt: skip

    def _send(
        self, target: str, body: dict, sender: Principal, result: str, settings: AsyncSettings
    ) -> None:
        service = arn_service(target)
        options: dict = {}
        if service == "lambda":
            options = {"InvocationType": "Event"}
        elif service == "s3":  # failure records only; AWS's fixed object names
            options = {"Key": failure_record_key(settings.function_name, time.time())}
        elif service == "events":  # the record is the detail of AWS's destination event
            options = {
                "Source": "lambda",
                "DetailType": f"Lambda Function Invocation Result - {result}",
                "Resources": [target, settings.function_arn],
            }
        self._deliveries.stage(
            target,
            json.dumps(body),
            principal=sender,
            options=options,
            region=arn_region(target) or arn_region(settings.function_arn),
            **self._forward_hook(settings, sender, "DestinationDeliveryFailures"),
        )

    def _dead_letter(
        self, target: str, delivery: Delivery, outcome: Outcome, sender: Principal,
        settings: AsyncSettings,
    ) -> None:  # fmt: skip
        """The event itself, with AWS's three attributes (SQS and SNS spell them alike)."""
        status, message = _error(outcome)
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": delivery.id},
            "ErrorCode": {"DataType": "Number", "StringValue": str(status)},
            "ErrorMessage": {"DataType": "String", "StringValue": message[:ERROR_MESSAGE_LIMIT]},
        }
        self._deliveries.stage(
            target,
            delivery.payload,
            principal=sender,
            options={"MessageAttributes": attributes},
            **self._forward_hook(settings, sender, "DeadLetterErrors"),
        )


def failure_record_key(function_name: str, now: float) -> str:
    """Where an S3 failure destination gets a record, as AWS names it:
    ``aws/lambda/async/<function-name>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<random UUID>``."""
    stamp = dt.datetime.fromtimestamp(now, dt.UTC)
    return (
        f"aws/lambda/async/{function_name}/{stamp:%Y/%m/%d}/"
        f"{stamp:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
    )


def _error(outcome: Outcome) -> tuple[int, str]:
    """(HTTP status, message) of a failed event: a function error answered 200 with the
    error in the payload; a refused invocation its error's status."""
    response = outcome.response or {}
    if response.get("FunctionError"):
        payload = _parsed(response.get("Payload"))
        if isinstance(payload, dict) and payload.get("errorMessage"):
            return response.get("StatusCode", 200), str(payload["errorMessage"])
        return response.get("StatusCode", 200), json.dumps(payload)
    if outcome.condition == "EventAgeExceeded" and not outcome.error_code:
        return 200, "Event age exceeded"
    return outcome.status or 500, outcome.error_message or outcome.error_code or ""


def _parsed(payload) -> object:
    if payload is None or payload in (b"", ""):
        return None
    try:
        return json.loads(payload)
    except (TypeError, ValueError):
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload


def record(delivery: Delivery, outcome: Outcome, settings: AsyncSettings) -> dict:
    """AWS's invocation record for a destination (version 1.0)."""
    stamp = dt.datetime.fromtimestamp(time.time(), dt.UTC)
    condition = "RetriesExhausted" if outcome.condition == "Rejected" else outcome.condition
    body: dict = {
        "version": "1.0",
        "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": delivery.id,
            "functionArn": settings.function_arn,
            "condition": condition,
            "approximateInvokeCount": outcome.tries,
        },
        "requestPayload": _parsed(delivery.payload),
    }
    response = outcome.response
    if response:
        context = {"statusCode": response.get("StatusCode", 200)}
        context["executedVersion"] = response.get("ExecutedVersion", "$LATEST")
        if response.get("FunctionError"):
            context["functionError"] = response["FunctionError"]
        body["responseContext"] = context
        body["responsePayload"] = _parsed(response.get("Payload"))
    return body  # an event that never ran (throttled, refused) has no response parts
