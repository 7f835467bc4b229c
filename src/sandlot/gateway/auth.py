"""SigV4: read a request's signature and check it with botocore's own signing code.

Signatures come in the ``Authorization`` header or, for presigned URLs, in the query
string (``X-Amz-Signature``…). The expected signature is computed by botocore's
``SigV4Auth`` over the request as received, restricted to the headers the client
signed; sandlot adds no cryptography of its own.

S3 also accepts presigned URLs in the older query-string form (``AWSAccessKeyId``,
``Expires``, ``Signature``: HMAC-SHA1), which botocore and the AWS CLI still produce
for S3 by default; they are checked with botocore's ``HmacV1Auth`` the same way.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

from botocore.auth import EMPTY_SHA256_HASH, UNSIGNED_PAYLOAD, HmacV1Auth, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from sandlot.protocol import HttpRequest

ALGORITHM = "AWS4-HMAC-SHA256"
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_RE = re.compile(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z", re.ASCII)


@functools.lru_cache(maxsize=64)
def amz_time(text: str) -> dt.datetime:
    """An X-Amz-Date (``YYYYMMDDTHHMMSSZ``) as a UTC datetime; ValueError if it is not
    one. Every request has one, and requests of the same second share it: parsed once
    (``strptime`` cost 5-8 % of a small request's CPU)."""
    match = _AMZ_DATE_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not an X-Amz-Date: {text[:40]!r}")
    return dt.datetime(*map(int, match.groups()), tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Signature:
    """The signature material a request carries."""

    access_key_id: str
    amz_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool
    expires: int | None = None  # presigned: X-Amz-Expires seconds (v2: Expires, epoch)
    security_token: str | None = None
    version: int = 4  # 2: S3's HMAC-SHA1 query-string signature

    @property
    def timestamp(self) -> dt.datetime:
        return amz_time(self.amz_date)


class AuthFailure(Exception):
    """Why a request is not authenticated; the gateway maps ``kind`` to each protocol's code.

    kinds: ``missing``, ``incomplete``, ``unknown_key``, ``bad_signature``,
    ``expired_token``, ``skewed``, ``expired_url``.
    """

    def __init__(self, kind: str, message: str, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details or {}  # what S3's error document shows of a bad signature


def credential_scope_service(request: HttpRequest) -> tuple[str, str] | None:
    """(signing service, region) from the credential scope, without validating anything."""
    auth = request.headers.get("authorization", "")
    start = auth.find("Credential=")
    if start >= 0:
        scope = auth[start + 11 :].split(",", 1)[0].strip()
    elif "X-Amz-Credential=" in request.query:
        scope = dict(parse_qsl(request.query)).get("X-Amz-Credential", "")
    else:
        return None
    parts = scope.split("/")
    if len(parts) != 5:
        return None
    return parts[3], parts[2]


def parse_signature(request: HttpRequest) -> Signature | None:
    """The request's SigV4 signature, None when unsigned; AuthFailure when malformed."""
    auth = request.headers.get("authorization")
    if auth is not None:
        return _from_header(auth, request)
    if "X-Amz-Signature=" in request.query or "X-Amz-Algorithm=" in request.query:
        return _from_query(request)
    if "AWSAccessKeyId=" in request.query and "Signature=" in request.query:
        return _from_v2_query(request)
    return None


def _from_v2_query(request: HttpRequest) -> Signature:
    params = dict(parse_qsl(request.query, keep_blank_values=True))
    try:
        expires = int(params["Expires"])
        key, signature = params["AWSAccessKeyId"], params["Signature"]
    except (KeyError, ValueError):
        raise AuthFailure(
            "incomplete",
            "Query-string authentication requires the Signature, Expires and "
            "AWSAccessKeyId parameters",
        ) from None
    return Signature(
        key,
        "",
        "",
        "s3",
        (),
        signature,
        presigned=True,
        expires=expires,
        security_token=params.get("x-amz-security-token"),
        version=2,
    )


def _from_header(auth: str, request: HttpRequest) -> Signature:
    algorithm, _, rest = auth.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise AuthFailure(
            "incomplete", f"Unsupported authorization type {algorithm!r}; use {ALGORITHM}."
        )
    fields = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if eq:
            fields[name] = value
    missing = [f for f in ("Credential", "SignedHeaders", "Signature") if f not in fields]
    if missing:
        raise AuthFailure(
            "incomplete",
            f"Authorization header requires '{missing[0]}' parameter. Authorization={auth[:200]}",
        )
    amz_date = request.headers.get("x-amz-date") or ""
    if not amz_date:
        raise AuthFailure(
            "incomplete",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    key, region, service = _scope(fields["Credential"], amz_date)
    return Signature(
        key,
        amz_date,
        region,
        service,
        tuple(fields["SignedHeaders"].split(";")),
        fields["Signature"],
        presigned=False,
        security_token=request.headers.get("x-amz-security-token"),
    )


def _from_query(request: HttpRequest) -> Signature:
    params = dict(parse_qsl(request.query, keep_blank_values=True))
    for name in (
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ):
        if not params.get(name):
            raise AuthFailure(
                "incomplete", f"Query-string authentication requires the {name} parameter."
            )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise AuthFailure("incomplete", f"X-Amz-Algorithm must be {ALGORITHM}.")
    key, region, service = _scope(params["X-Amz-Credential"], params["X-Amz-Date"])
    try:
        expires = int(params.get("X-Amz-Expires", "604800"))
    except ValueError:
        raise AuthFailure("incomplete", "X-Amz-Expires must be a number of seconds.") from None
    return Signature(
        key,
        params["X-Amz-Date"],
        region,
        service,
        tuple(params["X-Amz-SignedHeaders"].split(";")),
        params["X-Amz-Signature"],
        presigned=True,
        expires=expires,
        security_token=params.get("X-Amz-Security-Token"),
    )


def _scope(credential: str, amz_date: str) -> tuple[str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise AuthFailure(
            "incomplete",
            f"Credential should be scoped to a valid region and service: '{credential[:120]}'.",
        )
    try:
        amz_time(amz_date)
    except ValueError:
        raise AuthFailure("incomplete", f"Invalid X-Amz-Date {amz_date[:40]!r}.") from None
    if parts[1] != amz_date[:8]:
        raise AuthFailure(
            "incomplete", "Credential should be scoped to a valid date matching X-Amz-Date."
        )
    return parts[0], parts[2], parts[3]


def check_time(sig: Signature, now: dt.datetime, max_skew_seconds: int) -> None:
    """Refuse signatures from too far in the past or future, and expired presigned URLs."""
    if sig.version == 2:
        if now.timestamp() > (sig.expires or 0):
            raise AuthFailure("expired_url", "Request has expired")
        return
    signed_at = sig.timestamp
    if sig.presigned and sig.expires is not None:
        if now > signed_at + dt.timedelta(seconds=sig.expires):
            raise AuthFailure("expired_url", "Request has expired")
        if signed_at - now > dt.timedelta(seconds=max_skew_seconds):
            raise AuthFailure("skewed", "Request is not yet valid")
        return
    if abs((now - signed_at).total_seconds()) > max_skew_seconds:
        raise AuthFailure(
            "skewed",
            f"Signature expired: {sig.amz_date} is now earlier than "
            f"{(now - dt.timedelta(seconds=max_skew_seconds)).strftime(_AMZ_DATE)} "
            f"({now.strftime(_AMZ_DATE)} - {max_skew_seconds // 60} min.)",
        )


class _Verifier(SigV4Auth):
    """botocore's SigV4 computation over the request exactly as received."""

    def __init__(self, sig: Signature, secret: str, canonical_query: str) -> None:
        super().__init__(Credentials(sig.access_key_id, secret), sig.service, sig.region)
        self._sig = sig
        self._canonical_query = canonical_query

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        headers = HTTPHeaders()
        for name in self._sig.signed_headers:
            value = request.headers.get(name)
            headers[name] = value if value is not None else ""
        return headers

    def canonical_query_string(self, request: AWSRequest) -> str:
        return self._canonical_query

    def _normalize_url_path(self, path: str) -> str:
        # S3 signs the path as sent; every other service normalises and encodes it again.
        return path if self._sig.service == "s3" else super()._normalize_url_path(path)

    def payload(self, request: AWSRequest) -> str:
        if self._sig.presigned and self._sig.service == "s3":
            return UNSIGNED_PAYLOAD
        return super().payload(request) if request.body else EMPTY_SHA256_HASH


def expected_signature(request: HttpRequest, sig: Signature, secret: str) -> str:
    """The signature a client holding ``secret`` would have sent for ``request``."""
    return _v4(request, sig, secret)[2]


def _v4(request: HttpRequest, sig: Signature, secret: str) -> tuple[str, str, str]:
    """(canonical request, string to sign, signature) of ``request`` for ``secret``."""
    pairs = parse_qsl(request.query, keep_blank_values=True)
    if sig.presigned:
        pairs = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
    canonical_query = "&".join(
        sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
    )
    headers = {name: value for name, value in request.headers.items()}
    aws_request = AWSRequest(
        method=request.method,
        url=f"http://{request.headers.get('host', 'localhost')}{request.path or '/'}",
        headers=headers,
        data=request.body,
    )
    aws_request.context["timestamp"] = sig.amz_date
    verifier = _Verifier(sig, secret, canonical_query)
    canonical = verifier.canonical_request(aws_request)
    string_to_sign = verifier.string_to_sign(aws_request, canonical)
    return canonical, string_to_sign, verifier.signature(string_to_sign, aws_request)


class _VerifierV2(HmacV1Auth):
    """botocore's HMAC-SHA1 string to sign, with the URL's Expires in the Date slot."""

    def __init__(self, key: str, secret: str, expires: int) -> None:
        super().__init__(Credentials(key, secret))
        self._expires = str(expires)

    def _get_date(self) -> str:
        return self._expires


def _expected_v2(request: HttpRequest, sig: Signature, secret: str) -> tuple[str, str]:
    """(string to sign, signature) of a Signature Version 2 query-string request."""
    # The signed Content-Type/Content-MD5/x-amz-* values travel as headers or, when the
    # URL was made with them, in the query string.
    headers = HTTPHeaders()
    for name, value in request.headers.items():
        if name in ("content-md5", "content-type") or name.startswith("x-amz-"):
            headers[name] = value
    for name, value in parse_qsl(request.query, keep_blank_values=True):
        lower = name.lower()
        if lower in ("content-md5", "content-type") or lower.startswith("x-amz-"):
            if lower in headers:
                del headers[lower]
            headers[lower] = value
    split = urlsplit(f"http://host{request.path or '/'}?{request.query}")
    verifier = _VerifierV2(sig.access_key_id, secret, sig.expires or 0)
    string_to_sign = verifier.canonical_string(request.method, split, headers)
    return string_to_sign, verifier.sign_string(string_to_sign)


def _bytes(text: str) -> str:
    return " ".join(f"{b:02x}" for b in text.encode())


def verify(request: HttpRequest, sig: Signature, secret: str) -> None:
    """Raise AuthFailure unless ``sig`` is the right signature of ``request`` for ``secret``."""
    details = {"AWSAccessKeyId": sig.access_key_id}
    if sig.version == 2:
        string_to_sign, expected = _expected_v2(request, sig, secret)
    else:
        canonical, string_to_sign, expected = _v4(request, sig, secret)
    if not hmac.compare_digest(expected, sig.signature):
        details.update(
            StringToSign=string_to_sign,
            SignatureProvided=sig.signature,
            StringToSignBytes=_bytes(string_to_sign),
        )
        if sig.version != 2:
            details.update(CanonicalRequest=canonical, CanonicalRequestBytes=_bytes(canonical))
        raise AuthFailure(
            "bad_signature",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            "Consult the service documentation for details.",
            details,
        )
