"""The lifecycle of a stack operation: statuses in AWS's order and wording, rollback
on failure, and recovery at start-up of operations a crash interrupted (a stack is
never left IN_PROGRESS: creates and updates roll back, deletes and cleanups finish)."""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

from sandlot.services.cloudformation import engine as engines
from sandlot.services.cloudformation.engine import Failed, StackRun, active_resources
from sandlot.services.cloudformation.handlers import resource_type
from sandlot.services.cloudformation.intrinsics import IntrinsicError
from sandlot.services.cloudformation.schema import STACKS
from sandlot.services.cloudformation.template import TemplateError

if TYPE_CHECKING:
    from sandlot.platform import Platform

log = logging.getLogger("sandlot.cloudformation")
INTERRUPTED = "The stack operation was interrupted by a restart of sandlot. "


def _failed_list(logical_ids: list[str]) -> str:
    return ", ".join(sorted(logical_ids))


def _active(run: StackRun, template: dict, chosen: dict) -> set[str]:
    try:
        scope = run.scope(template, chosen, run.rows())
        return set(active_resources(template, scope.conditions))
    except (TemplateError, IntrinsicError):
        return set(template.get("Resources", {}))


async def create(platform: Platform, stack_id: str, *, resumed: bool = False) -> None:
    run = StackRun(platform, platform.store.get(STACKS, stack_id))
    template = json.loads(run.stack["processed"])
    chosen = json.loads(run.stack["parameters"])
    if resumed and not resumable(run):
        reason = INTERRUPTED
    else:
        try:
            await run.deploy(template, chosen)
            run.set_status(
                "CREATE_COMPLETE",
                None,
                outputs=json.dumps(engines.outputs(platform, run.stack, template, chosen)),
            )
            return
        except Failed as e:
            reason = (
                f"The following resource(s) failed to create: [{_failed_list(e.logical_ids)}]. "
            )
        except (TemplateError, IntrinsicError) as e:
            reason = str(e)
    if run.stack["disable_rollback"]:
        run.set_status("CREATE_FAILED", reason)
        return
    run.set_status(
        "ROLLBACK_IN_PROGRESS",
        reason + ("" if reason.endswith("user.") else "Rollback requested by user."),
    )
    await rollback_create(run)


def resumable(run: StackRun) -> bool:
    """True when every resource a restart caught in progress is of a type that resumes
    (a custom resource or wait condition waiting for its answer): the operation then
    goes on where it was, instead of rolling back."""
    waiting = [r for r in run.rows().values() if r["status"].endswith("_IN_PROGRESS")]
    for row in waiting:
        handler = resource_type(row["type"])
        if handler is None or not handler.resumable:
            return False
    return bool(waiting)


async def rollback_create(run: StackRun) -> None:
    rows = run.rows()
    for row in rows.values():  # what was running when the create stopped
        if row["status"] == "CREATE_IN_PROGRESS":
            run.event(
                row["logical_id"],
                row["physical_id"],
                row["type"],
                "CREATE_FAILED",
                "Resource creation cancelled",
            )
    template = json.loads(run.stack["processed"])
    failed = await run.remove(list(rows.values()), template)
    if failed:
        run.set_status(
            "ROLLBACK_FAILED",
            f"The following resource(s) failed to delete: [{_failed_list(failed)}]. ",
        )
    else:
        run.set_status("ROLLBACK_COMPLETE")


async def update(platform: Platform, stack_id: str, *, resumed: bool = False) -> None:
    run = StackRun(platform, platform.store.get(STACKS, stack_id))
    template = json.loads(run.stack["processed"])
    chosen = json.loads(run.stack["parameters"])
    if resumed and not resumable(run):
        reason = INTERRUPTED
    else:
        try:
            await run.deploy(template, chosen)
            run.set_status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
            await finish_update(run)
            return
        except Failed as e:
            reason = _update_failure(run, e.logical_ids)
        except (TemplateError, IntrinsicError) as e:
            reason = str(e)
    run.set_status("UPDATE_ROLLBACK_IN_PROGRESS", reason)
    await rollback_update(run)


def _update_failure(run: StackRun, logical_ids: list[str]) -> str:
    """AWS's reason: resources that failed to be created, then those that failed to update."""
    rows = run.rows()
    created = [n for n in logical_ids if n in rows and rows[n]["status"] == "CREATE_FAILED"]
    updated = [n for n in logical_ids if n not in created]
    reason = ""
    if created:
        reason += f"The following resource(s) failed to create: [{_failed_list(created)}]. "
    if updated:
        reason += f"The following resource(s) failed to update: [{_failed_list(updated)}]. "
    return reason


async def finish_update(run: StackRun) -> None:
    template = json.loads(run.stack["processed"])
    chosen = json.loads(run.stack["parameters"])
    await run.cleanup(_active(run, template, chosen))
    outputs = engines.outputs(run.platform, run.stack, template, chosen)
    run.set_status("UPDATE_COMPLETE", None, outputs=json.dumps(outputs), previous=None)


async def rollback_update(run: StackRun) -> None:
    """Back to the previous template and parameters; then what the failed update
    made is deleted (UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS)."""
    previous = json.loads(run.stack["previous"])
    template = json.loads(previous["processed"])
    chosen = previous["parameters"]
    try:
        await run.deploy(template, chosen, rollback=True)
    except (Failed, TemplateError, IntrinsicError) as e:
        names = _failed_list(e.logical_ids) if isinstance(e, Failed) else str(e)
        run.set_status(
            "UPDATE_ROLLBACK_FAILED", f"The following resource(s) failed to update: [{names}]. "
        )
        return
    run.set_status(
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None,
        template=previous["template"], processed=previous["processed"],
        parameters=json.dumps(chosen), previous=None,
    )  # fmt: skip
    await finish_rollback(run)


async def finish_rollback(run: StackRun) -> None:
    template = json.loads(run.stack["processed"])
    chosen = json.loads(run.stack["parameters"])
    await run.cleanup(_active(run, template, chosen))
    run.set_status("UPDATE_ROLLBACK_COMPLETE")


async def delete(platform: Platform, stack_id: str, retain: list[str] | None = None) -> None:
    run = StackRun(platform, platform.store.get(STACKS, stack_id))
    rows = run.rows()
    for name in retain or []:
        if name in rows:
            rows[name] = {**rows[name], "policy": "Retain"}
    template = json.loads(run.stack["processed"]) if run.stack["processed"] else None
    failed = await run.remove(list(rows.values()), template)
    if failed:
        run.set_status(
            "DELETE_FAILED",
            f"The following resource(s) failed to delete: [{_failed_list(failed)}]. ",
        )
    else:
        run.set_status("DELETE_COMPLETE", None, deleted=time.time())


async def recover(platform: Platform) -> None:
    """At start-up: every operation a crash left IN_PROGRESS is rolled back (creates,
    updates) or finished (deletes, rollbacks, cleanups)."""
    for stack in platform.store.select(STACKS):
        status = stack["status"]
        if not status.endswith("_IN_PROGRESS") or status == "REVIEW_IN_PROGRESS":
            continue
        log.warning("stack %s was %s at start-up: recovering", stack["name"], status)
        await guarded(platform, stack["stack_id"], _recover_one(platform, stack))


async def _recover_one(platform: Platform, stack: dict) -> None:
    status, stack_id = stack["status"], stack["stack_id"]
    run = StackRun(platform, stack)
    if status == "CREATE_IN_PROGRESS":
        await create(platform, stack_id, resumed=True)
    elif status == "ROLLBACK_IN_PROGRESS":
        await rollback_create(run)
    elif status == "DELETE_IN_PROGRESS":
        await delete(platform, stack_id)
    elif status == "UPDATE_IN_PROGRESS":
        await update(platform, stack_id, resumed=True)
    elif status == "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS":
        await finish_update(run)
    elif status == "UPDATE_ROLLBACK_IN_PROGRESS":
        await rollback_update(run)
    elif status == "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS":
        await finish_rollback(run)


# Where an operation that ends unexpectedly leaves the stack (never IN_PROGRESS).
_FAILED = {
    "CREATE_IN_PROGRESS": "CREATE_FAILED",
    "ROLLBACK_IN_PROGRESS": "ROLLBACK_FAILED",
    "DELETE_IN_PROGRESS": "DELETE_FAILED",
    "UPDATE_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_ROLLBACK_COMPLETE",
}


async def guarded(platform: Platform, stack_id: str, work) -> None:
    """Run a stack operation; if it ends by an unexpected error (a bug), the stack goes
    to the matching terminal state with AWS's "Internal Failure" instead of staying
    IN_PROGRESS until the next restart."""
    try:
        await work
    except Exception:
        log.exception("stack operation on %s failed", stack_id)
        stack = platform.store.get(STACKS, stack_id)
        if stack is not None and stack["status"] in _FAILED:
            StackRun(platform, stack).set_status(_FAILED[stack["status"]], engines.INTERNAL_FAILURE)
