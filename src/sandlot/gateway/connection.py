"""HTTP connections: uvicorn's httptools protocol, with the limits it lacks.

uvicorn's httptools protocol buffers any header however large, and waits for a request's
headers and body for as long as the client cares to take. ``LimitedHttpProtocol`` adds:

- a limit on one header line (``max_header_line_bytes``) and on the request line and
  headers together (``max_header_bytes``): larger requests get ``431 Request Header
  Fields Too Large``. Bytes are counted as they arrive, so a client cannot make
  sandlot buffer more than about one read beyond the limit; the lines are measured
  once the head is complete, and only when it is larger than a line may be;
- a time limit for a request's headers (``request_header_timeout_seconds``, counted
  from the connection or from the request's first byte) and for each pause within its
  body (``request_body_timeout_seconds``): a slow request gets ``408 Request Timeout``
  (unless its response has begun) and the connection is closed. A connection that
  never sent a byte is closed without an answer.

On an HTTPS connection each request's scope also carries ASGI's TLS extension
(``scope["extensions"]["tls"]``): the client certificate (``client_cert_chain``, PEM,
when the handshake asked for one and it verified) and the name the client asked for
(``server_name``, SNI), which mutual TLS custom domains need.

A response's status line and headers go out in one write with the start of its body
(``_OneWriteTransport``): uvicorn writes them separately, and uvloop sends each write at
once, so every response cost two ``send`` calls on the event loop (on loopback each runs
the receiver's side of TCP too: a third of the server's CPU for a small JSON answer).

These answers come before routing (the request is incomplete, so neither its service
nor its parameters are known) and are plain text, as AWS's front ends answer them.
After one, the connection reads and discards for a moment before closing, so the client
sees the answer rather than a reset.
"""

from __future__ import annotations

import asyncio
import http
import ssl

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sandlot.config import Settings

_IDLE, _HEAD, _BODY, _DONE = range(4)
_LINGER_SECONDS = 2.0  # reading and discarding after a refusal, so the answer arrives


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def protocol_class(settings: Settings) -> type[HttpToolsProtocol]:
    """uvicorn's ``http=`` protocol class with ``settings``' limits."""
    return type(
        "SandlotHttpProtocol",
        (LimitedHttpProtocol,),
        {
            "max_line": settings.max_header_line_bytes,
            "max_head": settings.max_header_bytes,
            "head_timeout": settings.request_header_timeout_seconds,
            "body_timeout": settings.request_body_timeout_seconds,
        },
    )


class LimitedHttpProtocol(HttpToolsProtocol):
    """One connection; see the module docstring."""

    max_line = 8192
    max_head = 10240
    head_timeout = 20.0
    body_timeout = 20.0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._phase = _HEAD
        self._since = self.loop.time()  # the head's start, or the body's last byte
        self._head_read = 0  # bytes received since the head started (an upper bound)
        self._feeding = 0  # size of the chunk being parsed
        self._got_bytes = False
        self._timer: asyncio.TimerHandle | None = None
        ssl_object = transport.get_extra_info("ssl_object")
        self._tls = None if ssl_object is None else _tls_extension(ssl_object)
        self._arm(self.head_timeout)

    def connection_lost(self, exc) -> None:
        self._disarm()
        self._phase = _DONE
        super().connection_lost(exc)

    # -- bytes in ----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._phase == _DONE:
            return  # refused: discarding until the connection closes
        self._got_bytes = True
        self._unset_keepalive_if_required()
        self._feeding = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if isinstance(error.__context__, _Refused):
                self._refuse(error.__context__.status, error.__context__.message)
                return
            self._bad_request()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():  # a WebSocket handshake: uvicorn's ws protocol
                self._disarm()
                self._phase = _DONE
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            self._bad_request()
            return
        if self._phase == _HEAD:
            # Still reading a head: count what arrived, which bounds what the parser
            # holds even before a header line is complete.
            self._head_read += len(data)
            if self._head_read > self.max_head:
                self._refuse(431, self._head_message())
        elif self._phase == _BODY:
            self._since = self.loop.time()

    def _bad_request(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self._disarm()
        self._phase = _DONE
        self.send_400_response(message)

    # -- parser callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {"tls": self._tls}  # type: ignore[typeddict-unknown-key]
        if self._phase != _HEAD:
            # A further request on a kept-alive connection: its own head limits.
            self._phase = _HEAD
            self._since = self.loop.time()
            self._head_read = 0
            self._arm(self.head_timeout)

    def on_headers_complete(self) -> None:
        if self._head_read + self._feeding > self.max_line:
            # Only a head this large can break a limit: most never pay for the check.
            self._check_head()
        self._phase = _BODY
        self._since = self.loop.time()
        self._arm(self.body_timeout)
        super().on_headers_complete()
        # A cycle just made (none for a WebSocket upgrade) has not run yet: its response
        # goes out through the wrapper.
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:
            cycle.transport = _OneWriteTransport(self.transport, cycle)

    def on_response_complete(self) -> None:
        transport = self.cycle.transport if self.cycle is not None else None
        if isinstance(transport, _OneWriteTransport):
            transport.finish()
        super().on_response_complete()

    def on_message_complete(self) -> None:
        # From here uvicorn's keep-alive timeout takes over. The timer stays: it finds
        # nothing to do, or the next request's phase (one timer per connection and
        # period, not one per request: this is the hot path).
        self._phase = _IDLE
        super().on_message_complete()

    def _check_head(self) -> None:
        size = len(self.url) + 12  # "GET " + " HTTP/1.1\r\n"
        for name, value in self.headers:
            line = len(name) + len(value) + 2  # "name: value"
            if line > self.max_line:
                raise _Refused(
                    431,
                    f"A request header line is larger than {self.max_line} bytes "
                    f"({name[:60].decode('latin-1')}: {line} bytes).",
                )
            size += line + 2
        if size > self.max_head:
            raise _Refused(431, self._head_message())

    def _head_message(self) -> str:
        return f"The request line and headers are larger than {self.max_head} bytes."

    # -- time limits -------------------------------------------------------------------

    def _arm(self, delay: float) -> None:
        """Make sure the timer fires within ``delay``; an earlier one re-checks then."""
        at = self.loop.time() + delay
        if self._timer is not None:
            if self._timer.when() <= at:
                return
            self._timer.cancel()
        self._timer = self.loop.call_at(at, self._check_time)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check_time(self) -> None:
        self._timer = None
        if self._phase == _HEAD:
            limit = self.head_timeout
        elif self._phase == _BODY and self._waiting_for_client():
            limit = self.body_timeout
        else:
            return
        left = self._since + limit - self.loop.time()
        if left > 0:
            self._arm(left)
            return
        if self._phase == _HEAD and not self._got_bytes:
            self._phase = _DONE
            self.transport.close()  # an idle connection that never asked anything
            return
        what = "headers" if self._phase == _HEAD else "body"
        self._refuse(408, f"The request {what} did not arrive within {limit:g} seconds.")

    def _waiting_for_client(self) -> bool:
        """In the body phase: whether the next move is the client's. Not while reading
        is paused (the app has not taken what came) or a ``100 Continue`` is unsent."""
        cycle = self.cycle
        if cycle is None or self.flow.read_paused or cycle.waiting_for_100_continue:
            self._since = self.loop.time()  # a wait of ours: the client's time restarts
            self._arm(self.body_timeout)
            return False
        return True

    # -- refusing ----------------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` (unless a response has begun) and close the connection,
        reading and discarding for a moment first so the client sees the answer."""
        self._disarm()
        phase, self._phase = self._phase, _DONE
        # While a head is read, self.cycle is the previous request's (answered) cycle.
        cycle = self.cycle if phase == _BODY else None
        if cycle is not None:
            if cycle.response_started:
                self.transport.close()  # too late for a status: just hang up
                return
            cycle.keep_alive = False
            cycle.disconnected = True  # the app's receive() sees a disconnect, sends nothing
            cycle.message_event.set()
        if self.transport.is_closing():
            return
        body = message.encode()
        phrase = http.HTTPStatus(status).phrase
        head = (
            f"HTTP/1.1 {status} {phrase}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)

    def eof_received(self) -> bool | None:
        if self._phase == _DONE:
            self.transport.close()  # the client has read our answer and hung up
        return None


class _OneWriteTransport:
    """One request's view of the connection's transport: the response head (the first
    write after the response started) is held and sent with the next write, the body's.
    Only a sized (Content-Length) response's head is held: a streamed (chunked) one's
    first chunk may be long in coming. A ``100 Continue`` (written before the response
    starts) and a HEAD response's head (no body write follows) go out at once;
    ``close`` sends what is held first."""

    def __init__(self, transport, cycle) -> None:
        self._transport = transport
        self._cycle = cycle
        self._fresh = True  # the head is not written yet
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head + data)
        elif (
            self._fresh
            and self._cycle.response_started
            and self._cycle.scope["method"] != "HEAD"
            and self._cycle.chunked_encoding is False  # a sized body follows at once
        ):
            self._fresh = False
            self._head = bytes(data)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def finish(self) -> None:
        """The response is complete: send anything held (nothing ever is; this makes
        sure of it) and drop the cycle. The cycle refers to this wrapper, so keeping
        it would leave each request's objects (scope, headers, cycle) for the garbage
        collector instead of freeing them at once: measured, the collector then cost
        more CPU per request than the single write saves."""
        self.flush()
        self._fresh = False  # nothing further is a head to hold
        self._cycle = None

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


def _tls_extension(ssl_object: ssl.SSLObject) -> dict:
    """The parts of ASGI's TLS extension sandlot uses, for a connection whose handshake
    is complete (Python's ssl gives the peer's own certificate, not its chain)."""
    der = ssl_object.getpeercert(binary_form=True)
    return {
        "server_name": getattr(ssl_object, "sandlot_sni", None),  # set by gateway/tls.py
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
    }
