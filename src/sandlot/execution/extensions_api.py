"""The Lambda Extensions API (2020-01-01), served beside the Runtime API.

Extensions reach it at the runtime's address (AWS_LAMBDA_RUNTIME_API), as on AWS:

- ``POST /2020-01-01/extension/register`` (``Lambda-Extension-Name``, body
  ``{"events": ["INVOKE", "SHUTDOWN"]}``): 200 with ``Lambda-Extension-Identifier`` and
  ``{"functionName", "functionVersion", "handler"}`` (``accountId`` too when
  ``Lambda-Extension-Accept-Feature: accountId`` asks for it). Only during INIT. An
  extension whose name is a file of /opt/extensions is *external* (a process the
  environment started); any other is *internal* (a thread of the runtime's process),
  which cannot subscribe to SHUTDOWN.
- ``GET /2020-01-01/extension/event/next`` (``Lambda-Extension-Identifier``) blocks until
  the extension's next event: ``INVOKE`` (requestId, deadlineMs, invokedFunctionArn,
  tracing) or ``SHUTDOWN`` (shutdownReason, deadlineMs). Calling it says the extension is
  done with the previous phase: INIT ends when the runtime and every extension have
  called it; an invocation ends when the runtime answered and every extension
  subscribed to INVOKE called it again.
- ``POST /2020-01-01/extension/init/error`` and ``…/exit/error``
  (``Lambda-Extension-Function-Error-Type``): 202; INIT fails with that error type, or
  the environment is reset after the current phase.

Errors are 403 ``{"errorMessage", "errorType"}`` as Lambda's RAPID answers them.

One route is sandlot's own: ``POST /2020-01-01/extension/exited`` (``Lambda-Extension-Name``,
``Lambda-Extension-Exit-Status``), sent by the launcher that started an external
extension when it exits (Lambda's init process sees its children exit; sandlot's server
is outside the sandbox). An extension gone during INIT fails it with
``Extension.Crash``; later, the environment is reset after the current invocation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

PREFIX = b"/2020-01-01/extension/"
_ACCEPTED = b'{"status":"OK"}'
# At most 10 extensions per function (Lambda's quota).
MAX_EXTENSIONS = 10


class Responder(Protocol):
    def respond(
        self, status: int, body: bytes, headers: bytes = b"", content_type: bytes = b""
    ) -> None: ...

    @property
    def closed(self) -> bool: ...


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


@dataclass(slots=True, eq=False)
class Extension:
    name: str
    id: str
    external: bool
    invoke: bool = False
    shutdown: bool = False
    ready: bool = False  # waiting in (or done with the phase before) ``next``
    waiter: Responder | None = None  # its held ``next``
    pending: list[bytes] = field(default_factory=list)  # events not yet delivered
    exited: bool = False


class ExtensionsAPI:
    """The Extensions API's state for one environment, independent of HTTP.

    ``external``: the names of the executables in /opt/extensions (started by the
    environment); ``on_change()`` is called whenever an extension becomes ready (called
    ``next``) or reports an error, so that the environment can move on.
    """

    def __init__(
        self,
        function_name: str,
        version: str,
        handler: str,
        account_id: str,
        external: tuple[str, ...],
        on_change: Callable[[], None],
    ) -> None:
        self._info = {"functionName": function_name, "functionVersion": version, "handler": handler}
        self._account_id = account_id
        self.expected = frozenset(external)
        self._on_change = on_change
        self.extensions: dict[str, Extension] = {}  # by id
        self._names: set[str] = set()
        self.registration_open = True  # until INIT ends
        self.init_error: tuple[bytes, str] | None = None  # (document, error type)
        self.exit_error: str | None = None
        self.crash: str | None = None  # "exit code N" of an external extension that ended

    # -- environment side --------------------------------------------------------

    @property
    def present(self) -> bool:
        """Whether any extension exists (or is expected) in this environment."""
        return bool(self.expected or self.extensions)

    def all_ready(self) -> bool:
        """Every expected external extension registered, and every extension in ``next``
        (or gone: it will not call it again)."""
        if not self.expected <= self._names:
            return False
        return all(ext.ready or ext.exited for ext in self.extensions.values())

    def missing(self) -> list[str]:
        """Names of the extensions INIT is still waiting for."""
        waiting = sorted(self.expected - self._names)
        return waiting + sorted(e.name for e in self.extensions.values() if not e.ready)

    def invoke(self, request_id: str, deadline_ms: int, arn: str, trace_id: str) -> None:
        """Send INVOKE to every extension subscribed to it."""
        body: bytes | None = None
        for ext in self.extensions.values():
            if ext.invoke:
                if body is None:
                    body = json.dumps(
                        {
                            "eventType": "INVOKE",
                            "deadlineMs": deadline_ms,
                            "requestId": request_id,
                            "invokedFunctionArn": arn,
                            "tracing": {"type": "X-Amzn-Trace-Id", "value": trace_id},
                        }
                    ).encode()
                self._send(ext, body)

    def shutdown(self, reason: str, deadline_ms: int) -> bool:
        """Send SHUTDOWN to the extensions subscribed to it; False if there are none."""
        body = json.dumps(
            {"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms}
        ).encode()
        sent = False
        for ext in self.extensions.values():
            if ext.shutdown:
                self._send(ext, body)
                sent = True
        return sent

    def _send(self, ext: Extension, body: bytes) -> None:
        ext.ready = False
        waiter = ext.waiter
        if waiter is not None and not waiter.closed:
            ext.waiter = None
            self._deliver(waiter, body)
        else:
            ext.waiter = None
            ext.pending.append(body)

    @staticmethod
    def _deliver(conn: Responder, body: bytes) -> None:
        event_id = uuid.uuid4()
        conn.respond(
            200, body, b"Lambda-Extension-Event-Identifier: %s\r\n" % str(event_id).encode()
        )

    # -- HTTP side ---------------------------------------------------------------

    def handle(
        self,
        conn: Responder,
        method: bytes,
        path: bytes,
        body: bytes | None,
        headers: dict[bytes, bytes],
    ) -> None:
        action = path[len(PREFIX) :]
        expected_method = {
            b"register": b"POST",
            b"event/next": b"GET",
            b"init/error": b"POST",
            b"exit/error": b"POST",
            b"exited": b"POST",
        }.get(action)
        if expected_method is None:
            conn.respond(404, b"404 page not found\n", content_type=b"text/plain")
            return
        if method != expected_method:
            conn.respond(405, b"Method Not Allowed\n", content_type=b"text/plain")
            return
        if action == b"register":
            self._register(conn, body, headers)
            return
        if action == b"exited":
            self._exited(conn, headers)
            return
        raw_id = headers.get(b"lambda-extension-identifier")
        if raw_id is None:
            conn.respond(
                403,
                _error(
                    "Extension.MissingExtensionIdentifier",
                    "Missing Lambda-Extension-Identifier header",
                ),
            )
            return
        ext = self.extensions.get(raw_id.decode("utf-8", "replace"))
        if ext is None:
            conn.respond(
                403,
                _error(
                    "Extension.InvalidExtensionIdentifier",
                    "Invalid Lambda-Extension-Identifier",
                ),
            )
            return
        if action == b"event/next":
            self._next(conn, ext)
            return
        error_type = headers.get(b"lambda-extension-function-error-type", b"").decode(
            "utf-8", "replace"
        )
        if not error_type:
            error_type = "Extension.Unknown"
        conn.respond(202, _ACCEPTED)
        if action == b"init/error":
            if self.registration_open and self.init_error is None:
                document = body if body and body.strip() else _error(error_type, "")
                self.init_error = (document, error_type)
        else:  # it is done: no phase waits for its next any more
            self.exit_error = error_type
            ext.exited = True
        self._on_change()

    def _register(self, conn: Responder, body: bytes | None, headers: dict[bytes, bytes]) -> None:
        name = headers.get(b"lambda-extension-name", b"").decode("utf-8", "replace")
        if not name:
            conn.respond(403, _error("Extension.InvalidExtensionName", "Empty extension name"))
            return
        if not self.registration_open:
            message = "State transition from Ready to Registered failed for extension. Error: State transition is not allowed"
            conn.respond(403, _error("Extension.InvalidStateTransition", message))
            return
        try:
            events = json.loads(body or b"{}").get("events") or []
        except (ValueError, AttributeError):
            conn.respond(403, _error("InvalidRequestFormat", "Invalid request body"))
            return
        external = name in self.expected
        ext = Extension(name, str(uuid.uuid4()), external)
        for event in events:
            if event == "INVOKE":
                ext.invoke = True
            elif event == "SHUTDOWN" and external:
                ext.shutdown = True
            else:
                error_type = "Extension.InvalidEventType"
                if event == "SHUTDOWN":
                    error_type = "ShutdownEventNotSupportedForInternalExtension"
                message = f"ExtensionsAPI Failed to Register {name}: event {event}"
                conn.respond(403, _error(error_type, message))
                return
        if name in self._names:
            conn.respond(
                403, _error("Extension.AlreadyRegistered", f"Extension {name} already registered")
            )
            return
        if len(self.extensions) >= MAX_EXTENSIONS:
            conn.respond(403, _error("Extension.TooManyExtensions", "Too many extensions"))
            return
        self.extensions[ext.id] = ext
        self._names.add(name)
        info = dict(self._info)
        if b"accountid" in headers.get(b"lambda-extension-accept-feature", b"").lower():
            info["accountId"] = self._account_id
        conn.respond(
            200, json.dumps(info).encode(), b"Lambda-Extension-Identifier: %s\r\n" % ext.id.encode()
        )

    def _exited(self, conn: Responder, headers: dict[bytes, bytes]) -> None:
        name = headers.get(b"lambda-extension-name", b"").decode("utf-8", "replace")
        status = headers.get(b"lambda-extension-exit-status", b"").decode("utf-8", "replace")
        conn.respond(202, _ACCEPTED)
        if name not in self.expected:
            return
        for ext in self.extensions.values():
            if ext.name == name:
                ext.exited = True
        if self.crash is None:
            # How Lambda words it: "RequestId: … Error: exit code 1" / Extension.Crash.
            self.crash = f"exit code {status if status.isdigit() else 'unknown'}"
        self._on_change()

    def _next(self, conn: Responder, ext: Extension) -> None:
        if ext.pending:
            self._deliver(conn, ext.pending.pop(0))
            return
        if ext.waiter is not None and ext.waiter is not conn:
            close = getattr(ext.waiter, "close", None)
            if close is not None:
                close()
        ext.waiter = conn
        if not ext.ready:
            ext.ready = True
            self._on_change()

    def connection_lost(self, conn: Responder) -> None:
        for ext in self.extensions.values():
            if ext.waiter is conn:
                ext.waiter = None
