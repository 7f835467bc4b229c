"""Static website hosting: Put/Get/DeleteBucketWebsite, and the website endpoint.

The endpoint is a data plane (``gateway/dataplane.py``): ``<bucket>.s3-website.localhost``
or ``<bucket>.s3-website-<region>.localhost`` (also ``.s3-website.<region>.``), plain
GET/HEAD as a browser sends them, answered as S3's website endpoint answers
("Website endpoints" in the S3 User Guide):

- every request is anonymous: an object is served only when the bucket policy lets
  anyone ``s3:GetObject`` it (IAM decides, as for any request; so the bucket's public
  access block must allow a public policy), else 403 AccessDenied;
- a key ending in ``/`` (and the root) gets the index document's suffix; a key with no
  object whose ``<key>/<index>`` exists is redirected (302) to ``<key>/``;
- ``RedirectAllRequestsTo`` redirects everything (301); routing rules redirect on a key
  prefix before the lookup, or on the error code after it; an object's
  ``x-amz-website-redirect-location`` redirects (301);
- errors are S3's HTML pages (403/404/405), or the error document, with the error's
  status, when it is readable.

Objects encrypted with SSE-KMS or SSE-C are not served (403), as on AWS.
"""

from __future__ import annotations

import html
import json
import secrets
from typing import Any
from urllib.parse import unquote

from sandlot.iam.policy import Outcome
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse
from sandlot.services.provider import RequestContext
from sandlot.services.s3.base import S3Base, load_meta
from sandlot.services.s3.errors import invalid_argument, malformed_xml
from sandlot.services.s3.schema import BUCKETS

_STATUS = {403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}


class _Failure(Exception):
    def __init__(self, status: int, code: str, message: str, **fields: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def _check_configuration(configuration: dict) -> dict:
    redirect_all = configuration.get("RedirectAllRequestsTo")
    if redirect_all is not None:
        if any(configuration.get(k) for k in ("IndexDocument", "ErrorDocument", "RoutingRules")):
            raise invalid_argument(
                "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules."
            )
        if not redirect_all.get("HostName"):
            raise malformed_xml()
        return configuration
    suffix = (configuration.get("IndexDocument") or {}).get("Suffix")
    if suffix is None:
        raise invalid_argument(
            "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty"
        )
    if not suffix or "/" in suffix:
        raise invalid_argument(
            "The IndexDocument Suffix is not well formed", "IndexDocument", suffix
        )
    for rule in configuration.get("RoutingRules") or []:
        redirect = rule.get("Redirect") or {}
        if "ReplaceKeyWith" in redirect and "ReplaceKeyPrefixWith" in redirect:
            raise invalid_argument(
                "You can only define ReplaceKeyPrefix or ReplaceKey but not both."
            )
        code = redirect.get("HttpRedirectCode")
        if code is not None and not (code.isdigit() and 300 <= int(code) < 400):
            raise invalid_argument(
                "The provided HTTP redirect code is not valid", "HttpRedirectCode", code
            )
    return configuration


class WebsiteOperations(S3Base):
    # -- configuration --------------------------------------------------------------------

    def put_bucket_website(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        configuration = _check_configuration(params.get("WebsiteConfiguration") or {})
        self.store.put(BUCKETS, {**bucket, "website": json.dumps(configuration)})
        return {}

    def get_bucket_website(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        if not bucket.get("website"):
            raise ServiceError(
                "NoSuchWebsiteConfiguration",
                "The specified bucket does not have a website configuration",
                404,
                BucketName=bucket["name"],
            )
        return json.loads(bucket["website"])

    def delete_bucket_website(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        self.store.put(BUCKETS, {**bucket, "website": None})
        return {}

    # -- the website endpoint -------------------------------------------------------------

    async def data_plane(self, request: DataPlaneRequest) -> DataPlaneResponse:
        request_id = secrets.token_hex(8).upper()
        try:
            return await self._website(request, request_id)
        except _Failure as failure:
            return _error_page(failure, request_id)

    async def _website(self, request: DataPlaneRequest, request_id: str) -> DataPlaneResponse:
        if request.method not in ("GET", "HEAD"):
            raise _Failure(
                405, "MethodNotAllowed", "The specified method is not allowed against this resource.",
                Method=request.method, ResourceType="OBJECT",
            )  # fmt: skip
        name = request.target
        bucket = self.store.get(BUCKETS, name)
        if bucket is None:
            raise _Failure(
                404, "NoSuchBucket", "The specified bucket does not exist", BucketName=name
            )
        if not bucket.get("website"):
            raise _Failure(
                404, "NoSuchWebsiteConfiguration",
                "The specified bucket does not have a website configuration", BucketName=name,
            )  # fmt: skip
        configuration = json.loads(bucket["website"])
        key = unquote(request.path).lstrip("/")
        redirect_all = configuration.get("RedirectAllRequestsTo")
        if redirect_all is not None:
            scheme = redirect_all.get("Protocol") or ("https" if request.secure else "http")
            return _redirect(301, f"{scheme}://{redirect_all['HostName']}/{key}")
        rules = configuration.get("RoutingRules") or []
        for rule in rules:
            condition = rule.get("Condition") or {}
            prefix = condition.get("KeyPrefixEquals")
            if (
                prefix is not None
                and not condition.get("HttpErrorCodeReturnedEquals")
                and key.startswith(prefix)
            ):
                return _rule_redirect(rule, key, request)
        suffix = configuration["IndexDocument"]["Suffix"]
        try:
            return await self._serve(request, bucket, key, suffix, request_id)
        except _Failure as failure:
            for rule in rules:
                condition = rule.get("Condition") or {}
                if condition.get("HttpErrorCodeReturnedEquals") == str(
                    failure.status
                ) and key.startswith(condition.get("KeyPrefixEquals") or ""):
                    return _rule_redirect(rule, key, request)
            document = (configuration.get("ErrorDocument") or {}).get("Key")
            if document and failure.status in (403, 404):
                try:
                    page = await self._serve(request, bucket, document, suffix, request_id)
                except _Failure:
                    raise failure from None
                page.status = failure.status
                return page
            raise

    async def _serve(
        self, request: DataPlaneRequest, bucket: dict, key: str, suffix: str, request_id: str
    ) -> DataPlaneResponse:
        wanted = key + suffix if key == "" or key.endswith("/") else key
        row = self.latest(bucket["name"], wanted)
        if (row is None or row["marker"]) and not key.endswith("/") and key:
            index = self.latest(bucket["name"], f"{key}/{suffix}")
            if (
                index is not None
                and not index["marker"]
                and self._readable(bucket, index["key"], request, request_id)
            ):
                return _redirect(302, f"/{key}/")
        if not self._readable(bucket, wanted, request, request_id):
            raise _Failure(403, "AccessDenied", "Access Denied")
        if row is None or row["marker"]:
            raise _Failure(404, "NoSuchKey", "The specified key does not exist.", Key=wanted)
        meta = load_meta(row)
        if meta.get("WebsiteRedirectLocation"):
            return _redirect(301, meta["WebsiteRedirectLocation"])
        if (meta.get("SSE") or {}).get("ServerSideEncryption", "AES256") != "AES256" or (
            meta.get("SSE") or {}
        ).get("SSECustomerAlgorithm"):
            raise _Failure(403, "AccessDenied", "Access Denied")
        file = self.open_blob(row)
        if file is None:
            raise _Failure(404, "NoSuchKey", "The specified key does not exist.", Key=wanted)
        with file:
            body = file.read() if request.method == "GET" else b""
        headers = [
            ("Content-Type", meta.get("ContentType") or "binary/octet-stream"),
            ("ETag", row["etag"]),
            ("Content-Length", str(row["size"])),
            ("x-amz-request-id", request_id),
        ]
        for member, header in (("CacheControl", "Cache-Control"),
                               ("ContentEncoding", "Content-Encoding")):  # fmt: skip
            if meta.get(member):
                headers.append((header, meta[member]))
        return DataPlaneResponse(200, headers, body)

    def _readable(self, bucket: dict, key: str, request: DataPlaneRequest, request_id: str) -> bool:
        """Whether anyone may read ``key`` (website requests are anonymous)."""
        decision = self.platform.authorizer.decide(
            Principal.anonymous(bucket["account"]),
            "s3:GetObject",
            f"arn:aws:s3:::{bucket['name']}/{key}",
            request_id=request_id,
            region=bucket["region"],
            context={"aws:SourceIp": request.source_ip, "aws:SecureTransport": request.secure},
        )
        return decision.outcome == Outcome.ALLOW


def _redirect(status: int, location: str) -> DataPlaneResponse:
    return DataPlaneResponse(status, [("Location", location), ("Content-Length", "0")])


def _rule_redirect(rule: dict, key: str, request: DataPlaneRequest) -> DataPlaneResponse:
    redirect = rule.get("Redirect") or {}
    prefix = (rule.get("Condition") or {}).get("KeyPrefixEquals") or ""
    if "ReplaceKeyWith" in redirect:
        target = redirect["ReplaceKeyWith"]
    elif "ReplaceKeyPrefixWith" in redirect:
        target = redirect["ReplaceKeyPrefixWith"] + key[len(prefix) :]
    else:
        target = key
    host = redirect.get("HostName") or request.host
    scheme = redirect.get("Protocol") or ("https" if request.secure else "http")
    return _redirect(int(redirect.get("HttpRedirectCode") or 301), f"{scheme}://{host}/{target}")


def _error_page(failure: _Failure, request_id: str) -> DataPlaneResponse:
    """S3's website error page: the status, then the error's members as a list."""
    title = f"{failure.status} {_STATUS[failure.status]}"
    items: dict[str, Any] = {"Code": failure.code, "Message": failure.message, **failure.fields}
    items.update(RequestId=request_id, HostId=secrets.token_urlsafe(48))
    lines = "".join(
        f"<li>{name}: {html.escape(str(value))}</li>\n" for name, value in items.items()
    )
    page = (
        f"<html>\n<head><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n<ul>\n"
        f"{lines}</ul>\n<hr/>\n</body>\n</html>\n"
    ).encode()
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page))),
               ("x-amz-request-id", request_id)]  # fmt: skip
    if failure.code in ("NoSuchKey", "NoSuchBucket", "NoSuchWebsiteConfiguration", "AccessDenied",
                        "MethodNotAllowed"):  # fmt: skip
        headers.append(("x-amz-error-code", failure.code))
        headers.append(("x-amz-error-message", failure.message))
    return DataPlaneResponse(failure.status, headers, page)
