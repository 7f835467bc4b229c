"""gateway/connection.py on a real socket, in-process: keep-alive and pipelined requests
under the limits, and each phase's own time limit."""

from __future__ import annotations

import asyncio
import time

import uvicorn
from uvicorn.server import ServerState

from sandlot.config import Settings
from sandlot.gateway.connection import protocol_class


async def _echo(scope, receive, send) -> None:
    """An ASGI app answering with the request body's length."""
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _serve(settings: Settings, app=_echo):
    config = uvicorn.Config(app, http=protocol_class(settings), lifespan="off", log_level="error")
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: config.http_protocol_class(config=config, server_state=state, app_state={}),
        "127.0.0.1",
        0,
    )
    return server, server.sockets[0].getsockname()[1]


async def _response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await reader.readexactly(length)


def _post(body: bytes, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (size, body)


def test_keep_alive_and_pipelined_requests_are_served():
    async def main() -> None:
        server, port = await _serve(Settings(max_header_bytes=2000))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in range(5):  # each request has its own head budget
            writer.write(
                _post(b"x" * n, None).replace(b"Host: t", b"Host: t\r\nX-Pad: " + b"p" * 1500)
            )
            head, body = await _response(reader)
            assert head.startswith(b"HTTP/1.1 200") and body == str(n).encode()
        writer.write(_post(b"ab") + _post(b"cde"))  # two requests in one write
        assert (await _response(reader))[1] == b"2"
        assert (await _response(reader))[1] == b"3"
        writer.close()
        server.close()

    asyncio.run(main())


def test_each_phase_has_its_own_time_limit():
    async def main() -> None:
        settings = Settings(request_header_timeout_seconds=30, request_body_timeout_seconds=0.3)
        server, port = await _serve(settings)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_post(b"ok"))
        assert (await _response(reader))[1] == b"2"
        started = time.monotonic()
        writer.write(_post(b"12", length=10))  # the body stalls after 2 of 10 bytes
        head, body = await asyncio.wait_for(_response(reader), 5)
        assert head.startswith(b"HTTP/1.1 408 Request Timeout")
        assert b"body did not arrive within 0.3 seconds" in body
        assert time.monotonic() - started < 5  # the body's limit, not the head's 30 s
        assert await asyncio.wait_for(reader.read(), 5) == b""  # and the connection closed
        writer.close()
        server.close()

    asyncio.run(main())


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class _Cycle:
    def __init__(self, method: str = "POST", chunked: bool | None = False) -> None:
        self.scope = {"method": method}
        self.response_started = False
        self.chunked_encoding = chunked


def test_a_sized_response_goes_out_in_one_write():
    from sandlot.gateway.connection import _OneWriteTransport

    transport, cycle = _Recorder(), _Cycle()
    wrapped = _OneWriteTransport(transport, cycle)
    wrapped.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response: at once
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    cycle.response_started = True
    wrapped.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert len(transport.writes) == 1  # the head waits for the body
    wrapped.write(b"ok")
    assert transport.writes[1:] == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    assert wrapped.is_closing() is False  # the rest is the transport's

    # A streamed (chunked) head, a HEAD response's head: at once. Close sends what waits.
    for cycle in (_Cycle(chunked=True), _Cycle(method="HEAD")):
        transport = _Recorder()
        cycle.response_started = True
        _OneWriteTransport(transport, cycle).write(b"HTTP/1.1 200 OK\r\n\r\n")
        assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n"]
    transport, cycle = _Recorder(), _Cycle()
    wrapped = _OneWriteTransport(transport, cycle)
    cycle.response_started = True
    wrapped.write(b"HTTP/1.1 200 OK\r\n\r\n")
    wrapped.close()
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n"] and transport.closed


def test_expect_continue_and_head_requests_are_answered():
    async def main() -> None:
        server, port = await _serve(Settings())
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == (
            b"HTTP/1.1 100 Continue\r\n\r\n"
        )
        writer.write(b"abc")
        assert (await asyncio.wait_for(_response(reader), 5))[1] == b"3"
        writer.write(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        writer.close()
        server.close()

    asyncio.run(main())


def test_a_served_request_leaves_no_garbage_cycle():
    """Each request's objects (scope, cycle, the one-write wrapper) are freed as soon as
    it is answered, not left for the garbage collector (a per-request cycle cost more
    CPU in collections than the request's own parsing)."""
    import gc
    import weakref

    async def main() -> None:
        cycles = []

        async def app(scope, receive, send) -> None:
            cycles.append(weakref.ref(send.__self__))  # the RequestResponseCycle
            await _echo(scope, receive, send)

        server, port = await _serve(Settings(), app)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in range(3):
            writer.write(_post(b"x" * n))
            assert (await _response(reader))[1] == str(n).encode()
        writer.write(_post(b"last"))  # the connection now holds the last cycle only
        assert (await _response(reader))[1] == b"4"
        await asyncio.sleep(0)  # the last request's task finishes
        assert [ref() for ref in cycles[:3]] == [None, None, None]
        writer.close()
        server.close()

    enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # only reference counting frees anything during the test
    try:
        asyncio.run(main())
    finally:
        if enabled:
            gc.enable()
