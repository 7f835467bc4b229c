"""Provisioned concurrency: environments of a version or alias initialised ahead of use.

A configuration is a durable row (``lambda_provisioned_concurrency``); the execution
engine does the work (``Engine.provision``): it starts the environments in the
background and reports how many are allocated, which becomes ``Status``
(``IN_PROGRESS`` → ``READY``, or ``FAILED`` with a ``StatusReason``). Whatever changes
what a configuration targets (Put/Delete, deleting the function, a version or an
alias, pointing an alias elsewhere) calls ``sync_provisioned`` for the function, which
hands the engine the current wishes; ``start`` does the same for every configuration
when the platform starts, so they are provisioned again after a restart.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from sandlot.execution.api import FunctionSpec
from sandlot.protocol import ServiceError
from sandlot.services.awslambda.arns import LATEST, VERSION_NUMBER, function_arn, timestamp
from sandlot.services.awslambda.base import page, validated
from sandlot.services.awslambda.concurrency import UNRESERVED_MIN, ConcurrencyOperations
from sandlot.services.awslambda.validation import conflict, invalid, not_found
from sandlot.services.provider import RequestContext

log = logging.getLogger("sandlot.lambda")

Key = tuple[str, str, str]  # (account, region, function name)


def owner_key(account: str, region: str, function: str, qualifier: str) -> str:
    """How the engine knows one configuration."""
    return f"{account}:{region}:{function}:{qualifier}"


def split(count: int, primary: str, weights: dict[str, float]) -> list[tuple[str, int]]:
    """How an alias's provisioned concurrency spreads over the versions it routes to:
    in proportion to their weights, the rest on the primary version."""
    shares = [(version, round(count * weight)) for version, weight in weights.items()]
    rest = count - sum(share for _, share in shares)
    return [(v, n) for v, n in ((primary, rest), *shares) if n > 0]


class ProvisionedOperations(ConcurrencyOperations):
    """The four provisioned concurrency operations and their link to the engine.

    (Built on reserved concurrency: provisioned concurrency is allocated out of it.)
    """

    # Provided by LambdaProvider: the spec a version row runs, or its state if not Active.
    _outcome: Callable[[dict, int | None], FunctionSpec | str]

    def __init__(self, platform) -> None:
        super().__init__(platform)
        # Configurations handed to the engine, per function (to release the ones gone),
        # and functions with a target not Active yet (synced again when next read).
        self._provisioned: dict[Key, set[str]] = {}
        self._provision_waiting: set[Key] = set()

    async def start(self) -> None:
        """Provision every stored configuration (at platform start)."""
        rows = self.records.provisioned_configs()
        for key in sorted({(r["account"], r["region"], r["function"]) for r in rows}):
            try:
                self.sync_provisioned(*key)
            except Exception:  # one function's trouble must not keep the platform down
                log.exception("provisioned concurrency of %s could not resume", key)

    # == operations =====================================================================

    @validated
    def put_provisioned_concurrency_config(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        name, qualifier = self._provisioned_target(ctx, params, "Put")
        function = self.function(account, region, name)
        wanted = params["ProvisionedConcurrentExecutions"]
        versions = self._targets(account, region, name, qualifier)
        if LATEST in versions:
            raise invalid(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
            )
        self._check_exclusive(account, region, name, qualifier, versions)
        self._check_concurrency(account, region, function, qualifier, wanted)
        row = {
            "account": account,
            "region": region,
            "function": name,
            "qualifier": qualifier,
            "requested": wanted,
            "last_modified": timestamp(time.time()),
        }
        self.records.put_provisioned(row)
        self.sync_provisioned(account, region, name, retry=True)
        return self._status(row)

    @validated
    def get_provisioned_concurrency_config(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        name, qualifier = self._provisioned_target(ctx, params, "Get")
        self._targets(account, region, name, qualifier)  # ResourceNotFoundException
        row = self.records.provisioned_config(account, region, name, qualifier)
        if row is None:
            raise ServiceError(
                "ProvisionedConcurrencyConfigNotFoundException",
                "No Provisioned Concurrency Config found for this function",
                404,
                Type="User",
            )
        self._observe(account, region, name)
        return self._status(row)

    @validated
    def delete_provisioned_concurrency_config(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        name, qualifier = self._provisioned_target(ctx, params, "Delete")
        self._targets(account, region, name, qualifier)  # ResourceNotFoundException
        self.records.delete_provisioned(account, region, name, qualifier)
        self.sync_provisioned(account, region, name)
        return {}

    @validated
    def list_provisioned_concurrency_configs(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        self.function(account, region, name)
        self._observe(account, region, name)
        rows = self.records.provisioned_configs(account, region, name)
        items, marker = page(rows, params, key=lambda r: r["qualifier"])
        configs = [
            {"FunctionArn": function_arn(region, account, name, r["qualifier"]), **self._status(r)}
            for r in items
        ]
        result: dict[str, Any] = {"ProvisionedConcurrencyConfigs": configs}
        if marker:
            result["NextMarker"] = marker
        return result

    # == the link to the engine =========================================================

    def sync_provisioned(
        self, account: str, region: str, name: str, *, retry: bool = False
    ) -> None:
        """Hand the engine what the function's configurations want now."""
        key = (account, region, name)
        known = self._provisioned.get(key, set())
        rows = self.records.provisioned_configs(account, region, name)
        if not rows and not known:
            return  # nothing provisioned, nothing to release: leave the engine alone
        engine = self.platform.engine
        self._provision_waiting.discard(key)
        current = set()
        for row in rows:
            owner = owner_key(account, region, name, row["qualifier"])
            current.add(owner)
            engine.provision(owner, self._specs(row, key), retry=retry)
        for owner in known - current:
            engine.provision(owner, [])
        if current:
            self._provisioned[key] = current
        else:
            self._provisioned.pop(key, None)

    def _specs(self, row: dict, key: Key) -> list[tuple[FunctionSpec, int]]:
        """(spec, environments) per version a configuration targets, Active ones only."""
        account, region, name = key
        function = self.records.function(account, region, name)
        try:
            versions = self._targets(account, region, name, row["qualifier"])
        except ServiceError:  # the alias or version went meanwhile
            return []
        alias = self.records.alias(account, region, name, row["qualifier"])
        weights = json.loads(alias["routing"] or "{}") if alias else {}
        specs = []
        for version, count in split(row["requested"], versions[0], weights):
            version_row = self.version_or_none(account, region, name, version)
            if version_row is None or version == LATEST:
                continue
            outcome = self._outcome(version_row, function["reserved_concurrency"])
            if isinstance(outcome, str):  # not Active yet: provisioned once it is
                self._provision_waiting.add(key)
                continue
            specs.append((outcome, count))
        return specs

    def _observe(self, account: str, region: str, name: str) -> None:
        """Sync a function whose targets were not Active at the last sync."""
        if (account, region, name) in self._provision_waiting:
            self.sync_provisioned(account, region, name)

    def _status(self, row: dict) -> dict:
        owner = owner_key(row["account"], row["region"], row["function"], row["qualifier"])
        engine = self.platform.engine
        state = engine.provisioned(owner)
        allocated = state.allocated if state is not None else 0
        requested = row["requested"]
        status = "READY" if allocated >= requested else "IN_PROGRESS"
        result: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": requested,
            "AvailableProvisionedConcurrentExecutions": allocated,
            "AllocatedProvisionedConcurrentExecutions": allocated,
            "LastModified": row["last_modified"],
        }
        if state is not None and state.status == "FAILED":
            status = "FAILED"
            result["StatusReason"] = state.reason
        result["Status"] = status
        return result

    # == checks =========================================================================

    def _provisioned_target(self, ctx: RequestContext, params: dict, verb: str) -> tuple[str, str]:
        name, qualifier = self.locate(ctx, params["FunctionName"], params.get("Qualifier"))
        if qualifier in (None, "", LATEST):
            if verb == "Put":
                raise invalid(
                    "Provisioned Concurrency Configs cannot be applied to unpublished "
                    "function versions."
                )
            raise invalid("The function resource provided must be an alias or a published version.")
        return name, qualifier

    def _targets(self, account: str, region: str, name: str, qualifier: str) -> list[str]:
        """The versions a qualifier runs: a version itself, or an alias's primary version
        then its weighted ones. ResourceNotFoundException if it does not exist."""
        self.function(account, region, name)
        missing = not_found(f"Function not found: {function_arn(region, account, name, qualifier)}")
        if VERSION_NUMBER.match(qualifier):
            if self.version_or_none(account, region, name, qualifier) is None:
                raise missing
            return [qualifier]
        alias = self.records.alias(account, region, name, qualifier)
        if alias is None:
            raise missing
        return [alias["function_version"], *json.loads(alias["routing"] or "{}")]

    def _check_exclusive(
        self, account: str, region: str, name: str, qualifier: str, versions: list[str]
    ) -> None:
        """A version is provisioned once: directly, or through one alias."""
        for row in self.records.provisioned_configs(account, region, name):
            other = row["qualifier"]
            if other == qualifier:
                continue
            if VERSION_NUMBER.match(qualifier):
                if not VERSION_NUMBER.match(other) and qualifier in self._targets_or_none(
                    account, region, name, other
                ):
                    raise conflict("Version is pointed by a Provisioned Concurrency alias")
            elif other in versions or set(versions) & set(
                self._targets_or_none(account, region, name, other)
            ):
                raise conflict(
                    "Alias can't be used for Provisioned Concurrency configuration on an "
                    "already Provisioned version"
                )

    def _targets_or_none(self, account: str, region: str, name: str, qualifier: str) -> list[str]:
        try:
            return self._targets(account, region, name, qualifier)
        except ServiceError:
            return []

    def _check_concurrency(
        self, account: str, region: str, function: dict, qualifier: str, wanted: int
    ) -> None:
        """Provisioned concurrency comes out of the function's reserved concurrency, or
        else out of the account's unreserved concurrency, which keeps its minimum."""
        name = function["name"]
        reserved = function["reserved_concurrency"]
        if reserved is not None:
            others = sum(
                r["requested"]
                for r in self.records.provisioned_configs(account, region, name)
                if r["qualifier"] != qualifier
            )
            if others + wanted > reserved:
                raise invalid(
                    "Requested Provisioned Concurrency should not be greater than the "
                    "reservedConcurrentExecution for function"
                )
            return
        _functions, _code, reserved_total = self.records.usage(account, region)
        unreserved = self.account_concurrency - reserved_total
        if wanted > unreserved:
            raise invalid(
                "Specified ConcurrentExecutions for function is greater than account's "
                f"unreserved concurrency [{unreserved}]."
            )
        # What other functions without reserved concurrency already provisioned.
        unreserved_functions: dict[str, bool] = {}
        provisioned = 0
        for row in self.records.provisioned_configs(account, region):
            if row["function"] == name and row["qualifier"] == qualifier:
                continue
            fn = row["function"]
            if fn not in unreserved_functions:
                other = self.records.function(account, region, fn)
                unreserved_functions[fn] = other is not None and (
                    other["reserved_concurrency"] is None
                )
            if unreserved_functions[fn]:
                provisioned += row["requested"]
        if unreserved - provisioned - wanted < UNRESERVED_MIN:
            raise invalid(
                "Specified ConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{UNRESERVED_MIN}]."
            )
