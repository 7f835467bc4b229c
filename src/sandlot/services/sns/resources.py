"""CloudFormation resource types of SNS: ``AWS::SNS::Topic`` (Ref: the topic ARN; GetAtt
TopicArn, TopicName), ``AWS::SNS::Subscription`` (Ref: the subscription ARN) and
``AWS::SNS::TopicPolicy`` (the Policy attribute of each topic in ``Topics``). Properties
SNS in sandlot does not serve fail the resource naming them."""

from __future__ import annotations

import json

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    as_json,
)

# Topic properties that are topic attributes of the same name.
_TOPIC_ATTRIBUTES = ("DisplayName", "KmsMasterKeyId", "SignatureVersion", "TracingConfig",
                     "ContentBasedDeduplication", "FifoThroughputScope")  # fmt: skip
_TOPIC_OTHER = ("TopicName", "FifoTopic", "Subscription", "Tags")
# Subscription properties that are subscription attributes (JSON ones serialized).
_SUBSCRIPTION_ATTRIBUTES = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery",
                            "RedrivePolicy", "DeliveryPolicy", "SubscriptionRoleArn")  # fmt: skip
_SUBSCRIPTION_OTHER = ("TopicArn", "Protocol", "Endpoint", "Region")


def _text(value) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check(type_name: str, properties: dict, served: tuple[str, ...]) -> None:
    for name in properties:
        if name not in served:
            raise ResourceFailed(f"Property {name} of {type_name} is not supported by sandlot")


class Topic(ResourceType):
    type_name = "AWS::SNS::Topic"
    name_property = "TopicName"
    name_length = 256
    extra_attributes = frozenset({"TopicArn", "TopicName"})

    def planned_name(self, ctx: ResourceContext, properties: dict) -> str | None:
        if properties.get("TopicName"):
            return properties["TopicName"]
        fifo = str(properties.get("FifoTopic", "")).lower() == "true"
        return ctx.generated_name(self.name_length, ".fifo" if fifo else "")

    @staticmethod
    def _outcome(arn: str) -> Outcome:
        return Outcome(arn, arn, {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        _check(self.type_name, properties, _TOPIC_ATTRIBUTES + _TOPIC_OTHER)
        attributes = {k: _text(properties[k]) for k in _TOPIC_ATTRIBUTES if k in properties}
        if str(properties.get("FifoTopic", "")).lower() == "true":
            attributes["FifoTopic"] = "true"
        params: dict = {"Name": name, "Attributes": attributes}
        if tags := ctx.tags(properties):
            params["Tags"] = tags
        arn = (await ctx.call("sns", "CreateTopic", params))["TopicArn"]
        for subscription in properties.get("Subscription") or []:
            await self._subscribe(ctx, arn, subscription)
        return self._outcome(arn)

    @staticmethod
    async def _subscribe(ctx: ResourceContext, arn: str, subscription: dict) -> None:
        await ctx.call(
            "sns",
            "Subscribe",
            {"TopicArn": arn, "Protocol": subscription["Protocol"],
             "Endpoint": subscription["Endpoint"], "ReturnSubscriptionArn": True},
        )  # fmt: skip

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        _check(self.type_name, properties, _TOPIC_ATTRIBUTES + _TOPIC_OTHER)
        arn = current.physical_id
        for key in _TOPIC_ATTRIBUTES:
            if properties.get(key) != previous.get(key):
                await ctx.call(
                    "sns",
                    "SetTopicAttributes",
                    {"TopicArn": arn, "AttributeName": key,
                     "AttributeValue": _text(properties[key]) if key in properties else ""},
                )  # fmt: skip
        wanted = {(s["Protocol"], s["Endpoint"]) for s in properties.get("Subscription") or []}
        had = {(s["Protocol"], s["Endpoint"]) for s in previous.get("Subscription") or []}
        if wanted != had:
            listed = await ctx.call("sns", "ListSubscriptionsByTopic", {"TopicArn": arn})
            for sub in listed.get("Subscriptions", []):
                if (sub["Protocol"], sub["Endpoint"]) in had - wanted:
                    await ctx.call(
                        "sns", "Unsubscribe", {"SubscriptionArn": sub["SubscriptionArn"]}
                    )
            for protocol, endpoint in wanted - had:
                await self._subscribe(ctx, arn, {"Protocol": protocol, "Endpoint": endpoint})
        if properties.get("Tags") != previous.get("Tags"):
            new = {t["Key"] for t in properties.get("Tags") or []}
            gone = [t["Key"] for t in previous.get("Tags") or [] if t["Key"] not in new]
            if gone:
                await ctx.call("sns", "UntagResource", {"ResourceArn": arn, "TagKeys": gone})
            if tags := ctx.tags(properties):
                await ctx.call("sns", "TagResource", {"ResourceArn": arn, "Tags": tags})
        return self._outcome(arn)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        if not physical_id.startswith("arn:"):  # only the planned name is known
            physical_id = f"arn:aws:sns:{ctx.region}:{ctx.account_id}:{physical_id}"
        await ctx.call("sns", "DeleteTopic", {"TopicArn": physical_id})  # idempotent in SNS


class Subscription(ResourceType):
    type_name = "AWS::SNS::Subscription"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        _check(self.type_name, properties, _SUBSCRIPTION_ATTRIBUTES + _SUBSCRIPTION_OTHER)
        attributes = {k: _text(properties[k]) for k in _SUBSCRIPTION_ATTRIBUTES if k in properties}
        created = await ctx.call(
            "sns",
            "Subscribe",
            {"TopicArn": properties["TopicArn"], "Protocol": properties["Protocol"],
             "Endpoint": properties.get("Endpoint", ""), "Attributes": attributes,
             "ReturnSubscriptionArn": True},
        )  # fmt: skip
        arn = created["SubscriptionArn"]
        return Outcome(arn, arn, {"Arn": arn})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        _check(self.type_name, properties, _SUBSCRIPTION_ATTRIBUTES + _SUBSCRIPTION_OTHER)
        for key in _SUBSCRIPTION_ATTRIBUTES:
            if properties.get(key) != previous.get(key):
                await ctx.call(
                    "sns",
                    "SetSubscriptionAttributes",
                    {"SubscriptionArn": current.physical_id, "AttributeName": key,
                     "AttributeValue": _text(properties[key]) if key in properties else ""},
                )  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("sns", "Unsubscribe", {"SubscriptionArn": physical_id})


class TopicPolicy(ResourceType):
    """``AWS::SNS::TopicPolicy``: deleting it gives each topic its default policy back."""

    type_name = "AWS::SNS::TopicPolicy"

    @staticmethod
    async def _set(ctx: ResourceContext, topics: list[str], policy: str) -> None:
        for arn in topics:
            await ctx.call(
                "sns",
                "SetTopicAttributes",
                {"TopicArn": arn, "AttributeName": "Policy", "AttributeValue": policy},
            )

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        await self._set(ctx, properties["Topics"], as_json(properties["PolicyDocument"]))
        physical = ctx.generated_name(80)
        return Outcome(physical, physical, {"Id": physical})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        removed = [t for t in previous.get("Topics", []) if t not in properties["Topics"]]
        await self._set(ctx, removed, "")
        await self._set(ctx, properties["Topics"], as_json(properties["PolicyDocument"]))
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        try:
            await self._set(ctx, properties.get("Topics", []), "")  # "" restores the default
        except ResourceFailed as error:
            if "NotFound" not in str(error):
                raise
