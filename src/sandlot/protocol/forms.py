"""S3's POST Object wire format: a ``multipart/form-data`` body (RFC 7578, RFC 2046)
decoded as it streams, and the ``PostResponse`` document of a ``201`` answer.

The form's fields come first and are small; the part named ``file`` is the object and
may be gigabytes, so it is handed on piece by piece, never held; anything after it is
ignored, as S3 ignores it.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from sandlot.protocol import ServiceError
from sandlot.protocol._parse_xml import BadInput, load_xml, local_name

# S3 reads at most this much of the form before the file (its own bound).
MAX_PRE_DATA = 20 * 1024
_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;,\s]+))', re.IGNORECASE)
_PARAM = re.compile(r';\s*([\w*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')
_MAX_HEADERS = 8 * 1024


def malformed() -> ServiceError:
    return ServiceError(
        "MalformedPOSTRequest",
        "The body of your POST request is not well-formed multipart/form-data.",
        400,
    )


def boundary_of(content_type: str) -> str:
    """The boundary of a ``multipart/form-data`` content type (S3's error if none)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ServiceError(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
            Condition="Bucket POST must be of the enclosure-type multipart/form-data",
        )
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise malformed()
    return found.group(1) or found.group(2)


class FormReader:
    """Feed the body in pieces; ``feed`` returns the pieces of the file's content.

    Once ``at_file`` is true, ``fields`` (name → value, names as sent; a repeated
    field's values joined by commas, as S3 reads them) and ``filename`` are complete.
    ``done`` is set when the file's part has ended.
    """

    def __init__(self, boundary: str) -> None:
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        # The first delimiter has no CRLF before it; pretend it had.
        self._buffer = bytearray(b"\r\n")
        self._state = "preamble"  # preamble → headers → field | file → (headers …) | done
        self._name = ""
        self._value = bytearray()
        self._pre_data = 0
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.at_file = False
        self.done = False

    def feed(self, data: bytes) -> list[bytes]:
        if self.done:
            return []
        self._buffer += data
        out: list[bytes] = []
        while not self.done and self._state != "done":
            if self._state == "preamble":
                if not self._after_delimiter():
                    break
            elif self._state == "headers":
                if not self._headers():
                    break
            elif not self._content(out):
                break
        return out

    def finish(self) -> None:
        """At the end of the body: a form that never reached its file is refused."""
        if not self.at_file:
            if self._state != "done":
                raise malformed()  # no closing delimiter
            raise ServiceError(
                "IncorrectNumberOfFilesInPostRequest",
                "POST requires exactly one file upload per request.",
                400,
            )
        if not self.done:
            raise malformed()  # the body ended inside the file

    # -- states -------------------------------------------------------------------------

    def _after_delimiter(self) -> bool:
        """Skip to the first delimiter and past its line; False if more data is needed."""
        at = self._buffer.find(self._delimiter)
        if at < 0:
            # Keep what may be the start of a delimiter.
            del self._buffer[: max(0, len(self._buffer) - len(self._delimiter))]
            return False
        return self._delimiter_line(at)

    def _delimiter_line(self, at: int) -> bool:
        rest = at + len(self._delimiter)
        line_end = self._buffer.find(b"\r\n", rest)
        if line_end < 0:
            if len(self._buffer) - rest > 256:
                raise malformed()
            if self._buffer[rest : rest + 2] == b"--":
                self._close()
                return False
            return False
        tail = bytes(self._buffer[rest:line_end])
        if tail.startswith(b"--"):
            self._close()
            return False
        if tail.strip(b" \t"):
            raise malformed()
        del self._buffer[: line_end + 2]
        self._state = "headers"
        return True

    def _close(self) -> None:
        """The closing delimiter: the form is over."""
        self._state = "done"
        self._buffer.clear()
        if self.at_file:
            self.done = True

    def _headers(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_HEADERS:
                raise malformed()
            return False
        # A part with no headers at all starts with the blank line.
        block = bytes(self._buffer[:end]).decode("utf-8", "replace")
        del self._buffer[: end + 4]
        disposition = None
        for line in block.split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-disposition":
                disposition = value.strip()
        if disposition is None or not disposition.lower().startswith("form-data"):
            raise malformed()
        params = {
            m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
            for m in _PARAM.finditer(disposition)
        }
        name = params.get("name")
        if name is None:
            raise malformed()
        self._name = _unquote(name)
        if self._name.lower() == "file":
            self.at_file = True
            filename = params.get("filename")
            self.filename = None if filename is None else _unquote(filename)
            self._state = "file"
        else:
            self._state = "field"
            self._value = bytearray()
        return True

    def _content(self, out: list[bytes]) -> bool:
        at = self._buffer.find(self._delimiter)
        if at < 0:
            keep = len(self._delimiter) - 1
            ready = max(0, len(self._buffer) - keep)
            if ready:
                self._take(bytes(self._buffer[:ready]), out)
                del self._buffer[:ready]
            return False
        after = self._buffer[at + len(self._delimiter) : at + len(self._delimiter) + 2]
        if len(after) < 2:  # not yet known whether this is a delimiter line
            if at:
                self._take(bytes(self._buffer[:at]), out)
                del self._buffer[:at]
            return False
        if after != b"--" and after[:1] not in (b"\r", b" ", b"\t"):
            # The boundary inside a part, which RFC 2046 forbids a sender: ending the
            # file there would store it cut short.
            raise malformed()
        if at:
            self._take(bytes(self._buffer[:at]), out)
        if self._state == "field":
            value = self._value.decode("utf-8", "replace")
            previous = self.fields.get(self._name)
            self.fields[self._name] = value if previous is None else f"{previous},{value}"
        elif self._state == "file":
            self.done = True
            self._buffer.clear()
            return False
        del self._buffer[:at]
        self._state = "preamble"
        return self._delimiter_line(0)

    def _take(self, data: bytes, out: list[bytes]) -> None:
        if self._state == "file":
            out.append(data)
            return
        self._pre_data += len(data)
        if self._pre_data > MAX_PRE_DATA:
            raise ServiceError(
                "MaxPostPreDataLengthExceededError",
                "Your POST request fields preceding the upload file were too large.",
                400,
            )
        self._value += data


def _unquote(value: str) -> str:
    """A quoted-string's content: a backslash quotes a following ``"`` or ``\\`` (all a
    sender quotes); before anything else it is itself, as in a Windows path."""
    return re.sub(r'\\(["\\])', r"\1", value)


def post_response(location: str, bucket: str, key: str, etag: str) -> bytes:
    """The body of POST Object's ``201 Created`` answer."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<PostResponse><Location>{escape(location)}</Location>"
        f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
        f"<ETag>{escape(etag)}</ETag></PostResponse>"
    ).encode()


def tagging_query(document: str) -> str:
    """A form's ``tagging`` field (a ``Tagging`` XML document) as the query string
    PutObject's ``x-amz-tagging`` header carries; S3's MalformedXML if unreadable."""
    try:
        root = load_xml(document.encode())
    except BadInput:
        root = None
    if root is None or local_name(root.tag) != "Tagging":
        raise ServiceError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
            400,
        )
    pairs = []
    for tag in root.iter():
        if local_name(tag.tag) == "Tag":
            found = {local_name(child.tag): child.text or "" for child in tag}
            pairs.append((found.get("Key", ""), found.get("Value", "")))
    return urlencode(pairs)
