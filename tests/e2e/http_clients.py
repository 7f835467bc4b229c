"""Raw HTTP to sandlot's data planes (API Gateway invoke URLs, function URLs): the
request goes to the server's loopback address with the Host the URL names, as a
browser or curl resolving ``*.localhost`` would send it."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.getheaders()
        self.body = response.read()

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return ",".join(values) if values else None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)


def send(
    endpoint: str,
    method: str,
    url: str,
    body: bytes = b"",
    headers: list[tuple[str, str]] | dict[str, str] = (),
) -> Answer:
    """``method url`` sent to ``endpoint``'s address; the Host is the URL's."""
    server = urlsplit(endpoint)
    target = urlsplit(url)
    connection = http.client.HTTPConnection(server.hostname, server.port, timeout=60)
    try:
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
        if not any(k.lower() == "host" for k, _ in pairs):
            connection.putheader("Host", target.netloc)
        for name, value in pairs:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        return Answer(connection.getresponse())
    finally:
        connection.close()


def signed_headers(
    method: str, url: str, body: bytes, key: str, secret: str, service: str, region="us-east-1"
) -> dict[str, str]:
    """SigV4 headers for a raw request (botocore's signer), as an SDK would send them."""
    request = AWSRequest(method=method, url=url, data=body, headers={})
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return dict(request.headers.items())
