"""The Lambda Telemetry API (2022-07-01) and the older Logs API (2020-08-15).

An extension subscribes (``PUT /2022-07-01/telemetry`` or ``PUT /2020-08-15/logs``,
with its ``Lambda-Extension-Identifier``) to event types (``platform``, ``function``,
``extension``), a buffering configuration (maxItems, maxBytes, timeoutMs) and an HTTP
destination, normally a listener of its own at ``sandbox.localdomain``. Events are
buffered per subscription and POSTed as a JSON array when a limit is reached.

Telemetry API events are ``{"time", "type", "record"}`` with ``platform.initStart``,
``platform.initRuntimeDone``, ``platform.initReport``, ``platform.start``,
``platform.runtimeDone``, ``platform.report`` and ``function`` (a log line); the Logs
API's are ``platform.start``, ``platform.end``, ``platform.report`` and ``function``.
Events from before a subscription made during INIT (INIT's own) are delivered to it
too, as Lambda buffers them until the extensions have subscribed.

sandlot cannot tell an extension's output from the function's (one pipe carries both):
every line is a ``function`` event; an ``extension`` subscription gets none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sandlot.execution.extensions_api import ExtensionsAPI, Responder
from sandlot.execution.logs import iso_timestamp

TELEMETRY = b"/2022-07-01/telemetry"
LOGS = b"/2020-08-15/logs"
# (maxItems, maxBytes, timeoutMs): default, minimum, maximum, as AWS documents them.
_LIMITS = {
    "maxItems": (1000, 25, 10000),
    "maxBytes": (262144, 262144, 1048576),
    "timeoutMs": (1000, 25, 30000),
}
_LOGS_DEFAULT_ITEMS = 10000
_TYPES = {"platform", "function", "extension"}
# The Logs API's platform events, by the Telemetry API's names.
_LOGS_EVENTS = {"platform.start": "platform.start", "platform.runtimeDone": "platform.end"}
_BACKLOG_MAX = 1000  # events kept for subscriptions made during INIT


def _error(status: int, error_type: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"errorMessage": message, "errorType": error_type}).encode()


@dataclass(slots=True, eq=False)
class Subscription:
    legacy: bool  # the Logs API (2020-08-15)
    types: frozenset[str]
    max_items: int
    max_bytes: int
    timeout_s: float
    host: str
    port: int
    path: str
    buffer: list[bytes] = field(default_factory=list)
    size: int = 0
    timer: asyncio.TimerHandle | None = None


class TelemetryAPI:
    """Subscriptions and delivery for one environment.

    ``tcp_socket()`` makes a socket in the sandbox's network (``sandbox.localdomain`` is
    its loopback); ``spawn`` runs a delivery in the background.
    """

    def __init__(
        self,
        extensions: ExtensionsAPI,
        tcp_socket: Callable[[], socket.socket],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self._extensions = extensions
        self._tcp_socket = tcp_socket
        self._spawn = spawn
        self.subscriptions: list[Subscription] = []
        self._backlog: list[tuple[str, float, dict[str, Any] | str]] | None = []
        self._deliveries: set[asyncio.Future[None]] = set()

    # -- environment side --------------------------------------------------------

    def end_backlog(self) -> None:
        """INIT is over: later subscriptions get only later events."""
        self._backlog = None

    @property
    def active(self) -> bool:
        """Whether events are wanted (by a subscription, or kept for one during INIT)."""
        return bool(self.subscriptions) or self._backlog is not None

    def publish(self, event_type: str, seconds: float, record: dict[str, Any] | str) -> None:
        """One event (``platform.*`` or ``function``) for every subscription wanting it."""
        backlog = self._backlog
        if backlog is not None and len(backlog) < _BACKLOG_MAX:
            backlog.append((event_type, seconds, record))
        for sub in self.subscriptions:
            self._offer(sub, event_type, seconds, record)

    def _offer(
        self, sub: Subscription, event_type: str, seconds: float, record: dict[str, Any] | str
    ) -> None:
        category = "function" if event_type == "function" else "platform"
        if category not in sub.types:
            return
        if sub.legacy and isinstance(record, dict):  # the Logs API's shorter records
            if event_type == "platform.report":
                record = {"requestId": record["requestId"], "metrics": record["metrics"]}
            elif event_type in _LOGS_EVENTS:
                event_type = _LOGS_EVENTS[event_type]
                record = {"requestId": record["requestId"]}
            else:
                return
        event = {"time": iso_timestamp(seconds), "type": event_type, "record": record}
        encoded = json.dumps(event).encode()
        sub.buffer.append(encoded)
        sub.size += len(encoded)
        if len(sub.buffer) >= sub.max_items or sub.size >= sub.max_bytes:
            self._flush(sub)
        elif sub.timer is None:
            loop = asyncio.get_running_loop()
            sub.timer = loop.call_later(sub.timeout_s, self._flush, sub)

    def _flush(self, sub: Subscription) -> None:
        if sub.timer is not None:
            sub.timer.cancel()
            sub.timer = None
        if not sub.buffer:
            return
        body = b"[" + b",".join(sub.buffer) + b"]"
        sub.buffer, sub.size = [], 0
        done = asyncio.get_running_loop().create_future()
        self._deliveries.add(done)
        self._spawn(self._deliver(sub, body, done))

    async def flush(self, timeout: float) -> None:
        """Send what is buffered and wait (up to ``timeout``) for the deliveries."""
        for sub in self.subscriptions:
            self._flush(sub)
        if self._deliveries:
            await asyncio.wait(list(self._deliveries), timeout=timeout)

    async def _deliver(self, sub: Subscription, body: bytes, done: asyncio.Future[None]) -> None:
        try:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                sock = self._tcp_socket()
                sock.setblocking(False)
                try:
                    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", sub.port))
                except BaseException:
                    sock.close()
                    raise
                reader, writer = await asyncio.open_connection(sock=sock)
                try:
                    head = (
                        f"POST {sub.path} HTTP/1.1\r\nHost: {sub.host}:{sub.port}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                        "Connection: close\r\n\r\n"
                    )
                    writer.write(head.encode() + body)
                    await writer.drain()
                    await reader.readline()  # its status line: the batch was taken
                finally:
                    writer.close()
        finally:
            self._deliveries.discard(done)
            if not done.done():
                done.set_result(None)

    # -- HTTP side ---------------------------------------------------------------

    def handle(
        self,
        conn: Responder,
        method: bytes,
        path: bytes,
        body: bytes | None,
        headers: dict[bytes, bytes],
    ) -> None:
        if method != b"PUT":
            conn.respond(405, b"Method Not Allowed\n", content_type=b"text/plain")
            return
        status, answer = self._subscribe(path == LOGS, body, headers)
        conn.respond(status, answer)

    def _subscribe(
        self, legacy: bool, body: bytes | None, headers: dict[bytes, bytes]
    ) -> tuple[int, bytes]:
        raw_id = headers.get(b"lambda-extension-identifier")
        if raw_id is None:
            return _error(
                403,
                "Extension.MissingExtensionIdentifier",
                "Missing Lambda-Extension-Identifier header",
            )
        if raw_id.decode("utf-8", "replace") not in self._extensions.extensions:
            return _error(
                403, "Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier"
            )
        try:
            request = json.loads(body or b"")
            types = frozenset(request["types"])
            destination = request["destination"]
            uri = urlsplit(destination["URI"])
            buffering = request.get("buffering") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            return _error(400, "ValidationError", "Invalid subscription request")
        if not types or not types <= _TYPES:
            return _error(400, "ValidationError", f"Invalid types: {sorted(types)}")
        if destination.get("protocol") != "HTTP" or uri.scheme != "http" or not uri.port:
            return _error(400, "ValidationError", "The destination must be an HTTP URI with a port")
        if uri.hostname != "sandbox.localdomain":
            return _error(
                400, "ValidationError", "The destination host must be sandbox.localdomain"
            )
        try:
            self._tcp_socket().close()
        except OSError as exc:
            return _error(
                400,
                "ValidationError",
                f"sandlot cannot reach into this sandbox's network ({exc.strerror}): it needs "
                "to run as root, or with function_network=shared, for telemetry",
            )
        limits = {}
        for name, (default, low, high) in _LIMITS.items():
            if legacy and name == "maxItems":
                default = _LOGS_DEFAULT_ITEMS
            value = buffering.get(name, default)
            if not isinstance(value, int) or not low <= value <= high:
                return _error(400, "ValidationError", f"{name} must be between {low} and {high}")
            limits[name] = value
        sub = Subscription(
            legacy,
            types,
            limits["maxItems"],
            limits["maxBytes"],
            limits["timeoutMs"] / 1000,
            uri.hostname,
            uri.port,
            uri.path or "/",
        )
        self.subscriptions.append(sub)
        for event in self._backlog or ():
            self._offer(sub, *event)
        return 200, b'"OK"'
