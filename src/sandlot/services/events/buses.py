"""Event buses: the default bus of each account and region, custom buses, their
resource policies (PutPermission/RemovePermission or a whole Policy: what lets another
account PutEvents onto a bus) and tags of buses and rules."""

from __future__ import annotations

import json
import time

from sandlot.iam.policy import MalformedPolicyError, compile_policy
from sandlot.services.events.base import (
    DEFAULT_BUS,
    EventsBase,
    already_exists,
    bus_arn,
    limit_exceeded,
    not_found,
    validation,
)
from sandlot.services.events.schema import BUSES, RULES, TARGETS
from sandlot.services.provider import RequestContext

MAX_TAGS = 50


def _bus_output(row: dict) -> dict:
    out = {"Name": row["name"], "Arn": row["arn"]}
    if row.get("description"):
        out["Description"] = row["description"]
    if row.get("policy"):
        out["Policy"] = row["policy"]
    if row.get("created"):
        out["CreationTime"] = row["created"]
        out["LastModifiedTime"] = row["modified"] or row["created"]
    return out


class BusOperations(EventsBase):
    def create_event_bus(self, ctx: RequestContext, params: dict) -> dict:
        name = params["Name"]
        if name == DEFAULT_BUS or "/" in name and not name.startswith("aws.partner/"):
            raise validation(f"Event bus name {name} is not valid.")
        if name.startswith("aws.partner/"):
            raise validation("sandlot has no partner event sources.")
        now = time.time()
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "arn": bus_arn(ctx.region, ctx.account_id, name),
            "description": params.get("Description"),
            "policy": None,
            "tags": json.dumps({t["Key"]: t["Value"] for t in params.get("Tags") or []}),
            "created": now,
            "modified": now,
        }
        if not self.store.put(BUSES, row, replace=False):
            raise already_exists(f"Event bus {name} already exists.")
        out = {"EventBusArn": row["arn"]}
        if row["description"]:
            out["Description"] = row["description"]
        return out

    def describe_event_bus(self, ctx: RequestContext, params: dict) -> dict:
        return _bus_output(self.bus(ctx, params.get("Name")))

    def update_event_bus(self, ctx: RequestContext, params: dict) -> dict:
        row = self.bus(ctx, params.get("Name"))
        if "Description" in params:
            row["description"] = params["Description"]
        self.save_bus(row)
        return {"Arn": row["arn"], "Name": row["name"], **(
            {"Description": row["description"]} if row["description"] else {})}  # fmt: skip

    def list_event_buses(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(
            BUSES, {"account": ctx.account_id, "region": ctx.region}, order_by=("name",)
        )
        if not any(r["name"] == DEFAULT_BUS for r in rows):
            rows.insert(0, self.bus_row(ctx.region, ctx.account_id, DEFAULT_BUS))
        prefix = params.get("NamePrefix") or ""
        buses = [_bus_output(r) for r in rows if r["name"].startswith(prefix)]
        return _page(buses, "EventBuses", params)

    def delete_event_bus(self, ctx: RequestContext, params: dict) -> dict:
        name = params["Name"]
        if name == DEFAULT_BUS:
            raise validation("Cannot delete event bus default.")
        row = self.store.get(BUSES, ctx.account_id, ctx.region, name)
        if row is None:
            return {}  # AWS answers a missing bus's deletion with success
        with self.store.transaction():
            # AWS expects the rules gone first; their leftovers go with the bus.
            for rule in self.store.select(
                RULES, {"account": ctx.account_id, "region": ctx.region, "bus": name}
            ):
                self.store.delete_where(TARGETS, {"rule": rule["arn"]})
                self.platform.timers.cancel("events:schedule", rule["arn"])
            self.store.delete_where(
                RULES, {"account": ctx.account_id, "region": ctx.region, "bus": name}
            )
            self.store.delete(BUSES, ctx.account_id, ctx.region, name)
        self.forget_rules(ctx.account_id, ctx.region, name)
        return {}

    # -- resource policy --------------------------------------------------------------

    def put_permission(self, ctx: RequestContext, params: dict) -> dict:
        row = self.bus(ctx, params.get("EventBusName"))
        if params.get("Policy"):
            try:
                compile_policy(params["Policy"], "resource", row["arn"])
            except MalformedPolicyError as error:
                raise validation(f"Policy is not valid: {error}") from None
            row["policy"] = params["Policy"]
        else:
            for name in ("Action", "Principal", "StatementId"):
                if not params.get(name):
                    raise validation(f"Parameter {name} must be specified.")
            if params["Action"] != "events:PutEvents":
                raise validation(
                    "Provided value in parameter 'action' is not supported. "
                    "Only events:PutEvents is supported."
                )
            principal = params["Principal"]
            statement: dict = {
                "Sid": params["StatementId"],
                "Effect": "Allow",
                "Principal": "*" if principal == "*" else {"AWS": f"arn:aws:iam::{principal}:root"},
                "Action": "events:PutEvents",
                "Resource": row["arn"],
            }
            condition = params.get("Condition")
            if condition:
                statement["Condition"] = {condition["Type"]: {condition["Key"]: condition["Value"]}}
            policy = json.loads(row["policy"]) if row["policy"] else {
                "Version": "2012-10-17", "Statement": []}  # fmt: skip
            statements = [s for s in policy["Statement"] if s.get("Sid") != params["StatementId"]]
            policy["Statement"] = [*statements, statement]
            row["policy"] = json.dumps(policy, separators=(",", ":"))
        self.save_bus(row)
        return {}

    def remove_permission(self, ctx: RequestContext, params: dict) -> dict:
        row = self.bus(ctx, params.get("EventBusName"))
        if params.get("RemoveAllPermissions"):
            row["policy"] = None
            self.save_bus(row)
            return {}
        sid = params.get("StatementId")
        if not sid:
            raise validation("Parameter StatementId must be specified.")
        policy = json.loads(row["policy"]) if row["policy"] else {"Statement": []}
        kept = [s for s in policy["Statement"] if s.get("Sid") != sid]
        if len(kept) == len(policy["Statement"]):
            raise not_found("Statement with the provided id does not exist.")
        policy["Statement"] = kept
        row["policy"] = json.dumps(policy, separators=(",", ":")) if kept else None
        self.save_bus(row)
        return {}

    # -- tags (buses and rules) ------------------------------------------------------

    def _tagged(self, ctx: RequestContext, arn: str) -> tuple[object, dict]:
        parts = arn.split(":", 5)
        if len(parts) == 6 and parts[5].startswith("event-bus/"):
            row = self.bus_row(parts[3], parts[4], parts[5].removeprefix("event-bus/"))
            if row is not None:
                return BUSES, row
        if len(parts) == 6 and parts[5].startswith("rule/"):
            found = self.store.select(RULES, {"arn": arn}, limit=1)
            if found:
                return RULES, found[0]
        raise not_found(f"Resource {arn.rsplit('/', 1)[-1]} does not exist.")

    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        table, row = self._tagged(ctx, params["ResourceARN"])
        tags = json.loads(row["tags"] or "{}")
        tags.update({t["Key"]: t["Value"] for t in params["Tags"]})
        if len(tags) > MAX_TAGS:
            raise limit_exceeded("The requested resource exceeds the maximum number allowed.")
        row["tags"] = json.dumps(tags)
        self.store.put(table, row)  # type: ignore[arg-type]
        if table is RULES:
            self.forget_rules(row["account"], row["region"], row["bus"])
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        table, row = self._tagged(ctx, params["ResourceARN"])
        tags = json.loads(row["tags"] or "{}")
        for key in params["TagKeys"]:
            tags.pop(key, None)
        row["tags"] = json.dumps(tags)
        self.store.put(table, row)  # type: ignore[arg-type]
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: dict) -> dict:
        _, row = self._tagged(ctx, params["ResourceARN"])
        tags = json.loads(row["tags"] or "{}")
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


def _page(items: list, key: str, params: dict) -> dict:
    """A page of ``items`` (NextToken: the index of the next item, as text)."""
    start = int(params.get("NextToken") or 0)
    limit = params.get("Limit") or 100
    out: dict = {key: items[start : start + limit]}
    if start + limit < len(items):
        out["NextToken"] = str(start + limit)
    return out
