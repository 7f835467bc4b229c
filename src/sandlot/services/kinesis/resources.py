"""CloudFormation resource types of Kinesis: ``AWS::Kinesis::Stream`` (Ref: the stream
name; GetAtt Arn) and ``AWS::Kinesis::StreamConsumer`` (Ref: the consumer ARN)."""

from __future__ import annotations

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    not_found,
)


def _mode(properties: dict) -> str:
    return (properties.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")


class Stream(ResourceType):
    type_name = "AWS::Kinesis::Stream"
    name_property = "Name"
    name_length = 128

    async def _outcome(self, ctx: ResourceContext, name: str) -> Outcome:
        got = await ctx.call("kinesis", "DescribeStreamSummary", {"StreamName": name})
        arn = got["StreamDescriptionSummary"]["StreamARN"]
        return Outcome(name, name, {"Arn": arn})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params: dict = {"StreamName": name, "StreamModeDetails": {"StreamMode": _mode(properties)}}
        if _mode(properties) == "PROVISIONED":
            params["ShardCount"] = int(properties.get("ShardCount", 1))  # CloudFormation's default
        tags = {t["Key"]: t["Value"] for t in ctx.tags(properties)}
        if tags:
            params["Tags"] = tags
        await ctx.call("kinesis", "CreateStream", params)
        await self._apply(ctx, name, properties, {"RetentionPeriodHours": 24})
        return await self._outcome(ctx, name)

    async def _apply(self, ctx: ResourceContext, name: str, properties: dict, previous: dict):
        """Retention and encryption as the template says (after create, or on update)."""
        hours = int(properties.get("RetentionPeriodHours", 24))
        before = int(previous.get("RetentionPeriodHours", 24))
        if hours > before:
            await ctx.call("kinesis", "IncreaseStreamRetentionPeriod",
                           {"StreamName": name, "RetentionPeriodHours": hours})  # fmt: skip
        elif hours < before:
            await ctx.call("kinesis", "DecreaseStreamRetentionPeriod",
                           {"StreamName": name, "RetentionPeriodHours": hours})  # fmt: skip
        encryption, was = properties.get("StreamEncryption"), previous.get("StreamEncryption")
        if encryption and encryption != was:
            await ctx.call("kinesis", "StartStreamEncryption",
                           {"StreamName": name, **encryption})  # fmt: skip
        elif was and not encryption:
            await ctx.call("kinesis", "StopStreamEncryption", {"StreamName": name, **was})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        name = current.physical_id
        if _mode(properties) != _mode(previous):
            got = await ctx.call("kinesis", "DescribeStreamSummary", {"StreamName": name})
            await ctx.call("kinesis", "UpdateStreamMode", {
                "StreamARN": got["StreamDescriptionSummary"]["StreamARN"],
                "StreamModeDetails": {"StreamMode": _mode(properties)}})  # fmt: skip
        count = properties.get("ShardCount")
        if _mode(properties) == "PROVISIONED" and count and count != previous.get("ShardCount"):
            await ctx.call("kinesis", "UpdateShardCount", {"StreamName": name,
                           "TargetShardCount": int(count), "ScalingType": "UNIFORM_SCALING"})  # fmt: skip
        await self._apply(ctx, name, properties, previous)
        if properties.get("Tags") != previous.get("Tags"):
            old = {t["Key"] for t in previous.get("Tags") or []}
            new = {t["Key"]: t["Value"] for t in properties.get("Tags") or []}
            if old - set(new):
                await ctx.call("kinesis", "RemoveTagsFromStream",
                               {"StreamName": name, "TagKeys": sorted(old - set(new))})  # fmt: skip
            if new:
                await ctx.call("kinesis", "AddTagsToStream", {"StreamName": name, "Tags": new})
        return await self._outcome(ctx, name)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        try:
            await ctx.call("kinesis", "DeleteStream",
                           {"StreamName": physical_id, "EnforceConsumerDeletion": True})  # fmt: skip
        except ResourceFailed as e:
            if not not_found(e):
                raise


class StreamConsumer(ResourceType):
    type_name = "AWS::Kinesis::StreamConsumer"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        got = await ctx.call("kinesis", "RegisterStreamConsumer", {
            "StreamARN": properties["StreamARN"], "ConsumerName": properties["ConsumerName"]})  # fmt: skip
        consumer = got["Consumer"]
        arn = consumer["ConsumerARN"]
        return Outcome(arn, arn, {
            "ConsumerARN": arn,
            "ConsumerName": consumer["ConsumerName"],
            "ConsumerStatus": consumer["ConsumerStatus"],
            "ConsumerCreationTimestamp": consumer["ConsumerCreationTimestamp"].isoformat(),
            "StreamARN": properties["StreamARN"],
        })  # fmt: skip

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return current  # every property is create-only: a change replaces the consumer

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        try:
            await ctx.call("kinesis", "DeregisterStreamConsumer", {"ConsumerARN": physical_id})
        except ResourceFailed as e:
            if not not_found(e):
                raise
