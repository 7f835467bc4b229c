"""S3 form uploads as a browser sends them: a multipart/form-data body built here and
POSTed with http.client (no redirects followed)."""

from __future__ import annotations

import http.client
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit


def multipart(fields: dict[str, str], content: bytes, filename: str = "photo.txt"):
    """A multipart/form-data body as a browser sends it: the fields, then the file."""
    boundary = f"----sandlot{uuid.uuid4().hex}"
    out = []
    for name, value in fields.items():
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    out.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
    )
    out.append(content)
    out.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def post_form(
    url: str,
    fields: dict[str, str],
    content: bytes,
    filename: str = "photo.txt",
    origin: str | None = None,
):
    """POST the form (as a page of ``origin`` would); (status, headers, body) without
    following redirects."""
    body, content_type = multipart(fields, content, filename)
    headers = {"Content-Type": content_type}
    if origin is not None:
        headers["Origin"] = origin
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", parts.path, body, headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def s3_error(body: bytes) -> tuple[str, str]:
    root = ET.fromstring(body)
    return root.findtext("Code"), root.findtext("Message")
