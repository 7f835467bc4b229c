"""Forwarding a data-plane request to an HTTP endpoint (API Gateway's ``HTTP_PROXY``
integrations, REST and HTTP APIs alike): the request's headers minus hop-by-hop ones,
its body, on a worker thread within a timeout. Each API kind builds the target URL
(its own path-variable rules) and answers failures with its own errors: ``forward``
raises ``TimeoutError`` or ``OSError``/``http.client.HTTPException``."""

from __future__ import annotations

import asyncio
import http.client
import re
from urllib.parse import quote, urlsplit

from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
     "proxy-authorization", "proxy-authenticate", "host", "content-length"}
)  # fmt: skip
VARIABLE = re.compile(r"\{([A-Za-z0-9._-]+)\+?\}")


def fill(uri: str, values: dict[str, str]) -> str:
    """``uri`` with its ``{name}`` / ``{name+}`` variables replaced (URL-quoted)."""
    return VARIABLE.sub(lambda m: quote(values.get(m[1], ""), safe="/"), uri)


async def forward(
    uri: str,
    method: str,
    request: DataPlaneRequest,
    timeout_s: float,
    headers: list[tuple[str, str]] | None = None,
) -> DataPlaneResponse:
    """Send ``method uri`` with the request's query appended (after the URI's own),
    ``headers`` (default: the request's, hop-by-hop ones dropped) and body."""
    target = urlsplit(uri)
    query = "&".join(q for q in (target.query, request.query) if q)
    full_path = (target.path or "/") + (f"?{query}" if query else "")
    if headers is None:
        headers = [(k, v) for k, v in request.headers if k.lower() not in HOP_BY_HOP]
    headers = [*headers, ("Host", target.netloc)]

    def send() -> DataPlaneResponse:
        kind = (
            http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        )
        connection = kind(target.hostname, target.port, timeout=timeout_s)
        try:
            connection.putrequest(method, full_path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(request.body)))
            connection.endheaders(request.body)
            answer = connection.getresponse()
            body = answer.read()
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP]
            return DataPlaneResponse(answer.status, kept, body)
        finally:
            connection.close()

    return await asyncio.to_thread(send)
