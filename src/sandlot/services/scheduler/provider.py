"""Amazon EventBridge Scheduler: schedule groups (the ``default`` group always exists)
and schedules with ``at(…)``, ``rate(…)`` and ``cron(…)`` expressions read in their
``ScheduleExpressionTimezone`` (DST-correct: ``events/schedule.py``), ``StartDate`` /
``EndDate``, ``FlexibleTimeWindow``, ``ActionAfterCompletion``.

Each enabled schedule holds one durable timer (``scheduler:schedule``); its firing
stages the target call on the delivery path, in the same transaction that arms the
next firing, so a firing due while the server was down is sent after the restart
(once: missed firings are not sent one by one). The target is called as the
schedule's execution role (``Target.RoleArn``): templated targets (Lambda, SQS, SNS,
Step Functions, an EventBridge bus) and universal targets
(``arn:aws:scheduler:::aws-sdk:<service>:<apiAction>``, any operation sandlot serves,
``Input`` being its parameters). ``Input`` may name the context attributes
``<aws.scheduler.schedule-arn>``, ``<aws.scheduler.scheduled-time>``,
``<aws.scheduler.execution-id>`` and ``<aws.scheduler.attempt-number>``. Retry policy
(185 retries, 86,400 s by default) and a dead-letter queue (sent as the role) as data.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
import zoneinfo

from sandlot.events import schedule as schedules
from sandlot.events.delivery import Deliveries, Delivery, Outcome, RetryPolicy, arn_service
from sandlot.events.timers import Timer
from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.models import service_model
from sandlot.services.provider import Provider, RequestContext
from sandlot.services.scheduler.schema import GROUPS, MIGRATIONS, SCHEDULES

DEFAULT_GROUP = "default"
TIMER = "scheduler:schedule"
FAILED_HOOK = "scheduler-target-failed"
DEFAULT_RETRIES = 185
DEFAULT_MAX_AGE_S = 86_400
_DEFINITION = (
    "ScheduleExpression", "ScheduleExpressionTimezone", "StartDate", "EndDate", "Description",
    "FlexibleTimeWindow", "Target", "ActionAfterCompletion", "KmsKeyArn",
)  # fmt: skip
# Waits between retries (the last repeats), divided by 100 with SANDLOT_RETRY_TIMING=fast.
_AWS_DELAYS = tuple(min(2.0**n, 300.0) for n in range(10))
_TARGETS = frozenset({"lambda", "sqs", "sns", "states", "events", "scheduler"})


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def not_found(message: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", message, 404)


def conflict(message: str) -> ServiceError:
    return ServiceError("ConflictException", message, 409)


def _stamp(value) -> float | None:
    if value is None:
        return None
    return value.timestamp() if isinstance(value, dt.datetime) else float(value)


class SchedulerProvider(Provider):
    service = "scheduler"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.store = platform.store
        self.store.migrate("scheduler", MIGRATIONS)
        platform.timers.register(TIMER, self._fire)
        platform.deliveries.register_hook(FAILED_HOOK, self._target_failed)
        self.speedup = max(float(platform.settings.schedule_speedup), 1e-9)
        fast = platform.settings.retry_timing != "aws"
        self._timing = {
            "delays_s": tuple(d / 100 for d in _AWS_DELAYS) if fast else _AWS_DELAYS,
            "transient_base_s": 0.5 if fast else 1.0,
            "transient_max_s": 5.0 if fast else 300.0,
        }

    def validate(self, ctx: RequestContext, params: dict) -> None:
        shape = service_model(self.service).operation_model(ctx.operation).input_shape
        found = constraints.violations(shape, params) if shape is not None else []
        if found:
            raise validation(constraints.summary(found))

    # -- groups -----------------------------------------------------------------------

    def _group_arn(self, ctx: RequestContext, name: str) -> str:
        return f"arn:aws:scheduler:{ctx.region}:{ctx.account_id}:schedule-group/{name}"

    def _group(self, ctx: RequestContext, name: str | None) -> dict:
        name = name or DEFAULT_GROUP
        row = self.store.get(GROUPS, ctx.account_id, ctx.region, name)
        if row is None and name == DEFAULT_GROUP:
            row = {"account": ctx.account_id, "region": ctx.region, "name": name,
                   "arn": self._group_arn(ctx, name), "tags": "{}", "created": None,
                   "modified": None}  # fmt: skip
        if row is None:
            raise not_found(f"Schedule group {name} does not exist.")
        return row

    def create_schedule_group(self, ctx: RequestContext, params: dict) -> dict:
        name = params["Name"]
        now = time.time()
        row = {"account": ctx.account_id, "region": ctx.region, "name": name,
               "arn": self._group_arn(ctx, name), "created": now, "modified": now,
               "tags": json.dumps({t["Key"]: t["Value"] for t in params.get("Tags") or []})}  # fmt: skip
        if name == DEFAULT_GROUP or not self.store.put(GROUPS, row, replace=False):
            raise conflict(f"Schedule group {name} already exists.")
        return {"ScheduleGroupArn": row["arn"]}

    def _group_output(self, row: dict) -> dict:
        out = {"Arn": row["arn"], "Name": row["name"], "State": "ACTIVE"}
        if row["created"]:
            out["CreationDate"] = row["created"]
            out["LastModificationDate"] = row["modified"]
        return out

    def get_schedule_group(self, ctx: RequestContext, params: dict) -> dict:
        return self._group_output(self._group(ctx, params["Name"]))

    def list_schedule_groups(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(
            GROUPS, {"account": ctx.account_id, "region": ctx.region}, order_by=("name",)
        )
        rows = [self._group(ctx, DEFAULT_GROUP), *rows]
        prefix = params.get("NamePrefix") or ""
        found = [self._group_output(r) for r in rows if r["name"].startswith(prefix)]
        return _page(found, "ScheduleGroups", params)

    def delete_schedule_group(self, ctx: RequestContext, params: dict) -> dict:
        name = params["Name"]
        if name == DEFAULT_GROUP:
            raise validation("The default schedule group cannot be deleted.")
        self._group(ctx, name)
        with self.store.transaction():  # the group's schedules go with it, as in AWS
            for row in self.store.select(
                SCHEDULES, {"account": ctx.account_id, "region": ctx.region, "group_name": name}
            ):
                self.platform.timers.cancel(TIMER, row["arn"])
            self.store.delete_where(
                SCHEDULES, {"account": ctx.account_id, "region": ctx.region, "group_name": name}
            )
            self.store.delete(GROUPS, ctx.account_id, ctx.region, name)
        return {}

    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        row = self._group_by_arn(ctx, params["ResourceArn"])
        tags = json.loads(row["tags"] or "{}")
        tags.update({t["Key"]: t["Value"] for t in params["Tags"]})
        self.store.put(GROUPS, {**row, "tags": json.dumps(tags)})
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        row = self._group_by_arn(ctx, params["ResourceArn"])
        tags = {
            k: v for k, v in json.loads(row["tags"] or "{}").items() if k not in params["TagKeys"]
        }
        self.store.put(GROUPS, {**row, "tags": json.dumps(tags)})
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: dict) -> dict:
        row = self._group_by_arn(ctx, params["ResourceArn"])
        return {
            "Tags": [{"Key": k, "Value": v} for k, v in json.loads(row["tags"] or "{}").items()]
        }

    def _group_by_arn(self, ctx: RequestContext, arn: str) -> dict:
        if ":schedule-group/" not in arn:
            raise not_found(f"Resource {arn} does not exist.")
        row = self._group(ctx, arn.rsplit("/", 1)[-1])
        if row["created"] is None:  # the implicit default group holds no tags
            self.store.put(GROUPS, {**row, "created": time.time(), "modified": time.time()})
            row = self._group(ctx, row["name"])
        return row

    # -- schedules --------------------------------------------------------------------

    def _check(self, params: dict) -> None:
        expression = params["ScheduleExpression"]
        zone = params.get("ScheduleExpressionTimezone") or "UTC"
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise validation(f"Invalid timezone: {zone}") from None
        try:
            schedules.parse(expression, allow_at=True)
        except schedules.ScheduleError:
            raise validation(f"Invalid Schedule Expression {expression}.") from None
        start, end = _stamp(params.get("StartDate")), _stamp(params.get("EndDate"))
        if start is not None and end is not None and end <= start:
            raise validation("The EndDate must be after the StartDate.")
        window = params["FlexibleTimeWindow"]
        if window.get("Mode") == "FLEXIBLE" and not window.get("MaximumWindowInMinutes"):
            raise validation("MaximumWindowInMinutes is required when Mode is FLEXIBLE.")
        target = params["Target"]
        if arn_service(target["Arn"]) not in _TARGETS:
            raise validation(
                f"sandlot does not call {arn_service(target['Arn'])} targets yet: {target['Arn']}"
            )
        if target["Arn"].startswith("arn:aws:scheduler:::aws-sdk:") and target.get("Input"):
            try:
                json.loads(target["Input"])
            except ValueError:
                raise validation("The Input of a universal target must be JSON.") from None

    def create_schedule(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params.get("GroupName"))
        self._check(params)
        name = params["Name"]
        now = time.time()
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "group_name": group["name"],
            "name": name,
            "arn": f"arn:aws:scheduler:{ctx.region}:{ctx.account_id}:schedule/{group['name']}/{name}",
            "definition": json.dumps(_definition(params)),
            "state": params.get("State") or "ENABLED",
            "created": now,
            "modified": now,
        }
        with self.store.transaction():
            if not self.store.put(SCHEDULES, row, replace=False):
                raise conflict(f"Schedule {name} already exists.")
            self._arm(row, now)
        return {"ScheduleArn": row["arn"]}

    def update_schedule(self, ctx: RequestContext, params: dict) -> dict:
        row = self._schedule(ctx, params["Name"], params.get("GroupName"))
        self._check(params)
        row = {**row, "definition": json.dumps(_definition(params)),
               "state": params.get("State") or "ENABLED", "modified": time.time()}  # fmt: skip
        with self.store.transaction():
            self.store.put(SCHEDULES, row)
            self._arm(row, time.time())
        return {"ScheduleArn": row["arn"]}

    def _schedule(self, ctx: RequestContext, name: str, group: str | None) -> dict:
        group = group or DEFAULT_GROUP
        row = self.store.get(SCHEDULES, ctx.account_id, ctx.region, group, name)
        if row is None:
            raise not_found(f"Schedule {name} does not exist.")
        return row

    def get_schedule(self, ctx: RequestContext, params: dict) -> dict:
        row = self._schedule(ctx, params["Name"], params.get("GroupName"))
        return {
            **json.loads(row["definition"]),
            "Arn": row["arn"],
            "Name": row["name"],
            "GroupName": row["group_name"],
            "State": row["state"],
            "CreationDate": row["created"],
            "LastModificationDate": row["modified"],
        }

    def list_schedules(self, ctx: RequestContext, params: dict) -> dict:
        where = {"account": ctx.account_id, "region": ctx.region}
        if params.get("GroupName"):
            where["group_name"] = params["GroupName"]
        rows = self.store.select(SCHEDULES, where, order_by=("group_name", "name"))
        prefix, state = params.get("NamePrefix") or "", params.get("State")
        found = [
            {
                "Arn": r["arn"],
                "Name": r["name"],
                "GroupName": r["group_name"],
                "State": r["state"],
                "CreationDate": r["created"],
                "LastModificationDate": r["modified"],
                "Target": {"Arn": json.loads(r["definition"])["Target"]["Arn"]},
            }
            for r in rows
            if r["name"].startswith(prefix) and (not state or r["state"] == state)
        ]
        return _page(found, "Schedules", params)

    def delete_schedule(self, ctx: RequestContext, params: dict) -> dict:
        row = self._schedule(ctx, params["Name"], params.get("GroupName"))
        with self.store.transaction():
            self.store.delete(
                SCHEDULES, row["account"], row["region"], row["group_name"], row["name"]
            )
            self.platform.timers.cancel(TIMER, row["arn"])
        return {}

    # -- firing -----------------------------------------------------------------------

    def next_firing(self, row: dict, after: float) -> float | None:
        """When the schedule fires next after ``after`` (None: never again)."""
        definition = json.loads(row["definition"])
        zone = zoneinfo.ZoneInfo(definition.get("ScheduleExpressionTimezone") or "UTC")
        start = definition.get("StartDate")
        end = definition.get("EndDate")
        parsed = schedules.parse(definition["ScheduleExpression"], allow_at=True)
        if isinstance(parsed, schedules.Rate):
            origin = start if start is not None else row["created"]
            parsed = schedules.Rate(parsed.seconds / self.speedup)
            due = parsed.next_after(
                max(after, origin - 1e-6) if start is not None else after, origin
            )
        else:
            due = parsed.next_after(
                max(after, start - 1e-6) if start is not None else after, 0.0, zone
            )
        if due is None or (end is not None and due > end):
            return None
        return due

    def _arm(self, row: dict, after: float) -> None:
        due = self.next_firing(row, after) if row["state"] == "ENABLED" else None
        if due is None:
            self.platform.timers.cancel(TIMER, row["arn"])
            return
        window = json.loads(row["definition"])["FlexibleTimeWindow"]
        if window.get("Mode") == "FLEXIBLE":  # AWS picks a moment within the window
            due += random.uniform(0, window["MaximumWindowInMinutes"] * 60 / self.speedup)
        self.platform.timers.arm(TIMER, row["arn"], due, {"scheduled": due})

    def _fire(self, timer: Timer) -> None:
        """A schedule's firing (in the transaction retiring its timer): stage the target
        call, arm the next firing or, with none left, apply ActionAfterCompletion."""
        rows = self.store.select(SCHEDULES, {"arn": timer.key}, limit=1)
        if not rows or rows[0]["state"] != "ENABLED":
            return
        row = rows[0]
        definition = json.loads(row["definition"])
        self._stage(row, definition, timer.due)
        next_due = self.next_firing(row, max(time.time(), timer.due))
        if next_due is not None:
            self._arm(row, max(time.time(), timer.due))
        elif definition.get("ActionAfterCompletion") == "DELETE":
            self.store.delete(
                SCHEDULES, row["account"], row["region"], row["group_name"], row["name"]
            )

    def _stage(self, row: dict, definition: dict, scheduled: float) -> None:
        target = definition["Target"]
        execution = str(uuid.uuid4())
        context = {
            "<aws.scheduler.schedule-arn>": row["arn"],
            "<aws.scheduler.scheduled-time>": dt.datetime.fromtimestamp(scheduled, dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "<aws.scheduler.execution-id>": execution,
            "<aws.scheduler.attempt-number>": "1",
        }
        payload = target.get("Input") or "{}"
        for name, value in context.items():
            payload = payload.replace(name, value)
        arn = target["Arn"]
        service = arn_service(arn)
        options: dict = {}
        if service == "lambda":
            options["InvocationType"] = "Event"
        elif service == "sqs" and (target.get("SqsParameters") or {}).get("MessageGroupId"):
            options["MessageGroupId"] = target["SqsParameters"]["MessageGroupId"]
            options["MessageDeduplicationId"] = execution
        elif service == "events":
            parameters = target.get("EventBridgeParameters") or {}
            options = {
                "Source": parameters.get("Source", "aws.scheduler"),
                "DetailType": parameters.get("DetailType", "Scheduled Event"),
                "Resources": [row["arn"]],
            }
        retry = target.get("RetryPolicy") or {}
        policy = RetryPolicy(
            max_attempts=int(retry.get("MaximumRetryAttempts", DEFAULT_RETRIES)) + 1,
            max_age_s=float(retry.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S)),
            **self._timing,
        )
        dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
        principal = self.platform.function_principal(target["RoleArn"], row["name"][:64])
        self.platform.deliveries.stage(
            arn,
            payload,
            principal=principal,
            options=options,
            policy=policy,
            region=row["region"] if service == "scheduler" else None,
            on_failure=FAILED_HOOK if dead_letter else None,
            hook_data={"schedule": row["arn"], "target": arn, "queue": dead_letter,
                       "role": target["RoleArn"], "name": row["name"], "execution": execution}
            if dead_letter else None,
        )  # fmt: skip

    def _target_failed(self, deliveries: Deliveries, delivery: Delivery, outcome: Outcome) -> None:
        """The dead-letter queue gets the target's input with the failure's details as
        attributes, sent as the schedule's role."""
        data = delivery.hook_data
        attributes = {
            "ERROR_CODE": outcome.error_code or outcome.condition,
            "ERROR_MESSAGE": (outcome.error_message or outcome.condition)[:256],
            "EXECUTION_ID": data["execution"],
            "SCHEDULE_ARN": data["schedule"],
            "TARGET_ARN": data["target"],
            "RETRY_ATTEMPTS": str(max(outcome.tries - 1, 0)),
        }
        if outcome.condition in ("RetriesExhausted", "EventAgeExceeded"):
            attributes["EXHAUSTED_RETRY_CONDITION"] = (
                "MaximumRetryAttempts"
                if outcome.condition == "RetriesExhausted"
                else "MaximumEventAgeInSeconds"
            )
        deliveries.stage(
            data["queue"],
            delivery.payload,
            principal=self.platform.function_principal(data["role"], data["name"][:64]),
            options={"MessageAttributes": {
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}},
        )  # fmt: skip


def _definition(params: dict) -> dict:
    out = {k: params[k] for k in _DEFINITION if params.get(k) is not None}
    for key in ("StartDate", "EndDate"):
        if key in out:
            out[key] = _stamp(out[key])
    return out


def _page(items: list, key: str, params: dict) -> dict:
    start = int(params.get("NextToken") or 0)
    limit = params.get("MaxResults") or 100
    out: dict = {key: items[start : start + limit]}
    if start + limit < len(items):
        out["NextToken"] = str(start + limit)
    return out
