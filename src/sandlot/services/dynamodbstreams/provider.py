"""Amazon DynamoDB Streams: the change records of tables with a StreamSpecification.

DynamoDB calls ``record`` (its item hook, ``ItemStore.listeners``) inside the store
transaction of every item change; a table with an enabled stream gets one record row
there, so the stream holds exactly the committed changes, in commit order. A put that
changes nothing writes no record, as in AWS.

A stream has one shard (AWS splits shards by partition and age; sandlot keeps one
per stream: records stay in order per item and overall). Its ShardId and sequence
numbers are stable across restarts. A stream whose table disabled it, changed label
or was deleted is DISABLED and its shard closed (EndingSequenceNumber set); its
records stay readable until the 24-hour retention trims them.

Shard iterators are ``<stream ARN>|1|<position>|<issued>``: the ARN first as in AWS
(IAM authorizes GetRecords on it); they expire after 15 minutes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from datetime import UTC, datetime

from sandlot.events.wakeup import Wakeups
from sandlot.protocol import ServiceError
from sandlot.services.dynamodb.storage import TableInfo
from sandlot.services.dynamodb.values import dump_item, item_size, load_item
from sandlot.services.dynamodbstreams.schema import MIGRATIONS, RECORDS, STREAMS
from sandlot.services.provider import Provider, RequestContext

log = logging.getLogger("sandlot.dynamodbstreams")

RETENTION_S = 24 * 3600.0
ITERATOR_TTL_S = 15 * 60.0
TRIM_INTERVAL_S = 60.0
MAX_LIMIT = 1000
VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def stream_not_found(arn: str) -> ServiceError:
    return ServiceError(
        "ResourceNotFoundException", f"Requested resource not found: Stream: {arn} not found"
    )


def format_seq(seq: int) -> str:
    """AWS's sequence numbers are numeric strings of 21 to 40 digits."""
    return f"{seq:021d}"


def shard_id(arn: str, label: str) -> str:
    """``shardId-<20 digits>-<8 hex>`` as AWS shapes them, derived from the stream."""
    millis = int(datetime.fromisoformat(label).replace(tzinfo=UTC).timestamp() * 1000)
    return f"shardId-{millis:020d}-{zlib.crc32(arn.encode()):08x}"


class DynamoDBStreamsProvider(Provider):
    service = "dynamodbstreams"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.store = platform.store
        self.store.migrate("dynamodbstreams", MIGRATIONS)
        last = self.store.select(RECORDS, order_by=("seq",), descending=True, limit=1)
        self._seq = last[0]["seq"] if last else 0
        self.tables = platform.provider("dynamodb").items
        self.tables.listeners.append(self.record)
        # Readers that wait for new records (event source mappings) wait on the stream
        # ARN; a record wakes them once its transaction has committed.
        self.wakeups = Wakeups()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> asyncio.Task:
        """The retention sweep (the task returned)."""
        self._loop = asyncio.get_running_loop()
        return asyncio.create_task(self._trim())

    async def _trim(self) -> None:
        while True:
            try:
                self.trim(time.time())
            except Exception:
                log.exception("DynamoDB Streams retention sweep failed")
            await asyncio.sleep(TRIM_INTERVAL_S)

    def trim(self, now: float) -> int:
        """Delete records older than the 24-hour retention; how many went."""
        return self.store.delete_where(RECORDS, {}, bounds={"created": (None, now - RETENTION_S)})

    # -- the item hook (runs in DynamoDB's write transaction) ------------------------------

    def record(self, info: TableInfo, old: dict | None, new: dict | None, expired: bool) -> None:
        spec = info.spec.get("StreamSpecification") or {}
        if not spec.get("StreamEnabled") or old == new:
            return
        label = info.spec["LatestStreamLabel"]
        arn = f"{info.arn}/stream/{label}"
        now = time.time()
        # The stream's row (kept once the table moves on) in this same transaction: a
        # cache of "already there" could outlive a rolled-back first record.
        self.store.put(
            STREAMS,
            {
                "arn": arn,
                "account": info.row["account"],
                "region": info.row["region"],
                "table_name": info.name,
                "label": label,
                "view_type": spec["StreamViewType"],
                "key_schema": json.dumps(info.spec["KeySchema"]),
                "created": now,
            },
            replace=False,
        )
        item = new if new is not None else old
        keys = {name: item[name] for name in info.key.names}
        view = spec["StreamViewType"]
        keep_new = new if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") else None
        keep_old = old if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") else None
        size = item_size(keys) + sum(item_size(i) for i in (keep_new, keep_old) if i is not None)
        self._seq += 1  # a rolled-back write leaves a gap: sequence numbers only increase
        self.store.put(
            RECORDS,
            {
                "stream_arn": arn,
                "seq": self._seq,
                "created": now,
                "event": "INSERT" if old is None else "REMOVE" if new is None else "MODIFY",
                "view_type": view,
                "keys": dump_item(keys),
                "new": dump_item(keep_new) if keep_new is not None else None,
                "old": dump_item(keep_old) if keep_old is not None else None,
                "size": size,
                "expired": int(expired),
            },
        )
        loop = self._loop
        if loop is not None:  # the write may run on the write queue's thread
            # Once committed: readers read the last commit (the store's reader
            # connection), so a wake-up before it would find nothing and wait idle.
            self.store.after_commit(lambda: loop.call_soon_threadsafe(self.wakeups.notify, arn))

    # -- streams -----------------------------------------------------------------------

    def _streams(self, account: str, region: str) -> dict[str, dict]:
        """Every stream of the account and region by ARN: those with records (kept
        rows) and the enabled streams of current tables (which may have none yet)."""
        found = {
            r["arn"]: r for r in self.store.select(STREAMS, {"account": account, "region": region})
        }
        for info in self.tables.all_tables():
            if (info.row["account"], info.row["region"]) != (account, region):
                continue
            row = self._current_row(info)
            if row is not None:
                found.setdefault(row["arn"], row)
        return found

    @staticmethod
    def _current_row(info: TableInfo) -> dict | None:
        spec = info.spec.get("StreamSpecification") or {}
        if not spec.get("StreamEnabled"):
            return None
        label = info.spec["LatestStreamLabel"]
        return {
            "arn": f"{info.arn}/stream/{label}",
            "account": info.row["account"],
            "region": info.row["region"],
            "table_name": info.name,
            "label": label,
            "view_type": spec["StreamViewType"],
            "key_schema": json.dumps(info.spec["KeySchema"]),
            "created": datetime.fromisoformat(label).replace(tzinfo=UTC).timestamp(),
        }

    def _stream(self, arn: str) -> tuple[dict, bool]:
        """(the stream's row, whether it is enabled) or ResourceNotFoundException."""
        if not isinstance(arn, str) or "/stream/" not in arn:
            raise stream_not_found(arn)
        table_arn, _, label = arn.partition("/stream/")
        parts = table_arn.split(":")
        current = None
        if len(parts) == 6 and parts[5].startswith("table/"):
            info = self.tables.table(parts[4], parts[3], parts[5][len("table/") :])
            current = self._current_row(info) if info is not None else None
        if current is not None and current["arn"] == arn:
            return current, True
        row = self.store.get(STREAMS, arn)
        if row is None:
            raise stream_not_found(arn)
        return row, False

    def list_streams(self, ctx: RequestContext, params: dict) -> dict:
        limit = params.get("Limit", 100)
        if not 1 <= limit <= 100:
            raise validation(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                "constraint: Member must have value less than or equal to 100"
            )
        streams = sorted(self._streams(ctx.account_id, ctx.region).values(), key=lambda r: r["arn"])
        if params.get("TableName"):
            streams = [s for s in streams if s["table_name"] == params["TableName"]]
        start = params.get("ExclusiveStartStreamArn")
        if start:
            streams = [s for s in streams if s["arn"] > start]
        page = streams[:limit]
        out: dict = {
            "Streams": [
                {"StreamArn": s["arn"], "TableName": s["table_name"], "StreamLabel": s["label"]}
                for s in page
            ]
        }
        if len(streams) > limit:
            out["LastEvaluatedStreamArn"] = page[-1]["arn"]
        return out

    def _bounds(self, arn: str) -> tuple[int | None, int | None]:
        """(first, last) retained sequence numbers of a stream, None when empty."""
        first = self.store.select(RECORDS, {"stream_arn": arn}, order_by=("seq",), limit=1)
        last = self.store.select(
            RECORDS, {"stream_arn": arn}, order_by=("seq",), descending=True, limit=1
        )
        return (first[0]["seq"] if first else None), (last[0]["seq"] if last else None)

    def describe_stream(self, ctx: RequestContext, params: dict) -> dict:
        row, enabled = self._stream(params.get("StreamArn"))
        first, last = self._bounds(row["arn"])
        shard_range: dict = {"StartingSequenceNumber": format_seq(first or self._seq + 1)}
        if not enabled:
            shard_range["EndingSequenceNumber"] = format_seq(last or self._seq)
        shard = {"ShardId": shard_id(row["arn"], row["label"]), "SequenceNumberRange": shard_range}
        start = params.get("ExclusiveStartShardId")
        return {
            "StreamDescription": {
                "StreamArn": row["arn"],
                "StreamLabel": row["label"],
                "StreamStatus": "ENABLED" if enabled else "DISABLED",
                "StreamViewType": row["view_type"],
                "CreationRequestDateTime": datetime.fromtimestamp(row["created"], UTC),
                "TableName": row["table_name"],
                "KeySchema": json.loads(row["key_schema"]),
                "Shards": [] if start and start >= shard["ShardId"] else [shard],
            }
        }

    # -- reading -------------------------------------------------------------------------

    def get_shard_iterator(self, ctx: RequestContext, params: dict) -> dict:
        row, _ = self._stream(params.get("StreamArn"))
        if params.get("ShardId") != shard_id(row["arn"], row["label"]):
            raise ServiceError(
                "ResourceNotFoundException",
                f"Requested resource not found: Shard does not exist: {params.get('ShardId')}",
            )
        kind = params.get("ShardIteratorType")
        number = params.get("SequenceNumber")
        if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            if not isinstance(number, str) or not number.isdigit():
                raise validation(
                    f"Invalid SequenceNumber for ShardIteratorType {kind}: {number}"
                    if number
                    else f"Must specify SequenceNumber for ShardIteratorType {kind}"
                )
            first, _ = self._bounds(row["arn"])
            seq = int(number)
            if first is not None and seq < first:
                raise ServiceError(
                    "TrimmedDataAccessException",
                    "The operation attempted to read past the oldest stream record in a shard.",
                )
            position = seq if kind == "AT_SEQUENCE_NUMBER" else seq + 1
        elif kind == "TRIM_HORIZON":
            position = 0
        elif kind == "LATEST":
            position = self._seq + 1
        else:
            raise validation(
                f"1 validation error detected: Value '{kind}' at 'shardIteratorType' failed to "
                "satisfy constraint: Member must satisfy enum value set: "
                "[TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER]"
            )
        return {"ShardIterator": self._iterator(row["arn"], position)}

    @staticmethod
    def _iterator(arn: str, position: int) -> str:
        return f"{arn}|1|{position}|{time.time():.3f}"

    def get_records(self, ctx: RequestContext, params: dict) -> dict:
        iterator = params.get("ShardIterator")
        parts = iterator.split("|") if isinstance(iterator, str) else []
        if len(parts) != 4 or not parts[2].isdigit():
            raise validation("Invalid ShardIterator")
        arn, position, issued = parts[0], int(parts[2]), float(parts[3])
        now = time.time()
        if now - issued > ITERATOR_TTL_S:
            raise ServiceError(
                "ExpiredIteratorException",
                "Iterator expired. The iterator was created at time "
                f"{_http_date(issued)} while right now it is {_http_date(now)} which is "
                f"further in the future than the tolerated delay of {int(ITERATOR_TTL_S * 1000)} "
                "milliseconds.",
            )
        row, enabled = self._stream(arn)
        limit = params.get("Limit", MAX_LIMIT)
        if not 1 <= limit <= MAX_LIMIT:
            raise validation(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                "constraint: Member must have value less than or equal to 1000"
            )
        rows = self.store.select(
            RECORDS,
            {"stream_arn": arn},
            order_by=("seq",),
            limit=limit,
            bounds={"seq": (position, None), "created": (now - RETENTION_S, None)},
        )
        records = [self.stream_record(row["region"], r) for r in rows]
        out: dict = {"Records": records}
        after = rows[-1]["seq"] + 1 if rows else position
        # A closed shard ends: no next iterator once everything in it has been read.
        _, last = self._bounds(arn)
        if enabled or (last is not None and after <= last):
            out["NextShardIterator"] = self._iterator(arn, after)
        return out

    @staticmethod
    def stream_record(region: str, r: dict) -> dict:
        """A record row in AWS's shape (GetRecords; Lambda adds eventSourceARN)."""
        dynamodb: dict = {
            "ApproximateCreationDateTime": datetime.fromtimestamp(int(r["created"]), UTC),
            "Keys": load_item(r["keys"]),
        }
        if r["new"] is not None:
            dynamodb["NewImage"] = load_item(r["new"])
        if r["old"] is not None:
            dynamodb["OldImage"] = load_item(r["old"])
        dynamodb.update(
            SequenceNumber=format_seq(r["seq"]),
            SizeBytes=r["size"],
            StreamViewType=r["view_type"],
        )
        record = {
            "eventID": f"{zlib.crc32(r['stream_arn'].encode()):08x}{r['seq']:024x}",
            "eventName": r["event"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": region,
            "dynamodb": dynamodb,
        }
        if r["expired"]:
            record["userIdentity"] = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
        return record


def _http_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
