"""REST APIs' custom domain names and base path mappings (``CreateDomainName``,
``CreateBasePathMapping``…): views of the HTTP APIs' provider's domain names and API
mappings (``services/apigatewayv2/domains.py``), as in AWS, where one domain name is
seen by both APIs and a base path mapping is an API mapping. Each operation calls
its apigatewayv2 counterpart through ``Platform.call`` as the caller and translates
the shapes (``basePath`` ``(none)`` is the empty ``ApiMappingKey``). Mutual TLS, the
certificate a domain presents and serving mapped requests are the HTTP APIs' side's.

``UpdateDomainName`` and ``UpdateBasePathMapping`` (JSON patch operations) are not
served yet: they answer 501.
"""

from __future__ import annotations

from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext

_NONE = "(none)"  # REST's name for the empty base path


class RestDomainOperations:
    platform: Any

    async def _v2(self, ctx: RequestContext, operation: str, params: dict) -> dict:
        return await self.platform.call(
            "apigatewayv2", operation, params, principal=ctx.principal, region=ctx.region
        )

    # == domain names ======================================================================

    async def create_domain_name(self, ctx: RequestContext, params: dict) -> dict:
        types = (params.get("endpointConfiguration") or {}).get("types") or ["EDGE"]
        configuration: dict[str, Any] = {"EndpointType": types[0]}
        certificate = params.get("regionalCertificateArn") or params.get("certificateArn")
        if certificate:
            configuration["CertificateArn"] = certificate
        if params.get("securityPolicy"):
            configuration["SecurityPolicy"] = params["securityPolicy"]
        v2: dict[str, Any] = {
            "DomainName": params["domainName"],
            "DomainNameConfigurations": [configuration],
        }
        mutual = params.get("mutualTlsAuthentication")
        if mutual:
            v2["MutualTlsAuthentication"] = {
                "TruststoreUri": mutual.get("truststoreUri"),
                **({"TruststoreVersion": mutual["truststoreVersion"]}
                   if mutual.get("truststoreVersion") else {}),
            }  # fmt: skip
        if params.get("tags"):
            v2["Tags"] = params["tags"]
        return _domain(await self._v2(ctx, "CreateDomainName", v2))

    async def get_domain_name(self, ctx: RequestContext, params: dict) -> dict:
        return _domain(await self._v2(ctx, "GetDomainName", {"DomainName": params["domainName"]}))

    async def get_domain_names(self, ctx: RequestContext, params: dict) -> dict:
        v2 = {"MaxResults": str(params.get("limit") or 25)}
        if params.get("position"):
            v2["NextToken"] = params["position"]
        found = await self._v2(ctx, "GetDomainNames", v2)
        output: dict[str, Any] = {"items": [_domain(d) for d in found.get("Items", [])]}
        if found.get("NextToken"):
            output["position"] = found["NextToken"]
        return output

    async def delete_domain_name(self, ctx: RequestContext, params: dict) -> dict:
        await self._v2(ctx, "DeleteDomainName", {"DomainName": params["domainName"]})
        return {}

    # == base path mappings ================================================================

    async def create_base_path_mapping(self, ctx: RequestContext, params: dict) -> dict:
        base_path = params.get("basePath") or ""
        if not params.get("stage"):
            # A mapping without a stage serves the API's stages by the path's next
            # segment in AWS; sandlot maps one stage.
            raise ServiceError(
                "BadRequestException", "sandlot requires a stage in a base path mapping.", 400
            )
        mapping = await self._v2(
            ctx,
            "CreateApiMapping",
            {
                "DomainName": params["domainName"],
                "ApiId": params["restApiId"],
                "Stage": params["stage"],
                "ApiMappingKey": "" if base_path == _NONE else base_path,
            },
        )
        return _base_path(mapping)

    async def get_base_path_mappings(self, ctx: RequestContext, params: dict) -> dict:
        return {"items": [_base_path(m) for m in await self._mappings(ctx, params["domainName"])]}

    async def get_base_path_mapping(self, ctx: RequestContext, params: dict) -> dict:
        return _base_path(await self._mapping(ctx, params))

    async def delete_base_path_mapping(self, ctx: RequestContext, params: dict) -> dict:
        mapping = await self._mapping(ctx, params)
        await self._v2(
            ctx,
            "DeleteApiMapping",
            {"DomainName": params["domainName"], "ApiMappingId": mapping["ApiMappingId"]},
        )
        return {}

    async def _mappings(self, ctx: RequestContext, domain: str) -> list[dict]:
        mappings, token = [], None
        while True:
            page = await self._v2(
                ctx,
                "GetApiMappings",
                {
                    "DomainName": domain,
                    "MaxResults": "500",
                    **({"NextToken": token} if token else {}),
                },
            )
            mappings += page.get("Items", [])
            token = page.get("NextToken")
            if not token:
                return mappings

    async def _mapping(self, ctx: RequestContext, params: dict) -> dict:
        wanted = "" if params["basePath"] == _NONE else params["basePath"].strip("/")
        for mapping in await self._mappings(ctx, params["domainName"]):
            if mapping["ApiMappingKey"] == wanted:
                return mapping
        raise ServiceError(
            "NotFoundException", "Invalid base path mapping identifier specified", 404
        )


def _domain(v2: dict) -> dict:
    """An apigatewayv2 DomainName as REST's GetDomainName answers it."""
    configuration = (v2.get("DomainNameConfigurations") or [{}])[0]
    endpoint = configuration.get("EndpointType", "REGIONAL")
    out: dict[str, Any] = {
        "domainName": v2["DomainName"],
        "domainNameArn": v2.get("DomainNameArn"),
        "endpointConfiguration": {"types": [endpoint]},
        "domainNameStatus": configuration.get("DomainNameStatus", "AVAILABLE"),
        "securityPolicy": configuration.get("SecurityPolicy", "TLS_1_2"),
    }
    target = configuration.get("ApiGatewayDomainName")
    if endpoint == "EDGE":
        out["distributionDomainName"] = target
        if configuration.get("CertificateArn"):
            out["certificateArn"] = configuration["CertificateArn"]
    else:
        out["regionalDomainName"] = target
        if configuration.get("CertificateArn"):
            out["regionalCertificateArn"] = configuration["CertificateArn"]
    mutual = v2.get("MutualTlsAuthentication")
    if mutual:
        out["mutualTlsAuthentication"] = {
            "truststoreUri": mutual.get("TruststoreUri"),
            **({"truststoreVersion": mutual["TruststoreVersion"]}
               if mutual.get("TruststoreVersion") else {}),
            "truststoreWarnings": mutual.get("TruststoreWarnings") or [],
        }  # fmt: skip
    if v2.get("Tags"):
        out["tags"] = v2["Tags"]
    return out


def _base_path(mapping: dict) -> dict:
    return {
        "basePath": mapping["ApiMappingKey"] or _NONE,
        "restApiId": mapping["ApiId"],
        "stage": mapping["Stage"],
    }
