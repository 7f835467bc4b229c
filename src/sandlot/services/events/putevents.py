"""PutEvents and what an event on a bus sets off: every enabled rule whose pattern
matches stages one delivery per target, in the PutEvents transaction (the delivery
path's outbox), with the target's input, retry policy and dead-letter queue. Scheduled
rules fire from the platform's timers and send AWS's "Scheduled Event".

Who calls a target: the target's ``RoleArn`` if it has one; for another account's bus
without one, the rule's account (that bus's policy must allow it); otherwise the service
principal ``events.amazonaws.com`` with ``aws:SourceArn`` = the rule's ARN, so the
target's resource policy (a function's policy, a queue's policy) must allow it, as in
AWS. A delivery that fails for good goes to the target's dead-letter queue with AWS's
message attributes (``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``…).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

from sandlot.events.delivery import (
    TRACE_OPTION,
    Deliveries,
    Delivery,
    Outcome,
    RetryPolicy,
    arn_service,
)
from sandlot.events.timers import Timer
from sandlot.iam.principal import Principal
from sandlot.services.events.base import Rule, not_found, parse_bus, validation
from sandlot.services.events.rules import SCHEDULE_TIMER, RuleOperations
from sandlot.services.events.schema import RULES
from sandlot.services.events.transform import partition_key, target_input
from sandlot.services.provider import RequestContext

MAX_REQUEST_BYTES = 262_144  # PutEvents: 256 KB for all entries together
DEFAULT_RETRIES = 185
DEFAULT_MAX_AGE_S = 86_400
FAILED_HOOK = "events-target-failed"
SERVICE_PRINCIPAL = "events.amazonaws.com"
ERROR_MESSAGE_LIMIT = 256
# Waits after the n-th failed attempt (the last repeats): exponential, as AWS backs off;
# throttles and 5xx back off on their own. SANDLOT_RETRY_TIMING "fast" (the default)
# divides the waits by 100 for a local loop.
_AWS_DELAYS = tuple(min(2.0**n, 300.0) for n in range(10))
TIMINGS = {
    "fast": {"delays_s": tuple(d / 100 for d in _AWS_DELAYS), "transient_base_s": 0.5,
             "transient_max_s": 5.0},
    "aws": {"delays_s": _AWS_DELAYS, "transient_base_s": 1.0, "transient_max_s": 300.0},
}  # fmt: skip


def iso(at: float, millis: bool = False) -> str:
    stamp = dt.datetime.fromtimestamp(at, dt.UTC)
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{stamp.microsecond // 1000:03d}Z" if millis else "Z")


def entry_size(entry: dict) -> int:
    """AWS's "Calculating PutEvents event entry size": 14 bytes for a Time, then the
    UTF-8 bytes of Source, DetailType, Detail and each Resource."""
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len((entry.get(key) or "").encode())
    return size + sum(len(r.encode()) for r in entry.get("Resources") or [])


def _entry_error(code: str, message: str) -> dict:
    return {"ErrorCode": code, "ErrorMessage": message}


def _dlq_error_code(outcome: Outcome) -> str:
    """AWS's ERROR_CODE of a dead-lettered event, from how the delivery ended."""
    code = outcome.error_code or ""
    if "AccessDenied" in code or code in ("AuthorizationError", "KMSAccessDeniedException"):
        return "NO_PERMISSIONS"
    if "NotFound" in code or "NonExistent" in code or code == "QueueDoesNotExist":
        return "NO_RESOURCE"
    if code in ("ThrottlingException", "TooManyRequestsException", "Throttling"):
        return "THROTTLING"
    if code == "ConnectionError":
        return "CONNECTION_FAILURE"
    if "Invalid" in code or code == "ValidationException":
        return "INVALID_PARAMETER"
    if (outcome.status or 0) >= 500:
        return "INTERNAL_ERROR"
    return "SDK_CLIENT_ERROR"


class PutEventsOperations(RuleOperations):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.deliveries.register_hook(FAILED_HOOK, self._target_failed)
        platform.timers.register(SCHEDULE_TIMER, self._scheduled)
        self._timing = TIMINGS.get(platform.settings.retry_timing, TIMINGS["fast"])

    def put_events(self, ctx: RequestContext, params: dict) -> dict:
        entries = params["Entries"]
        if sum(entry_size(e) for e in entries) > MAX_REQUEST_BYTES:
            raise validation("Total size of the entries in the request is over the limit.")
        now = time.time()
        with self.store.transaction():
            results = [self._ingest(ctx, entry, now) for entry in entries]
        return {
            "FailedEntryCount": sum(1 for r in results if "ErrorCode" in r),
            "Entries": results,
        }

    def _ingest(self, ctx: RequestContext, entry: dict, now: float) -> dict:
        for key in ("Source", "DetailType", "Detail"):
            if not entry.get(key):
                return _entry_error(
                    "InvalidArgument", f"Parameter {key} is not valid. Reason: {key} is a "
                    "required argument."
                )  # fmt: skip
        # "aws." sources are AWS's own: refused from callers, taken from sandlot's own
        # services (an internal call has no HTTP request).
        if entry["Source"].startswith("aws.") and ctx.request is not None:
            return _entry_error("NotAuthorizedForSourceException", "Not authorized for the source.")
        try:
            detail = json.loads(entry["Detail"])
        except ValueError:
            detail = None
        if not isinstance(detail, dict):
            return _entry_error("MalformedDetail", "Detail is malformed.")
        try:
            region, account, name = parse_bus(ctx, entry.get("EventBusName"))
        except Exception:
            return _entry_error("InvalidArgument", "Parameter EventBusName is not valid.")
        bus = self.bus_row(region, account, name)
        if bus is None:
            error = not_found(f"Event bus {name} does not exist.")
            return _entry_error(error.code, error.message)
        when = entry.get("Time")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": ctx.account_id,
            "time": iso(when.timestamp() if isinstance(when, dt.datetime) else now),
            "region": region,
            "resources": list(entry.get("Resources") or []),
            "detail": detail,
        }
        # X-Ray: the entry's TraceHeader, else the request's, goes on to the targets.
        self.dispatch(bus, event, now, trace=entry.get("TraceHeader") or ctx.trace())
        return {"EventId": event["id"]}

    def dispatch(self, bus: dict, event: dict, ingested: float, trace: str | None = None) -> int:
        """Stage the deliveries of ``event`` on ``bus`` (inside the caller's transaction);
        how many rules matched."""
        matched = 0
        text = None
        metrics = self.platform.metrics
        for rule in self.rules_of(bus["account"], bus["region"], bus["name"]):
            if rule.enabled and rule.pattern is not None and rule.pattern.matches(event):
                text = text or json.dumps(event, ensure_ascii=False)
                metrics.rule_event(bus["account"], bus["region"], rule.arn, "MatchedEvents")
                metrics.rule_event(bus["account"], bus["region"], rule.arn, "TriggeredRules")
                self._stage_targets(rule, event, text, ingested, trace)
                matched += 1
        if matched:  # account-wide, once per event however many rules matched it
            metrics.emit(bus["account"], bus["region"], "AWS/Events", "MatchedEvents", (), 1)
        return matched

    def _stage_targets(
        self, rule: Rule, event: dict, text: str, ingested: float, trace: str | None = None
    ) -> None:
        context = {
            "rule-arn": rule.arn,
            "rule-name": rule.name,
            "ingestion-time": iso(ingested, millis=True),
        }
        for target in rule.targets:
            payload = target_input(target, event, text, context)
            self._stage(rule.row, target, event, text, payload, trace)

    def _stage(
        self, rule: dict, target: dict, event: dict, text: str, payload: str, trace: str | None
    ) -> None:
        arn, account = target["Arn"], rule["account"]
        service = arn_service(arn)
        if target.get("RoleArn"):
            principal = self.platform.function_principal(target["RoleArn"], rule["name"][:64])
            keys: dict = {}
        elif service == "events" and arn.split(":")[4] != account:
            # Another account's bus without a role: sent as this account, which that
            # bus's policy must allow (AWS's cross-account event delivery).
            principal = Principal.root(account)
            keys = {}
        else:
            principal = Principal.service(SERVICE_PRINCIPAL, account)
            keys = {"aws:SourceArn": rule["arn"], "aws:SourceAccount": account}
        options: dict = {}
        if service == "lambda":
            options["InvocationType"] = "Event"
        elif service == "sqs":
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            if group:
                options["MessageGroupId"] = group
                options["MessageDeduplicationId"] = event["id"]
        elif service == "events" and ":event-bus/" in arn:  # another bus: the event itself
            payload = json.dumps(event["detail"], ensure_ascii=False)
            options = {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Resources": event["resources"],
            }
        elif service == "kinesis":
            options["PartitionKey"] = partition_key(target, event)
        elif service == "logs":  # one stream per event, named by its id
            options = {"logStreamName": event["id"], "timestamp": _millis(event["time"])}
        send_to = arn
        if ":api-destination/" in arn:  # an HTTP endpoint (ApiDestinationOperations)
            request = self.http_request(arn, target)
            if request is None:
                return  # destination or connection deleted: nothing to call
            send_to, options = request
        elif trace:
            options[TRACE_OPTION] = trace
        retry = target.get("RetryPolicy") or {}
        policy = RetryPolicy(
            max_attempts=int(retry.get("MaximumRetryAttempts", DEFAULT_RETRIES)) + 1,
            max_age_s=float(retry.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S)),
            **self._timing,
        )
        dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
        # The failure hook counts FailedInvocations, and dead-letters when there is a queue.
        hook_data = {"rule": rule["arn"], "target": arn, "account": account}
        if dead_letter:
            hook_data["queue"] = dead_letter
            if payload != text:  # the queue gets the event itself, not the target's input
                hook_data["event"] = text
        self.platform.metrics.rule_event(account, rule["region"], rule["arn"], "Invocations")
        self.platform.deliveries.stage(
            send_to,
            payload,
            principal=principal,
            context=keys,
            options=options,
            policy=policy,
            on_failure=FAILED_HOOK,
            hook_data=hook_data,
        )

    def _target_failed(self, deliveries: Deliveries, delivery: Delivery, outcome: Outcome) -> None:
        """The dead-letter queue gets the event with AWS's attributes, sent by EventBridge
        for the rule (the queue's policy must allow ``events.amazonaws.com``); every
        failure counts in FailedInvocations."""
        data = delivery.hook_data
        region = data["rule"].split(":")[3]
        self.platform.metrics.rule_event(data["account"], region, data["rule"],
                                         "FailedInvocations")  # fmt: skip
        if not data.get("queue"):
            return
        message = (outcome.error_message or outcome.error_code or "")[:ERROR_MESSAGE_LIMIT]
        attributes = {
            "RULE_ARN": data["rule"],
            "TARGET_ARN": data["target"],
            "ERROR_CODE": _dlq_error_code(outcome),
            "ERROR_MESSAGE": message or outcome.condition,
        }
        if outcome.condition in ("RetriesExhausted", "EventAgeExceeded"):
            attributes["EXHAUSTED_RETRY_CONDITION"] = (
                "MaximumRetryAttempts"
                if outcome.condition == "RetriesExhausted"
                else "MaximumEventAgeInSeconds"
            )
            attributes["RETRY_ATTEMPTS"] = str(max(outcome.tries - 1, 0))
        deliveries.stage(
            data["queue"],
            data.get("event") or delivery.payload,
            principal=Principal.service(SERVICE_PRINCIPAL, data["account"]),
            context={"aws:SourceArn": data["rule"], "aws:SourceAccount": data["account"]},
            options={
                "MessageAttributes": {
                    k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
                }
            },
        )

    # -- schedules --------------------------------------------------------------------

    def _scheduled(self, timer: Timer) -> None:
        """A schedule rule's timer: send the Scheduled Event to its targets and arm the
        next firing (in the transaction that retires this one). Missed firings while
        the server was down are sent once, as the one that is due."""
        rows = self.store.select(RULES, {"arn": timer.key}, limit=1)
        if not rows or rows[0]["state"] == "DISABLED" or not rows[0]["schedule"]:
            return  # deleted or disabled since it was armed
        row = rows[0]
        rule = next(
            (
                r
                for r in self.rules_of(row["account"], row["region"], row["bus"])
                if r.arn == row["arn"]
            ),
            None,
        )
        if rule is not None and rule.targets:
            self.platform.metrics.rule_event(row["account"], row["region"], row["arn"],
                                             "TriggeredRules")  # fmt: skip
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": row["account"],
                "time": iso(timer.due),
                "region": row["region"],
                "resources": [row["arn"]],
                "detail": {},
            }
            self._stage_targets(rule, event, json.dumps(event), time.time())
        due = self.next_firing(row, max(time.time(), timer.due))
        if due is not None:
            self.platform.timers.arm(SCHEDULE_TIMER, row["arn"], due)


def _millis(stamp: str) -> int:
    return int(
        dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp() * 1000
    )
