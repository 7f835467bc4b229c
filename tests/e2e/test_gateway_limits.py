"""The gateway's HTTP limits: header sizes, slow clients, oversized bodies answered in the
protocol of the service they addressed (gateway/connection.py, gateway/app.py)."""

from __future__ import annotations

import json
import selectors
import socket
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import code_and_status, make_client
from tests.e2e.server import SandlotServer

TIMEOUT = 2  # seconds, for headers and for pauses within a body
MAX_BODY = 100_000


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    env = {
        "SANDLOT_REQUEST_HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
        "SANDLOT_REQUEST_BODY_TIMEOUT_SECONDS": str(TIMEOUT),
        "SANDLOT_MAX_BODY_BYTES": str(MAX_BODY),
    }
    with SandlotServer(tmp_path_factory.mktemp("limits"), env=env, lambda_role=False) as server:
        yield server


def _address(server) -> tuple[str, int]:
    host, port = server.endpoint.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _exchange(server, payload: bytes, timeout: float = 10) -> bytes:
    """Send ``payload`` on a new connection; everything the server answers until it closes."""
    with socket.create_connection(_address(server), timeout=timeout) as sock:
        sock.sendall(payload)
        return _read_all(sock, time.monotonic() + timeout)


def _read_all(sock: socket.socket, deadline: float) -> bytes:
    received = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        received += chunk
    return received


def _served(server) -> None:
    assert make_client(server.endpoint, "sts").get_caller_identity()["Account"] == "000000000000"


# -- header sizes ---------------------------------------------------------------------------


def _get(headers: str) -> bytes:
    return f"GET /_sandlot/health HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode()


def test_a_header_line_over_8_kb_gets_431(limited):
    answer = _exchange(limited, _get(f"X-Big: {'a' * 8200}\r\n"))
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
    assert b"header line is larger than 8192 bytes" in answer
    _served(limited)


def test_headers_over_10_kb_together_get_431(limited):
    lines = "".join(f"X-Part-{i}: {'b' * 2000}\r\n" for i in range(6))
    answer = _exchange(limited, _get(lines))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"larger than 10240 bytes" in answer
    _served(limited)


def test_a_megabyte_header_is_refused_early_and_the_server_keeps_serving(limited):
    answer = _exchange(limited, _get(f"X-Huge: {'c' * 1024 * 1024}\r\n"))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    _served(limited)


def test_headers_within_the_limits_are_served(limited):
    answer = _exchange(limited, _get(f"X-Pad: {'d' * 8000}\r\nConnection: close\r\n"))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


# -- slow clients ---------------------------------------------------------------------------


def test_half_sent_requests_time_out_with_408_and_do_not_block_others(limited):
    heads = [b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "] * 150
    bodies = [
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded"
        b"\r\nContent-Length: 1000\r\n\r\nAction=GetCallerIdentity&"
    ] * 150
    sts = make_client(limited.endpoint, "sts")
    idle = socket.create_connection(_address(limited))  # never sends a byte
    sockets = []
    try:
        started = time.monotonic()
        for payload in heads + bodies:
            sock = socket.create_connection(_address(limited), timeout=5)
            sock.sendall(payload)
            sockets.append(sock)
        # 300 requests hang half-sent: a normal client is still served, at once.
        before = time.monotonic()
        assert sts.get_caller_identity()["Account"] == "000000000000"
        assert time.monotonic() - before < TIMEOUT  # served while they still hang
        # Each half-sent request is answered 408 and its connection closed.
        deadline = started + TIMEOUT + 15
        answers = _collect(sockets, deadline)
        assert len(answers) == 300
        statuses = {answer.split(b"\r\n", 1)[0] for answer in answers}
        assert statuses == {b"HTTP/1.1 408 Request Timeout"}, statuses
        assert sum(b"headers did not arrive" in answer for answer in answers) == 150
        assert sum(b"body did not arrive" in answer for answer in answers) == 150
        # A connection that never asked anything is closed without an answer.
        assert _read_all(idle, time.monotonic() + 5) == b""
    finally:
        idle.close()
        for sock in sockets:
            sock.close()
    _served(limited)


def _collect(sockets: list[socket.socket], deadline: float) -> list[bytes]:
    """Everything each socket receives until the server closes it (or the deadline)."""
    selector = selectors.DefaultSelector()
    received: dict[socket.socket, bytes] = {}
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        received[sock] = b""
    open_count = len(sockets)
    while open_count and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
            sock = key.fileobj
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                received[sock] += chunk
            else:
                selector.unregister(sock)
                open_count -= 1
    selector.close()
    assert open_count == 0, f"{open_count} connections still open at the deadline"
    return list(received.values())


def test_a_slow_body_within_the_pause_limit_is_served(limited):
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    head = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(_address(limited), timeout=10) as sock:
        sock.sendall(head)
        for piece in (body[:10], body[10:20], body[20:]):
            time.sleep(TIMEOUT / 3)  # pauses shorter than the limit, longer in all
            sock.sendall(piece)
        answer = _read_all(sock, time.monotonic() + 10)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert b"<GetCallerIdentityResult>" in answer


# -- oversized bodies -----------------------------------------------------------------------


def test_oversized_lambda_invoke_answers_lambda_json(limited):
    lam = make_client(limited.endpoint, "lambda")
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName="any", Payload=json.dumps({"x": "y" * MAX_BODY}))
    assert code_and_status(excinfo) == ("RequestEntityTooLargeException", 413)
    headers = excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["content-type"].startswith("application/json")
    assert f"smaller than {MAX_BODY} bytes" in excinfo.value.response["Error"]["Message"]
    # As curl -d sends it (a form content type): still Lambda's JSON, not STS's XML.
    body = b"x" * (MAX_BODY + 1)
    answer = _exchange(
        limited,
        b"POST /2015-03-31/functions/any/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert json.loads(payload)["message"].startswith("Request must be smaller than")
    assert b"RequestEntityTooLargeException" in answer and b"content-type: application/json" in (
        head.lower()
    )


def test_oversized_s3_request_answers_s3_xml(limited):
    s3 = make_client(limited.endpoint, "s3")
    name = f"big-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    objects = [{"Key": f"{i:04d}-{'k' * 200}"} for i in range(1000)]
    with pytest.raises(ClientError) as excinfo:
        s3.delete_objects(Bucket=name, Delete={"Objects": objects})
    assert code_and_status(excinfo) == ("MaxMessageLengthExceeded", 400)
    headers = excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["content-type"] == "application/xml"
    assert "x-amz-request-id" in headers


def test_oversized_sts_request_answers_query_xml(limited):
    sts = make_client(limited.endpoint, "sts")
    with pytest.raises(ClientError) as excinfo:
        sts.assume_role(
            RoleArn="arn:aws:iam::000000000000:role/any",
            RoleSessionName="big",
            Policy=json.dumps({"Version": "2012-10-17", "Pad": "p" * MAX_BODY}),
        )
    assert code_and_status(excinfo) == ("RequestEntityTooLargeException", 413)
    assert excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == ("text/xml")
