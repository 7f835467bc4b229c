"""What every EventBridge operation area shares: ARNs, errors, and the stored buses,
rules and targets (the rules of each bus cached compiled, since every PutEvents matches
against them)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from sandlot.events.patterns import Pattern, compile_event_pattern
from sandlot.iam.authorizer import ResourcePolicy
from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.models import service_model
from sandlot.services.events.schema import BUSES, MIGRATIONS, RULES, TARGETS
from sandlot.services.provider import Provider, RequestContext

DEFAULT_BUS = "default"


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def not_found(message: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", message)


def already_exists(message: str) -> ServiceError:
    return ServiceError("ResourceAlreadyExistsException", message)


def limit_exceeded(message: str) -> ServiceError:
    return ServiceError("LimitExceededException", message)


def bus_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def rule_arn(region: str, account: str, bus: str, name: str) -> str:
    path = name if bus == DEFAULT_BUS else f"{bus}/{name}"
    return f"arn:aws:events:{region}:{account}:rule/{path}"


def parse_bus(ctx: RequestContext, name_or_arn: str | None) -> tuple[str, str, str]:
    """(region, account, name) of the bus a request names (by name or ARN)."""
    value = name_or_arn or DEFAULT_BUS
    if value.startswith("arn:"):
        parts = value.split(":", 5)
        if len(parts) != 6 or parts[2] != "events" or not parts[5].startswith("event-bus/"):
            raise validation(f"Parameter {value} is not valid.")
        return parts[3], parts[4], parts[5].removeprefix("event-bus/")
    return ctx.region, ctx.account_id, value


@dataclass
class Rule:
    """A rule as PutEvents sees it: compiled pattern and its targets."""

    row: dict
    pattern: Pattern | None
    targets: list[dict] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return self.row["arn"]

    @property
    def name(self) -> str:
        return self.row["name"]

    @property
    def enabled(self) -> bool:
        return self.row["state"] != "DISABLED"  # ENABLED_WITH_ALL_CLOUDTRAIL_… too


class EventsBase(Provider):
    service = "events"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.store = platform.store
        self.store.migrate("events", MIGRATIONS)
        self._rules: dict[tuple[str, str, str], list[Rule]] = {}  # by (account, region, bus)

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """The model's constraints (lengths, ranges, patterns) in AWS's words, before IAM."""
        shape = service_model(self.service).operation_model(ctx.operation).input_shape
        found = constraints.violations(shape, params) if shape is not None else []
        if found:
            raise validation(constraints.summary(found))

    # -- buses ------------------------------------------------------------------------

    def bus_row(self, region: str, account: str, name: str) -> dict | None:
        """The bus's row; the default bus always exists (a blank row until stored)."""
        row = self.store.get(BUSES, account, region, name)
        if row is None and name == DEFAULT_BUS:
            row = {
                "account": account,
                "region": region,
                "name": name,
                "arn": bus_arn(region, account, name),
                "description": None,
                "policy": None,
                "tags": "{}",
                "created": None,
                "modified": None,
            }
        return row

    def bus(self, ctx: RequestContext, name_or_arn: str | None) -> dict:
        region, account, name = parse_bus(ctx, name_or_arn)
        row = self.bus_row(region, account, name)
        if row is None:
            raise not_found(f"Event bus {name} does not exist.")
        return row

    def save_bus(self, row: dict) -> None:
        self.store.put(BUSES, {**row, "modified": time.time()})

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """The bus's resource policy (for PutEvents from other accounts); rules have none."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("event-bus/"):
            return None
        row = self.bus_row(parts[3], parts[4], parts[5].removeprefix("event-bus/"))
        if row is None:
            return None
        return ResourcePolicy(row["policy"], row["account"], tags=json.loads(row["tags"] or "{}"))

    # -- rules ------------------------------------------------------------------------

    def rule_row(self, ctx: RequestContext, name: str, bus_name: str | None) -> dict:
        bus = self.bus(ctx, bus_name)
        row = self.store.get(RULES, bus["account"], bus["region"], bus["name"], name)
        if row is None:
            raise not_found(f"Rule {name} does not exist on EventBus {bus['name']}.")
        return row

    def rules_of(self, account: str, region: str, bus: str) -> list[Rule]:
        """The bus's rules, compiled, with their targets (cached until one changes)."""
        key = (account, region, bus)
        cached = self._rules.get(key)
        if cached is None:
            cached = []
            rows = self.store.select(
                RULES, {"account": account, "region": region, "bus": bus}, order_by=("name",)
            )
            for row in rows:
                pattern = compile_event_pattern(row["pattern"]) if row["pattern"] else None
                targets = [
                    json.loads(t["target"])
                    for t in self.store.select(TARGETS, {"rule": row["arn"]}, order_by=("seq",))
                ]
                cached.append(Rule(row, pattern, targets))
            self._rules[key] = cached
        return cached

    def forget_rules(self, account: str, region: str, bus: str) -> None:
        self._rules.pop((account, region, bus), None)

    def targets_of(self, arn: str) -> list[dict]:
        return [
            json.loads(t["target"])
            for t in self.store.select(TARGETS, {"rule": arn}, order_by=("seq",))
        ]
