"""GetExport: a stage's deployed API as OpenAPI 3 (``oas30``) or Swagger 2 (``swagger``),
JSON or YAML (``Accept``). The ``extensions`` parameter adds API Gateway's own:
``integrations`` (``x-amazon-apigateway-integration``), ``authorizers`` (security
schemes with ``x-amazon-apigateway-authorizer``/``-authtype``), ``apigateway`` (both,
and the binary media types) — what ImportRestApi reads back, so an export imports
into an equivalent API."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import yaml

from sandlot.services.apigateway.base import Doc, RestApiBase, bad_request, not_found
from sandlot.services.provider import RequestContext

_TYPES = ("oas30", "swagger")
_API_KEY_SCHEME = "api_key"
_SIGV4_SCHEME = "sigv4"


class ExportOperations(RestApiBase):
    def get_export(self, ctx: RequestContext, params: dict) -> dict:
        api_id, kind = params["restApiId"], params["exportType"]
        doc = self._api(ctx, api_id)
        if kind not in _TYPES:
            raise bad_request(f"No such export type: {kind}. Valid options are oas30,swagger")
        stage = self._item(api_id, "stage", params["stageName"])
        if stage is None:
            raise not_found("Invalid Stage identifier specified")
        deployment = self._item(api_id, "deployment", stage["deploymentId"]) or {}
        wanted = {e.strip() for e in str((params.get("parameters") or {}).get("extensions", ""))
                  .split(",") if e.strip()}  # fmt: skip
        if "apigateway" in wanted:
            wanted |= {"integrations", "authorizers"}
        document = _document(kind, doc, ctx.region, stage["stageName"], deployment, wanted)
        yaml_wanted = "yaml" in str(params.get("accepts") or "")
        if yaml_wanted:
            body = yaml.safe_dump(document, sort_keys=False).encode()
        else:
            body = json.dumps(document, indent=2).encode()
        suffix = "yaml" if yaml_wanted else "json"
        return {
            "contentType": "application/yaml" if yaml_wanted else "application/octet-stream",
            "contentDisposition": f'attachment; filename="{kind}_{_stamp(doc)}.{suffix}"',
            "body": body,
        }


def _stamp(doc: Doc) -> str:
    return dt.datetime.fromtimestamp(doc["createdDate"], dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _document(kind: str, doc: Doc, region: str, stage: str, deployment: Doc,
              wanted: set[str]) -> dict[str, Any]:  # fmt: skip
    host = f"{doc['id']}.execute-api.{region}.amazonaws.com"
    info = {"title": doc["name"], "version": doc.get("version") or _stamp(doc)}
    if doc.get("description"):
        info["description"] = doc["description"]
    if kind == "swagger":
        out: dict[str, Any] = {"swagger": "2.0", "info": info, "host": host,
                               "basePath": f"/{stage}", "schemes": ["https"]}  # fmt: skip
    else:
        out = {"openapi": "3.0.1", "info": info, "servers": [{
            "url": f"https://{host}/{{basePath}}",
            "variables": {"basePath": {"default": stage}}}]}  # fmt: skip
    authorizers = {a["id"]: a for a in deployment.get("_authorizers", [])}
    validators_by_id = deployment.get("_validators") or {}
    schemes: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for resource in sorted(deployment.get("_snapshot", []), key=lambda r: r["path"]):
        methods = resource.get("resourceMethods") or {}
        if not methods:
            continue
        item = paths.setdefault(resource["path"], {})
        for verb, method in methods.items():
            name = "x-amazon-apigateway-any-method" if verb == "ANY" else verb.lower()
            item[name] = _operation(kind, resource, method, authorizers, schemes, wanted)
            validator = validators_by_id.get(method.get("requestValidatorId", ""))
            if validator is not None and "apigateway" in wanted:
                item[name]["x-amazon-apigateway-request-validator"] = validator["name"]
    out["paths"] = paths
    if schemes:
        if kind == "swagger":
            out["securityDefinitions"] = schemes
        else:
            out.setdefault("components", {})["securitySchemes"] = schemes
    models = deployment.get("_models") or {}
    if models:
        schemas = {name: json.loads(m["schema"]) for name, m in models.items() if m.get("schema")}
        if kind == "swagger":
            out["definitions"] = schemas
        else:
            out.setdefault("components", {})["schemas"] = schemas
    validators = deployment.get("_validators") or {}
    if "apigateway" in wanted and validators:
        out["x-amazon-apigateway-request-validators"] = {
            v["name"]: {"validateRequestBody": v["validateRequestBody"],
                        "validateRequestParameters": v["validateRequestParameters"]}
            for v in validators.values()
        }  # fmt: skip
    responses = deployment.get("_gateway_responses") or {}
    if "apigateway" in wanted and responses:
        out["x-amazon-apigateway-gateway-responses"] = {
            kind_: {k: v for k, v in r.items() if k not in ("responseType", "defaultResponse")}
            for kind_, r in responses.items()
        }
    if "apigateway" in wanted and doc.get("binaryMediaTypes"):
        out["x-amazon-apigateway-binary-media-types"] = doc["binaryMediaTypes"]
    if "apigateway" in wanted and doc.get("apiKeySource", "HEADER") != "HEADER":
        out["x-amazon-apigateway-api-key-source"] = doc["apiKeySource"]
    return out


def _operation(kind: str, resource: Doc, method: Doc, authorizers: dict[str, Doc],
               schemes: dict[str, Any], wanted: set[str]) -> dict[str, Any]:  # fmt: skip
    operation: dict[str, Any] = {}
    variables = [p[1:-1].rstrip("+") for p in resource["path"].split("/") if p.startswith("{")]
    if variables:
        schema = {"type": "string"}
        operation["parameters"] = [
            {"name": v, "in": "path", "required": True,
             **(schema if kind == "swagger" else {"schema": schema})}
            for v in variables
        ]  # fmt: skip
    responses = {}
    for code in method.get("methodResponses") or {"200": {}}:
        responses[code] = {"description": f"{code} response"}
    operation["responses"] = responses
    security = []
    authorization = method.get("authorizationType", "NONE")
    authorizer = authorizers.get(method.get("authorizerId", ""))
    if authorization in ("CUSTOM", "COGNITO_USER_POOLS") and authorizer is not None:
        security.append({authorizer["name"]: method.get("authorizationScopes") or []})
        schemes[authorizer["name"]] = _scheme(authorizer, wanted)
    elif authorization == "AWS_IAM":
        security.append({_SIGV4_SCHEME: []})
        schemes[_SIGV4_SCHEME] = {"type": "apiKey", "name": "Authorization", "in": "header",
                                  "x-amazon-apigateway-authtype": "awsSigv4"}  # fmt: skip
    if method.get("apiKeyRequired"):
        security.append({_API_KEY_SCHEME: []})
        schemes[_API_KEY_SCHEME] = {"type": "apiKey", "name": "x-api-key", "in": "header"}
    if security:
        operation["security"] = security
    integration = method.get("methodIntegration")
    if integration and "integrations" in wanted:
        operation["x-amazon-apigateway-integration"] = _integration(integration)
    return operation


def _scheme(authorizer: Doc, wanted: set[str]) -> dict[str, Any]:
    source = str(authorizer.get("identitySource") or "")
    header = source.removeprefix("method.request.header.") if "," not in source else "Unused"
    scheme: dict[str, Any] = {"type": "apiKey", "name": header or "Unused", "in": "header"}
    if "authorizers" in wanted:
        scheme["x-amazon-apigateway-authtype"] = authorizer.get("authType") or "custom"
        extension: dict[str, Any] = {"type": authorizer["type"].lower()}
        for key in ("authorizerUri", "authorizerCredentials", "identitySource",
                    "identityValidationExpression", "authorizerResultTtlInSeconds",
                    "providerARNs"):  # fmt: skip
            if authorizer.get(key) is not None:
                extension[key] = authorizer[key]
        scheme["x-amazon-apigateway-authorizer"] = extension
    return scheme


def _integration(integration: Doc) -> dict[str, Any]:
    out: dict[str, Any] = {"type": integration["type"].lower()}
    for key in ("httpMethod", "uri", "credentials", "requestParameters", "requestTemplates",
                "timeoutInMillis", "cacheKeyParameters", "contentHandling"):  # fmt: skip
        if integration.get(key) not in (None, [], {}):
            out[key] = integration[key]
    out["passthroughBehavior"] = str(
        integration.get("passthroughBehavior", "WHEN_NO_MATCH")
    ).lower()
    responses = {}
    for response in (integration.get("integrationResponses") or {}).values():
        entry = {k: v for k, v in response.items() if k != "selectionPattern"}
        responses[response.get("selectionPattern") or "default"] = entry
    if responses:
        out["responses"] = responses
    return out
