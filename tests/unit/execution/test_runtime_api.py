"""The Runtime API's wire behaviour: routes, headers, statuses and error bodies."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json

from sandlot.execution import runtime_api
from sandlot.execution.api import InvokeRequest, ResponseStream
from sandlot.execution.runtime_api import (
    MAX_PAYLOAD_BYTES,
    Invocation,
    RuntimeAPI,
    RuntimeAPIServer,
)

ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn:prod"


class Client:
    """A raw HTTP/1.1 client on one keep-alive connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, address: str) -> Client:
        host, port = address.split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    def send(self, method: str, path: str, body: bytes = b"", headers: str = "") -> None:
        self.writer.write(
            f"{method} /2018-06-01/runtime{path} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n".encode()
            + body
        )

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode()
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", 0)))
        return status, headers, body

    async def request(self, method, path, body=b"", headers=""):
        self.send(method, path, body, headers)
        return await self.response()


class Runtime:
    """A RuntimeAPI on a real server, recording what it reports to its environment."""

    def __init__(self) -> None:
        self.ready = 0
        self.init_errors: list[tuple[bytes, str | None]] = []
        self.drains = 0
        self.api = RuntimeAPI(self._ready, self._init_error, self._drain)
        self.server = RuntimeAPIServer(self.api)
        self.clients: list[Client] = []

    async def connect(self) -> Client:
        """A client connected to this Runtime API (started if need be)."""
        address = self.server.address or await self.server.start()
        client = await Client.connect(address)
        self.clients.append(client)
        return client

    async def close(self) -> None:
        self.server.close()
        for client in self.clients:
            client.writer.close()
            with contextlib.suppress(ConnectionError):
                await client.writer.wait_closed()

    def _ready(self):
        self.ready += 1

    def _init_error(self, payload, error_type):
        self.init_errors.append((payload, error_type))

    def _drain(self):
        self.drains += 1

    def dispatch(self, request_id: str, payload: bytes = b'{"k": 1}', **kwargs) -> Invocation:
        request = InvokeRequest(request_id, payload, ARN, **kwargs)
        invocation = Invocation(
            request, 1_700_000_000_000, asyncio.get_running_loop().create_future()
        )
        self.api.dispatch(invocation)
        return invocation


async def test_next_blocks_until_dispatch_and_carries_headers():
    runtime = Runtime()
    client = await runtime.connect()
    client.send("GET", "/invocation/next")
    await asyncio.sleep(0.05)
    assert runtime.ready == 1
    context = base64.b64encode(b'{"custom": {"a": 1}}').decode()
    invocation = runtime.dispatch(
        "req-1", client_context=context, cognito_identity='{"cognitoIdentityId": "x"}'
    )
    status, headers, body = await client.response()
    assert status == 200 and body == b'{"k": 1}'
    assert headers["lambda-runtime-aws-request-id"] == "req-1"
    assert headers["lambda-runtime-deadline-ms"] == "1700000000000"
    assert headers["lambda-runtime-invoked-function-arn"] == ARN
    assert headers["lambda-runtime-trace-id"].startswith("Root=1-")
    assert headers["lambda-runtime-client-context"] == '{"custom": {"a": 1}}'
    assert headers["lambda-runtime-cognito-identity"] == '{"cognitoIdentityId": "x"}'
    assert headers["content-type"] == "application/json"

    status, _, body = await client.request("POST", "/invocation/req-1/response", b'"ok"')
    assert (status, json.loads(body)) == (202, {"status": "OK"})
    outcome = invocation.future.result()
    assert (outcome.kind, outcome.payload) == ("response", b'"ok"')
    assert runtime.drains == 1
    await runtime.close()


async def test_invocation_dispatched_before_next_is_delivered_at_next():
    runtime = Runtime()
    client = await runtime.connect()
    runtime.dispatch("early", trace_id="Root=1-abc")
    status, headers, _ = await client.request("GET", "/invocation/next")
    assert status == 200 and headers["lambda-runtime-aws-request-id"] == "early"
    assert headers["lambda-runtime-trace-id"] == "Root=1-abc"
    assert "lambda-runtime-client-context" not in headers
    await runtime.close()


async def test_wrong_request_id_and_double_response():
    runtime = Runtime()
    client = await runtime.connect()
    runtime.dispatch("req-2")
    await client.request("GET", "/invocation/next")
    status, _, body = await client.request("POST", "/invocation/other/response", b"{}")
    assert status == 400
    assert json.loads(body) == {
        "errorMessage": "Invalid request ID",
        "errorType": "InvalidRequestID",
    }
    status, _, _ = await client.request("POST", "/invocation/req-2/response", b"{}")
    assert status == 202
    status, _, body = await client.request("POST", "/invocation/req-2/response", b"{}")
    assert status == 403
    assert json.loads(body) == {
        "errorMessage": "State transition from RuntimeResponseSentState to InvocationResponse "
        "failed for runtime. Error: State transition is not allowed",
        "errorType": "InvalidStateTransition",
    }
    status, _, body = await client.request("POST", "/invocation/req-2/error", b"{}")
    assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"
    await runtime.close()


async def test_error_response_passes_the_document_through():
    runtime = Runtime()
    client = await runtime.connect()
    invocation = runtime.dispatch("req-3")
    await client.request("GET", "/invocation/next")
    document = b'{"errorMessage": "boom", "errorType": "KeyError", "stackTrace": []}'
    status, _, _ = await client.request(
        "POST",
        "/invocation/req-3/error",
        document,
        "Lambda-Runtime-Function-Error-Type: KeyError\r\n",
    )
    assert status == 202
    outcome = invocation.future.result()
    assert (outcome.kind, outcome.payload, outcome.error_type) == ("error", document, "KeyError")

    # Without a body, the error is built from the header.
    second = runtime.dispatch("req-4")
    await client.request("GET", "/invocation/next")
    await client.request(
        "POST", "/invocation/req-4/error", b"", "Lambda-Runtime-Function-Error-Type: Custom\r\n"
    )
    assert json.loads(second.future.result().payload) == {
        "errorMessage": "",
        "errorType": "Custom",
    }
    await runtime.close()


async def test_oversize_response_is_413_and_a_function_error():
    runtime = Runtime()
    client = await runtime.connect()
    invocation = runtime.dispatch("big")
    await client.request("GET", "/invocation/next")
    status, _, body = await client.request(
        "POST", "/invocation/big/response", b"x" * (MAX_PAYLOAD_BYTES + 1)
    )
    assert status == 413
    assert json.loads(body) == {
        "errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "RequestEntityTooLarge",
    }
    outcome = invocation.future.result()
    assert outcome.kind == "error" and outcome.error_type == "Function.ResponseSizeTooLarge"
    # The connection is still usable.
    runtime.dispatch("after")
    status, headers, _ = await client.request("GET", "/invocation/next")
    assert headers["lambda-runtime-aws-request-id"] == "after"
    await runtime.close()


async def test_init_error_only_before_the_first_next():
    runtime = Runtime()
    client = await runtime.connect()
    status, _, _ = await client.request(
        "POST",
        "/init/error",
        b'{"errorMessage": "no", "errorType": "Custom.Init"}',
        "Lambda-Runtime-Function-Error-Type: Custom.Init\r\n",
    )
    assert status == 202
    assert runtime.init_errors == [
        (b'{"errorMessage": "no", "errorType": "Custom.Init"}', "Custom.Init")
    ]

    other = Runtime()
    client = await other.connect()
    other.dispatch("r")
    await client.request("GET", "/invocation/next")
    status, _, body = await client.request("POST", "/init/error", b"{}")
    assert status == 403
    assert json.loads(body)["errorMessage"].startswith("State transition from Running to InitError")
    await runtime.close()
    await other.close()


async def test_unknown_routes_methods_and_protocol_details():
    runtime = Runtime()
    client = await runtime.connect()
    status, _, _ = await client.request("GET", "/nothing")
    assert status == 404
    status, _, _ = await client.request("POST", "/invocation/next")
    assert status == 405
    # Expect: 100-continue (curl sends it for bodies over 1 KB), chunked bodies, pipelining.
    invocation = runtime.dispatch("c")
    await client.request("GET", "/invocation/next")
    client.writer.write(
        b"POST /2018-06-01/runtime/invocation/c/response HTTP/1.1\r\nHost: x\r\n"
        b"Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert await client.reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    client.writer.write(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    assert (await client.response())[0] == 202
    assert invocation.future.result().payload == b"abcde"
    client.send("GET", "/nothing")
    client.send("GET", "/nothing")
    assert [(await client.response())[0] for _ in range(2)] == [404, 404]
    # Malformed HTTP closes the connection with 400.
    client.writer.write(b"NOT HTTP\r\n\r\n")
    assert (await client.response())[0] == 400
    assert await client.reader.read() == b""
    await runtime.close()


async def test_streamed_response_and_an_error_in_its_trailers():
    runtime = Runtime()
    client = await runtime.connect()

    def streamed(request_id: str, chunks: list[bytes], trailers: str = "") -> None:
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
        client.writer.write(
            f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\n"
            "Host: x\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
            + body
            + b"0\r\n"
            + trailers.encode()
            + b"\r\n"
        )

    invocation = runtime.dispatch("s-1")
    await client.request("GET", "/invocation/next")
    streamed("s-1", [b"one ", b"two"])
    assert (await client.response())[0] == 202
    outcome = invocation.future.result()
    assert (outcome.kind, outcome.payload) == ("response", b"one two")

    failed = runtime.dispatch("s-2")
    await client.request("GET", "/invocation/next")
    document = b'{"errorMessage": "late", "errorType": "TypeError", "trace": []}'
    trailers = (
        "Lambda-Runtime-Function-Error-Type: TypeError\r\n"
        f"Lambda-Runtime-Function-Error-Body: {base64.b64encode(document).decode()}\r\n"
    )
    streamed("s-2", [b"partial"], trailers)
    assert (await client.response())[0] == 202
    outcome = failed.future.result()
    assert (outcome.kind, outcome.payload, outcome.error_type) == ("error", document, "TypeError")
    await runtime.close()


def _stream_head(request_id: str) -> bytes:
    return (
        f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\n"
        "Host: x\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n"
        "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_a_streamed_response_reaches_its_reader_as_it_arrives():
    runtime = Runtime()
    client = await runtime.connect()
    stream = ResponseStream()
    invocation = runtime.dispatch("r-1", stream=stream)
    await client.request("GET", "/invocation/next")
    await asyncio.wait_for(stream.opened(), 5)  # the runtime took it
    client.writer.write(_stream_head("r-1") + _chunk(b"one "))
    assert await asyncio.wait_for(anext(stream), 5) == b"one "
    assert (stream.streamed, stream.content_type) == (True, "text/plain")
    assert not invocation.future.done()  # the function is still writing
    client.writer.write(_chunk(b"two") + b"0\r\n\r\n")
    assert (await client.response())[0] == 202
    outcome = invocation.future.result()
    assert (outcome.kind, outcome.payload) == ("response", b"")  # nothing held back
    stream.close()  # as the invoker does once the invocation is over
    assert [chunk async for chunk in stream] == [b"two"]
    await runtime.close()


async def test_a_lagging_reader_stops_the_runtimes_writes():
    runtime = Runtime()
    client = await runtime.connect()
    stream = ResponseStream()
    invocation = runtime.dispatch("r-2", stream=stream)
    await client.request("GET", "/invocation/next")
    block = b"x" * 65536
    client.writer.write(_stream_head("r-2") + _chunk(block) * 256 + b"0\r\n\r\n")  # 16 MB
    # Nobody reads the stream: the server stops reading, the socket buffers fill.
    drained = asyncio.ensure_future(client.writer.drain())
    await asyncio.sleep(0.5)
    assert not drained.done() and not invocation.future.done()
    received = 0
    async for chunk in stream:
        received += len(chunk)
        assert len(chunk) <= ResponseStream.HIGH_WATER + 65536
        if received == len(block) * 256:
            break
    await asyncio.wait_for(drained, 5)
    assert (await client.response())[0] == 202
    assert invocation.future.result().kind == "response"
    await runtime.close()


async def test_a_stream_past_the_limit_fails_the_invocation_at_once(monkeypatch):
    monkeypatch.setattr(runtime_api, "STREAM_LIMIT_BYTES", 1000)
    runtime = Runtime()
    client = await runtime.connect()
    stream = ResponseStream()
    invocation = runtime.dispatch("r-3", stream=stream)
    await client.request("GET", "/invocation/next")
    client.writer.write(_stream_head("r-3") + _chunk(b"a" * 600) + _chunk(b"b" * 600))
    outcome = await asyncio.wait_for(asyncio.shield(invocation.future), 5)
    assert (outcome.kind, outcome.error_type) == ("error", "Function.ResponseSizeTooLarge")
    client.writer.write(_chunk(b"c" * 600) + b"0\r\n\r\n")  # read and dropped
    status, _, body = await client.response()
    assert status == 413 and json.loads(body)["errorType"] == "RequestEntityTooLarge"
    stream.close()
    assert b"".join([chunk async for chunk in stream]) == b"a" * 600
    await runtime.close()
