"""CloudFormation resource types of Parameter Store: ``AWS::SSM::Parameter`` (Ref: the
name; GetAtt Type and Value)."""

from __future__ import annotations

from sandlot.services.cloudformation.handlers import Outcome, ResourceContext, ResourceType

_COPIED = ("Type", "Value", "Description", "AllowedPattern", "Tier", "DataType", "Policies")


class Parameter(ResourceType):
    type_name = "AWS::SSM::Parameter"
    name_property = "Name"
    name_length = 2048
    extra_attributes = frozenset({"Type", "Value"})

    def planned_name(self, ctx: ResourceContext, properties: dict) -> str | None:
        # AWS's generated parameter names: CFN-<logical>-<random>.
        return properties.get("Name") or f"CFN-{ctx.logical_id}-" + ctx.generated_name(40)[-12:]

    async def _put(
        self, ctx: ResourceContext, name: str, properties: dict, overwrite: bool
    ) -> Outcome:
        params = {"Name": name, **{k: properties[k] for k in _COPIED if k in properties}}
        if overwrite:
            params["Overwrite"] = True
        else:
            tags = properties.get("Tags") or {}
            params["Tags"] = [{"Key": k, "Value": str(v)} for k, v in tags.items()]
        await ctx.call("ssm", "PutParameter", params)
        return Outcome(
            name, name, {"Type": properties.get("Type"), "Value": properties.get("Value")}
        )

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        return await self._put(ctx, name, properties, overwrite=False)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return await self._put(ctx, current.physical_id, properties, overwrite=True)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("ssm", "DeleteParameter", {"Name": physical_id})
