"""The HTTP APIs' data plane: ``<apiId>.execute-api.localhost…:<port>/<stage>/<path>``
(``$default`` stage: no stage segment) and ``<endpoint>/_aws/execute-api/<apiId>/…``.

A request selects a stage, the stage's deployment, then a route (``routing.py``); the
route's integration answers: ``AWS_PROXY`` invokes the function through
``Platform.call("lambda", "Invoke")`` as ``apigateway.amazonaws.com`` with
``aws:SourceArn`` ``arn:aws:execute-api:<region>:<account>:<apiId>/<stage>/<METHOD>/<path>``
(so the function's resource policy must allow it, as in AWS), with the payload format
1.0 or 2.0 event; ``HTTP_PROXY`` forwards the request to its URL. AWS's answers when
something fails: ``{"message":"Not Found"}`` 404 for no route, 500 ``Internal Server
Error`` for a denied invoke, a function error or a malformed answer, 503 ``Service
Unavailable`` when an HTTP endpoint times out. Compiled APIs are cached until the
provider's next write.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import uuid
from dataclasses import dataclass, field

from sandlot.protocol import ServiceError
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse, json_response
from sandlot.services import http_events, http_lambda, http_proxy
from sandlot.services import http_routes as routing
from sandlot.services.apigatewayv2.authorization import Authorized, RouteAuthorizers
from sandlot.services.apigatewayv2.base import Doc
from sandlot.services.apigatewayv2.resources import ResourceOperations, lambda_target
from sandlot.services.apigatewayv2.schema import APIS

log = logging.getLogger("sandlot.apigatewayv2")


@dataclass
class _Stage:
    doc: Doc
    routes: list[routing.Route] | None  # None: nothing deployed
    integrations: dict[str, Doc] = field(default_factory=dict)
    authorizers: dict[str, Doc] = field(default_factory=dict)


@dataclass
class _Api:
    account: str
    region: str
    cors: dict
    stages: dict[str, _Stage]


def _not_found() -> DataPlaneResponse:
    return json_response(404, {"message": "Not Found"})


def _internal_error() -> DataPlaneResponse:
    return json_response(500, {"message": "Internal Server Error"})


class DataPlaneOperations(ResourceOperations):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.route_authorizers = RouteAuthorizers(platform)

    async def data_plane(self, request: DataPlaneRequest) -> DataPlaneResponse:
        """One request to an HTTP API (``gateway/dataplane.py``)."""
        api = self._compiled(request.target)
        if api is None:
            return _not_found()
        stage_name, path = _stage_and_path(api, request.path)
        if stage_name is None:
            return _not_found()
        origin = request.header("origin")
        if (
            api.cors
            and request.method == "OPTIONS"
            and origin
            and request.header("access-control-request-method")
        ):
            return DataPlaneResponse(204, http_events.cors_preflight(api.cors, origin))
        began = time.perf_counter()
        timing: dict[str, float] = {}
        response = await self._route(api, stage_name, path, request, timing)
        self.platform.metrics.api_request(
            api.account, api.region, (("ApiId", request.target),), stage_name, response.status,
            (time.perf_counter() - began) * 1000, timing.get("integration"), http_api=True,
        )  # fmt: skip
        return http_events.with_cors(api.cors, origin, response)

    async def _route(
        self, api: _Api, stage_name: str, path: str, request: DataPlaneRequest,
        timing: dict[str, float],
    ) -> DataPlaneResponse:  # fmt: skip
        """The request on its route; ``timing["integration"]``: how long the
        integration took, in milliseconds (AWS/ApiGateway's IntegrationLatency)."""
        stage = api.stages[stage_name]
        if stage.routes is None:
            return _not_found()
        selected = routing.select(stage.routes, request.method, path)
        if selected is None:
            return _not_found()
        route, path_parameters = selected
        target = route.value.get("Target", "")  # type: ignore[union-attr]
        integration = stage.integrations.get(target.removeprefix("integrations/"))
        if integration is None:
            return _not_found()
        request_id = str(uuid.uuid4())

        def build_event(version: str, authorized: Authorized | None = None) -> dict:
            return self._event(api, stage, route, path_parameters, request, request_id,
                               version, authorized)  # fmt: skip

        authorized = None
        if route.value.get("AuthorizationType", "NONE") != "NONE":  # type: ignore[union-attr]
            outcome = await self.route_authorizers.authorize(
                route.value,  # type: ignore[arg-type]
                stage.authorizers.get(route.value.get("AuthorizerId") or ""),  # type: ignore[union-attr]
                request,
                api_id=request.target,
                account=api.account,
                region=api.region,
                route_arn=f"arn:aws:execute-api:{api.region}:{api.account}:{request.target}/"
                f"{stage_name}/{request.method}{path}",
                request_id=request_id,
                build_event=build_event,
            )
            if isinstance(outcome, DataPlaneResponse):
                outcome.headers.append(("apigw-requestid", request_id))
                return outcome
            authorized = outcome
        began = time.perf_counter()
        if integration["IntegrationType"] == "HTTP_PROXY":
            response = await _http_proxy(integration, route, path, path_parameters, request)
        else:
            version = integration.get("PayloadFormatVersion", "1.0")
            event = build_event(version, authorized)
            response = await self._lambda_proxy(api, stage, route, integration, event, request,
                                                request_id)  # fmt: skip
        timing["integration"] = (time.perf_counter() - began) * 1000
        response.headers.append(("apigw-requestid", request_id))
        return response

    def _event(
        self,
        api: _Api,
        stage: _Stage,
        route: routing.Route,
        path_parameters: dict[str, str],
        request: DataPlaneRequest,
        request_id: str,
        version: str,
        authorized: Authorized | None,
    ) -> dict:
        """The request's proxy event in payload format ``version``."""
        common = {
            "stage": stage.doc["StageName"],
            "api_id": request.target,
            "account": api.account,
            "request_id": request_id,
            "domain_name": request.host.rsplit(":", 1)[0] if request.host else "",
            "path_parameters": path_parameters or None,
            "stage_variables": stage.doc.get("StageVariables") or None,
        }
        raw_path = request.path  # with the stage segment, as AWS passes it
        if version == "2.0":
            event = http_events.event_v2(request, route_key=route.key, raw_path=raw_path, **common)
        else:
            resource = route.path or "/{proxy+}"
            event = http_events.event_v1(request, resource=resource, path=raw_path, **common)
        if authorized is not None:
            event["requestContext"]["authorizer"] = authorized.for_event(version)
            if version != "2.0" and authorized.iam:
                identity = event["requestContext"]["identity"]
                identity.update(accessKey=authorized.iam["accessKey"],
                                accountId=authorized.iam["accountId"],
                                caller=authorized.iam["callerId"], user=authorized.iam["userId"],
                                userArn=authorized.iam["userArn"])  # fmt: skip
        return event

    async def _lambda_proxy(
        self,
        api: _Api,
        stage: _Stage,
        route: routing.Route,
        integration: Doc,
        event: dict,
        request: DataPlaneRequest,
        request_id: str,
    ) -> DataPlaneResponse:
        stage_name = stage.doc["StageName"]
        function = lambda_target(integration["IntegrationUri"])
        version = integration.get("PayloadFormatVersion", "1.0")
        method_part = f"{request.method}{route.path}" if route.path else "$default"
        source_arn = (
            f"arn:aws:execute-api:{api.region}:{api.account}:{request.target}/"
            f"{stage_name}/{method_part}"
        )
        try:
            result = await http_lambda.invoke(
                self.platform, function, event, account=api.account, region=api.region,
                source_arn=source_arn, request_id=request_id,
            )  # fmt: skip
        except ServiceError as error:
            log.warning("HTTP API %s: invoking %s failed: %s", request.target, function, error)
            return _internal_error()
        if result.get("FunctionError"):
            return _internal_error()
        payload = result.get("Payload") or b""
        mapped = (
            http_events.response_v2(payload)
            if version == "2.0"
            else http_events.response_v1(payload)
        )
        if mapped is None:
            log.warning("HTTP API %s: malformed Lambda proxy response", request.target)
            return _internal_error()
        return mapped

    def _compiled(self, api_id: str) -> _Api | None:
        """The API as the data plane needs it, cached until the provider's next write."""
        cache = self.__dict__.setdefault("_compiled_apis", {})
        found = cache.get(api_id)
        if found is not None and found[0] == self.generation:
            return found[1]
        if found is not None or len(cache) > 1024:
            cache.clear()  # a write happened: everything compiled before may be stale
        row = self.store.get(APIS, api_id)
        api = None
        if row is not None:
            doc = json.loads(row["doc"])
            stages = {}
            for stage in self.items(api_id, "stage"):
                stages[stage["StageName"]] = self._compile_stage(api_id, stage)
            api = _Api(row["account"], row["region"], doc.get("CorsConfiguration") or {}, stages)
        cache[api_id] = (self.generation, api)
        return api

    def _compile_stage(self, api_id: str, stage: Doc) -> _Stage:
        deployment = (
            self.item(api_id, "deployment", stage["DeploymentId"])
            if stage.get("DeploymentId")
            else None
        )
        if deployment is None:
            return _Stage(stage, None)
        snapshot = deployment["_snapshot"]
        routes = routing.compile_routes([(r["RouteKey"], r) for r in snapshot["routes"]])
        return _Stage(stage, routes, snapshot["integrations"], snapshot.get("authorizers", {}))


def _stage_and_path(api: _Api, path: str) -> tuple[str | None, str]:
    """The stage a path names (its first segment) and the rest; else ``$default``."""
    first, _, rest = path.lstrip("/").partition("/")
    if first and first != routing.DEFAULT and first in api.stages:
        return first, "/" + rest
    if routing.DEFAULT in api.stages:
        return routing.DEFAULT, path or "/"
    return None, path


async def _http_proxy(
    integration: Doc,
    route: routing.Route,
    path: str,
    path_parameters: dict[str, str],
    request: DataPlaneRequest,
) -> DataPlaneResponse:
    """Forward the request to the integration's URL: its path variables filled from the
    route's, or (no variables, the ``$default`` route) the request's path appended."""
    uri = integration["IntegrationUri"]
    if http_proxy.VARIABLE.search(uri):
        uri = http_proxy.fill(uri, path_parameters)
    elif route.key == routing.DEFAULT:
        uri = uri.rstrip("/") + path
    method = integration.get("IntegrationMethod", "ANY")
    method = request.method if method == "ANY" else method
    timeout = integration.get("TimeoutInMillis", 30000) / 1000
    try:
        return await http_proxy.forward(uri, method, request, timeout)
    except TimeoutError:
        return json_response(503, {"message": "Service Unavailable"})
    except (OSError, http.client.HTTPException) as error:
        log.warning("HTTP API: HTTP_PROXY to %s failed: %s", uri, error)
        return _internal_error()
