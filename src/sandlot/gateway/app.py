"""The ASGI application: every HTTP request enters here.

Flow: read the request → find the service → authenticate (SigV4, account, region,
principal) → parse with the service's model → call the provider method → serialise the
result or the error. Nothing below this module knows HTTP framing; nothing above the
protocol layer knows wire formats.

S3 specifics handled here: virtual-hosted-style requests are rewritten to path style
(the signature is checked against the original host and path); bodies of operations
whose payload is a streaming blob (``PutObject``, ``UploadPart``) are not buffered but
spooled to a file (``gateway/bodies.py``) and reach the provider as a ``SpooledBody``;
a ``FileBody`` result is sent in chunks; CORS preflights go to the S3 provider's
``cors_preflight`` and other requests with an ``Origin`` get its ``cors_headers``.

Requests from web pages follow ``gateway/origins.py``: a page sandlot does not trust
gets no ambient authority, trusted origins get CORS answers from every service, and dev
mode refuses Host names that could be DNS rebinding.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from urllib.parse import unquote

import sandlot
from sandlot.execution.sandbox import isolation
from sandlot.gateway import admin, bodies, console, dataplane, post_object, websocket
from sandlot.gateway.auth import (
    AuthFailure,
    Signature,
    check_time,
    credential_scope_service,
    parse_signature,
    verify,
)
from sandlot.gateway.origins import OWN_CORS_SERVICES, BrowserPolicy
from sandlot.gateway.routing import ServiceRouter
from sandlot.iam.principal import Principal
from sandlot.platform import Platform
from sandlot.protocol import (
    EventStreamBody,
    FileBody,
    HttpRequest,
    HttpResponse,
    ServiceError,
    SpooledBody,
)
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse, json_response
from sandlot.protocol.errors import not_implemented
from sandlot.protocol.models import (
    protocol_model,
    service_model,
    unauthenticated_operations,
)
from sandlot.protocol.parser import ParsedRequest, RequestParser
from sandlot.protocol.serializer import ResponseSerializer
from sandlot.services import KNOWN_SERVICES, PROVIDERS
from sandlot.services.cloudformation.callbacks import PATH_PREFIX as CFN_CALLBACKS
from sandlot.services.provider import RequestContext
from sandlot.services.sns.signing import CERT_PATH as SNS_CERT_PATH
from sandlot.services.sns.urls import capability_account as sns_capability_account
from sandlot.uuids import uuid4_text

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
        "denied": ("AccessDenied", 403),
    },
    "json": {
        "missing": ("MissingAuthenticationTokenException", 403),
        "incomplete": ("IncompleteSignatureException", 403),
        "unknown_key": ("UnrecognizedClientException", 403),
        "bad_signature": ("InvalidSignatureException", 403),
        "expired_token": ("ExpiredTokenException", 403),
        "skewed": ("InvalidSignatureException", 403),
        "expired_url": ("InvalidSignatureException", 403),
        "denied": ("AccessDeniedException", 403),
    },
    "rest-xml": {
        "missing": ("AccessDenied", 403),
        "incomplete": ("AuthorizationHeaderMalformed", 400),
        "unknown_key": ("InvalidAccessKeyId", 403),
        "bad_signature": ("SignatureDoesNotMatch", 403),
        "expired_token": ("ExpiredToken", 400),
        "skewed": ("RequestTimeTooSkewed", 403),
        "expired_url": ("AccessDenied", 403),
        "denied": ("AccessDenied", 403),
    },
}
_AUTH_ERRORS["rest-json"] = _AUTH_ERRORS["json"]
_INVALID_TOKEN = "The security token included in the request is invalid."

Receive = Callable[[], Awaitable[dict]]
# Services whose streaming-blob payloads are spooled to a file (the SpooledBody contract
# is S3's; Lambda's Invoke payload is modelled as streaming too but stays bytes).
_SPOOLED_SERVICES = frozenset({"s3"})
_SPOOL_BATCH = 1024 * 1024  # bytes handed to the writer thread at a time
_SEND_CHUNK = 256 * 1024  # bytes of a FileBody sent at a time
_ROUTING_PREFIX = 4096  # bytes of an oversized body kept to route it by
_HEX = frozenset("0123456789abcdef")
_CONTENT_SHA256_LITERALS = frozenset(
    {
        bodies.UNSIGNED_PAYLOAD,
        bodies.STREAMING_SIGNED,
        bodies.STREAMING_SIGNED_TRAILER,
        bodies.STREAMING_UNSIGNED_TRAILER,
    }
)
_CORS_VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # an HTTP header name
_CRLF = re.compile(r"[\r\n]+")
# awsJson services accept their own application/x-amz-json-<version> and application/json
# (and CBOR, which the parser answers for itself); anything else (a browser's text/plain
# form or fetch) gets the front end's 404 page.
_JSON_TYPES = (("application/json", "application/x-amz-cbor-"), "application/x-amz-json-")
_PAGE_NOT_FOUND = (
    b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
    b'"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    b'<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
    b"<head>\n  <title>Page Not Found</title>\n</head>\n<body>Page Not Found</body>\n</html>"
)


class _ClientGone(Exception):
    """The client disconnected before its request body was complete."""


class Gateway:
    """The ASGI app. One instance per server, sharing the Platform."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.settings = platform.settings
        services = sorted(set(KNOWN_SERVICES) | set(PROVIDERS))
        self.router = ServiceRouter(services, self._route_matches)
        self.browser = BrowserPolicy(self.settings)
        # The listener Lambda functions reach sandlot on (gateway/server.py), if any.
        self.function_listener: tuple[str, int] | None = None

    # -- ASGI -----------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope.get("path", "")
            found = dataplane.match(
                _host(scope), path, self.platform.custom_domains,
                signed=path.startswith("/v2/") and _sigv4_signed(scope),  # the registry's paths
            )  # fmt: skip
            if found is not None:
                answer = await self._data_plane(scope, receive, found)
                await _send_data_plane(send, receive, answer, scope["method"] == "HEAD")
                return
            response = await self._http(scope, receive)
            await _send(send, receive, response, scope["method"] == "HEAD")
        elif kind == "websocket":  # WebSocket APIs (gateway/websocket.py)
            await websocket.serve(self, scope, receive, send)
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
            client_ip=(scope.get("client") or ("",))[0],
            from_function=tuple(scope.get("server") or ()) == self.function_listener,
            secure=scope.get("scheme") == "https",  # optional in ASGI: "http"
        )
        if (
            request.method == "PUT" or post_object.is_form(request)
        ) and not request.path.startswith("/_sandlot/"):
            # Possibly a streamed upload (a PUT, or S3's POST Object form): routing needs
            # no body, so the body is read (or spooled) once the operation is known.
            return await self.handle(request, receive)
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
            elif chunks or not request.body:
                # Keep reading (and dropping) so the client sees the answer, and keep
                # the body's start: a query-protocol request names its Action there.
                request.body = _prefix([*chunks, chunk], _ROUTING_PREFIX)
                chunks.clear()
            more = message.get("more_body", False)
        if size > limit:
            return self._too_large(request)
        request.body = b"".join(chunks)
        return await self.handle(request)

    # -- data planes (gateway/dataplane.py) -----------------------------------------

    async def _data_plane(self, scope, receive, found: dataplane.Match) -> DataPlaneResponse:
        """A request to an API or a function URL, handed to the owning provider as a
        ``DataPlaneRequest``; never raises."""
        host = _host(scope) or ""
        client_cert = None
        if found.domain is not None:
            # A custom domain: its own name, not a local one, so no rebinding check;
            # with a truststore, the client's verified certificate is required.
            client_cert, refused = _mutual_tls(scope, found)
            if refused:
                return json_response(403, {"message": "Forbidden"})
        else:
            refusal = self.browser.host_refusal(host)
            if refusal is not None:
                return json_response(403, {"message": refusal})
        if dataplane.streamed_upload(found, scope["method"], scope.get("path", "")):
            return await self._spooled_data_plane(scope, receive, found)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return DataPlaneResponse(499)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.settings.max_body_bytes:
                chunks.append(chunk)
            more = message.get("more_body", False)
        if size > self.settings.max_body_bytes:
            return json_response(413, {"message": "Request Entity Too Large"})
        return await self._hand_over(scope, found, b"".join(chunks), client_cert)

    async def _spooled_data_plane(
        self, scope, receive, found: dataplane.Match
    ) -> DataPlaneResponse:
        """A registry blob upload: its body streamed to a file in the blob area in bounded
        memory (hashed on the way), up to ECR's layer size limit; the file is removed
        after the provider answered (it copies what it keeps)."""
        spool = bodies.Spool(self.platform.blobs.root / "tmp", set())
        limit = dataplane.REGISTRY_LAYER_MAX

        def write(batch: list[bytes]) -> None:
            for data in batch:
                spool.write(data)

        try:
            batch: list[bytes] = []
            pending, more = 0, True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    spool.discard()
                    return DataPlaneResponse(499)
                chunk = message.get("body", b"")
                batch.append(chunk)
                pending += len(chunk)
                if spool.size + pending > limit:
                    spool.discard()
                    return _registry_too_large(limit)
                if pending >= _SPOOL_BATCH:
                    await asyncio.to_thread(write, batch)  # not on the event loop
                    batch, pending = [], 0
                more = message.get("more_body", False)
            await asyncio.to_thread(write, batch)
            spooled = await asyncio.to_thread(spool.close, {})
        except BaseException:
            spool.discard()
            raise
        try:
            return await self._hand_over(scope, found, b"", None, spooled)
        finally:
            spooled.path.unlink(missing_ok=True)

    async def _hand_over(
        self,
        scope,
        found: dataplane.Match,
        body: bytes,
        client_cert: str | None,
        spooled: SpooledBody | None = None,
    ) -> DataPlaneResponse:
        """The request as the provider sees it, handed to the service that owns it."""
        raw_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        host = _host(scope) or ""
        raw_path = scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or scope["path"]
        if raw_path.startswith(dataplane.PATH_PREFIX):
            raw_path = "/" + raw_path[len(dataplane.PATH_PREFIX) :].partition("/")[2]
        request = DataPlaneRequest(
            target=found.target,
            method=scope["method"],
            path=raw_path or "/",
            query=scope["query_string"].decode("latin-1"),
            headers=raw_headers,
            body=body,
            source_ip=(scope.get("client") or ("",))[0],
            secure=scope.get("scheme") == "https",
            host=host,
            region=found.region or self.settings.region,
            domain=found.target if found.domain is not None else None,
            client_cert=client_cert,
            spooled=spooled,
        )
        request.principal = self._data_plane_signer(scope, request)
        services = found.services
        if found.domain is not None:
            # The domain's owner picks the API mapping and rewrites the request to the
            # mapped API's id and stage path: from there it is an execute-api request.
            owner = self.platform.provider(found.domain.service)
            if owner is None or not owner.map_domain(request):  # type: ignore[attr-defined]
                return json_response(404, {"message": "Not Found"})
            services = dataplane.EXECUTE_API
        service = services[-1]
        for candidate in services[:-1]:
            owner = self.platform.provider(candidate)
            if owner is not None and owner.serves(request.target):  # type: ignore[attr-defined]
                service = candidate
                break
        handler = getattr(self.platform.provider(service), "data_plane", None)
        if handler is None:
            return json_response(404, {"message": "Not Found"})
        try:
            return await handler(request)
        except Exception:
            log.exception("internal error in the %s data plane", service)
            return json_response(500, {"message": "Internal Server Error"})

    def _data_plane_signer(self, scope, request: DataPlaneRequest) -> Principal | None:
        """The principal whose SigV4 signature the request carries, verified as for API
        calls; None when unsigned or when the signature does not hold."""
        headers: dict[str, str] = {}
        for name, value in request.headers:
            name = name.lower()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        if "authorization" not in headers and "X-Amz-Signature=" not in request.query:
            return None
        http = HttpRequest(
            request.method,
            scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or scope["path"],
            request.query,
            headers,
            request.body,
            client_ip=request.source_ip,
        )
        try:
            sig = parse_signature(http)
            if sig is None:
                return None
            # An untrusted web page gets no dev-mode ambient root for a key sandlot
            # did not issue: only a signature sandlot verified names a principal.
            return self._authenticate(http, sig, self.browser.foreign_page(headers))[0]
        except (AuthFailure, ServiceError):
            return None

    # -- one request ----------------------------------------------------------------

    async def handle(self, request: HttpRequest, receive: Receive | None = None) -> HttpResponse:
        """Answer one request; never raises.

        Without ``receive`` the body is ``request.body``; with it, the body has not been
        read yet and comes from ``receive`` (ASGI messages).
        """
        request_id = uuid4_text()
        if request.path.startswith("/_sandlot/"):
            return self._internal(request)
        headers = request.headers
        scope = credential_scope_service(request)
        signing_name = scope[0] if scope else None
        # The signature covers the request as sent; routing and parsing see path style.
        bucket = self.router.virtual_bucket(request, signing_name)
        routed = request
        service: str | None = "s3"
        if bucket is not None:
            routed = dataclasses.replace(request, path=f"/{bucket}{request.path or '/'}")
        else:
            service = self.router.find(request, signing_name)
        incoming = _Incoming(receive, request)
        if service is None:
            response = self._generic_error(request, request_id, _unknown_service(scope))
            return response if await incoming.finish(response) else HttpResponse(499)
        model = service_model(service)
        protocol = model.resolved_protocol
        operation = None
        spooled: SpooledBody | None = None
        sig: Signature | None = None
        try:
            refusal = self.browser.host_refusal(headers.get("host"))
            if refusal is not None:
                raise AuthFailure("denied", refusal)
            if request.method == "OPTIONS" and (
                service in OWN_CORS_SERVICES or "origin" in headers
            ):
                return await self._preflight(service, protocol, routed, request_id)
            if protocol == "json" and "x-amz-target" in headers:
                content_type = headers.get("content-type", "")
                if not (
                    content_type.startswith(_JSON_TYPES[0])
                    or content_type.startswith(
                        f"{_JSON_TYPES[1]}{model.metadata.get('jsonVersion', '1.0')}"
                    )
                ):
                    response = HttpResponse(404, {"Content-Type": "text/html"}, _PAGE_NOT_FOUND)
                    return response if await incoming.finish(response) else HttpResponse(499)
            foreign = self.browser.foreign_page(headers)
            if service == "s3" and post_object.is_post_object(routed):
                response = await post_object.post_object(
                    self,
                    request,
                    routed,
                    incoming.chunks(),
                    request_id,
                    _request_keys(request),
                    foreign,
                )
                return await self._with_cors(service, routed, response)
            sig = parse_signature(request)
            stream_member = (
                self._parser(service).streaming_member(routed)
                if request.method == "PUT" and service in _SPOOLED_SERVICES
                else None
            )
            region = sig.region if sig and sig.region else self.settings.region
            admitted = False
            if stream_member is not None:
                _check_content_sha256(request, sig)
                principal, secret = self._authenticate(request, sig, foreign)
                # Authorize before receiving what may be gigabytes: the parameters IAM
                # needs are in the path and headers.
                head = self._parser(service).parse(dataclasses.replace(routed, body=b""))
                ctx = RequestContext(
                    request_id,
                    principal.account_id,
                    region,
                    principal,
                    service,
                    head.operation.name,
                    routed,
                )
                self.platform.admit(ctx, head.params, _request_keys(request))
                admitted = True
                spooled = await self._spool(request, incoming, sig, secret)
                routed = _decoded_view(routed, spooled)
            else:
                if not incoming.done:
                    request.body = routed.body = await self._read_body(incoming, protocol)
                if sig is None and self._served_without_credentials(service, routed):
                    principal, secret = Principal.anonymous(self.settings.default_account), None
                else:
                    principal, secret = self._authenticate(request, sig, foreign)
                if service == "s3" and "x-amz-content-sha256" in request.headers:
                    routed = _check_payload(routed, sig, secret)
                if service in _COMPRESSED_REQUESTS:
                    routed = self._gunzipped(routed)
            parsed = self._parser(service).parse(routed)
            protocol, operation = parsed.protocol, parsed.operation
            response = await self._dispatch(
                service, parsed, principal, region, routed, request_id, admitted=admitted
            )
            return await self._with_cors(service, routed, response)
        except _ClientGone:
            return HttpResponse(499)
        except AuthFailure as failure:
            code, status = _AUTH_ERRORS[protocol][failure.kind]
            error = ServiceError(code, failure.message, status)
            if code == "InvalidAccessKeyId":  # S3's own wording, and the key it refused
                error.message = "The AWS Access Key Id you provided does not exist in our records."
                if sig is not None:
                    error.fields["AWSAccessKeyId"] = sig.access_key_id
            if protocol == "rest-xml" and failure.details:  # S3 shows what it signed
                error.message = (
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your key and signing method."
                )
                error.fields.update(failure.details)
        except ServiceError as exc:
            # Without its traceback: kept, it would hold this frame, which holds it,
            # and each error answer would leave its objects to the garbage collector.
            error = exc.with_traceback(None)
        except NotImplementedError:  # e.g. event-stream outputs, not served yet
            error = not_implemented(service, operation.name if operation else "?")
        except Exception:
            log.exception("internal error in %s (request %s)", service, request_id)
            code = "InternalError" if protocol == "rest-xml" else "InternalFailure"
            error = ServiceError(
                code, "sandlot hit an internal error; see its log.", 500, sender_fault=False
            )
        finally:
            if spooled is not None:
                # Whatever the provider did not adopt (os.replace) goes.
                spooled.path.unlink(missing_ok=True)
        response = self._serializer(service, protocol).serialize_error(error, operation, request_id)
        if request.method == "HEAD":
            response.body = b""  # HEAD answers carry no body, errors included
        if not await incoming.finish(response):
            return HttpResponse(499)
        return await self._with_cors(service, routed, response)

    async def _dispatch(
        self,
        service: str,
        parsed: ParsedRequest,
        principal: Principal,
        region: str,
        request: HttpRequest,
        request_id: str,
        *,
        admitted: bool = False,
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
        if not admitted:  # streamed uploads were admitted before their body was read
            self.platform.admit(ctx, parsed.params, _request_keys(request))
        result = await self.platform.run_operation(ctx, parsed.params)
        serializer = self._serializer(service, parsed.protocol)
        return serializer.serialize(parsed.operation, result or {}, request_id)

    def _served_without_credentials(self, service: str, request: HttpRequest) -> bool:
        """Whether an unsigned request is for an operation AWS serves without
        credentials (``AssumeRoleWithWebIdentity``…): it is then anonymous, not dev
        mode's ambient root, and needs no signature even in secure mode."""
        served = unauthenticated_operations(service)
        if not served:
            return False
        try:
            operation = self._parser(service).parse(request).operation.name
        except ServiceError:
            return False  # the parse error is answered after authentication, as for others
        return operation in served

    def _authenticate(
        self, request: HttpRequest, sig: Signature | None, foreign: str | None = None
    ) -> tuple[Principal, str | None]:
        """The request's principal, and the secret key its signature was checked with
        (None when not checked: unsigned, or dev mode's unknown keys).

        ``foreign`` is the origin of an untrusted web page that sent the request: it
        gets none of dev mode's ambient authority (no unsigned or unknown-key root).

        On the functions' listener, dev mode's leniency does not apply: a function's
        code gets in only with keys sandlot issued (its role's), as in AWS."""
        if sig is None:
            owner = sns_capability_account(request.method, request.query) if not foreign else None
            if owner is not None:  # SNS's SubscribeURL/UnsubscribeURL, opened unsigned
                return Principal.root(owner), None
            return self.ambient_root(request, foreign), None
        check_time(sig, dt.datetime.now(dt.UTC), self.settings.max_clock_skew_seconds)
        return self.key_principal(
            request,
            sig.access_key_id,
            sig.security_token,
            lambda secret: verify(request, sig, secret),
            foreign,
        )

    def ambient_root(
        self, request: HttpRequest, foreign: str | None, key: str | None = None
    ) -> Principal:
        """Dev mode's ambient authority for an unsigned request (``key`` None) or a key
        sandlot did not issue: the root of the default account, or of the account a
        12-digit key names. Refused in secure mode, on the functions' listener (a
        function's code gets in only with keys sandlot issued, as in AWS) and to an
        untrusted web page (``foreign``: its origin)."""
        settings = self.settings
        if settings.secure or request.from_function:
            if key is None:
                raise AuthFailure("missing", "Request is missing Authentication Token")
            raise AuthFailure("unknown_key", _INVALID_TOKEN)
        if foreign is not None:
            raise AuthFailure("denied", self.browser.foreign_message(foreign))
        if key is None:
            return Principal.root(settings.default_account)
        account = key if len(key) == 12 and key.isdigit() else settings.default_account
        return Principal.root(account, key)

    def key_principal(
        self,
        request: HttpRequest,
        key: str,
        token: str | None,
        verify_with: Callable[[str], None],
        foreign: str | None = None,
    ) -> tuple[Principal, str | None]:
        """The principal of access key ``key`` (its signature checked by
        ``verify_with(secret)``), and the secret; a key sandlot did not issue gets
        ``ambient_root`` (None for the secret)."""
        credential = self.platform.credentials.lookup(key)
        if credential is None:
            return self.ambient_root(request, foreign, key), None
        verify_with(credential.secret_access_key)
        if credential.status != "Active":
            raise AuthFailure("unknown_key", _INVALID_TOKEN)
        if credential.session_token is not None:
            if token != credential.session_token:
                raise AuthFailure("unknown_key", _INVALID_TOKEN)
            if credential.expired:
                raise AuthFailure(
                    "expired_token", "The security token included in the request is expired"
                )
        return credential.principal, credential.secret_access_key

    # -- bodies -----------------------------------------------------------------------

    def _gunzipped(self, request: HttpRequest) -> HttpRequest:
        """SDKs gzip the bodies of operations the model marks ``requestcompression``
        (CloudWatch's PutMetricData); signed as sent, so inflated after authentication."""
        encodings = [
            e.strip() for e in request.headers.get("content-encoding", "").split(",") if e.strip()
        ]
        if "gzip" not in encodings or not isinstance(request.body, bytes):
            return request
        headers = dict(request.headers)
        rest = [e for e in encodings if e != "gzip"]
        if rest:
            headers["content-encoding"] = ",".join(rest)
        else:
            headers.pop("content-encoding", None)
        body = _gunzip(request.body, self.settings.max_body_bytes)
        return dataclasses.replace(request, body=body, headers=headers)

    async def _read_body(self, incoming: _Incoming, protocol: str) -> bytes:
        """The whole body of a request whose operation is not streamed, within the limit."""
        limit = self.settings.max_body_bytes
        chunks, size = [], 0
        async for chunk in incoming.chunks():
            size += len(chunk)
            if size > limit:
                raise self._too_large_error(protocol)
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _too_large_error(self, protocol: str) -> ServiceError:
        if protocol == "rest-xml":
            return ServiceError("MaxMessageLengthExceeded", "Your request was too big.", 400)
        return ServiceError(
            "RequestEntityTooLargeException",
            f"Request must be smaller than {self.settings.max_body_bytes} bytes.",
            413,
        )

    async def _spool(
        self, request: HttpRequest, incoming: _Incoming, sig: Signature | None, secret: str | None
    ) -> SpooledBody:
        """Stream the body to a temp file in the blob area, decoding aws-chunked framing."""
        headers = request.headers
        chunked = _is_aws_chunked(headers)
        declared = _declared_length(headers, chunked)
        if declared is not None and declared > bodies.MAX_SINGLE_PUT:
            raise bodies.entity_too_large()
        spool = bodies.Spool(self.platform.blobs.root / "tmp", bodies.requested_checksums(headers))
        decoder = _decoder(headers, sig, secret, spool.write) if chunked else None
        wire_limit = bodies.MAX_SINGLE_PUT + (bodies.MAX_SINGLE_PUT >> 6 if chunked else 0)

        def write(batch: list[bytes]) -> None:
            for data in batch:
                if decoder is not None:
                    decoder.feed(data)
                else:
                    spool.write(data)
            if spool.size > bodies.MAX_SINGLE_PUT:
                raise bodies.entity_too_large()

        def close() -> SpooledBody:
            trailers = decoder.finish() if decoder is not None else {}
            return spool.close(trailers)

        try:
            batch: list[bytes] = []
            pending = received = 0
            async for chunk in incoming.chunks():
                received += len(chunk)
                if received > wire_limit:
                    raise bodies.entity_too_large()
                batch.append(chunk)
                pending += len(chunk)
                if pending >= _SPOOL_BATCH:
                    # Hashing and writing a megabyte must not hold up the event loop.
                    await asyncio.to_thread(write, batch)
                    batch, pending = [], 0
            if batch:
                await asyncio.to_thread(write, batch)
            body = await asyncio.to_thread(close)
        except BaseException:
            spool.discard()
            raise
        try:
            if declared is not None and body.size != declared:
                raise bodies.incomplete_body()
            claimed = headers.get("x-amz-content-sha256", "")
            if _is_sha256_hex(claimed):
                _check_sha256(claimed, body.sha256)
        except ServiceError:
            body.path.unlink(missing_ok=True)
            raise
        return body

    # -- CORS ---------------------------------------------------------------------------

    async def _preflight(
        self, service: str, protocol: str, request: HttpRequest, request_id: str
    ) -> HttpResponse:
        """An OPTIONS request: a service with its own CORS rules (S3 buckets) answers
        first; otherwise, or when those refuse, a trusted origin gets sandlot's answer."""
        trusted = self.browser.cors_origin(request.headers)
        if service in OWN_CORS_SERVICES:
            try:
                return await self._cors_preflight(request, request_id)
            except ServiceError:
                if trusted is None:
                    raise
        if trusted is None:
            origin = request.headers.get("origin", "null")
            raise AuthFailure("denied", self.browser.foreign_message(origin))
        headers = self._serializer(service, protocol).request_id_headers(request_id)
        headers.update(self.browser.preflight_headers(trusted, request.headers))
        return HttpResponse(200, headers, b"")

    async def _cors_preflight(self, request: HttpRequest, request_id: str) -> HttpResponse:
        """An S3 preflight (OPTIONS): the bucket's CORS rules decide, through the provider."""
        bucket = _path_bucket(request.path)
        origin = request.headers.get("origin")
        method = request.headers.get("access-control-request-method")
        if bucket is None:
            raise ServiceError(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                405,
                Method="OPTIONS",
                ResourceType="SERVICE",
            )
        if not origin:
            raise ServiceError(
                "BadRequest", "Insufficient information. Origin request header needed.", 400
            )
        if not method:
            raise ServiceError(
                "BadRequest",
                "Invalid Access-Control-Request-Method: null",
                400,
            )
        provider = self.platform.provider("s3")
        preflight = getattr(provider, "cors_preflight", None)
        if preflight is None:
            raise not_implemented("s3", "CORS preflight")
        requested = request.headers.get("access-control-request-headers", "")
        names = [name.strip().lower() for name in requested.split(",") if name.strip()]
        result = preflight(bucket, origin, method, names)
        if asyncio.iscoroutine(result):
            result = await result
        headers = self._serializer("s3", "rest-xml").request_id_headers(request_id)
        headers.update(result)
        headers.setdefault("Vary", _CORS_VARY)
        return HttpResponse(200, headers, b"")

    async def _with_cors(
        self, service: str, request: HttpRequest, response: HttpResponse
    ) -> HttpResponse:
        """CORS headers for a response to a request with an Origin: the bucket's rules
        for S3, else sandlot's for a trusted origin."""
        origin = request.headers.get("origin")
        if not origin:
            return response
        if service in OWN_CORS_SERVICES and await self._bucket_cors(request, origin, response):
            return response
        trusted = self.browser.cors_origin(request.headers)
        if trusted is not None:
            response.headers.update(self.browser.response_headers(trusted))
        return response

    async def _bucket_cors(self, request: HttpRequest, origin: str, response: HttpResponse) -> bool:
        """Adds the bucket's CORS headers to an S3 response; whether a rule matched."""
        bucket = _path_bucket(request.path)
        provider = self.platform.provider("s3")
        cors_headers = getattr(provider, "cors_headers", None)
        if bucket is None or cors_headers is None:
            return False
        try:
            extra = cors_headers(bucket, origin, request.method)
            if asyncio.iscoroutine(extra):
                extra = await extra
        except ServiceError:
            return False  # e.g. no such bucket: the response says so already
        if extra:
            response.headers.update(extra)
            response.headers.setdefault("Vary", _CORS_VARY)
        return bool(extra)

    # -- pieces -----------------------------------------------------------------------

    @cache  # noqa: B019 - one parser per service for the gateway's lifetime
    def _parser(self, service: str) -> RequestParser:
        return RequestParser(service_model(service))

    @cache  # noqa: B019 - one serializer per (service, protocol) for the gateway's lifetime
    def _serializer(self, service: str, protocol: str) -> ResponseSerializer:
        return ResponseSerializer(protocol_model(service, protocol), protocol)

    def _route_matches(self, service: str, request: HttpRequest) -> bool:
        return self._parser(service).matches(request)

    def _too_large(self, request: HttpRequest) -> HttpResponse:
        """A body over the limit, answered in the protocol of the service addressed: the
        request is routed on its signing scope, target, path, host and its body's start."""
        request_id = uuid4_text()
        scope = credential_scope_service(request)
        signing_name = scope[0] if scope else None
        if self.router.virtual_bucket(request, signing_name) is not None:
            service: str | None = "s3"
        else:
            service = self.router.find(request, signing_name)
        if service is None:
            return self._generic_error(request, request_id, self._too_large_error("json"))
        protocol = service_model(service).resolved_protocol
        error = self._too_large_error(protocol)
        return self._serializer(service, protocol).serialize_error(error, None, request_id)

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
        foreign = self.browser.foreign_page(request.headers)
        refusal = self.browser.host_refusal(request.headers.get("host")) or (
            self.browser.foreign_message(foreign) if foreign is not None else None
        )
        if refusal is not None:
            return HttpResponse(
                403, {"Content-Type": "application/json"}, json.dumps({"message": refusal}).encode()
            )
        if request.path.startswith(admin.PREFIX) or request.path in (
            admin.SNS_MESSAGES,
            admin.COGNITO_CODES,
        ):
            return admin.answer(
                self.platform, request, lambda r: self._authenticate(r, parse_signature(r))[0]
            )
        if request.path == console.PREFIX or request.path.startswith(console.PREFIX + "/"):
            return console.answer(request.method, request.path)
        if request.path.startswith("/_sandlot/lambda/code/") and request.method in ("GET", "HEAD"):
            return self._code_download(request)
        if request.path.startswith(CFN_CALLBACKS):
            return self._cfn_callback(request)
        if request.path == SNS_CERT_PATH and request.method in ("GET", "HEAD"):
            # SNS messages' SigningCertURL: public, as AWS's certificates are.
            pem = self.platform.provider("sns").signer.certificate_pem  # type: ignore[union-attr]
            return HttpResponse(200, {"Content-Type": "application/x-x509-ca-cert"}, pem)
        if request.path == "/_sandlot/health" and request.method in ("GET", "HEAD"):
            body = {
                "status": "running",
                "version": sandlot.__version__,
                "services": sorted(PROVIDERS),
                "uptime_seconds": round(time.time() - self.platform.started_at, 3),
                "secure": self.settings.secure,
                "sandbox": self.settings.sandbox,
                "isolation": isolation(self.settings.sandbox),
                "function_network": self.platform.function_network,
                "function_endpoint": self.platform.function_endpoint_url,
            }
            return HttpResponse(
                200, {"Content-Type": "application/json"}, json.dumps(body).encode()
            )
        return HttpResponse(
            404,
            {"Content-Type": "application/json"},
            json.dumps({"message": f"no sandlot endpoint {request.path}"}).encode(),
        )

    def _code_download(self, request: HttpRequest) -> HttpResponse:
        """A Lambda code package by its presigned URL (GetFunction's Code.Location);
        refusals in S3's XML, as AWS's presigned S3 URLs answer."""
        provider = self.platform.provider("lambda")
        try:
            file, size = provider.open_code_download(request.path, request.query)  # type: ignore[union-attr]
        except ServiceError as error:
            return self._serializer("s3", "rest-xml").serialize_error(error, None, uuid4_text())
        headers = {"Content-Type": "application/zip", "Content-Length": str(size)}
        return HttpResponse(200, headers, FileBody(file, 0, size))

    def _cfn_callback(self, request: HttpRequest) -> HttpResponse:
        """A custom resource's answer or a wait condition's signal, PUT to the URL
        CloudFormation handed out (AWS: a presigned S3 URL, so S3's answers)."""
        provider = self.platform.provider("cloudformation")
        try:
            provider.accept_callback(request.path, request.method, request.body)  # type: ignore[union-attr]
        except ServiceError as error:
            return self._serializer("s3", "rest-xml").serialize_error(error, None, uuid4_text())
        return HttpResponse(200, {"Content-Length": "0"}, b"")


def _mutual_tls(scope, found: dataplane.Match) -> tuple[str | None, bool]:
    """(the client certificate's PEM, refused) for a request to a custom domain. A
    domain with a truststore requires a connection whose handshake named it (SNI, so
    its truststore was asked for) and presented a certificate that verified against
    it; without one API Gateway answers 403 Forbidden."""
    assert found.domain is not None
    if found.domain.truststore is None:
        return None, False
    tls = scope.get("extensions", {}).get("tls")
    if not tls or tls.get("server_name") != found.target or not tls.get("client_cert_chain"):
        return None, True
    return tls["client_cert_chain"][0], False


def _sigv4_signed(scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return value.startswith(b"AWS4-")
    return False


def _host(scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"host":
            return value.decode("latin-1")
    return None


async def _send_data_plane(send, receive, response: DataPlaneResponse, head: bool) -> None:
    """A data plane's answer. Its headers may come from user code (a function's
    answer): names that are no HTTP token are dropped and line breaks in values
    removed, so nothing can split the response; the length is always sandlot's (none
    for a streamed answer: it goes chunked)."""
    headers = [
        (name.encode("latin-1"), _CRLF.sub(" ", value).encode("latin-1", "replace"))
        for name, value in response.headers
        if _TOKEN.match(name) and name.lower() not in ("content-length", "transfer-encoding")
    ]
    if response.stream is not None:
        if head:
            await response.stream.aclose()  # type: ignore[attr-defined]
        else:
            await _send_chunks(send, receive, response.status, headers, response.stream)
            return
    length = str(len(response.body))
    if head and not response.body:  # a HEAD may declare the length its GET would have
        declared = [v for n, v in response.headers if n.lower() == "content-length"]
        length = declared[0] if declared and declared[0].isdigit() else length
    headers.append((b"content-length", length.encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else response.body})


def _registry_too_large(limit: int) -> DataPlaneResponse:
    """A blob upload past ECR's layer size limit, as the distribution API's error."""
    message = f"the blob is larger than the maximum layer size ({limit} bytes)"
    error = {"errors": [{"code": "SIZE_INVALID", "message": message, "detail": None}]}
    return json_response(413, error, [("Docker-Distribution-API-Version", "registry/2.0")])


def _prefix(chunks: list[bytes], size: int) -> bytes:
    """The first ``size`` bytes of ``chunks`` joined, without joining them all."""
    head = bytearray()
    for chunk in chunks:
        head += chunk[: size - len(head)]
        if len(head) >= size:
            break
    return bytes(head)


def _request_keys(request: HttpRequest) -> dict[str, object]:
    """The IAM condition keys the HTTP request itself carries."""
    keys: dict[str, object] = {"aws:SecureTransport": request.secure}
    if request.client_ip:
        keys["aws:SourceIp"] = request.client_ip
    return keys


class _Incoming:
    """A request body still to be read: ASGI ``receive`` messages, or bytes at hand."""

    __slots__ = ("_receive", "_expect_continue", "started", "done", "_body")

    def __init__(self, receive: Receive | None, request: HttpRequest) -> None:
        self._receive = receive
        self._body = request.body
        self._expect_continue = request.headers.get("expect", "").lower() == "100-continue"
        self.started = False
        self.done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        self.started = True
        if self._receive is None:
            self.done = True
            if self._body:
                yield self._body
            return
        while not self.done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            self.done = not message.get("more_body", False)
            yield message.get("body", b"")

    async def finish(self, response: HttpResponse) -> bool:
        """Before answering early: read what is left of the body so the client sees the
        answer, or close the connection if the client waits for ``100 Continue`` or a
        lot is left. False when the client went away."""
        if self.done or self._receive is None:
            return True
        if self._expect_continue and not self.started:
            response.headers["Connection"] = "close"
            return True
        drained = 0
        try:
            async for chunk in self.chunks():
                drained += len(chunk)
                if drained > _SPOOL_BATCH * 8:
                    response.headers["Connection"] = "close"
                    return True
        except _ClientGone:
            return False
        return True


# Services with operations botocore's model marks ``requestcompression`` (gzip bodies).
_COMPRESSED_REQUESTS = frozenset({"cloudwatch"})


def _is_aws_chunked(headers: dict[str, str]) -> bool:
    mode = headers.get("x-amz-content-sha256", "")
    if mode.startswith("STREAMING-"):
        return True
    encodings = headers.get("content-encoding", "")
    return "aws-chunked" in encodings and not _is_sha256_hex(mode)


def _is_sha256_hex(value: str) -> bool:
    return len(value) == 64 and _HEX.issuperset(value)


def _declared_length(headers: dict[str, str], chunked: bool) -> int | None:
    """The content length the request announces (decoded length for aws-chunked)."""
    text = headers.get("x-amz-decoded-content-length" if chunked else "content-length")
    if text is None:
        if chunked:
            raise ServiceError(
                "MissingContentLength", "You must provide the Content-Length HTTP header.", 411
            )
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        name = "x-amz-decoded-content-length" if chunked else "Content-Length"
        raise ServiceError("InvalidArgument", f"Invalid {name}: {text[:40]!r}.", 400)
    return value


def _check_content_sha256(request: HttpRequest, sig: Signature | None) -> None:
    """S3's rules for ``x-amz-content-sha256``: required with header signatures, and one
    of the documented literals or a hex SHA-256."""
    value = request.headers.get("x-amz-content-sha256")
    if value is None:
        if sig is not None and not sig.presigned and sig.service == "s3":
            raise ServiceError(
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
                400,
            )
        return
    if value not in _CONTENT_SHA256_LITERALS and not _is_sha256_hex(value):
        raise ServiceError(
            "InvalidArgument",
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
            "or a valid sha256 value.",
            400,
            ArgumentName="x-amz-content-sha256",
            ArgumentValue=value[:80],
        )


def _decoder(
    headers: dict[str, str],
    sig: Signature | None,
    secret: str | None,
    emit: Callable[[bytes | memoryview], None],
) -> bodies.AwsChunkedDecoder:
    mode = headers.get("x-amz-content-sha256", "")
    signed = mode in bodies.SIGNED_STREAMING
    signer = None
    if signed and secret is not None and sig is not None and not sig.presigned:
        date = sig.amz_date[:8]
        signer = bodies.ChunkSigner(
            bodies.signing_key(secret, date, sig.region, sig.service),
            sig.amz_date,
            f"{date}/{sig.region}/{sig.service}/aws4_request",
            sig.signature,
        )
    trailer = mode.endswith("-TRAILER") or "x-amz-trailer" in headers
    return bodies.AwsChunkedDecoder(emit, signed=signed, signer=signer, trailer_expected=trailer)


def _check_payload(request: HttpRequest, sig: Signature | None, secret: str | None) -> HttpRequest:
    """A buffered S3 body against ``x-amz-content-sha256``: the hash must match, and an
    aws-chunked body is decoded (the request the parser sees then has the content)."""
    _check_content_sha256(request, sig)
    value = request.headers["x-amz-content-sha256"]
    body = request.body
    assert isinstance(body, bytes)
    if _is_sha256_hex(value):
        _check_sha256(value, hashlib.sha256(body).hexdigest())
        return request
    if not _is_aws_chunked(request.headers):
        return request
    declared = _declared_length(request.headers, True)
    pieces: list[bytes] = []
    decoder = _decoder(request.headers, sig, secret, lambda piece: pieces.append(bytes(piece)))
    decoder.feed(body)
    decoder.finish()
    content = b"".join(pieces)
    if declared is not None and len(content) != declared:
        raise bodies.incomplete_body()
    return dataclasses.replace(
        request, body=content, headers=_decoded_headers(request.headers, len(content))
    )


def _check_sha256(claimed: str, computed: str) -> None:
    if claimed != computed:
        raise ServiceError(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            400,
            ClientComputedContentSHA256=claimed,
            S3ComputedContentSHA256=computed,
        )


def _decoded_headers(headers: dict[str, str], size: int) -> dict[str, str]:
    """The headers as the parser should see a decoded body: ``aws-chunked`` is no
    content encoding of the object, and the length is the content's."""
    decoded = dict(headers)
    encodings = [
        token.strip()
        for token in headers.get("content-encoding", "").split(",")
        if token.strip() and token.strip().lower() != "aws-chunked"
    ]
    if encodings:
        decoded["content-encoding"] = ",".join(encodings)
    else:
        decoded.pop("content-encoding", None)
    decoded["content-length"] = str(size)
    return decoded


def _gunzip(body: bytes, limit: int) -> bytes:
    """A gzip request body, inflated to at most ``limit`` bytes (a bomb is refused)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise ServiceError(
            "SerializationException", "The request body is not valid gzip."
        ) from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise ServiceError(
            "RequestEntityTooLarge", f"Request must be smaller than {limit} bytes.", 413
        )
    return data


def _decoded_view(request: HttpRequest, body: SpooledBody) -> HttpRequest:
    return dataclasses.replace(
        request, body=body, headers=_decoded_headers(request.headers, body.size)
    )


def _path_bucket(path: str) -> str | None:
    """The bucket of a path-style S3 path, or None for the service root."""
    segment = path.lstrip("/").split("/", 1)[0]
    return unquote(segment) if segment else None


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


async def _send(send, receive, response: HttpResponse, head: bool) -> None:
    body = response.body
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
    if type(body) is FileBody:
        await _send_file(send, receive, response.status, headers, body, head)
        return
    if type(body) is EventStreamBody:
        await _send_chunks(send, receive, response.status, headers, body.frames)
        return
    if "Content-Length" not in response.headers:
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _send_chunks(send, receive, status: int, headers: list, frames) -> None:
    """Send what the async iterator ``frames`` yields as it comes (chunked: event-stream
    messages, a streamed function URL answer), until it ends or the client goes away; it
    is closed in any case."""
    nxt = None

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.create_task(watch())
    try:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        while True:
            nxt = asyncio.ensure_future(anext(frames))
            await asyncio.wait({nxt, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not nxt.done():
                return  # the client left
            try:
                frame = nxt.result()
            except StopAsyncIteration:
                break
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        watcher.cancel()
        if nxt is not None and not nxt.done():
            nxt.cancel()
            with contextlib.suppress(BaseException):
                await nxt
        with contextlib.suppress(Exception):
            await frames.aclose()


async def _send_file(send, receive, status: int, headers: list, body: FileBody, head: bool) -> None:
    """Send ``body`` in chunks read off the event loop; close its file in any case, and
    stop early when the client goes away."""
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    watcher = asyncio.create_task(watch()) if not head else None
    try:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        offset, left = body.offset, 0 if head else body.length
        while left > 0 and not gone.is_set():
            chunk = await asyncio.to_thread(_read_at, body.file, offset, min(_SEND_CHUNK, left))
            if not chunk:
                name = getattr(body.file, "name", "response body")
                raise OSError(f"{name}: shorter than its announced length")
            offset += len(chunk)
            left -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
        if body.length == 0 or head:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        if watcher is not None:
            watcher.cancel()
        body.file.close()


def _read_at(file, offset: int, size: int) -> bytes:
    file.seek(offset)
    return file.read(size)


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
