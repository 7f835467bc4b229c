"""ImportApi and ReimportApi: an HTTP API from an OpenAPI 3 (or Swagger 2) definition,
JSON or YAML, with API Gateway's extensions: ``x-amazon-apigateway-integration`` on an
operation (``type`` aws_proxy or http_proxy, ``uri``, ``httpMethod``,
``payloadFormatVersion``, ``timeoutInMillis``), ``x-amazon-apigateway-any-method`` for
``ANY`` routes, the ``$default`` path for the default route (as SAM writes it) and
``x-amazon-apigateway-cors``. What sandlot cannot import is a warning, as in AWS, and
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
        _check_warnings(warnings, params)
        info = document.get("info") or {}
        doc = self.new_api(ctx, str(info.get("title") or "imported"), _api_fields(document))
        self._apply(ctx, doc["ApiId"], plan)
        output = self.api_output(doc)
        if warnings:
            output["Warnings"] = warnings
        return output

    def reimport_api(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        doc = self.api_doc(ctx, api_id)
        document = _parse(params["Body"])
        plan, warnings = _plan(document)
        _check_warnings(warnings, params)
        info = document.get("info") or {}
        doc.pop("CorsConfiguration", None)
        doc.update(_api_fields(document), Name=str(info.get("title") or doc["Name"]))
        with self.store.transaction():
            for kind in ("route", "integration"):
                self.store.delete_where(ITEMS, {"api_id": api_id, "kind": kind})
            self.save_api(ctx, doc)
        self._apply(ctx, api_id, plan)
        self.redeploy(api_id)
        output = self.api_output(doc)
        if warnings:
            output["Warnings"] = warnings
        return output

    def _apply(self, ctx: RequestContext, api_id: str, plan: list[tuple[str, Doc | None]]) -> None:
        for key, integration in plan:
            route: Doc = {"ApiId": api_id, "RouteKey": key}
            if integration is not None:
                created = self.create_integration(ctx, {"ApiId": api_id, **integration})
                route["Target"] = f"integrations/{created['IntegrationId']}"
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


def _plan(document: dict) -> tuple[list[tuple[str, Doc | None]], list[str]]:
    """(route key, integration parameters or None) per operation, and warnings."""
    plan: list[tuple[str, Doc | None]] = []
    warnings: list[str] = []
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
            extension = (operation or {}).get("x-amazon-apigateway-integration")
            if extension is None:
                warnings.append(f"Route {key} has no x-amazon-apigateway-integration.")
                plan.append((key, None))
                continue
            integration = _integration(extension)
            if isinstance(integration, str):
                warnings.append(f"Route {key}: {integration}")
                plan.append((key, None))
            else:
                plan.append((key, integration))
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
