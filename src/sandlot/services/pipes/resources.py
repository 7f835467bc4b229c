"""CloudFormation resource type of EventBridge Pipes: ``AWS::Pipes::Pipe`` (Ref: the
name; Arn, CurrentState, StateReason, CreationTime, LastModifiedTime). As AWS's handler
does, create, update and delete wait until the pipe has left its transitional state."""

from __future__ import annotations

import asyncio
import time

from sandlot.protocol import ServiceError
from sandlot.services.cloudformation.handlers import Outcome, ResourceContext, ResourceType

_PROPERTIES = (
    "Description", "DesiredState", "Source", "SourceParameters", "Enrichment",
    "EnrichmentParameters", "Target", "TargetParameters", "RoleArn", "LogConfiguration",
    "KmsKeyIdentifier",
)  # fmt: skip
_SETTLED = frozenset({"RUNNING", "STOPPED"})
_WAIT_S = 60.0


class Pipe(ResourceType):
    type_name = "AWS::Pipes::Pipe"
    name_property = "Name"
    name_length = 64

    async def _settled(self, ctx: ResourceContext, name: str) -> Outcome:
        deadline = time.monotonic() + _WAIT_S
        while True:
            got = await ctx.call("pipes", "DescribePipe", {"Name": name})
            state = got["CurrentState"]
            if state in _SETTLED:
                attributes = {k: got.get(k) for k in ("Arn", "CurrentState", "StateReason",
                                                      "CreationTime", "LastModifiedTime")}  # fmt: skip
                return Outcome(name, name, attributes)
            if state.endswith("FAILED") or time.monotonic() > deadline:
                raise ServiceError(
                    "InternalFailure", f"Pipe {name} is {state}: {got.get('StateReason', '')}"
                )
            await asyncio.sleep(0.05)

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"Name": name, **{k: properties[k] for k in _PROPERTIES if k in properties}}
        tags = {t["Key"]: t["Value"] for t in ctx.tags(properties)}
        if tags:
            params["Tags"] = tags
        await ctx.call("pipes", "CreatePipe", params)
        return await self._settled(ctx, name)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        # Name and Source are create-only (a change replaces the pipe: the engine's part).
        params = {"Name": current.physical_id,
                  **{k: properties[k] for k in _PROPERTIES if k in properties and k != "Source"}}  # fmt: skip
        await ctx.call("pipes", "UpdatePipe", params)
        return await self._settled(ctx, current.physical_id)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("pipes", "DeletePipe", {"Name": physical_id})
        deadline = time.monotonic() + _WAIT_S
        while time.monotonic() < deadline:
            try:
                await ctx.call("pipes", "DescribePipe", {"Name": physical_id})
            except ServiceError as error:
                if error.code == "NotFoundException":
                    return
                raise
            await asyncio.sleep(0.05)
