"""CloudFormation resource types of REST APIs, each through the REST API operations:
``AWS::ApiGateway::RestApi`` (``Body``, or ``BodyS3Location`` read from S3 as the stack's principal:
ImportRestApi/PutRestApi, as SAM's ``Api`` writes it; Ref the id, GetAtt ``RootResourceId``), ``Resource``, ``Method`` (with its
``Integration`` and responses), ``Deployment``, ``Stage``, ``Authorizer``, ``ApiKey``,
``UsagePlan``, ``UsagePlanKey``, ``Model``, ``RequestValidator`` and ``GatewayResponse``."""

from __future__ import annotations

import contextlib
import json
import uuid

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    as_json,
)

SERVICE = "apigateway"


def _lower(name: str) -> str:
    """A template property's API name (``AuthorizerUri`` → ``authorizerUri``)."""
    return name[0].lower() + name[1:]


def _replace(fields: dict, previous: dict, names: tuple[str, ...]) -> list[dict]:
    """Patch operations for the properties that changed (removed ones: replaced by "")."""
    operations = []
    for name in names:
        if fields.get(name) != previous.get(name):
            value = fields.get(name)
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, list):
                value = ",".join(map(str, value))
            elif isinstance(value, dict):
                value = json.dumps(value)
            operations.append({"op": "replace", "path": "/" + _lower(name),
                               "value": "" if value is None else str(value)})  # fmt: skip
    return operations


class RestApi(ResourceType):
    type_name = "AWS::ApiGateway::RestApi"
    extra_attributes = frozenset({"RootResourceId", "RestApiId"})
    _PATCHED = ("Description", "ApiKeySourceType", "Policy", "DisableExecuteApiEndpoint")

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        body = await _definition(ctx, properties)
        if body is not None:
            api = await ctx.call(SERVICE, "ImportRestApi", {
                "body": body,
                "failOnWarnings": bool(properties.get("FailOnWarnings"))})  # fmt: skip
        else:
            if not properties.get("Name"):
                raise ResourceFailed("Properties validation failed: Name is required without Body")
            params = {"name": properties["Name"]}
            for key in ("Description", "BinaryMediaTypes", "EndpointConfiguration"):
                if properties.get(key) is not None:
                    params[_lower(key)] = properties[key]
            tags = {t["Key"]: t["Value"] for t in ctx.tags(properties)}
            if tags:
                params["tags"] = tags
            api = await ctx.call(SERVICE, "CreateRestApi", params)
        operations = _replace(self._fields(properties), {}, ("Name", *self._PATCHED))
        if body is None:
            operations = [o for o in operations if o["path"] not in ("/name", "/description")]
        await self._patch(ctx, api["id"], [o for o in operations if o["value"]])
        return Outcome(api["id"], api["id"],
                       {"RootResourceId": api["rootResourceId"], "RestApiId": api["id"]})  # fmt: skip

    @staticmethod
    def _fields(properties: dict) -> dict:
        fields = dict(properties)
        if "ApiKeySourceType" in fields:
            fields["ApiKeySource"] = fields.pop("ApiKeySourceType")
        if isinstance(fields.get("Policy"), dict):
            fields["Policy"] = as_json(fields["Policy"])
        return fields

    async def _patch(self, ctx: ResourceContext, api_id: str, operations: list[dict]) -> None:
        for operation in operations:
            if operation["path"] == "/apiKeySourceType":
                operation["path"] = "/apiKeySource"
        if operations:
            await ctx.call(SERVICE, "UpdateRestApi",
                           {"restApiId": api_id, "patchOperations": operations})  # fmt: skip

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        changed = any(properties.get(k) != previous.get(k) for k in ("Body", "BodyS3Location"))
        body = await _definition(ctx, properties) if changed else None
        if body is not None:
            await ctx.call(SERVICE, "PutRestApi", {"restApiId": current.physical_id,
                                                   "mode": properties.get("Mode") or "overwrite",
                                                   "body": body})  # fmt: skip
        operations = _replace(self._fields(properties), self._fields(previous),
                              ("Name", *self._PATCHED))  # fmt: skip
        await self._patch(ctx, current.physical_id, operations)
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteRestApi", {"restApiId": physical_id})


async def _definition(ctx: ResourceContext, properties: dict) -> bytes | None:
    """The OpenAPI definition: ``Body`` (an object or text), else the S3 object
    ``BodyS3Location`` names (what SAM's ``DefinitionUri`` becomes); None for neither."""
    if properties.get("Body") is not None:
        body = properties["Body"]
        return (body if isinstance(body, str) else json.dumps(body)).encode()
    if properties.get("BodyS3Location"):
        return await ctx.s3_object(properties["BodyS3Location"])
    return None


class Resource(ResourceType):
    type_name = "AWS::ApiGateway::Resource"
    extra_attributes = frozenset({"ResourceId"})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        created = await ctx.call(SERVICE, "CreateResource", {
            "restApiId": properties["RestApiId"], "parentId": properties["ParentId"],
            "pathPart": properties["PathPart"]})  # fmt: skip
        return Outcome(created["id"], created["id"], {"ResourceId": created["id"]})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return current  # every property is create-only: a change replaces the resource

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteResource",
                       {"restApiId": properties["RestApiId"], "resourceId": physical_id})  # fmt: skip


class Method(ResourceType):
    type_name = "AWS::ApiGateway::Method"
    _FIELDS = ("AuthorizationType", "AuthorizerId", "ApiKeyRequired", "AuthorizationScopes",
               "OperationName", "RequestParameters", "RequestModels", "RequestValidatorId")  # fmt: skip
    _INTEGRATION = ("Type", "IntegrationHttpMethod", "Uri", "Credentials", "RequestTemplates",
                    "RequestParameters", "PassthroughBehavior", "TimeoutInMillis",
                    "CacheKeyParameters", "CacheNamespace", "ContentHandling",
                    "ConnectionType", "ConnectionId")  # fmt: skip

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        key = {"restApiId": properties["RestApiId"], "resourceId": properties["ResourceId"],
               "httpMethod": properties["HttpMethod"]}  # fmt: skip
        params = {**key, "authorizationType": properties.get("AuthorizationType") or "NONE"}
        params.update((_lower(f), properties[f]) for f in self._FIELDS[1:] if f in properties)
        await ctx.call(SERVICE, "PutMethod", params)
        try:
            await self._put_parts(ctx, key, properties)
        except ResourceFailed:
            # A half-put method (e.g. a refused mapping template) is not left behind.
            await ctx.call(SERVICE, "DeleteMethod", key)
            raise
        physical = (
            f"{properties['RestApiId']}|{properties['ResourceId']}|{properties['HttpMethod']}"
        )
        return Outcome(physical, physical)

    async def _put_parts(self, ctx: ResourceContext, key: dict, properties: dict) -> None:
        """The method's responses, integration and integration responses."""
        for response in properties.get("MethodResponses") or []:
            await ctx.call(SERVICE, "PutMethodResponse", {**key, **{
                _lower(k): v for k, v in response.items()}, "statusCode": str(response["StatusCode"])})  # fmt: skip
        integration = properties.get("Integration")
        if integration:
            await ctx.call(SERVICE, "PutIntegration", {**key, **{
                _lower(k): integration[k] for k in self._INTEGRATION if k in integration}})  # fmt: skip
            for response in integration.get("IntegrationResponses") or []:
                await ctx.call(SERVICE, "PutIntegrationResponse", {**key, **{
                    _lower(k): v for k, v in response.items()},
                    "statusCode": str(response["StatusCode"])})  # fmt: skip

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        """A method is put whole: the old one is deleted, the new one put."""
        await self.delete(ctx, current.physical_id, previous)
        return await self.create(ctx, properties, None)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        api_id, resource_id, verb = physical_id.split("|")
        await ctx.call(SERVICE, "DeleteMethod",
                       {"restApiId": api_id, "resourceId": resource_id, "httpMethod": verb})  # fmt: skip


class Deployment(ResourceType):
    type_name = "AWS::ApiGateway::Deployment"
    extra_attributes = frozenset({"DeploymentId"})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"restApiId": properties["RestApiId"]}
        if properties.get("Description"):
            params["description"] = properties["Description"]
        if properties.get("StageName"):
            params["stageName"] = properties["StageName"]
            variables = (properties.get("StageDescription") or {}).get("Variables")
            if variables:
                params["variables"] = variables
        created = await ctx.call(SERVICE, "CreateDeployment", params)
        return Outcome(created["id"], created["id"], {"DeploymentId": created["id"]})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return await self.create(ctx, properties, None)  # a new deployment, as AWS makes

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        api_id = properties["RestApiId"]
        stage = properties.get("StageName")
        if stage:  # the stage this deployment created goes with it
            with contextlib.suppress(ResourceFailed):  # already gone with another resource
                await ctx.call(SERVICE, "DeleteStage", {"restApiId": api_id, "stageName": stage})
        await ctx.call(SERVICE, "DeleteDeployment",
                       {"restApiId": api_id, "deploymentId": physical_id})  # fmt: skip


class Stage(ResourceType):
    type_name = "AWS::ApiGateway::Stage"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"restApiId": properties["RestApiId"], "stageName": properties["StageName"],
                  "deploymentId": properties["DeploymentId"]}  # fmt: skip
        for key in ("Description", "Variables", "TracingEnabled"):
            if properties.get(key) is not None:
                params[_lower(key)] = properties[key]
        tags = {t["Key"]: t["Value"] for t in ctx.tags(properties)}
        if tags:
            params["tags"] = tags
        await ctx.call(SERVICE, "CreateStage", params)
        return Outcome(properties["StageName"], properties["StageName"])

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        operations = _replace(properties, previous, ("DeploymentId", "Description"))
        if bool(properties.get("TracingEnabled")) != bool(previous.get("TracingEnabled")):
            operations.append({"op": "replace", "path": "/tracingEnabled",
                               "value": "true" if properties.get("TracingEnabled") else "false"})  # fmt: skip
        old, new = previous.get("Variables") or {}, properties.get("Variables") or {}
        for key in old.keys() - new.keys():
            operations.append({"op": "remove", "path": f"/variables/{key}"})
        for key, value in new.items():
            if old.get(key) != value:
                operations.append({"op": "replace", "path": f"/variables/{key}", "value": value})
        if operations:
            await ctx.call(SERVICE, "UpdateStage", {
                "restApiId": properties["RestApiId"], "stageName": current.physical_id,
                "patchOperations": operations})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteStage",
                       {"restApiId": properties["RestApiId"], "stageName": physical_id})  # fmt: skip


class Authorizer(ResourceType):
    type_name = "AWS::ApiGateway::Authorizer"
    extra_attributes = frozenset({"AuthorizerId"})
    _FIELDS = ("Name", "Type", "AuthorizerUri", "AuthorizerCredentials", "IdentitySource",
               "IdentityValidationExpression", "AuthorizerResultTtlInSeconds",
               "ProviderARNs", "AuthType")  # fmt: skip

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"restApiId": properties["RestApiId"]}
        params.update((_lower(f) if f != "ProviderARNs" else "providerARNs", properties[f])
                      for f in self._FIELDS if properties.get(f) is not None)  # fmt: skip
        params.setdefault("name", ctx.logical_id)
        created = await ctx.call(SERVICE, "CreateAuthorizer", params)
        return Outcome(created["id"], created["id"], {"AuthorizerId": created["id"]})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        operations = _replace(properties, previous, self._FIELDS)
        if operations:
            await ctx.call(SERVICE, "UpdateAuthorizer", {
                "restApiId": properties["RestApiId"], "authorizerId": current.physical_id,
                "patchOperations": operations})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteAuthorizer",
                       {"restApiId": properties["RestApiId"], "authorizerId": physical_id})  # fmt: skip


class ApiKey(ResourceType):
    type_name = "AWS::ApiGateway::ApiKey"
    extra_attributes = frozenset({"APIKeyId"})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"name": properties.get("Name") or ctx.generated_name(128),
                  "enabled": bool(properties.get("Enabled", False))}  # fmt: skip
        for key in ("Description", "Value", "CustomerId", "GenerateDistinctId"):
            if properties.get(key) is not None:
                params[_lower(key)] = properties[key]
        stage_keys = properties.get("StageKeys") or []
        if stage_keys:
            params["stageKeys"] = [{"restApiId": s["RestApiId"], "stageName": s["StageName"]}
                                   for s in stage_keys]  # fmt: skip
        created = await ctx.call(SERVICE, "CreateApiKey", params)
        return Outcome(created["id"], created["id"], {"APIKeyId": created["id"]})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        operations = _replace(properties, previous, ("Description", "Enabled", "CustomerId"))
        if operations:
            await ctx.call(SERVICE, "UpdateApiKey",
                           {"apiKey": current.physical_id, "patchOperations": operations})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteApiKey", {"apiKey": physical_id})


class UsagePlan(ResourceType):
    type_name = "AWS::ApiGateway::UsagePlan"

    @staticmethod
    def _params(properties: dict) -> dict:
        params: dict = {}
        throttle = properties.get("Throttle")
        if throttle:
            params["throttle"] = {_lower(k): v for k, v in throttle.items()}
        quota = properties.get("Quota")
        if quota:
            params["quota"] = {_lower(k): v for k, v in quota.items()}
        params["apiStages"] = [
            {"apiId": s["ApiId"], "stage": s["Stage"],
             **({"throttle": {path: {_lower(k): v for k, v in t.items()}
                              for path, t in s["Throttle"].items()}} if s.get("Throttle") else {})}
            for s in properties.get("ApiStages") or []
        ]  # fmt: skip
        return params

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"name": properties.get("UsagePlanName") or ctx.generated_name(128),
                  **self._params(properties)}  # fmt: skip
        if properties.get("Description"):
            params["description"] = properties["Description"]
        created = await ctx.call(SERVICE, "CreateUsagePlan", params)
        return Outcome(created["id"], created["id"])

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        new, old = self._params(properties), self._params(previous)
        operations = []
        for group in ("throttle", "quota"):
            for key, value in (new.get(group) or {}).items():
                if (old.get(group) or {}).get(key) != value:
                    operations.append({"op": "replace", "path": f"/{group}/{key}",
                                       "value": str(value)})  # fmt: skip
        stages = lambda p: {(s["apiId"], s["stage"]) for s in p["apiStages"]}  # noqa: E731
        for api_id, stage in stages(new) - stages(old):
            operations.append({"op": "add", "path": "/apiStages", "value": f"{api_id}:{stage}"})
        for api_id, stage in stages(old) - stages(new):
            operations.append({"op": "remove", "path": "/apiStages", "value": f"{api_id}:{stage}"})
        operations += _replace(properties, previous, ("Description",))
        if operations:
            await ctx.call(SERVICE, "UpdateUsagePlan",
                           {"usagePlanId": current.physical_id, "patchOperations": operations})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteUsagePlan", {"usagePlanId": physical_id})


class UsagePlanKey(ResourceType):
    type_name = "AWS::ApiGateway::UsagePlanKey"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        await ctx.call(SERVICE, "CreateUsagePlanKey", {
            "usagePlanId": properties["UsagePlanId"], "keyId": properties["KeyId"],
            "keyType": properties.get("KeyType") or "API_KEY"})  # fmt: skip
        physical = f"{properties['KeyId']}:{properties['UsagePlanId']}"
        return Outcome(physical, physical)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return current  # every property is create-only: a change replaces the resource

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        key_id, _, plan_id = physical_id.partition(":")
        await ctx.call(SERVICE, "DeleteUsagePlanKey", {"usagePlanId": plan_id, "keyId": key_id})


class Model(ResourceType):
    """Ref: the model's name (generated from the logical id when the template names none)."""

    type_name = "AWS::ApiGateway::Model"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        schema = properties.get("Schema")
        params = {"restApiId": properties["RestApiId"],
                  "name": properties.get("Name") or _alphanumeric(ctx.logical_id),
                  "contentType": properties.get("ContentType") or "application/json"}  # fmt: skip
        if schema is not None:
            params["schema"] = schema if isinstance(schema, str) else json.dumps(schema)
        if properties.get("Description"):
            params["description"] = properties["Description"]
        created = await ctx.call(SERVICE, "CreateModel", params)
        return Outcome(created["name"], created["name"])

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        fields = dict(properties)
        if fields.get("Schema") is not None and not isinstance(fields["Schema"], str):
            fields["Schema"] = json.dumps(fields["Schema"])
        if previous.get("Schema") is not None and not isinstance(previous["Schema"], str):
            previous = {**previous, "Schema": json.dumps(previous["Schema"])}
        operations = _replace(fields, previous, ("Schema", "Description"))
        if operations:
            await ctx.call(SERVICE, "UpdateModel", {
                "restApiId": properties["RestApiId"], "modelName": current.physical_id,
                "patchOperations": operations})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteModel",
                       {"restApiId": properties["RestApiId"], "modelName": physical_id})  # fmt: skip


def _alphanumeric(logical_id: str) -> str:
    return "".join(c for c in logical_id if c.isalnum()) + uuid.uuid4().hex[:8]


class RequestValidator(ResourceType):
    type_name = "AWS::ApiGateway::RequestValidator"
    extra_attributes = frozenset({"RequestValidatorId"})
    _FIELDS = ("Name", "ValidateRequestBody", "ValidateRequestParameters")

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"restApiId": properties["RestApiId"], "name": properties.get("Name") or ""}
        for field in self._FIELDS[1:]:
            params[_lower(field)] = str(properties.get(field, False)).lower() == "true"
        created = await ctx.call(SERVICE, "CreateRequestValidator", params)
        return Outcome(created["id"], created["id"], {"RequestValidatorId": created["id"]})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        operations = _replace(properties, previous, self._FIELDS)
        if operations:
            await ctx.call(SERVICE, "UpdateRequestValidator", {
                "restApiId": properties["RestApiId"], "requestValidatorId": current.physical_id,
                "patchOperations": operations})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(SERVICE, "DeleteRequestValidator", {
            "restApiId": properties["RestApiId"], "requestValidatorId": physical_id})  # fmt: skip


class GatewayResponse(ResourceType):
    """Ref: an id of sandlot's (AWS's is opaque too); put whole on update."""

    type_name = "AWS::ApiGateway::GatewayResponse"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"restApiId": properties["RestApiId"],
                  "responseType": properties["ResponseType"]}  # fmt: skip
        for field in ("StatusCode", "ResponseParameters", "ResponseTemplates"):
            if properties.get(field) is not None:
                params[_lower(field)] = properties[field]
        await ctx.call(SERVICE, "PutGatewayResponse", params)
        physical = f"{properties['RestApiId']}|{properties['ResponseType']}"
        return Outcome(physical, physical)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        if properties["ResponseType"] != previous.get("ResponseType"):
            await self.delete(ctx, current.physical_id, previous)
        return await self.create(ctx, properties, None)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        api_id, _, kind = physical_id.partition("|")
        with contextlib.suppress(ResourceFailed):  # gone with its API already
            await ctx.call(SERVICE, "DeleteGatewayResponse",
                           {"restApiId": api_id, "responseType": kind})  # fmt: skip
