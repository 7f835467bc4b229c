"""WebSocket APIs (ProtocolType ``WEBSOCKET``): route responses, connections, and the
``@connections`` management API.

The gateway (``gateway/websocket.py``) owns the socket and calls
``websocket_connect`` / ``websocket_message`` / ``websocket_disconnect``; this module
does what API Gateway does with them:

- the handshake's path names the stage (``/<stage>``); the ``$connect`` route's
  integration runs first, and a function answering a non-2xx ``statusCode`` (or
  failing) refuses the handshake with that status (500 when it failed);
- each message selects a route by the API's ``RouteSelectionExpression``
  (``$request.body.<path>``: a member of the JSON message), else ``$default``; no
  route: ``{"message": "Forbidden", ...}`` is sent back, as AWS does. A route whose
  ``RouteResponseSelectionExpression`` is set and which has a ``$default`` route
  response is two-way: the integration's ``body`` is sent back to the client;
- ``$disconnect`` runs when the connection ends, whoever ended it;
- AWS_PROXY integrations invoke the function as ``apigateway.amazonaws.com`` with
  ``aws:SourceArn`` ``arn:aws:execute-api:<region>:<account>:<apiId>/<stage>/<routeKey>``
  and AWS's event (``requestContext.eventType`` CONNECT/MESSAGE/DISCONNECT, …).

The management API (boto3's ``apigatewaymanagementapi``, endpoint
``<endpoint>/_aws/execute-api/<apiId>/<stage>`` or the API's host with the stage)
arrives as an HTTP data-plane request ``/<stage>/@connections/<id>``: SigV4 is
required and the signer must be allowed ``execute-api:ManageConnections`` on
``arn:aws:execute-api:<region>:<account>:<apiId>/<stage>/<METHOD>/@connections/<id>``.
A closed or unknown connection answers ``GoneException`` (410). Connections live in
memory: a restart ends them, as a deployment of the API's service would.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from sandlot.iam.policy import Outcome
from sandlot.protocol import ServiceError
from sandlot.protocol.dataplane import (
    DataPlaneRequest,
    DataPlaneResponse,
    WebSocketPeer,
    json_response,
)
from sandlot.protocol.models import service_model
from sandlot.protocol.serializer import ResponseSerializer
from sandlot.services import http_lambda
from sandlot.services.apigatewayv2.base import (
    Doc,
    bad_request,
    conflict,
    new_id,
    paged,
    public,
)
from sandlot.services.apigatewayv2.dataplane import DataPlaneOperations
from sandlot.services.apigatewayv2.resources import lambda_target
from sandlot.services.apigatewayv2.schema import APIS
from sandlot.services.provider import RequestContext

log = logging.getLogger("sandlot.apigatewayv2")

_CONNECTIONS = "/@connections/"
_MAX_POST_BYTES = 128 * 1024  # API Gateway's WebSocket message size quota
_BODY_PREFIX = "$request.body."


@dataclass
class _WsStage:
    name: str
    routes: dict[str, Doc] | None  # by RouteKey; None: nothing deployed
    integrations: dict[str, Doc] = field(default_factory=dict)
    responses: dict[str, set[str]] = field(default_factory=dict)  # RouteId → response keys


@dataclass
class _WsApi:
    api_id: str
    account: str
    region: str
    selection: str  # RouteSelectionExpression
    stages: dict[str, _WsStage]


@dataclass
class _Connection:
    id: str
    api_id: str
    stage: str
    peer: WebSocketPeer
    request: DataPlaneRequest  # the handshake: headers for $connect and $disconnect
    connected_at: int  # epoch milliseconds
    last_active: int
    gone: bool = False  # DeleteConnection closed it; $disconnect still to run


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


class WebSocketOperations(DataPlaneOperations):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.connections: dict[str, _Connection] = {}
        self._ws_apis: dict[str, tuple[int, _WsApi | None]] = {}
        self._management = ResponseSerializer(service_model("apigatewaymanagementapi"))

    # == route responses (control plane) ===================================================

    def create_route_response(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["ApiId"]
        route = self.existing(ctx, api_id, "route", params["RouteId"])
        key = params["RouteResponseKey"]
        if any(r["RouteId"] == route["RouteId"] and r["RouteResponseKey"] == key
               for r in self.items(api_id, "routeresponse")):  # fmt: skip
            raise conflict(f"Route response with key {key} already exists for this route")
        doc: Doc = {"RouteResponseId": new_id(6), "RouteResponseKey": key,
                    "RouteId": route["RouteId"]}  # fmt: skip
        for name in ("ModelSelectionExpression", "ResponseModels", "ResponseParameters"):
            if name in params:
                doc[name] = params[name]
        self.save_item(api_id, "routeresponse", doc["RouteResponseId"], doc)
        self.redeploy(api_id)
        return _route_response(doc)

    def get_route_response(self, ctx: RequestContext, params: dict) -> dict:
        return _route_response(self._route_response(ctx, params))

    def get_route_responses(self, ctx: RequestContext, params: dict) -> dict:
        self.existing(ctx, params["ApiId"], "route", params["RouteId"])
        found = [r for r in self.items(params["ApiId"], "routeresponse")
                 if r["RouteId"] == params["RouteId"]]  # fmt: skip
        output = paged(found, params)
        output["Items"] = [_route_response(r) for r in output["Items"]]
        return output

    def update_route_response(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._route_response(ctx, params)
        for name in ("RouteResponseKey", "ModelSelectionExpression", "ResponseModels",
                     "ResponseParameters"):  # fmt: skip
            if name in params:
                doc[name] = params[name]
        self.save_item(params["ApiId"], "routeresponse", doc["RouteResponseId"], doc)
        self.redeploy(params["ApiId"])
        return _route_response(doc)

    def delete_route_response(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._route_response(ctx, params)
        self.delete_item(params["ApiId"], "routeresponse", doc["RouteResponseId"])
        self.redeploy(params["ApiId"])
        return {}

    def _route_response(self, ctx: RequestContext, params: dict) -> Doc:
        self.existing(ctx, params["ApiId"], "route", params["RouteId"])
        doc = self.existing(ctx, params["ApiId"], "routeresponse", params["RouteResponseId"])
        if doc["RouteId"] != params["RouteId"]:
            raise bad_request(
                f"Invalid RouteResponse identifier specified {doc['RouteResponseId']}"
            )
        return doc

    # == the WebSocket data plane (gateway/websocket.py) ====================================

    async def websocket_connect(
        self, request: DataPlaneRequest, peer: WebSocketPeer
    ) -> str | DataPlaneResponse:
        api = self._ws_api(request.target)
        if api is None:
            return json_response(404, {"message": "Not Found"})
        stage = api.stages.get(request.path.strip("/"))
        if stage is None or stage.routes is None:
            return json_response(403, {"message": "Forbidden"})
        now = _now_ms()
        connection = _Connection(
            base64.urlsafe_b64encode(secrets.token_bytes(11)).decode(),
            api.api_id, stage.name, peer, request, now, now,
        )  # fmt: skip
        route = stage.routes.get("$connect")
        if route is not None and route.get("AuthorizationType", "NONE") != "NONE":
            refused = self._authorize_connect(api, stage, route, request)
            if refused is not None:
                return refused
        if route is not None:
            answer = await self._integrate(api, stage, route, connection, "CONNECT", None)
            if answer is None:
                return json_response(500, {"message": "Internal server error"})
            status = answer.get("statusCode") if isinstance(answer, dict) else None
            if isinstance(status, int) and not 200 <= status < 300:
                return json_response(status, {"message": "Forbidden"})
        self.connections[connection.id] = connection
        return connection.id

    def _authorize_connect(
        self, api: _WsApi, stage: _WsStage, route: Doc, request: DataPlaneRequest
    ) -> DataPlaneResponse | None:
        """``$connect``'s authorization: None when the handshake may proceed."""
        if route["AuthorizationType"] != "AWS_IAM":
            # Lambda REQUEST authorizers on $connect are not run yet: refuse, never
            # let the handshake through unauthorized.
            log.warning("WebSocket API %s: %s authorization on $connect is not served yet",
                        api.api_id, route["AuthorizationType"])  # fmt: skip
            return json_response(500, {"message": "Internal server error"})
        if request.principal is None:
            return json_response(403, {"message": "Forbidden"})
        arn = f"arn:aws:execute-api:{api.region}:{api.account}:{api.api_id}/{stage.name}/$connect"
        decision = self.platform.authorizer.decide(
            request.principal, "execute-api:Invoke", arn, request_id=str(uuid.uuid4()),
            region=api.region,
            context={"aws:SourceIp": request.source_ip, "aws:SecureTransport": request.secure},
        )  # fmt: skip
        if decision.outcome != Outcome.ALLOW:
            return json_response(403, {"message": "Forbidden"})
        return None

    async def websocket_message(self, connection_id: str, data: str | bytes) -> None:
        connection = self.connections.get(connection_id)
        if connection is None or connection.gone:
            return
        connection.last_active = _now_ms()
        api = self._ws_api(connection.api_id)
        stage = api.stages.get(connection.stage) if api is not None else None
        if api is None or stage is None or not stage.routes:
            await connection.peer.close(1001)  # the API or stage was deleted
            return
        route = stage.routes.get(_select(api.selection, data)) or stage.routes.get("$default")
        if route is None:
            await self._error(connection, "Forbidden")
            return
        answer = await self._integrate(api, stage, route, connection, "MESSAGE", data)
        if answer is None:
            await self._error(connection, "Internal server error")
            return
        if route.get("RouteResponseSelectionExpression") and "$default" in stage.responses.get(
            route["RouteId"], ()
        ):
            body = answer.get("body") if isinstance(answer, dict) else answer
            if body is not None:
                await connection.peer.send(body if isinstance(body, str) else json.dumps(body))

    async def websocket_disconnect(self, connection_id: str, code: int) -> None:
        connection = self.connections.pop(connection_id, None)
        if connection is None:
            return
        api = self._ws_api(connection.api_id)
        stage = api.stages.get(connection.stage) if api is not None else None
        route = stage.routes.get("$disconnect") if stage and stage.routes else None
        if api is not None and stage is not None and route is not None:
            await self._integrate(api, stage, route, connection, "DISCONNECT", None, code=code)

    async def _error(self, connection: _Connection, message: str) -> None:
        await connection.peer.send(json.dumps({
            "message": message, "connectionId": connection.id, "requestId": str(uuid.uuid4()),
        }))  # fmt: skip

    async def _integrate(
        self,
        api: _WsApi,
        stage: _WsStage,
        route: Doc,
        connection: _Connection,
        kind: str,
        data: str | bytes | None,
        code: int | None = None,
    ) -> object | None:
        """Invoke the route's integration; its decoded answer (None when it failed)."""
        integration = stage.integrations.get(route.get("Target", "").removeprefix("integrations/"))
        function = lambda_target(integration.get("IntegrationUri", "")) if integration else None
        if function is None:
            log.warning("WebSocket API %s: route %s has no Lambda integration",
                        api.api_id, route["RouteKey"])  # fmt: skip
            return None
        request_id = str(uuid.uuid4())
        event = _event(api, stage.name, route["RouteKey"], connection, kind, data,
                       request_id, code)  # fmt: skip
        source_arn = (
            f"arn:aws:execute-api:{api.region}:{api.account}:{api.api_id}/{stage.name}/"
            f"{route['RouteKey']}"
        )
        try:
            result = await http_lambda.invoke(
                self.platform, function, event, account=api.account, region=api.region,
                source_arn=source_arn, request_id=request_id,
            )  # fmt: skip
        except ServiceError as error:
            log.warning("WebSocket API %s: invoking %s failed: %s", api.api_id, function, error)
            return None
        if result.get("FunctionError"):
            return None
        try:
            return json.loads(result.get("Payload") or b"null")
        except ValueError:
            return None

    # == the @connections management API ===================================================

    async def data_plane(self, request: DataPlaneRequest) -> DataPlaneResponse:
        api = self._ws_api(request.target)
        if api is None:
            return await super().data_plane(request)  # an HTTP API
        stage_name, _, rest = request.path.lstrip("/").partition("/")
        if ("/" + rest).startswith(_CONNECTIONS) and stage_name in api.stages:
            connection_id = unquote(rest[len(_CONNECTIONS) - 1 :])  # clients quote the "="
            return await self._manage(api, stage_name, connection_id, request)
        # Plain HTTP to a WebSocket endpoint: the client must upgrade.
        return json_response(426, {"message": "Upgrade Required"})

    async def _manage(
        self, api: _WsApi, stage: str, connection_id: str, request: DataPlaneRequest
    ) -> DataPlaneResponse:
        operation = {"POST": "PostToConnection", "GET": "GetConnection",
                     "DELETE": "DeleteConnection"}.get(request.method)  # fmt: skip
        if operation is None or not connection_id or "/" in connection_id:
            return json_response(404, {"message": "Not Found"})
        request_id = str(uuid.uuid4())
        model = self._management.model.operation_model(operation)
        try:
            self._may_manage(api, stage, connection_id, request, request_id)
            connection = self.connections.get(connection_id)
            if (connection is None or connection.gone or connection.api_id != api.api_id
                    or connection.stage != stage):  # fmt: skip
                raise ServiceError("GoneException", "", 410)
            result = await self._manage_connection(operation, connection, request)
        except ServiceError as error:
            return _plain(self._management.serialize_error(error, model, request_id))
        return _plain(self._management.serialize(model, result, request_id))

    async def _manage_connection(
        self, operation: str, connection: _Connection, request: DataPlaneRequest
    ) -> dict:
        if operation == "GetConnection":
            return {
                "ConnectedAt": _iso(connection.connected_at),
                "LastActiveAt": _iso(connection.last_active),
                "Identity": {
                    "SourceIp": connection.request.source_ip,
                    "UserAgent": connection.request.header("user-agent") or "",
                },
            }
        if operation == "DeleteConnection":
            connection.gone = True
            await connection.peer.close(1000)
            return {}
        if len(request.body) > _MAX_POST_BYTES:
            raise ServiceError("PayloadTooLargeException", "Message too long", 413)
        try:
            data: str | bytes = request.body.decode()
        except UnicodeDecodeError:
            data = request.body
        await connection.peer.send(data)
        return {}

    def _may_manage(
        self, api: _WsApi, stage: str, connection_id: str, request: DataPlaneRequest,
        request_id: str,
    ) -> None:  # fmt: skip
        """SigV4 and ``execute-api:ManageConnections``, or ForbiddenException."""
        if request.principal is None:
            raise ServiceError("ForbiddenException", "Forbidden", 403)
        arn = (
            f"arn:aws:execute-api:{api.region}:{api.account}:{api.api_id}/{stage}/"
            f"{request.method}/@connections/{connection_id}"
        )
        decision = self.platform.authorizer.decide(
            request.principal, "execute-api:ManageConnections", arn, request_id=request_id,
            region=api.region,
            context={"aws:SourceIp": request.source_ip, "aws:SecureTransport": request.secure},
        )  # fmt: skip
        if decision.outcome != Outcome.ALLOW:
            raise ServiceError("ForbiddenException", "Forbidden", 403)

    # == compiled APIs =====================================================================

    def _ws_api(self, api_id: str) -> _WsApi | None:
        """The WebSocket API ``api_id`` as the data plane needs it (None: no such API, or
        an HTTP API), cached until the provider's next write."""
        found = self._ws_apis.get(api_id)
        if found is not None and found[0] == self.generation:
            return found[1]
        if len(self._ws_apis) > 1024:
            self._ws_apis.clear()
        row = self.store.get(APIS, api_id)
        api = None
        doc = json.loads(row["doc"]) if row is not None else {}
        if doc.get("ProtocolType") == "WEBSOCKET":
            stages = {
                s["StageName"]: self._ws_stage(api_id, s) for s in self.items(api_id, "stage")
            }
            api = _WsApi(api_id, row["account"], row["region"],  # type: ignore[index]
                         doc.get("RouteSelectionExpression") or "", stages)  # fmt: skip
        self._ws_apis[api_id] = (self.generation, api)
        return api

    def _ws_stage(self, api_id: str, stage: Doc) -> _WsStage:
        deployment = (
            self.item(api_id, "deployment", stage["DeploymentId"])
            if stage.get("DeploymentId")
            else None
        )
        if deployment is None:
            return _WsStage(stage["StageName"], None)
        snapshot = deployment["_snapshot"]
        responses: dict[str, set[str]] = {}
        for response in snapshot.get("route_responses", []):
            responses.setdefault(response["RouteId"], set()).add(response["RouteResponseKey"])
        return _WsStage(
            stage["StageName"],
            {r["RouteKey"]: r for r in snapshot["routes"]},
            snapshot["integrations"],
            responses,
        )


def _route_response(doc: Doc) -> Doc:
    return {k: v for k, v in public(doc).items() if k != "RouteId"}


def _select(expression: str, data: str | bytes) -> str | None:
    """The route key a message selects: ``$request.body.<a.b>`` reads a member of the
    JSON message; any other expression is a constant key."""
    if not expression.startswith(_BODY_PREFIX):
        return expression
    try:
        value: object = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    for part in expression[len(_BODY_PREFIX) :].split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value if isinstance(value, str) else None


def _event(
    api: _WsApi,
    stage: str,
    route_key: str,
    connection: _Connection,
    kind: str,
    data: str | bytes | None,
    request_id: str,
    code: int | None,
) -> dict:
    """AWS's Lambda proxy event of a WebSocket API (CONNECT, MESSAGE, DISCONNECT)."""
    now = time.time()
    handshake = connection.request
    context: dict = {
        "routeKey": route_key,
        "eventType": kind,
        "extendedRequestId": request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": connection.connected_at,
        "requestTimeEpoch": int(now * 1000),
        "identity": {
            "sourceIp": handshake.source_ip,
            "userAgent": handshake.header("user-agent"),
        },  # fmt: skip
        "requestId": request_id,
        "domainName": handshake.host.rsplit(":", 1)[0] if handshake.host else "",
        "connectionId": connection.id,
        "apiId": api.api_id,
    }
    event: dict = {"requestContext": context}
    if kind == "MESSAGE":
        context["messageId"] = new_id(16)
        if isinstance(data, bytes):
            event["body"] = base64.b64encode(data).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = data
            event["isBase64Encoded"] = False
        return event
    headers: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in handshake.headers:
        headers[name] = value
        multi.setdefault(name, []).append(value)
    event["headers"] = headers
    event["multiValueHeaders"] = multi
    if kind == "CONNECT":
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(handshake.query, keep_blank_values=True):
            query[name] = value  # the last one wins, as in payload 1.0
            multi_query.setdefault(name, []).append(value)
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = multi_query or None
    else:
        context["disconnectStatusCode"] = code
        context["disconnectReason"] = ""
    event["isBase64Encoded"] = False
    return event


def _plain(response) -> DataPlaneResponse:
    """A serialised management API answer as the data plane's response."""
    body = response.body if isinstance(response.body, bytes) else b""
    return DataPlaneResponse(response.status, list(response.headers.items()), body)
