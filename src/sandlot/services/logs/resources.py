"""CloudFormation resource types of CloudWatch Logs: ``AWS::Logs::LogGroup`` (Ref: the
name; GetAtt Arn ends in ``:*`` as AWS's does)."""

from __future__ import annotations

from sandlot.services.cloudformation.handlers import Outcome, ResourceContext, ResourceType


class LogGroup(ResourceType):
    type_name = "AWS::Logs::LogGroup"
    name_property = "LogGroupName"
    name_length = 512

    def _outcome(self, ctx: ResourceContext, name: str) -> Outcome:
        arn = f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{name}:*"
        return Outcome(name, name, {"Arn": arn})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        tags = {t["Key"]: t["Value"] for t in ctx.tags(properties)}
        params = {"logGroupName": name}
        if tags:
            params["tags"] = tags
        if properties.get("KmsKeyId"):
            params["kmsKeyId"] = properties["KmsKeyId"]
        await ctx.call("logs", "CreateLogGroup", params)
        if properties.get("RetentionInDays"):
            await ctx.call(
                "logs",
                "PutRetentionPolicy",
                {"logGroupName": name, "retentionInDays": int(properties["RetentionInDays"])},
            )
        return self._outcome(ctx, name)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        name = current.physical_id
        if properties.get("RetentionInDays") != previous.get("RetentionInDays"):
            if properties.get("RetentionInDays"):
                await ctx.call(
                    "logs",
                    "PutRetentionPolicy",
                    {"logGroupName": name, "retentionInDays": int(properties["RetentionInDays"])},
                )
            else:
                await ctx.call("logs", "DeleteRetentionPolicy", {"logGroupName": name})
        return self._outcome(ctx, name)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("logs", "DeleteLogGroup", {"logGroupName": physical_id})
