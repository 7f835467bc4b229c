"""ImportRestApi and PutRestApi: a REST API from an OpenAPI 3 / Swagger 2 definition
with API Gateway's extensions, as SAM's ``Api`` writes them:

- ``x-amazon-apigateway-integration`` on an operation: ``aws_proxy`` (Lambda),
  ``http_proxy``, and ``aws``, ``http`` and ``mock`` (with ``credentials``,
  ``requestTemplates``, ``requestParameters`` and ``responses``; a template that is not
  valid Velocity fails the import);
  ``x-amazon-apigateway-any-method`` for ``ANY``;
- security schemes (``securityDefinitions`` / ``components.securitySchemes``) with
  ``x-amazon-apigateway-authorizer`` (Lambda ``token`` / ``request``,
  ``cognito_user_pools``) become the API's authorizers; ``x-amazon-apigateway-authtype``
  ``awsSigv4`` is ``AWS_IAM``; an ``apiKey`` scheme named ``x-api-key`` makes the
  operations that require it ``apiKeyRequired``; ``security`` on an operation (or the
  whole definition) picks them.

What sandlot cannot import is a warning, as in AWS, and an error with ``failOnWarnings``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from sandlot.services import http_routes as routing
from sandlot.services.apigateway import integrations
from sandlot.services.apigateway.authorizers import DEFAULT_TTL
from sandlot.services.apigateway.base import Doc, bad_request, function_of, new_id
from sandlot.services.openapi import parse_definition

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_ANY = "x-amazon-apigateway-any-method"
_AUTHORIZER = "x-amazon-apigateway-authorizer"
_AUTHTYPE = "x-amazon-apigateway-authtype"
_VALIDATOR = "x-amazon-apigateway-request-validator"
_VALIDATORS = "x-amazon-apigateway-request-validators"
_GATEWAY_RESPONSES = "x-amazon-apigateway-gateway-responses"
_MODEL_REF = re.compile(r"^#/(?:definitions|components/schemas)/([^/]+)$")
_AUTHORIZER_TYPES = {"token": "TOKEN", "request": "REQUEST",
                     "cognito_user_pools": "COGNITO_USER_POOLS"}  # fmt: skip


@dataclass
class Plan:
    document: Doc
    methods: list[tuple[str, str, Doc]] = field(default_factory=list)  # (path, VERB, method)
    authorizers: dict[str, Doc] = field(default_factory=dict)  # by security scheme name
    models: dict[str, Doc] = field(default_factory=dict)  # by name
    validators: dict[str, Doc] = field(default_factory=dict)  # by name
    gateway_responses: dict[str, Doc] = field(default_factory=dict)  # by response type
    warnings: list[str] = field(default_factory=list)


def read_definition(params: dict, existing_authorizers: list[Doc] = ()) -> Plan:
    """An import's plan; BadRequestException when the body is not OpenAPI, or has
    warnings and ``failOnWarnings``. Authorizers keep the ids of ``existing`` ones of
    the same name (a merge)."""
    try:
        document = parse_definition(bytes(params["body"]).decode("utf-8", "replace"))
    except ValueError as error:
        raise bad_request(str(error)) from None
    plan = Plan(document)
    schemes = _security_schemes(document, plan, {a["name"]: a["id"] for a in existing_authorizers})
    default_security = document.get("security")
    _models_and_validators(document, plan)
    default_validator = document.get(_VALIDATOR)
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict) or not str(path).startswith("/"):
            plan.warnings.append(f"Path {path} ignored: not a resource path.")
            continue
        try:
            routing.parse_key(f"GET {path}")
        except ValueError as error:
            plan.warnings.append(f"Path {path} ignored: {error}")
            continue
        for name, operation in item.items():
            if name in _METHODS:
                verb = name.upper()
            elif name == _ANY:
                verb = "ANY"
            else:
                continue
            operation = operation if isinstance(operation, dict) else {}
            method: Doc = {"httpMethod": verb, "authorizationType": "NONE",
                           "apiKeyRequired": False}  # fmt: skip
            security = operation.get("security", default_security)
            _secure(method, security, schemes, plan, f"{verb} {path}")
            _validation(method, operation, item, plan, operation.get(_VALIDATOR, default_validator))
            integration = _integration(operation.get("x-amazon-apigateway-integration"))
            if integration is not None:
                _check_templates(integration, f"{verb} {path}")
                method["methodIntegration"] = integration
            else:
                plan.warnings.append(
                    f"{verb} {path}: sandlot imports aws_proxy (Lambda), http_proxy, aws, http "
                    "and mock integrations; the method has no integration."
                )
            plan.methods.append((path, verb, method))
    if plan.warnings and params.get("failOnWarnings"):
        raise bad_request("Warnings found during import:\n\t" + "\n\t".join(plan.warnings))
    return plan


def _security_schemes(document: Doc, plan: Plan, existing: dict[str, str]) -> dict[str, Doc]:
    """Scheme name → what requiring it does to a method: ``{"authorizer": doc}``,
    ``{"iam": True}`` or ``{"api_key": True}``; the authorizers go into ``plan``."""
    raw = dict(document.get("securityDefinitions") or {})
    raw.update((document.get("components") or {}).get("securitySchemes") or {})
    schemes: dict[str, Doc] = {}
    for name, scheme in raw.items():
        if not isinstance(scheme, dict):
            continue
        authtype = str(scheme.get(_AUTHTYPE, "")).lower()
        extension = scheme.get(_AUTHORIZER)
        if isinstance(extension, dict):
            kind = _AUTHORIZER_TYPES.get(str(extension.get("type", "")).lower())
            if kind is None:
                plan.warnings.append(f"Security scheme {name}: unknown authorizer type.")
                continue
            source = extension.get("identitySource")
            if source is None and kind != "REQUEST" and scheme.get("in") == "header":
                source = f"method.request.header.{scheme.get('name')}"
            doc: Doc = {"id": existing.get(name) or new_id(6), "name": name, "type": kind,
                        "authType": scheme.get(_AUTHTYPE) or "custom",
                        "authorizerResultTtlInSeconds":
                            int(extension.get("authorizerResultTtlInSeconds", DEFAULT_TTL))}  # fmt: skip
            for key in ("authorizerUri", "authorizerCredentials", "identityValidationExpression",
                        "providerARNs"):  # fmt: skip
                if extension.get(key) is not None:
                    doc[key] = extension[key]
            if source:
                doc["identitySource"] = source
            plan.authorizers[name] = doc
            schemes[name] = {"authorizer": doc}
        elif authtype == "awssigv4":
            schemes[name] = {"iam": True}
        elif scheme.get("type") == "apiKey" and str(scheme.get("name", "")).lower() == "x-api-key":
            schemes[name] = {"api_key": True}
    return schemes


def _secure(method: Doc, security, schemes: dict[str, Doc], plan: Plan, where: str) -> None:
    for requirement in security or []:
        for name, scopes in (requirement or {}).items():
            scheme = schemes.get(name)
            if scheme is None:
                plan.warnings.append(f"{where}: security scheme {name} is not defined.")
            elif scheme.get("api_key"):
                method["apiKeyRequired"] = True
            elif scheme.get("iam"):
                method["authorizationType"] = "AWS_IAM"
            else:
                authorizer = scheme["authorizer"]
                cognito = authorizer["type"] == "COGNITO_USER_POOLS"
                method["authorizationType"] = "COGNITO_USER_POOLS" if cognito else "CUSTOM"
                method["authorizerId"] = authorizer["id"]
                if scopes:
                    method["authorizationScopes"] = list(scopes)


def _models_and_validators(document: Doc, plan: Plan) -> None:
    """The definition's schemas as models (internal ``$ref``s inlined, as API Gateway
    resolves them), its request validators and gateway responses."""
    schemas = document.get("definitions") or (document.get("components") or {}).get("schemas")
    for name, schema in (schemas or {}).items():
        if not re.fullmatch(r"[A-Za-z0-9]+", str(name)):
            plan.warnings.append(f"Model {name} ignored: model names must be alphanumeric.")
            continue
        inlined = _inline(schema, schemas, 0)
        plan.models[name] = {"id": new_id(6), "name": name, "contentType": "application/json",
                             "schema": json.dumps(inlined)}  # fmt: skip
    for name, spec in (document.get(_VALIDATORS) or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        plan.validators[name] = {
            "id": new_id(6), "name": name,
            "validateRequestBody": bool(spec.get("validateRequestBody")),
            "validateRequestParameters": bool(spec.get("validateRequestParameters")),
        }  # fmt: skip
    for kind, spec in (document.get(_GATEWAY_RESPONSES) or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        response: Doc = {"responseType": kind, "defaultResponse": False}
        for key in ("statusCode", "responseParameters", "responseTemplates"):
            if spec.get(key):
                response[key] = str(spec[key]) if key == "statusCode" else spec[key]
        problem = integrations.check_templates(response.get("responseTemplates"))
        if problem is not None:
            raise bad_request(f"Errors found during import:\n\tGateway response {kind}: {problem}")
        plan.gateway_responses[kind] = response


def _inline(schema, schemas: dict, depth: int):
    if depth > 16:
        raise bad_request("Errors found during import:\n\tModel references are too deep")
    if isinstance(schema, dict):
        ref = _MODEL_REF.match(str(schema.get("$ref", "")))
        if ref is not None and ref[1] in schemas:
            return _inline(schemas[ref[1]], schemas, depth + 1)
        return {k: _inline(v, schemas, depth + 1) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v, schemas, depth + 1) for v in schema]
    return schema


def _validation(method: Doc, operation: Doc, item: Doc, plan: Plan, validator) -> None:
    """The method's request validator, required parameters and request models."""
    if validator:
        if validator not in plan.validators:
            plan.warnings.append(f"Request validator {validator} is not defined.")
        else:
            method["requestValidatorId"] = plan.validators[validator]["id"]
    parameters = {}
    for parameter in [*(item.get("parameters") or []), *(operation.get("parameters") or [])]:
        if not isinstance(parameter, dict):
            continue
        where = {"query": "querystring", "header": "header", "path": "path"}.get(
            str(parameter.get("in"))
        )
        if where is not None:
            parameters[f"method.request.{where}.{parameter.get('name')}"] = bool(
                parameter.get("required")
            )
        elif parameter.get("in") == "body":  # Swagger 2
            ref = _MODEL_REF.match(str((parameter.get("schema") or {}).get("$ref", "")))
            if ref is not None and ref[1] in plan.models:
                method["requestModels"] = {"application/json": ref[1]}
    if parameters:
        method["requestParameters"] = parameters
    content = (operation.get("requestBody") or {}).get("content") or {}  # OpenAPI 3
    for content_type, media in content.items():
        ref = _MODEL_REF.match(str(((media or {}).get("schema") or {}).get("$ref", "")))
        if ref is not None and ref[1] in plan.models:
            method.setdefault("requestModels", {})[content_type] = ref[1]


def _check_templates(integration: Doc, where: str) -> None:
    """An invalid mapping template fails the import (never a failure at request time)."""
    responses = (integration.get("integrationResponses") or {}).values()
    for templates in [integration.get("requestTemplates"),
                      *(r.get("responseTemplates") for r in responses)]:  # fmt: skip
        problem = integrations.check_templates(templates)
        if problem is not None:
            raise bad_request(f"Errors found during import:\n\tUnable to put integration on "
                              f"{where}: {problem}")  # fmt: skip


def _integration(extension) -> Doc | None:
    if not isinstance(extension, dict):
        return None
    kind = str(extension.get("type", "")).lower()
    common: Doc = {
        "passthroughBehavior": str(extension.get("passthroughBehavior") or "when_no_match").upper(),
        "timeoutInMillis": int(extension.get("timeoutInMillis") or 29000),
        "cacheNamespace": "",
        "cacheKeyParameters": extension.get("cacheKeyParameters") or [],
    }
    if kind == "aws_proxy" and function_of(extension.get("uri")) is not None:
        return {"type": "AWS_PROXY", "httpMethod": "POST", "uri": extension["uri"], **common}
    if kind == "http_proxy" and extension.get("uri"):
        verb = str(extension.get("httpMethod") or "ANY").upper()
        return {"type": "HTTP_PROXY", "httpMethod": verb, "uri": extension["uri"], **common}
    if kind in ("aws", "http", "mock"):
        if kind != "mock" and not extension.get("uri"):
            return None
        integration = {"type": kind.upper(), **common}
        if kind != "mock":
            integration["httpMethod"] = str(extension.get("httpMethod") or "POST").upper()
        for key in ("uri", "credentials", "requestTemplates", "requestParameters",
                    "contentHandling"):  # fmt: skip
            if extension.get(key):
                integration[key] = extension[key]
        responses = {}
        for pattern, response in (extension.get("responses") or {}).items():
            status = str((response or {}).get("statusCode", "200"))
            entry: Doc = {"statusCode": status}
            if pattern != "default":
                entry["selectionPattern"] = pattern
            for key in ("responseParameters", "responseTemplates", "contentHandling"):
                if (response or {}).get(key):
                    entry[key] = response[key]
            responses[status] = entry
        if responses:
            integration["integrationResponses"] = responses
        return integration
    return None
