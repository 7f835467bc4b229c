"""CloudFormation resource types of EventBridge: ``AWS::Events::EventBus`` (Ref: the
name), ``AWS::Events::Rule`` with its ``Targets`` (Ref and Arn: the rule's ARN, as the
registry's schema has it), ``AWS::Events::EventBusPolicy`` (one statement), and
``AWS::Events::Connection``, ``AWS::Events::ApiDestination``, ``AWS::Events::Archive``
(Ref: the name; Arn, and ArnForPolicy: the ARN without its generated id)."""

from __future__ import annotations

import json

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    as_json,
    not_found,
)


class EventBus(ResourceType):
    type_name = "AWS::Events::EventBus"
    name_property = "Name"
    name_length = 256

    async def _policy(self, ctx: ResourceContext, name: str, properties: dict) -> None:
        if properties.get("Policy"):
            await ctx.call(
                "events",
                "PutPermission",
                {"EventBusName": name, "Policy": as_json(properties["Policy"])},
            )

    async def _outcome(self, ctx: ResourceContext, name: str) -> Outcome:
        got = await ctx.call("events", "DescribeEventBus", {"Name": name})
        attributes = {"Arn": got["Arn"], "Name": name}
        if got.get("Policy"):
            attributes["Policy"] = got["Policy"]
        return Outcome(name, name, attributes)

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"Name": name, "Tags": ctx.tags(properties)}
        if properties.get("Description"):
            params["Description"] = properties["Description"]
        await ctx.call("events", "CreateEventBus", params)
        await self._policy(ctx, name, properties)
        return await self._outcome(ctx, name)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        name = current.physical_id
        if properties.get("Description") != previous.get("Description"):
            await ctx.call(
                "events",
                "UpdateEventBus",
                {"Name": name, "Description": properties.get("Description") or ""},
            )
        if properties.get("Policy"):
            await self._policy(ctx, name, properties)
        elif previous.get("Policy"):
            await ctx.call(
                "events", "RemovePermission", {"EventBusName": name, "RemoveAllPermissions": True}
            )
        return await self._outcome(ctx, name)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("events", "DeleteEventBus", {"Name": physical_id})


def _bus(properties: dict) -> dict:
    return {"EventBusName": properties["EventBusName"]} if properties.get("EventBusName") else {}


class Rule(ResourceType):
    type_name = "AWS::Events::Rule"
    name_property = "Name"
    name_length = 64
    extra_attributes = frozenset({"Arn", "RuleName"})

    async def _put(self, ctx: ResourceContext, name: str, properties: dict) -> Outcome:
        params = {"Name": name, **_bus(properties)}
        for key in ("Description", "RoleArn", "ScheduleExpression", "State"):
            if properties.get(key):
                params[key] = properties[key]
        if properties.get("EventPattern"):
            params["EventPattern"] = as_json(properties["EventPattern"])
        arn = (await ctx.call("events", "PutRule", params))["RuleArn"]
        wanted = properties.get("Targets") or []
        listed = await ctx.call("events", "ListTargetsByRule", {"Rule": name, **_bus(properties)})
        stale = [t["Id"] for t in listed["Targets"] if t["Id"] not in {w["Id"] for w in wanted}]
        if stale:
            await ctx.call(
                "events", "RemoveTargets", {"Rule": name, "Ids": stale, **_bus(properties)}
            )
        if wanted:
            answer = await ctx.call(
                "events", "PutTargets", {"Rule": name, "Targets": wanted, **_bus(properties)}
            )
            if answer.get("FailedEntryCount"):
                failed = answer["FailedEntries"][0]
                raise ResourceFailed(
                    f"{failed['ErrorMessage']} (Service: events, Status Code: 400) "
                    "(HandlerErrorCode: InvalidRequest)"
                )
        return Outcome(arn, arn, {"Arn": arn, "RuleName": name})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        return await self._put(ctx, name, properties)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        name = current.attributes.get("RuleName") or current.physical_id.rsplit("/", 1)[-1]
        if _bus(properties) != _bus(previous):  # moved to another bus: a new rule
            outcome = await self._put(ctx, name, properties)
            await self.delete(ctx, current.physical_id, previous)
            return outcome
        return await self._put(ctx, name, properties)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        name = physical_id.rsplit("/", 1)[-1]
        try:
            listed = await ctx.call(
                "events", "ListTargetsByRule", {"Rule": name, **_bus(properties)}
            )
        except ResourceFailed as e:
            if not_found(e):
                return
            raise
        ids = [t["Id"] for t in listed["Targets"]]
        if ids:
            await ctx.call(
                "events", "RemoveTargets", {"Rule": name, "Ids": ids, **_bus(properties)}
            )
        await ctx.call("events", "DeleteRule", {"Name": name, **_bus(properties)})


class EventBusPolicy(ResourceType):
    """``AWS::Events::EventBusPolicy``: one statement of a bus's policy, by StatementId
    (given whole as ``Statement``, or as Action/Principal/Condition)."""

    type_name = "AWS::Events::EventBusPolicy"

    async def _put(self, ctx: ResourceContext, properties: dict) -> Outcome:
        bus = properties.get("EventBusName") or "default"
        sid = properties["StatementId"]
        if properties.get("Statement"):
            described = await ctx.call("events", "DescribeEventBus", {"Name": bus})
            policy = json.loads(
                described.get("Policy") or '{"Version": "2012-10-17", "Statement": []}'
            )
            statement = {**properties["Statement"], "Sid": sid}
            policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != sid]
            policy["Statement"].append(statement)
            params = {"EventBusName": bus, "Policy": json.dumps(policy)}
        else:
            params = {
                "EventBusName": bus,
                "StatementId": sid,
                "Action": properties.get("Action", "events:PutEvents"),
                "Principal": properties["Principal"],
            }
            if properties.get("Condition"):
                params["Condition"] = properties["Condition"]
        await ctx.call("events", "PutPermission", params)
        return Outcome(f"{bus}|{sid}", sid)

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        return await self._put(ctx, properties)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return await self._put(ctx, properties)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        bus, _, sid = physical_id.partition("|")
        try:
            await ctx.call("events", "RemovePermission", {"EventBusName": bus, "StatementId": sid})
        except ResourceFailed as e:
            if not not_found(e):
                raise


async def _delete_quietly(ctx: ResourceContext, operation: str, params: dict) -> None:
    """A delete that finds the resource already gone is done."""
    try:
        await ctx.call("events", operation, params)
    except ResourceFailed as e:
        if not not_found(e):
            raise


def _given(properties: dict, *names: str) -> dict:
    return {n: properties[n] for n in names if properties.get(n) is not None}


class Connection(ResourceType):
    type_name = "AWS::Events::Connection"
    name_property = "Name"
    name_length = 64

    async def _outcome(self, ctx: ResourceContext, name: str) -> Outcome:
        arn = (await ctx.call("events", "DescribeConnection", {"Name": name}))["ConnectionArn"]
        return Outcome(name, name, {"Arn": arn, "ArnForPolicy": arn.rsplit("/", 1)[0]})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"Name": name, **_given(properties, "AuthorizationType", "AuthParameters",
                                         "Description")}  # fmt: skip
        await ctx.call("events", "CreateConnection", params)
        return await self._outcome(ctx, name)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        params = {"Name": current.physical_id,
                  **_given(properties, "AuthorizationType", "AuthParameters", "Description")}  # fmt: skip
        await ctx.call("events", "UpdateConnection", params)
        return await self._outcome(ctx, current.physical_id)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await _delete_quietly(ctx, "DeleteConnection", {"Name": physical_id})


_DESTINATION = ("ConnectionArn", "InvocationEndpoint", "HttpMethod",
                "InvocationRateLimitPerSecond", "Description")  # fmt: skip


class ApiDestination(ResourceType):
    type_name = "AWS::Events::ApiDestination"
    name_property = "Name"
    name_length = 64

    async def _outcome(self, ctx: ResourceContext, name: str) -> Outcome:
        got = await ctx.call("events", "DescribeApiDestination", {"Name": name})
        arn = got["ApiDestinationArn"]
        return Outcome(name, name, {"Arn": arn, "ArnForPolicy": arn.rsplit("/", 1)[0]})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        await ctx.call("events", "CreateApiDestination",
                       {"Name": name, **_given(properties, *_DESTINATION)})  # fmt: skip
        return await self._outcome(ctx, name)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        await ctx.call("events", "UpdateApiDestination",
                       {"Name": current.physical_id, **_given(properties, *_DESTINATION)})  # fmt: skip
        return await self._outcome(ctx, current.physical_id)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await _delete_quietly(ctx, "DeleteApiDestination", {"Name": physical_id})


class Archive(ResourceType):
    type_name = "AWS::Events::Archive"
    name_property = "ArchiveName"
    name_length = 48

    def _params(self, properties: dict) -> dict:
        params = _given(properties, "Description", "RetentionDays")
        if properties.get("EventPattern"):
            params["EventPattern"] = as_json(properties["EventPattern"])
        return params

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        created = await ctx.call("events", "CreateArchive", {
            "ArchiveName": name, "EventSourceArn": properties["SourceArn"],
            **self._params(properties)})  # fmt: skip
        return Outcome(name, name, {"Arn": created["ArchiveArn"]})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        answer = await ctx.call("events", "UpdateArchive",
                                {"ArchiveName": current.physical_id, **self._params(properties)})  # fmt: skip
        return Outcome(current.physical_id, current.physical_id, {"Arn": answer["ArchiveArn"]})

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await _delete_quietly(ctx, "DeleteArchive", {"ArchiveName": physical_id})
