"""CloudWatch Logs Live Tail: ``StartLiveTail``'s event stream.

A session is in memory only (as AWS's: it ends with the connection). The response
stream sends one ``sessionStart``, then a ``sessionUpdate`` every second with the
events stored since the last one (an empty ``sessionResults`` when there were none);
more than 500 in a second are sampled down to 500 (``sessionMetadata.sampled``). A
client reading slower than that leaves at most 5,000 events waiting, the oldest
dropped first. After three hours the stream ends with ``SessionTimeoutException``.

Events reach a session from ``PutLogEvents`` (the only way events are stored,
function logs included) once their transaction committed: ``publish_live`` appends
them, filtered by the session's streams and filter pattern, to the session's buffer.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from sandlot.protocol import ServiceError
from sandlot.services.logs.filter_pattern import FilterPatternError, Pattern, compile_pattern
from sandlot.services.logs.storage import Row
from sandlot.services.logs.validation import invalid_parameter, validated
from sandlot.services.provider import RequestContext

UPDATE_INTERVAL_S = 1.0
MAX_UPDATE_EVENTS = 500  # per sessionUpdate; more are sampled down
MAX_BUFFERED_EVENTS = 5_000  # waiting for a slow reader; the oldest are dropped
SESSION_LIMIT_S = 3 * 3600
# Concurrent Live Tail sessions per account and Region (CloudWatch Logs quotas).
MAX_SESSIONS = 15

_GROUP_ARN = re.compile(r"arn:aws[\w-]*:logs:([\w-]+):(\d{12}):log-group:([^:*]+)")


@dataclass(eq=False)
class _Session:
    account: str
    region: str
    group_ids: dict[str, str]  # group_id → the logGroupIdentifier events carry
    names: frozenset[str] | None
    prefixes: tuple[str, ...] | None
    pattern: Pattern
    buffer: deque = field(default_factory=lambda: deque(maxlen=MAX_BUFFERED_EVENTS))

    def wants(self, stream_name: str) -> bool:
        if self.names is not None:
            return stream_name in self.names
        if self.prefixes is not None:
            return stream_name.startswith(self.prefixes)
        return True


class LiveTailOperations:
    """``StartLiveTail`` for ``LogsProvider``; ``publish_live`` is called after events
    are stored."""

    @property
    def _live(self) -> set[_Session]:
        sessions = self.__dict__.get("_live_sessions")
        if sessions is None:
            sessions = self.__dict__["_live_sessions"] = set()
        return sessions

    @validated
    def start_live_tail(self, ctx: RequestContext, params: dict) -> dict:
        identifiers = params["logGroupIdentifiers"]
        names, prefixes = params.get("logStreamNames"), params.get("logStreamNamePrefixes")
        if names is not None and prefixes is not None:
            raise invalid_parameter(
                "logStreamNames and logStreamNamePrefixes are mutually exclusive parameters."
            )
        if (names is not None or prefixes is not None) and len(identifiers) != 1:
            raise invalid_parameter(
                "logStreamNames or logStreamNamePrefixes can only be specified "
                "with exactly one log group identifier."
            )
        group_ids = {}
        for identifier in identifiers:
            group = self._live_group(ctx, identifier)
            group_ids[group["group_id"]] = f"{group['account_id']}:{group['name']}"
        pattern_text = params.get("logEventFilterPattern")
        try:
            pattern = compile_pattern(pattern_text)
        except FilterPatternError as exc:
            raise invalid_parameter(exc.message) from exc
        running = sum(
            1 for s in self._live if (s.account, s.region) == (ctx.account_id, ctx.region)
        )
        if running >= MAX_SESSIONS:
            raise ServiceError(
                "LimitExceededException",
                f"The maximum number of concurrent Live Tail sessions ({MAX_SESSIONS}) "
                "has been reached for this account.",
            )
        session = _Session(
            ctx.account_id,
            ctx.region,
            group_ids,
            frozenset(names) if names is not None else None,
            tuple(prefixes) if prefixes is not None else None,
            pattern,
        )
        start = {
            "requestId": ctx.request_id,
            "sessionId": str(uuid.uuid4()),
            "logGroupIdentifiers": identifiers,
            "logStreamNames": names,
            "logStreamNamePrefixes": prefixes,
            "logEventFilterPattern": pattern_text,
        }
        return {"responseStream": self._tail(session, start)}

    async def _tail(self, session: _Session, start: dict):
        # Registered when the stream starts (an unstarted generator's ``finally`` never
        # runs): from the sessionStart event on, stored events reach the session.
        self._live.add(session)
        try:
            yield {"sessionStart": {k: v for k, v in start.items() if v is not None}}
            ends = time.monotonic() + SESSION_LIMIT_S
            while True:
                left = ends - time.monotonic()
                if left <= 0:
                    raise ServiceError(
                        "SessionTimeoutException",
                        "The Live Tail session timed out after 3 hours.",
                    )
                await asyncio.sleep(min(UPDATE_INTERVAL_S, left))
                events = list(session.buffer)
                session.buffer.clear()
                sampled = len(events) > MAX_UPDATE_EVENTS
                if sampled:  # evenly spread over the second's events, in order
                    step = len(events) / MAX_UPDATE_EVENTS
                    events = [events[int(i * step)] for i in range(MAX_UPDATE_EVENTS)]
                yield {
                    "sessionUpdate": {
                        "sessionMetadata": {"sampled": sampled},
                        "sessionResults": events,
                    }
                }
        finally:
            self._live.discard(session)

    def publish_live(self, group: Row, stream: Row, events: list[Row]) -> None:
        """Hand stored ``events`` to the Live Tail sessions that watch them."""
        if not events or not self._live:
            return
        for session in self._live:
            identifier = session.group_ids.get(group["group_id"])
            if identifier is None or not session.wants(stream["name"]):
                continue
            session.buffer.extend(
                {
                    "logStreamName": stream["name"],
                    "logGroupIdentifier": identifier,
                    "message": row["message"],
                    "timestamp": row["ts"],
                    "ingestionTime": row["ingestion_ms"],
                }
                for row in events
                if session.pattern.matches(row["message"])
            )

    def _live_group(self, ctx: RequestContext, identifier: str) -> Row:
        """The log group a Live Tail identifier names: an ARN, as AWS requires."""
        match = _GROUP_ARN.fullmatch(identifier)
        if match is None:
            raise invalid_parameter(
                f"Log group identifier {identifier} is not a valid log group ARN."
            )
        group = None
        if (match.group(1), match.group(2)) == (ctx.region, ctx.account_id):
            group = self.storage.group(ctx.account_id, ctx.region, match.group(3))
        if group is None:
            raise ServiceError(
                "ResourceNotFoundException", "The specified log group does not exist."
            )
        return group
