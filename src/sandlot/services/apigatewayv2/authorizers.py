"""HTTP API authorizers' control plane: Create/Get/Update/DeleteAuthorizer.

``JWT`` authorizers (an issuer and audiences) and Lambda ``REQUEST`` authorizers
(payload format 1.0 or 2.0, simple responses, caching) are served by
``authorization.py``; a route names one with ``AuthorizationType`` ``JWT`` or
``CUSTOM`` and its ``AuthorizerId``. A deployment snapshots the authorizers with the
routes.
"""

from __future__ import annotations

import re

from sandlot.services.apigatewayv2.base import (
    Doc,
    HttpApiBase,
    bad_request,
    conflict,
    new_id,
    paged,
    public,
)
from sandlot.services.apigatewayv2.resources import lambda_target
from sandlot.services.provider import RequestContext

_FIELDS = ("AuthorizerCredentialsArn", "AuthorizerPayloadFormatVersion",
           "AuthorizerResultTtlInSeconds", "AuthorizerType", "AuthorizerUri",
           "EnableSimpleResponses", "IdentitySource", "IdentityValidationExpression",
           "JwtConfiguration", "Name")  # fmt: skip
_SOURCE = re.compile(r"^\$(?:request\.(?:header|querystring)\.[^\s,]+|context\.[^\s,]+"
                     r"|stageVariables\.[^\s,]+)$")  # fmt: skip


def _check(doc: Doc) -> None:
    kind = doc["AuthorizerType"]
    if kind not in ("JWT", "REQUEST"):
        raise bad_request(f"Invalid authorizer type {kind}. Valid options are JWT,REQUEST")
    sources = doc.get("IdentitySource") or []
    for source in sources:
        if not _SOURCE.match(source):
            raise bad_request(f"Invalid identity source: {source}")
    if kind == "JWT":
        jwt = doc.get("JwtConfiguration") or {}
        if not jwt.get("Issuer") or not jwt.get("Audience"):
            raise bad_request("JwtConfiguration requires an Issuer and at least one Audience")
        if len(sources) != 1:
            raise bad_request("JWT authorizers require exactly one identity source")
        return
    if lambda_target(doc.get("AuthorizerUri") or "") is None:
        raise bad_request("Invalid Authorizer URI: " + str(doc.get("AuthorizerUri")))
    version = doc.get("AuthorizerPayloadFormatVersion")
    if version not in ("1.0", "2.0"):
        raise bad_request(
            "AuthorizerPayloadFormatVersion must be 1.0 or 2.0 for REQUEST authorizers"
        )
    if doc.get("EnableSimpleResponses") and version != "2.0":
        raise bad_request("Simple responses are only supported with payload format version 2.0")
    ttl = int(doc.get("AuthorizerResultTtlInSeconds") or 0)
    if not 0 <= ttl <= 3600:
        raise bad_request("AuthorizerResultTtlInSeconds must be between 0 and 3600")
    if ttl > 0 and not sources:
        raise bad_request("Identity source is required when caching is enabled")


class AuthorizerOperations(HttpApiBase):
    def create_authorizer(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        self.api_row(ctx, api_id)
        doc: Doc = {"AuthorizerId": new_id(6)}
        doc.update((f, params[f]) for f in _FIELDS if params.get(f) is not None)
        if doc["AuthorizerType"] == "REQUEST":
            doc.setdefault("AuthorizerResultTtlInSeconds", 0)
        _check(doc)
        if any(a["Name"] == doc["Name"] for a in self.items(api_id, "authorizer")):
            raise conflict(f"Authorizer with name {doc['Name']} already exists")
        self.save_item(api_id, "authorizer", doc["AuthorizerId"], doc)
        self.redeploy(api_id)
        return public(doc)

    def get_authorizer(self, ctx: RequestContext, params: dict) -> dict:
        return public(self.existing(ctx, params["ApiId"], "authorizer", params["AuthorizerId"]))

    def get_authorizers(self, ctx: RequestContext, params: dict) -> dict:
        self.api_row(ctx, params["ApiId"])
        return paged(self.items(params["ApiId"], "authorizer"), params)

    def update_authorizer(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        doc = self.existing(ctx, api_id, "authorizer", params["AuthorizerId"])
        doc.update((f, params[f]) for f in _FIELDS if f in params)
        _check(doc)
        self.save_item(api_id, "authorizer", doc["AuthorizerId"], doc)
        self.redeploy(api_id)
        return public(doc)

    def delete_authorizer(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        doc = self.existing(ctx, api_id, "authorizer", params["AuthorizerId"])
        for route in self.items(api_id, "route"):
            if route.get("AuthorizerId") == doc["AuthorizerId"]:
                raise conflict(
                    f"Cannot delete authorizer '{doc['Name']}', is referenced in route: "
                    f"{route['RouteKey']}"
                )
        self.delete_item(api_id, "authorizer", doc["AuthorizerId"])
        self.redeploy(api_id)
        return {}
