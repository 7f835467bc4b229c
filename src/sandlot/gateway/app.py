"""The ASGI application: every HTTP request enters here.

Flow: read the request → find the service → authenticate (SigV4, account, region,
principal) → parse with the service's model → call the provider method → serialise the
result or the error. Nothing below this module knows HTTP framing; nothing above the
protocol layer knows wire formats.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from functools import cache

import sandlot
from sandlot.gateway.auth import (
    AuthFailure,
    Signature,
    check_time,
    credential_scope_service,
    parse_signature,
    verify,
)
from sandlot.gateway.routing import ServiceRouter
from sandlot.iam.principal import Principal
from sandlot.platform import Platform
from sandlot.protocol import HttpRequest, HttpResponse, ServiceError
from sandlot.protocol.errors import not_implemented
from sandlot.protocol.models import service_model
from sandlot.protocol.parser import ParsedRequest, RequestParser
from sandlot.protocol.serializer import ResponseSerializer
from sandlot.services import KNOWN_SERVICES, PROVIDERS
from sandlot.services.provider import RequestContext

log = logging.getLogger("sandlot.gateway")

# The codes each protocol family uses for authentication failures, with HTTP statuses.
_AUTH_ERRORS: dict[str, dict[str, tuple[str, int]]] = {
    "query": {
        "missing": ("MissingAuthenticationToken", 403),
        "incomplete": ("IncompleteSignature", 403),
        "unknown_key": ("InvalidClientTokenId", 403),
        "bad_signature": ("SignatureDoesNotMatch", 403),
        "expired_token": ("ExpiredToken", 403),
        "skewed": ("SignatureDoesNotMatch", 403),
        "expired_url": ("SignatureDoesNotMatch", 403),
    },
    "json": {
        "missing": ("MissingAuthenticationTokenException", 403),
        "incomplete": ("IncompleteSignatureException", 403),
        "unknown_key": ("UnrecognizedClientException", 403),
        "bad_signature": ("InvalidSignatureException", 403),
        "expired_token": ("ExpiredTokenException", 403),
        "skewed": ("InvalidSignatureException", 403),
        "expired_url": ("InvalidSignatureException", 403),
    },
    "rest-xml": {
        "missing": ("AccessDenied", 403),
        "incomplete": ("AuthorizationHeaderMalformed", 400),
        "unknown_key": ("InvalidAccessKeyId", 403),
        "bad_signature": ("SignatureDoesNotMatch", 403),
        "expired_token": ("ExpiredToken", 400),
        "skewed": ("RequestTimeTooSkewed", 403),
        "expired_url": ("AccessDenied", 403),
    },
}
_AUTH_ERRORS["rest-json"] = _AUTH_ERRORS["json"]
_INVALID_TOKEN = "The security token included in the request is invalid."


class Gateway:
    """The ASGI app. One instance per server, sharing the Platform."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.settings = platform.settings
        services = sorted(set(KNOWN_SERVICES) | set(PROVIDERS))
        self.router = ServiceRouter(services, self._route_matches)

    # -- ASGI -----------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "http":
            response = await self._http(scope, receive)
            await _send(send, response, scope["method"] == "HEAD")
        elif kind == "lifespan":
            await _lifespan(receive, send)

    async def _http(self, scope, receive) -> HttpResponse:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        request = HttpRequest(
            scope["method"],
            scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or scope["path"],
            scope["query_string"].decode("latin-1"),
            headers,
        )
        limit = self.settings.max_body_bytes
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return HttpResponse(499)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            else:
                chunks.clear()  # keep reading (and dropping) so the client sees the answer
            more = message.get("more_body", False)
        if size > limit:
            return self._too_large(request)
        request.body = b"".join(chunks)
        return await self.handle(request)

    # -- one request ----------------------------------------------------------------

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request; never raises."""
        request_id = str(uuid.uuid4())
        if request.path.startswith("/_sandlot/"):
            return self._internal(request)
        scope = credential_scope_service(request)
        service = self.router.find(request, scope[0] if scope else None)
        if service is None:
            return self._generic_error(request, request_id, _unknown_service(scope))
        model = service_model(service)
        protocol = model.resolved_protocol
        operation = None
        try:
            sig = parse_signature(request)
            principal = self._authenticate(request, sig)
            parsed = self._parser(service).parse(request)
            protocol, operation = parsed.protocol, parsed.operation
            region = sig.region if sig else self.settings.region
            return await self._dispatch(service, parsed, principal, region, request, request_id)
        except AuthFailure as failure:
            code, status = _AUTH_ERRORS[protocol][failure.kind]
            error = ServiceError(code, failure.message, status)
        except ServiceError as exc:
            error = exc
        except NotImplementedError:  # e.g. event-stream outputs, not served yet
            error = not_implemented(service, operation.name if operation else "?")
        except Exception:
            log.exception("internal error in %s (request %s)", service, request_id)
            code = "InternalError" if protocol == "rest-xml" else "InternalFailure"
            error = ServiceError(
                code, "sandlot hit an internal error; see its log.", 500, sender_fault=False
            )
        return self._serializer(service, protocol).serialize_error(error, operation, request_id)

    async def _dispatch(
        self,
        service: str,
        parsed: ParsedRequest,
        principal: Principal,
        region: str,
        request: HttpRequest,
        request_id: str,
    ) -> HttpResponse:
        ctx = RequestContext(
            request_id,
            principal.account_id,
            region,
            principal,
            service,
            parsed.operation.name,
            request,
        )
        result = await self.platform.run_operation(ctx, parsed.params)
        serializer = self._serializer(service, parsed.protocol)
        return serializer.serialize(parsed.operation, result or {}, request_id)

    def _authenticate(self, request: HttpRequest, sig: Signature | None) -> Principal:
        settings = self.settings
        if sig is None:
            if settings.secure:
                raise AuthFailure("missing", "Request is missing Authentication Token")
            return Principal.root(settings.default_account)
        check_time(sig, dt.datetime.now(dt.UTC), settings.max_clock_skew_seconds)
        credential = self.platform.credentials.lookup(sig.access_key_id)
        if credential is None:
            if settings.secure:
                raise AuthFailure("unknown_key", _INVALID_TOKEN)
            key = sig.access_key_id
            account = key if len(key) == 12 and key.isdigit() else settings.default_account
            return Principal.root(account, key)
        verify(request, sig, credential.secret_access_key)
        if credential.status != "Active":
            raise AuthFailure("unknown_key", _INVALID_TOKEN)
        if credential.session_token is not None:
            if sig.security_token != credential.session_token:
                raise AuthFailure("unknown_key", _INVALID_TOKEN)
            if credential.expired:
                raise AuthFailure(
                    "expired_token", "The security token included in the request is expired"
                )
        return credential.principal

    # -- pieces -----------------------------------------------------------------------

    @cache  # noqa: B019 - one parser per service for the gateway's lifetime
    def _parser(self, service: str) -> RequestParser:
        return RequestParser(service_model(service))

    @cache  # noqa: B019 - one serializer per (service, protocol) for the gateway's lifetime
    def _serializer(self, service: str, protocol: str) -> ResponseSerializer:
        return ResponseSerializer(service_model(service), protocol)

    def _route_matches(self, service: str, request: HttpRequest) -> bool:
        return self._parser(service).matches(request)

    def _too_large(self, request: HttpRequest) -> HttpResponse:
        error = ServiceError(
            "RequestEntityTooLargeException",
            f"Request must be smaller than {self.settings.max_body_bytes} bytes.",
            413,
        )
        return self._generic_error(request, str(uuid.uuid4()), error)

    def _generic_error(
        self, request: HttpRequest, request_id: str, error: ServiceError
    ) -> HttpResponse:
        """An error for a request of no known service, shaped after the request's protocol."""
        if request.headers.get("x-amz-target"):
            service = "dynamodb"  # plain json protocol
        elif "Action=" in request.query or request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            service = "sts"  # query protocol
            if error.code == "UnknownOperationException":
                error = ServiceError("InvalidAction", error.message, 400)
        else:
            service = "lambda"  # rest-json
        protocol = service_model(service).resolved_protocol
        return self._serializer(service, protocol).serialize_error(error, None, request_id)

    def _internal(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/_sandlot/health" and request.method in ("GET", "HEAD"):
            body = {
                "status": "running",
                "version": sandlot.__version__,
                "services": sorted(PROVIDERS),
                "uptime_seconds": round(time.time() - self.platform.started_at, 3),
                "secure": self.settings.secure,
                "sandbox": self.settings.sandbox,
            }
            return HttpResponse(
                200, {"Content-Type": "application/json"}, json.dumps(body).encode()
            )
        return HttpResponse(
            404,
            {"Content-Type": "application/json"},
            json.dumps({"message": f"no sandlot endpoint {request.path}"}).encode(),
        )


def _unknown_service(scope: tuple[str, str] | None) -> ServiceError:
    if scope:
        return ServiceError(
            "UnknownOperationException",
            f"sandlot does not serve the service with signing name {scope[0]!r}.",
            400,
        )
    return ServiceError(
        "UnknownOperationException", "The request does not identify any AWS service.", 400
    )


async def _send(send, response: HttpResponse, head: bool) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
    if "Content-Length" not in response.headers:
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else response.body})


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
