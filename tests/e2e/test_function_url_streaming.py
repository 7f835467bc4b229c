"""Function URLs in InvokeMode RESPONSE_STREAM, read with raw http.client as the bytes
arrive: Node's ``awslambda.streamifyResponse`` with ``HttpResponseStream.from`` (the
prelude sets status, headers and cookies), a plain stream (its content type), and the
failures before and after the head."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique

STREAMER = """
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const path = event.rawPath;
  if (path === '/fail-early') throw new Error('nothing written');
  if (path === '/plain') {
    responseStream.setContentType('text/plain');
    responseStream.write('just ');
    await sleep(300);
    responseStream.write('text');
    responseStream.end();
    return;
  }
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 201,
    headers: { 'Content-Type': 'text/event-stream', 'X-Custom': 'yes' },
    cookies: ['a=1; Path=/', 'b=2'],
  });
  for (let i = 0; i < 3; i++) {
    stream.write(`data: ${i}\\n\\n`);
    if (path === '/fail-late') throw new Error('broke mid-stream');
    await sleep(400);
  }
  stream.end();
});
"""


@pytest.fixture(scope="module")
def url(server):
    lam = make_client(server.endpoint, "lambda")
    name = unique("url-stream")
    create_function(lam, name, {"index.js": STREAMER}, runtime="nodejs20.x",
                    handler="index.handler")  # fmt: skip
    created = lam.create_function_url_config(
        FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )
    assert created["InvokeMode"] == "RESPONSE_STREAM"
    lam.add_permission(FunctionName=name, StatementId="public", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")  # fmt: skip
    return created["FunctionUrl"]


def _get(server, url: str, path: str):
    """The response (headers read) and the connection, to read the body from."""
    endpoint, target = urlsplit(server.endpoint), urlsplit(url)
    connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=30)
    connection.putrequest("GET", path, skip_host=True)
    connection.putheader("Host", target.netloc)
    connection.endheaders()
    return connection.getresponse(), connection


def _read_timed(response) -> list[tuple[float, bytes]]:
    """The body as it arrives: (time, bytes) per read."""
    pieces = []
    while True:
        data = response.read1(65536)
        if not data:
            return pieces
        pieces.append((time.monotonic(), data))


def test_prelude_sets_the_head_and_the_body_streams(server, url):
    response, connection = _get(server, url, "/events")
    try:
        head_at = time.monotonic()
        assert response.status == 201
        assert response.getheader("Content-Type") == "text/event-stream"
        assert response.getheader("X-Custom") == "yes"
        assert [v for k, v in response.getheaders() if k.lower() == "set-cookie"] == [
            "a=1; Path=/",
            "b=2",
        ]
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.getheader("Content-Length") is None
        assert response.getheader("x-amzn-RequestId")
        pieces = _read_timed(response)
    finally:
        connection.close()
    body = b"".join(data for _, data in pieces)
    assert body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    # The head and the first event came ~0.8 s before the last one was written.
    assert pieces[-1][0] - head_at > 0.6
    assert pieces[0][1].startswith(b"data: 0") and pieces[-1][0] - pieces[0][0] > 0.6


def test_a_plain_stream_keeps_its_content_type(server, url):
    response, connection = _get(server, url, "/plain")
    try:
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/plain"
        assert b"".join(data for _, data in _read_timed(response)) == b"just text"
    finally:
        connection.close()


def test_failures_before_and_after_the_head(server, url):
    response, connection = _get(server, url, "/fail-early")
    try:
        assert response.status == 502
        assert response.read() == b'{"Message":"Internal Server Error"}'
    finally:
        connection.close()
    response, connection = _get(server, url, "/fail-late")
    try:
        assert response.status == 201  # the head was out: the body just ends
        assert b"".join(data for _, data in _read_timed(response)) == b"data: 0\n\n"
    finally:
        connection.close()
