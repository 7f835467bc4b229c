"""ImportApi and ReimportApi: an HTTP API from an OpenAPI 3 (or Swagger 2) definition,
JSON or YAML, with API Gateway's extensions: ``x-amazon-apigateway-integration`` on an
operation (``type`` aws_proxy or http_proxy, ``uri``, ``httpMethod``,
``payloadFormatVersion``, ``timeoutInMillis``), ``x-amazon-apigateway-any-method`` for
``ANY`` routes, the ``$default`` path for the default route (as SAM writes it),
``x-amazon-apigateway-cors``, and security schemes with ``x-amazon-apigateway-authorizer``
(``jwt``: ``jwtConfiguration``; ``request``: a Lambda authorizer) or
``x-amazon-apigateway-authtype`` ``awsSigv4``, which an operation's (or the whole
definition's) ``security`` puts on its route, scopes included. What sandlot cannot import is a warning, as in AWS, and
an error with ``FailOnWarnings``.
"""

from __future__ import annotations

from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services import http_routes as routing
from sandlot.services.apigatewayv2.base import Doc, bad_request
from sandlot.services.apigatewayv2.resources import ResourceOperations
from sandlot.services.apigatewayv2.schema import ITEMS
from sandlot.services.openapi import parse_definition
from sandlot.services.provider import RequestContext

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_ANY = "x-amazon-apigateway-any-method"
_CORS = {
    "allowOrigins": "AllowOrigins",
    "allowMethods": "AllowMethods",
    "allowHeaders": "AllowHeaders",
    "exposeHeaders": "ExposeHeaders",
    "maxAge": "MaxAge",
    "allowCredentials": "AllowCredentials",
}
_INTEGRATION_TYPES = {"aws_proxy": "AWS_PROXY", "http_proxy": "HTTP_PROXY"}


class ImportOperations(ResourceOperations):
    def import_api(self, ctx: RequestContext, params: dict) -> dict:
        document = _parse(params["Body"])
        plan, warnings = _plan(document)
        schemes = _security_schemes(document, warnings)
        _check_warnings(warnings, params)
        info = document.get("info") or {}
        doc = self.new_api(ctx, str(info.get("title") or "imported"), _api_fields(document))
        self._apply(ctx, doc["ApiId"], plan, schemes)
        output = self.api_output(doc)
        if warnings:
            output["Warnings"] = warnings
        return output

    def reimport_api(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        doc = self.api_doc(ctx, api_id)
        document = _parse(params["Body"])
        plan, warnings = _plan(document)
        schemes = _security_schemes(document, warnings)
        _check_warnings(warnings, params)
        info = document.get("info") or {}
        doc.pop("CorsConfiguration", None)
        doc.update(_api_fields(document), Name=str(info.get("title") or doc["Name"]))
        with self.store.transaction():
            for kind in ("route", "integration", "authorizer"):
                self.store.delete_where(ITEMS, {"api_id": api_id, "kind": kind})
            self.save_api(ctx, doc)
        self._apply(ctx, api_id, plan, schemes)
        self.redeploy(api_id)
        output = self.api_output(doc)
        if warnings:
            output["Warnings"] = warnings
        return output

    def _apply(
        self, ctx: RequestContext, api_id: str, plan: list[_Planned], schemes: dict[str, Doc]
    ) -> None:
        authorizers: dict[str, str] = {}
        for name, scheme in schemes.items():
            if "authorizer" in scheme:
                created = self.create_authorizer(  # type: ignore[attr-defined]
                    ctx, {"ApiId": api_id, "Name": name, **scheme["authorizer"]}
                )
                authorizers[name] = created["AuthorizerId"]
        for key, integration, security in plan:
            route: Doc = {"ApiId": api_id, "RouteKey": key}
            if integration is not None:
                created = self.create_integration(ctx, {"ApiId": api_id, **integration})
                route["Target"] = f"integrations/{created['IntegrationId']}"
            for requirement in security or []:
                for name, scopes in (requirement or {}).items():
                    scheme = schemes.get(name) or {}
                    if scheme.get("iam"):
                        route["AuthorizationType"] = "AWS_IAM"
                    elif name in authorizers:
                        kind = scheme["authorizer"]["AuthorizerType"]
                        route["AuthorizationType"] = "JWT" if kind == "JWT" else "CUSTOM"
                        route["AuthorizerId"] = authorizers[name]
                        if scopes:
                            route["AuthorizationScopes"] = list(scopes)
            self.create_route(ctx, route)


def _parse(body: str) -> dict[str, Any]:
    try:
        return parse_definition(body)
    except ValueError as error:
        raise bad_request(str(error)) from None


def _api_fields(document: dict) -> Doc:
    info = document.get("info") or {}
    fields: Doc = {}
    if info.get("description"):
        fields["Description"] = str(info["description"])
    if info.get("version") is not None:
        fields["Version"] = str(info["version"])
    cors = document.get("x-amazon-apigateway-cors")
    if isinstance(cors, dict):
        fields["CorsConfiguration"] = {_CORS[k]: v for k, v in cors.items() if k in _CORS}
    return fields


def _check_warnings(warnings: list[str], params: dict) -> None:
    if warnings and params.get("FailOnWarnings"):
        raise bad_request("Warnings found during import:\n\t" + "\n\t".join(warnings))


_Planned = tuple[str, Doc | None, list | None]  # route key, integration, security


def _security_schemes(document: dict, warnings: list[str]) -> dict[str, Doc]:
    """Scheme name → ``{"authorizer": CreateAuthorizer parameters}`` or ``{"iam": True}``."""
    raw = dict(document.get("securityDefinitions") or {})
    raw.update((document.get("components") or {}).get("securitySchemes") or {})
    schemes: dict[str, Doc] = {}
    for name, scheme in raw.items():
        if not isinstance(scheme, dict):
            continue
        extension = scheme.get("x-amazon-apigateway-authorizer")
        if str(scheme.get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4":
            schemes[name] = {"iam": True}
        elif isinstance(extension, dict):
            kind = str(extension.get("type", "")).lower()
            sources = extension.get("identitySource") or []
            if isinstance(sources, str):
                sources = [s.strip() for s in sources.split(",") if s.strip()]
            if kind == "jwt":
                jwt = extension.get("jwtConfiguration") or {}
                schemes[name] = {"authorizer": {
                    "AuthorizerType": "JWT",
                    "IdentitySource": sources or ["$request.header.Authorization"],
                    "JwtConfiguration": {"Issuer": jwt.get("issuer"),
                                         "Audience": jwt.get("audience") or []}}}  # fmt: skip
            elif kind == "request":
                parameters: Doc = {"AuthorizerType": "REQUEST", "IdentitySource": sources,
                                   "AuthorizerUri": extension.get("authorizerUri")}  # fmt: skip
                for key, field in (("authorizerPayloadFormatVersion", "AuthorizerPayloadFormatVersion"),
                                   ("enableSimpleResponses", "EnableSimpleResponses"),
                                   ("authorizerResultTtlInSeconds", "AuthorizerResultTtlInSeconds"),
                                   ("authorizerCredentials", "AuthorizerCredentialsArn")):  # fmt: skip
                    if extension.get(key) is not None:
                        parameters[field] = extension[key]
                if "AuthorizerPayloadFormatVersion" in parameters:
                    parameters["AuthorizerPayloadFormatVersion"] = str(
                        parameters["AuthorizerPayloadFormatVersion"]
                    )
                schemes[name] = {"authorizer": parameters}
            else:
                warnings.append(f"Security scheme {name}: authorizer type {kind!r} ignored.")
    return schemes


def _plan(document: dict) -> tuple[list[_Planned], list[str]]:
    """(route key, integration parameters or None, security) per operation, and warnings."""
    plan: list[_Planned] = []
    warnings: list[str] = []
    default_security = document.get("security")
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            warnings.append(f"Path {path} is not an object; ignored.")
            continue
        for name, operation in item.items():
            if name in _METHODS:
                method = name.upper()
            elif name == _ANY:
                method = "ANY"
            else:
                continue
            key = "$default" if path == "$default" else f"{method} {path}"
            try:
                routing.parse_key(key)
            except ValueError as error:
                warnings.append(f"{error}; ignored.")
                continue
            security = (operation or {}).get("security", default_security)
            extension = (operation or {}).get("x-amazon-apigateway-integration")
            if extension is None:
                warnings.append(f"Route {key} has no x-amazon-apigateway-integration.")
                plan.append((key, None, security))
                continue
            integration = _integration(extension)
            if isinstance(integration, str):
                warnings.append(f"Route {key}: {integration}")
                plan.append((key, None, security))
            else:
                plan.append((key, integration, security))
    return plan, warnings


def _integration(extension: Any) -> Doc | str:
    """CreateIntegration parameters of an ``x-amazon-apigateway-integration``, or why not."""
    if not isinstance(extension, dict):
        return "x-amazon-apigateway-integration must be an object"
    kind = _INTEGRATION_TYPES.get(str(extension.get("type", "")).lower())
    if kind is None:
        return f"sandlot does not import integrations of type {extension.get('type')!r} yet"
    uri = extension.get("uri")
    if not isinstance(uri, str):
        return "the integration's uri must be a string"
    integration: Doc = {"IntegrationType": kind, "IntegrationUri": uri}
    if extension.get("payloadFormatVersion") is not None:
        integration["PayloadFormatVersion"] = str(extension["payloadFormatVersion"])
    if extension.get("httpMethod"):
        integration["IntegrationMethod"] = str(extension["httpMethod"]).upper()
    if extension.get("timeoutInMillis"):
        integration["TimeoutInMillis"] = int(extension["timeoutInMillis"])
    try:
        ResourceOperations.check_integration(dict(integration))
    except ServiceError as error:
        return error.message
    return integration
