"""Stack operations: CreateStack, UpdateStack, DeleteStack, termination protection,
and the reads (DescribeStacks, ListStacks, events, resources, templates, exports)."""

from __future__ import annotations

import json
import time

from sandlot.protocol import ServiceError
from sandlot.services.cloudformation import changes as change_sets
from sandlot.services.cloudformation import operations, parameters
from sandlot.services.cloudformation.base import (
    CloudFormationBase,
    loads,
    timestamp,
    validation,
)
from sandlot.services.cloudformation.engine import StackRun
from sandlot.services.cloudformation.schema import EVENTS, RESOURCES, STACKS
from sandlot.services.cloudformation.template import TemplateError, parse
from sandlot.services.provider import RequestContext

# Statuses from which an update may start (AWS: a stack in any other state refuses).
UPDATABLE = frozenset(
    {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE",
     "IMPORT_ROLLBACK_COMPLETE"}
)  # fmt: skip


class StackOperations(CloudFormationBase):
    async def create_stack(self, ctx: RequestContext, params: dict) -> dict:
        existing = self.find_stack(ctx, params["StackName"])
        if existing is not None:
            raise ServiceError(
                "AlreadyExistsException", f"Stack [{params['StackName']}] already exists"
            )
        prepared = await self.prepare(ctx, params, None)
        stack = self.new_stack(ctx, params, "CREATE_IN_PROGRESS")
        if params.get("OnFailure") in ("DO_NOTHING",):
            stack["disable_rollback"] = 1
        self.begin(stack, prepared, "CREATE_IN_PROGRESS")
        self.launch(operations.create(self.platform, stack["stack_id"]), stack["stack_id"])
        return {"StackId": stack["stack_id"]}

    def begin(self, stack: dict, prepared, status: str, **fields) -> None:
        """Store the stack with its new template and status (one transaction with the
        "User Initiated" event), before any resource is touched."""
        stack.update(
            template=prepared.body, processed=json.dumps(prepared.processed),
            parameters=json.dumps(prepared.chosen), description=prepared.processed.get("Description"),
            status=status, reason="User Initiated", **fields,
        )  # fmt: skip
        with self.platform.store.transaction():
            self.platform.store.put(STACKS, stack)
            StackRun(self.platform, stack).set_status(status, "User Initiated")

    async def update_stack(self, ctx: RequestContext, params: dict) -> dict:
        stack = self.stack(ctx, params["StackName"])
        self.check_updatable(stack)
        prepared = await self.prepare(ctx, params, stack)
        rows = StackRun(self.platform, stack).rows()
        changes = change_sets.compute(
            self.platform, stack, prepared.processed, prepared.chosen, rows
        )
        tags = params.get("Tags")
        if not changes and self.same(stack, prepared, tags):
            raise validation("No updates are to be performed.")
        self.start_update(stack, prepared, params)
        return {"StackId": stack["stack_id"]}

    def same(self, stack: dict, prepared, tags) -> bool:
        return (
            loads(stack["processed"]) == prepared.processed
            and loads(stack["parameters"], {}) == prepared.chosen
            and (tags is None or loads(stack["tags"], []) == tags)
        )

    def check_updatable(self, stack: dict) -> None:
        if stack["status"] not in UPDATABLE:
            raise validation(
                f"Stack:{stack['stack_id']} is in {stack['status']} state and can not be updated."
            )

    def start_update(self, stack: dict, prepared, params: dict) -> None:
        previous = {
            "template": stack["template"],
            "processed": stack["processed"],
            "parameters": loads(stack["parameters"], {}),
        }
        fields = {"previous": json.dumps(previous), "updated": time.time()}
        if params.get("Tags") is not None:
            fields["tags"] = json.dumps(params["Tags"])
        if params.get("Capabilities") is not None:
            fields["capabilities"] = json.dumps(params["Capabilities"])
        if params.get("RoleARN"):
            fields["role_arn"] = params["RoleARN"]
        self.begin(stack, prepared, "UPDATE_IN_PROGRESS", **fields)
        self.launch(operations.update(self.platform, stack["stack_id"]), stack["stack_id"])

    async def delete_stack(self, ctx: RequestContext, params: dict) -> dict:
        stack = self.find_stack(ctx, params["StackName"])
        if stack is None or stack["deleted"]:
            return {}  # AWS: deleting a stack that does not exist succeeds
        if stack["termination_protection"]:
            raise validation(
                f"Stack [{stack['name']}] cannot be deleted while TerminationProtection is enabled"
            )
        if stack["status"] == "DELETE_IN_PROGRESS":
            return {}
        if stack["status"].endswith("_IN_PROGRESS") and stack["status"] != "REVIEW_IN_PROGRESS":
            raise validation(
                f"Stack [{stack['name']}] cannot be deleted while in status {stack['status']}"
            )
        for output in loads(stack["outputs"], []):
            name = output.get("ExportName")
            users = [s["name"] for s in self._live(ctx) if s["stack_id"] != stack["stack_id"]
                     and _imports(loads(s["processed"]), name)] if name else []  # fmt: skip
            if users:
                raise validation(f"Export {name} cannot be deleted as it is in use by {users[0]}")
        retain = params.get("RetainResources") or []
        if retain and stack["status"] != "DELETE_FAILED":
            raise validation(
                "Invalid operation on stack: RetainResources can only be specified when the stack is in the DELETE_FAILED state"
            )
        StackRun(self.platform, stack).set_status("DELETE_IN_PROGRESS", "User Initiated")
        self.launch(operations.delete(self.platform, stack["stack_id"], retain), stack["stack_id"])
        return {}

    def _live(self, ctx: RequestContext) -> list[dict]:
        rows = self.platform.store.select(
            STACKS, {"account_id": ctx.account_id, "region": ctx.region}
        )
        return [s for s in rows if not s["deleted"] and s["processed"]]

    def update_termination_protection(self, ctx: RequestContext, params: dict) -> dict:
        stack = self.stack(ctx, params["StackName"])
        stack["termination_protection"] = int(bool(params["EnableTerminationProtection"]))
        self.platform.store.put(STACKS, stack)
        return {"StackId": stack["stack_id"]}

    # ---- reads ------------------------------------------------------------------------
    def describe_stacks(self, ctx: RequestContext, params: dict) -> dict:
        name = params.get("StackName")
        if name:
            stack = self.find_stack(ctx, name, deleted=True)
            if stack is None:
                raise validation(f"Stack with id {name} does not exist")
            return {"Stacks": [self.render(stack)]}
        rows = self.platform.store.select(
            STACKS, {"account_id": ctx.account_id, "region": ctx.region}
        )
        return {
            "Stacks": [
                self.render(s)
                for s in sorted(rows, key=lambda r: -r["created"])
                if not s["deleted"]
            ]
        }

    def render(self, stack: dict) -> dict:
        processed = loads(stack["processed"], {}) or {}
        out = {
            "StackId": stack["stack_id"],
            "StackName": stack["name"],
            "Parameters": parameters.shown(
                processed.get("Parameters") or {}, loads(stack["parameters"], {})
            ),
            "CreationTime": timestamp(stack["created"]),
            "StackStatus": stack["status"],
            "DisableRollback": bool(stack["disable_rollback"]),
            "NotificationARNs": [],
            "Capabilities": loads(stack["capabilities"], []),
            "Outputs": loads(stack["outputs"], []),
            "Tags": loads(stack["tags"], []),
            "EnableTerminationProtection": bool(stack["termination_protection"]),
            "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
        }
        if stack["reason"]:
            out["StackStatusReason"] = stack["reason"]
        if stack["description"]:
            out["Description"] = stack["description"]
        if stack["updated"]:
            out["LastUpdatedTime"] = timestamp(stack["updated"])
        if stack["deleted"]:
            out["DeletionTime"] = timestamp(stack["deleted"])
        if stack["role_arn"]:
            out["RoleARN"] = stack["role_arn"]
        if not out["Outputs"]:
            del out["Outputs"]
        return out

    def list_stacks(self, ctx: RequestContext, params: dict) -> dict:
        wanted = set(params.get("StackStatusFilter") or [])
        rows = self.platform.store.select(
            STACKS, {"account_id": ctx.account_id, "region": ctx.region}
        )
        summaries = []
        for stack in sorted(rows, key=lambda r: -r["created"]):
            if wanted and stack["status"] not in wanted:
                continue
            summary = {
                "StackId": stack["stack_id"], "StackName": stack["name"],
                "CreationTime": timestamp(stack["created"]), "StackStatus": stack["status"],
                "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
            }  # fmt: skip
            if stack["description"]:
                summary["TemplateDescription"] = stack["description"]
            if stack["reason"]:
                summary["StackStatusReason"] = stack["reason"]
            if stack["updated"]:
                summary["LastUpdatedTime"] = timestamp(stack["updated"])
            if stack["deleted"]:
                summary["DeletionTime"] = timestamp(stack["deleted"])
            summaries.append(summary)
        return {"StackSummaries": summaries}

    def describe_stack_events(self, ctx: RequestContext, params: dict) -> dict:
        stack = self.find_stack(ctx, params["StackName"], deleted=True)
        if stack is None:
            raise validation(f"Stack [{params['StackName']}] does not exist")
        events = self.platform.store.select(
            EVENTS, {"stack_id": stack["stack_id"]}, order_by=("seq",), descending=True
        )
        out = []
        for event in events:
            item = {
                "StackId": stack["stack_id"], "EventId": event["event_id"], "StackName": stack["name"],
                "LogicalResourceId": event["logical_id"], "PhysicalResourceId": event["physical_id"],
                "ResourceType": event["type"], "Timestamp": timestamp(event["timestamp"]),
                "ResourceStatus": event["status"],
            }  # fmt: skip
            if event["reason"]:
                item["ResourceStatusReason"] = event["reason"]
            if event["properties"]:
                item["ResourceProperties"] = event["properties"]
            out.append(item)
        return {"StackEvents": out}

    def _resources(self, stack: dict) -> list[dict]:
        return [
            r for r in self.platform.store.select(RESOURCES, {"stack_id": stack["stack_id"]})
            if r["status"] != "DELETE_COMPLETE"
        ]  # fmt: skip

    def _resource(self, stack: dict, row: dict, *, detail: bool = False) -> dict:
        out = {
            "StackName": stack["name"], "StackId": stack["stack_id"],
            "LogicalResourceId": row["logical_id"], "ResourceType": row["type"],
            "ResourceStatus": row["status"], "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"},
        }  # fmt: skip
        out["LastUpdatedTimestamp" if detail else "Timestamp"] = timestamp(row["updated"])
        if row["physical_id"]:
            out["PhysicalResourceId"] = row["physical_id"]
        if row["reason"]:
            out["ResourceStatusReason"] = row["reason"]
        if detail:
            out["Metadata"] = "{}"
        return out

    def describe_stack_resource(self, ctx: RequestContext, params: dict) -> dict:
        stack = self.stack(ctx, params["StackName"])
        for row in self._resources(stack):
            if row["logical_id"] == params["LogicalResourceId"]:
                return {"StackResourceDetail": self._resource(stack, row, detail=True)}
        raise validation(
            f"Resource {params['LogicalResourceId']} does not exist for stack {stack['name']}"
        )

    def describe_stack_resources(self, ctx: RequestContext, params: dict) -> dict:
        if not params.get("StackName"):
            raise validation("Either StackName or PhysicalResourceId must be specified.")
        stack = self.stack(ctx, params["StackName"])
        rows = self._resources(stack)
        if params.get("LogicalResourceId"):
            rows = [r for r in rows if r["logical_id"] == params["LogicalResourceId"]]
        if params.get("PhysicalResourceId"):
            rows = [r for r in rows if r["physical_id"] == params["PhysicalResourceId"]]
        return {"StackResources": [self._resource(stack, r) for r in rows]}

    def list_stack_resources(self, ctx: RequestContext, params: dict) -> dict:
        stack = self.stack(ctx, params["StackName"])
        summaries = []
        for row in self._resources(stack):
            item = self._resource(stack, row)
            item["LastUpdatedTimestamp"] = item.pop("Timestamp")
            for key in ("StackName", "StackId"):
                item.pop(key)
            item["DriftInformation"] = {"StackResourceDriftStatus": "NOT_CHECKED"}
            summaries.append(item)
        return {"StackResourceSummaries": summaries}

    def get_template(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("ChangeSetName"):
            change_set = self.change_set(ctx, params["ChangeSetName"], params.get("StackName"))
            body, processed = change_set["template"], None
        else:
            stack = self.stack(ctx, params["StackName"])
            body, processed = stack["template"], stack["processed"]
        stage = params.get("TemplateStage", "Original")
        if stage == "Processed" and processed:
            return {"TemplateBody": processed, "StagesAvailable": ["Original", "Processed"]}
        return {"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]}

    async def get_template_summary(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("StackName"):
            stack = self.stack(ctx, params["StackName"])
            body = stack["template"]
        else:
            body = await self.template_body(ctx, params)
        try:
            template = parse(body)
        except TemplateError as e:
            raise validation(str(e)) from e
        processed = await self.process(template, ctx)
        self.check_template(processed)
        out = self.summary(template, processed)
        out["ResourceTypes"] = sorted({r["Type"] for r in processed["Resources"].values()})
        out["Version"] = str(template.get("AWSTemplateFormatVersion", "2010-09-09"))
        out["ResourceIdentifierSummaries"] = []
        if "Metadata" in template:
            out["Metadata"] = json.dumps(template["Metadata"])
        return out

    def summary(self, template: dict, processed: dict) -> dict:
        declared = template.get("Transform")
        out: dict = {
            "Parameters": [
                {
                    "ParameterKey": k,
                    **({"DefaultValue": str(p["Default"])} if "Default" in p else {}),
                    "NoEcho": str(p.get("NoEcho", "false")).lower() == "true",
                    **({"Description": p["Description"]} if "Description" in p else {}),
                    "ParameterType": p["Type"],
                    "ParameterConstraints": {"AllowedValues": [str(v) for v in p["AllowedValues"]]}
                    if "AllowedValues" in p
                    else {},
                }
                for k, p in (processed.get("Parameters") or {}).items()
            ],
        }
        if template.get("Description"):
            out["Description"] = template["Description"]
        if declared:
            out["DeclaredTransforms"] = [declared] if isinstance(declared, str) else declared
        try:
            self.check_capabilities(processed, [])
        except ServiceError as e:
            needed = e.message.split("[", 1)[1].rstrip("]")
            out["Capabilities"] = [needed]
            out["CapabilitiesReason"] = (
                "The following resource(s) require capabilities: ["
                + ", ".join(
                    sorted(
                        {
                            r["Type"]
                            for r in processed["Resources"].values()
                            if r["Type"].startswith("AWS::IAM::")
                        }
                    )
                )
                + "]"
            )
        return out

    async def validate_template(self, ctx: RequestContext, params: dict) -> dict:
        body = await self.template_body(ctx, params)
        try:
            template = parse(body)
        except TemplateError as e:
            raise validation(str(e)) from e
        processed = await self.process(template, ctx)
        self.check_template(processed)
        out = self.summary(template, processed)
        for parameter in out["Parameters"]:
            parameter.pop("ParameterType", None)
            parameter.pop("ParameterConstraints", None)
        return out

    def list_exports(self, ctx: RequestContext, params: dict) -> dict:
        exports = []
        for stack in self.platform.store.select(
            STACKS, {"account_id": ctx.account_id, "region": ctx.region}
        ):
            if stack["deleted"]:
                continue
            for output in loads(stack["outputs"], []):
                if "ExportName" in output:
                    exports.append(
                        {
                            "ExportingStackId": stack["stack_id"],
                            "Name": output["ExportName"],
                            "Value": output["OutputValue"],
                        }
                    )
        return {"Exports": exports}

    def list_imports(self, ctx: RequestContext, params: dict) -> dict:
        name = params["ExportName"]
        if not any(e["Name"] == name for e in self.list_exports(ctx, {})["Exports"]):
            raise validation(f"Export '{name}' does not exist.")
        importers = []
        for stack in self.platform.store.select(
            STACKS, {"account_id": ctx.account_id, "region": ctx.region}
        ):
            if (
                not stack["deleted"]
                and stack["processed"]
                and _imports(loads(stack["processed"]), name)
            ):
                importers.append(stack["name"])
        if not importers:
            raise validation(f"Export '{name}' is not imported by any stack.")
        return {"Imports": importers}


def _imports(value, name: str) -> bool:
    if isinstance(value, dict):
        if value.get("Fn::ImportValue") == name:
            return True
        return any(_imports(v, name) for v in value.values())
    if isinstance(value, list):
        return any(_imports(v, name) for v in value)
    return False
