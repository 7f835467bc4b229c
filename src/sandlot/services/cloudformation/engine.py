"""Running stack operations: create, update (in place or by replacement), delete, and
the rollbacks, with the stack's and resources' states and events as AWS reports them.

One algorithm, ``_deploy``, brings a stack's resources to a template (create,
update, replace) walking the dependency graph with independent resources in
parallel; ``_remove`` deletes resources in reverse dependency order. Rollback of a
create is a ``_remove`` of everything; rollback of an update is a ``_deploy`` of the
previous template followed by the removal of what the failed update created. Every step
is written to the store before and after it runs, so ``recover`` (at start-up) finds
operations a crash interrupted and rolls them back (or finishes a delete/cleanup).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sandlot.iam.principal import Principal
from sandlot.services.cloudformation import graph as graphs
from sandlot.services.cloudformation import intrinsics, parameters, schemas
from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    not_found,
    resource_type,
)
from sandlot.services.cloudformation.schema import EVENTS, RESOURCES, STACKS
from sandlot.services.cloudformation.template import TemplateError

if TYPE_CHECKING:
    from sandlot.platform import Platform

log = logging.getLogger("sandlot.cloudformation")
STACK_TYPE = "AWS::CloudFormation::Stack"
INTERNAL_FAILURE = "Internal Failure"
IN_PROGRESS_ENDINGS = ("_IN_PROGRESS",)


class Failed(Exception):
    """An operation step failed; ``logical_ids`` are the resources that failed."""

    def __init__(self, logical_ids: list[str]) -> None:
        super().__init__(", ".join(logical_ids))
        self.logical_ids = logical_ids


async def walk(
    nodes: list[str], needs: dict[str, set[str]], action: Callable[[str], Awaitable[None]]
) -> list[str]:
    """Run ``action`` on every node once all it needs are done, independent nodes
    concurrently. After a failure nothing new starts; those running finish. Returns the
    nodes that failed."""
    pending = set(nodes)
    done: set[str] = set()
    failed: list[str] = []
    running: dict[asyncio.Task, str] = {}
    while pending or running:
        if not failed:
            for node in sorted(pending):
                if needs.get(node, set()) & set(nodes) <= done:
                    pending.discard(node)
                    running[asyncio.ensure_future(action(node))] = node
        if not running:
            break
        finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            node = running.pop(task)
            if task.exception() is not None:
                if not isinstance(task.exception(), ResourceFailed):
                    log.error("resource %s", node, exc_info=task.exception())
                failed.append(node)
            else:
                done.add(node)
    return failed


def _loads(text: str | None, default: Any = None) -> Any:
    return json.loads(text) if text else default


class StackRun:
    """One stack operation (and its rollback), reading and writing the stack's rows."""

    def __init__(self, platform: Platform, stack: dict) -> None:
        self.platform = platform
        self.store = platform.store
        self.stack = stack
        self.stack_id = stack["stack_id"]
        data = _loads(stack["principal"])
        self.principal = Principal(**data)
        self._seq = 0

    # ---- rows and events -------------------------------------------------------------
    def rows(self) -> dict[str, dict]:
        return {
            r["logical_id"]: r for r in self.store.select(RESOURCES, {"stack_id": self.stack_id})
        }

    def put_row(self, row: dict) -> None:
        row["updated"] = time.time()
        self.store.put(RESOURCES, row)

    def event(
        self,
        logical_id: str,
        physical_id: str | None,
        type_name: str,
        status: str,
        reason: str | None = None,
        properties: Any = None,
    ) -> None:
        last = self.store.select(
            EVENTS, {"stack_id": self.stack_id}, order_by=("seq",), descending=True, limit=1
        )
        seq = max(self._seq, last[0]["seq"] if last else 0) + 1
        self._seq = seq
        self.store.put(
            EVENTS,
            {
                "stack_id": self.stack_id, "seq": seq, "event_id": str(uuid.uuid4()),
                "logical_id": logical_id, "physical_id": physical_id or "", "type": type_name,
                "status": status, "reason": reason,
                "properties": json.dumps(properties) if properties is not None else None,
                "timestamp": time.time(),
            },
        )  # fmt: skip

    def set_status(self, status: str, reason: str | None = None, **fields: Any) -> None:
        """The stack's status (and its event) in one write."""
        with self.store.transaction():
            self.stack = {
                **self.store.get(STACKS, self.stack_id),
                "status": status,
                "reason": reason,
                **fields,
            }
            self.store.put(STACKS, self.stack)
            self.event(self.stack["name"], self.stack_id, STACK_TYPE, status, reason)

    def context(self, logical_id: str) -> ResourceContext:
        return ResourceContext(
            self.platform, self.principal, self.stack["region"], self.stack["name"],
            self.stack_id, logical_id, _loads(self.stack["tags"], []),
        )  # fmt: skip

    # ---- templates -----------------------------------------------------------------
    def scope(
        self, template: dict, chosen: dict[str, str], rows: dict[str, dict]
    ) -> intrinsics.Scope:
        return build_scope(self.platform, self.stack, template, chosen, rows)

    # ---- create / update ------------------------------------------------------------
    async def deploy(
        self, template: dict, chosen: dict[str, str], *, rollback: bool = False
    ) -> None:
        """Bring the resources to ``template`` (replaced resources' old rows are kept
        in their row's ``replaced`` for cleanup). Raises Failed naming the resources
        that failed."""
        rows = self.rows()
        scope = self.scope(template, chosen, rows)
        wanted = active_resources(template, scope.conditions)
        # The whole template's graph: an Fn::If branch not taken may name a resource
        # whose Condition is false (CDK's bootstrap template does), as AWS allows.
        needs = {
            name: after & set(wanted)
            for name, after in graphs.dependencies(template).items()
            if name in wanted
        }

        async def apply(logical_id: str) -> None:
            definition = wanted[logical_id]
            try:
                properties = intrinsics.resolve(definition.get("Properties") or {}, scope)
            except intrinsics.IntrinsicError as e:
                status = "UPDATE_FAILED" if logical_id in rows else "CREATE_FAILED"
                self.event(logical_id, None, definition["Type"], status, str(e))
                raise ResourceFailed(str(e)) from e
            try:
                await self._apply(
                    logical_id, definition, properties, rows.get(logical_id), rollback
                )
            except ResourceFailed:
                raise
            except Exception as e:  # a bug in a resource type: fail the resource, not the stack
                log.exception("resource %s of %s", logical_id, self.stack_id)
                row = self.rows().get(logical_id)
                status = (
                    "CREATE_FAILED"
                    if row is None or row["status"].startswith("CREATE")
                    else "UPDATE_FAILED"
                )
                if row is not None:
                    self.put_row({**row, "status": status, "reason": INTERNAL_FAILURE})
                self.event(
                    logical_id,
                    row and row["physical_id"],
                    definition["Type"],
                    status,
                    INTERNAL_FAILURE,
                )
                raise ResourceFailed(INTERNAL_FAILURE) from e
            rows[logical_id] = self.rows()[logical_id]  # Ref/GetAtt of dependents read it

        failed = await walk(list(wanted), needs, apply)
        if failed:
            raise Failed(failed)

    async def _apply(
        self, logical_id: str, definition: dict, properties: dict, row: dict | None,
        rollback: bool,
    ) -> Outcome | None:  # fmt: skip
        type_name = definition["Type"]
        ctx = self.context(logical_id)
        handler = resource_type(type_name)
        base = {
            "stack_id": self.stack_id, "logical_id": logical_id, "type": type_name,
            "policy": definition.get("DeletionPolicy"), "replaced": None,
        }  # fmt: skip
        fresh = (
            row is None
            or row["status"] in ("CREATE_FAILED", "DELETE_COMPLETE")
            or not row["physical_id"]
        )
        # A create a restart interrupted that its type resumes: its events were written.
        resumed = bool(
            row and row["status"] == "CREATE_IN_PROGRESS" and handler and handler.resumable
        )
        if fresh:
            if not resumed:
                self.event(logical_id, None, type_name, "CREATE_IN_PROGRESS")
            if handler is None:
                reason = f"Resource type {type_name} is not supported by sandlot"
                self.put_row({**base, "status": "CREATE_FAILED", "reason": reason})
                self.event(logical_id, None, type_name, "CREATE_FAILED", reason)
                raise ResourceFailed(reason)
            name = handler.planned_name(ctx, properties)
            self.put_row(
                {
                    **base,
                    "physical_id": name,
                    "status": "CREATE_IN_PROGRESS",
                    "properties": json.dumps(properties),
                }
            )
            if name and not resumed:
                self.event(
                    logical_id, name, type_name, "CREATE_IN_PROGRESS", "Resource creation Initiated"
                )
            try:
                outcome = await handler.create(ctx, properties, name)
            except ResourceFailed as e:
                # A failure naming what it made (a custom resource's FAILED answer): kept
                # so that the rollback deletes it.
                name = getattr(e, "physical_id", None) or name
                self.put_row(
                    {
                        **base,
                        "physical_id": name,
                        "status": "CREATE_FAILED",
                        "reason": str(e),
                        "properties": json.dumps(properties),
                    }
                )
                self.event(logical_id, name or "", type_name, "CREATE_FAILED", str(e))
                raise
            self._done(base, outcome, properties, "CREATE_COMPLETE")
            return outcome

        current = Outcome(row["physical_id"], _loads(row["ref"]), _loads(row["attributes"], {}))
        previous = _loads(row["properties"], {})
        replaced = _loads(row["replaced"], [])
        # Rolling back a replacement: the old resource is still there; point back to it.
        for old in replaced:
            if rollback and _loads(old["properties"], {}) == properties:
                self.put_row(
                    {
                        **old,
                        "status": "UPDATE_COMPLETE",
                        "replaced": json.dumps([{**row, "replaced": None}]),
                    }
                )
                self.event(logical_id, old["physical_id"], type_name, "UPDATE_COMPLETE")
                return None
        settled = row["status"].endswith("_COMPLETE")
        if previous == properties and settled and row["type"] == type_name:
            if row.get("policy") != definition.get("DeletionPolicy"):
                self.put_row({**row, "policy": definition.get("DeletionPolicy")})
            return None
        if handler is None:
            raise ResourceFailed(f"Resource type {type_name} is not supported by sandlot")
        if row["type"] != type_name or needs_replacement(type_name, previous, properties):
            # Replacement: create the new one, repoint, delete the old one in cleanup.
            self.event(
                logical_id,
                current.physical_id,
                type_name,
                "UPDATE_IN_PROGRESS",
                "Requested update requires the creation of a new physical resource; hence creating one.",
            )
            name = handler.planned_name(ctx, properties)
            if name == current.physical_id:
                reason = (f"CloudFormation cannot update a stack when a custom-named resource requires "
                          f"replacing. Rename {current.physical_id} and update the stack again.")  # fmt: skip
                self.event(logical_id, current.physical_id, type_name, "UPDATE_FAILED", reason)
                raise ResourceFailed(reason)
            old = {**row, "status": "UPDATE_COMPLETE", "replaced": None,
                   "policy": definition.get("UpdateReplacePolicy")}  # fmt: skip
            self.put_row({**row, "status": "UPDATE_IN_PROGRESS", "replaced": json.dumps([old])})
            try:
                outcome = await handler.create(ctx, properties, name)
            except ResourceFailed as e:
                self.put_row({**row, "status": "UPDATE_FAILED", "reason": str(e)})
                self.event(logical_id, current.physical_id, type_name, "UPDATE_FAILED", str(e))
                raise
            self.event(
                logical_id,
                outcome.physical_id,
                type_name,
                "UPDATE_IN_PROGRESS",
                "Resource creation Initiated",
            )
            self._done(
                {**base, "replaced": json.dumps([old])}, outcome, properties, "UPDATE_COMPLETE"
            )
            return outcome
        if not (row["status"] == "UPDATE_IN_PROGRESS" and handler.resumable):
            self.event(logical_id, current.physical_id, type_name, "UPDATE_IN_PROGRESS")
            self.put_row({**row, "status": "UPDATE_IN_PROGRESS"})
        try:
            outcome = await handler.update(ctx, current, properties, previous)
        except ResourceFailed as e:
            self.put_row({**row, "status": "UPDATE_FAILED", "reason": str(e)})
            self.event(logical_id, current.physical_id, type_name, "UPDATE_FAILED", str(e))
            raise
        if outcome.physical_id != current.physical_id:
            # An update that answered a new physical id (a custom resource) replaced the
            # resource: the old one is deleted in cleanup, as AWS does.
            old = {**row, "status": "UPDATE_COMPLETE", "replaced": None,
                   "policy": definition.get("UpdateReplacePolicy")}  # fmt: skip
            base = {**base, "replaced": json.dumps([old])}
        self._done(base, outcome, properties, "UPDATE_COMPLETE")
        return outcome

    def _done(self, base: dict, outcome: Outcome, properties: dict, status: str) -> None:
        self.put_row(
            {**base, "physical_id": outcome.physical_id, "status": status, "reason": None,
             "properties": json.dumps(properties), "ref": json.dumps(outcome.ref),
             "attributes": json.dumps(outcome.attributes)}
        )  # fmt: skip
        self.event(base["logical_id"], outcome.physical_id, base["type"], status)

    # ---- delete -------------------------------------------------------------------
    async def remove(
        self, rows: list[dict], template: dict | None, *, keep_rows: bool = False
    ) -> list[str]:
        """Delete ``rows``' resources, dependents first; returns the logical ids that
        failed. Retain leaves the resource (DELETE_SKIPPED)."""
        by_id = {r["logical_id"]: r for r in rows}
        try:
            needs = graphs.reverse(graphs.dependencies(template)) if template else {}
        except TemplateError:
            needs = {}
        needs = {k: {d for d in v if d in by_id} for k, v in needs.items() if k in by_id}

        async def delete(logical_id: str) -> None:
            await self.delete_one(by_id[logical_id], keep_row=keep_rows)

        return await walk(list(by_id), needs, delete)

    async def delete_one(self, row: dict, *, keep_row: bool = False, record: bool = True) -> None:
        """Delete one resource with its events; ``record=False`` leaves the row alone
        (a replaced resource's old physical id, whose row is the new one's)."""
        logical_id, type_name, physical_id = row["logical_id"], row["type"], row["physical_id"]
        if row["status"] == "DELETE_COMPLETE":
            return
        if row.get("policy") == "Retain" and row["status"] != "CREATE_FAILED":
            self.event(logical_id, physical_id, type_name, "DELETE_SKIPPED")
            if record:
                self._forget(row, keep_row, "DELETE_SKIPPED")
            return
        self.event(logical_id, physical_id, type_name, "DELETE_IN_PROGRESS")
        handler = resource_type(type_name)
        # A create that answered an error made nothing (unless its type says otherwise):
        # only a name recorded before a create that never answered (a crash) needs a
        # delete attempt.
        made = row["status"] != "CREATE_FAILED" or (
            handler is not None and handler.delete_after_failed_create
        )
        if handler is not None and physical_id and made:
            if record:
                self.put_row({**row, "status": "DELETE_IN_PROGRESS"})
            try:
                await handler.delete(
                    self.context(logical_id), physical_id, _loads(row["properties"], {})
                )
            except ResourceFailed as e:
                if not not_found(e):
                    if record:
                        self.put_row({**row, "status": "DELETE_FAILED", "reason": str(e)})
                    self.event(logical_id, physical_id, type_name, "DELETE_FAILED", str(e))
                    raise
        self.event(logical_id, physical_id, type_name, "DELETE_COMPLETE")
        if record:
            self._forget(row, keep_row, "DELETE_COMPLETE")

    def _forget(self, row: dict, keep_row: bool, status: str) -> None:
        if keep_row:
            self.put_row({**row, "status": status})
        else:
            self.store.delete(RESOURCES, self.stack_id, row["logical_id"])

    async def cleanup(self, wanted: set[str]) -> None:
        """After an update (or its rollback): delete the resources replaced (their old
        rows wait in ``replaced``) and those no longer in the template. Derived from
        the rows alone, so a cleanup a crash interrupted is redone at start-up.
        UpdateReplacePolicy Retain keeps a replaced resource."""
        rows = self.rows()
        for row in rows.values():
            for old in _loads(row["replaced"], []):
                # AWS reports a failed cleanup delete as an event; the stack completes.
                with contextlib.suppress(ResourceFailed):
                    await self.delete_one(old, record=False)
                self.put_row({**self.rows()[row["logical_id"]], "replaced": None})
        gone = [r for name, r in rows.items() if name not in wanted]
        await self.remove(gone, None)


def _attribute(row: dict, attribute: str) -> Any:
    values = _loads(row["attributes"], {})
    if attribute not in values:
        raise intrinsics.IntrinsicError(
            f"Template error: resource {row['logical_id']} does not support attribute type "
            f"{attribute} in Fn::GetAtt"
        )
    return values[attribute]


def needs_replacement(type_name: str, previous: dict, properties: dict) -> bool:
    """True when a property AWS's schema marks create-only changed."""
    return any(previous.get(p) != properties.get(p) for p in schemas.create_only(type_name))


def active_resources(template: dict, conditions: dict[str, bool]) -> dict[str, dict]:
    """The template's resources whose Condition holds."""
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or conditions.get(resource["Condition"], False)
    }


def pseudo_parameters(stack: dict) -> dict[str, Any]:
    return {
        "AWS::AccountId": stack["account_id"],
        "AWS::Region": stack["region"],
        "AWS::StackId": stack["stack_id"],
        "AWS::StackName": stack["name"],
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
    }


def build_scope(
    platform: Platform, stack: dict, template: dict, chosen: dict[str, str], rows: dict[str, dict]
) -> intrinsics.Scope:
    definitions = template.get("Parameters") or {}
    values = {
        name: parameters.typed(definitions[name], chosen.get(parameters.resolved_key(name), v))
        for name, v in chosen.items()
        if name in definitions
    }
    scope = intrinsics.Scope(
        parameters={**pseudo_parameters(stack), **values},
        mappings=template.get("Mappings") or {},
        resources=frozenset(template["Resources"]),
        ref=lambda name: _loads(rows[name]["ref"]),
        get_att=lambda name, attribute: _attribute(rows[name], attribute),
        import_value=lambda name: import_value(platform, stack, name),
        region=stack["region"],
    )
    scope.conditions = intrinsics.evaluate_conditions(template.get("Conditions") or {}, scope)
    return scope


def import_value(platform: Platform, stack: dict, name: str) -> Any:
    for other in platform.store.select(
        STACKS, {"account_id": stack["account_id"], "region": stack["region"]}
    ):
        if other["deleted"]:
            continue
        for output in _loads(other["outputs"], []):
            if output.get("ExportName") == name:
                return output["OutputValue"]
    raise intrinsics.IntrinsicError(f"No export named {name} found. Rollback requested by user.")


def outputs(platform: Platform, stack: dict, template: dict, chosen: dict[str, str]) -> list[dict]:
    """DescribeStacks' Outputs: each Output's value resolved, with its export name."""
    rows = {
        r["logical_id"]: r
        for r in platform.store.select(RESOURCES, {"stack_id": stack["stack_id"]})
    }
    scope = build_scope(platform, stack, template, chosen, rows)
    result = []
    for key, output in (template.get("Outputs") or {}).items():
        if "Condition" in output and not scope.conditions.get(output["Condition"], False):
            continue
        value = intrinsics.resolve(output["Value"], scope)
        entry = {"OutputKey": key, "OutputValue": value if isinstance(value, str) else _text(value)}
        if "Description" in output:
            entry["Description"] = output["Description"]
        if "Export" in output:
            entry["ExportName"] = intrinsics.resolve(output["Export"].get("Name"), scope)
        result.append(entry)
    return result


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return json.dumps(value) if isinstance(value, dict) else str(value)


def principal_json(principal: Principal) -> str:
    return json.dumps(dataclasses.asdict(principal))
