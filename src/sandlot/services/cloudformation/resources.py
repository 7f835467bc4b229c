"""CloudFormation's own resource types: ``AWS::CloudFormation::Stack`` (a nested stack
from a ``TemplateURL``, made through this service's API as the parent's principal;
Ref: its stack id; GetAtt ``Outputs.<Key>``)."""

from __future__ import annotations

import asyncio
import time
import uuid

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    not_found,
)

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
TIMEOUT_S = 3600.0


class NestedStack(ResourceType):
    type_name = "AWS::CloudFormation::Stack"
    name_length = 128

    def planned_name(self, ctx: ResourceContext, properties: dict) -> str | None:
        return ctx.generated_name(self.name_length)

    def _request(self, properties: dict) -> dict:
        request = {
            "TemplateURL": properties["TemplateURL"],
            "Parameters": [
                {"ParameterKey": k, "ParameterValue": str(v)}
                for k, v in (properties.get("Parameters") or {}).items()
            ],  # fmt: skip
            "Capabilities": CAPABILITIES,
        }
        if properties.get("Tags"):
            request["Tags"] = properties["Tags"]
        return request

    async def _settle(self, ctx: ResourceContext, stack_id: str, wanted: str, verb: str) -> Outcome:
        """Wait for the nested stack's operation to end; its failure is the resource's."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            stack = (await ctx.call("cloudformation", "DescribeStacks", {"StackName": stack_id}))[
                "Stacks"
            ][0]
            status = stack["StackStatus"]
            if not status.endswith("_IN_PROGRESS"):
                break
            if time.monotonic() > deadline:
                raise ResourceFailed(f"Embedded stack {stack_id} timed out")
            await asyncio.sleep(0.05)
        if status != wanted:
            reason = stack.get("StackStatusReason") or status
            raise ResourceFailed(f"Embedded stack {stack_id} was not successfully {verb}: {reason}")
        outputs = {f"Outputs.{o['OutputKey']}": o["OutputValue"] for o in stack.get("Outputs", [])}
        return Outcome(stack_id, stack_id, {"StackId": stack_id, **outputs})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        created = await ctx.call(
            "cloudformation", "CreateStack", {"StackName": name, **self._request(properties)}
        )
        return await self._settle(ctx, created["StackId"], "CREATE_COMPLETE", "created")

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        try:
            await ctx.call(
                "cloudformation",
                "UpdateStack",
                {"StackName": current.physical_id, **self._request(properties)},
            )
        except ResourceFailed as e:
            if "No updates are to be performed." not in str(e):
                raise
        return await self._settle(ctx, current.physical_id, "UPDATE_COMPLETE", "updated")

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        if not physical_id.startswith("arn:"):  # only the planned name: find the stack, if made
            try:
                found = await ctx.call(
                    "cloudformation", "DescribeStacks", {"StackName": physical_id}
                )
            except ResourceFailed as e:
                if "does not exist" in str(e) or not_found(e):
                    return
                raise
            physical_id = found["Stacks"][0]["StackId"]
        await ctx.call("cloudformation", "DeleteStack", {"StackName": physical_id})
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            stack = (
                await ctx.call("cloudformation", "DescribeStacks", {"StackName": physical_id})
            )["Stacks"][0]
            if stack["StackStatus"] == "DELETE_COMPLETE":
                return
            if stack["StackStatus"] == "DELETE_FAILED":
                raise ResourceFailed(
                    f"Embedded stack {physical_id} was not successfully deleted: {stack.get('StackStatusReason')}"
                )
            await asyncio.sleep(0.05)
        raise ResourceFailed(f"Embedded stack {physical_id} timed out")


class CdkMetadata(ResourceType):
    """``AWS::CDK::Metadata``: the CDK's usage report (its ``Analytics`` property, the
    construct libraries a stack uses). On AWS it makes nothing an account can see or
    call — the report goes to AWS — so here too it holds only an id, and ``cdk deploy``
    templates (which add it by default) deploy unchanged."""

    type_name = "AWS::CDK::Metadata"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        physical = str(uuid.uuid4())
        return Outcome(physical, physical)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        return None
