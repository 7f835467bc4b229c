"""CloudFormation resource types of HTTP APIs, each through the apigatewayv2 operations:
``AWS::ApiGatewayV2::Api`` (``Body`` or ``BodyS3Location``: ImportApi/ReimportApi, as SAM's
``HttpApi`` writes it with its ``Auth`` or ``DefinitionUri``; or ``Name``/``ProtocolType``/``Target`` quick create; Ref the id,
GetAtt ``ApiEndpoint``), ``Stage``, ``Integration``, ``Route``, ``Authorizer``, and for
WebSocket APIs ``RouteResponse`` and ``Deployment``.
(Custom domains' types live in ``stack_resources.py``.)"""

from __future__ import annotations

import json

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceType,
)

SERVICE = "apigatewayv2"


async def _definition(ctx: ResourceContext, properties: dict) -> str | None:
    """The OpenAPI definition: ``Body`` (an object or text), else the S3 object
    ``BodyS3Location`` names; None for neither."""
    if properties.get("Body") is not None:
        body = properties["Body"]
        return body if isinstance(body, str) else json.dumps(body)
    if properties.get("BodyS3Location"):
        return (await ctx.s3_object(properties["BodyS3Location"])).decode()
    return None


def _pick(properties: dict, names: tuple[str, ...]) -> dict:
    return {n: properties[n] for n in names if properties.get(n) is not None}


class Api(ResourceType):
    type_name = "AWS::ApiGatewayV2::Api"
    extra_attributes = frozenset({"ApiEndpoint", "ApiId"})
    _FIELDS = ("Name", "ProtocolType", "Description", "Version", "CorsConfiguration",
               "DisableExecuteApiEndpoint", "RouteSelectionExpression", "Target", "RouteKey",
               "ApiKeySelectionExpression")  # fmt: skip

    @staticmethod
    def _outcome(api: dict) -> Outcome:
        return Outcome(api["ApiId"], api["ApiId"],
                       {"ApiEndpoint": api.get("ApiEndpoint"), "ApiId": api["ApiId"]})  # fmt: skip

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        body = await _definition(ctx, properties)
        if body is not None:
            api = await ctx.call(SERVICE, "ImportApi", {
                "Body": body,
                "FailOnWarnings": bool(properties.get("FailOnWarnings"))})  # fmt: skip
            if properties.get("Name"):
                api = await ctx.call(SERVICE, "UpdateApi",
                                     {"ApiId": api["ApiId"], "Name": properties["Name"]})  # fmt: skip
            return self._outcome(api)
        params = _pick(properties, self._FIELDS)
        tags = {t["Key"]: t["Value"] for t in ctx.tags(properties)}
        if tags:
            params["Tags"] = tags
        return self._outcome(await ctx.call(SERVICE, "CreateApi", params))

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        changed = any(properties.get(k) != previous.get(k) for k in ("Body", "BodyS3Location"))
        body = await _definition(ctx, properties) if changed else None
        if body is not None:
            await ctx.call(SERVICE, "ReimportApi", {"ApiId": current.physical_id, "Body": body})
        params = _pick(properties, ("Name", "Description", "Version", "CorsConfiguration",
                                    "DisableExecuteApiEndpoint"))  # fmt: skip
        api = await ctx.call(SERVICE, "UpdateApi", {"ApiId": current.physical_id, **params})
        return self._outcome(api)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteApi", {"ApiId": physical_id})


class Stage(ResourceType):
    type_name = "AWS::ApiGatewayV2::Stage"
    _FIELDS = ("AutoDeploy", "DeploymentId", "Description", "StageVariables",
               "DefaultRouteSettings", "RouteSettings")  # fmt: skip

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"ApiId": properties["ApiId"], "StageName": properties["StageName"],
                  **_pick(properties, self._FIELDS)}  # fmt: skip
        created = await ctx.call(SERVICE, "CreateStage", params)
        return Outcome(created["StageName"], created["StageName"])

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        await ctx.call(SERVICE, "UpdateStage", {"ApiId": properties["ApiId"],
                                                "StageName": current.physical_id,
                                                **_pick(properties, self._FIELDS)})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteStage",
                       {"ApiId": properties["ApiId"], "StageName": physical_id})  # fmt: skip


class Integration(ResourceType):
    type_name = "AWS::ApiGatewayV2::Integration"
    extra_attributes = frozenset({"IntegrationId"})
    _FIELDS = ("IntegrationType", "IntegrationUri", "IntegrationMethod", "PayloadFormatVersion",
               "TimeoutInMillis", "Description", "RequestParameters", "CredentialsArn")  # fmt: skip

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        created = await ctx.call(SERVICE, "CreateIntegration", {
            "ApiId": properties["ApiId"], **_pick(properties, self._FIELDS)})  # fmt: skip
        found = created["IntegrationId"]
        return Outcome(found, found, {"IntegrationId": found})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        await ctx.call(SERVICE, "UpdateIntegration", {
            "ApiId": properties["ApiId"], "IntegrationId": current.physical_id,
            **_pick(properties, self._FIELDS)})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteIntegration",
                       {"ApiId": properties["ApiId"], "IntegrationId": physical_id})  # fmt: skip


class Route(ResourceType):
    type_name = "AWS::ApiGatewayV2::Route"
    extra_attributes = frozenset({"RouteId"})
    _FIELDS = ("RouteKey", "Target", "AuthorizationType", "AuthorizerId", "AuthorizationScopes",
               "ApiKeyRequired", "OperationName", "RequestParameters",
               "RouteResponseSelectionExpression", "ModelSelectionExpression")  # fmt: skip

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        created = await ctx.call(SERVICE, "CreateRoute", {
            "ApiId": properties["ApiId"], **_pick(properties, self._FIELDS)})  # fmt: skip
        return Outcome(created["RouteId"], created["RouteId"], {"RouteId": created["RouteId"]})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        params = _pick(properties, self._FIELDS)
        params.setdefault("AuthorizationType", "NONE")
        await ctx.call(SERVICE, "UpdateRoute",
                       {"ApiId": properties["ApiId"], "RouteId": current.physical_id, **params})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteRoute",
                       {"ApiId": properties["ApiId"], "RouteId": physical_id})  # fmt: skip


class Authorizer(ResourceType):
    type_name = "AWS::ApiGatewayV2::Authorizer"
    extra_attributes = frozenset({"AuthorizerId"})
    _FIELDS = ("Name", "AuthorizerType", "AuthorizerUri", "AuthorizerCredentialsArn",
               "AuthorizerPayloadFormatVersion", "AuthorizerResultTtlInSeconds",
               "EnableSimpleResponses", "IdentitySource", "IdentityValidationExpression",
               "JwtConfiguration")  # fmt: skip

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        created = await ctx.call(SERVICE, "CreateAuthorizer", {
            "ApiId": properties["ApiId"], **_pick(properties, self._FIELDS)})  # fmt: skip
        found = created["AuthorizerId"]
        return Outcome(found, found, {"AuthorizerId": found})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        await ctx.call(SERVICE, "UpdateAuthorizer", {
            "ApiId": properties["ApiId"], "AuthorizerId": current.physical_id,
            **_pick(properties, self._FIELDS)})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteAuthorizer",
                       {"ApiId": properties["ApiId"], "AuthorizerId": physical_id})  # fmt: skip


class RouteResponse(ResourceType):
    type_name = "AWS::ApiGatewayV2::RouteResponse"
    _FIELDS = ("RouteResponseKey", "ModelSelectionExpression", "ResponseModels",
               "ResponseParameters")  # fmt: skip

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        created = await ctx.call(SERVICE, "CreateRouteResponse", {
            "ApiId": properties["ApiId"], "RouteId": properties["RouteId"],
            **_pick(properties, self._FIELDS)})  # fmt: skip
        return Outcome(created["RouteResponseId"], created["RouteResponseId"])

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        await ctx.call(SERVICE, "UpdateRouteResponse", {
            "ApiId": properties["ApiId"], "RouteId": properties["RouteId"],
            "RouteResponseId": current.physical_id, **_pick(properties, self._FIELDS)})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteRouteResponse", {
            "ApiId": properties["ApiId"], "RouteId": properties["RouteId"],
            "RouteResponseId": physical_id})  # fmt: skip


class Deployment(ResourceType):
    """A deployment of the API as it is when the resource is created (templates make it
    depend on the routes); with ``StageName`` that stage serves it."""

    type_name = "AWS::ApiGatewayV2::Deployment"
    extra_attributes = frozenset({"DeploymentId"})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        created = await ctx.call(SERVICE, "CreateDeployment", {
            "ApiId": properties["ApiId"],
            **_pick(properties, ("Description", "StageName"))})  # fmt: skip
        found = created["DeploymentId"]
        return Outcome(found, found, {"DeploymentId": found})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return await self.create(ctx, properties, None)  # a new deployment, as AWS

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteDeployment",
                       {"ApiId": properties["ApiId"], "DeploymentId": physical_id})  # fmt: skip
