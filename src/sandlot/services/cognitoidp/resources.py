"""CloudFormation resource types of Cognito user pools:

- ``AWS::Cognito::UserPool`` (Ref: the pool id; GetAtt Arn, ProviderName, ProviderURL,
  UserPoolId),
- ``AWS::Cognito::UserPoolClient`` (Ref: the client id; GetAtt ClientId, ClientSecret,
  Name),
- ``AWS::Cognito::UserPoolGroup`` (Ref: the group name).

The template's properties are the API's members (``UserPoolName`` is ``PoolName``); a
property the API does not take fails the resource rather than being dropped.
"""

from __future__ import annotations

from sandlot.protocol.models import service_model
from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
)


def _members(operation: str) -> frozenset[str]:
    return frozenset(service_model("cognito-idp").operation_model(operation).input_shape.members)


def _params(type_name: str, operation: str, properties: dict, skip=()) -> dict:
    members = _members(operation)
    params = {}
    for name, value in properties.items():
        if name in skip:
            continue
        if name not in members:
            raise ResourceFailed(f"Property {name} of {type_name} is not supported by sandlot")
        params[name] = value
    return params


class UserPool(ResourceType):
    type_name = "AWS::Cognito::UserPool"
    name_property = "UserPoolName"
    name_length = 128
    # Changing these needs a new pool in AWS (replacement); refused here.
    _FIXED = ("UserPoolName", "Schema", "UsernameAttributes", "AliasAttributes")

    def _outcome(self, ctx: ResourceContext, pool_id: str) -> Outcome:
        provider = f"cognito-idp.{ctx.region}.amazonaws.com/{pool_id}"
        return Outcome(pool_id, pool_id, {
            "Arn": f"arn:aws:cognito-idp:{ctx.region}:{ctx.account_id}:userpool/{pool_id}",
            "ProviderName": provider, "ProviderURL": f"https://{provider}", "UserPoolId": pool_id})  # fmt: skip

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = _params(self.type_name, "CreateUserPool", properties, skip=("UserPoolName",))
        params["PoolName"] = name
        tags = {t["Key"]: t["Value"] for t in ctx.tags({"Tags": properties.get("UserPoolTags")})}
        if tags:
            params["UserPoolTags"] = tags
        pool = (await ctx.call("cognito-idp", "CreateUserPool", params))["UserPool"]
        return self._outcome(ctx, pool["Id"])

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        for name in self._FIXED:
            if properties.get(name) != previous.get(name):
                raise ResourceFailed(f"Changing {name} of {self.type_name} needs a new user "
                                     "pool, which sandlot does not do in place")  # fmt: skip
        params = _params(self.type_name, "UpdateUserPool",
                         {k: v for k, v in properties.items() if k not in self._FIXED})  # fmt: skip
        await ctx.call(
            "cognito-idp", "UpdateUserPool", {**params, "UserPoolId": current.physical_id}
        )
        return self._outcome(ctx, current.physical_id)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("cognito-idp", "DeleteUserPool", {"UserPoolId": physical_id})


class UserPoolClient(ResourceType):
    type_name = "AWS::Cognito::UserPoolClient"

    @staticmethod
    def _outcome(client: dict) -> Outcome:
        attributes = {"ClientId": client["ClientId"], "Name": client["ClientName"]}
        if client.get("ClientSecret"):
            attributes["ClientSecret"] = client["ClientSecret"]
        return Outcome(client["ClientId"], client["ClientId"], attributes)

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = _params(self.type_name, "CreateUserPoolClient", properties)
        params.setdefault("ClientName", ctx.generated_name(128))
        client = (await ctx.call("cognito-idp", "CreateUserPoolClient", params))["UserPoolClient"]
        return self._outcome(client)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        if properties.get("UserPoolId") != previous.get("UserPoolId") or properties.get(
            "GenerateSecret"
        ) != previous.get("GenerateSecret"):
            raise ResourceFailed(f"Changing UserPoolId or GenerateSecret of {self.type_name} "
                                 "needs a new client, which sandlot does not do in place")  # fmt: skip
        params = _params(self.type_name, "UpdateUserPoolClient", properties,
                         skip=("GenerateSecret",))  # fmt: skip
        params["ClientId"] = current.physical_id
        client = (await ctx.call("cognito-idp", "UpdateUserPoolClient", params))["UserPoolClient"]
        return self._outcome(client)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("cognito-idp", "DeleteUserPoolClient",
                       {"UserPoolId": properties["UserPoolId"], "ClientId": physical_id})  # fmt: skip


class UserPoolGroup(ResourceType):
    type_name = "AWS::Cognito::UserPoolGroup"
    name_property = "GroupName"
    name_length = 128

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = _params(self.type_name, "CreateGroup", {**properties, "GroupName": name})
        await ctx.call("cognito-idp", "CreateGroup", params)
        return Outcome(name, name)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        params = _params(self.type_name, "UpdateGroup",
                         {**properties, "GroupName": current.physical_id})  # fmt: skip
        await ctx.call("cognito-idp", "UpdateGroup", params)
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("cognito-idp", "DeleteGroup",
                       {"UserPoolId": properties["UserPoolId"], "GroupName": physical_id})  # fmt: skip
