"""REST API authorizers' control plane: Create/Get/Update/DeleteAuthorizer.

Lambda ``TOKEN`` and ``REQUEST`` authorizers are served (``authorization.py``),
``COGNITO_USER_POOLS`` ones by sandlot's user pools (``user_pools.py``).
"""

from __future__ import annotations

import re

from sandlot.services.apigateway import patch
from sandlot.services.apigateway.base import (
    Doc,
    RestApiBase,
    bad_request,
    conflict,
    function_of,
    new_id,
)
from sandlot.services.provider import RequestContext

DEFAULT_TTL = 300
_SOURCE = re.compile(
    r"^(?:method\.request\.(?:header|querystring|multivaluequerystring|multivalueheader)\.[^\s,]+"
    r"|stageVariables\.[^\s,]+|context\.[^\s,]+)$"
)
_TOKEN_SOURCE = re.compile(r"^method\.request\.header\.[^\s,]+$")
_FIELDS = ("providerARNs", "authType", "authorizerUri", "authorizerCredentials",
           "identitySource", "identityValidationExpression")  # fmt: skip


def check_authorizer(doc: Doc) -> None:
    """AWS's BadRequestException for an authorizer it would not accept."""
    kind = doc["type"]
    ttl = doc.get("authorizerResultTtlInSeconds", DEFAULT_TTL)
    if not 0 <= int(ttl) <= 3600:
        raise bad_request("Authorizer result TTL must be between 0 and 3600 seconds")
    source = doc.get("identitySource")
    if kind in ("TOKEN", "REQUEST") and function_of(doc.get("authorizerUri")) is None:
        raise bad_request(f"Invalid Authorizer URI: {doc.get('authorizerUri')}. "
                          "Authorizer URI should be a valid API Gateway ARN that represents "
                          "a Lambda function invocation.")  # fmt: skip
    if kind in ("TOKEN", "COGNITO_USER_POOLS") and not _TOKEN_SOURCE.match(source or ""):
        raise bad_request(f"Invalid identity source: {source}. Identity source must be a "
                          "header mapping expression (method.request.header.<name>)")  # fmt: skip
    if kind == "COGNITO_USER_POOLS" and not doc.get("providerARNs"):
        raise bad_request("Authorizer provider ARNs are required for COGNITO_USER_POOLS")
    if kind == "REQUEST":
        if source:
            for part in identity_sources(source):
                if not _SOURCE.match(part):
                    raise bad_request(f"Invalid identity source: {part}")
        elif int(ttl) > 0:
            raise bad_request("Identity source is required when caching is enabled")
    expression = doc.get("identityValidationExpression")
    if expression:
        try:
            re.compile(expression)
        except re.error:
            raise bad_request(f"Invalid identity validation expression: {expression}") from None


def identity_sources(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


class AuthorizerOperations(RestApiBase):
    def create_authorizer(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["restApiId"]
        self._api(ctx, api_id)
        doc: Doc = {"id": new_id(6), "name": params["name"], "type": params["type"]}
        doc.update((f, params[f]) for f in _FIELDS if params.get(f) is not None)
        doc["authorizerResultTtlInSeconds"] = params.get(
            "authorizerResultTtlInSeconds", DEFAULT_TTL
        )
        return self.add_authorizer(api_id, doc)

    def add_authorizer(self, api_id: str, doc: Doc) -> Doc:
        check_authorizer(doc)
        if doc["type"] in ("TOKEN", "REQUEST"):
            doc.setdefault("authType", "custom")
        self._save(api_id, "authorizer", doc["id"], doc)
        return doc

    def get_authorizer(self, ctx: RequestContext, params: dict) -> dict:
        return self._existing(ctx, params["restApiId"], "authorizer", params["authorizerId"])

    def get_authorizers(self, ctx: RequestContext, params: dict) -> dict:
        self._api(ctx, params["restApiId"])
        return {"items": self._items(params["restApiId"], "authorizer")}

    def update_authorizer(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["restApiId"]
        doc = self.get_authorizer(ctx, params)
        patch.apply(
            doc,
            params.get("patchOperations") or [],
            ("name", "type", *_FIELDS, "authorizerResultTtlInSeconds"),
            {"authorizerResultTtlInSeconds": int, "providerARNs": list},
        )
        check_authorizer(doc)
        self._save(api_id, "authorizer", doc["id"], doc)
        return doc

    def delete_authorizer(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["restApiId"]
        doc = self.get_authorizer(ctx, params)
        for resource in self._items(api_id, "resource"):
            for method in (resource.get("resourceMethods") or {}).values():
                if method.get("authorizerId") == doc["id"]:
                    raise conflict(
                        f"Cannot delete authorizer '{doc['name']}', is referenced in method: "
                        f"{method['httpMethod']}:{resource['path']}"
                    )
        self._delete(api_id, "authorizer", doc["id"])
        return {}
