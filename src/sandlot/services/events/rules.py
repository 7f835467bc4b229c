"""Rules and targets: PutRule (event patterns compiled by ``events/patterns``, schedule
expressions armed on the platform's timers), TestEventPattern, PutTargets with AWS's
validation, and the listings."""

from __future__ import annotations

import json
import time

from sandlot.events import schedule as schedules
from sandlot.events.delivery import arn_service
from sandlot.events.patterns import EVENT_PATTERN_MAX_LENGTH, PatternError, compile_event_pattern
from sandlot.protocol import ServiceError
from sandlot.services.events.base import (
    DEFAULT_BUS,
    EventsBase,
    limit_exceeded,
    rule_arn,
    validation,
)
from sandlot.services.events.buses import _page
from sandlot.services.events.schema import API_DESTINATIONS, RULES, TARGETS
from sandlot.services.events.transform import TransformError, check_transformer, compile_path
from sandlot.services.provider import RequestContext

MAX_TARGETS = 5  # targets per rule (AWS's quota)
SCHEDULE_TIMER = "events:schedule"
# Target services sandlot delivers to (the delivery path's adapters); others are refused.
DELIVERABLE = frozenset({"lambda", "sqs", "sns", "events", "logs", "states", "kinesis", "firehose"})


def _pattern(text: str) -> None:
    if len(text) > EVENT_PATTERN_MAX_LENGTH:
        raise ServiceError(
            "InvalidEventPatternException",
            f"Event pattern is not valid. Reason: Event pattern exceeds the maximum length "
            f"of {EVENT_PATTERN_MAX_LENGTH} characters.",
        )
    try:
        compile_event_pattern(text)
    except PatternError as error:
        raise ServiceError(error.code, error.message) from None


def _rule_output(row: dict) -> dict:
    out = {
        "Name": row["name"],
        "Arn": row["arn"],
        "State": row["state"],
        "EventBusName": row["bus"],
    }
    for key, column in (
        ("EventPattern", "pattern"),
        ("ScheduleExpression", "schedule"),
        ("Description", "description"),
        ("RoleArn", "role_arn"),
        ("ManagedBy", "managed_by"),
    ):
        if row.get(column):
            out[key] = row[column]
    return out


class RuleOperations(EventsBase):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.speedup = max(float(platform.settings.schedule_speedup), 1e-9)

    def put_rule(self, ctx: RequestContext, params: dict) -> dict:
        bus = self.bus(ctx, params.get("EventBusName"))
        if bus["account"] != ctx.account_id:
            raise validation("Rules can only be created on event buses of your own account.")
        pattern, expression = params.get("EventPattern"), params.get("ScheduleExpression")
        if not pattern and not expression:
            raise validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if pattern:
            _pattern(pattern)
        if expression:
            if bus["name"] != DEFAULT_BUS:
                raise validation("ScheduleExpression is supported only on the default event bus.")
            try:
                schedules.parse(expression)
            except schedules.ScheduleError as error:
                raise validation(error.message) from None
        state = params.get("State") or "ENABLED"  # (the model's enum is checked first)
        name = params["Name"]
        existing = self.store.get(RULES, ctx.account_id, ctx.region, bus["name"], name)
        tags = {t["Key"]: t["Value"] for t in params.get("Tags") or []}
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "bus": bus["name"],
            "name": name,
            "arn": rule_arn(ctx.region, ctx.account_id, bus["name"], name),
            "pattern": pattern,
            "schedule": expression,
            "state": state,
            "description": params.get("Description"),
            "role_arn": params.get("RoleArn"),
            "managed_by": existing["managed_by"] if existing else None,
            "tags": existing["tags"] if existing and not tags else json.dumps(tags),
            "created": existing["created"] if existing else time.time(),
        }
        with self.store.transaction():
            self.store.put(RULES, row)
            self._arm(row)
        self.forget_rules(ctx.account_id, ctx.region, bus["name"])
        return {"RuleArn": row["arn"]}

    def describe_rule(self, ctx: RequestContext, params: dict) -> dict:
        row = self.rule_row(ctx, params["Name"], params.get("EventBusName"))
        out = _rule_output(row)
        out["CreatedBy"] = row["account"]
        return out

    def list_rules(self, ctx: RequestContext, params: dict) -> dict:
        bus = self.bus(ctx, params.get("EventBusName"))
        rows = self.store.select(
            RULES,
            {"account": bus["account"], "region": bus["region"], "bus": bus["name"]},
            order_by=("name",),
        )
        prefix = params.get("NamePrefix") or ""
        return _page(
            [_rule_output(r) for r in rows if r["name"].startswith(prefix)], "Rules", params
        )

    def enable_rule(self, ctx: RequestContext, params: dict) -> dict:
        return self._set_state(ctx, params, "ENABLED")

    def disable_rule(self, ctx: RequestContext, params: dict) -> dict:
        return self._set_state(ctx, params, "DISABLED")

    def _set_state(self, ctx: RequestContext, params: dict, state: str) -> dict:
        row = self.rule_row(ctx, params["Name"], params.get("EventBusName"))
        row["state"] = state
        with self.store.transaction():
            self.store.put(RULES, row)
            self._arm(row)
        self.forget_rules(row["account"], row["region"], row["bus"])
        return {}

    def delete_rule(self, ctx: RequestContext, params: dict) -> dict:
        try:
            row = self.rule_row(ctx, params["Name"], params.get("EventBusName"))
        except ServiceError as error:
            if error.code == "ResourceNotFoundException" and "Rule" in error.message:
                return {}  # AWS answers the deletion of a missing rule with success
            raise
        if self.store.count(TARGETS, {"rule": row["arn"]}):
            raise validation("Rule can't be deleted since it has targets.")
        with self.store.transaction():
            self.store.delete(RULES, row["account"], row["region"], row["bus"], row["name"])
            self.platform.timers.cancel(SCHEDULE_TIMER, row["arn"])
        self.forget_rules(row["account"], row["region"], row["bus"])
        return {}

    def test_event_pattern(self, ctx: RequestContext, params: dict) -> dict:
        _pattern(params["EventPattern"])
        try:
            event = json.loads(params["Event"])
        except ValueError:
            raise validation("Parameter Event is not valid.") from None
        if not isinstance(event, dict):
            raise validation("Parameter Event is not valid.")
        for field in ("id", "account", "source", "time", "region", "detail-type"):
            if field not in event:
                raise validation(f"Parameter Event is not valid. Reason: Missing field: {field}")
        return {"Result": compile_event_pattern(params["EventPattern"]).matches(event)}

    # -- targets ----------------------------------------------------------------------

    def put_targets(self, ctx: RequestContext, params: dict) -> dict:
        row = self.rule_row(ctx, params["Rule"], params.get("EventBusName"))
        failed, accepted = [], []
        for target in params["Targets"]:
            self._check_target(target)
            service = arn_service(target["Arn"])
            if ":api-destination/" in target["Arn"] and not self._api_destination_exists(
                target["Arn"]
            ):
                failed.append(
                    {
                        "TargetId": target["Id"],
                        "ErrorCode": "ResourceNotFoundException",
                        "ErrorMessage": f"API destination {target['Arn']} does not exist.",
                    }
                )
                continue
            if service not in DELIVERABLE or (
                service == "events" and ":event-bus/" not in target["Arn"]
                and ":api-destination/" not in target["Arn"]
            ):  # fmt: skip
                failed.append(
                    {
                        "TargetId": target["Id"],
                        "ErrorCode": "ValidationException",
                        "ErrorMessage": f"sandlot does not deliver to {service} targets yet: "
                        f"{target['Arn']}",
                    }
                )
                continue
            accepted.append(target)
        existing = {t["id"] for t in self.store.select(TARGETS, {"rule": row["arn"]})}
        if len(existing | {t["Id"] for t in accepted}) > MAX_TARGETS:
            raise limit_exceeded("The requested resource exceeds the maximum number allowed.")
        with self.store.transaction():
            for n, target in enumerate(accepted):
                self.store.put(
                    TARGETS,
                    {
                        "rule": row["arn"],
                        "id": target["Id"],
                        "arn": target["Arn"],
                        "target": json.dumps(target),
                        "seq": int(time.time() * 1e6) + n,
                    },
                )
        self.forget_rules(row["account"], row["region"], row["bus"])
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def _api_destination_exists(self, arn: str) -> bool:
        parts = arn.split(":", 5)
        name = parts[5].split("/")[1] if parts[5].count("/") >= 1 else ""
        row = self.store.get(API_DESTINATIONS, parts[4], parts[3], name)
        return row is not None and row["arn"] == arn

    def _check_target(self, target: dict) -> None:
        given = [k for k in ("Input", "InputPath", "InputTransformer") if target.get(k) is not None]
        if len(given) > 1:
            raise validation(
                f"Only one of Input, InputPath, or InputTransformer must be provided for "
                f"target {target['Id']}."
            )
        if target.get("Input") is not None:
            try:
                json.loads(target["Input"])
            except ValueError:
                raise validation(f"Input for target {target['Id']} is not valid JSON.") from None
        try:
            if target.get("InputPath"):
                compile_path(target["InputPath"])
            if target.get("InputTransformer"):
                check_transformer(target["InputTransformer"])
            key_path = (target.get("KinesisParameters") or {}).get("PartitionKeyPath")
            if key_path:
                compile_path(key_path)
        except TransformError as error:
            raise validation(str(error)) from None
        arn = target["Arn"]
        group = (target.get("SqsParameters") or {}).get("MessageGroupId")
        if arn_service(arn) == "sqs" and arn.endswith(".fifo") and not group:
            raise validation(
                f"Parameter(s) SqsParameters must be specified for target: {target['Id']}."
            )
        dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
        if dead_letter and arn_service(dead_letter) != "sqs":
            raise validation("Parameter DeadLetterConfig.Arn must be an SQS queue ARN.")

    def remove_targets(self, ctx: RequestContext, params: dict) -> dict:
        row = self.rule_row(ctx, params["Rule"], params.get("EventBusName"))
        failed = []
        with self.store.transaction():
            for target_id in params["Ids"]:
                if not self.store.delete(TARGETS, row["arn"], target_id):
                    failed.append(
                        {
                            "TargetId": target_id,
                            "ErrorCode": "ResourceNotFoundException",
                            "ErrorMessage": f"Target {target_id} does not exist.",
                        }
                    )
        self.forget_rules(row["account"], row["region"], row["bus"])
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def list_targets_by_rule(self, ctx: RequestContext, params: dict) -> dict:
        row = self.rule_row(ctx, params["Rule"], params.get("EventBusName"))
        return _page(self.targets_of(row["arn"]), "Targets", params)

    def list_rule_names_by_target(self, ctx: RequestContext, params: dict) -> dict:
        bus = self.bus(ctx, params.get("EventBusName"))
        names = []
        for target in self.store.select(TARGETS, {"arn": params["TargetArn"]}):
            rule = self.store.select(RULES, {"arn": target["rule"]}, limit=1)
            if rule and rule[0]["bus"] == bus["name"] and rule[0]["account"] == bus["account"]:
                names.append(rule[0]["name"])
        return _page(sorted(set(names)), "RuleNames", params)

    # -- schedules --------------------------------------------------------------------

    def _arm(self, row: dict) -> None:
        """Arm (or cancel) the rule's schedule timer, in the caller's transaction."""
        if not row["schedule"] or row["state"] == "DISABLED":
            self.platform.timers.cancel(SCHEDULE_TIMER, row["arn"])
            return
        due = self.next_firing(row, time.time())
        if due is None:
            self.platform.timers.cancel(SCHEDULE_TIMER, row["arn"])
        else:
            self.platform.timers.arm(SCHEDULE_TIMER, row["arn"], due)

    def next_firing(self, row: dict, after: float) -> float | None:
        """When the rule's schedule fires next after ``after``. ``rate()`` counts from
        the rule's creation, shortened by the ``schedule_speedup`` setting (tests);
        ``cron()`` runs on UTC wall-clock minutes."""
        parsed = schedules.parse(row["schedule"])
        if isinstance(parsed, schedules.Rate):
            return schedules.Rate(parsed.seconds / self.speedup).next_after(after, row["created"])
        return parsed.next_after(after)
