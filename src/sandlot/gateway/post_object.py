"""S3's POST Object over HTTP: presigned POST and browser form uploads.

``POST /<bucket>`` with a ``multipart/form-data`` body. The fields before the file are
read whole (``protocol.forms``), then, before any of the file is kept: the form's
signature is checked (SigV4's ``x-amz-*`` fields, or the Signature Version 2 fields
``AWSAccessKeyId``/``signature`` that botocore's ``generate_presigned_post`` sends by
default) with the same key lookup as every request; the S3 provider reads the policy and
its conditions (``post_form``); IAM is asked for ``s3:PutObject`` on the key. The file
then streams to a spool as PutObject's body does, and the provider's ``post_object``
writes it through PutObject's own write path. The answer is S3's: ``204`` by default,
``200``/``201`` (with a ``PostResponse``) by ``success_action_status``, or ``303`` to
``success_action_redirect``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urlsplit

from sandlot.gateway import bodies
from sandlot.iam.principal import Principal
from sandlot.protocol import HttpRequest, HttpResponse, ServiceError, SpooledBody, forms
from sandlot.services.provider import RequestContext
from sandlot.services.s3.post import missing_field

if TYPE_CHECKING:
    from sandlot.gateway.app import Gateway

_V4 = ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")
_V4_NAMES = {"x-amz-algorithm": "X-Amz-Algorithm", "x-amz-credential": "X-Amz-Credential",
             "x-amz-date": "X-Amz-Date", "x-amz-signature": "X-Amz-Signature",
             "policy": "Policy"}  # fmt: skip
_BATCH = 1024 * 1024


def is_form(request: HttpRequest) -> bool:
    """A multipart form POST (its body is read once the request is routed)."""
    content_type = request.headers.get("content-type", "").lower()
    return request.method == "POST" and content_type.startswith("multipart/form-data")


def is_post_object(request: HttpRequest) -> bool:
    """A POST to a bucket itself (path style, after rewriting): S3's form upload, which
    refuses a body that is not a form."""
    parts = request.path.strip("/").split("/")
    return request.method == "POST" and len(parts) == 1 and bool(parts[0]) and not request.query


async def post_object(
    gateway: Gateway,
    request: HttpRequest,
    routed: HttpRequest,
    chunks: AsyncIterator[bytes],
    request_id: str,
    keys: dict[str, object],
    foreign: str | None = None,
) -> HttpResponse:
    """Answer one POST Object request; errors raise (the gateway writes them as S3's).

    ``foreign`` is the origin of an untrusted web page that sent the form: its form
    signature must be by a key sandlot issued (no dev-mode root, see gateway/origins.py).
    """
    platform = gateway.platform
    bucket = routed.path.strip("/")
    reader = forms.FormReader(forms.boundary_of(request.headers.get("content-type", "")))
    spool = bodies.Spool(platform.blobs.root / "tmp", set())
    provider = platform.provider("s3")
    checked = None
    ctx: RequestContext | None = None
    body: SpooledBody | None = None
    try:
        pending: list[bytes] = []
        size = 0
        async for chunk in chunks:
            pending += reader.feed(chunk)
            if reader.at_file and checked is None:
                # Everything that authorizes the upload is in the fields: check it all
                # before keeping any of the file.
                principal, region = _authenticate(gateway, request, reader.fields, foreign)
                checked = provider.post_form(bucket, reader.fields, reader.filename)
                ctx = RequestContext(
                    request_id,
                    principal.account_id,
                    region,
                    principal,
                    "s3",
                    "PostObject",
                    routed,
                )
                platform.admit(ctx, checked.params, keys)
            if checked is not None and sum(map(len, pending)) >= _BATCH:
                size += sum(map(len, pending))
                checked.check_size(size, final=False)
                await asyncio.to_thread(_write, spool, pending)
                pending = []
        reader.finish()  # raises unless the file was reached, so the form was checked
        assert checked is not None and ctx is not None
        size += sum(map(len, pending))
        checked.check_size(size, final=True)
        await asyncio.to_thread(_write, spool, pending)
        body = await asyncio.to_thread(spool.close, {})
        result = await platform.run_operation(ctx, {**checked.params, "Body": body})
    except BaseException:
        spool.discard()
        raise
    finally:
        if body is not None:
            body.path.unlink(missing_ok=True)  # adopted by the write unless it failed
    return _answer(request, bucket, checked.params["Key"], checked.fields, result)


def _write(spool: bodies.Spool, pieces: list[bytes]) -> None:
    for piece in pieces:
        spool.write(piece)
        if spool.size > bodies.MAX_SINGLE_PUT:
            raise bodies.entity_too_large()


def _authenticate(
    gateway: Gateway, request: HttpRequest, fields: dict[str, str], foreign: str | None
) -> tuple[Principal, str]:
    """The form's principal and region, its signature checked over the policy."""
    settings = gateway.settings
    lowered = {name.lower(): value for name, value in fields.items()}
    token = lowered.get("x-amz-security-token")
    if any(name in lowered for name in _V4):
        for name in ("key", *_V4, "policy"):
            if name not in lowered:
                raise missing_field(_V4_NAMES.get(name, name))
        if lowered["x-amz-algorithm"] != "AWS4-HMAC-SHA256":
            raise ServiceError(
                "InvalidArgument",
                "The algorithm specified is not supported.",
                400,
                ArgumentName="x-amz-algorithm",
                ArgumentValue=lowered["x-amz-algorithm"],
            )
        scope = lowered["x-amz-credential"].split("/")
        if len(scope) != 5 or scope[3] != "s3" or scope[4] != "aws4_request":
            raise ServiceError(
                "InvalidArgument",
                f"Invalid credential: {lowered['x-amz-credential']}",
                400,
                ArgumentName="x-amz-credential",
                ArgumentValue=lowered["x-amz-credential"],
            )
        key, day, region = scope[0], scope[1], scope[2]
        policy = lowered["policy"]

        def verify_v4(secret: str) -> None:
            signing = bodies.signing_key(secret, day, region, "s3")
            expected = hmac.new(signing, policy.encode(), hashlib.sha256).hexdigest()
            _compare(expected, lowered["x-amz-signature"])

        principal, _ = gateway.key_principal(request, key, token, verify_v4, foreign)
        return principal, region
    if "awsaccesskeyid" in lowered or "signature" in lowered:
        for name, shown in (("awsaccesskeyid", "AWSAccessKeyId"), ("signature", "Signature")):
            if name not in lowered:
                raise missing_field(shown)
        if "policy" not in lowered:
            raise missing_field("Policy")
        policy = lowered["policy"]

        def verify_v2(secret: str) -> None:
            digest = hmac.new(secret.encode(), policy.encode(), hashlib.sha1).digest()
            _compare(base64.b64encode(digest).decode(), lowered["signature"])

        principal, _ = gateway.key_principal(
            request, lowered["awsaccesskeyid"], token, verify_v2, foreign
        )
        return principal, settings.region
    # An anonymous form: like any unsigned request, dev mode's account root.
    return gateway.ambient_root(request, foreign), settings.region


def _compare(expected: str, given: str) -> None:
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise bodies.signature_mismatch()


def _answer(
    request: HttpRequest, bucket: str, key: str, fields: dict[str, str], result: dict
) -> HttpResponse:
    host = request.headers.get("host", "localhost")
    # The object's URL in the form the request used: virtual-hosted or path style.
    virtual = not request.path.strip("/")
    location = f"http://{host}{'' if virtual else '/' + quote(bucket)}/{quote(key, safe='/')}"
    etag = result["ETag"]
    headers = {"ETag": etag, "Location": location}
    if result.get("VersionId"):
        headers["x-amz-version-id"] = result["VersionId"]
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect and urlsplit(redirect).scheme in ("http", "https"):
        joiner = "&" if urlsplit(redirect).query else "?"
        query = urlencode({"bucket": bucket, "key": key, "etag": etag})
        return HttpResponse(303, {**headers, "Location": f"{redirect}{joiner}{query}"}, b"")
    status = fields.get("success_action_status")
    if status == "201":
        headers["Content-Type"] = "application/xml"
        return HttpResponse(201, headers, forms.post_response(location, bucket, key, etag))
    return HttpResponse(200 if status == "200" else 204, headers, b"")
