"""CloudFormation resource types of EventBridge Scheduler: ``AWS::Scheduler::Schedule``
(Ref: the name; Arn) and ``AWS::Scheduler::ScheduleGroup`` (Ref: the name; Arn)."""

from __future__ import annotations

from sandlot.services.cloudformation.handlers import Outcome, ResourceContext, ResourceType

_SCHEDULE = (
    "Description", "EndDate", "FlexibleTimeWindow", "GroupName", "KmsKeyArn",
    "ScheduleExpression", "ScheduleExpressionTimezone", "StartDate", "State", "Target",
)  # fmt: skip


class Schedule(ResourceType):
    type_name = "AWS::Scheduler::Schedule"
    name_property = "Name"
    name_length = 64

    async def _put(self, ctx: ResourceContext, operation: str, name: str, properties: dict):
        params = {"Name": name, **{k: properties[k] for k in _SCHEDULE if k in properties}}
        arn = (await ctx.call("scheduler", operation, params))["ScheduleArn"]
        return Outcome(name, name, {"Arn": arn})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        return await self._put(ctx, "CreateSchedule", name, properties)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return await self._put(ctx, "UpdateSchedule", current.physical_id, properties)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        params = {"Name": physical_id}
        if properties.get("GroupName"):
            params["GroupName"] = properties["GroupName"]
        await ctx.call("scheduler", "DeleteSchedule", params)


class ScheduleGroup(ResourceType):
    type_name = "AWS::Scheduler::ScheduleGroup"
    name_property = "Name"
    name_length = 64

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"Name": name, "Tags": ctx.tags(properties)}
        arn = (await ctx.call("scheduler", "CreateScheduleGroup", params))["ScheduleGroupArn"]
        got = await ctx.call("scheduler", "GetScheduleGroup", {"Name": name})
        return Outcome(name, name, {"Arn": arn, "State": got["State"],
                                    "CreationDate": got.get("CreationDate"),
                                    "LastModificationDate": got.get("LastModificationDate")})  # fmt: skip

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return current  # only Tags can change; the stack's tags are applied at create

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("scheduler", "DeleteScheduleGroup", {"Name": physical_id})
