"""WebSocket data planes: API Gateway WebSocket APIs at the execute-api hosts and paths
(``gateway/dataplane.py``), e.g. ``ws://<apiId>.execute-api.localhost:<port>/<stage>``.

uvicorn speaks the WebSocket protocol (the ``websockets`` sans-I/O implementation,
``gateway/server.py``); this module owns the ASGI ``websocket`` scope and hands the
provider protocol-neutral calls, as ``Gateway._data_plane`` does for HTTP:

- ``websocket_connect(request, peer)`` with the handshake as a ``DataPlaneRequest``:
  a connection id accepts it, a ``DataPlaneResponse`` refuses it (the HTTP answer to
  the upgrade, as API Gateway answers a ``$connect`` route's refusal);
- ``websocket_message(connection_id, data)`` for each message the client sends;
- ``websocket_disconnect(connection_id, code)`` once, when the connection ends,
  whoever ended it.

The provider writes to the client through ``peer`` (a ``WebSocketPeer``). Connections
idle for ``websocket_idle_timeout_seconds`` or older than
``websocket_max_connection_seconds`` are closed (code 1001, going away), as API
Gateway closes them after 10 minutes idle and 2 hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sandlot.gateway import dataplane
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse

log = logging.getLogger("sandlot.gateway")

_SERVICE = "apigatewayv2"  # the one execute-api provider serving WebSocket APIs
_GOING_AWAY = 1001


class _Peer:
    """``WebSocketPeer`` over ASGI ``send``; quiet once the connection is closed."""

    __slots__ = ("_send", "closed")

    def __init__(self, send) -> None:
        self._send = send
        self.closed = False

    async def send(self, data: str | bytes) -> None:
        if self.closed:
            return
        key = "text" if isinstance(data, str) else "bytes"
        try:
            await self._send({"type": "websocket.send", key: data})
        except (OSError, RuntimeError):  # closed under us (uvicorn raises either)
            self.closed = True

    async def close(self, code: int = 1000) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError, RuntimeError):  # already closed
            await self._send({"type": "websocket.close", "code": code})


async def serve(gateway, scope, receive, send) -> None:
    """One WebSocket connection (an ASGI ``websocket`` scope)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    host = _header(scope, b"host") or ""
    found = dataplane.match(host, scope.get("path", ""))
    provider = gateway.platform.provider(_SERVICE)
    connect = getattr(provider, "websocket_connect", None)
    if found is None or found.domain is not None or connect is None:
        await _refuse(send, DataPlaneResponse(404, body=b'{"message":"Not Found"}'))
        return
    refusal = gateway.browser.host_refusal(host)
    if refusal is not None:
        await _refuse(send, DataPlaneResponse(403, body=refusal.encode()))
        return
    raw_path = scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or scope["path"]
    if raw_path.startswith(dataplane.PATH_PREFIX):
        raw_path = "/" + raw_path[len(dataplane.PATH_PREFIX) :].partition("/")[2]
    request = DataPlaneRequest(
        target=found.target,
        method="GET",
        path=raw_path or "/",
        query=scope["query_string"].decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
        body=b"",
        source_ip=(scope.get("client") or ("",))[0],
        secure=scope.get("scheme") == "wss",
        host=host,
        region=gateway.settings.region,
    )
    # A SigV4 signature (header or presigned query), verified as for HTTP data planes:
    # $connect routes with AWS_IAM authorization need the signer.
    request.principal = gateway._data_plane_signer(scope, request)
    peer = _Peer(send)
    try:
        outcome = await connect(request, peer)
    except Exception:
        log.exception("internal error in the WebSocket data plane")
        outcome = DataPlaneResponse(500, body=b'{"message":"Internal Server Error"}')
    if isinstance(outcome, DataPlaneResponse):
        await _refuse(send, outcome)
        return
    await send({"type": "websocket.accept"})
    await _relay(gateway.settings, provider, outcome, peer, receive)


async def _relay(settings, provider, connection_id: str, peer: _Peer, receive) -> None:
    """Client messages to the provider until the connection ends, then the disconnect."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + settings.websocket_max_connection_seconds
    code = 1005  # no status received
    try:
        while True:
            wait = min(settings.websocket_idle_timeout_seconds, ends - loop.time())
            try:
                message = await asyncio.wait_for(receive(), max(wait, 0))
            except TimeoutError:
                code = _GOING_AWAY
                await peer.close(_GOING_AWAY)
                break
            if message["type"] == "websocket.disconnect":
                code = message.get("code", 1005)
                break
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            try:
                await provider.websocket_message(connection_id, data)
            except Exception:
                log.exception("internal error in the WebSocket data plane")
    finally:
        peer.closed = True
        try:
            await provider.websocket_disconnect(connection_id, code)
        except Exception:
            log.exception("internal error in the WebSocket data plane")


async def _refuse(send, response: DataPlaneResponse) -> None:
    """Answer the upgrade request with an HTTP response (ASGI's WebSocket Denial
    Response extension, which uvicorn offers) instead of accepting it."""
    headers = [(n.encode("latin-1"), v.encode("latin-1", "replace")) for n, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    if not any(n.lower() == b"content-type" for n, _ in headers):
        headers.append((b"content-type", b"application/json"))
    await send(
        {"type": "websocket.http.response.start", "status": response.status, "headers": headers}
    )
    await send({"type": "websocket.http.response.body", "body": response.body})


def _header(scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
