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
_AUTHORIZER_TYPES = {"token": "TOKEN", "request": "REQUEST",
                     "cognito_user_pools": "COGNITO_USER_POOLS"}  # fmt: skip


@dataclass
class Plan:
    document: Doc
    methods: list[tuple[str, str, Doc]] = field(default_factory=list)  # (path, VERB, method)
    authorizers: dict[str, Doc] = field(default_factory=dict)  # by security scheme name
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
