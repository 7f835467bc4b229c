"""Amazon CloudWatch Logs: log groups and streams, event ingestion and reads, filter
patterns, retention (enforced) and tags — per account and region.

Reads hide events older than the group's retention at once; ``sweep_retention``
deletes them (and the events of deleted groups and streams) in bounded batches and
is meant to be scheduled periodically by the platform.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services.logs.exports import ExportOperations
from sandlot.services.logs.filter_pattern import FilterPatternError, Pattern, compile_pattern
from sandlot.services.logs.filters import FilterOperations
from sandlot.services.logs.livetail import LiveTailOperations
from sandlot.services.logs.policies import ResourcePolicyOperations
from sandlot.services.logs.queries import QueryOperations
from sandlot.services.logs.storage import LogStorage, Row, message_bytes, position
from sandlot.services.logs.tokens import (
    Position,
    decode_event_token,
    decode_opaque,
    decode_position,
    encode_event_token,
    encode_opaque,
    encode_position,
    event_id,
    invalid_token,
)
from sandlot.services.logs.validation import invalid_parameter, validated, validation_message
from sandlot.services.provider import Provider, RequestContext

# PutLogEvents limits (API reference, PutLogEvents).
MAX_BATCH_BYTES = 1_048_576
MAX_EVENT_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
TOO_OLD_MS = 14 * 24 * 3600 * 1000
TOO_NEW_MS = 2 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653)  # fmt: skip
# Read limits: a page holds at most 10,000 events or 1 MB (26 bytes counted per event).
MAX_PAGE_EVENTS = 10_000
MAX_PAGE_BYTES = 1_048_576
DEFAULT_DESCRIBE_LIMIT = 50
MAX_TAGS = 50
# FilterLogEvents examines at most this many events per call, then returns a token (as
# AWS, a page may be partial or empty while a nextToken says there is more).
FILTER_SCAN_BUDGET = 20_000
SCAN_CHUNK = 1_000
# Events deleted per sweep step; the sweep yields to the event loop between steps.
SWEEP_BATCH = 5_000

_GROUP_ARN = re.compile(r"arn:aws[\w-]*:logs:([\w-]+):(\d{12}):log-group:([^:]+)(?::\*)?")


def _not_found(what: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", f"The specified {what} does not exist.")


def _already_exists(what: str) -> ServiceError:
    return ServiceError("ResourceAlreadyExistsException", f"The specified {what} already exists")


def _group_arn(ctx: RequestContext, name: str) -> str:
    return f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{name}"


class LogsProvider(
    FilterOperations,
    QueryOperations,
    ExportOperations,
    ResourcePolicyOperations,
    LiveTailOperations,
    Provider,
):
    service = "logs"
    constraint_error = staticmethod(invalid_parameter)  # checked before IAM, as AWS does

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.storage = LogStorage(platform.store)
        self._running_queries: dict[str, asyncio.Task] = {}  # Logs Insights runs
        self._exports: dict[str, asyncio.Task] = {}  # export tasks running
        self.clock: Callable[[], float] = time.time  # tests move time

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- log groups ------------------------------------------------------------------

    @validated
    def create_log_group(self, ctx: RequestContext, params: dict) -> dict:
        name = params["logGroupName"]
        if name.startswith("aws/"):
            raise invalid_parameter("Log group names can't start with 'aws/'.")
        _check_tag_count(params.get("tags") or {}, _group_arn(ctx, name))
        created = self.storage.create_group(
            {
                "account_id": ctx.account_id,
                "region": ctx.region,
                "name": name,
                "created_ms": self.now_ms(),
                "kms_key_id": params.get("kmsKeyId"),
                "group_class": params.get("logGroupClass") or "STANDARD",
                "deletion_protection": int(bool(params.get("deletionProtectionEnabled"))),
                "tags": json.dumps(params.get("tags") or {}),
            }
        )
        if not created:
            raise _already_exists("log group")
        return {}

    @validated
    def delete_log_group(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        _check_deletable(group)
        self.storage.delete_group(group, self.now_ms())
        self.storage.purge(SWEEP_BATCH)  # small groups go at once; the sweep does the rest
        return {}

    @validated
    def describe_log_groups(self, ctx: RequestContext, params: dict) -> dict:
        prefix = params.get("logGroupNamePrefix")
        pattern = params.get("logGroupNamePattern")
        identifiers = params.get("logGroupIdentifiers")
        if prefix is not None and pattern is not None:
            raise invalid_parameter(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
            )
        if identifiers is not None and (prefix is not None or pattern is not None):
            raise invalid_parameter(
                "logGroupIdentifiers cannot be combined with a LogGroup name prefix or pattern."
            )
        wanted = {self._identifier_name(ctx, i) for i in identifiers} if identifiers else None
        groups = [
            g
            for g in self.storage.groups(ctx.account_id, ctx.region)
            if (prefix is None or g["name"].startswith(prefix))
            and (pattern is None or pattern in g["name"])
            and (wanted is None or g["name"] in wanted)
            and params.get("logGroupClass") in (None, g["group_class"])
        ]
        page, token = _page(
            groups,
            key=lambda g: [g["name"]],
            token=params.get("nextToken"),
            limit=params.get("limit", DEFAULT_DESCRIBE_LIMIT),
        )
        described = [_describe_group(ctx, g) for g in page]
        if pattern is not None:  # AWS answers a pattern search with these members only
            described = [
                {k: d[k] for k in ("logGroupName", "creationTime", "arn")} for d in described
            ]
        return _present({"logGroups": described, "nextToken": token})

    @validated
    def put_retention_policy(self, ctx: RequestContext, params: dict) -> dict:
        days = params["retentionInDays"]
        if days not in RETENTION_DAYS:
            raise invalid_parameter(
                validation_message(
                    [
                        f"Value '{days}' at 'retentionInDays' failed to satisfy constraint: "
                        f"Member must satisfy enum value set: "
                        f"[{', '.join(map(str, RETENTION_DAYS))}]"
                    ]
                )
            )
        group = self._group(ctx, params["logGroupName"])
        group["retention_days"] = days
        self.storage.save_group(group)
        return {}

    @validated
    def delete_retention_policy(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        group["retention_days"] = None
        self.storage.save_group(group)
        return {}

    @validated
    def put_log_group_deletion_protection(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, self._identifier_name(ctx, params["logGroupIdentifier"]))
        group["deletion_protection"] = int(params["deletionProtectionEnabled"])
        self.storage.save_group(group)
        return {}

    # -- tags ------------------------------------------------------------------------

    @validated
    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group_by_arn(ctx, params["resourceArn"])
        self._update_tags(group, params["tags"], (), params["resourceArn"])
        return {}

    @validated
    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group_by_arn(ctx, params["resourceArn"])
        self._update_tags(group, {}, params["tagKeys"], params["resourceArn"])
        return {}

    @validated
    def list_tags_for_resource(self, ctx: RequestContext, params: dict) -> dict:
        return {"tags": json.loads(self._group_by_arn(ctx, params["resourceArn"])["tags"])}

    @validated
    def tag_log_group(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        self._update_tags(group, params["tags"], (), _group_arn(ctx, group["name"]))
        return {}

    @validated
    def untag_log_group(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        self._update_tags(group, {}, params["tags"], _group_arn(ctx, group["name"]))
        return {}

    @validated
    def list_tags_log_group(self, ctx: RequestContext, params: dict) -> dict:
        return {"tags": json.loads(self._group(ctx, params["logGroupName"])["tags"])}

    def _update_tags(self, group: Row, add: dict, remove, arn: str) -> None:
        tags = json.loads(group["tags"])
        tags.update(add)
        for key in remove:
            tags.pop(key, None)
        _check_tag_count(tags, arn)
        group["tags"] = json.dumps(tags)
        self.storage.save_group(group)

    # -- log streams -----------------------------------------------------------------

    @validated
    def create_log_stream(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        if not self.storage.create_stream(
            group["group_id"], params["logStreamName"], self.now_ms()
        ):
            raise _already_exists("log stream")
        return {}

    @validated
    def delete_log_stream(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        _check_deletable(group)
        stream = self._stream(group, params["logStreamName"])
        self.storage.delete_stream(group, stream, self.now_ms())
        self.storage.purge(SWEEP_BATCH)
        return {}

    @validated
    def describe_log_streams(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group_from(ctx, params)
        prefix = params.get("logStreamNamePrefix")
        by_time = params.get("orderBy", "LogStreamName") == "LastEventTime"
        if by_time and prefix is not None:
            raise invalid_parameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
        streams = [
            s
            for s in self.storage.streams(group["group_id"])
            if prefix is None or s["name"].startswith(prefix)
        ]
        page, token = _page(
            streams,
            key=(lambda s: [s["last_event_ts"] or 0, s["name"]])
            if by_time
            else lambda s: [s["name"]],
            token=params.get("nextToken"),
            limit=params.get("limit", DEFAULT_DESCRIBE_LIMIT),
            descending=bool(params.get("descending")),
        )
        arn = _group_arn(ctx, group["name"])
        return _present(
            {"logStreams": [_describe_stream(arn, s) for s in page], "nextToken": token}
        )

    # -- events ----------------------------------------------------------------------

    @validated
    def put_log_events(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        stream = self._stream(group, params["logStreamName"])
        events = params["logEvents"]
        _check_batch(events)
        now = self.now_ms()
        accepted, rejected = _triage(events, now, group["retention_days"])
        with self.platform.store.transaction():  # the events and their subscriptions' hand-off
            stream, stored = self.storage.append(
                group, stream, ((e["timestamp"], e["message"]) for e in accepted), now
            )
            self.stage_subscriptions(group, stream, stored)
        self.publish_live(group, stream, stored)  # committed: Live Tail sessions see them
        self.publish_metrics(group, stored)
        result: dict[str, Any] = {"nextSequenceToken": _sequence_token(stream["upload_seq"])}
        if rejected:
            result["rejectedLogEventsInfo"] = rejected
        return result

    @validated
    def get_log_events(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group_from(ctx, params)
        stream = self._stream(group, params["logStreamName"])
        start = max(params.get("startTime", 0), self._cutoff(group))
        end = params.get("endTime")  # exclusive
        limit = params.get("limit", MAX_PAGE_EVENTS)
        token = params.get("nextToken")
        if token is not None:
            direction, at = decode_event_token(token)
        else:
            direction, at = ("f" if params.get("startFromHead") else "b"), None
        if direction == "f":
            after = max(at or (start, 0), (start, 0))
            rows = self.storage.forward(stream["stream_id"], after, limit)
            rows = _within_bytes([r for r in rows if end is None or r["ts"] < end])
        else:
            before = at if end is None else min(at or (end, 0), (end, 0))
            rows = self.storage.backward(stream["stream_id"], before, limit)
            rows = _within_bytes([r for r in rows if r["ts"] >= start])[::-1]
        events = [
            {"timestamp": r["ts"], "message": r["message"], "ingestionTime": r["ingestion_ms"]}
            for r in rows
        ]
        forward, backward = _next_event_tokens(rows, token, (start, 0))
        return {"events": events, "nextForwardToken": forward, "nextBackwardToken": backward}

    @validated
    def filter_log_events(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group_from(ctx, params)
        names = self._searched_streams(group, params)
        pattern = _pattern(params.get("filterPattern"))
        start = max(params.get("startTime", 0), self._cutoff(group))
        end = params.get("endTime")  # inclusive
        after: Position = (start, 0)
        if params.get("nextToken") is not None:
            after = max(decode_position(params["nextToken"]), after)
        events, after, finished = self._scan(
            group, names, pattern, after, end, params.get("limit", MAX_PAGE_EVENTS)
        )
        token = None if finished else encode_position(after)
        return _present({"events": events, "searchedLogStreams": [], "nextToken": token})

    def _scan(
        self,
        group: Row,
        names: dict[str, str],
        pattern: Pattern,
        after: Position,
        end: int | None,
        limit: int,
    ) -> tuple[list[dict], Position, bool]:
        """Matching events after ``after``: (events, last position examined, finished)."""
        events: list[dict] = []
        size = scanned = 0
        while True:
            rows = self.storage.scan_group(group["group_id"], after, SCAN_CHUNK)
            for row in rows:
                if end is not None and row["ts"] > end:
                    return events, after, True
                after = position(row)
                scanned += 1
                stream_name = names.get(row["stream_id"])
                if stream_name is not None and pattern.matches(row["message"]):
                    events.append(_filtered_event(stream_name, row))
                    size += message_bytes(row["message"]) + EVENT_OVERHEAD_BYTES
                if len(events) >= limit or size >= MAX_PAGE_BYTES or scanned >= FILTER_SCAN_BUDGET:
                    return events, after, False
            if len(rows) < SCAN_CHUNK:
                return events, after, True

    def _searched_streams(self, group: Row, params: dict) -> dict[str, str]:
        """stream_id → name of the streams a FilterLogEvents call searches."""
        names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise invalid_parameter(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
            )
        return {
            s["stream_id"]: s["name"]
            for s in self.storage.streams(group["group_id"])
            if (names is None or s["name"] in names)
            and (prefix is None or s["name"].startswith(prefix))
        }

    @validated
    def test_metric_filter(self, ctx: RequestContext, params: dict) -> dict:
        pattern = _pattern(params.get("filterPattern"))
        matches = []
        for number, message in enumerate(params["logEventMessages"], start=1):
            extracted = pattern.match(message)
            if extracted is not None:
                matches.append(
                    {"eventNumber": number, "eventMessage": message, "extractedValues": extracted}
                )
        return {"matches": matches}

    # -- retention sweep -------------------------------------------------------------

    async def sweep_retention(self) -> int:
        """Delete events older than their group's retention, and the events of deleted
        groups and streams; returns how many events were deleted.

        Works in batches of ``SWEEP_BATCH`` and yields to the event loop between them,
        so it can run on the server's loop (the platform schedules it periodically).
        """
        deleted = 0
        while (purged := self.storage.purge(SWEEP_BATCH)) > 0:
            deleted += purged
            await asyncio.sleep(0)
        for group in self.storage.all_groups():
            cutoff = self._cutoff(group)
            while cutoff and (expired := self.storage.expire(group, cutoff, SWEEP_BATCH)) > 0:
                deleted += expired
                await asyncio.sleep(0)
        return deleted

    # -- lookups ---------------------------------------------------------------------

    def _cutoff(self, group: Row) -> int:
        """Events before this timestamp are expired (0: the group keeps everything)."""
        days = group["retention_days"]
        return self.now_ms() - days * DAY_MS if days else 0

    def _group(self, ctx: RequestContext, name: str) -> Row:
        group = self.storage.group(ctx.account_id, ctx.region, name)
        if group is None:
            raise _not_found("log group")
        return group

    def _stream(self, group: Row, name: str) -> Row:
        stream = self.storage.stream(group["group_id"], name)
        if stream is None:
            raise _not_found("log stream")
        return stream

    def _group_from(self, ctx: RequestContext, params: dict) -> Row:
        """The group named by ``logGroupName`` or ``logGroupIdentifier`` (one of them)."""
        name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
        if (name is None) == (identifier is None):
            raise invalid_parameter(
                "Exactly one of logGroupName and logGroupIdentifier must be specified."
            )
        return self._group(
            ctx, name if name is not None else self._identifier_name(ctx, identifier)
        )

    def _identifier_name(self, ctx: RequestContext, identifier: str) -> str:
        """A log group name from a name or an ARN (of this account and region)."""
        if not identifier.startswith("arn:"):
            return identifier
        match = _GROUP_ARN.fullmatch(identifier)
        if match is None or match.group(1) != ctx.region or match.group(2) != ctx.account_id:
            raise _not_found("log group")
        return match.group(3)

    def _group_by_arn(self, ctx: RequestContext, arn: str) -> Row:
        match = _GROUP_ARN.fullmatch(arn)
        if match is None:
            raise invalid_parameter(f"Invalid resource ARN: {arn}")
        if match.group(1) != ctx.region or match.group(2) != ctx.account_id:
            raise _not_found("resource")
        group = self.storage.group(ctx.account_id, ctx.region, match.group(3))
        if group is None:
            raise _not_found("resource")
        return group


# -- helpers -------------------------------------------------------------------------


def _check_deletable(group: Row) -> None:
    if group["deletion_protection"]:
        raise ServiceError(
            "ValidationException",
            f"Log group {group['name']} has deletion protection enabled; disable it first.",
        )


def _check_tag_count(tags: dict, arn: str) -> None:
    if len(tags) > MAX_TAGS:
        raise ServiceError(
            "TooManyTagsException",
            f"A resource can have no more than {MAX_TAGS} tags.",
            resourceName=arn,
        )


def _check_batch(events: list[dict]) -> None:
    """PutLogEvents' whole-batch rules: any breach fails the request."""
    total = 0
    for event in events:
        size = message_bytes(event["message"]) + EVENT_OVERHEAD_BYTES
        if size > MAX_EVENT_BYTES:
            raise invalid_parameter(
                f"Log event too large: {size} bytes exceeds limit of {MAX_EVENT_BYTES}"
            )
        total += size
    if total > MAX_BATCH_BYTES:
        raise invalid_parameter(
            f"Upload too large: {total} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )
    timestamps = [event["timestamp"] for event in events]
    if any(b < a for a, b in zip(timestamps, timestamps[1:], strict=False)):
        raise invalid_parameter(
            "Log events in a single PutLogEvents request must be in chronological order."
        )
    if timestamps and timestamps[-1] - timestamps[0] > MAX_BATCH_SPAN_MS:
        raise invalid_parameter(
            "The batch of log events in a single PutLogEvents request cannot span more than "
            "24 hours."
        )


def _triage(
    events: list[dict], now: int, retention_days: int | None
) -> tuple[list[dict], dict[str, int]]:
    """Split a (chronological) batch into accepted events and AWS's
    ``rejectedLogEventsInfo`` for the too-old, expired and too-new ones."""
    too_old_before = now - TOO_OLD_MS
    expired_before = now - retention_days * DAY_MS if retention_days else None
    too_new_after = now + TOO_NEW_MS
    accepted: list[dict] = []
    rejected: dict[str, int] = {}
    for index, event in enumerate(events):
        timestamp = event["timestamp"]
        if timestamp < too_old_before:
            rejected["tooOldLogEventEndIndex"] = index
        elif expired_before is not None and timestamp < expired_before:
            rejected["expiredLogEventEndIndex"] = index
        elif timestamp > too_new_after:
            rejected.setdefault("tooNewLogEventStartIndex", index)
        else:
            accepted.append(event)
    return accepted, rejected


def _sequence_token(uploads: int) -> str:
    return f"{uploads:056d}"


def _within_bytes(rows: list[Row]) -> list[Row]:
    """The leading rows that fit in one 1 MB page (at least one)."""
    size = 0
    for index, row in enumerate(rows):
        size += message_bytes(row["message"]) + EVENT_OVERHEAD_BYTES
        if size > MAX_PAGE_BYTES and index > 0:
            return rows[:index]
    return rows


def _next_event_tokens(rows: list[Row], token: str | None, boundary: Position) -> tuple[str, str]:
    """GetLogEvents' (nextForwardToken, nextBackwardToken).

    With events: after the last and before the first. Without: the token given comes
    back unchanged (AWS's end-of-stream signal), and without one both point at the
    start of the requested range.
    """
    if rows:
        return encode_event_token("f", position(rows[-1])), encode_event_token(
            "b", position(rows[0])
        )
    if token is not None:
        direction, at = decode_event_token(token)
        other = encode_event_token("b" if direction == "f" else "f", at)
        return (token, other) if direction == "f" else (other, token)
    return encode_event_token("f", boundary), encode_event_token("b", boundary)


def _pattern(text: str | None) -> Pattern:
    try:
        return compile_pattern(text)
    except FilterPatternError as exc:
        raise invalid_parameter(exc.message) from exc


def _filtered_event(stream_name: str, row: Row) -> dict:
    return {
        "logStreamName": stream_name,
        "timestamp": row["ts"],
        "message": row["message"],
        "ingestionTime": row["ingestion_ms"],
        "eventId": event_id(position(row)),
    }


def _present(members: dict) -> dict:
    """``members`` without the absent (None) ones, as AWS omits them."""
    return {name: value for name, value in members.items() if value is not None}


def _describe_group(ctx: RequestContext, group: Row) -> dict:
    arn = _group_arn(ctx, group["name"])
    return _present(
        {
            "logGroupName": group["name"],
            "creationTime": group["created_ms"],
            "retentionInDays": group["retention_days"],
            "metricFilterCount": 0,
            "arn": f"{arn}:*",
            "storedBytes": group["stored_bytes"],
            "kmsKeyId": group["kms_key_id"],
            "logGroupClass": group["group_class"],
            "logGroupArn": arn,
            "deletionProtectionEnabled": bool(group["deletion_protection"]),
        }
    )


def _describe_stream(group_arn: str, stream: Row) -> dict:
    return _present(
        {
            "logStreamName": stream["name"],
            "creationTime": stream["created_ms"],
            "firstEventTimestamp": stream["first_event_ts"],
            "lastEventTimestamp": stream["last_event_ts"],
            "lastIngestionTime": stream["last_ingestion_ms"],
            "uploadSequenceToken": _sequence_token(stream["upload_seq"]),
            "arn": f"{group_arn}:log-stream:{stream['name']}",
            "storedBytes": 0,  # AWS no longer reports bytes per stream
        }
    )


def _page(
    items: list[Row],
    *,
    key: Callable[[Row], list],
    token: str | None,
    limit: int,
    descending: bool = False,
) -> tuple[list[Row], str | None]:
    """One page of ``items`` in ``key`` order, after the token's key (keyset)."""
    ordered = sorted(items, key=key, reverse=descending)
    if token is not None:
        last = decode_opaque(token, "k")["k"]
        try:
            ordered = [i for i in ordered if (key(i) < last if descending else key(i) > last)]
        except TypeError as exc:  # a token whose key does not fit this listing
            raise invalid_token() from exc
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, encode_opaque({"k": key(page[-1])}) if more else None
