"""Change sets: CreateChangeSet (CREATE for a new stack, which waits in
REVIEW_IN_PROGRESS, or UPDATE), DescribeChangeSet with the computed Changes,
ExecuteChangeSet, DeleteChangeSet, ListChangeSets."""

from __future__ import annotations

import json
import time
import uuid

from sandlot.protocol import ServiceError
from sandlot.services.cloudformation import changes as change_sets
from sandlot.services.cloudformation import operations, parameters
from sandlot.services.cloudformation.base import Prepared, loads, timestamp, validation
from sandlot.services.cloudformation.engine import StackRun
from sandlot.services.cloudformation.schema import CHANGE_SETS, STACKS
from sandlot.services.cloudformation.stacks import StackOperations
from sandlot.services.provider import RequestContext

NO_CHANGES = (
    "The submitted information didn't contain changes. Submit different information to "
    "create a change set."
)


class ChangeSetOperations(StackOperations):
    def change_set(self, ctx: RequestContext, name: str, stack_name: str | None) -> dict:
        if name.startswith("arn:"):
            row = self.platform.store.get(CHANGE_SETS, name)
        else:
            if not stack_name:
                raise validation(
                    "StackName must be specified if ChangeSetName is not specified as an ARN."
                )
            stack = self.find_stack(ctx, stack_name)
            rows = (
                self.platform.store.select(CHANGE_SETS, {"stack_id": stack["stack_id"]})
                if stack
                else []
            )
            row = next((r for r in rows if r["name"] == name), None)
        if row is None:
            raise ServiceError(
                "ChangeSetNotFound", f"ChangeSet [{name}] does not exist", status=404
            )
        return row

    async def create_change_set(self, ctx: RequestContext, params: dict) -> dict:
        kind = params.get("ChangeSetType", "UPDATE")
        name = params["StackName"]
        stack = self.find_stack(ctx, name)
        if kind == "CREATE":
            if stack is not None and stack["status"] != "REVIEW_IN_PROGRESS":
                raise validation(
                    f"Stack [{name}] already exists and cannot be created again with the changeSet [{params['ChangeSetName']}]."
                )
        elif kind == "UPDATE":
            if stack is None:
                raise validation(f"Stack [{name}] does not exist")
            if stack["status"] == "REVIEW_IN_PROGRESS":
                raise validation(f"Stack [{name}] does not exist")
            self.check_updatable(stack)
        else:
            raise validation(f"ChangeSetType {kind} is not supported by sandlot")
        prepared = await self.prepare(ctx, params, stack if kind == "UPDATE" else None)
        if stack is None:
            stack = self.new_stack(ctx, params, "REVIEW_IN_PROGRESS")
            with self.platform.store.transaction():
                self.platform.store.put(STACKS, stack)
                StackRun(self.platform, stack).set_status("REVIEW_IN_PROGRESS", "User Initiated")
        for existing in self.platform.store.select(CHANGE_SETS, {"stack_id": stack["stack_id"]}):
            if existing["name"] == params["ChangeSetName"]:
                raise ServiceError(
                    "AlreadyExistsException", f"ChangeSet {params['ChangeSetName']} already exists"
                )
        rows = StackRun(self.platform, stack).rows() if kind == "UPDATE" else {}
        changes = change_sets.compute(
            self.platform, stack, prepared.processed, prepared.chosen, rows
        )
        status, execution, reason = "CREATE_COMPLETE", "AVAILABLE", None
        if kind == "UPDATE" and not changes and self.same(stack, prepared, params.get("Tags")):
            status, execution, reason = "FAILED", "UNAVAILABLE", NO_CHANGES
        change_set_id = (
            f"arn:aws:cloudformation:{ctx.region}:{ctx.account_id}:changeSet/"
            f"{params['ChangeSetName']}/{uuid.uuid4()}"
        )
        self.platform.store.put(
            CHANGE_SETS,
            {
                "change_set_id": change_set_id, "stack_id": stack["stack_id"],
                "name": params["ChangeSetName"], "type": kind, "status": status,
                "execution_status": execution, "reason": reason, "template": prepared.body,
                "parameters": json.dumps({"processed": prepared.processed, "chosen": prepared.chosen}),
                "capabilities": json.dumps(params.get("Capabilities") or []),
                "tags": json.dumps(params["Tags"]) if params.get("Tags") is not None else None,
                "role_arn": params.get("RoleARN"), "changes": json.dumps(changes),
                "description": params.get("Description"), "created": time.time(),
            },
        )  # fmt: skip
        return {"Id": change_set_id, "StackId": stack["stack_id"]}

    def describe_change_set(self, ctx: RequestContext, params: dict) -> dict:
        row = self.change_set(ctx, params["ChangeSetName"], params.get("StackName"))
        stack = self.platform.store.get(STACKS, row["stack_id"])
        data = loads(row["parameters"])
        processed = data["processed"]
        out = {
            "ChangeSetName": row["name"], "ChangeSetId": row["change_set_id"],
            "StackId": stack["stack_id"], "StackName": stack["name"],
            "Parameters": parameters.shown(processed.get("Parameters") or {}, data["chosen"]),
            "CreationTime": timestamp(row["created"]), "ExecutionStatus": row["execution_status"],
            "Status": row["status"], "NotificationARNs": [],
            "Capabilities": loads(row["capabilities"], []), "Tags": loads(row["tags"], []) or [],
            "Changes": loads(row["changes"], []), "IncludeNestedStacks": False,
        }  # fmt: skip
        if row["reason"]:
            out["StatusReason"] = row["reason"]
        if row["description"]:
            out["Description"] = row["description"]
        return out

    def list_change_sets(self, ctx: RequestContext, params: dict) -> dict:
        stack = self.stack(ctx, params["StackName"])
        summaries = []
        for row in self.platform.store.select(CHANGE_SETS, {"stack_id": stack["stack_id"]}):
            summary = {
                "StackId": stack["stack_id"], "StackName": stack["name"],
                "ChangeSetId": row["change_set_id"], "ChangeSetName": row["name"],
                "ExecutionStatus": row["execution_status"], "Status": row["status"],
                "CreationTime": timestamp(row["created"]), "IncludeNestedStacks": False,
            }  # fmt: skip
            if row["reason"]:
                summary["StatusReason"] = row["reason"]
            if row["description"]:
                summary["Description"] = row["description"]
            summaries.append(summary)
        return {"Summaries": summaries}

    def delete_change_set(self, ctx: RequestContext, params: dict) -> dict:
        name, stack_name = params["ChangeSetName"], params.get("StackName")
        if not name.startswith("arn:") and stack_name and self.find_stack(ctx, stack_name):
            # AWS: deleting by name succeeds whenever the stack exists, even if no change
            # set has that name (the CDK CLI relies on it to clear a name before reuse).
            found = [r for r in self.platform.store.select(
                CHANGE_SETS, {"stack_id": self.find_stack(ctx, stack_name)["stack_id"]})
                if r["name"] == name]  # fmt: skip
            if not found:
                return {}
        row = self.change_set(ctx, name, stack_name)
        if row["execution_status"] == "EXECUTE_IN_PROGRESS":
            raise ServiceError(
                "InvalidChangeSetStatus",
                f"Cannot delete ChangeSet in status {row['execution_status']}",
            )
        self.platform.store.delete(CHANGE_SETS, row["change_set_id"])
        return {}

    def execute_change_set(self, ctx: RequestContext, params: dict) -> dict:
        row = self.change_set(ctx, params["ChangeSetName"], params.get("StackName"))
        if row["execution_status"] != "AVAILABLE":
            raise ServiceError(
                "InvalidChangeSetStatus",
                f"ChangeSet [{row['change_set_id']}] cannot be executed in its current status of [{row['status']}]",
            )
        stack = self.platform.store.get(STACKS, row["stack_id"])
        data = loads(row["parameters"])
        prepared = Prepared(row["template"], data["processed"], data["chosen"])
        request = {
            "Tags": loads(row["tags"]), "Capabilities": loads(row["capabilities"], []),
            "RoleARN": row["role_arn"],
        }  # fmt: skip
        if params.get("DisableRollback") is not None:
            stack["disable_rollback"] = int(bool(params["DisableRollback"]))
        if row["type"] == "CREATE":
            self.begin(stack, prepared, "CREATE_IN_PROGRESS")
            work = operations.create(self.platform, stack["stack_id"])
        else:
            self.check_updatable(stack)
            previous = {
                "template": stack["template"],
                "processed": stack["processed"],
                "parameters": loads(stack["parameters"], {}),
            }
            fields = {"previous": json.dumps(previous), "updated": time.time()}
            if request["Tags"] is not None:
                fields["tags"] = json.dumps(request["Tags"])
            self.begin(stack, prepared, "UPDATE_IN_PROGRESS", **fields)
            work = operations.update(self.platform, stack["stack_id"])
        # AWS removes the stack's other change sets once one executes.
        for other in self.platform.store.select(CHANGE_SETS, {"stack_id": stack["stack_id"]}):
            if other["change_set_id"] != row["change_set_id"]:
                self.platform.store.delete(CHANGE_SETS, other["change_set_id"])
        self.platform.store.put(CHANGE_SETS, {**row, "execution_status": "EXECUTE_IN_PROGRESS"})
        self.launch(self._execute(work, row["change_set_id"], stack["stack_id"]), stack["stack_id"])
        return {}

    async def _execute(self, work, change_set_id: str, stack_id: str) -> None:
        await work
        row = self.platform.store.get(CHANGE_SETS, change_set_id)
        stack = self.platform.store.get(STACKS, stack_id)
        if row is not None:
            ok = stack["status"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
            self.platform.store.put(
                CHANGE_SETS,
                {**row, "execution_status": "EXECUTE_COMPLETE" if ok else "EXECUTE_FAILED"},
            )
