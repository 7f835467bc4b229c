"""API Gateway HTTP APIs (``apigatewayv2``): the provider class, APIs, CORS and tags.

The provider is assembled from one mixin per area over ``HttpApiBase``: routes,
integrations, stages and deployments (``resources.py``), authorizers
(``authorizers.py``; running them: ``authorization.py``), OpenAPI import
(``openapi.py``), the data plane (``dataplane.py``) and custom domain names with
mutual TLS (``domains.py``). WebSocket APIs (ProtocolType ``WEBSOCKET``): their
connections, route selection, route responses and the ``@connections`` management
API live in ``websocket.py``.
"""

from __future__ import annotations

import json
import re

from sandlot.services.apigatewayv2.authorizers import AuthorizerOperations
from sandlot.services.apigatewayv2.base import (
    Doc,
    bad_request,
    new_id,
    not_found,
    now_iso,
    paged,
)
from sandlot.services.apigatewayv2.dataplane import DataPlaneOperations
from sandlot.services.apigatewayv2.domains import DomainNameOperations
from sandlot.services.apigatewayv2.openapi import ImportOperations
from sandlot.services.apigatewayv2.resources import lambda_target
from sandlot.services.apigatewayv2.schema import APIS, ITEMS
from sandlot.services.apigatewayv2.websocket import WebSocketOperations
from sandlot.services.provider import RequestContext

_API_ARN = re.compile(r"^arn:aws:apigateway:([a-z0-9-]+)::/apis/([a-z0-9]+)(?:/stages/(.+))?$")
_API_FIELDS = ("Description", "DisableExecuteApiEndpoint", "Version", "CorsConfiguration")


class HttpApiProvider(
    WebSocketOperations,
    DomainNameOperations,
    DataPlaneOperations,
    ImportOperations,
    AuthorizerOperations,
):
    service = "apigatewayv2"

    # == APIs ==============================================================================

    def create_api(self, ctx: RequestContext, params: dict) -> dict:
        if params["ProtocolType"] == "WEBSOCKET":
            if not params.get("RouteSelectionExpression"):
                raise bad_request("RouteSelectionExpression is required for WEBSOCKET APIs")
            if params.get("Target") or params.get("CorsConfiguration"):
                raise bad_request("Target and CorsConfiguration are only supported for HTTP APIs")
        elif params["ProtocolType"] != "HTTP":
            raise bad_request(f"Invalid protocol type {params['ProtocolType']}")
        doc = self.new_api(ctx, params["Name"], params)
        if params.get("Target"):
            self._quick_create(ctx, doc["ApiId"], params)
        return self.api_output(doc)

    def new_api(self, ctx: RequestContext, name: str, params: dict) -> Doc:
        doc: Doc = {
            "ApiId": new_id(10),
            "ApiKeySelectionExpression": params.get("ApiKeySelectionExpression")
            or "$request.header.x-api-key",
            "CreatedDate": now_iso(),
            "DisableExecuteApiEndpoint": False,
            "Name": name,
            "ProtocolType": params.get("ProtocolType") or "HTTP",
            "RouteSelectionExpression": params.get("RouteSelectionExpression")
            or "$request.method $request.path",
            "Tags": params.get("Tags") or {},
        }
        for field in _API_FIELDS:
            if params.get(field) is not None:
                doc[field] = params[field]
        self.save_api(ctx, doc)
        return doc

    def _quick_create(self, ctx: RequestContext, api_id: str, params: dict) -> None:
        """CreateApi with Target: an integration, a route (RouteKey, else $default) and
        the $default stage with AutoDeploy, as AWS's quick create makes them."""
        target = params["Target"]
        if lambda_target(target) is not None:
            integration = {"IntegrationType": "AWS_PROXY", "PayloadFormatVersion": "2.0"}
        else:
            integration = {"IntegrationType": "HTTP_PROXY", "IntegrationMethod": "ANY"}
        created = self.create_integration(
            ctx, {"ApiId": api_id, "IntegrationUri": target, **integration}
        )
        self.create_route(
            ctx,
            {
                "ApiId": api_id,
                "RouteKey": params.get("RouteKey") or "$default",
                "Target": f"integrations/{created['IntegrationId']}",
            },
        )
        self.create_stage(ctx, {"ApiId": api_id, "StageName": "$default", "AutoDeploy": True})

    def get_api(self, ctx: RequestContext, params: dict) -> dict:
        return self.api_output(self.api_doc(ctx, params["ApiId"]))

    def get_apis(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(APIS, {"account": ctx.account_id, "region": ctx.region})
        docs = sorted((json.loads(r["doc"]) for r in rows), key=lambda d: d["CreatedDate"])
        output = paged(docs, params)
        output["Items"] = [self.api_output(d) for d in output["Items"]]
        return output

    def update_api(self, ctx: RequestContext, params: dict) -> dict:
        doc = self.api_doc(ctx, params["ApiId"])
        for field in (*_API_FIELDS, "Name", "ApiKeySelectionExpression",
                      "RouteSelectionExpression"):  # fmt: skip
            if field in params:
                doc[field] = params[field]
        self.save_api(ctx, doc)
        return self.api_output(doc)

    def delete_api(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        self.api_row(ctx, api_id)
        with self.store.transaction():
            self.store.delete_where(ITEMS, {"api_id": api_id})
            self.store.delete(APIS, api_id)
        self.generation += 1
        return {}

    def delete_cors_configuration(self, ctx: RequestContext, params: dict) -> dict:
        doc = self.api_doc(ctx, params["ApiId"])
        doc.pop("CorsConfiguration", None)
        self.save_api(ctx, doc)
        return {}

    # == tags ==============================================================================

    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        tags, save = self._tags_of(ctx, params["ResourceArn"])
        tags.update(params.get("Tags") or {})
        save(tags)
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        tags, save = self._tags_of(ctx, params["ResourceArn"])
        for key in params["TagKeys"]:
            tags.pop(key, None)
        save(tags)
        return {}

    def get_tags(self, ctx: RequestContext, params: dict) -> dict:
        tags, _ = self._tags_of(ctx, params["ResourceArn"])
        return {"Tags": tags}

    def _tags_of(self, ctx: RequestContext, arn: str):
        found = _API_ARN.match(arn)
        if found is None or found[1] != ctx.region:
            raise not_found(f"Invalid resource ARN specified {arn}", "Resource")
        api_id, stage_name = found[2], found[3]
        doc = self.api_doc(ctx, api_id)
        if stage_name is None:

            def save_api(tags: dict) -> None:
                self.save_api(ctx, {**doc, "Tags": tags})

            return dict(doc.get("Tags") or {}), save_api
        stage = self.existing(ctx, api_id, "stage", stage_name)

        def save_stage(tags: dict) -> None:
            self.save_item(api_id, "stage", stage_name, {**stage, "Tags": tags})

        return dict(stage.get("Tags") or {}), save_stage
