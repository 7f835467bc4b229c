"""CloudFormation resource types of SQS: ``AWS::SQS::Queue`` (Ref: the queue URL)."""

from __future__ import annotations

import json

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    not_found,
)

# Template properties that are queue attributes (the rest: QueueName, Tags).
_NOT_ATTRIBUTES = ("QueueName", "Tags")


def _attributes(properties: dict) -> dict[str, str]:
    out = {}
    for key, value in properties.items():
        if key in _NOT_ATTRIBUTES:
            continue
        if isinstance(value, dict | list):
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out[key] = str(value)
    return out


class Queue(ResourceType):
    type_name = "AWS::SQS::Queue"
    name_property = "QueueName"
    name_length = 80
    extra_attributes = frozenset({"QueueName"})

    def planned_name(self, ctx: ResourceContext, properties: dict) -> str | None:
        if properties.get("QueueName"):
            return properties["QueueName"]
        fifo = str(properties.get("FifoQueue", "")).lower() == "true"
        return ctx.generated_name(self.name_length, ".fifo" if fifo else "")

    async def _outcome(self, ctx: ResourceContext, url: str) -> Outcome:
        got = await ctx.call(
            "sqs", "GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["QueueArn"]}
        )
        arn = got["Attributes"]["QueueArn"]
        return Outcome(url, url, {"Arn": arn, "QueueUrl": url, "QueueName": arn.rsplit(":", 1)[1]})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        tags = {t["Key"]: t["Value"] for t in ctx.tags(properties)}
        created = await ctx.call(
            "sqs", "CreateQueue",
            {"QueueName": name, "Attributes": _attributes(properties), "tags": tags},
        )  # fmt: skip
        return await self._outcome(ctx, created["QueueUrl"])

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        attributes = _attributes(properties)
        if attributes != _attributes(previous):
            # Attributes removed from the template go back to their defaults.
            defaults = {"DelaySeconds": "0", "MaximumMessageSize": "262144",
                        "MessageRetentionPeriod": "345600", "ReceiveMessageWaitTimeSeconds": "0",
                        "VisibilityTimeout": "30", "RedrivePolicy": "", "RedriveAllowPolicy": ""}  # fmt: skip
            for key in _attributes(previous):
                if key not in attributes and key in defaults:
                    attributes[key] = defaults[key]
            attributes.pop("FifoQueue", None)
            await ctx.call(
                "sqs",
                "SetQueueAttributes",
                {"QueueUrl": current.physical_id, "Attributes": attributes},
            )
        if properties.get("Tags") != previous.get("Tags"):
            old = {t["Key"] for t in previous.get("Tags") or []}
            new = {t["Key"]: t["Value"] for t in properties.get("Tags") or []}
            if old - set(new):
                await ctx.call(
                    "sqs",
                    "UntagQueue",
                    {"QueueUrl": current.physical_id, "TagKeys": sorted(old - set(new))},
                )
            if new:
                await ctx.call("sqs", "TagQueue", {"QueueUrl": current.physical_id, "Tags": new})
        return await self._outcome(ctx, current.physical_id)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        if not physical_id.startswith("http"):  # only the planned name is known
            try:
                physical_id = (await ctx.call("sqs", "GetQueueUrl", {"QueueName": physical_id}))[
                    "QueueUrl"
                ]
            except ResourceFailed as e:
                if not_found(e):
                    return  # never made: nothing to delete
                raise
        await ctx.call("sqs", "DeleteQueue", {"QueueUrl": physical_id})


class QueuePolicy(ResourceType):
    """``AWS::SQS::QueuePolicy``: the Policy attribute of each queue in ``Queues``."""

    type_name = "AWS::SQS::QueuePolicy"

    async def _set(self, ctx: ResourceContext, queues: list[str], policy: str) -> None:
        for url in queues:
            await ctx.call(
                "sqs", "SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": policy}}
            )

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        await self._set(
            ctx,
            properties["Queues"],
            json.dumps(properties["PolicyDocument"])
            if isinstance(properties["PolicyDocument"], dict)
            else properties["PolicyDocument"],
        )
        physical = ctx.generated_name(80)
        return Outcome(physical, physical, {"Id": physical})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        gone = [q for q in previous.get("Queues", []) if q not in properties["Queues"]]
        await self._set(ctx, gone, "")
        await self._set(
            ctx,
            properties["Queues"],
            json.dumps(properties["PolicyDocument"])
            if isinstance(properties["PolicyDocument"], dict)
            else properties["PolicyDocument"],
        )
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        for url in properties.get("Queues", []):
            try:
                await ctx.call(
                    "sqs", "SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": ""}}
                )
            except ResourceFailed as e:
                if not not_found(e):
                    raise
