"""Requests from web pages: whose ambient authority they may use, CORS for trusted
origins, and the Host check against DNS rebinding.

Dev mode serves unsigned requests (and keys it did not issue) as an account root, which
is right for a developer's SDK and wrong for any web page the developer happens to
visit: a page can send a form POST, a no-preflight ``fetch`` or an ``<img>`` GET to
``127.0.0.1:4566``. The rules (docs/architecture.md, "Browsers"):

- A request is *from a foreign page* when it carries an ``Origin`` that is neither
  sandlot's own (``http://`` + the Host it was sent to) nor listed in
  ``SANDLOT_CORS_ALLOWED_ORIGINS``, or, without an ``Origin``, says
  ``Sec-Fetch-Site: cross-site`` or ``same-site`` (an ``<img>``, a link; another port
  of localhost is the same site) and its ``Referer`` names no trusted page. Such a request only acts as a principal whose
  signature sandlot verified (keys it issued, presigned URLs made with them); the
  gateway refuses it otherwise, in the addressed service's protocol.
- Trusted origins (sandlot's own and the allow-list) get CORS answers from every
  service, so a console on such an origin works. Services whose resources carry their
  own CORS configuration (``OWN_CORS_SERVICES``) are asked first.
- In dev mode the ``Host`` must be a loopback name, an IP address, the configured
  ``--host`` or one of sandlot's own virtual-host forms; a DNS name that an attacker's
  page rebinds to 127.0.0.1 is none of those.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from sandlot.config import Settings

# Services whose resources decide CORS themselves: their provider's ``cors_preflight`` and
# ``cors_headers`` answer first (S3 buckets' CORS configuration). The execute-api and
# Lambda function-URL data planes (``gateway/dataplane.py``) never get here: they are
# public endpoints, answered before these rules, and their own CORS settings decide.
OWN_CORS_SERVICES = frozenset({"s3"})

_FOREIGN_SITES = frozenset({"cross-site", "same-site"})
_LOOPBACK_SUFFIXES = (".localhost", ".localhost.localstack.cloud")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localstack.cloud"})
# The host prefixes botocore's models give served operations (Step Functions'
# StartSyncExecution/TestState, CloudWatch Logs' StartLiveTail).
_HOST_PREFIXES = ("sync-", "stream-")
# What a trusted page may send and read: every method, the headers the SDKs sign and
# the response headers they read.
_ALLOW_METHODS = "GET, HEAD, PUT, POST, DELETE, PATCH"
_EXPOSE_HEADERS = ", ".join(
    (
        "x-amzn-RequestId",
        "x-amzn-ErrorType",
        "x-amz-request-id",
        "x-amz-id-2",
        "x-amz-version-id",
        "x-amz-delete-marker",
        "x-amz-function-error",
        "x-amz-log-result",
        "x-amz-executed-version",
        "ETag",
        "Date",
        "Content-Length",
    )
)
_PREFLIGHT_MAX_AGE = "600"
_VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
_HOST_CACHE_SIZE = 256


class BrowserPolicy:
    """The origin and Host rules for one server's settings."""

    def __init__(self, settings: Settings) -> None:
        listed = [o.strip().rstrip("/") for o in settings.cors_allowed_origins.split(",")]
        self.any_origin = "*" in listed
        self.allowed = frozenset(o.lower() for o in listed if o and o != "*")
        self.check_host = not settings.secure
        self._configured_host = settings.host.strip("[]").lower()
        self._hosts: dict[str, bool] = {}

    # -- origins -----------------------------------------------------------------------

    def trusted(self, origin: str, host: str | None) -> bool:
        """Whether a page of ``origin`` may use sandlot's ambient authority: sandlot's own
        origin (the request went to the host the page came from) or an allowed one."""
        if self.any_origin:
            return True
        origin = origin.lower()
        return (host is not None and origin == f"http://{host.lower()}") or origin in self.allowed

    def foreign_page(self, headers: dict[str, str]) -> str | None:
        """The origin of the web page that sent this request if sandlot does not trust
        it (``"a cross-site page"`` when the browser did not say which), else None."""
        origin = headers.get("origin")
        if origin is not None:
            return None if self.trusted(origin, headers.get("host")) else origin
        if headers.get("sec-fetch-site") in _FOREIGN_SITES:
            # No Origin (an <img>, a link): the Referer names the page when the page lets
            # it. A trusted page's presigned <img> works; a page that hides its
            # Referer is not trusted.
            parts = urlsplit(headers.get("referer", ""))
            if not (parts.scheme and parts.netloc):
                return "a cross-site page"
            page = f"{parts.scheme}://{parts.netloc}"
            return None if self.trusted(page, headers.get("host")) else page
        return None

    def cors_origin(self, headers: dict[str, str]) -> str | None:
        """The ``Origin`` of a request from a trusted page other than sandlot's own
        (those are same-origin: no CORS needed, but answering does no harm), else None."""
        origin = headers.get("origin")
        if origin is None or origin == "null" or not self.trusted(origin, headers.get("host")):
            return None
        return origin

    @staticmethod
    def preflight_headers(origin: str, headers: dict[str, str]) -> dict[str, str]:
        """The answer to a preflight from a trusted origin: what it asked for."""
        answer = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": _ALLOW_METHODS,
            "Access-Control-Max-Age": _PREFLIGHT_MAX_AGE,
            "Access-Control-Expose-Headers": _EXPOSE_HEADERS,
            "Vary": _VARY,
        }
        requested = headers.get("access-control-request-headers")
        if requested:
            answer["Access-Control-Allow-Headers"] = requested
        if headers.get("access-control-request-private-network") == "true":
            # Chromium asks before a page on a public address reaches loopback.
            answer["Access-Control-Allow-Private-Network"] = "true"
        return answer

    @staticmethod
    def response_headers(origin: str) -> dict[str, str]:
        """CORS headers on an actual response to a trusted origin."""
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": _EXPOSE_HEADERS,
            "Vary": _VARY,
        }

    @staticmethod
    def foreign_message(origin: str) -> str:
        return (
            f"sandlot refused a request from the web page {origin}: in dev mode, pages of "
            "origins not listed in SANDLOT_CORS_ALLOWED_ORIGINS (--cors-allowed-origins) "
            "may only use keys sandlot issued (or presigned URLs made with them)."
        )

    # -- hosts -------------------------------------------------------------------------

    def host_refusal(self, host: str | None) -> str | None:
        """Why dev mode refuses a request sent to ``host`` (its Host header), or None."""
        if not self.check_host or not host:
            return None  # no Host: HTTP/1.0 tools, never a browser
        known = self._hosts.get(host)
        if known is None:
            known = self._loopback_host(host)
            if len(self._hosts) < _HOST_CACHE_SIZE:
                self._hosts[host] = known
        if known:
            return None
        return (
            f"sandlot refused a request for host {host[:100]!r}: in dev mode it answers "
            "only loopback names (localhost, *.localhost), IP addresses and --host, so a "
            "web page cannot reach it through a DNS name rebound to 127.0.0.1."
        )

    def _loopback_host(self, host: str) -> bool:
        name = host.lower()
        if name.startswith("["):
            name = name[1 : name.find("]")] if "]" in name else name[1:]
        elif name.count(":") == 1:
            name = name.rsplit(":", 1)[0]
        name = name.rstrip(".")
        # botocore puts an operation's host prefix before the endpoint's host; the rest
        # is what counts.
        prefix = next((p for p in _HOST_PREFIXES if name.startswith(p)), None)
        if prefix is not None:
            name = name.removeprefix(prefix)
            if name == "localhost":  # "sync-localhost" is a DNS name search domains complete
                return False
        if name in _LOOPBACK_NAMES or name.endswith(_LOOPBACK_SUFFIXES):
            return True
        if name == self._configured_host:
            return True
        try:
            # An IP literal involves no DNS, so no rebinding (and a browser page that
            # names one is cross-origin, which the origin rule handles).
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True
