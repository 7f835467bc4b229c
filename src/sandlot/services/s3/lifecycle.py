"""Bucket lifecycle configuration (Put/Get/DeleteBucketLifecycleConfiguration), executed.

Rules are validated as S3 validates them and stored as given. S3 evaluates a bucket's
rules once a day, at midnight UTC, and an action's time is the object's time plus the
rule's days rounded UP to the next midnight ("Lifecycle configuration elements" in the
S3 User Guide): an object written 1 Jan 10:30 with ``Days: 1`` expires 3 Jan 00:00.
Here one durable timer per bucket (kind ``s3:lifecycle``, key the bucket name) fires at
every midnight while the bucket has a configuration and applies what is due:

- ``Expiration`` (``Days``/``Date``) of the current version: deleted in an unversioned
  bucket, a delete marker added in a versioned one (a null one when suspended);
- ``Expiration.ExpiredObjectDeleteMarker``: a delete marker with no other version left
  is removed;
- ``NoncurrentVersionExpiration``: a version noncurrent for ``NoncurrentDays`` (counted
  from its successor's creation) is removed, keeping the ``NewerNoncurrentVersions``
  newest noncurrent ones;
- ``AbortIncompleteMultipartUpload``: uploads older than ``DaysAfterInitiation`` are
  aborted.

Transitions (``Transitions``/``NoncurrentVersionTransitions``) are validated, stored and
returned, but sandlot has one storage class: nothing is moved. The length of a "day" is
the ``s3_lifecycle_day_seconds`` setting (86400; tests shorten it, midnights are then the
multiples of it since the epoch). Expirations send the ``s3:LifecycleExpiration:Delete``
and ``:DeleteMarkerCreated`` event notifications, from ``s3.amazonaws.com``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import secrets
from typing import Any

from sandlot.events.timers import Timer
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.s3.base import S3Base, load_meta
from sandlot.services.s3.errors import invalid_argument, invalid_request, malformed_xml
from sandlot.services.s3.schema import BUCKETS, OBJECTS, UPLOADS

TIMER = "s3:lifecycle"
MAX_RULES = 1000
MAX_ID = 255
STORAGE_CLASSES = frozenset(
    {
        "GLACIER", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "DEEP_ARCHIVE",
        "GLACIER_IR",
    }
)  # fmt: skip
_MIN_SIZE = ("all_storage_classes_128K", "varies_by_storage_class")


def _positive(value: Any, message: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise invalid_argument(message)
    return value


def _epoch(value: Any) -> float:
    if isinstance(value, str):  # a date from a template (CloudFormation passes text)
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise invalid_argument("'Date' must be at midnight GMT") from None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=value.tzinfo or dt.UTC).timestamp()
    return float(value)


def _check_filter(rule: dict) -> dict:
    """The rule's filter as ``{"Prefix", "Tags", "Greater", "Less"}``; S3 takes either the
    legacy ``Prefix`` or a ``Filter`` holding exactly one condition (or ``And``)."""
    if "Filter" in rule and "Prefix" in rule:
        raise malformed_xml()
    if "Filter" not in rule:
        if "Prefix" not in rule:
            raise malformed_xml()
        return {"Prefix": rule["Prefix"] or "", "Tags": []}
    given = rule["Filter"] or {}
    if len(given) > 1:
        raise malformed_xml()
    if "And" in given:
        conditions = given["And"] or {}
        tags = conditions.get("Tags") or []
        if len(tags) + sum(k in conditions for k in ("Prefix", "ObjectSizeGreaterThan",
                                                       "ObjectSizeLessThan")) < 2:  # fmt: skip
            raise malformed_xml()
    else:
        conditions = dict(given)
        tags = [conditions.pop("Tag")] if "Tag" in conditions else []
    keys = [t.get("Key") for t in tags]
    if len(set(keys)) != len(keys):
        raise invalid_request("Duplicate Tag Keys are not allowed.")
    greater = conditions.get("ObjectSizeGreaterThan")
    less = conditions.get("ObjectSizeLessThan")
    if greater is not None and less is not None and greater >= less:
        raise invalid_argument(
            "ObjectSizeGreaterThan must be less than ObjectSizeLessThan in the same rule"
        )
    return {"Prefix": conditions.get("Prefix") or "", "Tags": tags, "Greater": greater,
            "Less": less}  # fmt: skip


def _check_rule(rule: dict) -> None:
    if rule.get("Status") not in ("Enabled", "Disabled"):
        raise malformed_xml()
    if len(rule.get("ID") or "") > MAX_ID:
        raise invalid_argument("ID length should not exceed allowed limit of 255")
    scope = _check_filter(rule)
    actions = ("Expiration", "Transitions", "NoncurrentVersionExpiration",
               "NoncurrentVersionTransitions", "AbortIncompleteMultipartUpload")  # fmt: skip
    if not any(rule.get(a) for a in actions):
        raise invalid_request("At least one action needs to be specified in a rule")
    expiration = rule.get("Expiration")
    if expiration is not None:
        given = [k for k in ("Days", "Date", "ExpiredObjectDeleteMarker") if k in expiration]
        if len(given) != 1:
            raise malformed_xml()
        if "Days" in expiration:
            _positive(expiration["Days"], "'Days' for Expiration action must be a positive integer")
        if "Date" in expiration:
            _check_midnight(expiration["Date"])
        if "ExpiredObjectDeleteMarker" in expiration and scope["Tags"]:
            raise invalid_request("ExpiredObjectDeleteMarker cannot be specified with tags.")
    noncurrent = rule.get("NoncurrentVersionExpiration")
    if noncurrent is not None:
        _positive(
            noncurrent.get("NoncurrentDays"),
            "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
        )
        newer = noncurrent.get("NewerNoncurrentVersions")
        if newer is not None and not 1 <= newer <= 100:
            raise invalid_argument("NewerNoncurrentVersions must be between 1 and 100")
    abort = rule.get("AbortIncompleteMultipartUpload")
    if abort is not None:
        if scope["Tags"]:
            raise invalid_request("AbortIncompleteMultipartUpload cannot be specified with Tags.")
        _positive(
            abort.get("DaysAfterInitiation"),
            "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive "
            "integer",
        )
    for member, days in (("Transitions", "Days"), ("NoncurrentVersionTransitions",
                                                    "NoncurrentDays")):  # fmt: skip
        for transition in rule.get(member) or []:
            if transition.get("StorageClass") not in STORAGE_CLASSES:
                raise malformed_xml()
            value = transition.get(days)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise invalid_argument(f"'{days}' in {member} action must be nonnegative")
            if "Date" in transition:
                _check_midnight(transition["Date"])


def _check_midnight(value: Any) -> None:
    if _epoch(value) % 86400:
        raise invalid_argument("'Date' must be at midnight GMT")


def _stored(rules: list[dict]) -> list[dict]:
    """The rules as kept (JSON): dates as epoch seconds, every rule with an ID (S3 makes
    one up when the rule has none)."""
    out = []
    for rule in rules:
        rule = json.loads(json.dumps(rule, default=_epoch))
        rule.setdefault("ID", secrets.token_urlsafe(36))
        out.append(rule)
    return out


def _applies(rule: dict, key: str, row: dict) -> bool:
    """Whether the enabled ``rule``'s filter selects version ``row`` of ``key``."""
    if rule["Status"] != "Enabled":
        return False
    scope = _check_filter(rule)
    if not key.startswith(scope["Prefix"]):
        return False
    if scope["Tags"]:
        tags = {t["Key"]: t["Value"] for t in load_meta(row).get("Tags") or []}
        if any(tags.get(t["Key"]) != t.get("Value", "") for t in scope["Tags"]):
            return False
    if scope.get("Greater") is not None and not row["size"] > scope["Greater"]:
        return False
    return scope.get("Less") is None or row["size"] < scope["Less"]


class LifecycleOperations(S3Base):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.day = max(float(platform.settings.s3_lifecycle_day_seconds), 1e-3)
        platform.timers.register(TIMER, self._lifecycle_due)

    def _midnight_after(self, epoch: float) -> float:
        """The first midnight at or after ``epoch`` (S3 rounds action times up to one)."""
        return math.ceil(epoch / self.day) * self.day

    def _next_run(self) -> float:
        return (math.floor(self.clock() / self.day) + 1) * self.day

    # -- operations -----------------------------------------------------------------------

    def put_bucket_lifecycle_configuration(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        rules = (params.get("LifecycleConfiguration") or {}).get("Rules") or []
        if not rules or len(rules) > MAX_RULES:
            raise malformed_xml()
        for rule in rules:
            _check_rule(rule)
        ids = [r["ID"] for r in rules if r.get("ID")]
        if len(set(ids)) != len(ids):
            raise invalid_argument("Rule ID must be unique. Found same ID for more than one rule")
        minimum = params.get("TransitionDefaultMinimumObjectSize") or _MIN_SIZE[0]
        if minimum not in _MIN_SIZE:
            raise invalid_request("Invalid TransitionDefaultMinimumObjectSize")
        stored = {"Rules": _stored(rules), "TransitionDefaultMinimumObjectSize": minimum}
        with self.store.transaction():
            self.store.put(BUCKETS, {**bucket, "lifecycle": json.dumps(stored)})
            self.platform.timers.arm(TIMER, bucket["name"], self._next_run())
        return {"TransitionDefaultMinimumObjectSize": minimum}

    def get_bucket_lifecycle_configuration(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        if not bucket.get("lifecycle"):
            raise ServiceError(
                "NoSuchLifecycleConfiguration",
                "The lifecycle configuration does not exist",
                404,
                BucketName=bucket["name"],
            )
        return json.loads(bucket["lifecycle"])

    def delete_bucket_lifecycle(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        with self.store.transaction():
            self.store.put(BUCKETS, {**bucket, "lifecycle": None})
            self.platform.timers.cancel(TIMER, bucket["name"])
        return {}

    # -- what reads and writes answer -----------------------------------------------------

    def expiration_of(self, bucket: dict, row: dict) -> str | None:
        """The ``x-amz-expiration`` value for current version ``row``: when the earliest
        enabled Days/Date rule that selects it expires it, and that rule's id."""
        if not bucket.get("lifecycle") or row["marker"]:
            return None
        found: tuple[float, str] | None = None
        for rule in json.loads(bucket["lifecycle"])["Rules"]:
            due = self._current_due(rule, row)
            if due is not None and (found is None or due < found[0]):
                found = (due, rule["ID"])
        if found is None:
            return None
        date = dt.datetime.fromtimestamp(found[0], dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
        return f'expiry-date="{date}", rule-id="{found[1]}"'

    def _current_due(self, rule: dict, row: dict) -> float | None:
        expiration = rule.get("Expiration") or {}
        if not _applies(rule, row["key"], row):
            return None
        if "Days" in expiration:
            return self._midnight_after(row["modified"] + expiration["Days"] * self.day)
        if "Date" in expiration:
            return float(expiration["Date"])
        return None

    # -- execution ------------------------------------------------------------------------

    async def _lifecycle_due(self, timer: Timer) -> None:
        """A midnight: apply the bucket's due actions, then wait for the next one. At
        least once is harmless: every action re-reads the state it acts on."""
        bucket = self.store.get(BUCKETS, timer.key)
        if bucket is None or not bucket.get("lifecycle"):
            return
        self.apply_lifecycle(bucket, self.clock())
        with self.store.transaction():
            current = self.store.get(BUCKETS, timer.key)
            if current is not None and current.get("lifecycle"):
                self.platform.timers.arm(TIMER, timer.key, self._next_run())

    def _lifecycle_context(self, bucket: dict) -> RequestContext:
        """Who lifecycle actions are by (in their event notifications): S3 itself."""
        return RequestContext(
            request_id=secrets.token_hex(8).upper(),
            account_id=bucket["account"],
            region=bucket["region"],
            principal=Principal.service("s3.amazonaws.com", bucket["account"]),
            service="s3",
            operation="Lifecycle",
            request=None,
        )

    def apply_lifecycle(self, bucket: dict, now: float) -> None:
        rules = json.loads(bucket["lifecycle"])["Rules"]
        name = bucket["name"]
        keys: list[str] = []
        for row in self.store.select(OBJECTS, {"bucket": name}, order_by=("key", "rank")):
            if not keys or keys[-1] != row["key"]:
                keys.append(row["key"])
        for key in keys:
            self._expire_noncurrent(bucket, key, rules, now)
            self._expire_current(bucket, key, rules, now)
        for upload in self.store.select(UPLOADS, {"bucket": name}):
            for rule in rules:
                days = (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation")
                if (
                    days
                    and rule["Status"] == "Enabled"
                    and upload["key"].startswith(_check_filter(rule)["Prefix"])
                    and self._midnight_after(upload["initiated"] + days * self.day) <= now
                ):
                    self.discard_upload(upload)
                    break

    def _expire_noncurrent(self, bucket: dict, key: str, rules: list[dict], now: float) -> None:
        versions = self.versions_of(bucket["name"], key)
        doomed: dict[int, dict] = {}
        for rule in rules:
            action = rule.get("NoncurrentVersionExpiration")
            if not action:
                continue
            keep = action.get("NewerNoncurrentVersions") or 0
            # versions[i] became noncurrent when versions[i - 1] was written.
            for i in range(1 + keep, len(versions)):
                row = versions[i]
                since = versions[i - 1]["modified"]
                due = self._midnight_after(since + action["NoncurrentDays"] * self.day)
                if due <= now and _applies(rule, key, row) and not self.locked(row):
                    doomed[row["rank"]] = row
        for row in doomed.values():
            self.remove_version(
                row,
                bucket=bucket,
                ctx=self._lifecycle_context(bucket),
                event="s3:LifecycleExpiration:Delete",
            )

    def _expire_current(self, bucket: dict, key: str, rules: list[dict], now: float) -> None:
        versions = self.versions_of(bucket["name"], key, limit=2)
        if not versions:
            return
        current = versions[0]
        if current["marker"]:
            if len(versions) == 1 and any(
                (r.get("Expiration") or {}).get("ExpiredObjectDeleteMarker")
                and _applies(r, key, current)
                for r in rules
            ):
                self.remove_version(
                    current,
                    bucket=bucket,
                    ctx=self._lifecycle_context(bucket),
                    event="s3:LifecycleExpiration:Delete",
                )
            return
        dues = [self._current_due(rule, current) for rule in rules]
        if not any(due is not None and due <= now for due in dues):
            return
        ctx = self._lifecycle_context(bucket)
        if bucket["versioning"] is None:  # (Object Lock buckets are always versioned)
            self.remove_version(
                current, bucket=bucket, ctx=ctx, event="s3:LifecycleExpiration:Delete"
            )
            return

        def still_current(now_current: dict | None) -> None:
            if now_current is None or now_current["rank"] != current["rank"]:
                raise _Overtaken  # written or deleted since: evaluated again next midnight

        with contextlib.suppress(_Overtaken):
            self.write_version(
                bucket,
                key,
                {"marker": True},
                blob_id=None,
                guard=still_current,
                notify=(ctx, "s3:LifecycleExpiration:DeleteMarkerCreated"),
            )


class _Overtaken(Exception):
    pass
