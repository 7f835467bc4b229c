"""Bucket CORS: the configuration operations and the gateway's hooks that answer
preflight requests and add CORS headers to actual requests, following S3's rules (the
first rule matching origin, method and every requested header wins)."""

from __future__ import annotations

import json
import re
from functools import lru_cache

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.s3.base import S3Base
from sandlot.services.s3.schema import BUCKETS

CORS_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_RULES = 100
_VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
_NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the "
    "evalution of Origin, request method / Access-Control-Request-Method or "
    "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
)


@lru_cache(maxsize=1024)
def _pattern(wildcard: str, ignore_case: bool) -> re.Pattern[str]:
    """A CORS wildcard (``*`` matches any run of characters) as a full-match regex."""
    body = ".*".join(re.escape(part) for part in wildcard.split("*"))
    return re.compile(body + r"\Z", re.I if ignore_case else 0)


def _matches(value: str, patterns: list[str], ignore_case: bool = False) -> bool:
    return any(_pattern(p, ignore_case).match(value) for p in patterns)


def _forbidden(message: str) -> ServiceError:
    return ServiceError("AccessForbidden", message, 403)


class CorsOperations(S3Base):
    def put_bucket_cors(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        rules = (params.get("CORSConfiguration") or {}).get("CORSRules") or []
        if not rules or len(rules) > MAX_RULES:
            raise ServiceError(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our "
                "published schema",
            )
        for rule in rules:
            for method in rule.get("AllowedMethods") or []:
                if method not in CORS_METHODS:
                    raise ServiceError(
                        "InvalidRequest",
                        "Found unsupported HTTP method in CORS config. Unsupported method "
                        f"is {method}",
                    )
            for origin in rule.get("AllowedOrigins") or []:
                if origin.count("*") > 1:
                    raise ServiceError(
                        "InvalidRequest",
                        f'AllowedOrigin "{origin}" can not have more than one wildcard.',
                    )
            for header in rule.get("AllowedHeaders") or []:
                if header.count("*") > 1:
                    raise ServiceError(
                        "InvalidRequest",
                        f'AllowedHeader "{header}" can not have more than one wildcard.',
                    )
        self.store.put(BUCKETS, {**bucket, "cors": json.dumps(rules)})
        return {}

    def get_bucket_cors(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        if not bucket["cors"]:
            raise ServiceError(
                "NoSuchCORSConfiguration",
                "The CORS configuration does not exist",
                404,
                BucketName=bucket["name"],
            )
        return {"CORSRules": json.loads(bucket["cors"])}

    def delete_bucket_cors(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        self.store.put(BUCKETS, {**bucket, "cors": None})
        return {}

    # -- the gateway's hooks ----------------------------------------------------------------

    def cors_preflight(
        self, bucket: str, origin: str, method: str, request_headers: list[str]
    ) -> dict[str, str]:
        """The response headers of a preflight (OPTIONS) request to ``bucket``.

        Raises 403 AccessForbidden when the bucket has no CORS configuration or no rule
        allows this origin, method and every requested header.
        """
        row = self.store.get(BUCKETS, bucket)
        if row is None:
            raise _forbidden("CORSResponse: Bucket not found")
        if not row["cors"]:
            raise _forbidden("CORSResponse: CORS is not enabled for this bucket.")
        wanted = [h.strip() for h in request_headers if h.strip()]
        for rule in json.loads(row["cors"]):
            if not self._rule_allows(rule, origin, method):
                continue
            allowed = rule.get("AllowedHeaders") or []
            if not all(_matches(h, allowed, ignore_case=True) for h in wanted):
                continue
            headers = self._rule_headers(rule, origin)
            headers["Access-Control-Allow-Methods"] = ", ".join(rule["AllowedMethods"])
            if wanted:
                headers["Access-Control-Allow-Headers"] = ", ".join(h.lower() for h in wanted)
            return headers
        raise _forbidden(_NOT_ALLOWED)

    def cors_headers(self, bucket: str, origin: str, method: str) -> dict[str, str]:
        """CORS headers for an actual request with an ``Origin``; {} when no rule matches."""
        row = self.store.get(BUCKETS, bucket)
        if row is None or not row["cors"]:
            return {}
        for rule in json.loads(row["cors"]):
            if self._rule_allows(rule, origin, method):
                headers = self._rule_headers(rule, origin)
                headers["Access-Control-Allow-Methods"] = ", ".join(rule["AllowedMethods"])
                return headers
        return {}

    @staticmethod
    def _rule_allows(rule: dict, origin: str, method: str) -> bool:
        return method.upper() in (rule.get("AllowedMethods") or []) and _matches(
            origin, rule.get("AllowedOrigins") or []
        )

    @staticmethod
    def _rule_headers(rule: dict, origin: str) -> dict[str, str]:
        any_origin = "*" in (rule.get("AllowedOrigins") or [])
        headers = {"Access-Control-Allow-Origin": "*" if any_origin else origin}
        if not any_origin:
            headers["Access-Control-Allow-Credentials"] = "true"
        if rule.get("ExposeHeaders"):
            headers["Access-Control-Expose-Headers"] = ", ".join(rule["ExposeHeaders"])
        if rule.get("MaxAgeSeconds") is not None:
            headers["Access-Control-Max-Age"] = str(rule["MaxAgeSeconds"])
        headers["Vary"] = _VARY
        return headers
