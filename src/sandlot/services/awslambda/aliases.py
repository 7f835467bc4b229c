"""Aliases: named pointers to a version, optionally splitting traffic with a second one."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sandlot.services.awslambda import outputs
from sandlot.services.awslambda.arns import ALIAS_NAME, LATEST, function_arn
from sandlot.services.awslambda.base import LambdaBase, page, validated
from sandlot.services.awslambda.configuration import new_revision
from sandlot.services.awslambda.validation import (
    check_routing,
    conflict,
    invalid,
    not_found,
    precondition_failed,
)
from sandlot.services.provider import RequestContext


def choose_version(primary: str, weights: dict[str, float] | None, draw: float) -> str:
    """The version an alias routes one invocation to; ``draw`` is uniform in [0, 1)."""
    for version, weight in (weights or {}).items():
        if draw < weight:
            return version
        draw -= weight
    return primary


def _weights(routing_config: dict | None) -> dict[str, float]:
    return (routing_config or {}).get("AdditionalVersionWeights") or {}


class AliasOperations(LambdaBase):
    # Provided by LambdaProvider (provisioned.py): an alias's provisioned concurrency
    # follows the versions it points to.
    sync_provisioned: Callable[..., None]
    forget_event_invoke_configs: Callable[..., None]  # EventInvokeOperations

    @validated
    def create_alias(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        self.function(account, region, name)
        alias_name = params["Name"]
        if not ALIAS_NAME.match(alias_name) or alias_name == LATEST:
            raise invalid(f"Invalid alias name: {alias_name}")
        weights = _weights(params.get("RoutingConfig"))
        self._check_targets(account, region, name, params["FunctionVersion"], weights)
        row = {
            "account": account,
            "region": region,
            "function": name,
            "name": alias_name,
            "function_version": params["FunctionVersion"],
            "description": params.get("Description") or "",
            "routing": json.dumps(weights) if weights else None,
            "revision_id": new_revision(),
        }
        if not self.records.put_alias(row, replace=False):
            arn = function_arn(region, account, name, alias_name)
            raise conflict(f"Alias already exists: {arn}")
        return outputs.alias(row)

    @validated
    def get_alias(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        return outputs.alias(self.alias_row(ctx.account_id, ctx.region, name, params["Name"]))

    @validated
    def update_alias(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        row = self.alias_row(account, region, name, params["Name"])
        if params.get("RevisionId") and params["RevisionId"] != row["revision_id"]:
            raise precondition_failed()
        version = params.get("FunctionVersion") or row["function_version"]
        if "RoutingConfig" in params:
            weights = _weights(params["RoutingConfig"])
        else:  # an update that does not mention routing keeps it
            weights = json.loads(row["routing"] or "{}")
        self._check_targets(account, region, name, version, weights)
        row = {
            **row,
            "function_version": version,
            "description": params.get("Description", row["description"]),
            "routing": json.dumps(weights) if weights else None,
            "revision_id": new_revision(),
        }
        self.records.put_alias(row)
        self.sync_provisioned(account, region, name)
        return outputs.alias(row)

    @validated
    def delete_alias(self, ctx: RequestContext, params: dict) -> dict:
        # AWS answers 204 whether or not the alias (or function) exists.
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        with self.store.transaction():
            self.records.delete_alias(ctx.account_id, ctx.region, name, params["Name"])
            self.forget_event_invoke_configs(ctx.account_id, ctx.region, name, params["Name"])
        self.sync_provisioned(ctx.account_id, ctx.region, name)
        return {}

    @validated
    def list_aliases(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        self.function(ctx.account_id, ctx.region, name)
        rows = self.records.aliases(ctx.account_id, ctx.region, name)
        version = params.get("FunctionVersion")
        if version:
            rows = [r for r in rows if version in _targets(r)]
        items, marker = page(rows, params, key=lambda r: r["name"])
        result: dict[str, Any] = {"Aliases": [outputs.alias(r) for r in items]}
        if marker:
            result["NextMarker"] = marker
        return result

    def _check_targets(
        self, account: str, region: str, name: str, version: str, weights: dict[str, float]
    ) -> None:
        """The versions exist, the routing follows AWS's rules, and one role runs them all."""
        check_routing(version, weights)
        roles = set()
        for target in (version, *weights):
            row = self.version_or_none(account, region, name, target)
            if row is None:
                raise not_found(
                    f"Function not found: {function_arn(region, account, name, target)}"
                )
            roles.add(json.loads(row["config"])["Role"])
        if len(roles) > 1:
            raise invalid("Specified versions must be associated with the same execution role")


def _targets(row: dict) -> set[str]:
    """The versions an alias row points to."""
    return {row["function_version"], *json.loads(row["routing"] or "{}")}
