"""Routes, integrations, stages and deployments of HTTP APIs.

A deployment is a snapshot of the API's routes and integrations; a stage serves the
deployment it names. A stage with ``AutoDeploy`` gets a new deployment after every
change of a route or integration (``redeploy``), as AWS does.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from sandlot.services import http_routes as routing
from sandlot.services.apigatewayv2.base import (
    Doc,
    HttpApiBase,
    bad_request,
    conflict,
    new_id,
    now_iso,
    paged,
    public,
)
from sandlot.services.provider import RequestContext

urls_log = logging.getLogger("sandlot.urls")  # printed on the console (gateway/server.py)

_SERVED_TYPES = ("AWS_PROXY", "HTTP_PROXY")
_PAYLOAD_VERSIONS = ("1.0", "2.0")
_LAMBDA_URI = "arn:aws:apigateway:"


def lambda_target(uri: str) -> str | None:
    """The function ARN an AWS_PROXY IntegrationUri names (a function ARN, or API
    Gateway's ``arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations``)."""
    if uri.startswith(_LAMBDA_URI) and ":lambda:path/" in uri and "/functions/" in uri:
        arn = uri.split("/functions/", 1)[1]
        return arn.removesuffix("/invocations")
    if uri.startswith("arn:aws:lambda:") and ":function:" in uri:
        return uri
    return None


class ResourceOperations(HttpApiBase):
    # == routes ============================================================================

    def create_route(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        self.api_row(ctx, api_id)
        key = params["RouteKey"]
        self._check_route_key(api_id, key)
        route = {
            "ApiKeyRequired": bool(params.get("ApiKeyRequired", False)),
            "AuthorizationType": params.get("AuthorizationType") or "NONE",
            "RouteId": new_id(7),
            "RouteKey": key,
        }
        for name in ("AuthorizationScopes", "AuthorizerId", "OperationName", "RequestParameters",
                     "RouteResponseSelectionExpression", "ModelSelectionExpression"):  # fmt: skip
            if name in params:
                route[name] = params[name]
        self._check_authorization(api_id, route)
        if params.get("Target"):
            route["Target"] = self._check_target(api_id, params["Target"])
        self.save_item(api_id, "route", route["RouteId"], route)
        self.redeploy(api_id)
        return route

    def get_route(self, ctx: RequestContext, params: dict) -> dict:
        return public(self.existing(ctx, params["ApiId"], "route", params["RouteId"]))

    def get_routes(self, ctx: RequestContext, params: dict) -> dict:
        self.api_row(ctx, params["ApiId"])
        return paged(self.items(params["ApiId"], "route"), params)

    def update_route(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        route = self.existing(ctx, api_id, "route", params["RouteId"])
        if "RouteKey" in params and params["RouteKey"] != route["RouteKey"]:
            self._check_route_key(api_id, params["RouteKey"])
            route["RouteKey"] = params["RouteKey"]
        if "Target" in params:
            route["Target"] = self._check_target(api_id, params["Target"])
        for name in (
            "ApiKeyRequired",
            "AuthorizationType",
            "AuthorizationScopes",
            "AuthorizerId",
            "OperationName",
            "RequestParameters",
            "RouteResponseSelectionExpression",
            "ModelSelectionExpression",
        ):
            if name in params:
                route[name] = params[name]
        self._check_authorization(api_id, route)
        self.save_item(api_id, "route", route["RouteId"], route)
        self.redeploy(api_id)
        return route

    def delete_route(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        self.existing(ctx, api_id, "route", params["RouteId"])
        self.delete_item(api_id, "route", params["RouteId"])
        self.redeploy(api_id)
        return {}

    def _check_route_key(self, api_id: str, key: str) -> None:
        if self.is_websocket(api_id):
            # WebSocket route keys are $connect, $disconnect, $default or any value the
            # route selection expression may yield.
            if not key.strip():
                raise bad_request("Route key must not be empty")
        else:
            try:
                routing.parse_key(key)
            except ValueError as error:
                raise bad_request(str(error)) from None
        if any(r["RouteKey"] == key for r in self.items(api_id, "route")):
            raise conflict(f"Route with key {key} already exists for this API")

    def _check_target(self, api_id: str, target: str) -> str:
        integration_id = target.removeprefix("integrations/")
        if not target.startswith("integrations/") or (
            self.item(api_id, "integration", integration_id) is None
        ):
            raise bad_request(f"Invalid integration identifier specified {integration_id}")
        return target

    def _check_authorization(self, api_id: str, route: Doc) -> None:
        """``JWT`` and ``CUSTOM`` need an authorizer of that type (``authorizers.py``).
        WebSocket APIs authorize the handshake only: on ``$connect``, never with JWT."""
        kind = route["AuthorizationType"]
        if kind != "NONE" and self.is_websocket(api_id):
            if route["RouteKey"] != "$connect":
                raise bad_request(
                    "Currently, authorization is restricted to the $connect route only"
                )
            if kind == "JWT":
                raise bad_request("JWT authorizers are not supported for WEBSOCKET APIs")
        if kind not in ("NONE", "JWT", "CUSTOM", "AWS_IAM"):
            raise bad_request(
                f"Invalid authorization type {kind}. Valid options are NONE,JWT,CUSTOM,AWS_IAM"
            )
        if kind in ("NONE", "AWS_IAM"):
            route.pop("AuthorizerId", None)
            return
        authorizer = self.item(api_id, "authorizer", route.get("AuthorizerId") or "")
        wanted = "JWT" if kind == "JWT" else "REQUEST"
        if authorizer is None or authorizer["AuthorizerType"] != wanted:
            raise bad_request(
                f"Invalid authorizer ID specified. Setting the authorization type to {kind} "
                f"requires a valid {wanted} authorizer."
            )

    # == integrations ======================================================================

    def create_integration(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        self.api_row(ctx, api_id)
        integration = {
            "ConnectionType": params.get("ConnectionType") or "INTERNET",
            "IntegrationId": new_id(7),
            "IntegrationType": params["IntegrationType"],
            "TimeoutInMillis": params.get("TimeoutInMillis") or 30000,
        }
        for name in (
            "Description",
            "IntegrationMethod",
            "IntegrationUri",
            "PayloadFormatVersion",
            "RequestParameters",
            "ResponseParameters",
            "CredentialsArn",
        ):
            if name in params:
                integration[name] = params[name]
        self.check_integration(integration)
        self.save_item(api_id, "integration", integration["IntegrationId"], integration)
        self.redeploy(api_id)
        return integration

    def get_integration(self, ctx: RequestContext, params: dict) -> dict:
        return public(self.existing(ctx, params["ApiId"], "integration", params["IntegrationId"]))

    def get_integrations(self, ctx: RequestContext, params: dict) -> dict:
        self.api_row(ctx, params["ApiId"])
        return paged(self.items(params["ApiId"], "integration"), params)

    def update_integration(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        integration = self.existing(ctx, api_id, "integration", params["IntegrationId"])
        for name, value in params.items():
            if name not in ("ApiId", "IntegrationId"):
                integration[name] = value
        self.check_integration(integration)
        self.save_item(api_id, "integration", integration["IntegrationId"], integration)
        self.redeploy(api_id)
        return integration

    def delete_integration(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        integration_id = params["IntegrationId"]
        self.existing(ctx, api_id, "integration", integration_id)
        if any(r.get("Target") == f"integrations/{integration_id}"
               for r in self.items(api_id, "route")):  # fmt: skip
            raise conflict(
                f"Cannot delete Integration {integration_id} because routes are attached to it"
            )
        self.delete_item(api_id, "integration", integration_id)
        self.redeploy(api_id)
        return {}

    @staticmethod
    def check_integration(integration: Doc) -> None:
        kind = integration["IntegrationType"]
        if kind not in _SERVED_TYPES:
            raise bad_request(
                f"sandlot does not serve IntegrationType {kind} on HTTP APIs yet; "
                "use AWS_PROXY (Lambda) or HTTP_PROXY."
            )
        uri = integration.get("IntegrationUri")
        if not uri:
            raise bad_request("IntegrationUri is required for this IntegrationType.")
        if kind == "AWS_PROXY":
            if integration.get("IntegrationSubtype") or lambda_target(uri) is None:
                raise bad_request(
                    "sandlot serves AWS_PROXY integrations with Lambda functions only: "
                    f"IntegrationUri {uri} names no function."
                )
            integration.setdefault("PayloadFormatVersion", "1.0")
            integration["IntegrationMethod"] = "POST"
        else:
            integration.setdefault("PayloadFormatVersion", "1.0")
            if integration["PayloadFormatVersion"] != "1.0":
                raise bad_request("PayloadFormatVersion must be 1.0 for HTTP_PROXY integrations")
            if urlsplit(uri).scheme not in ("http", "https"):
                raise bad_request(f"Invalid HTTP endpoint specified for URI: {uri}")
            if not integration.get("IntegrationMethod"):
                raise bad_request("IntegrationMethod is required for HTTP_PROXY integrations")
        if integration["PayloadFormatVersion"] not in _PAYLOAD_VERSIONS:
            raise bad_request(
                f"Invalid PayloadFormatVersion {integration['PayloadFormatVersion']}: "
                "supported values are 1.0 and 2.0."
            )

    # == stages ============================================================================

    def create_stage(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        self.api_row(ctx, api_id)
        name = params["StageName"]
        if self.item(api_id, "stage", name) is not None:
            raise conflict(f"Stage already exists: {name}")
        stamp = now_iso()
        stage: Doc = {
            "AutoDeploy": bool(params.get("AutoDeploy", False)),
            "CreatedDate": stamp,
            "DefaultRouteSettings": params.get("DefaultRouteSettings")
            or {"DetailedMetricsEnabled": False},
            "LastUpdatedDate": stamp,
            "RouteSettings": params.get("RouteSettings") or {},
            "StageName": name,
            "StageVariables": params.get("StageVariables") or {},
            "Tags": params.get("Tags") or {},
        }
        if params.get("Description"):
            stage["Description"] = params["Description"]
        if params.get("DeploymentId"):
            self.existing(ctx, api_id, "deployment", params["DeploymentId"])
            stage["DeploymentId"] = params["DeploymentId"]
        self.save_item(api_id, "stage", name, stage)
        if stage["AutoDeploy"]:
            self.redeploy(api_id)
            stage = self.item(api_id, "stage", name) or stage
        kind = "WebSocket API" if self.is_websocket(api_id) else "HTTP API"
        urls_log.info("%s %s stage %s: %s", kind, api_id, name, self.stage_url(api_id, name))
        return public(stage)

    def get_stage(self, ctx: RequestContext, params: dict) -> dict:
        return public(self.existing(ctx, params["ApiId"], "stage", params["StageName"]))

    def get_stages(self, ctx: RequestContext, params: dict) -> dict:
        self.api_row(ctx, params["ApiId"])
        return paged(self.items(params["ApiId"], "stage"), params)

    def update_stage(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        stage = self.existing(ctx, api_id, "stage", params["StageName"])
        if params.get("DeploymentId"):
            self.existing(ctx, api_id, "deployment", params["DeploymentId"])
        for name in (
            "AutoDeploy",
            "DefaultRouteSettings",
            "DeploymentId",
            "Description",
            "RouteSettings",
            "StageVariables",
        ):
            if name in params:
                stage[name] = params[name]
        stage["LastUpdatedDate"] = now_iso()
        self.save_item(api_id, "stage", stage["StageName"], stage)
        if stage["AutoDeploy"]:
            self.redeploy(api_id)
            stage = self.item(api_id, "stage", stage["StageName"]) or stage
        return public(stage)

    def delete_stage(self, ctx: RequestContext, params: dict) -> dict:
        self.existing(ctx, params["ApiId"], "stage", params["StageName"])
        self.delete_item(params["ApiId"], "stage", params["StageName"])
        return {}

    def stage_url(self, api_id: str, stage: str) -> str:
        base = self.api_endpoint(api_id)
        if self.is_websocket(api_id):
            return "ws" + base.removeprefix("http") + f"/{stage}"
        return f"{base}/" if stage == routing.DEFAULT else f"{base}/{stage}/"

    # == deployments =======================================================================

    def create_deployment(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        self.api_row(ctx, api_id)
        stage = None
        if params.get("StageName"):
            stage = self.existing(ctx, api_id, "stage", params["StageName"])
        deployment = self.deploy(api_id, params.get("Description"), auto=False)
        if stage is not None:
            stage["DeploymentId"] = deployment["DeploymentId"]
            stage["LastUpdatedDate"] = now_iso()
            self.save_item(api_id, "stage", stage["StageName"], stage)
        return public(deployment)

    def get_deployment(self, ctx: RequestContext, params: dict) -> dict:
        return public(self.existing(ctx, params["ApiId"], "deployment", params["DeploymentId"]))

    def get_deployments(self, ctx: RequestContext, params: dict) -> dict:
        self.api_row(ctx, params["ApiId"])
        return paged(self.items(params["ApiId"], "deployment"), params)

    def delete_deployment(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        self.existing(ctx, api_id, "deployment", params["DeploymentId"])
        if any(s.get("DeploymentId") == params["DeploymentId"]
               for s in self.items(api_id, "stage")):  # fmt: skip
            raise bad_request("Active stages pointing to this deployment must be moved or deleted")
        self.delete_item(api_id, "deployment", params["DeploymentId"])
        return {}

    def deploy(self, api_id: str, description: str | None, *, auto: bool) -> Doc:
        routes = self.items(api_id, "route")
        if not routes:
            raise bad_request("Unable to deploy API because no routes exist in this API")
        deployment: Doc = {
            "AutoDeployed": auto,
            "CreatedDate": now_iso(),
            "DeploymentId": new_id(6),
            "DeploymentStatus": "DEPLOYED",
            "_snapshot": {
                "routes": routes,
                "integrations": {i["IntegrationId"]: i for i in self.items(api_id, "integration")},
                "authorizers": {a["AuthorizerId"]: a for a in self.items(api_id, "authorizer")},
                "route_responses": self.items(api_id, "routeresponse"),  # WebSocket APIs
            },
        }
        if description:
            deployment["Description"] = description
        self.save_item(api_id, "deployment", deployment["DeploymentId"], deployment)
        return deployment

    def redeploy(self, api_id: str) -> None:
        """After a change: a new deployment for every stage with AutoDeploy."""
        stages = [s for s in self.items(api_id, "stage") if s.get("AutoDeploy")]
        if not stages or not self.items(api_id, "route"):
            return
        deployment = self.deploy(api_id, "Automatic deployment triggered by changes", auto=True)
        for stage in stages:
            stage["DeploymentId"] = deployment["DeploymentId"]
            stage["LastDeploymentStatusMessage"] = (
                f"Successfully deployed stage with deployment ID '{deployment['DeploymentId']}'"
            )
            self.save_item(api_id, "stage", stage["StageName"], stage)
