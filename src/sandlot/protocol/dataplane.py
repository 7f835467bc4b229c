"""What an HTTP data plane (execute-api, Lambda function URLs) sees of a request and
gives back: plain data, no ASGI. The gateway recognises data-plane requests
(``gateway/dataplane.py``) and calls the owning provider's ``data_plane(request)``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from sandlot.iam.principal import Principal
from sandlot.protocol.http import SpooledBody


@dataclass(slots=True)
class DataPlaneRequest:
    """One request to a data plane.

    ``target`` is what the host or path prefix named (an API id, a function URL id);
    ``path`` is what follows (for execute-api, still with its stage segment);
    ``headers`` keeps every header line in order, repeats kept (payload 1.0 needs
    them; 2.0 joins them); names are lower-case, as the ASGI server delivers them.
    ``principal`` is the verified SigV4 signer, None when unsigned. ``domain`` is the
    custom domain name the request came to (``target`` is then that name), and
    ``client_cert`` the PEM certificate the client presented in the TLS handshake, when
    the domain requires one. ``spooled`` is set instead of ``body`` for the bodies the
    gateway streams to a file (the registry's blob uploads, which may be gigabytes).
    """

    target: str
    method: str
    path: str
    query: str  # raw, undecoded
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    secure: bool
    host: str
    region: str
    principal: Principal | None = None
    domain: str | None = None
    client_cert: str | None = None
    spooled: SpooledBody | None = None

    def header(self, name: str) -> str | None:
        """The (comma-joined) value of header ``name``, or None."""
        name = name.lower()
        values = [v for k, v in self.headers if k.lower() == name]
        return ",".join(values) if values else None


@dataclass(slots=True)
class DataPlaneResponse:
    """The answer: ``headers`` as pairs, so Set-Cookie may repeat. With ``stream`` set,
    the body is what it yields (``body`` is unused), sent chunked as it comes; the gateway
    closes it at its end or when the client goes away (a function URL in
    ``RESPONSE_STREAM`` mode)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None


def json_response(
    status: int, value: object, headers: list[tuple[str, str]] | None = None
) -> DataPlaneResponse:
    """A JSON answer, the shape of API Gateway's own errors (``{"message": ...}``)."""
    return DataPlaneResponse(
        status,
        [("Content-Type", "application/json"), *(headers or [])],
        json.dumps(value, separators=(",", ":")).encode(),
    )


@dataclass(frozen=True, slots=True)
class CustomDomain:
    """A custom domain name a data plane serves (API Gateway's domain names), as the
    gateway needs it: the owning service, and the PEM truststore when the domain
    requires client certificates (mutual TLS). Providers keep these current in
    ``Platform.custom_domains`` (name → CustomDomain)."""

    service: str
    truststore: bytes | None = None


class WebSocketPeer(Protocol):
    """The client end of one WebSocket connection to a data plane, as the gateway hands
    it to the provider (``gateway/websocket.py``): text or binary messages out, and
    closing. Either fails silently once the connection is gone."""

    async def send(self, data: str | bytes) -> None: ...

    async def close(self, code: int = 1000) -> None: ...
