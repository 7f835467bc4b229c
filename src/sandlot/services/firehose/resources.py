"""CloudFormation resource type of Firehose: ``AWS::KinesisFirehose::DeliveryStream``
(Ref: the delivery stream name; GetAtt Arn). Only S3 destinations are served; the
others fail the resource with Firehose's error naming them. A changed S3 destination
is updated in place (UpdateDestination: a new version)."""

from __future__ import annotations

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    not_found,
)

_INTS = {"SizeInMBs", "IntervalInSeconds"}


def _typed(value):
    """Template values as the API takes them (CloudFormation passes numbers as text)."""
    if isinstance(value, dict):
        return {k: int(v) if k in _INTS else _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return value


class DeliveryStream(ResourceType):
    type_name = "AWS::KinesisFirehose::DeliveryStream"
    name_property = "DeliveryStreamName"
    name_length = 64

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {k: _typed(v) for k, v in properties.items() if k != "Tags"}
        params["DeliveryStreamName"] = name
        tags = ctx.tags(properties)
        if tags:
            params["Tags"] = tags
        got = await ctx.call("firehose", "CreateDeliveryStream", params)
        return Outcome(name, name, {"Arn": got["DeliveryStreamARN"]})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        """The S3 destination through UpdateDestination (a new version), and tags."""
        name = current.physical_id
        for key in ("ExtendedS3DestinationConfiguration", "S3DestinationConfiguration"):
            if properties.get(key) != previous.get(key) and properties.get(key):
                got = await ctx.call("firehose", "DescribeDeliveryStream",
                                     {"DeliveryStreamName": name})  # fmt: skip
                description = got["DeliveryStreamDescription"]
                update = key.replace("Configuration", "Update")
                await ctx.call("firehose", "UpdateDestination", {
                    "DeliveryStreamName": name,
                    "CurrentDeliveryStreamVersionId": description["VersionId"],
                    "DestinationId": description["Destinations"][0]["DestinationId"],
                    update: _typed(properties[key]),
                })  # fmt: skip
        if properties.get("Tags") != previous.get("Tags"):
            old = {t["Key"] for t in previous.get("Tags") or []}
            new = properties.get("Tags") or []
            gone = sorted(old - {t["Key"] for t in new})
            if gone:
                await ctx.call("firehose", "UntagDeliveryStream",
                               {"DeliveryStreamName": name, "TagKeys": gone})  # fmt: skip
            if new:
                await ctx.call("firehose", "TagDeliveryStream",
                               {"DeliveryStreamName": name, "Tags": new})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        try:
            await ctx.call("firehose", "DeleteDeliveryStream", {"DeliveryStreamName": physical_id})
        except ResourceFailed as e:
            if not not_found(e):
                raise
