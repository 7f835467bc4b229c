"""Protocol-neutral HTTP request and response values exchanged with the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO


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
    body: bytes | SpooledBody = b""
    client_ip: str = ""  # the peer's address (aws:SourceIp)
    from_function: bool = False  # arrived on the listener for Lambda functions
    secure: bool = False  # arrived over HTTPS (aws:SecureTransport)


@dataclass(slots=True)
class SpooledBody:
    """A request body the gateway streamed to a file instead of holding it in memory.

    Used for operations whose input payload is a streaming blob (S3 ``PutObject``,
    ``UploadPart``). The content is already decoded (``aws-chunked`` framing removed).
    ``path`` lies on the blob store's filesystem, so a consumer may ``os.replace`` it
    into place; whatever is still there after the request is deleted by the gateway.
    """

    path: Path
    size: int
    md5: str  # hex digest of the decoded content
    sha256: str  # hex digest of the decoded content
    checksums: dict[str, str] = field(default_factory=dict)  # "crc32"… → base64 value
    trailers: dict[str, str] = field(default_factory=dict)  # aws-chunked trailing headers

    def read(self) -> bytes:
        """The whole content; only for consumers that know it is small."""
        return self.path.read_bytes()


@dataclass(frozen=True, slots=True)
class FileBody:
    """A response body streamed from an open file, ``length`` bytes from ``offset``.

    The provider opens the file (so a concurrent delete cannot pull it away); the
    gateway sends it in chunks and closes it, also when the client goes away.
    """

    file: BinaryIO
    offset: int
    length: int


@dataclass(slots=True)
class EventStreamBody:
    """A response body of event-stream messages (``protocol.eventstream``), sent as
    ``frames`` yields them (each already encoded) until it ends or the client leaves
    (the gateway then closes the iterator)."""

    frames: AsyncIterator[bytes]


@dataclass(slots=True)
class HttpResponse:
    """One HTTP response to send. Header names keep the case AWS uses."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | FileBody | EventStreamBody = b""
