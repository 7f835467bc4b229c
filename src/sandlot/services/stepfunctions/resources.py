"""CloudFormation resource types of Step Functions: ``AWS::StepFunctions::StateMachine``
(Ref: the ARN; the definition from ``Definition``, ``DefinitionString`` or
``DefinitionS3Location``, with ``DefinitionSubstitutions`` applied) and
``AWS::StepFunctions::Activity`` (Ref: the ARN), ``AWS::StepFunctions::StateMachineVersion``
(Ref: the version ARN) and ``AWS::StepFunctions::StateMachineAlias`` (Ref: the alias ARN;
``RoutingConfiguration``, or a ``DeploymentPreference`` of Type ALL_AT_ONCE). SAM's
``AWS::Serverless::StateMachine`` becomes these through the transform."""

from __future__ import annotations

import json

from sandlot.protocol.http import FileBody
from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    not_found,
)


async def _definition(ctx: ResourceContext, properties: dict) -> str:
    """The definition text the template gives, substitutions applied (``${name}``)."""
    if properties.get("Definition") is not None:
        text = json.dumps(properties["Definition"])
    elif properties.get("DefinitionString") is not None:
        text = properties["DefinitionString"]
    elif properties.get("DefinitionS3Location") is not None:
        location = properties["DefinitionS3Location"]
        params = {"Bucket": location["Bucket"], "Key": location["Key"]}
        if location.get("Version"):
            params["VersionId"] = location["Version"]
        body = (await ctx.call("s3", "GetObject", params))["Body"]
        if isinstance(body, FileBody):
            with body.file as f:
                f.seek(body.offset)
                data = f.read(body.length)
        else:
            data = bytes(body)
        text = data.decode()
    else:
        raise ResourceFailed(
            "Properties validation failed for resource: one of Definition, DefinitionString "
            "or DefinitionS3Location is required"
        )
    for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
        text = text.replace(
            "${" + key + "}", value if isinstance(value, str) else json.dumps(value)
        )
    return text


def _logging(config: dict | None) -> dict | None:
    """The template's PascalCase LoggingConfiguration as the API's camelCase."""
    if not config:
        return None
    out: dict = {"level": config.get("Level", "OFF")}
    if "IncludeExecutionData" in config:
        out["includeExecutionData"] = str(config["IncludeExecutionData"]).lower() == "true"
    out["destinations"] = [
        {"cloudWatchLogsLogGroup": {"logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]}}
        for d in config.get("Destinations") or []
    ]
    return out


def _tracing(config: dict | None) -> dict | None:
    if not config:
        return None
    return {"enabled": str(config.get("Enabled", False)).lower() == "true"}


class StateMachine(ResourceType):
    type_name = "AWS::StepFunctions::StateMachine"
    name_property = "StateMachineName"
    name_length = 80

    async def _outcome(self, ctx: ResourceContext, arn: str) -> Outcome:
        described = await ctx.call(
            "stepfunctions", "DescribeStateMachine", {"stateMachineArn": arn}
        )
        return Outcome(
            arn,
            arn,
            {
                "Arn": arn,
                "Name": described["name"],
                "StateMachineRevisionId": described["revisionId"],
            },
        )

    async def _settings(self, ctx: ResourceContext, properties: dict) -> dict:
        params = {
            "definition": await _definition(ctx, properties),
            "roleArn": properties.get("RoleArn"),
        }
        if _logging(properties.get("LoggingConfiguration")):
            params["loggingConfiguration"] = _logging(properties["LoggingConfiguration"])
        if _tracing(properties.get("TracingConfiguration")):
            params["tracingConfiguration"] = _tracing(properties["TracingConfiguration"])
        return params

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = await self._settings(ctx, properties)
        params["name"] = name
        params["type"] = properties.get("StateMachineType", "STANDARD")
        tags = ctx.tags(properties)
        if tags:
            params["tags"] = [{"key": t["Key"], "value": t["Value"]} for t in tags]
        created = await ctx.call("stepfunctions", "CreateStateMachine", params)
        return await self._outcome(ctx, created["stateMachineArn"])

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        arn = current.physical_id
        params = await self._settings(ctx, properties)
        if not params.get("loggingConfiguration") and previous.get("LoggingConfiguration"):
            params["loggingConfiguration"] = {"level": "OFF", "includeExecutionData": False}
        await ctx.call("stepfunctions", "UpdateStateMachine", {"stateMachineArn": arn, **params})
        if properties.get("Tags") != previous.get("Tags"):
            old = {t["Key"] for t in previous.get("Tags") or []}
            new = {t["Key"]: t["Value"] for t in properties.get("Tags") or []}
            if old - set(new):
                await ctx.call("stepfunctions", "UntagResource",
                               {"resourceArn": arn, "tagKeys": sorted(old - set(new))})  # fmt: skip
            if new:
                await ctx.call("stepfunctions", "TagResource", {
                    "resourceArn": arn, "tags": [{"key": k, "value": v} for k, v in new.items()]})  # fmt: skip
        return await self._outcome(ctx, arn)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        if not physical_id.startswith("arn:"):  # only the planned name is known
            physical_id = f"arn:aws:states:{ctx.region}:{ctx.account_id}:stateMachine:{physical_id}"
        await ctx.call("stepfunctions", "DeleteStateMachine", {"stateMachineArn": physical_id})


class Activity(ResourceType):
    type_name = "AWS::StepFunctions::Activity"
    name_property = "Name"
    name_length = 80

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params: dict = {"name": name}
        tags = ctx.tags(properties)
        if tags:
            params["tags"] = [{"key": t["Key"], "value": t["Value"]} for t in tags]
        arn = (await ctx.call("stepfunctions", "CreateActivity", params))["activityArn"]
        return Outcome(arn, arn, {"Arn": arn, "Name": name})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        arn = current.physical_id
        old = {t["Key"] for t in previous.get("Tags") or []}
        new = {t["Key"]: t["Value"] for t in properties.get("Tags") or []}
        if old - set(new):
            await ctx.call("stepfunctions", "UntagResource",
                           {"resourceArn": arn, "tagKeys": sorted(old - set(new))})  # fmt: skip
        if new:
            await ctx.call("stepfunctions", "TagResource", {
                "resourceArn": arn, "tags": [{"key": k, "value": v} for k, v in new.items()]})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        if not physical_id.startswith("arn:"):
            physical_id = f"arn:aws:states:{ctx.region}:{ctx.account_id}:activity:{physical_id}"
        try:
            await ctx.call("stepfunctions", "DeleteActivity", {"activityArn": physical_id})
        except ResourceFailed as e:
            if not not_found(e):
                raise


class StateMachineVersion(ResourceType):
    """A published version; its properties are create-only (a change is a new one)."""

    type_name = "AWS::StepFunctions::StateMachineVersion"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"stateMachineArn": properties["StateMachineArn"]}
        if properties.get("StateMachineRevisionId"):
            params["revisionId"] = properties["StateMachineRevisionId"]
        if properties.get("Description"):
            params["description"] = properties["Description"]
        published = await ctx.call("stepfunctions", "PublishStateMachineVersion", params)
        arn = published["stateMachineVersionArn"]
        return Outcome(arn, arn, {"Arn": arn})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        try:
            await ctx.call("stepfunctions", "DeleteStateMachineVersion",
                           {"stateMachineVersionArn": physical_id})  # fmt: skip
        except ResourceFailed as e:
            if not not_found(e):
                raise


def _routing(properties: dict) -> list[dict]:
    """The alias's routing: RoutingConfiguration, or where a DeploymentPreference ends.
    Gradual (CANARY, LINEAR) deployments are not run by sandlot: refused."""
    preference = properties.get("DeploymentPreference")
    if preference:
        if preference.get("Type") != "ALL_AT_ONCE":
            raise ResourceFailed(
                f"DeploymentPreference Type {preference.get('Type')} is not supported by "
                "sandlot (ALL_AT_ONCE is) (HandlerErrorCode: InvalidRequest)"
            )
        return [{"stateMachineVersionArn": preference["StateMachineVersionArn"], "weight": 100}]
    return [{"stateMachineVersionArn": r["StateMachineVersionArn"], "weight": int(r["Weight"])}
            for r in properties.get("RoutingConfiguration") or []]  # fmt: skip


class StateMachineAlias(ResourceType):
    type_name = "AWS::StepFunctions::StateMachineAlias"
    name_property = "Name"
    name_length = 80

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"name": name, "routingConfiguration": _routing(properties)}
        if properties.get("Description"):
            params["description"] = properties["Description"]
        created = await ctx.call("stepfunctions", "CreateStateMachineAlias", params)
        arn = created["stateMachineAliasArn"]
        return Outcome(arn, arn, {"Arn": arn})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        params = {"stateMachineAliasArn": current.physical_id,
                  "routingConfiguration": _routing(properties),
                  "description": properties.get("Description") or ""}  # fmt: skip
        await ctx.call("stepfunctions", "UpdateStateMachineAlias", params)
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        if not physical_id.startswith("arn:"):  # only the planned name is known
            return
        try:
            await ctx.call("stepfunctions", "DeleteStateMachineAlias",
                           {"stateMachineAliasArn": physical_id})  # fmt: skip
        except ResourceFailed as e:
            if not not_found(e):
                raise
