"""CloudFormation resource types of CloudWatch: ``AWS::CloudWatch::Alarm`` and
``AWS::CloudWatch::CompositeAlarm`` (Ref: the alarm's name; GetAtt Arn). Their
properties are PutMetricAlarm's and PutCompositeAlarm's parameters."""

from __future__ import annotations

from sandlot.services.cloudformation.handlers import Outcome, ResourceContext, ResourceType

_COPIED = (
    "AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions",
    "InsufficientDataActions", "MetricName", "Namespace", "Statistic", "ExtendedStatistic",
    "Dimensions", "Unit", "ComparisonOperator", "TreatMissingData", "Metrics",
    "ThresholdMetricId", "EvaluateLowSampleCountPercentile",
)  # fmt: skip
_INTEGERS = ("Period", "EvaluationPeriods", "DatapointsToAlarm")


class Alarm(ResourceType):
    type_name = "AWS::CloudWatch::Alarm"
    name_property = "AlarmName"
    name_length = 255
    extra_attributes = frozenset({"Arn"})

    async def _put(self, ctx: ResourceContext, name: str, properties: dict) -> Outcome:
        params = {"AlarmName": name, **{k: properties[k] for k in _COPIED if k in properties}}
        # Templates may give numbers as strings; the API takes numbers.
        for key in _INTEGERS:
            if key in properties:
                params[key] = int(properties[key])
        if "Threshold" in properties:
            params["Threshold"] = float(properties["Threshold"])
        await ctx.call("cloudwatch", "PutMetricAlarm", params)
        arn = f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}"
        return Outcome(name, name, {"Arn": arn})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        return await self._put(ctx, name, properties)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return await self._put(ctx, current.physical_id, properties)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("cloudwatch", "DeleteAlarms", {"AlarmNames": [physical_id]})


class CompositeAlarm(ResourceType):
    type_name = "AWS::CloudWatch::CompositeAlarm"
    name_property = "AlarmName"
    name_length = 255
    extra_attributes = frozenset({"Arn"})

    async def _put(self, ctx: ResourceContext, name: str, properties: dict) -> Outcome:
        copied = ("AlarmRule", "AlarmDescription", "ActionsEnabled", "AlarmActions",
                  "OKActions", "InsufficientDataActions")  # fmt: skip
        params = {"AlarmName": name, **{k: properties[k] for k in copied if k in properties}}
        await ctx.call("cloudwatch", "PutCompositeAlarm", params)
        arn = f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}"
        return Outcome(name, name, {"Arn": arn})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        return await self._put(ctx, name, properties)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return await self._put(ctx, current.physical_id, properties)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("cloudwatch", "DeleteAlarms", {"AlarmNames": [physical_id]})
