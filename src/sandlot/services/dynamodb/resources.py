"""CloudFormation resource type of DynamoDB: ``AWS::DynamoDB::Table`` (Ref: the table
name; GetAtt Arn, StreamArn).

Create and update go through sandlot's DynamoDB API as a user's calls would, and are
complete once the table (and each of its indexes) is ACTIVE. Updates change one global
secondary index per UpdateTable, as DynamoDB requires, waiting for each. Properties
sandlot's DynamoDB does not serve fail naming the property rather than being ignored.
"""

from __future__ import annotations

import asyncio
import time

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    not_found,
)

ACTIVE_TIMEOUT = 300.0  # seconds a create or update waits for ACTIVE (a GSI backfill)

# Template properties sandlot's DynamoDB has no real behaviour for.
_UNSUPPORTED = ("KinesisStreamSpecification", "ImportSourceSpecification", "ResourcePolicy",
                "OnDemandThroughput", "WarmThroughput", "VectorIndexes")  # fmt: skip


def _flag(value) -> bool:
    """A template boolean (parameters make it a string)."""
    return str(value).lower() == "true"


def _throughput(value: dict | None) -> dict | None:
    if not value:
        return None
    return {k: int(value[k]) for k in ("ReadCapacityUnits", "WriteCapacityUnits")}


def _mode(properties: dict) -> str:
    return properties.get("BillingMode") or "PROVISIONED"  # CloudFormation's default


def _index(index: dict, mode: str) -> dict:
    """A GlobalSecondaryIndexes/LocalSecondaryIndexes entry as the API takes it."""
    out = {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"],
           "Projection": index["Projection"]}  # fmt: skip
    if mode == "PROVISIONED" and index.get("ProvisionedThroughput"):
        out["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
    return out


def _indexes(properties: dict) -> dict[str, dict]:
    mode = _mode(properties)
    return {i["IndexName"]: _index(i, mode) for i in properties.get("GlobalSecondaryIndexes") or ()}


def _stream(properties: dict) -> dict:
    view = (properties.get("StreamSpecification") or {}).get("StreamViewType")
    return {"StreamEnabled": True, "StreamViewType": view} if view else {"StreamEnabled": False}


def _check_supported(properties: dict) -> None:
    for name in _UNSUPPORTED:
        if properties.get(name) is not None:
            raise ResourceFailed(f"Property {name} is not supported by sandlot's DynamoDB")
    pitr = properties.get("PointInTimeRecoverySpecification") or {}
    if _flag(pitr.get("PointInTimeRecoveryEnabled", False)):
        raise ResourceFailed(
            "Property PointInTimeRecoverySpecification is not supported by sandlot's DynamoDB "
            "(it has no point-in-time recovery)"
        )
    insights = properties.get("ContributorInsightsSpecification") or {}
    if _flag(insights.get("Enabled", False)):
        raise ResourceFailed(
            "Property ContributorInsightsSpecification is not supported by sandlot's DynamoDB"
        )


class Table(ResourceType):
    type_name = "AWS::DynamoDB::Table"
    name_property = "TableName"

    async def _described(self, ctx: ResourceContext, name: str) -> dict:
        return (await ctx.call("dynamodb", "DescribeTable", {"TableName": name}))["Table"]

    async def _active(self, ctx: ResourceContext, name: str) -> dict:
        """The table's description once it and every index are ACTIVE (polled)."""
        deadline = time.monotonic() + ACTIVE_TIMEOUT
        while True:
            table = await self._described(ctx, name)
            statuses = [table["TableStatus"]] + [
                g.get("IndexStatus", "ACTIVE") for g in table.get("GlobalSecondaryIndexes") or ()
            ]
            if all(s == "ACTIVE" for s in statuses):
                return table
            if time.monotonic() > deadline:
                raise ResourceFailed(f"Table {name} did not become ACTIVE in time")
            await asyncio.sleep(0.2)

    def _outcome(self, name: str, table: dict) -> Outcome:
        attributes = {"Arn": table["TableArn"]}
        if table.get("LatestStreamArn") and table.get("StreamSpecification"):
            attributes["StreamArn"] = table["LatestStreamArn"]
        return Outcome(name, name, attributes)

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        _check_supported(properties)
        mode = _mode(properties)
        params: dict = {
            "TableName": name,
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": mode,
        }
        if properties.get("ProvisionedThroughput"):
            params["ProvisionedThroughput"] = _throughput(properties["ProvisionedThroughput"])
        if properties.get("GlobalSecondaryIndexes"):
            params["GlobalSecondaryIndexes"] = list(_indexes(properties).values())
        if properties.get("LocalSecondaryIndexes"):
            params["LocalSecondaryIndexes"] = [
                _index(i, mode) for i in properties["LocalSecondaryIndexes"]
            ]
        if properties.get("StreamSpecification"):
            params["StreamSpecification"] = _stream(properties)
        if properties.get("SSESpecification"):
            params["SSESpecification"] = self._sse(properties["SSESpecification"])
        if properties.get("TableClass"):
            params["TableClass"] = properties["TableClass"]
        if properties.get("DeletionProtectionEnabled") is not None:
            params["DeletionProtectionEnabled"] = _flag(properties["DeletionProtectionEnabled"])
        tags = ctx.tags(properties)
        if tags:
            params["Tags"] = tags
        await ctx.call("dynamodb", "CreateTable", params)
        try:
            await self._ttl(ctx, name, properties, {})
            return self._outcome(name, await self._active(ctx, name))
        except ResourceFailed:  # the table is ours (CreateTable succeeded): do not leave it
            await self.delete(ctx, name, properties)
            raise

    @staticmethod
    def _sse(sse: dict) -> dict:
        out: dict = {"Enabled": _flag(sse.get("SSEEnabled", False))}
        for key in ("SSEType", "KMSMasterKeyId"):
            if sse.get(key):
                out[key] = sse[key]
        return out

    async def _ttl(self, ctx: ResourceContext, name: str, properties: dict, previous: dict):
        """UpdateTimeToLive (DynamoDB takes it only after the table exists)."""

        def wanted(props: dict) -> str | None:
            spec = props.get("TimeToLiveSpecification") or {}
            return spec.get("AttributeName") if _flag(spec.get("Enabled", False)) else None

        new, old = wanted(properties), wanted(previous)
        if new == old:
            return
        if old:
            await ctx.call("dynamodb", "UpdateTimeToLive", {"TableName": name,
                           "TimeToLiveSpecification": {"Enabled": False, "AttributeName": old}})  # fmt: skip
        if new:
            await ctx.call("dynamodb", "UpdateTimeToLive", {"TableName": name,
                           "TimeToLiveSpecification": {"Enabled": True, "AttributeName": new}})  # fmt: skip

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        # (KeySchema and LocalSecondaryIndexes changes replace the table: schemas.py.)
        _check_supported(properties)
        name = current.physical_id
        definitions = properties["AttributeDefinitions"]

        async def update_table(params: dict) -> None:
            await ctx.call("dynamodb", "UpdateTable", {"TableName": name, **params})
            await self._active(ctx, name)

        # Indexes removed or redefined go first, one UpdateTable each.
        old, new = _indexes(previous), _indexes(properties)
        changed = {
            n for n in old.keys() & new.keys()
            if {k: v for k, v in old[n].items() if k != "ProvisionedThroughput"}
            != {k: v for k, v in new[n].items() if k != "ProvisionedThroughput"}
        }  # fmt: skip
        for index in [n for n in old if n not in new or n in changed]:
            await update_table({"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": index}}]})
        # Billing and throughput (the kept indexes' throughput with them).
        mode = _mode(properties)
        if mode != _mode(previous) or properties.get("ProvisionedThroughput") != previous.get(
            "ProvisionedThroughput"
        ):
            params: dict = {"BillingMode": mode}
            if mode == "PROVISIONED":
                params["ProvisionedThroughput"] = _throughput(properties["ProvisionedThroughput"])
                kept = [new[n] for n in new if n in old and n not in changed]
                if kept:
                    params["GlobalSecondaryIndexUpdates"] = [
                        {"Update": {"IndexName": i["IndexName"],
                                    "ProvisionedThroughput": i["ProvisionedThroughput"]}}
                        for i in kept
                    ]  # fmt: skip
            await update_table(params)
        elif mode == "PROVISIONED":
            moved = [new[n] for n in new if n in old and n not in changed and new[n] != old[n]]
            for index in moved:
                await update_table({"GlobalSecondaryIndexUpdates": [{"Update": {
                    "IndexName": index["IndexName"],
                    "ProvisionedThroughput": index["ProvisionedThroughput"]}}]})  # fmt: skip
        for index in [n for n in new if n not in old or n in changed]:
            await update_table({"AttributeDefinitions": definitions,
                                "GlobalSecondaryIndexUpdates": [{"Create": new[index]}]})  # fmt: skip
        # The stream: off, then on again with the new view type.
        stream, was = _stream(properties), _stream(previous)
        if stream != was:
            if was["StreamEnabled"]:
                await update_table({"StreamSpecification": {"StreamEnabled": False}})
            if stream["StreamEnabled"]:
                await update_table({"StreamSpecification": stream})
        settings: dict = {}
        if properties.get("SSESpecification") != previous.get("SSESpecification"):
            settings["SSESpecification"] = self._sse(properties.get("SSESpecification") or {})
        if properties.get("TableClass") != previous.get("TableClass"):
            settings["TableClass"] = properties.get("TableClass") or "STANDARD"
        protected = _flag(properties.get("DeletionProtectionEnabled", False))
        if protected != _flag(previous.get("DeletionProtectionEnabled", False)):
            settings["DeletionProtectionEnabled"] = protected
        if settings:
            await update_table(settings)
        await self._ttl(ctx, name, properties, previous)
        table = await self._active(ctx, name)
        await self._retag(ctx, table["TableArn"], properties, previous)
        return self._outcome(name, table)

    async def _retag(self, ctx, arn: str, properties: dict, previous: dict) -> None:
        new = {t["Key"]: t["Value"] for t in ctx.tags(properties)}
        old = {t["Key"]: t["Value"] for t in ctx.tags(previous)}
        gone = sorted(set(old) - set(new))
        if gone:
            await ctx.call("dynamodb", "UntagResource", {"ResourceArn": arn, "TagKeys": gone})
        changed = [{"Key": k, "Value": v} for k, v in new.items() if old.get(k) != v]
        if changed:
            await ctx.call("dynamodb", "TagResource", {"ResourceArn": arn, "Tags": changed})

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        try:  # deletion protection makes DynamoDB refuse: the delete fails, as on AWS
            await ctx.call("dynamodb", "DeleteTable", {"TableName": physical_id})
        except ResourceFailed as e:
            if not not_found(e):
                raise
