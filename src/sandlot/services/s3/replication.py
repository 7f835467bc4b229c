"""Replication between sandlot buckets, executed.

A write to a bucket with a replication configuration (``configurations.py`` validates
and stores it) whose enabled rule selects the new version (filter by prefix, tag or
``And``; the highest ``Priority`` wins) is marked ``ReplicationStatus: PENDING`` and a
durable timer (``s3:replicate``, due at once) is armed in the same transaction. Its
handler copies the version into the destination bucket under the SAME version id (a
hard link of the blob; the metadata, encryption included, as it is), marked
``REPLICA``, and marks the source ``COMPLETED``; a destination gone marks it
``FAILED``. Delete markers replicate only with ``DeleteMarkerReplication: Enabled``;
deletes by version id and replicas themselves are not replicated (as AWS). Firing is at
least once: a version already in the destination is not copied again.

Not done: the configuration's ``Role`` is not assumed (the copy is sandlot's own), and
there is no replication time control, metrics or batch replication of existing objects.
"""

from __future__ import annotations

import asyncio
import json
import logging

from sandlot.events.timers import Timer
from sandlot.services.s3.base import Received, S3Base, load_meta
from sandlot.services.s3.schema import BUCKETS, GARBAGE, OBJECTS

TIMER = "s3:replicate"
log = logging.getLogger("sandlot.s3")


def _selects(rule: dict, row: dict) -> bool:
    if rule.get("Status") != "Enabled":
        return False
    given = rule.get("Filter")
    if given is None:
        return row["key"].startswith(rule.get("Prefix") or "")
    conditions = given.get("And") or given
    tags = conditions.get("Tags") or ([conditions["Tag"]] if "Tag" in conditions else [])
    if not row["key"].startswith(conditions.get("Prefix") or ""):
        return False
    have = {t["Key"]: t["Value"] for t in load_meta(row).get("Tags") or []}
    return all(have.get(t["Key"]) == t.get("Value") for t in tags)


class ReplicationOperations(S3Base):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.timers.register(TIMER, self._replicate_due)

    def stage_replication(self, bucket: dict, row: dict) -> None:
        """Inside the writing transaction: mark ``row`` PENDING and arm its copy when a
        rule selects it (``row`` is updated in place)."""
        configuration = json.loads(bucket.get("configurations") or "{}").get("replication")
        if not configuration:
            return
        meta = json.loads(row["meta"] or "{}")
        if meta.get("ReplicationStatus") == "REPLICA":
            return
        chosen = [r for r in configuration["Rules"] if _selects(r, row)]
        if not chosen:
            return
        rule = max(chosen, key=lambda r: r.get("Priority") or 0)
        delete_markers = (rule.get("DeleteMarkerReplication") or {}).get("Status")
        if row["marker"] and delete_markers != "Enabled":
            return
        destination = rule["Destination"]["Bucket"].removeprefix("arn:aws:s3:::")
        if not row["marker"]:
            meta["ReplicationStatus"] = "PENDING"
            row["meta"] = json.dumps(meta)
            self.store.put(OBJECTS, row)
        self.platform.timers.arm(
            TIMER,
            f"{bucket['name']}/{row['version_id']}/{row['key']}",
            self.clock(),
            {
                "bucket": bucket["name"],
                "key": row["key"],
                "version": row["version_id"],
                "destination": destination,
            },  # fmt: skip
        )

    async def _replicate_due(self, timer: Timer) -> None:
        data = timer.data
        source = self.version(data["bucket"], data["key"], data["version"])
        if source is None:
            return
        target = self.store.get(BUCKETS, data["destination"])
        if target is None:
            self._mark(source, "FAILED")
            return
        if self.version(target["name"], source["key"], source["version_id"]) is not None:
            self._mark(source, "COMPLETED")
            return
        blob_id = None
        if not source["marker"]:
            path = await asyncio.to_thread(self.copy_range, source, 0, source["size"])
            blob_id = await self.adopt(Received(path, source["size"], ""))
        meta = load_meta(source)
        if not source["marker"]:
            meta["ReplicationStatus"] = "REPLICA"
        replica = {
            **source,
            "bucket": target["name"],
            "rank": self.next_rank(),
            "latest": 1,
            "listed": int(not source["marker"]),
            "blob_id": blob_id,
            "meta": json.dumps(meta),
        }
        with self.store.transaction():
            current = self.latest(target["name"], source["key"])
            if current is not None and current["latest"]:
                self.store.put(OBJECTS, {**current, "latest": 0, "listed": 0})
            self.store.put(OBJECTS, replica)
            if blob_id:
                self.store.delete(GARBAGE, blob_id)
            if not source["marker"]:
                self._mark(source, "COMPLETED")

    def _mark(self, source: dict, status: str) -> None:
        current = self.version(source["bucket"], source["key"], source["version_id"])
        if current is None:
            return
        meta = load_meta(current)
        meta["ReplicationStatus"] = status
        self.update_meta(current, meta)
