"""CloudFormation resource types of HTTP APIs' custom domains (``domains.py``):
``AWS::ApiGatewayV2::DomainName`` (Ref: the name; GetAtt RegionalDomainName, the name
to point DNS at) and ``AWS::ApiGatewayV2::ApiMapping`` (Ref: the mapping id)."""

from __future__ import annotations

from sandlot.services.cloudformation.handlers import Outcome, ResourceContext, ResourceType


class DomainName(ResourceType):
    type_name = "AWS::ApiGatewayV2::DomainName"
    extra_attributes = frozenset({"RegionalDomainName", "RegionalHostedZoneId", "DomainNameArn"})

    @staticmethod
    def _outcome(domain: dict) -> Outcome:
        config = (domain.get("DomainNameConfigurations") or [{}])[0]
        attributes = {
            "RegionalDomainName": config.get("ApiGatewayDomainName"),
            "DomainNameArn": domain.get("DomainNameArn"),
        }
        if config.get("HostedZoneId"):
            attributes["RegionalHostedZoneId"] = config["HostedZoneId"]
        return Outcome(domain["DomainName"], domain["DomainName"], attributes)

    @staticmethod
    def _params(properties: dict) -> dict:
        params = {
            k: properties[k]
            for k in ("DomainNameConfigurations", "MutualTlsAuthentication", "RoutingMode")
            if properties.get(k) is not None
        }
        return params

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"DomainName": properties["DomainName"], **self._params(properties)}
        tags = {t["Key"]: t["Value"] for t in ctx.tags(properties)}
        if tags:
            params["Tags"] = tags
        return self._outcome(await ctx.call("apigatewayv2", "CreateDomainName", params))

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        params = {"DomainName": current.physical_id, **self._params(properties)}
        if previous.get("MutualTlsAuthentication") and not properties.get(
            "MutualTlsAuthentication"
        ):
            params["MutualTlsAuthentication"] = {"TruststoreUri": ""}  # turns mutual TLS off
        return self._outcome(await ctx.call("apigatewayv2", "UpdateDomainName", params))

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("apigatewayv2", "DeleteDomainName", {"DomainName": physical_id})


class ApiMapping(ResourceType):
    type_name = "AWS::ApiGatewayV2::ApiMapping"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {k: properties[k] for k in ("DomainName", "ApiId", "Stage")}
        if properties.get("ApiMappingKey"):
            params["ApiMappingKey"] = properties["ApiMappingKey"]
        created = await ctx.call("apigatewayv2", "CreateApiMapping", params)
        mapping_id = created["ApiMappingId"]
        return Outcome(mapping_id, mapping_id, {"ApiMappingId": mapping_id})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        params = {"ApiMappingId": current.physical_id, "DomainName": properties["DomainName"],
                  "ApiId": properties["ApiId"], "Stage": properties["Stage"],
                  "ApiMappingKey": properties.get("ApiMappingKey") or ""}  # fmt: skip
        await ctx.call("apigatewayv2", "UpdateApiMapping", params)
        return Outcome(current.physical_id, current.physical_id, current.attributes)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call(
            "apigatewayv2",
            "DeleteApiMapping",
            {"DomainName": properties["DomainName"], "ApiMappingId": physical_id},
        )
