"""CloudFormation resource types of IAM: ``AWS::IAM::Role`` (Ref: the name; GetAtt Arn,
RoleId) with its inline ``Policies`` and ``ManagedPolicyArns``."""

from __future__ import annotations

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    as_json,
    not_found,
)


class Role(ResourceType):
    type_name = "AWS::IAM::Role"
    name_property = "RoleName"
    name_length = 64

    async def _outcome(self, ctx: ResourceContext, name: str) -> Outcome:
        role = (await ctx.call("iam", "GetRole", {"RoleName": name}))["Role"]
        return Outcome(name, name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {
            "RoleName": name,
            "AssumeRolePolicyDocument": as_json(properties.get("AssumeRolePolicyDocument", "")),
            "Path": properties.get("Path", "/"),
        }
        for key in ("Description", "MaxSessionDuration", "PermissionsBoundary"):
            if key in properties:
                params[key] = (
                    int(properties[key]) if key == "MaxSessionDuration" else properties[key]
                )
        own = properties.get("Tags")
        if own:
            params["Tags"] = [{"Key": t["Key"], "Value": str(t["Value"])} for t in own]
        await ctx.call("iam", "CreateRole", params)
        await self._policies(ctx, name, properties, {})
        return await self._outcome(ctx, name)

    async def _policies(
        self, ctx: ResourceContext, name: str, properties: dict, previous: dict
    ) -> None:
        old = set(previous.get("ManagedPolicyArns") or [])
        new = set(properties.get("ManagedPolicyArns") or [])
        for arn in sorted(new - old):
            await ctx.call("iam", "AttachRolePolicy", {"RoleName": name, "PolicyArn": arn})
        for arn in sorted(old - new):
            await ctx.call("iam", "DetachRolePolicy", {"RoleName": name, "PolicyArn": arn})
        old_inline = {p["PolicyName"]: p for p in previous.get("Policies") or []}
        new_inline = {p["PolicyName"]: p for p in properties.get("Policies") or []}
        for policy_name, policy in new_inline.items():
            if old_inline.get(policy_name) != policy:
                await ctx.call(
                    "iam", "PutRolePolicy",
                    {"RoleName": name, "PolicyName": policy_name, "PolicyDocument": as_json(policy["PolicyDocument"])},
                )  # fmt: skip
        for policy_name in old_inline.keys() - new_inline.keys():
            await ctx.call("iam", "DeleteRolePolicy", {"RoleName": name, "PolicyName": policy_name})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        name = current.physical_id
        if properties.get("AssumeRolePolicyDocument") != previous.get("AssumeRolePolicyDocument"):
            await ctx.call(
                "iam", "UpdateAssumeRolePolicy",
                {"RoleName": name, "PolicyDocument": as_json(properties["AssumeRolePolicyDocument"])},
            )  # fmt: skip
        changed = {
            k: properties[k]
            for k in ("Description", "MaxSessionDuration")
            if properties.get(k) != previous.get(k) and k in properties
        }
        if changed:
            if "MaxSessionDuration" in changed:
                changed["MaxSessionDuration"] = int(changed["MaxSessionDuration"])
            await ctx.call("iam", "UpdateRole", {"RoleName": name, **changed})
        await self._policies(ctx, name, properties, previous)
        return await self._outcome(ctx, name)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        try:
            attached = await ctx.call("iam", "ListAttachedRolePolicies", {"RoleName": physical_id})
        except ResourceFailed as e:
            if not_found(e):
                return
            raise
        for policy in attached.get("AttachedPolicies", []):
            await ctx.call(
                "iam",
                "DetachRolePolicy",
                {"RoleName": physical_id, "PolicyArn": policy["PolicyArn"]},
            )
        inline = await ctx.call("iam", "ListRolePolicies", {"RoleName": physical_id})
        for policy_name in inline.get("PolicyNames", []):
            await ctx.call(
                "iam", "DeleteRolePolicy", {"RoleName": physical_id, "PolicyName": policy_name}
            )
        await ctx.call("iam", "DeleteRole", {"RoleName": physical_id})
