"""Amazon Kinesis Data Streams: streams of shards, records placed by hash key, iterators.

A stream's shards split the 128-bit hash-key space; a record goes to the open shard
whose range holds the MD5 of its partition key (or its ExplicitHashKey) and gets the
next sequence number. Records are rows written in one store transaction per request,
so an acknowledged PutRecord(s) survives kill -9. Streams become ACTIVE at once (AWS
reports CREATING for a while; its clients wait with the ``stream_exists`` waiter,
which then returns at the first poll). Resharding closes shards (their
EndingSequenceNumber is set) and opens children that name their parents.

Each shard takes at most 1,000 records and 1 MiB per second (AWS's per-shard write
limit): what exceeds it fails with ProvisionedThroughputExceededException, per record
in PutRecords. Shard iterators are ``<stream ARN>|<shard>|<position>|<issued>`` (the
ARN first, so IAM can authorize GetRecords on the stream) and expire after 5 minutes.

Enhanced fan-out consumers are registered, described, listed and deregistered;
SubscribeToShard streams events (the protocol layer's event-stream encoding) as
records arrive, woken by the same per-stream wake-ups as event source mappings.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import json
import logging
import time
from datetime import UTC, datetime

from sandlot.events.wakeup import Wakeups
from sandlot.protocol import ServiceError
from sandlot.services.kinesis.schema import CONSUMERS, MIGRATIONS, RECORDS, SHARDS, STREAMS
from sandlot.services.kinesis.shards import (
    even_ranges,
    format_seq,
    hash_key,
    parse_seq,
    shard_name,
)
from sandlot.services.provider import Provider, RequestContext
from sandlot.store.group_commit import GroupCommit

log = logging.getLogger("sandlot.kinesis")

DEFAULT_RETENTION_H = 24
MAX_RETENTION_H = 8760
ON_DEMAND_SHARDS = 4  # an on-demand stream starts at 4 MiB/s, 4,000 records/s of writes
SHARD_LIMIT = 500  # AWS's default shard quota per account and region
ITERATOR_TTL_S = 300.0
MAX_RECORD = 1024 * 1024  # data + partition key
MAX_PUT_RECORDS_BYTES = 5 * 1024 * 1024
MAX_GET_BYTES = 10 * 1024 * 1024
SHARD_RECORDS_PER_S = 1000
SHARD_BYTES_PER_S = 1024 * 1024
MAX_CONSUMERS = 20
SUBSCRIPTION_S = 300.0  # a SubscribeToShard call streams for 5 minutes
HEARTBEAT_S = 5.0  # an empty event after this long without records
RESUBSCRIBE_S = 5.0  # the same consumer and shard may subscribe again after this long
SWEEP_INTERVAL_S = 60.0


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidArgumentException", message)


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _epoch(value: object) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)  # type: ignore[arg-type]


class KinesisProvider(Provider):
    service = "kinesis"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.store = platform.store
        self.store.migrate("kinesis", MIGRATIONS)
        # The counter goes on from the highest number issued: a record's, or a shard's
        # start or end (resharding takes numbers too).
        for stream in self.store.select(STREAMS, {"status": "DELETING"}):
            self._forget(stream)  # a deletion a crash cut short
        self._seq = max(
            [r["seq"] for r in self.store.select(RECORDS, order_by=("seq",), descending=True,
                                                 limit=1)]
            + [max(s["start_seq"], s["end_seq"] or 0) for s in self.store.select(SHARDS)]
            + [0]
        )  # fmt: skip
        # Readers waiting for records (event source mappings) wait on the stream ARN.
        self.wakeups = Wakeups()
        self.writes = GroupCommit(self.store, RECORDS)
        self._load: dict[tuple[str, str], list] = {}  # (stream, shard) -> [second, n, bytes]
        self._subscribed: dict[tuple[str, str], float] = {}  # (consumer, shard) -> when
        self._in_flight: dict[tuple[str, str], int] = {}  # (stream, shard) -> rows queued

    async def start(self) -> asyncio.Task:
        """The retention sweep (the task returned)."""
        return asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            try:
                self.sweep(time.time())
            except Exception:
                log.exception("Kinesis retention sweep failed")
            await asyncio.sleep(SWEEP_INTERVAL_S)

    def sweep(self, now: float) -> None:
        """Drop records (and closed shards) older than their stream's retention."""
        for stream in self.store.select(STREAMS):
            horizon = now - stream["retention_hours"] * 3600
            with self.store.transaction():
                self.store.delete_where(
                    RECORDS, {"stream_arn": stream["arn"]}, bounds={"arrival": (None, horizon)}
                )
                self.store.delete_where(
                    SHARDS, {"stream_arn": stream["arn"]}, bounds={"closed": (None, horizon)}
                )

    # -- streams ---------------------------------------------------------------------------

    def _stream(self, ctx: RequestContext, params: dict, *, active: bool = False) -> dict:
        """The stream a request names by StreamName or StreamARN (ResourceNotFound)."""
        arn, name = params.get("StreamARN"), params.get("StreamName")
        account, region = ctx.account_id, ctx.region
        if arn:
            parts = arn.split(":")
            if len(parts) != 6 or parts[2] != "kinesis" or not parts[5].startswith("stream/"):
                raise invalid(f"Invalid StreamARN: {arn}")
            region, account, from_arn = parts[3], parts[4], parts[5][len("stream/") :]
            if name and name != from_arn:
                raise invalid("StreamARN and StreamName refer to different streams.")
            name = from_arn
        if not name:
            raise invalid("Either StreamName or StreamARN should be provided.")
        row = self.store.get(STREAMS, account, region, name)
        if row is None or row["status"] == "DELETING":
            raise ServiceError(
                "ResourceNotFoundException", f"Stream {name} under account {account} not found."
            )
        if active and row["status"] != "ACTIVE":
            raise ServiceError(
                "ResourceInUseException",
                f"Stream {name} under account {account} not ACTIVE, instead in state "
                f"{row['status']}",
            )
        return row

    def _shards(self, arn: str) -> list[dict]:
        rows = self.store.select(SHARDS, {"stream_arn": arn})
        return sorted(rows, key=lambda r: r["shard_id"])

    def _open_shards(self, account: str, region: str) -> int:
        total = 0
        for stream in self.store.select(STREAMS, {"account": account, "region": region}):
            total += sum(1 for s in self._shards(stream["arn"]) if s["end_seq"] is None)
        return total

    def _check_quota(self, ctx: RequestContext, adding: int) -> None:
        current = self._open_shards(ctx.account_id, ctx.region)
        if current + adding > SHARD_LIMIT:
            raise ServiceError(
                "LimitExceededException",
                f"This request would exceed the shard limit for the account {ctx.account_id} "
                f"in {ctx.region}. Current shard count for the account: {current}. Limit: "
                f"{SHARD_LIMIT}. Number of additional shards that would have resulted from "
                f"this request: {adding}. Refer to the AWS Service Limits page "
                "(https://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for "
                "current limits and how to request higher limits.",
            )

    def _new_shard(
        self,
        stream: dict,
        start: int,
        end: int,
        now: float,
        parent: str | None = None,
        adjacent: str | None = None,
    ) -> str:
        """Open a shard on [start, end] (in the caller's transaction); its id."""
        number = stream["next_shard"]
        stream["next_shard"] = number + 1
        shard = shard_name(number)
        self._seq += 1
        self.store.put(
            SHARDS,
            {
                "stream_arn": stream["arn"],
                "shard_id": shard,
                "parent": parent,
                "adjacent_parent": adjacent,
                "start_hash": str(start),
                "end_hash": str(end),
                "start_seq": self._seq,
                "end_seq": None,
                "created": now,
                "closed": None,
            },
        )
        return shard

    def _close_shard(self, shard: dict, now: float) -> None:
        self._seq += 1
        self.store.put(SHARDS, {**shard, "end_seq": self._seq, "closed": now})

    def create_stream(self, ctx: RequestContext, params: dict) -> dict:
        name = params["StreamName"]
        mode = (params.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
        if mode == "ON_DEMAND":
            count = ON_DEMAND_SHARDS
        else:
            count = params.get("ShardCount")
            if count is None:
                raise invalid("ShardCount must be specified for a PROVISIONED stream.")
        if self.store.get(STREAMS, ctx.account_id, ctx.region, name) is not None:
            raise ServiceError(
                "ResourceInUseException",
                f"Stream {name} under account {ctx.account_id} already exists.",
            )
        self._check_quota(ctx, count)
        now = time.time()
        stream = {
            "account": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "arn": f"arn:aws:kinesis:{ctx.region}:{ctx.account_id}:stream/{name}",
            "status": "ACTIVE",
            "mode": mode,
            "retention_hours": DEFAULT_RETENTION_H,
            "created": now,
            "encryption": "NONE",
            "key_id": None,
            "tags": json.dumps(params.get("Tags") or {}),
            "next_shard": 0,
            "monitoring": "[]",
        }
        with self.store.transaction():
            for start, end in even_ranges(count):
                self._new_shard(stream, start, end, now)
            self.store.put(STREAMS, stream)
        return {}

    async def delete_stream(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params)
        consumers = self.store.count(CONSUMERS, {"stream_arn": stream["arn"]})
        if consumers and not params.get("EnforceConsumerDeletion"):
            raise ServiceError(
                "ResourceInUseException",
                f"Stream {stream['arn']} has registered consumers. Deregister the consumers "
                "or use EnforceConsumerDeletion to delete them with the stream.",
            )
        # DELETING first (writes are refused from here), then the records still being
        # committed land, then everything goes: no record outlives its stream.
        self.store.put(STREAMS, {**stream, "status": "DELETING"})
        await self.writes.put_many([])
        self._forget(stream)
        self.wakeups.notify(stream["arn"])
        return {}

    def _forget(self, stream: dict) -> None:
        with self.store.transaction():
            for table in (RECORDS, SHARDS, CONSUMERS):
                self.store.delete_where(table, {"stream_arn": stream["arn"]})
            self.store.delete(STREAMS, stream["account"], stream["region"], stream["name"])

    def _mode(self, stream: dict) -> dict:
        return {"StreamMode": stream["mode"]}

    def _shard_out(self, shard: dict) -> dict:
        out: dict = {"ShardId": shard["shard_id"]}
        if shard["parent"]:
            out["ParentShardId"] = shard["parent"]
        if shard["adjacent_parent"]:
            out["AdjacentParentShardId"] = shard["adjacent_parent"]
        out["HashKeyRange"] = {
            "StartingHashKey": shard["start_hash"],
            "EndingHashKey": shard["end_hash"],
        }
        seq_range = {"StartingSequenceNumber": format_seq(shard["start_seq"])}
        if shard["end_seq"] is not None:
            seq_range["EndingSequenceNumber"] = format_seq(shard["end_seq"])
        out["SequenceNumberRange"] = seq_range
        return out

    def describe_stream(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params)
        limit = params.get("Limit", 100)
        shards = self._shards(stream["arn"])
        start = params.get("ExclusiveStartShardId")
        if start:
            shards = [s for s in shards if s["shard_id"] > start]
        out = {
            "StreamName": stream["name"],
            "StreamARN": stream["arn"],
            "StreamStatus": stream["status"],
            "StreamModeDetails": self._mode(stream),
            "Shards": [self._shard_out(s) for s in shards[:limit]],
            "HasMoreShards": len(shards) > limit,
            "RetentionPeriodHours": stream["retention_hours"],
            "StreamCreationTimestamp": _time(stream["created"]),
            "EnhancedMonitoring": [{"ShardLevelMetrics": json.loads(stream["monitoring"])}],
            "EncryptionType": stream["encryption"],
        }
        if stream["key_id"]:
            out["KeyId"] = stream["key_id"]
        return {"StreamDescription": out}

    def describe_stream_summary(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params)
        out = {
            "StreamName": stream["name"],
            "StreamARN": stream["arn"],
            "StreamStatus": stream["status"],
            "StreamModeDetails": self._mode(stream),
            "RetentionPeriodHours": stream["retention_hours"],
            "StreamCreationTimestamp": _time(stream["created"]),
            "EnhancedMonitoring": [{"ShardLevelMetrics": json.loads(stream["monitoring"])}],
            "EncryptionType": stream["encryption"],
            "OpenShardCount": sum(1 for s in self._shards(stream["arn"]) if s["end_seq"] is None),
            "ConsumerCount": self.store.count(CONSUMERS, {"stream_arn": stream["arn"]}),
        }
        if stream["key_id"]:
            out["KeyId"] = stream["key_id"]
        return {"StreamDescriptionSummary": out}

    def list_streams(self, ctx: RequestContext, params: dict) -> dict:
        limit = params.get("Limit", 100)
        streams = self.store.select(
            STREAMS, {"account": ctx.account_id, "region": ctx.region}, order_by=("name",)
        )
        start = params.get("ExclusiveStartStreamName")
        token = params.get("NextToken")
        if token:
            start = _decode_token(token, "streams")
        if start:
            streams = [s for s in streams if s["name"] > start]
        page = streams[:limit]
        out: dict = {
            "StreamNames": [s["name"] for s in page],
            "HasMoreStreams": len(streams) > limit,
            "StreamSummaries": [
                {
                    "StreamName": s["name"],
                    "StreamARN": s["arn"],
                    "StreamStatus": s["status"],
                    "StreamModeDetails": self._mode(s),
                    "StreamCreationTimestamp": _time(s["created"]),
                }
                for s in page
            ],
        }
        if len(streams) > limit:
            out["NextToken"] = _encode_token("streams", page[-1]["name"])
        return out

    def list_shards(self, ctx: RequestContext, params: dict) -> dict:
        token = params.get("NextToken")
        start = params.get("ExclusiveStartShardId")
        if token:
            if params.get("StreamName") or params.get("StreamARN"):
                raise invalid("NextToken and StreamName cannot be provided together.")
            arn, _, start = _decode_token(token, "shards").partition(" ")
            params = {"StreamARN": arn}
        stream = self._stream(ctx, params)
        limit = params.get("MaxResults", 1000)
        shards = self._shards(stream["arn"])
        shard_filter = params.get("ShardFilter") or {}
        kind = shard_filter.get("Type")
        if kind == "AFTER_SHARD_ID":
            start = max(start or "", shard_filter.get("ShardId") or "")
        elif kind == "AT_LATEST":
            shards = [s for s in shards if s["end_seq"] is None]
        elif kind in ("AT_TIMESTAMP", "FROM_TIMESTAMP"):
            moment = _epoch(shard_filter.get("Timestamp") or 0)
            shards = [s for s in shards if s["closed"] is None or s["closed"] > moment]
            if kind == "AT_TIMESTAMP":
                shards = [s for s in shards if s["created"] <= moment or s["parent"] is None]
        # AT_TRIM_HORIZON / FROM_TRIM_HORIZON: every retained shard.
        if start:
            shards = [s for s in shards if s["shard_id"] > start]
        page = shards[:limit]
        out: dict = {"Shards": [self._shard_out(s) for s in page]}
        if len(shards) > limit:
            out["NextToken"] = _encode_token("shards", f"{stream['arn']} {page[-1]['shard_id']}")
        return out

    def update_stream_mode(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params, active=True)
        stream["mode"] = params["StreamModeDetails"]["StreamMode"]
        self.store.put(STREAMS, stream)
        return {}

    # -- retention, tags, monitoring, encryption --------------------------------------------

    def increase_stream_retention_period(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params, active=True)
        hours = params["RetentionPeriodHours"]
        if hours > MAX_RETENTION_H:
            raise invalid(
                f"Maximum allowed retention period is {MAX_RETENTION_H} hours. Requested "
                f"retention period ({hours} hours) is too long."
            )
        if hours < stream["retention_hours"]:
            raise invalid(
                f"Requested retention period ({hours} hours) for stream {stream['name']} can "
                f"not be shorter than existing retention period ({stream['retention_hours']} "
                "hours). Use DecreaseRetentionPeriod API."
            )
        stream["retention_hours"] = hours
        self.store.put(STREAMS, stream)
        return {}

    def decrease_stream_retention_period(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params, active=True)
        hours = params["RetentionPeriodHours"]
        if hours < DEFAULT_RETENTION_H:
            raise invalid(
                f"Minimum allowed retention period is {DEFAULT_RETENTION_H} hours. Requested "
                f"retention period ({hours} hours) is too short."
            )
        if hours > stream["retention_hours"]:
            raise invalid(
                f"Requested retention period ({hours} hours) for stream {stream['name']} can "
                f"not be longer than existing retention period ({stream['retention_hours']} "
                "hours). Use IncreaseRetentionPeriod API."
            )
        stream["retention_hours"] = hours
        self.store.put(STREAMS, stream)
        self.sweep(time.time())  # what is now past the retention goes
        return {}

    def _set_tags(self, stream: dict, tags: dict) -> None:
        if len(tags) > 50:
            raise invalid("Failed to add tags to stream because a stream can have at most 50 tags.")
        stream["tags"] = json.dumps(tags)
        self.store.put(STREAMS, stream)

    def add_tags_to_stream(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params)
        self._set_tags(stream, {**json.loads(stream["tags"]), **params["Tags"]})
        return {}

    def remove_tags_from_stream(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params)
        tags = json.loads(stream["tags"])
        for key in params["TagKeys"]:
            tags.pop(key, None)
        self._set_tags(stream, tags)
        return {}

    def list_tags_for_stream(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params)
        tags = sorted(json.loads(stream["tags"]).items())
        start = params.get("ExclusiveStartTagKey")
        if start:
            tags = [t for t in tags if t[0] > start]
        limit = params.get("Limit", 50)
        return {
            "Tags": [{"Key": k, "Value": v} for k, v in tags[:limit]],
            "HasMoreTags": len(tags) > limit,
        }

    def _resource_stream(self, ctx: RequestContext, arn: str) -> dict:
        if "/consumer/" in arn:
            raise invalid("sandlot keeps tags on streams only; consumers have none.")
        return self._stream(ctx, {"StreamARN": arn})

    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._resource_stream(ctx, params["ResourceARN"])
        self._set_tags(stream, {**json.loads(stream["tags"]), **params["Tags"]})
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._resource_stream(ctx, params["ResourceARN"])
        tags = json.loads(stream["tags"])
        for key in params["TagKeys"]:
            tags.pop(key, None)
        self._set_tags(stream, tags)
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._resource_stream(ctx, params["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in json.loads(stream["tags"]).items()]}

    def _monitoring(self, ctx: RequestContext, params: dict, enable: bool) -> dict:
        stream = self._stream(ctx, params, active=True)
        current = json.loads(stream["monitoring"])
        metrics = params["ShardLevelMetrics"]
        if "ALL" in metrics:
            metrics = ["IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
                       "WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded",
                       "IteratorAgeMilliseconds"]  # fmt: skip
        desired = sorted(set(current) | set(metrics) if enable else set(current) - set(metrics))
        stream["monitoring"] = json.dumps(desired)
        self.store.put(STREAMS, stream)
        return {
            "StreamName": stream["name"],
            "StreamARN": stream["arn"],
            "CurrentShardLevelMetrics": current,
            "DesiredShardLevelMetrics": desired,
        }

    def enable_enhanced_monitoring(self, ctx: RequestContext, params: dict) -> dict:
        return self._monitoring(ctx, params, True)

    def disable_enhanced_monitoring(self, ctx: RequestContext, params: dict) -> dict:
        return self._monitoring(ctx, params, False)

    async def start_stream_encryption(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params, active=True)
        if params["EncryptionType"] != "KMS":
            raise invalid("EncryptionType must be KMS to start stream encryption.")
        key = params["KeyId"]
        if key != "alias/aws/kinesis":  # the AWS managed key: always there
            try:
                await self.platform.call(
                    "kms", "DescribeKey", {"KeyId": key}, principal=ctx.principal, region=ctx.region
                )
            except ServiceError as error:
                code = {
                    "NotFoundException": "KMSNotFoundException",
                    "AccessDeniedException": "KMSAccessDeniedException",
                    "DisabledException": "KMSDisabledException",
                    "KMSInvalidStateException": "KMSInvalidStateException",
                }.get(error.code, "KMSNotFoundException")
                raise ServiceError(code, error.message) from None
        stream.update(encryption="KMS", key_id=key)
        self.store.put(STREAMS, stream)
        return {}

    def stop_stream_encryption(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params, active=True)
        stream.update(encryption="NONE", key_id=None)
        self.store.put(STREAMS, stream)
        return {}

    # -- writing -----------------------------------------------------------------------------

    def _admit(self, stream_arn: str, shard: str, size: int, now: float) -> bool:
        """Count a record against its shard's per-second write limit; False if over."""
        second = int(now)
        load = self._load.get((stream_arn, shard))
        if load is None or load[0] != second:
            load = self._load[(stream_arn, shard)] = [second, 0, 0]
        if load[1] + 1 > SHARD_RECORDS_PER_S or load[2] + size > SHARD_BYTES_PER_S:
            return False
        load[1] += 1
        load[2] += size
        return True

    async def _place(self, stream: dict, records: list[dict]) -> list[dict]:
        """Write ``records`` (PutRecord(s) entries), returning once they are committed;
        per record the answer entry: ShardId and SequenceNumber, or ErrorCode and
        ErrorMessage. Concurrent requests share commits (``GroupCommit``): sequence
        numbers are taken here, in order, and rows are committed in the order queued, so
        a reader never sees a number before a lower one of the same shard."""
        # The open shards cover the hash space without gaps: the owner of a key is the
        # last shard starting at or below it (a binary search).
        open_shards = sorted(
            (int(s["start_hash"]), s["shard_id"])
            for s in self._shards(stream["arn"])
            if s["end_seq"] is None
        )
        starts = [start for start, _ in open_shards]
        now = time.time()
        rows, results = [], []
        for entry in records:
            key = hash_key(entry["PartitionKey"], entry.get("ExplicitHashKey"))
            shard = open_shards[bisect.bisect_right(starts, key) - 1][1]
            data = bytes(entry["Data"])
            if not self._admit(stream["arn"], shard, len(data) + len(entry["PartitionKey"]), now):
                results.append(
                    {
                        "ErrorCode": "ProvisionedThroughputExceededException",
                        "ErrorMessage": f"Rate exceeded for shard {shard} in stream "
                        f"{stream['name']} under account {stream['account']}.",
                    }
                )
                continue
            self._seq += 1
            rows.append(
                {
                    "stream_arn": stream["arn"],
                    "shard_id": shard,
                    "seq": self._seq,
                    "partition_key": entry["PartitionKey"],
                    "data": data,
                    "arrival": now,
                }
            )
            results.append({"SequenceNumber": format_seq(self._seq), "ShardId": shard})
        if rows:
            # Rows queued but not yet committed: a closed shard is not at its end while
            # any of its own are in flight (resharding may close it meanwhile).
            shards = [(stream["arn"], r["shard_id"]) for r in rows]
            for key in shards:
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
            try:
                await self.writes.put_many(rows)
            finally:
                for key in shards:
                    self._in_flight[key] -= 1
                    if not self._in_flight[key]:
                        del self._in_flight[key]
            self.wakeups.notify(stream["arn"])
        return results

    def _check_record(self, entry: dict) -> None:
        size = len(entry["Data"]) + len(entry["PartitionKey"].encode())
        if size > MAX_RECORD:
            raise invalid(
                f"Record size exceeds the maximum allowed size of {MAX_RECORD} bytes "
                "(data blob and partition key together)."
            )

    async def put_record(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params, active=False)
        self._check_record(params)
        result = (await self._place(stream, [params]))[0]
        if "ErrorCode" in result:
            raise ServiceError(result["ErrorCode"], result["ErrorMessage"])
        return {**result, "EncryptionType": stream["encryption"]}

    async def put_records(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params)
        entries = params["Records"]
        for entry in entries:
            self._check_record(entry)
        total = sum(len(e["Data"]) + len(e["PartitionKey"].encode()) for e in entries)
        if total > MAX_PUT_RECORDS_BYTES:
            raise invalid(f"Records size exceeds {MAX_PUT_RECORDS_BYTES // (1024 * 1024)} MB limit")
        results = await self._place(stream, entries)
        return {
            "FailedRecordCount": sum(1 for r in results if "ErrorCode" in r),
            "Records": results,
            "EncryptionType": stream["encryption"],
        }

    # -- resharding ---------------------------------------------------------------------------

    def _open_shard(self, stream: dict, shard_id: str) -> dict:
        shard = self.store.get(SHARDS, stream["arn"], shard_id)
        if shard is None:
            raise ServiceError(
                "ResourceNotFoundException",
                f"Could not find shard {shard_id} in stream {stream['name']} under account "
                f"{stream['account']}.",
            )
        if shard["end_seq"] is not None:
            raise ServiceError(
                "ResourceInUseException",
                f"Shard {shard_id} in stream {stream['name']} under account "
                f"{stream['account']} has already been merged or split, and thus is not "
                "eligible for merging or splitting.",
            )
        return shard

    def split_shard(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params, active=True)
        shard = self._open_shard(stream, params["ShardToSplit"])
        new_start = params["NewStartingHashKey"]
        low, high = int(shard["start_hash"]), int(shard["end_hash"])
        if not new_start.isdigit() or not low < int(new_start) <= high:
            raise invalid(
                f"NewStartingHashKey {new_start} used in SplitShard() on shard "
                f"{shard['shard_id']} in stream {stream['name']} under account "
                f"{stream['account']} is not both greater than one plus the shard's "
                "StartingHashKey and less than the shard's EndingHashKey."
            )
        self._check_quota(ctx, 1)
        now = time.time()
        with self.store.transaction():
            self._close_shard(shard, now)
            self._new_shard(stream, low, int(new_start) - 1, now, shard["shard_id"])
            self._new_shard(stream, int(new_start), high, now, shard["shard_id"])
            self.store.put(STREAMS, stream)
        return {}

    def merge_shards(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params, active=True)
        first = self._open_shard(stream, params["ShardToMerge"])
        second = self._open_shard(stream, params["AdjacentShardToMerge"])
        a, b = sorted((first, second), key=lambda s: int(s["start_hash"]))
        if int(a["end_hash"]) + 1 != int(b["start_hash"]):
            raise invalid(
                f"Shards {first['shard_id']} and {second['shard_id']} in stream "
                f"{stream['name']} under account {stream['account']} are not an adjacent "
                "pair of shards eligible for merging"
            )
        now = time.time()
        with self.store.transaction():
            self._close_shard(first, now)
            self._close_shard(second, now)
            self._new_shard(
                stream,
                int(a["start_hash"]),
                int(b["end_hash"]),
                now,
                first["shard_id"],
                second["shard_id"],
            )
            self.store.put(STREAMS, stream)
        return {}

    def update_shard_count(self, ctx: RequestContext, params: dict) -> dict:
        """Uniform scaling: the open shards close and ``TargetShardCount`` even shards
        open; each names as parents the (at most two) old shards its range starts in."""
        stream = self._stream(ctx, params, active=True)
        target = params["TargetShardCount"]
        current = [s for s in self._shards(stream["arn"]) if s["end_seq"] is None]
        if not len(current) / 2 <= target <= len(current) * 2:
            raise invalid(
                f"UpdateShardCount cannot scale up over double your current open shard count "
                f"or scale down below half your current open shard count. Current open shard "
                f"count: {len(current)}. Target shard count: {target}."
            )
        self._check_quota(ctx, max(target - len(current), 0))
        now = time.time()
        with self.store.transaction():
            for shard in current:
                self._close_shard(shard, now)
            for start, end in even_ranges(target):
                overlap = [
                    s["shard_id"]
                    for s in current
                    if int(s["start_hash"]) <= end and int(s["end_hash"]) >= start
                ]
                self._new_shard(
                    stream, start, end, now, overlap[0], overlap[1] if len(overlap) > 1 else None
                )
            self.store.put(STREAMS, stream)
        return {
            "StreamName": stream["name"],
            "StreamARN": stream["arn"],
            "CurrentShardCount": len(current),
            "TargetShardCount": target,
        }

    # -- reading -------------------------------------------------------------------------------

    def _shard(self, stream: dict, shard_id: str) -> dict:
        shard = self.store.get(SHARDS, stream["arn"], shard_id)
        if shard is None:
            raise ServiceError(
                "ResourceNotFoundException",
                f"Shard {shard_id} in stream {stream['name']} under account "
                f"{stream['account']} does not exist",
            )
        return shard

    def get_shard_iterator(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, params)
        shard = self._shard(stream, params["ShardId"])
        position = self._position(
            stream,
            shard,
            params["ShardIteratorType"],
            params.get("StartingSequenceNumber"),
            params.get("Timestamp"),
        )
        return {"ShardIterator": _iterator(stream["arn"], shard["shard_id"], position)}

    def _position(
        self, stream: dict, shard: dict, kind: str, number: str | None, timestamp: object
    ) -> int:
        """The first sequence number (counter) an iterator of ``kind`` reads."""
        if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            seq = parse_seq(number)
            if seq is None:
                raise invalid(
                    f"StartingSequenceNumber {number} used in GetShardIterator on shard "
                    f"{shard['shard_id']} in stream {stream['name']} under account "
                    f"{stream['account']} is invalid."
                    if number
                    else f"Must specify StartingSequenceNumber for ShardIteratorType {kind}."
                )
            position = seq if kind == "AT_SEQUENCE_NUMBER" else seq + 1
        elif kind == "TRIM_HORIZON":
            position = 0
        elif kind == "LATEST":
            position = self._seq + 1
        elif kind == "AT_TIMESTAMP":
            if timestamp is None:
                raise invalid("Must specify timestampInMillis parameter for iterator of type "
                              "AT_TIMESTAMP. Current request has no timestamp parameter.")  # fmt: skip
            moment = _epoch(timestamp)
            first = self.store.select(
                RECORDS,
                {"stream_arn": stream["arn"], "shard_id": shard["shard_id"]},
                order_by=("seq",),
                bounds={"arrival": (moment, None)},
                limit=1,
            )
            position = first[0]["seq"] if first else self._seq + 1
        else:
            raise invalid(f"Invalid ShardIteratorType: {kind}")
        return position

    def get_records(self, ctx: RequestContext, params: dict) -> dict:
        text = params["ShardIterator"]
        parts = text.split("|")
        if len(parts) != 4 or not parts[2].isdigit():
            raise invalid(f"Invalid ShardIterator: {text}")
        arn, shard_id, position, issued = parts[0], parts[1], int(parts[2]), float(parts[3])
        now = time.time()
        if now - issued > ITERATOR_TTL_S:
            raise ServiceError(
                "ExpiredIteratorException",
                f"Iterator expired. The iterator was created at time {_http_date(issued)} "
                f"while right now it is {_http_date(now)} which is further in the future than "
                f"the tolerated delay of {int(ITERATOR_TTL_S * 1000)} milliseconds.",
            )
        stream = self._stream(ctx, {"StreamARN": arn})
        shard = self._shard(stream, shard_id)
        records, after, behind, children = self._read(
            stream, shard, position, params.get("Limit", 10000)
        )
        out: dict = {"Records": records, "MillisBehindLatest": behind}
        if children is not None:  # a closed shard read to its end: its children instead
            out["ChildShards"] = children
        else:
            out["NextShardIterator"] = _iterator(arn, shard_id, after)
        return out

    def _read(
        self, stream: dict, shard: dict, position: int, limit: int
    ) -> tuple[list[dict], int, int, list[dict] | None]:
        """Up to ``limit`` records (10 MiB) of ``shard`` from ``position``: (records, the
        position after them, MillisBehindLatest, the child shards once a closed shard
        is read to its end, else None)."""
        now = time.time()
        arn, shard_id = stream["arn"], shard["shard_id"]
        horizon = now - stream["retention_hours"] * 3600
        rows = self.store.select(
            RECORDS,
            {"stream_arn": arn, "shard_id": shard_id},
            order_by=("seq",),
            limit=limit,
            bounds={"seq": (position, None), "arrival": (horizon, None)},
        )
        records, size = [], 0
        for row in rows:
            size += len(row["data"]) + len(row["partition_key"])
            if records and size > MAX_GET_BYTES:
                break
            records.append(
                {
                    "SequenceNumber": format_seq(row["seq"]),
                    "ApproximateArrivalTimestamp": _time(row["arrival"]),
                    "Data": row["data"],
                    "PartitionKey": row["partition_key"],
                    "EncryptionType": stream["encryption"],
                }
            )
        after = rows[len(records) - 1]["seq"] + 1 if records else position
        following = self.store.select(
            RECORDS,
            {"stream_arn": arn, "shard_id": shard_id},
            order_by=("seq",),
            limit=1,
            bounds={"seq": (after, None)},
        )
        behind = int((now - following[0]["arrival"]) * 1000) if following else 0
        if shard["end_seq"] is None or following or (arn, shard_id) in self._in_flight:
            return records, after, behind, None
        children = [
            {
                "ShardId": s["shard_id"],
                "ParentShards": [p for p in (s["parent"], s["adjacent_parent"]) if p],
                "HashKeyRange": {
                    "StartingHashKey": s["start_hash"],
                    "EndingHashKey": s["end_hash"],
                },
            }
            for s in self._shards(arn)
            if shard_id in (s["parent"], s["adjacent_parent"])
        ]
        return records, after, behind, children

    # -- enhanced fan-out consumers ------------------------------------------------------------

    def _consumer_out(self, row: dict, stream_arn: str | None = None) -> dict:
        out = {
            "ConsumerName": row["name"],
            "ConsumerARN": row["arn"],
            "ConsumerStatus": "ACTIVE",
            "ConsumerCreationTimestamp": _time(row["created"]),
        }
        if stream_arn:
            out["StreamARN"] = stream_arn
        return out

    def _consumer(self, ctx: RequestContext, params: dict) -> dict:
        arn = params.get("ConsumerARN")
        if arn:
            rows = self.store.select(CONSUMERS, {"arn": arn})
        else:
            if not params.get("StreamARN") or not params.get("ConsumerName"):
                raise invalid("Either ConsumerARN or both StreamARN and ConsumerName are required.")
            stream = self._stream(ctx, {"StreamARN": params["StreamARN"]})
            rows = self.store.select(
                CONSUMERS, {"stream_arn": stream["arn"], "name": params["ConsumerName"]}
            )
        if not rows:
            raise ServiceError(
                "ResourceNotFoundException",
                f"Consumer {arn or params.get('ConsumerName')} under account "
                f"{ctx.account_id} not found.",
            )
        return rows[0]

    def register_stream_consumer(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, {"StreamARN": params["StreamARN"]}, active=True)
        name = params["ConsumerName"]
        if self.store.get(CONSUMERS, stream["arn"], name) is not None:
            raise ServiceError(
                "ResourceInUseException",
                f"Consumer {name} under account {stream['account']} already exists for stream "
                f"{stream['arn']}.",
            )
        if self.store.count(CONSUMERS, {"stream_arn": stream["arn"]}) >= MAX_CONSUMERS:
            raise ServiceError(
                "LimitExceededException",
                f"Stream {stream['arn']} already has {MAX_CONSUMERS} registered consumers.",
            )
        now = time.time()
        row = {
            "stream_arn": stream["arn"],
            "name": name,
            "arn": f"{stream['arn']}/consumer/{name}:{int(now)}",
            "created": now,
        }
        self.store.put(CONSUMERS, row)
        return {"Consumer": self._consumer_out(row)}

    def describe_stream_consumer(self, ctx: RequestContext, params: dict) -> dict:
        row = self._consumer(ctx, params)
        return {"ConsumerDescription": self._consumer_out(row, row["stream_arn"])}

    def list_stream_consumers(self, ctx: RequestContext, params: dict) -> dict:
        stream = self._stream(ctx, {"StreamARN": params["StreamARN"]})
        rows = self.store.select(CONSUMERS, {"stream_arn": stream["arn"]}, order_by=("name",))
        start = _decode_token(params["NextToken"], "consumers") if params.get("NextToken") else ""
        rows = [r for r in rows if r["name"] > start]
        limit = params.get("MaxResults", 100)
        out: dict = {"Consumers": [self._consumer_out(r) for r in rows[:limit]]}
        if len(rows) > limit:
            out["NextToken"] = _encode_token("consumers", rows[limit - 1]["name"])
        return out

    def subscribe_to_shard(self, ctx: RequestContext, params: dict) -> dict:
        """An enhanced fan-out subscription: events of the shard's records as they
        arrive, for 5 minutes (AWS's subscription lifetime); an empty event after every
        5 seconds without records; it ends early at the end of a closed shard."""
        consumer = self._consumer(ctx, {"ConsumerARN": params["ConsumerARN"]})
        stream = self._stream(ctx, {"StreamARN": consumer["stream_arn"]})
        shard = self._shard(stream, params["ShardId"])
        start = params["StartingPosition"]
        position = self._position(
            stream, shard, start["Type"], start.get("SequenceNumber"), start.get("Timestamp")
        )
        # AWS: the same consumer and shard again within 5 seconds of a successful call.
        key, now = (consumer["arn"], shard["shard_id"]), time.monotonic()
        if now - self._subscribed.get(key, -RESUBSCRIBE_S) < RESUBSCRIBE_S:
            raise ServiceError(
                "ResourceInUseException",
                f"Another active subscription exists for consumer {consumer['arn']} and shard "
                f"{shard['shard_id']}; a new one may start 5 seconds after the last.",
            )
        self._subscribed[key] = now
        return {"EventStream": self._subscription(ctx, stream, shard, position)}

    async def _subscription(self, ctx: RequestContext, stream: dict, shard: dict, position: int):
        ends = time.monotonic() + SUBSCRIPTION_S
        quiet_since = None  # None: the first event goes out at once
        while time.monotonic() < ends:
            stream = self._stream(ctx, {"StreamARN": stream["arn"]})  # gone: the stream ends
            shard = self._shard(stream, shard["shard_id"])
            records, after, behind, children = self._read(stream, shard, position, 10000)
            now = time.monotonic()
            if (
                records
                or children is not None
                or quiet_since is None
                or (now - quiet_since >= HEARTBEAT_S)
            ):
                event: dict = {
                    "Records": records,
                    "ContinuationSequenceNumber": format_seq(max(after - 1, shard["start_seq"])),
                    "MillisBehindLatest": behind,
                }
                if children is not None:
                    event["ChildShards"] = children
                yield {"SubscribeToShardEvent": event}
                quiet_since = now
                position = after
                if children is not None:
                    return
            if not records:
                until = time.time() + min(HEARTBEAT_S, max(ends - time.monotonic(), 0))
                await self.wakeups.wait(stream["arn"], until)

    def deregister_stream_consumer(self, ctx: RequestContext, params: dict) -> dict:
        row = self._consumer(ctx, params)
        self.store.delete(CONSUMERS, row["stream_arn"], row["name"])
        return {}

    # -- limits ---------------------------------------------------------------------------

    def describe_limits(self, ctx: RequestContext, params: dict) -> dict:
        streams = self.store.select(STREAMS, {"account": ctx.account_id, "region": ctx.region})
        return {
            "ShardLimit": SHARD_LIMIT,
            "OpenShardCount": self._open_shards(ctx.account_id, ctx.region),
            "OnDemandStreamCount": sum(1 for s in streams if s["mode"] == "ON_DEMAND"),
            "OnDemandStreamCountLimit": 50,
        }


def _iterator(arn: str, shard: str, position: int) -> str:
    return f"{arn}|{shard}|{position}|{time.time():.3f}"


def _encode_token(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}\n{value}".encode()).decode()


def _decode_token(token: str, kind: str) -> str:
    try:
        got_kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition("\n")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        got_kind, value = "", ""
    if got_kind != kind:
        raise invalid(f"Invalid NextToken: {token}")
    return value


def _http_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
