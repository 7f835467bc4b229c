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


# A function echoing its proxy event (payload 1.0 or 2.0); some paths misbehave.
PROXY_ECHO = """
import json

def handler(event, context):
    path = event.get("rawPath") or event.get("path")
    if path.endswith("/garbage"):
        return {"statusCode": "not a status"}
    if path.endswith("/fail"):
        raise RuntimeError("boom")
    if path.endswith("/inferred"):
        return {"inferred": True}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-route": event.get("routeKey", "v1")},
        "body": json.dumps(event),
    }
"""


def invoke_url(server, api_id: str, path: str, *, form: str = "localstack") -> str:
    """An API's invoke URL on ``server``: host-based (``localstack`` or ``localhost``
    names) or path-based (``path``)."""
    port = urlsplit(server.endpoint).port
    if form == "localstack":
        return f"http://{api_id}.execute-api.localhost.localstack.cloud:{port}{path}"
    if form == "localhost":
        return f"http://{api_id}.execute-api.localhost:{port}{path}"
    return f"{server.endpoint}/_aws/execute-api/{api_id}{path}"


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
