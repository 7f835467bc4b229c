"""Archives and replays. An archive keeps the events of its bus that match its pattern
(all of them without one), written in the PutEvents transaction; RetentionDays ages
them out (0 keeps them). A replay sends an archive's events of a time range back to
their bus, each with ``replay-name`` added, to the rules that match (only those in
``Destination.FilterArns`` when given). It runs in batches on the platform's timers
(``events:replay``): each batch's deliveries and the replay's position commit together,
so a replay cut short by a restart resumes where it stopped. Replayed events are not
archived again."""

from __future__ import annotations

import datetime as dt
import json
import time

from sandlot.events.patterns import compile_event_pattern
from sandlot.events.timers import Timer
from sandlot.protocol import ServiceError
from sandlot.services.events.base import (
    already_exists,
    not_found,
    parse_bus,
    validation,
)
from sandlot.services.events.buses import _page
from sandlot.services.events.putevents import PutEventsOperations
from sandlot.services.events.rules import _pattern
from sandlot.services.events.schema import ARCHIVED, ARCHIVES, REPLAYS
from sandlot.services.provider import RequestContext

REPLAY_TIMER = "events:replay"
REPLAY_BATCH = 100  # events per step (one transaction)
DAY_S = 86_400


def _stamp(value) -> float:
    return value.timestamp() if isinstance(value, dt.datetime) else float(value)


def _archive_output(row: dict, counts: tuple[int, int] | None = None) -> dict:
    out = {
        "ArchiveArn": row["arn"],
        "ArchiveName": row["name"],
        "EventSourceArn": row["source"],
        "State": "ENABLED",
        "RetentionDays": row["retention_days"],
        "CreationTime": row["created"],
    }
    if row["description"]:
        out["Description"] = row["description"]
    if row["pattern"]:
        out["EventPattern"] = row["pattern"]
    if counts is not None:
        out["EventCount"], out["SizeBytes"] = counts
    return out


def _replay_output(row: dict) -> dict:
    out = {
        "ReplayName": row["name"],
        "ReplayArn": row["arn"],
        "State": row["state"],
        "EventSourceArn": row["source"],
        "Destination": json.loads(row["destination"]),
        "EventStartTime": row["start"],
        "EventEndTime": row["end"],
        "ReplayStartTime": row["started"],
    }
    for key, column in (
        ("Description", "description"),
        ("StateReason", "reason"),
        ("EventLastReplayedTime", "last_replayed"),
        ("ReplayEndTime", "ended"),
    ):
        if row.get(column):
            out[key] = row[column]
    return out


class ArchiveOperations(PutEventsOperations):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.timers.register(REPLAY_TIMER, self._replay_step)
        self._archives: dict[str, list[tuple[dict, object]]] = {}  # by bus ARN
        self._seq = 0  # archived events' order: clock-based, unique, across restarts

    # -- archives ---------------------------------------------------------------------

    def create_archive(self, ctx: RequestContext, params: dict) -> dict:
        region, account, bus_name = parse_bus(ctx, params["EventSourceArn"])
        bus = self.bus_row(region, account, bus_name)
        if bus is None or account != ctx.account_id:
            raise not_found(f"Event bus {bus_name} does not exist.")
        if params.get("EventPattern"):
            _pattern(params["EventPattern"])
        name = params["ArchiveName"]
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "arn": f"arn:aws:events:{ctx.region}:{ctx.account_id}:archive/{name}",
            "source": bus["arn"],
            "description": params.get("Description"),
            "pattern": params.get("EventPattern"),
            "retention_days": int(params.get("RetentionDays") or 0),
            "created": time.time(),
        }
        if not self.store.put(ARCHIVES, row, replace=False):
            raise already_exists(f"Archive {name} already exists.")
        self._archives.pop(bus["arn"], None)
        return {"ArchiveArn": row["arn"], "State": "ENABLED", "CreationTime": row["created"]}

    def _archive(self, ctx: RequestContext, name: str) -> dict:
        row = self.store.get(ARCHIVES, ctx.account_id, ctx.region, name)
        if row is None:
            raise not_found(f"Archive {name} does not exist.")
        return row

    def describe_archive(self, ctx: RequestContext, params: dict) -> dict:
        row = self._archive(ctx, params["ArchiveName"])
        self._expire(row)
        rows = self.store.select(ARCHIVED, {"archive": row["arn"]})
        counts = (len(rows), sum(len(r["event"].encode()) for r in rows))
        return _archive_output(row, counts)

    def list_archives(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(
            ARCHIVES, {"account": ctx.account_id, "region": ctx.region}, order_by=("name",)
        )
        prefix = params.get("NamePrefix") or ""
        source = params.get("EventSourceArn")
        found = [
            _archive_output(r)
            for r in rows
            if r["name"].startswith(prefix) and (not source or r["source"] == source)
        ]
        if params.get("State") and params["State"] != "ENABLED":
            found = []
        return _page(found, "Archives", params)

    def update_archive(self, ctx: RequestContext, params: dict) -> dict:
        row = self._archive(ctx, params["ArchiveName"])
        if params.get("EventPattern"):
            _pattern(params["EventPattern"])
            row["pattern"] = params["EventPattern"]
        if "Description" in params:
            row["description"] = params["Description"]
        if params.get("RetentionDays") is not None:
            row["retention_days"] = int(params["RetentionDays"])
        self.store.put(ARCHIVES, row)
        self._archives.pop(row["source"], None)
        return {"ArchiveArn": row["arn"], "State": "ENABLED", "CreationTime": row["created"]}

    def delete_archive(self, ctx: RequestContext, params: dict) -> dict:
        row = self._archive(ctx, params["ArchiveName"])
        with self.store.transaction():
            self.store.delete_where(ARCHIVED, {"archive": row["arn"]})
            self.store.delete(ARCHIVES, row["account"], row["region"], row["name"])
        self._archives.pop(row["source"], None)
        return {}

    def _expire(self, row: dict) -> None:
        if row["retention_days"]:
            cutoff = time.time() - row["retention_days"] * DAY_S
            self.store.delete_where(
                ARCHIVED, {"archive": row["arn"]}, bounds={"at": (None, cutoff)}
            )

    def archives_of(self, bus_arn: str) -> list[tuple[dict, object]]:
        cached = self._archives.get(bus_arn)
        if cached is None:
            rows = self.store.select(ARCHIVES, {"source": bus_arn})
            cached = [
                (r, compile_event_pattern(r["pattern"]) if r["pattern"] else None) for r in rows
            ]
            self._archives[bus_arn] = cached
        return cached

    def dispatch(self, bus: dict, event: dict, ingested: float, trace: str | None = None) -> int:
        matched = super().dispatch(bus, event, ingested, trace)
        if "replay-name" not in event:
            for archive, pattern in self.archives_of(bus["arn"]):
                if pattern is None or pattern.matches(event):
                    self._seq = max(self._seq + 1, int(time.time() * 1e6))
                    self.store.put(
                        ARCHIVED,
                        {"archive": archive["arn"], "seq": self._seq, "at": ingested,
                         "event": json.dumps(event, ensure_ascii=False)},
                    )  # fmt: skip
        return matched

    # -- replays ----------------------------------------------------------------------

    def start_replay(self, ctx: RequestContext, params: dict) -> dict:
        source = params["EventSourceArn"]
        archive_name = source.rsplit("/", 1)[-1]
        archive = self.store.get(ARCHIVES, ctx.account_id, ctx.region, archive_name)
        if archive is None or archive["arn"] != source:
            raise not_found(f"Archive {archive_name} does not exist.")
        start, end = _stamp(params["EventStartTime"]), _stamp(params["EventEndTime"])
        if start >= end:
            raise validation(
                "Parameter EventStartTime is not valid. Reason: EventStartTime must be before "
                "EventEndTime."
            )
        destination = params["Destination"]
        if destination.get("Arn") != archive["source"]:
            raise validation(
                "Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not "
                "permitted."
            )
        name = params["ReplayName"]
        now = time.time()
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "arn": f"arn:aws:events:{ctx.region}:{ctx.account_id}:replay/{name}",
            "description": params.get("Description"),
            "source": source,
            "destination": json.dumps(destination),
            "start": start,
            "end": end,
            "state": "STARTING",
            "reason": None,
            "started": now,
            "ended": None,
            "last_replayed": None,
            "position": 0,
        }
        with self.store.transaction():
            if not self.store.put(REPLAYS, row, replace=False):
                raise already_exists(f"Replay {name} already exists.")
            self.platform.timers.arm(REPLAY_TIMER, row["arn"], now, {"name": name})
        return {"ReplayArn": row["arn"], "State": "STARTING", "ReplayStartTime": now}

    def _replay(self, ctx: RequestContext, name: str) -> dict:
        row = self.store.get(REPLAYS, ctx.account_id, ctx.region, name)
        if row is None:
            raise not_found(f"Replay {name} does not exist.")
        return row

    def describe_replay(self, ctx: RequestContext, params: dict) -> dict:
        return _replay_output(self._replay(ctx, params["ReplayName"]))

    def list_replays(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(
            REPLAYS, {"account": ctx.account_id, "region": ctx.region}, order_by=("name",)
        )
        prefix, state = params.get("NamePrefix") or "", params.get("State")
        source = params.get("EventSourceArn")
        found = [
            {
                k: v
                for k, v in _replay_output(r).items()
                if k not in ("ReplayArn", "Description", "Destination")
            }  # fmt: skip
            for r in rows
            if r["name"].startswith(prefix)
            and (not state or r["state"] == state)
            and (not source or r["source"] == source)
        ]
        return _page(found, "Replays", params)

    def cancel_replay(self, ctx: RequestContext, params: dict) -> dict:
        row = self._replay(ctx, params["ReplayName"])
        if row["state"] not in ("STARTING", "RUNNING"):
            raise ServiceError(
                "IllegalStatusException",
                f"Replay {row['name']} is not in a state that can be cancelled.",
            )
        row["state"] = "CANCELLING"
        self.store.put(REPLAYS, row)
        return {"ReplayArn": row["arn"], "State": "CANCELLING"}

    def _replay_step(self, timer: Timer) -> None:
        """One batch of a replay (in the transaction that retires its timer)."""
        parts = timer.key.split(":", 5)
        row = self.store.get(REPLAYS, parts[4], parts[3], timer.data["name"])
        if row is None or row["state"] not in ("STARTING", "RUNNING", "CANCELLING"):
            return
        now = time.time()
        if row["state"] == "CANCELLING":
            self.store.put(REPLAYS, {**row, "state": "CANCELLED", "ended": now})
            return
        archive_name = row["source"].rsplit("/", 1)[-1]
        archive = self.store.get(ARCHIVES, row["account"], row["region"], archive_name)
        if archive is None:
            self.store.put(REPLAYS, {**row, "state": "FAILED", "ended": now,
                                     "reason": "The archive was deleted."})  # fmt: skip
            return
        batch = self.store.select(
            ARCHIVED,
            {"archive": archive["arn"]},
            order_by=("seq",),
            after={"seq": row["position"]},
            limit=REPLAY_BATCH,
        )
        destination = json.loads(row["destination"])
        filters = set(destination.get("FilterArns") or [])
        region, account, bus_name = parse_bus_arn(destination["Arn"])
        bus = self.bus_row(region, account, bus_name)
        last = row["last_replayed"]
        for archived in batch:
            if not row["start"] <= archived["at"] < row["end"] or bus is None:
                continue
            event = {**json.loads(archived["event"]), "replay-name": row["name"]}
            text = None
            for rule in self.rules_of(bus["account"], bus["region"], bus["name"]):
                if filters and rule.arn not in filters:
                    continue
                if rule.enabled and rule.pattern is not None and rule.pattern.matches(event):
                    text = text or json.dumps(event, ensure_ascii=False)
                    self._stage_targets(rule, event, text, now)
            last = archived["at"]
        position = batch[-1]["seq"] if batch else row["position"]
        done = len(batch) < REPLAY_BATCH
        self.store.put(
            REPLAYS,
            {**row, "state": "COMPLETED" if done else "RUNNING", "position": position,
             "last_replayed": last, "ended": now if done else None},
        )  # fmt: skip
        if not done:
            self.platform.timers.arm(REPLAY_TIMER, row["arn"], now, timer.data)


def parse_bus_arn(arn: str) -> tuple[str, str, str]:
    parts = arn.split(":", 5)
    return parts[3], parts[4], parts[5].removeprefix("event-bus/")
