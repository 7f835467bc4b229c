"""Request bodies that are streamed rather than buffered, and S3's ``aws-chunked`` framing.

S3 ``PutObject``/``UploadPart`` bodies can be gigabytes: the gateway writes them to a
temp file on the blob store's filesystem (``Spool``) while computing MD5, SHA-256 and
the checksums the request names, and hands the provider a ``SpooledBody``. Bodies sent
with ``Content-Encoding: aws-chunked`` are unframed on the way (``AwsChunkedDecoder``):
``hex-size[;chunk-signature=sig]\\r\\n data \\r\\n`` … a zero-size chunk, then trailing
headers (``x-amz-checksum-crc32:…``) and an empty line. With the signed variants each
chunk's signature chains from the request's seed signature and is checked
(``ChunkSigner``, as in S3's "Signature Calculations for the Authorization Header:
Transferring Payload in Multiple Chunks" and "… for trailing headers").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sandlot.protocol import ServiceError, SpooledBody, checksums

STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
SIGNED_STREAMING = frozenset({STREAMING_SIGNED, STREAMING_SIGNED_TRAILER})
# S3's limit for one PutObject / UploadPart body.
MAX_SINGLE_PUT = 5 * 1024**3

_CHECKSUM_PREFIX = "x-amz-checksum-"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_MAX_LINE = 4096  # a chunk header or trailer line; real ones are < 200 bytes
_MAX_TRAILER = 16384


def framing_error(detail: str) -> ServiceError:
    """A body whose aws-chunked framing cannot be read."""
    return ServiceError("InvalidRequest", f"Invalid aws-chunked body: {detail}.", 400)


def incomplete_body() -> ServiceError:
    """A body shorter (or longer) than its framing or declared length says."""
    return ServiceError(
        "IncompleteBody",
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        400,
    )


def signature_mismatch() -> ServiceError:
    return ServiceError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        403,
    )


def entity_too_large() -> ServiceError:
    return ServiceError(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        400,
        MaxSizeAllowed=MAX_SINGLE_PUT,
    )


# --- checksums -------------------------------------------------------------------------------


def requested_checksums(headers: dict[str, str]) -> set[str]:
    """The checksum algorithms to compute while spooling: those a request names
    (``x-amz-checksum-<alg>`` headers, ``x-amz-sdk-checksum-algorithm`` and the
    aws-chunked ``x-amz-trailer``), else CRC64NVME, the checksum S3 gives an upload that
    states none (so it costs no second pass over the body)."""
    found = set()
    for name in headers:
        if name.startswith(_CHECKSUM_PREFIX) and name[15:] in checksums.ALGORITHMS:
            found.add(name[15:])
    sdk = headers.get("x-amz-sdk-checksum-algorithm", "").strip().lower()
    if sdk in checksums.ALGORITHMS:
        found.add(sdk)
    for trailer in headers.get("x-amz-trailer", "").split(","):
        trailer = trailer.strip().lower()
        if trailer.startswith(_CHECKSUM_PREFIX) and trailer[15:] in checksums.ALGORITHMS:
            found.add(trailer[15:])
    return found or {"crc64nvme"}


# --- spooling --------------------------------------------------------------------------------


class Spool:
    """A temp file being written, with the digests of what was written.

    ``write`` and ``close`` do blocking I/O (the file is created by the first of them):
    the gateway calls them from a worker thread. ``close`` fsyncs, so a consumer that
    renames the file into place only has to fsync the directory.
    """

    def __init__(self, tmp_dir: Path, algorithms: set[str]) -> None:
        self.path = Path(tmp_dir) / f"upload-{secrets.token_hex(12)}"
        self._file: BinaryIO | None = None
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self._checksums = {
            name: checksums.hasher(name) for name in sorted(algorithms) if name != "sha256"
        }
        self._want_sha256 = "sha256" in algorithms
        self.size = 0

    def _opened(self) -> BinaryIO:
        if self._file is None:
            self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()/discard()
        return self._file

    def write(self, data: bytes | memoryview) -> None:
        (self._file or self._opened()).write(data)
        self._md5.update(data)
        self._sha256.update(data)
        for hasher in self._checksums.values():
            hasher.update(data)
        self.size += len(data)

    def close(self, trailers: dict[str, str]) -> SpooledBody:
        """Flush, fsync and close; the body as the provider gets it."""
        file = self._file or self._opened()
        file.flush()
        os.fsync(file.fileno())
        file.close()
        checksums = {
            name: base64.b64encode(hasher.digest()).decode("ascii")
            for name, hasher in self._checksums.items()
        }
        if self._want_sha256:
            checksums["sha256"] = base64.b64encode(self._sha256.digest()).decode("ascii")
        return SpooledBody(
            self.path,
            self.size,
            self._md5.hexdigest(),
            self._sha256.hexdigest(),
            dict(sorted(checksums.items())),
            trailers,
        )

    def discard(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


# --- aws-chunked -----------------------------------------------------------------------------


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key (kSigning) for a date (``YYYYMMDD``), region and service."""
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


class ChunkSigner:
    """The chained chunk and trailer signatures of one signed aws-chunked body."""

    def __init__(self, key: bytes, amz_date: str, scope: str, seed_signature: str) -> None:
        self._key = key
        self._prefix = f"{amz_date}\n{scope}\n"
        self.previous = seed_signature

    def _sign(self, algorithm: str, tail: str) -> str:
        text = f"{algorithm}\n{self._prefix}{self.previous}\n{tail}"
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def chunk(self, data_sha256: str) -> str:
        """The signature of the next chunk, whose data hashes to ``data_sha256`` (hex)."""
        return self._sign("AWS4-HMAC-SHA256-PAYLOAD", f"{_EMPTY_SHA256}\n{data_sha256}")

    def trailer(self, canonical_trailers: bytes) -> str:
        """The signature of the trailing headers (``name:value\\n`` lines)."""
        return self._sign(
            "AWS4-HMAC-SHA256-TRAILER", hashlib.sha256(canonical_trailers).hexdigest()
        )

    def check(self, expected: str, sent: str) -> None:
        if not hmac.compare_digest(expected, sent):
            raise signature_mismatch()
        self.previous = expected


_HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class AwsChunkedDecoder:
    """Removes aws-chunked framing incrementally: ``feed`` pieces, then ``finish``.

    Decoded content goes to ``emit``. ``signed`` requires a ``chunk-signature`` on every
    chunk (and an ``x-amz-trailer-signature`` when trailers are sent); ``signer``, when
    given, checks them. Trailing headers are collected in ``trailers`` (lower-case names).
    """

    def __init__(
        self,
        emit: Callable[[bytes | memoryview], None],
        *,
        signed: bool = False,
        signer: ChunkSigner | None = None,
        trailer_expected: bool = True,
    ) -> None:
        self._emit = emit
        self._signed = signed or signer is not None
        self._signer = signer
        self._trailer_expected = trailer_expected
        self._state = _HEADER
        self._line = bytearray()
        self._remaining = 0
        self._chunk_signature = ""
        self._chunk_hash = None
        self._trailer_bytes = 0
        self._canonical_trailers = bytearray()
        self._trailer_signed = False
        self.trailers: dict[str, str] = {}

    def feed(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        pos, size = 0, len(view)
        while pos < size:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, size - pos)
                piece = view[pos : pos + take]
                self._emit(piece)
                if self._chunk_hash is not None:
                    self._chunk_hash.update(piece)
                self._remaining -= take
                pos += take
                if self._remaining == 0:
                    self._state = _DATA_END
            elif state == _DONE:
                raise framing_error("data after the final chunk")
            else:
                newline = _find_newline(view, pos)
                if newline < 0:
                    self._line += view[pos:]
                    if len(self._line) > _MAX_LINE:
                        raise framing_error("a chunk header line is too long")
                    return
                self._line += view[pos:newline]
                pos = newline + 1
                if not self._line.endswith(b"\r"):
                    raise framing_error("a line does not end with CRLF")
                line = bytes(self._line[:-1])
                self._line.clear()
                self._line_done(line)

    def _line_done(self, line: bytes) -> None:
        state = self._state
        if state == _HEADER:
            self._chunk_header(line)
        elif state == _DATA_END:
            if line:
                raise framing_error("chunk data is longer than its declared size")
            self._end_chunk()
        else:
            self._trailer_line(line)

    def _chunk_header(self, line: bytes) -> None:
        size_text, _, extension = line.partition(b";")
        size_text = size_text.strip()
        if not size_text or len(size_text) > 16:
            raise framing_error("a chunk size is missing or too long")
        try:
            size = int(size_text, 16)
        except ValueError:
            raise framing_error("a chunk size is not hexadecimal") from None
        signature = ""
        if extension:
            name, _, value = extension.decode("latin-1").strip().partition("=")
            if name.strip() == "chunk-signature":
                signature = value.strip()
        if self._signed and not signature:
            raise framing_error("a chunk has no chunk-signature")
        self._chunk_signature = signature
        self._remaining = size
        if size == 0:
            if self._signer is not None:
                self._signer.check(self._signer.chunk(_EMPTY_SHA256), signature)
            self._state = _TRAILER
        else:
            self._chunk_hash = hashlib.sha256() if self._signer is not None else None
            self._state = _DATA

    def _end_chunk(self) -> None:
        if self._signer is not None:
            assert self._chunk_hash is not None
            expected = self._signer.chunk(self._chunk_hash.hexdigest())
            self._signer.check(expected, self._chunk_signature)
        self._state = _HEADER

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            if self._signed and self.trailers and not self._trailer_signed:
                # A signed body's trailers end with their own signature.
                raise signature_mismatch() if self._signer else _malformed_trailer()
            self._state = _DONE
            return
        if not self._trailer_expected or self._trailer_signed:
            raise _malformed_trailer()
        self._trailer_bytes += len(line)
        if self._trailer_bytes > _MAX_TRAILER:
            raise _malformed_trailer()
        name, colon, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip()
        if not colon or not name:
            raise _malformed_trailer()
        if name == "x-amz-trailer-signature":
            if self._signer is not None:
                expected = self._signer.trailer(bytes(self._canonical_trailers))
                self._signer.check(expected, value)
            self._trailer_signed = True
            return
        self.trailers[name] = value
        self._canonical_trailers += f"{name}:{value}\n".encode("latin-1")

    def finish(self) -> dict[str, str]:
        """Check the body ended where the framing says; the trailing headers."""
        if self._state != _DONE:
            raise incomplete_body()
        return self.trailers


def _find_newline(view: memoryview, pos: int) -> int:
    """The index of the next ``\\n`` within a line's maximum length, or -1."""
    index = bytes(view[pos : pos + _MAX_LINE + 2]).find(b"\n")
    return index if index < 0 else pos + index


def _malformed_trailer() -> ServiceError:
    return ServiceError(
        "MalformedTrailerError",
        "The request contained trailing data that was not well-formed or did not conform "
        "to our published schema.",
        400,
    )
