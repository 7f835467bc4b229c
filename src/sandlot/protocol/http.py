"""Protocol-neutral HTTP request and response values exchanged with the gateway."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class HttpRequest:
    """One HTTP request as received.

    ``path`` is the raw, still percent-encoded path (no query string); ``query`` is the
    raw query string without the leading ``?``; header names are lower-case (a header
    sent twice is joined with ``,`` as RFC 9110 allows).
    """

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(slots=True)
class HttpResponse:
    """One HTTP response to send. Header names keep the case AWS uses."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
