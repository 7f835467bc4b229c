"""What every part of the IAM provider shares: ids, ARNs, errors, entity rows, paging."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import time
from typing import Any
from urllib.parse import quote

from sandlot.iam.policy import MalformedPolicyError, compile_policy
from sandlot.protocol import ServiceError
from sandlot.protocol.constraints import validated
from sandlot.services.iam.schema import ENTITIES, MIGRATIONS
from sandlot.services.provider import Provider

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Unique-id prefixes AWS uses per entity kind.
ID_PREFIX = {"user": "AIDA", "group": "AGPA", "role": "AROA", "policy": "ANPA"}
_TITLE = {"user": "User", "group": "Group", "role": "Role"}
MAX_TAGS = 50


def _validation(message: str) -> ServiceError:
    return ServiceError("ValidationError", message)


# IAM answers broken model constraints (name patterns, lengths, ranges) with ValidationError.
checked = validated(_validation)


def new_id(kind: str) -> str:
    """A random unique id as AWS forms them: a 4-letter prefix and 17 characters."""
    return ID_PREFIX[kind] + "".join(secrets.choice(_ALPHABET) for _ in range(17))


def timestamp(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def encode_document(document: str) -> str:
    """Policy documents travel URL-encoded in IAM's responses (botocore decodes them)."""
    return quote(document, safe="-_.~")


def no_such_entity(message: str) -> ServiceError:
    return ServiceError("NoSuchEntity", message, 404)


def not_found(kind: str, name: str) -> ServiceError:
    return no_such_entity(f"The {kind} with name {name} cannot be found.")


def already_exists(message: str) -> ServiceError:
    return ServiceError("EntityAlreadyExists", message, 409)


def delete_conflict(message: str) -> ServiceError:
    return ServiceError("DeleteConflict", message, 409)


def limit_exceeded(message: str) -> ServiceError:
    return ServiceError("LimitExceeded", message, 409)


def invalid_input(message: str) -> ServiceError:
    return ServiceError("InvalidInput", message)


SERVICE_ROLE_PATH = "/aws-service-role/"


def check_modifiable(row: dict) -> None:
    """A service-linked role changes only through its service (its description aside)."""
    if row["kind"] == "role" and row["path"].startswith(SERVICE_ROLE_PATH):
        raise ServiceError(
            "UnmodifiableEntity",
            f"Cannot perform the operation on the protected role '{row['name']}' - "
            "this role is only modifiable by AWS",
        )


def check_document(document: str, kind: str = "identity") -> None:
    """Refuse what IAM refuses with MalformedPolicyDocument (compiling also warms the cache)."""
    try:
        compile_policy(document, kind)  # type: ignore[arg-type]
    except MalformedPolicyError as error:
        raise ServiceError("MalformedPolicyDocument", str(error)) from None


def check_size(document: str, limit: int, message: str) -> None:
    """IAM counts a policy's size without whitespace."""
    if len("".join(document.split())) > limit:
        raise limit_exceeded(message)


def check_tags(tags: list[dict]) -> None:
    keys = [t["Key"] for t in tags]
    if len({k.lower() for k in keys}) != len(keys):
        raise invalid_input(
            "Duplicate tag keys found. Please note that Tag keys are case insensitive."
        )
    if len(tags) > MAX_TAGS:
        raise limit_exceeded(f"Cannot exceed quota for TagsPerEntity: {MAX_TAGS}")


def merge_tags(current: list[dict], new: list[dict]) -> list[dict]:
    """``current`` with ``new`` added or overwriting by key (case-insensitively), in order."""
    merged = {t["Key"].lower(): t for t in current}
    for tag in new:
        merged[tag["Key"].lower()] = {"Key": tag["Key"], "Value": tag.get("Value", "")}
    return list(merged.values())


def remove_tags(current: list[dict], keys: list[str]) -> list[dict]:
    """``current`` without the tags named in ``keys`` (case-insensitively)."""
    gone = {k.lower() for k in keys}
    return [t for t in current if t["Key"].lower() not in gone]


def page(items: list[dict], params: dict, key: str) -> tuple[list[dict], dict[str, Any]]:
    """IAM's Marker/MaxItems paging over ``items`` sorted by ``key``.

    The marker is the key of the first item not returned (opaque to clients), so pages
    stay consistent when earlier items are deleted between calls.
    """
    start = 0
    if params.get("Marker"):
        try:
            resume = base64.urlsafe_b64decode(params["Marker"].encode()).decode()
        except ValueError:
            raise invalid_input("Invalid Marker.") from None
        start = next((i for i, item in enumerate(items) if item[key] >= resume), len(items))
    size = params.get("MaxItems") or 100
    chosen = items[start : start + size]
    if start + size < len(items):
        marker = base64.urlsafe_b64encode(items[start + size][key].encode()).decode()
        return chosen, {"IsTruncated": True, "Marker": marker}
    return chosen, {"IsTruncated": False}


class IamBase(Provider):
    """Entity rows (users, groups, roles) and the clock, shared by the mixins."""

    service = "iam"
    constraint_error = staticmethod(_validation)  # checked before IAM's own authorization

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.store = platform.store
        self.store.migrate("iam", MIGRATIONS)
        self.clock = time.time

    def entity(self, account: str, kind: str, name: str) -> dict:
        """The row of a user, group or role; NoSuchEntity when there is none."""
        row = self.store.get(ENTITIES, account, kind, name.lower())
        if row is None:
            raise not_found(kind, name)
        return row

    def entities(self, account: str, kind: str, path_prefix: str = "/") -> list[dict]:
        rows = self.store.select(
            ENTITIES, {"account_id": account, "kind": kind}, order_by=("name_key",)
        )
        return [r for r in rows if r["path"].startswith(path_prefix)]

    def create_entity(self, account: str, kind: str, params: dict, **columns: Any) -> dict:
        """Insert a new user, group or role row; EntityAlreadyExists when the name is taken."""
        name = params[f"{_TITLE[kind]}Name"]
        path = params.get("Path", "/")
        tags = params.get("Tags", [])
        check_tags(tags)
        row = {
            "account_id": account,
            "kind": kind,
            "name_key": name.lower(),
            "name": name,
            "path": path,
            "entity_id": new_id(kind),
            "arn": f"arn:aws:iam::{account}:{kind}{path}{name}",
            "created_at": self.clock(),
            "tags": json.dumps(tags),
            **columns,
        }
        if not self.store.put(ENTITIES, row, replace=False):
            raise already_exists(f"{_TITLE[kind]} with name {name} already exists.")
        return row
