"""HTTP data planes: requests that are not AWS API calls but traffic to something a
user deployed — an API Gateway API (execute-api) or a Lambda function URL.

They are recognised by host or by path prefix, in the conventions local tools use:

- ``<apiId>.execute-api.localhost[.localstack.cloud][:port]/<stage>/<path>``
- ``<endpoint>/_aws/execute-api/<apiId>/<stage>/<path>``
- ``<urlId>.lambda-url.<region>.localhost[.localstack.cloud][:port]/<path>``
- ``<endpoint>/<userPoolId>/.well-known/{jwks.json,openid-configuration}`` (Cognito)
- ``<bucket>.s3-website[-.]<region>.localhost[...]`` or ``<bucket>.s3-website.localhost``
  (S3 static website endpoints)
- ``<account>.dkr.ecr.<region>.localhost[...]/v2/...`` and ``<endpoint>/v2/...`` in the
  distribution API's shapes (``/v2/``, ``/v2/<name>/{manifests,blobs,tags}/...``) without
  a SigV4 signature (the ECR registry; API Gateway v2's ``/v2/apis…`` paths are signed
  and have none of those shapes)

and API Gateway custom domain names (``Platform.custom_domains``: any host name a
provider registered, e.g. ``api.example.com``; users point it at 127.0.0.1 in
/etc/hosts or DNS, or clients connect to sandlot naming it in SNI and Host).

(``*.localhost`` names resolve to loopback, and ``*.localhost.localstack.cloud`` is a
public DNS name for 127.0.0.1, so both pass the dev-mode Host check against DNS
rebinding.) A match names the owning service, whose provider's
``data_plane(DataPlaneRequest)`` answers with a ``DataPlaneResponse``; the provider
never sees ASGI. No SigV4 is required: a signature, when present, is verified by the
gateway and the signer handed over (function URLs with AuthType AWS_IAM need it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sandlot.protocol.dataplane import CustomDomain

# Which providers serve which kind of data plane: an execute-api id is a REST API's or
# an HTTP API's (the first whose ``serves(id)`` says so; else the last answers).
EXECUTE_API = ("apigateway", "apigatewayv2")
FUNCTION_URL = ("lambda",)
USER_POOL = ("cognito-idp",)
WEBSITE = ("s3",)
REGISTRY = ("ecr",)

PATH_PREFIX = "/_aws/execute-api/"
_LOCAL = r"\.localhost(?:\.localstack\.cloud)?"
_API_HOST = re.compile(rf"^(?P<id>[a-z0-9]+)\.execute-api{_LOCAL}$")
# A Cognito user pool's keys and OpenID configuration, where apps that verify tokens
# themselves fetch them (AWS: https://cognito-idp.<region>.amazonaws.com/<poolId>/...).
_POOL_DOCUMENT = re.compile(
    r"^/(?P<id>[a-z]{2}(?:-[a-z]+)+-\d_[A-Za-z0-9]+)/\.well-known/(?:jwks\.json|openid-configuration)$"
)
_URL_HOST = re.compile(rf"^(?P<id>[a-z0-9]+)\.lambda-url\.(?P<region>[a-z0-9-]+){_LOCAL}$")
_REGISTRY_HOST = re.compile(rf"^(?P<account>\d{{12}})\.dkr\.ecr\.(?P<region>[a-z0-9-]+){_LOCAL}$")
_REGISTRY_PATH = re.compile(
    r"^/v2/(?:.+/(?:manifests/[^/]+|blobs/(?:uploads/[^/]*|sha256:[^/]+)|tags/list))?\Z"
)
# A blob upload's request (monolithic POST/PUT, or a chunk's PATCH): its body is streamed
# to a file, up to ECR's maximum layer size (52,000 MiB; "Amazon ECR service quotas"),
# instead of being buffered within max_body_bytes.
_BLOB_UPLOAD = re.compile(r"^/v2/.+/blobs/uploads/[^/]*\Z")
REGISTRY_LAYER_MAX = 52_000 * 1024 * 1024
_WEBSITE_HOST = re.compile(
    rf"^(?P<bucket>[a-z0-9][a-z0-9.-]*)\.s3-website(?:[.-](?P<region>[a-z]{{2}}(?:-[a-z]+)+-\d))?"
    rf"{_LOCAL}$"
)


@dataclass(frozen=True, slots=True)
class Match:
    services: tuple[str, ...]
    target: str  # the API id or function URL id
    path: str  # what follows the host or prefix, starting with "/"
    region: str | None  # named by the host (function URLs), else the server's
    domain: CustomDomain | None = None  # a custom domain name's (target is the name)


def match(
    host: str | None,
    path: str,
    domains: Mapping[str, CustomDomain] | None = None,
    signed: bool = False,
) -> Match | None:
    """The data plane a request with this Host and path is for, or None. ``signed``:
    the request carries a SigV4 Authorization header (an API call, never the registry's)."""
    if path.startswith("/v2/") and not signed and _REGISTRY_PATH.match(path):
        found = _REGISTRY_HOST.match(_hostname(host))
        if found is not None:
            return Match(REGISTRY, found["account"], path, found["region"])
        return Match(REGISTRY, "", path, None)
    if path.startswith(PATH_PREFIX):
        api_id, _, rest = path[len(PATH_PREFIX) :].partition("/")
        return Match(EXECUTE_API, api_id, "/" + rest, None) if api_id else None
    if "/.well-known/" in path:
        found = _POOL_DOCUMENT.match(path)
        if found is not None:
            return Match(USER_POOL, found["id"], path, None)
    name = (host or "").lower()
    if domains:  # only when custom domains exist: the common case pays nothing
        hostname = (name.rsplit(":", 1)[0] if name.count(":") == 1 else name).rstrip(".")
        domain = domains.get(hostname)
        if domain is not None:
            return Match((domain.service,), hostname, path or "/", None, domain)
    if ".localhost" not in name:
        return None  # the common case: an AWS API call to 127.0.0.1 or localhost
    if name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    name = name.rstrip(".")
    found = _API_HOST.match(name)
    if found is not None:
        return Match(EXECUTE_API, found["id"], path or "/", None)
    found = _URL_HOST.match(name)
    if found is not None:
        return Match(FUNCTION_URL, found["id"], path or "/", found["region"])
    found = _WEBSITE_HOST.match(name)
    if found is not None:
        return Match(WEBSITE, found["bucket"], path or "/", found["region"])
    return None


def streamed_upload(found: Match, method: str, path: str) -> bool:
    """Whether this data-plane request's body is spooled to a file (a registry blob
    upload) rather than read into memory."""
    return (
        found.services == REGISTRY
        and method in ("POST", "PUT", "PATCH")
        and _BLOB_UPLOAD.match(path) is not None
    )


def _hostname(host: str | None) -> str:
    name = (host or "").lower()
    return (name.rsplit(":", 1)[0] if name.count(":") == 1 else name).rstrip(".")
