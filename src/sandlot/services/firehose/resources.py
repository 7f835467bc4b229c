"""CloudFormation resource type of Firehose: ``AWS::KinesisFirehose::DeliveryStream``
(Ref: the delivery stream name; GetAtt Arn). Only S3 destinations are served; the
others fail the resource with Firehose's error naming them."""

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
        # sandlot's Firehose has no UpdateDestination yet: say so instead of pretending.
        raise ResourceFailed(
            "Updating a delivery stream's destination in place is not supported by sandlot "
            "yet (HandlerErrorCode: NotUpdatable)"
        )

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        try:
            await ctx.call("firehose", "DeleteDeliveryStream", {"DeliveryStreamName": physical_id})
        except ResourceFailed as e:
            if not not_found(e):
                raise
