"""POST Object (presigned POST, browser form uploads): the form's policy and fields.

A form carries its own authority: a base64 JSON ``policy`` (an ``expiration`` and
``conditions``) that its signature covers (checked by the gateway, which knows the
keys). Here the policy is read and every condition checked against the form, as S3
does: exact matches (``{"acl": "public-read"}`` or ``["eq", "$acl", "public-read"]``),
``starts-with`` (each item of a comma-separated ``Content-Type``), the request's
``bucket``, and ``content-length-range`` once the file's size is known. Every field
but ``policy``, the signature, ``file`` and ``x-ignore-*`` must be named by a
condition. The fields then set the object as PutObject's headers of the same names do.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.protocol.forms import tagging_query
from sandlot.services.s3.errors import invalid_argument

# Fields no condition needs to name.
_UNCHECKED = frozenset({"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"})
# Form fields → the PutObject parameters they set.
_SETS = {
    "content-type": "ContentType",
    "cache-control": "CacheControl",
    "content-disposition": "ContentDisposition",
    "content-encoding": "ContentEncoding",
    "expires": "Expires",
    "acl": "ACL",
    "x-amz-storage-class": "StorageClass",
    "x-amz-website-redirect-location": "WebsiteRedirectLocation",
    "x-amz-server-side-encryption": "ServerSideEncryption",
}


@dataclass
class PostForm:
    """What a checked form asks for: PutObject's parameters and the size bounds."""

    params: dict[str, Any]
    min_size: int = 0
    max_size: int | None = None
    fields: dict[str, str] = field(default_factory=dict)  # lower-cased names

    def check_size(self, size: int, *, final: bool) -> None:
        """``content-length-range``: too large as soon as it is, too small at the end."""
        if self.max_size is not None and size > self.max_size:
            raise ServiceError(
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                400,
                ProposedSize=size,
                MaxSizeAllowed=self.max_size,
            )
        if final and size < self.min_size:
            raise ServiceError(
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
                400,
                ProposedSize=size,
                MinSizeAllowed=self.min_size,
            )


def missing_field(name: str) -> ServiceError:
    return invalid_argument(
        f"Bucket POST must contain a field named '{name}'.  If it is specified, please "
        "check the order of the fields.",
        name,
        "",
    )


def read_post_form(
    bucket: str, fields: dict[str, str], filename: str | None, *, now: float
) -> PostForm:
    """Check the form's policy (if any) and turn its fields into PutObject parameters."""
    lowered = {name.lower(): value for name, value in fields.items()}
    if not lowered.get("key"):
        raise missing_field("key")
    key = lowered["key"]
    if filename is not None and "${filename}" in key:
        # The browser's file name without any directory (Windows' too).
        key = key.replace("${filename}", filename.replace("\\", "/").rsplit("/", 1)[-1])
    lowered["key"] = key
    form = PostForm(_params(bucket, key, lowered), fields=lowered)
    if "policy" in lowered:
        _check_policy(form, lowered["policy"], bucket, fields, now)
    return form


def _params(bucket: str, key: str, fields: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    for name, member in _SETS.items():
        if fields.get(name):
            params[member] = fields[name]
    if "Expires" in params:
        try:
            params["Expires"] = _http_date(params["Expires"])
        except ValueError:
            del params["Expires"]  # S3 ignores an Expires it cannot read, as for PutObject
    if fields.get("tagging"):
        params["Tagging"] = tagging_query(fields["tagging"])
    metadata = {
        n[len("x-amz-meta-") :]: v for n, v in fields.items() if n.startswith("x-amz-meta-")
    }
    if metadata:
        params["Metadata"] = metadata
    return params


def _http_date(text: str) -> dt.datetime:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise ValueError(text) from None


def _invalid_policy(detail: str) -> ServiceError:
    return ServiceError("InvalidPolicyDocument", f"Invalid Policy: {detail}", 400)


def _denied(detail: str) -> ServiceError:
    return ServiceError("AccessDenied", f"Invalid according to Policy: {detail}", 403)


def _check_policy(
    form: PostForm, encoded: str, bucket: str, sent: dict[str, str], now: float
) -> None:
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise _invalid_policy("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid_policy("Invalid JSON.")
    if "expiration" not in document:
        raise _invalid_policy("Policy missing expiration.")
    if "conditions" not in document or not isinstance(document["conditions"], list):
        raise _invalid_policy("Policy missing conditions.")
    expiration = document["expiration"]
    try:
        expires = dt.datetime.fromisoformat(str(expiration).replace("Z", "+00:00"))
        if expires.tzinfo is None:
            raise ValueError(expiration)
    except ValueError:
        raise _invalid_policy(f"Invalid 'expiration' value: '{expiration}'") from None
    if expires.timestamp() < now:
        raise _denied("Policy expired.")
    values = {**form.fields, "bucket": bucket}
    named: set[str] = set()
    for condition in document["conditions"]:
        operator, name, expected = _condition(condition)
        if operator == "content-length-range":
            form.min_size, form.max_size = expected
            continue
        named.add(name.lower())
        value = values.get(name.lower())
        if value is None or not _holds(operator, name, value, expected):
            raise _denied(f"Policy Condition failed: {_shown(operator, name, expected)}")
    for name in sent:
        lowered = name.lower()
        if lowered in _UNCHECKED or lowered.startswith("x-ignore-") or lowered in named:
            continue
        raise _denied(f"Extra input fields: {name}")


def _condition(condition: object) -> tuple[str, str, Any]:
    """(operator, field name without "$", value) of one condition."""
    if isinstance(condition, dict):
        if len(condition) != 1:
            raise _invalid_policy("Invalid Condition: a condition object must name one field.")
        ((name, value),) = condition.items()
        if not isinstance(value, str):
            raise _invalid_policy("Invalid JSON.")
        return "eq", name.lstrip("$"), value
    if not isinstance(condition, list) or len(condition) != 3:
        raise _invalid_policy("Invalid Condition.")
    operator = str(condition[0]).lower()
    if operator == "content-length-range":
        low, high = condition[1], condition[2]
        bounds = []
        for bound in (low, high):
            if isinstance(bound, str) and bound.isdigit():
                bound = int(bound)
            if not isinstance(bound, int) or isinstance(bound, bool) or bound < 0:
                raise _invalid_policy("Invalid JSON.")
            bounds.append(bound)
        return operator, "", tuple(bounds)
    if operator not in ("eq", "starts-with"):
        raise _invalid_policy(f"Invalid Condition: unknown operator {condition[0]!r}.")
    name, value = condition[1], condition[2]
    if not isinstance(name, str) or not name.startswith("$") or not isinstance(value, str):
        raise _invalid_policy("Invalid Condition.")
    return operator, name[1:], value


def _holds(operator: str, name: str, value: str, expected: str) -> bool:
    if operator == "eq":
        return value == expected
    if name.lower() == "content-type":
        return all(item.strip().startswith(expected) for item in value.split(","))
    return value.startswith(expected)


def _shown(operator: str, name: str, expected: str) -> str:
    """A condition as S3's message writes it: ``["eq", "$key", "a.txt"]``."""
    return json.dumps([operator, f"${name}", expected])
