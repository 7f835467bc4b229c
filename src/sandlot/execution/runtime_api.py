"""The Lambda Runtime API (2018-06-01), served per environment on 127.0.0.1.

Any runtime interface client speaks to this: sandlot's own bootstraps, AWS's
``awslambdaric``, a bash script with curl. The routes, headers, status codes and error
bodies follow AWS's OpenAPI document and what Lambda answers:

- ``GET  /2018-06-01/runtime/invocation/next`` blocks until an invocation is dispatched;
  200 with the event as body and the ``Lambda-Runtime-*`` headers.
- ``POST /2018-06-01/runtime/invocation/{id}/response`` 202; 400 ``InvalidRequestID``
  for an id that is not the running invocation; 403 ``InvalidStateTransition`` when no
  invocation is running (e.g. a second response); 413 ``RequestEntityTooLarge`` over
  6 MB (the invocation then fails with ``Function.ResponseSizeTooLarge``).
- ``POST /2018-06-01/runtime/invocation/{id}/error`` as above, body passed through as
  the invocation's error document (``Lambda-Runtime-Function-Error-Type`` names it).
- ``POST /2018-06-01/runtime/init/error`` 202 before the first ``next``, else 403
  (``restore/error`` alike, for a SnapStart environment's after-restore hooks).
- A streamed response (``Lambda-Runtime-Function-Response-Mode: streaming``, chunked)
  is read whole (the invoker gets it buffered, 6 MB at most) unless the invoker reads
  it as it comes (``InvokeRequest.stream``): its body then goes to that stream chunk by
  chunk as it arrives, up to 200 MB (past that the invocation fails with
  ``Function.ResponseSizeTooLarge`` and the rest is read and dropped; 413 at its end),
  and reading pauses while the invoker lags. An error the function hit after it began
  streaming arrives in the trailers ``Lambda-Runtime-Function-Error-Type`` and
  ``…-Error-Body`` (the error document, base64) and makes the invocation an error.

HTTP/1.1 with keep-alive, parsed by httptools (llhttp). This is on the invoke hot path:
responses are written as one pre-assembled header block plus the body.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import httptools

from sandlot.execution import extensions_api, telemetry_api
from sandlot.execution.api import STREAM_LIMIT_BYTES, InvokeRequest

# Lambda's synchronous payload limit: "6 MB" is 6 MiB + 100 bytes, as its messages say.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024 + 100

_INVOCATION = b"/2018-06-01/runtime/invocation/"
_INIT_ERROR = b"/2018-06-01/runtime/init/error"
# SnapStart: an after-restore hook failed (answered as init/error: the restore is the
# environment's INIT).
_RESTORE_ERROR = b"/2018-06-01/runtime/restore/error"
_ERROR_TYPE_HEADER = b"lambda-runtime-function-error-type"
# A streamed response's error arrives in trailers: its type and its document (base64).
_ERROR_BODY_HEADER = b"lambda-runtime-function-error-body"
_MODE_HEADER = b"lambda-runtime-function-response-mode"
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only
_EXTENSION_HEADER = b"lambda-extension-"  # the Extensions API's headers (extensions_api.py)
_NO_HEADERS: dict[bytes, bytes] = {}  # shared, never written: most requests carry none

_REASONS = {
    200: b"OK",
    202: b"Accepted",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Request Entity Too Large",
    500: b"Internal Server Error",
}

_ACCEPTED = b'{"status":"OK"}'
_INVALID_REQUEST_ID = b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}'
_TOO_LARGE = (
    b'{"errorMessage":"Exceeded maximum allowed payload size (%d bytes).",'
    b'"errorType":"RequestEntityTooLarge"}' % MAX_PAYLOAD_BYTES
)
# What the invoker sees when the runtime's response was too large.
RESPONSE_TOO_LARGE = (
    b'{"errorMessage":"Response payload size exceeded maximum allowed payload size '
    b'(%d bytes).","errorType":"Function.ResponseSizeTooLarge"}' % MAX_PAYLOAD_BYTES
)
_STREAM_TOO_LARGE = (
    b'{"errorMessage":"Exceeded maximum allowed payload size (%d bytes).",'
    b'"errorType":"RequestEntityTooLarge"}' % STREAM_LIMIT_BYTES
)
STREAMED_RESPONSE_TOO_LARGE = (
    b'{"errorMessage":"Response payload size exceeded maximum allowed payload size '
    b'(%d bytes).","errorType":"Function.ResponseSizeTooLarge"}' % STREAM_LIMIT_BYTES
)


def _state_error(state: str, transition: str) -> bytes:
    return json.dumps(
        {
            "errorMessage": f"State transition from {state} to {transition} failed for "
            "runtime. Error: State transition is not allowed",
            "errorType": "InvalidStateTransition",
        },
        separators=(",", ":"),
    ).encode()


@dataclass(slots=True)
class Outcome:
    """How an invocation (or INIT) ended.

    ``kind``: "response", "error" (runtime-reported or too large), "init_error",
    "timeout", "exit" (the process ended; ``status`` holds its exit code).
    """

    kind: str
    payload: bytes = b""
    error_type: str | None = None
    status: int = 0


class Invocation:
    """One invocation as the Runtime API serves it."""

    __slots__ = ("request", "deadline_ms", "future", "delivered", "_id_bytes")

    def __init__(
        self, request: InvokeRequest, deadline_ms: int, future: asyncio.Future[Outcome]
    ) -> None:
        self.request = request
        self.deadline_ms = deadline_ms
        self.future = future
        self.delivered = False
        self._id_bytes = request.request_id.encode()

    def finish(self, outcome: Outcome) -> bool:
        """Resolve with ``outcome`` unless already resolved; True if this call did."""
        if self.future.done():
            return False
        self.future.set_result(outcome)
        return True

    def headers(self) -> bytes:
        request = self.request
        parts = [
            b"Lambda-Runtime-Aws-Request-Id: ",
            self._id_bytes,
            b"\r\nLambda-Runtime-Deadline-Ms: %d\r\nLambda-Runtime-Invoked-Function-Arn: "
            % self.deadline_ms,
            _header_value(request.invoked_function_arn),
            b"\r\nLambda-Runtime-Trace-Id: ",
            _header_value(request.trace_id) if request.trace_id else _new_trace_id(),
            b"\r\n",
        ]
        if request.client_context:
            parts += [
                b"Lambda-Runtime-Client-Context: ",
                _client_context(request.client_context),
                b"\r\n",
            ]
        if request.cognito_identity:
            parts += [
                b"Lambda-Runtime-Cognito-Identity: ",
                _header_value(request.cognito_identity),
                b"\r\n",
            ]
        return b"".join(parts)


def _header_value(value: str) -> bytes:
    # A header value cannot carry line breaks (they would split the response).
    return value.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")


def _client_context(value: str) -> bytes:
    """Invoke takes ClientContext as base64 JSON; the runtime receives the JSON."""
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = value
    return _header_value(decoded)


def _new_trace_id() -> bytes:
    # Lambda always sends an X-Ray header; without one from the caller, make a root.
    return f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Sampled=0".encode()


class RuntimeAPI:
    """The Runtime API's state for one environment, independent of HTTP.

    ``on_ready`` is called at the runtime's first ``next`` (INIT is over);
    ``on_init_error(payload, error_type)`` when it reports an init error;
    ``before_outcome()`` runs just before an invocation's outcome is recorded, so
    output the runtime wrote before answering is attributed to that invocation;
    ``on_deliver(invocation)`` when the runtime receives an invocation.
    """

    def __init__(
        self,
        on_ready: Callable[[], None],
        on_init_error: Callable[[bytes, str | None], None],
        before_outcome: Callable[[], None],
        on_deliver: Callable[[Invocation], None] | None = None,
    ) -> None:
        self._on_ready = on_ready
        self._on_init_error = on_init_error
        self._before_outcome = before_outcome
        self._on_deliver = on_deliver
        self._started = False  # the runtime has asked for an invocation at least once
        self._current: Invocation | None = None
        self._waiter: _Connection | None = None  # a held GET /next
        # The Extensions API on the same address (set by the environment), or None.
        self.extensions: extensions_api.ExtensionsAPI | None = None
        self.telemetry: telemetry_api.TelemetryAPI | None = None  # and Telemetry/Logs APIs

    # -- engine side -------------------------------------------------------------

    def dispatch(self, invocation: Invocation) -> None:
        """Hand an invocation to the runtime (now, or at its next ``next``)."""
        self._current = invocation
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.closed:
                self._deliver(waiter)

    def _deliver(self, conn: _Connection) -> None:
        invocation = self._current
        assert invocation is not None
        invocation.delivered = True
        if invocation.request.stream is not None:
            invocation.request.stream.deliver()
        if self._on_deliver is not None:
            self._on_deliver(invocation)
        conn.respond(200, invocation.request.payload, invocation.headers())

    def _state_name(self) -> str:
        # Lambda's (RAPID's) names for the runtime's states, used in its messages.
        if not self._started:
            return "Started"
        current = self._current
        if current is None or not current.delivered:
            return "Ready"
        return "RuntimeResponseSentState" if current.future.done() else "Running"

    # -- HTTP side ---------------------------------------------------------------

    def handle(self, conn: _Connection, method: bytes, url: bytes, body: bytes | None) -> None:
        """Answer one request (``body`` is None when it was over the size limit)."""
        path = url.split(b"?", 1)[0]
        if path.startswith(_INVOCATION):
            rest = path[len(_INVOCATION) :]
            if rest == b"next":
                if method != b"GET":
                    conn.respond(405, b"Method Not Allowed\n", content_type=b"text/plain")
                else:
                    self._next(conn)
                return
            request_id, _, action = rest.rpartition(b"/")
            if action in (b"response", b"error") and request_id:
                if method != b"POST":
                    conn.respond(405, b"Method Not Allowed\n", content_type=b"text/plain")
                else:
                    self._result(conn, request_id, action == b"error", body)
                return
        elif path.startswith(extensions_api.PREFIX) and self.extensions is not None:
            self.extensions.handle(conn, method, path, body, conn.headers)
            return
        elif path in (telemetry_api.TELEMETRY, telemetry_api.LOGS) and self.telemetry is not None:
            self.telemetry.handle(conn, method, path, body, conn.headers)
            return
        elif path in (_INIT_ERROR, _RESTORE_ERROR):
            if method != b"POST":
                conn.respond(405, b"Method Not Allowed\n", content_type=b"text/plain")
            else:
                self._init_error(conn, body)
            return
        conn.respond(404, b"404 page not found\n", content_type=b"text/plain")

    def _next(self, conn: _Connection) -> None:
        if not self._started:
            self._started = True
            self._on_ready()
        current = self._current
        if current is not None and not current.delivered and not current.future.done():
            self._deliver(conn)
            return
        # Wait for the next dispatch. A runtime asking again while its invocation is
        # still running is allowed (as in Lambda); that invocation keeps its deadline.
        if self._waiter is not None and self._waiter is not conn:
            self._waiter.close()
        self._waiter = conn

    def open_stream(self, url: bytes, content_type: str) -> Invocation | None:
        """The running invocation whose response a streamed POST to ``url`` begins, when
        its invoker reads the response as it comes (else None: the POST is buffered and
        answered as any other)."""
        path = url.split(b"?", 1)[0]
        if not path.startswith(_INVOCATION):
            return None
        raw_id, _, action = path[len(_INVOCATION) :].rpartition(b"/")
        current = self._current
        if (
            action != b"response"
            or current is None
            or current.request.stream is None
            or not current.delivered
            or current.future.done()
            or unquote(raw_id.decode("utf-8", "replace")) != current.request.request_id
        ):
            return None
        current.request.stream.begin(content_type)
        return current

    def stream_too_large(self, invocation: Invocation) -> None:
        """A streamed response passed the limit: the invocation fails now."""
        if not invocation.future.done():
            self._before_outcome()
            invocation.finish(
                Outcome("error", STREAMED_RESPONSE_TOO_LARGE, "Function.ResponseSizeTooLarge")
            )

    def _result(self, conn: _Connection, raw_id: bytes, is_error: bool, body: bytes | None) -> None:
        transition = "InvocationErrorResponse" if is_error else "InvocationResponse"
        if body is None and conn.streamed:
            # Over the streaming limit: the invocation already failed (stream_too_large).
            conn.respond(413, _STREAM_TOO_LARGE)
            return
        current = self._current
        if current is None or not current.delivered or current.future.done():
            conn.respond(403, _state_error(self._state_name(), transition))
            return
        request_id = unquote(raw_id.decode("utf-8", "replace"))
        if request_id != current.request.request_id:
            conn.respond(400, _INVALID_REQUEST_ID)
            return
        self._before_outcome()
        if body is None:
            current.finish(Outcome("error", RESPONSE_TOO_LARGE, "Function.ResponseSizeTooLarge"))
            conn.respond(413, _TOO_LARGE)
            return
        if is_error or conn.error_type is not None:
            # A response with an error type (a streamed one's trailers) is an error too.
            error_type = conn.error_type
            document = body if is_error else _trailer_document(conn.error_body)
            current.finish(Outcome("error", _error_document(document, error_type), error_type))
        else:
            current.finish(Outcome("response", body))
        conn.respond(202, _ACCEPTED)

    def _init_error(self, conn: _Connection, body: bytes | None) -> None:
        if self._started:
            conn.respond(403, _state_error(self._state_name(), "InitError"))
            return
        if body is None:
            conn.respond(413, _TOO_LARGE)
            return
        error_type = conn.error_type
        conn.respond(202, _ACCEPTED)
        self._on_init_error(_error_document(body, error_type), error_type)

    def connection_lost(self, conn: _Connection) -> None:
        if self._waiter is conn:
            self._waiter = None
        if self.extensions is not None:
            self.extensions.connection_lost(conn)


def _trailer_document(encoded: bytes | None) -> bytes:
    try:
        return base64.b64decode(encoded or b"", validate=True)
    except binascii.Error:
        return b""


def _error_document(body: bytes, error_type: str | None) -> bytes:
    """The runtime's error body, or one built from the header when there is none."""
    if body.strip():
        return body
    return json.dumps(
        {"errorMessage": "", "errorType": error_type or "Runtime.Unknown"}, separators=(",", ":")
    ).encode()


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection from the runtime. Requests are answered in order."""

    def __init__(self, server: RuntimeAPIServer) -> None:
        self._server = server
        self._api = server.api
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._queue: deque[
            tuple[
                bytes, bytes, bytes | None, str | None, bytes | None, bool, bool, dict[bytes, bytes]
            ]
        ] = deque()
        self._busy = False  # a request is being answered (possibly held: GET /next)
        self.closed = False
        self.error_type: str | None = None  # of the request being answered
        self.error_body: bytes | None = None  # its error trailer's document (base64)
        self.streamed = False  # its body went to the invoker as it came
        self.headers = _NO_HEADERS  # its Lambda-Extension-* headers (lower-case)
        self._keep_alive = True  # of the request being answered
        # per-request parse state
        self._url = b""
        self._body: list[bytes] = []
        self._size = 0
        self._req_error_type: str | None = None
        self._req_error_body: bytes | None = None
        self._req_streaming = False  # Lambda-Runtime-Function-Response-Mode: streaming
        self._req_content_type = "application/octet-stream"
        self._streaming: Invocation | None = None  # whose response this body streams
        self._socket: socket.socket | None = None
        self._req_headers = _NO_HEADERS
        self._partial = False  # a request's head or body has begun and not ended

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server.connections.add(self)
        self._socket = transport.get_extra_info("socket")

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._write(400, b"Bad Request\n", b"", b"text/plain", keep_alive=False)
            self.close()
            return
        if self._partial and _QUICKACK is not None and self._socket is not None:
            # Acknowledge the part of a request that came at once: a sender still under
            # Nagle's algorithm (pasta's relay, between a function's network namespace and
            # this socket) holds its next small write until then, 40 ms with a delayed
            # ACK. curl (the Java RIC's client) writes a response's head and body apart;
            # a streamed body comes in many pieces.
            with contextlib.suppress(OSError):
                self._socket.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._server.connections.discard(self)
        self._api.connection_lost(self)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._partial = True
        self._url = b""
        self._body = []
        self._size = 0
        self._req_error_type = None
        self._req_error_body = None
        self._req_streaming = False
        self._req_content_type = "application/octet-stream"
        self._streaming = None
        self._req_headers = _NO_HEADERS

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == _ERROR_TYPE_HEADER:
            self._req_error_type = value.decode("utf-8", "replace")
        elif lowered == _ERROR_BODY_HEADER:
            self._req_error_body = value
        elif lowered == _MODE_HEADER:
            self._req_streaming = value.lower() == b"streaming"
        elif lowered == b"content-type":
            self._req_content_type = value.decode("latin-1")
        elif lowered.startswith(_EXTENSION_HEADER):
            if self._req_headers is _NO_HEADERS:
                self._req_headers = {}
            self._req_headers[lowered] = value
        elif lowered == b"expect" and value.lower() == b"100-continue" and self._transport:
            # curl waits for this before sending bodies over 1 KB.
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_headers_complete(self) -> None:
        # A streamed response goes to its invoker as it arrives, if it reads it so; only
        # when nothing else is pending on this connection (responses are in order).
        if self._req_streaming and not self._busy and not self._queue:
            self._streaming = self._api.open_stream(self._url, self._req_content_type)
            if self._streaming is not None:
                self._streaming.request.stream.on_drain = self._resume  # type: ignore[union-attr]

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        streaming = self._streaming
        if streaming is not None:
            if self._size > STREAM_LIMIT_BYTES:
                self._api.stream_too_large(streaming)
            elif not streaming.request.stream.write(body) and self._transport:  # type: ignore[union-attr]
                self._transport.pause_reading()  # until the invoker catches up
        elif self._size <= MAX_PAYLOAD_BYTES:
            self._body.append(body)

    def _resume(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.resume_reading()

    def on_message_complete(self) -> None:
        self._partial = False
        streamed = self._streaming is not None
        if streamed:
            body = None if self._size > STREAM_LIMIT_BYTES else b""
        elif self._size > MAX_PAYLOAD_BYTES:
            body = None  # over the limit; the excess was discarded while reading
        else:
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._queue.append(
            (
                self._parser.get_method(),
                self._url,
                body,
                self._req_error_type,
                self._req_error_body,
                self._parser.should_keep_alive(),
                streamed,
                self._req_headers,
            )
        )
        self._body = []
        self._streaming = None
        if not self._busy:
            self._serve_next()

    # answering

    def _serve_next(self) -> None:
        while self._queue and not self._busy and not self.closed:
            method, url, body, error_type, error_body, keep_alive, streamed, headers = self._queue[
                0
            ]
            self._busy = True
            self.error_type = error_type
            self.error_body = error_body
            self.streamed = streamed
            self.headers = headers
            self._keep_alive = keep_alive
            self._api.handle(self, method, url, body)

    def respond(
        self,
        status: int,
        body: bytes,
        headers: bytes = b"",
        content_type: bytes = b"application/json",
    ) -> None:
        """Answer the request at the head of the queue."""
        if self.closed or not self._busy:
            return
        self._queue.popleft()
        self._busy = False
        keep_alive = self._keep_alive
        self._write(status, body, headers, content_type, keep_alive)
        if not keep_alive:
            self.close()
        elif self._queue:
            self._serve_next()

    def _write(
        self, status: int, body: bytes, headers: bytes, content_type: bytes, keep_alive: bool
    ) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n" % (
            status,
            _REASONS.get(status, b"Unknown"),
            content_type,
            len(body),
            headers,
            b"" if keep_alive else b"Connection: close\r\n",
        )
        if len(body) < 65536:
            transport.write(head + body)
        else:  # avoid copying a large event just to prepend the header
            transport.writelines((head, body))

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class RuntimeAPIServer:
    """Listens on 127.0.0.1:<ephemeral port> for one environment's runtime."""

    def __init__(self, api: RuntimeAPI) -> None:
        self.api = api
        self.connections: set[_Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._adopted: list[asyncio.AbstractServer] = []
        self.address = ""

    async def start(self) -> str:
        """Start listening; returns ``host:port`` (AWS_LAMBDA_RUNTIME_API)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), "127.0.0.1", 0, backlog=16
        )
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        return self.address

    async def adopt(self, listener: socket.socket) -> None:
        """Serve the runtime on ``listener`` too (already listening)."""
        loop = asyncio.get_running_loop()
        self._adopted.append(await loop.create_server(lambda: _Connection(self), sock=listener))

    def close(self) -> None:
        """Stop listening and drop every connection (the runtime is gone)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for server in self._adopted:
            server.close()
        self._adopted.clear()
        for conn in list(self.connections):
            conn.close()
        self.connections.clear()
