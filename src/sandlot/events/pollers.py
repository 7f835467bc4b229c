"""Event source mappings: one poller engine, and an adapter per kind of source.

A mapping (a row of Lambda's ``lambda_event_source_mappings``, handed over as a
``Mapping``) runs as a ``Poller``: workers that each repeat

    fetch a batch → drop what the filters reject → invoke the function
    synchronously with the batch → settle the batch with the source by the outcome

and everything that differs between sources lives in a ``Source`` adapter:

- ``fetch(limit, window_s, stopping)``: the next batch, gathered for at most the
  batching window (``MaximumBatchingWindowInSeconds``; 0 = what is there now, after a
  long poll) and within the 6 MB payload limit; it returns early, with what it has,
  when ``stopping`` is set. An empty batch is fine (a long poll ended).
- ``event(records)``: the function's payload; ``item_id(record)``: what a
  ``ReportBatchItemFailures`` response names a record by; ``matches(filters,
  record)``: whether the record passes ``FilterCriteria`` (the shared matcher,
  ``events.patterns``, told which field holds the data: SQS ``body``, Kinesis
  base64 ``data``).
- ``discard(records)``: records the filters rejected (SQS deletes them, as AWS does; a
  stream checkpoints past them).
- ``settle(records, failed)``: after the invocation, with the records that failed
  (all, some, none). SQS deletes the others and leaves the failed ones to come back
  after the visibility timeout, so the queue's redrive policy moves them to its
  dead-letter queue. A stream source instead holds its shard: it retries the failed
  records (bisecting the batch with ``BisectBatchOnFunctionError``), checkpoints at the
  first failure reported, and sends what ``MaximumRetryAttempts`` /
  ``MaximumRecordAgeInSeconds`` give up on to the ``OnFailure`` destination.
- ``max_workers(settings, reserved)``: how many workers may run at once. SQS scales
  between one worker and ``ScalingConfig.MaximumConcurrency`` (and the function's
  reserved concurrency); a stream shard has one worker owning its checkpoint
  (``elastic = False``).

The stream sources (DynamoDB Streams, Kinesis) share ``StreamSource``: reading a shard
in order, holding a failing batch, bisecting, checkpoints, ``OnFailure`` (SQS, SNS, or
S3 with the whole event), tumbling windows (``TumblingWindowInSeconds``: batches of one
window each, the state the function answers handed to the next invocation of the
window and saved with the checkpoint, a final invocation when the window ends). A
stream mapping (``sharded = True``) runs as a ``ShardedPoller``: one ``Poller`` per
shard (or per lane of it: ``ParallelizationFactor``), children of a resharded shard
started once their parents are read to the end.

Scaling: a poller starts one worker; a worker that fetched a full batch starts
another (up to ``max_workers``); a worker whose fetch came back empty retires unless
it is the last. A throttled invocation (``TooManyRequestsException``) backs the worker
off exponentially and retires it if others run. Nothing spins: SQS long polling (the
provider's wake-ups) is what a worker waits on; back-offs end early when the poller
stops.

Stopping (disable, update, delete, server stop) is graceful: a worker waiting on the
source stops waiting, one that holds a batch invokes and settles it first. Only the
SQS calls are made as the function's execution role (``Platform.call``), so IAM
applies to them as in AWS; the invocation itself is the Lambda service's.

The consumer of the batches is the ``Poller``'s: a Lambda function for an event source
mapping. Another consumer (an EventBridge pipe) subclasses ``Poller`` and overrides the
consumer side: ``function()`` (the role the source is read as, and the consumer's
concurrency limit), ``role()``, ``_invoke(records)`` (process the batch; the records
that failed) and ``failure_context(condition, invocations)`` (what a stream's
on-failure record says of the consumer); ``Pollers.run(mapping, poller_class)`` runs it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import math
import time
import uuid as uuids
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sandlot.events import lineage
from sandlot.events.patterns import FilterCriteria, PatternError, compile_filter_criteria
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.store import Migration, Table

if TYPE_CHECKING:
    from sandlot.platform import Platform

log = logging.getLogger("sandlot.events.pollers")

PAYLOAD_LIMIT = 6 * 1024 * 1024  # a synchronous invocation's request payload
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
FUNCTION_CACHE_S = 5.0  # how long a worker trusts what it read of the function
# AWS scales an SQS mapping to 1,250 concurrent invocations without a ScalingConfig;
# on one machine sandlot stops at this many unless MaximumConcurrency says otherwise.
DEFAULT_MAX_WORKERS = 10
SHUTDOWN_GRACE_S = 5.0


@dataclass(frozen=True)
class Mapping:
    """What a poller needs of a mapping row."""

    uuid: str
    account: str
    region: str
    function_name: str
    function_arn: str  # with the mapping's qualifier, if any
    source_arn: str
    settings: dict[str, Any]


@dataclass
class TargetFunction:
    """What a poller knows of the function it feeds (re-read now and then): the role
    its reads run as, and its reserved concurrency."""

    role_arn: str
    reserved: int | None
    read_at: float


class Problem(Exception):
    """The source or function cannot be used now (LastProcessingResult says why)."""


class Source:
    """A kind of event source; one instance per running mapping. See the module doc."""

    service: ClassVar[str]
    elastic: ClassVar[bool] = True
    sharded: ClassVar[bool] = False  # True: one Poller per shard (``ShardedPoller``)

    def __init__(self, poller: Poller) -> None:
        self.poller = poller
        self.mapping = poller.mapping

    async def fetch(self, limit: int, window_s: float, stopping: asyncio.Event) -> list:
        raise NotImplementedError

    def event(self, records: list) -> dict:
        raise NotImplementedError

    def item_id(self, record: Any) -> str:
        raise NotImplementedError

    def matches(self, filters: FilterCriteria, record: Any) -> bool:
        """Whether ``record`` passes the mapping's filters (each source says which of
        its fields holds the data, parsed as JSON when it is JSON)."""
        raise NotImplementedError

    def passes(self, filters: FilterCriteria, record: Any) -> bool:
        """Whether ``record`` goes to the function under the mapping's filters."""
        return self.matches(filters, record)

    async def discard(self, records: list) -> None:
        raise NotImplementedError

    def trace(self, records: list) -> str | None:
        """The X-Ray trace header the batch's invocation continues (loop detection), if
        the source carries one."""
        return None

    async def stopped(self, records: list) -> list:
        """Lambda refused the batch's invocation as a recursive loop: the records to
        settle as failed (kept); the others are settled as done."""
        return records

    async def settle(self, records: list, failed: list) -> None:
        raise NotImplementedError

    def answered(self, payload: bytes) -> bool:
        """Whether a function's answer (not an error) is one the source accepts; a
        tumbling window's invocation must answer its ``state``."""
        return True

    def max_workers(self, reserved: int | None) -> int:
        raise NotImplementedError


class Poller:
    """One running mapping (or one shard of it: ``shard``; ``child``: a shard created by
    resharding; ``lane``: one of ``ParallelizationFactor`` pollers of the shard, taking
    the partition keys that hash to it): its workers and their scaling. ``start`` /
    ``stop``."""

    def __init__(
        self,
        platform: Platform,
        mapping: Mapping,
        source_class: type[Source],
        *,
        shard: str | None = None,
        child: bool = False,
        lane: tuple[int, int] | None = None,
    ) -> None:
        self.platform = platform
        self.mapping = mapping
        self.settings = mapping.settings
        self.shard = shard
        self.child = child
        self.lane = lane  # (index, ParallelizationFactor): this poller's partition keys
        self.source = source_class(self)
        self.filters = compile_filters(self.settings.get("FilterCriteria"))
        self.last_result: str | None = None
        self._stopping = asyncio.Event()
        self._workers: set[asyncio.Task] = set()
        self._function: TargetFunction | None = None
        self.last_response: dict = {}

    def start(self) -> None:
        self._spawn()

    def shard_finished(self) -> None:
        """The source's shard is closed and read to its end: the workers retire."""
        self._stopping.set()

    async def stop(self, grace_s: float | None = None) -> None:
        """Let the workers finish what they hold (for at most ``grace_s``, then they
        are cancelled: their batches return after the visibility timeout)."""
        self._stopping.set()
        while self._workers:
            _, pending = await asyncio.wait(list(self._workers), timeout=grace_s)
            for task in pending:
                task.cancel()

    # -- the function, as the mapping's principal sees it ---------------------------------

    async def function(self) -> TargetFunction:
        """The function's role and reserved concurrency (re-read every few seconds)."""
        now = time.monotonic()
        if self._function is None or now - self._function.read_at > FUNCTION_CACHE_S:
            try:
                got = await self.platform.call(
                    "lambda",
                    "GetFunction",
                    {"FunctionName": self.mapping.function_arn},
                    principal=Principal.root(self.mapping.account),
                    region=self.mapping.region,
                    record_decisions=False,
                )
            except ServiceError as error:
                raise Problem(f"PROBLEM: {error.message}") from None
            reserved = (got.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
            self._function = TargetFunction(got["Configuration"]["Role"], reserved, now)
        return self._function

    def failure_context(self, condition: str, invocations: int) -> dict:
        """What a stream's on-failure record says of the consumer (Lambda's request and
        response context)."""
        response = self.last_response
        return {
            "requestContext": {
                "requestId": response.get("ResponseMetadata", {}).get("RequestId")
                or str(uuids.uuid4()),
                "functionArn": self.mapping.function_arn,
                "condition": condition,
                "approximateInvokeCount": invocations,
            },
            "responseContext": {
                "statusCode": response.get("StatusCode", 200),
                "executedVersion": response.get("ExecutedVersion", "$LATEST"),
                "functionError": response.get("FunctionError", ""),
            },
        }

    @property
    def role_arn(self) -> str | None:
        """The function's execution role as last read (Kinesis records name it)."""
        return self._function.role_arn if self._function is not None else None

    async def role(self) -> Principal:
        function = await self.function()
        return self.platform.function_principal(function.role_arn, self.mapping.function_name)

    # -- workers ------------------------------------------------------------------------------

    def _spawn(self) -> None:
        task = asyncio.create_task(self._work())
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _work(self) -> None:
        backoff = BACKOFF_FIRST_S
        limit = self.settings["BatchSize"]
        window = self.settings.get("MaximumBatchingWindowInSeconds") or 0
        while not self._stopping.is_set():
            try:
                records = await self.source.fetch(limit, window, self._stopping)
                if not records:
                    if len(self._workers) > 1 and self.source.elastic:
                        return  # the load fits fewer workers
                    continue
                if len(records) >= limit and self.source.elastic:
                    function = await self.function()
                    if len(self._workers) < self.source.max_workers(function.reserved):
                        self._spawn()
                await self._process(records)
                self.last_result = "OK"
                backoff = BACKOFF_FIRST_S
            except (Problem, Throttled) as trouble:
                if isinstance(trouble, Problem):
                    self.last_result = str(trouble)
                    log.warning("event source mapping %s: %s", self.mapping.uuid, trouble)
                elif len(self._workers) > 1:
                    return  # throttled: fewer workers
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event source mapping %s failed", self.mapping.uuid)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _process(self, records: list) -> None:
        if self.filters is not None:
            matches = [self.source.passes(self.filters, r) for r in records]
            kept = [r for r, match in zip(records, matches, strict=True) if match]
            dropped = [r for r, match in zip(records, matches, strict=True) if not match]
            if dropped:
                await self.source.discard(dropped)
            records = kept
            if not records:
                return
        failed = await self._invoke(records)
        await self.source.settle(records, failed)

    async def _invoke(self, records: list) -> list:
        """Run the function on the batch; the records that failed."""
        payload = json.dumps(self.source.event(records)).encode()
        if isinstance(records[-1], _StreamRecord):
            # IteratorAge: the age of the batch's last record as it goes to the function.
            age_ms = max(0.0, time.time() - records[-1].created) * 1000
            m = self.mapping
            for dims in ((), (("FunctionName", m.function_name),)):
                self.platform.metrics.emit(
                    m.account, m.region, "AWS/Lambda", "IteratorAge", dims, age_ms, "Milliseconds"
                )
        trace = self.source.trace(records)
        extra = {"trace_header": trace} if trace else {}
        try:
            result = await self.platform.call(
                "lambda",
                "Invoke",
                {
                    "FunctionName": self.mapping.function_arn,
                    "InvocationType": "RequestResponse",
                    "Payload": payload,
                },
                principal=Principal.root(self.mapping.account),
                region=self.mapping.region,
                record_decisions=False,
                **extra,
            )
        except ServiceError as error:
            if error.code == "RecursiveInvocationException":
                log.info("event source mapping %s: %s", self.mapping.uuid, error.message)
                return await self.source.stopped(records)
            if error.code == "TooManyRequestsException":
                # The batch stays invisible until its visibility timeout, as in AWS.
                raise Throttled() from None
            raise Problem(f"PROBLEM: {error.message}") from None
        self.last_response = result  # a stream's on-failure record tells of it
        if result.get("FunctionError"):
            return records
        if not self.source.answered(bytes(result.get("Payload") or b"")):
            return records
        if "ReportBatchItemFailures" not in (self.settings.get("FunctionResponseTypes") or ()):
            return []
        ids = [self.source.item_id(r) for r in records]
        reported = reported_failures(result.get("Payload") or b"", ids)
        if reported is None:
            return records
        return [r for r, i in zip(records, ids, strict=True) if i in reported]


class Throttled(Exception):
    """The function refused the batch for lack of concurrency: retry it later."""


def reported_failures(payload: bytes, ids: list[str]) -> set[str] | None:
    """The ids a ``ReportBatchItemFailures`` response reports failed; None when the whole
    batch counts as failed. AWS: an empty or null response, or an empty or null
    ``batchItemFailures``, is complete success; a response that is not JSON (or not an
    object), or an item whose ``itemIdentifier`` is missing, null, empty or not a record
    of the batch, fails the whole batch."""
    text = bytes(payload).strip()
    if not text:
        return set()
    try:
        response = json.loads(text)
    except ValueError:
        return None
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    items = response.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    known = set(ids)
    reported = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            return None
        reported.add(identifier)
    return reported


def compile_filters(criteria: dict | None) -> FilterCriteria | None:
    """The compiled ``FilterCriteria`` (None: no filtering), or the Lambda API's error
    for a bad one (``InvalidParameterValueException``, AWS's message)."""
    try:
        return compile_filter_criteria(criteria)
    except PatternError as error:
        raise ServiceError(error.code, error.message, 400, Type="User") from None


# == SQS ===================================================================================


def queue_parts(arn: str) -> tuple[str, str, str] | None:
    """(region, account, name) of an SQS queue ARN; None if it is not one."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[5]:
        return None
    return parts[3], parts[4], parts[5]


# The system attributes of a record, in the order AWS's records list them.
_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "AWSTraceHeader",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
    "DeadLetterQueueSourceArn",
)

# The SQS permissions a mapping's role needs, in the order AWS checks them.
SQS_ACTIONS = ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")


@dataclass
class _Message:
    """One received message: the SQS answer, and its size in the event."""

    raw: dict
    record: dict = field(default_factory=dict)
    size: int = 0


class SqsSource(Source):
    """Standard and FIFO queues. FIFO order per message group holds because the queue
    locks a group while a message of it is in flight: however many workers run, a
    group's next batch is received only once the previous one is settled."""

    service = "sqs"

    def __init__(self, poller: Poller) -> None:
        super().__init__(poller)
        region, account, name = queue_parts(self.mapping.source_arn) or ("", "", "")
        self.region = region
        self.queue_url = f"{poller.platform.endpoint_url}/{account}/{name}"
        self._max_message: int | None = None

    def max_workers(self, reserved: int | None) -> int:
        scaling = self.poller.settings.get("ScalingConfig") or {}
        limit = scaling.get("MaximumConcurrency") or DEFAULT_MAX_WORKERS
        if reserved is not None:
            limit = min(limit, max(reserved, 1))
        return limit

    async def _call(self, operation: str, params: dict) -> dict:
        principal = await self.poller.role()
        try:
            return await self.poller.platform.call(
                "sqs",
                operation,
                {"QueueUrl": self.queue_url, **params},
                principal=principal,
                region=self.region,
            )
        except ServiceError as error:
            raise Problem(f"PROBLEM: {operation} failed: {error.code}: {error.message}") from None

    async def _max_message_size(self) -> int:
        if self._max_message is None:
            got = await self._call("GetQueueAttributes", {"AttributeNames": ["MaximumMessageSize"]})
            self._max_message = int(got["Attributes"]["MaximumMessageSize"])
        return self._max_message

    async def fetch(self, limit: int, window_s: float, stopping: asyncio.Event) -> list:
        deadline = time.time() + window_s
        biggest = await self._max_message_size() + 2048  # a message and its record's fields
        messages: list[_Message] = []
        size = 0
        while len(messages) < limit and not stopping.is_set():
            room = min(10, limit - len(messages), (PAYLOAD_LIMIT - size) // biggest)
            if room <= 0:
                break
            if window_s == 0:  # one long poll: whatever it brings is the batch
                wait, timeout = 20, None
            else:  # poll until the window closes or the batch is full
                timeout = deadline - time.time()
                if timeout <= 0:
                    break
                wait = min(20, math.ceil(timeout))
            params = {
                "MaxNumberOfMessages": room,
                "WaitTimeSeconds": wait,
                "MessageSystemAttributeNames": ["All"],
                "MessageAttributeNames": ["All"],
            }
            call = self._call("ReceiveMessage", params)
            received = await _unless_stopping(call, stopping, timeout)
            for raw in (received or {}).get("Messages", ()):
                message = _Message(raw, self._record(raw))
                message.size = len(json.dumps(message.record)) + 1
                messages.append(message)
                size += message.size
            if window_s == 0:
                break
        return messages

    def _record(self, raw: dict) -> dict:
        system = raw.get("Attributes") or {}
        record = {
            "messageId": raw["MessageId"],
            "receiptHandle": raw["ReceiptHandle"],
            "body": raw["Body"],
            "attributes": {k: system[k] for k in _RECORD_ATTRIBUTES if k in system},
            "messageAttributes": {
                name: _lambda_attribute(value)
                for name, value in (raw.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": raw["MD5OfBody"],
        }
        if raw.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = raw["MD5OfMessageAttributes"]
        record["eventSource"] = "aws:sqs"
        record["eventSourceARN"] = self.mapping.source_arn
        record["awsRegion"] = self.region
        return record

    def event(self, records: list[_Message]) -> dict:
        return {"Records": [m.record for m in records]}

    def item_id(self, record: _Message) -> str:
        return record.raw["MessageId"]

    def matches(self, filters: FilterCriteria, record: _Message) -> bool:
        return filters.matches(record.record, data_key="body")

    def trace(self, records: list[_Message]) -> str | None:
        # One invocation runs a batch under one header: the deepest chain's, so a loop
        # is stopped however its messages are batched.
        headers = [m.record["attributes"].get("AWSTraceHeader") for m in records]
        function = self.mapping.function_arn.split(":")[:7]
        arn = ":".join(function)
        return max((h for h in headers if h), key=lambda h: lineage.count(h, arn), default=None)

    async def discard(self, records: list[_Message]) -> None:
        await self._delete(records)

    async def stopped(self, records: list[_Message]) -> list[_Message]:
        # AWS: a stopped loop's message goes to the queue's dead-letter queue if it has
        # one (kept in flight, it returns after the visibility timeout and the redrive
        # policy moves it there), else it is dropped (settled: deleted).
        got = await self._call("GetQueueAttributes", {"AttributeNames": ["RedrivePolicy"]})
        return records if (got.get("Attributes") or {}).get("RedrivePolicy") else []

    async def settle(self, records: list[_Message], failed: list[_Message]) -> None:
        # Failed messages stay in flight: they return after the visibility timeout.
        failed_ids = {id(m) for m in failed}
        await self._delete([m for m in records if id(m) not in failed_ids])

    async def _delete(self, records: list[_Message]) -> None:
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            entries = [
                {"Id": str(i), "ReceiptHandle": m.raw["ReceiptHandle"]} for i, m in enumerate(chunk)
            ]
            result = await self._call("DeleteMessageBatch", {"Entries": entries})
            for failure in result.get("Failed") or ():
                log.warning(
                    "event source mapping %s could not delete a message: %s",
                    self.mapping.uuid,
                    failure,
                )


def _lambda_attribute(value: dict) -> dict:
    """A message attribute as Lambda's SQS records spell it (lower camel case)."""
    out: dict[str, Any] = {}
    if value.get("StringValue") is not None:
        out["stringValue"] = value["StringValue"]
    if value.get("BinaryValue") is not None:
        out["binaryValue"] = base64.b64encode(bytes(value["BinaryValue"])).decode()
    out["stringListValues"] = list(value.get("StringListValues") or [])
    out["binaryListValues"] = [
        base64.b64encode(bytes(v)).decode() for v in value.get("BinaryListValues") or []
    ]
    out["dataType"] = value["DataType"]
    return out


async def _unless_stopping(call, stopping: asyncio.Event, timeout: float | None) -> dict | None:
    """``call``'s result, or None if ``stopping`` is set or ``timeout`` passes first (the
    call is then cancelled: a ReceiveMessage cancelled while it waits has received
    nothing, since it marks messages received only after its last wait, and one
    cancelled while it marks them completes with them, which are returned here)."""
    task = asyncio.ensure_future(call)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if not task.done():
        task.cancel()
    try:
        return await task  # what it got, if it finished before the cancel took effect
    except asyncio.CancelledError:
        return None


# == streams (DynamoDB Streams, Kinesis) =====================================================

# The permissions a stream mapping's role needs (AWS checks them on Create), per service
# the source ARN names.
STREAM_ACTIONS = ("GetRecords", "GetShardIterator", "DescribeStream", "ListStreams")
KINESIS_ACTIONS = ("GetRecords", "GetShardIterator", "DescribeStream", "ListShards")
STREAM_IDLE_S = 1.0  # a reader with nothing to read re-reads at least this often
RETRY_FIRST_S = 0.1  # a failing batch is retried after a growing pause
RETRY_MAX_S = 5.0
SHARD_SCAN_S = 2.0  # how often a sharded mapping looks for new (child) shards
SHARD_END = "SHARD_END"  # the checkpoint of a closed shard read to its end

# Where each (mapping, shard) has processed up to: the last sequence number that is done
# (processed, filtered out, or given up on), or SHARD_END. Written after each settled
# batch, so a restart resumes after it (at-least-once, as in AWS).
CHECKPOINTS = Table(
    "esm_stream_checkpoints",
    {"mapping": "TEXT", "shard": "TEXT", "seq": "TEXT", "updated": "REAL"},
    ("mapping", "shard"),
)
# The open tumbling window of each (mapping, shard): its start and the state the function
# last answered. Written with the checkpoint, so a restart resumes the window where the
# checkpoint is.
WINDOWS = Table(
    "esm_stream_windows",
    {"mapping": "TEXT", "shard": "TEXT", "start": "REAL", "state": "TEXT"},
    ("mapping", "shard"),
)
CHECKPOINT_MIGRATIONS = [Migration(1, create=CHECKPOINTS), Migration(2, create=WINDOWS)]
WINDOW_STATE_LIMIT = 1024 * 1024  # a bigger state ends its window early (AWS: 1 MB)


@dataclass
class _StreamRecord:
    """One stream record: the Lambda record, its sequence number and arrival time."""

    record: dict
    seq: str
    created: float


class _WindowEnd:
    """The batch of a tumbling window's final invocation: no records, the window's state."""

    seq = ""
    record: ClassVar[dict] = {}


def _lambda_value(value: Any) -> Any:
    """An attribute value as JSON: binary (B, BS, nested) as base64, as Lambda sends it."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _lambda_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lambda_value(v) for v in value]
    return value


def _iso(epoch: float, millis: bool = True) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def checkpoint_key(shard: str | None, lane: tuple[int, int] | None) -> str | None:
    """A checkpoint's key: the shard, or ``<shard>#<lane>/<factor>``."""
    return shard if lane is None else f"{shard}#{lane[0]}/{lane[1]}"


def lane_of(partition_key: str, factor: int) -> int:
    """The lane (of ``factor``) a partition key's records go to: stable across restarts,
    so one key's records stay in order in one lane."""
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest()[:8], "big") % factor


class StreamSource(Source):
    """A shard of a stream. One worker owns the shard: it reads records in order, holds a
    failing batch (retrying, bisecting, giving up to the ``OnFailure`` destination by
    ``MaximumRetryAttempts``/``MaximumRecordAgeInSeconds``) and checkpoints durably what
    is done. A worker with nothing to read waits on the stream provider's wake-up for the
    stream (signalled after each record's commit). Subclasses say how the service names
    things: ``api`` (the service called), ``batch_info`` (the key of the on-failure
    record's batch description), ``_iterator_params`` and ``_record``."""

    elastic = False
    api: ClassVar[str]
    batch_info: ClassVar[str]

    def __init__(self, poller: Poller) -> None:
        super().__init__(poller)
        self.store = poller.platform.store
        self.store.migrate("stream_checkpoints", CHECKPOINT_MIGRATIONS)
        self.region = self.mapping.source_arn.split(":")[3]
        self._shard: str | None = poller.shard
        self._iterator: str | None = None
        self._ended = False  # a closed shard read to its end
        self._buffer: list[_StreamRecord] = []  # read, not yet handed out
        self._held: list[_StreamRecord] = []  # a failing batch, retried before anything new
        self._batch: list[_StreamRecord] = []  # the batch out now (filtered ones included)
        self._attempts = 0  # retries of the held batch
        self._invocations = 0  # failed invocations since the last batch was done
        # Tumbling windows (TumblingWindowInSeconds; 0 = none): the open window (start,
        # end), the state the function last answered, and whether it grew past the limit.
        self._window_s = int(poller.settings.get("TumblingWindowInSeconds") or 0)
        self._window: tuple[float, float] | None = None
        self._state: dict = {}
        self._early = False
        self._restored = False

    def max_workers(self, reserved: int | None) -> int:
        return 1

    async def _call(self, operation: str, params: dict) -> dict:
        principal = await self.poller.role()
        return await self.poller.platform.call(
            self.api, operation, params, principal=principal, region=self.region
        )

    @property
    def _key(self) -> str:
        """The checkpoint's key: the shard, or the shard's lane."""
        return checkpoint_key(self._shard, self.poller.lane)

    def _checkpoint(self) -> str | None:
        row = self.store.get(CHECKPOINTS, self.mapping.uuid, self._key)
        if row is not None:
            return row["seq"]
        # None yet under this ParallelizationFactor (it changed): resume from the least
        # advanced checkpoint the shard has under another (at least once).
        others = [
            r["seq"]
            for r in self.store.select(CHECKPOINTS, {"mapping": self.mapping.uuid})
            if r["shard"].partition("#")[0] == self._shard
        ]
        numbers = [seq for seq in others if seq != SHARD_END]
        return min(numbers, key=int) if numbers else (SHARD_END if others else None)

    def _done(self, records: list[_StreamRecord]) -> None:
        if records:
            self._mark(records[-1].seq)

    def _mark(self, seq: str) -> None:
        row = {"mapping": self.mapping.uuid, "shard": self._key, "seq": seq}
        with self.store.transaction():  # the checkpoint and its window's state together
            self.store.put(CHECKPOINTS, {**row, "updated": time.time()})
            if self._window is not None:
                self._save_window()

    # -- tumbling windows -------------------------------------------------------------------

    def _save_window(self) -> None:
        start = self._window[0] if self._window is not None else 0.0
        row = {"mapping": self.mapping.uuid, "shard": self._key, "start": start}
        self.store.put(WINDOWS, {**row, "state": json.dumps(self._state)})

    def _restore_window(self) -> None:
        """The window open when the mapping last stopped (once the shard is known)."""
        if self._restored or self._shard is None:
            return
        self._restored = True
        row = self.store.get(WINDOWS, self.mapping.uuid, self._key)
        if row is not None and self._window_s:
            self._window = (row["start"], row["start"] + self._window_s)
            self._state = json.loads(row["state"])

    def _window_start(self, record: _StreamRecord) -> float:
        """AWS bounds windows by when records entered the stream, at multiples of the
        window's length."""
        return record.created - record.created % self._window_s

    def _final_due(self) -> bool:
        """Whether the open window must be closed (its final invocation) before more
        records go out: it ended, the next record belongs to a later one, or its state
        outgrew the limit."""
        if self._window is None:
            return False
        if self._early:
            return True
        if self._buffer:
            return self._window_start(self._buffer[0]) != self._window[0]
        return time.time() >= self._window[1]

    def _windowed(self, limit: int) -> list:
        """The next batch out of the buffer, all of one window (or the open window's
        final invocation)."""
        if self._final_due():
            self._batch = [_WindowEnd()]
            return self._batch
        start = self._window_start(self._buffer[0])
        if self._window is None:
            self._window, self._state = (start, start + self._window_s), {}
        count = 0
        for record in self._buffer[:limit]:
            if self._window_start(record) != start:
                break
            count += 1
        self._batch, self._buffer = self._buffer[:count], self._buffer[count:]
        return self._batch

    def answered(self, payload: bytes) -> bool:
        if not self._window_s or isinstance(self._batch[0], _WindowEnd):
            return True
        # AWS: a windowed invocation that answers no state failed.
        try:
            response = json.loads(payload or b"null")
        except ValueError:
            return False
        return isinstance(response, dict) and isinstance(response.get("state"), dict)

    def _window_closed(self) -> None:
        """The final invocation succeeded: the window ends, or (terminated early) goes on
        with a fresh state."""
        self._held, self._attempts, self._invocations = [], 0, 0
        self._state = {}
        with self.store.transaction():
            if self._early:
                self._early = False
                self._save_window()
            else:
                self._window = None
                self.store.delete(WINDOWS, self.mapping.uuid, self._key)

    @classmethod
    async def list_shards(cls, call) -> list[dict]:
        """Every shard of the stream (``call(operation, params)`` calls the service as
        the function's role, the stream named)."""
        raise NotImplementedError

    def _iterator_params(self, after: str | None) -> dict:
        """GetShardIterator's parameters: after ``after`` or at the StartingPosition."""
        raise NotImplementedError

    def _record(self, raw: dict) -> _StreamRecord:
        """A GetRecords record as the function receives it."""
        raise NotImplementedError

    async def _position(self) -> None:
        """The iterator after the checkpoint (or at the StartingPosition)."""
        try:
            after = self._buffer[-1].seq if self._buffer else self._checkpoint()
            if after == SHARD_END:
                self._ended = True
                return
            params = self._iterator_params(after)
            try:
                got = await self._call("GetShardIterator", params)
            except ServiceError as error:
                if error.code != "TrimmedDataAccessException":
                    raise
                # The checkpoint fell out of retention: from the oldest record kept.
                params = {**self._iterator_params(None), "ShardIteratorType": "TRIM_HORIZON"}
                params.pop("Timestamp", None)
                got = await self._call("GetShardIterator", params)
        except ServiceError as error:
            raise Problem(f"PROBLEM: {error.code}: {error.message}") from None
        self._iterator = got["ShardIterator"]

    async def _read(self, limit: int) -> bool:
        """Read up to ``limit`` more records into the buffer; whether any came."""
        if self._iterator is None:
            if self._ended:
                return False
            await self._position()
            if self._iterator is None:
                return False
        try:
            got = await self._call("GetRecords", {"ShardIterator": self._iterator, "Limit": limit})
        except ServiceError as error:
            if error.code == "ExpiredIteratorException":
                self._iterator = None
                return False
            raise Problem(f"PROBLEM: {error.code}: {error.message}") from None
        self._iterator = got.get("NextShardIterator")  # None: a closed shard, read to its end
        if self._iterator is None:
            self._ended = True
        lane = self.poller.lane
        for raw in got.get("Records") or ():
            if lane is None or lane_of(self._partition_key(raw), lane[1]) == lane[0]:
                self._buffer.append(self._record(raw))
        return bool(got.get("Records"))

    def _partition_key(self, raw: dict) -> str:
        """What keeps records in order within a lane (ParallelizationFactor)."""
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        """A closed shard whose every record is done."""
        return self._ended and not (self._buffer or self._held)

    async def fetch(self, limit: int, window_s: float, stopping: asyncio.Event) -> list:
        if self._held:
            pause = min(RETRY_FIRST_S * 2 ** max(self._attempts - 1, 0), RETRY_MAX_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), pause)
            self._batch = list(self._held)
            return self._batch
        if self._window_s:
            self._restore_window()
            if self._window is not None and not self._buffer and time.time() >= self._window[1]:
                await self._read(limit)  # what entered the stream before the window ended
            if self._final_due():
                return self._windowed(limit)
        deadline = time.time() + window_s
        wakeups = self.poller.platform.provider(self.api).wakeups
        while not stopping.is_set() and len(self._buffer) < limit:
            # A record committed while GetRecords is out must still wake the wait below.
            since = wakeups.mark(self.mapping.source_arn)
            got = await self._read(limit - len(self._buffer))
            now = time.time()
            if self._buffer and (now >= deadline or self._ended):
                break
            if got:
                continue
            if self.finished and self._window is not None:
                # AWS: a shard's end closes its window.
                self._batch = [_WindowEnd()]
                return self._batch
            if self.finished:
                if self._checkpoint() != SHARD_END:
                    self._mark(SHARD_END)  # children may start
                self.poller.shard_finished()
                return []
            # Nothing new: wait for a record's wake-up (until the batching window closes,
            # or for an idle while: an empty batch lets the poller look at its state).
            until = deadline if self._buffer else now + STREAM_IDLE_S
            if self._window is not None:  # wake up to close it
                until = min(until, self._window[1])
            woke = await _unless_stopping(
                wakeups.wait(self.mapping.source_arn, until, since=since), stopping, None
            )
            if not woke and not self._buffer:
                return []
        if self._window_s and self._buffer:
            return self._windowed(limit)
        self._batch, self._buffer = self._buffer[:limit], self._buffer[limit:]
        return self._batch

    def event(self, records: list[_StreamRecord]) -> dict:
        final = bool(records) and isinstance(records[0], _WindowEnd)
        event: dict[str, Any] = {"Records": [] if final else [r.record for r in records]}
        if self._window_s and self._window is not None:
            start, end = self._window
            event.update(
                window={"start": _iso(start, millis=False), "end": _iso(end, millis=False)},
                state=self._state,
                shardId=self._shard,
                eventSourceARN=self.mapping.source_arn,
                isFinalInvokeForWindow=final,
                isWindowTerminatedEarly=final and self._early,
            )
        return event

    def item_id(self, record: _StreamRecord) -> str:
        return record.seq

    def passes(self, filters: FilterCriteria, record: _StreamRecord) -> bool:
        return isinstance(record, _WindowEnd) or self.matches(filters, record)

    async def discard(self, records: list[_StreamRecord]) -> None:
        if len(records) == len(self._batch):  # nothing left to invoke: all done
            self._finish(self._batch)

    def _finish(self, records: list[_StreamRecord]) -> None:
        self._held, self._attempts, self._invocations = [], 0, 0
        self._done(records)

    async def settle(self, records: list[_StreamRecord], failed: list[_StreamRecord]) -> None:
        if self._window_s and isinstance(self._batch[0], _WindowEnd):
            # AWS: a failed final invocation holds the shard until one succeeds.
            if failed:
                self._attempts += 1
                self._held = self._batch
            else:
                self._window_closed()
            return
        if self._window_s and len(failed) < len(records):
            self._take_state()
        if not failed:
            self._finish(self._batch)
            return
        # Everything before the first failure (the lowest sequence number reported) is
        # done; the batch is retried from there.
        first = min(records.index(r) for r in failed)
        start = self._batch.index(records[first])
        self._done(self._batch[:start])
        remaining = self._batch[start:]
        self._invocations += 1
        settings = self.poller.settings
        max_age = settings.get("MaximumRecordAgeInSeconds", -1)
        max_retries = settings.get("MaximumRetryAttempts", -1)
        if max_age != -1 and time.time() - remaining[0].created > max_age:
            await self._give_up(remaining, "RecordAgeExceeded")
        elif settings.get("BisectBatchOnFunctionError") and len(remaining) > 1:
            # Splitting does not count against the retries (AWS); the second half waits
            # its turn, unread.
            half = len(remaining) // 2
            self._held, self._buffer = remaining[:half], remaining[half:] + self._buffer
        elif max_retries != -1 and self._attempts >= max_retries:
            await self._give_up(remaining, "RetryAttemptsExhausted")
        else:
            self._attempts += 1
            self._held = remaining

    def _take_state(self) -> None:
        """The state an answered windowed invocation returned becomes the window's
        (saved with the checkpoint the batch moves)."""
        payload = bytes(self.poller.last_response.get("Payload") or b"")
        self._state = json.loads(payload)["state"]
        if len(json.dumps(self._state)) > WINDOW_STATE_LIMIT:
            self._early = True

    async def _give_up(self, records: list[_StreamRecord], condition: str) -> None:
        """The OnFailure destination (if any) gets AWS's record of the batch; the shard
        moves on past it."""
        destination = (self.poller.settings.get("DestinationConfig") or {}).get("OnFailure") or {}
        target = destination.get("Destination")
        principal = await self.poller.role()  # AWS sends as the execution role
        with self.store.transaction():
            if target:
                body = self._failure_record(records, condition)
                options = {}
                if target.split(":")[2] == "s3":
                    # S3 gets the whole event as well, at AWS's object name.
                    body["payload"] = json.dumps(self.event(records))
                    options["Key"] = self._failure_key()
                self.poller.platform.deliveries.stage(
                    target,
                    json.dumps(body),
                    principal=principal,
                    options=options,
                    region=target.split(":")[3] or self.mapping.region,
                )
            self._finish(records)

    def _failure_key(self) -> str:
        """AWS's name for a failure record in S3:
        ``aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<random UUID>``."""
        stamp = datetime.now(UTC)
        return (
            f"aws/lambda/{self.mapping.uuid}/{self._shard}/{stamp:%Y/%m/%d}/"
            f"{stamp:%Y-%m-%dT%H.%M.%S}-{uuids.uuid4()}"
        )

    def _failure_record(self, records: list[_StreamRecord], condition: str) -> dict:
        return {
            **self.poller.failure_context(condition, self._invocations),
            "version": "1.0",
            "timestamp": _iso(time.time()),
            self.batch_info: {
                "shardId": self._shard,
                "startSequenceNumber": records[0].seq,
                "endSequenceNumber": records[-1].seq,
                "approximateArrivalOfFirstRecord": _iso(records[0].created, millis=False),
                "approximateArrivalOfLastRecord": _iso(records[-1].created, millis=False),
                "batchSize": len(records),
                "streamArn": self.mapping.source_arn,
            },
        }


class DynamoDBStreamSource(StreamSource):
    """A DynamoDB stream (one shard per stream in sandlot)."""

    service = "dynamodb"
    api = "dynamodbstreams"
    batch_info = "DDBStreamBatchInfo"
    sharded = True  # for ParallelizationFactor's lanes, and a stream's shard lineage

    @classmethod
    async def list_shards(cls, call) -> list[dict]:
        shards: list[dict] = []
        params: dict = {}
        while True:
            got = (await call("DescribeStream", params))["StreamDescription"]
            shards += got["Shards"]
            if not got.get("LastEvaluatedShardId"):
                return shards
            params = {"ExclusiveStartShardId": got["LastEvaluatedShardId"]}

    def _partition_key(self, raw: dict) -> str:
        # AWS keeps order per item (its whole key) across the lanes.
        return json.dumps(_lambda_value(raw["dynamodb"]["Keys"]), sort_keys=True)

    def _iterator_params(self, after: str | None) -> dict:
        params = {"StreamArn": self.mapping.source_arn, "ShardId": self._shard}
        if after is not None:
            params.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        else:
            params["ShardIteratorType"] = self.poller.settings["StartingPosition"]
        return params

    def _record(self, raw: dict) -> _StreamRecord:
        created = raw["dynamodb"]["ApproximateCreationDateTime"].timestamp()
        record = {k: _lambda_value(v) for k, v in raw.items() if k != "userIdentity"}
        record["dynamodb"]["ApproximateCreationDateTime"] = int(created)
        if raw.get("userIdentity"):
            identity = raw["userIdentity"]
            record["userIdentity"] = {
                "type": identity["Type"],
                "principalId": identity["PrincipalId"],
            }
        record["eventSourceARN"] = self.mapping.source_arn
        return _StreamRecord(record, raw["dynamodb"]["SequenceNumber"], created)

    def matches(self, filters: FilterCriteria, record: _StreamRecord) -> bool:
        # AWS filters DynamoDB records on their fields as they are (the `dynamodb` key
        # holds Keys/NewImage/OldImage in attribute-value form): no data field to parse.
        return filters.matches(record.record)


class KinesisSource(StreamSource):
    """One shard of a Kinesis stream (a ``ShardedPoller`` runs one per shard)."""

    service = "kinesis"
    api = "kinesis"
    batch_info = "KinesisBatchInfo"
    sharded = True

    def _iterator_params(self, after: str | None) -> dict:
        params = {"StreamARN": self.mapping.source_arn, "ShardId": self._shard}
        settings = self.poller.settings
        if after is not None:
            params.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        elif self.poller.child:  # a child shard is read from its start
            params["ShardIteratorType"] = "TRIM_HORIZON"
        elif settings["StartingPosition"] == "AT_TIMESTAMP":
            params.update(
                ShardIteratorType="AT_TIMESTAMP", Timestamp=settings["StartingPositionTimestamp"]
            )
        else:
            params["ShardIteratorType"] = settings["StartingPosition"]
        return params

    @classmethod
    async def list_shards(cls, call) -> list[dict]:
        shards: list[dict] = []
        params: dict = {}
        while True:
            got = await call("ListShards", params)
            shards += got["Shards"]
            if not got.get("NextToken"):
                return shards
            params = {"NextToken": got["NextToken"]}

    def _partition_key(self, raw: dict) -> str:
        return raw["PartitionKey"]

    def _record(self, raw: dict) -> _StreamRecord:
        arrival = raw["ApproximateArrivalTimestamp"].timestamp()
        record = {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": raw["PartitionKey"],
                "sequenceNumber": raw["SequenceNumber"],
                "data": base64.b64encode(bytes(raw["Data"])).decode(),
                "approximateArrivalTimestamp": round(arrival, 3),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{self._shard}:{raw['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": self.poller.role_arn,
            "awsRegion": self.region,
            "eventSourceARN": self.mapping.source_arn,
        }
        return _StreamRecord(record, raw["SequenceNumber"], arrival)

    def matches(self, filters: FilterCriteria, record: _StreamRecord) -> bool:
        # AWS filters Kinesis records on the `data` key only (parsed when it is JSON).
        view = {"data": record.record["kinesis"]["data"]}
        return filters.matches(view, data_key="data", base64_data=True)


class ShardedPoller:
    """A mapping on a stream (Kinesis, DynamoDB Streams): one ``Poller`` per shard (or
    ``ParallelizationFactor`` per shard, each taking the partition keys (DynamoDB: item
    keys) that hash to it, so a key's records stay in order), each with its own worker
    and checkpoint. Every few seconds it lists the shards (as the function's
    role) and starts pollers for shards not yet done, a child shard only once its
    parents are read to their end (so records stay in order per partition key across
    resharding, as in AWS)."""

    def __init__(
        self,
        platform: Platform,
        mapping: Mapping,
        source_class: type[Source],
        poller_class: type[Poller] = Poller,
    ) -> None:
        self.platform = platform
        self.mapping = mapping
        self.source_class = source_class
        self.poller_class = poller_class
        self._pollers: dict[tuple[str, tuple[int, int] | None], Poller] = {}
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self._problem: str | None = None
        self._lister = poller_class(platform, mapping, source_class, shard="")  # for role()

    @property
    def last_result(self) -> str | None:
        results = [p.last_result for p in self._pollers.values() if p.last_result]
        problems = [r for r in results if r.startswith("PROBLEM")]
        return self._problem or (problems[0] if problems else results[0] if results else None)

    def start(self) -> None:
        self._task = asyncio.create_task(self._scan())

    async def stop(self, grace_s: float | None = None) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*(p.stop(grace_s) for p in self._pollers.values()))

    def _lanes(self) -> list[tuple[int, int] | None]:
        """One poller per shard, or ``ParallelizationFactor`` lanes of it."""
        factor = int(self.mapping.settings.get("ParallelizationFactor") or 1)
        return [None] if factor == 1 else [(i, factor) for i in range(factor)]

    async def _shards(self) -> list[dict]:
        principal = await self._lister.role()
        region = self.mapping.source_arn.split(":")[3]
        source = self.source_class
        stream = {"StreamARN" if source.api == "kinesis" else "StreamArn": self.mapping.source_arn}

        async def call(operation: str, params: dict) -> dict:
            if "NextToken" not in params:  # a Kinesis page token names the stream itself
                params = {**stream, **params}
            return await self.platform.call(
                source.api, operation, params, principal=principal, region=region
            )

        return await source.list_shards(call)

    async def _scan(self) -> None:
        store = self.platform.store
        store.migrate("stream_checkpoints", CHECKPOINT_MIGRATIONS)
        while not self._stopping.is_set():
            try:
                shards = await self._shards()
                self._problem = None
                known = {s["ShardId"] for s in shards}
                ended = {
                    r["shard"]
                    for r in store.select(CHECKPOINTS, {"mapping": self.mapping.uuid})
                    if r["seq"] == SHARD_END
                }
                lanes = self._lanes()
                done = {
                    s["ShardId"]
                    for s in shards
                    if all(checkpoint_key(s["ShardId"], lane) in ended for lane in lanes)
                }
                for shard in shards:
                    sid = shard["ShardId"]
                    parents = [shard.get("ParentShardId"), shard.get("AdjacentParentShardId")]
                    parents = [p for p in parents if p and p in known]
                    if sid in done or not set(parents) <= done:
                        continue
                    # A child of a shard this mapping read starts at its beginning.
                    child = any(shard.get(k) for k in ("ParentShardId", "AdjacentParentShardId"))
                    for lane in lanes:
                        if (sid, lane) in self._pollers:
                            continue
                        poller = self.poller_class(self.platform, self.mapping,
                                                   self.source_class, shard=sid, child=child,
                                                   lane=lane)  # fmt: skip
                        self._pollers[(sid, lane)] = poller
                        poller.start()
            except Problem as problem:
                self._problem = str(problem)
            except ServiceError as error:
                self._problem = f"PROBLEM: {error.code}: {error.message}"
            except Exception:
                log.exception("event source mapping %s: listing shards", self.mapping.uuid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), SHARD_SCAN_S)


# == the engine ==============================================================================

SOURCES: dict[str, type[Source]] = {
    "sqs": SqsSource,
    "dynamodb": DynamoDBStreamSource,
    "kinesis": KinesisSource,
}


def source_service(arn: str) -> str | None:
    """The service of an event source ARN that sandlot can poll, or None."""
    parts = arn.split(":")
    service = parts[2] if len(parts) >= 6 and parts[0] == "arn" else None
    return service if service in SOURCES else None


class Pollers:
    """The running pollers of a platform, by mapping UUID."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._running: dict[str, Poller | ShardedPoller] = {}
        self._retiring: set[asyncio.Task] = set()  # replaced pollers finishing up

    def run(self, mapping: Mapping, poller_class: type[Poller] = Poller) -> None:
        """Start polling for ``mapping`` (replacing a poller of the same UUID: the old
        one finishes the batches it holds meanwhile); ``poller_class`` is the consumer
        (a Lambda function by default)."""
        old = self._running.pop(mapping.uuid, None)
        if old is not None:
            task = asyncio.ensure_future(old.stop())
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        source = SOURCES[source_service(mapping.source_arn)]
        if source.sharded:
            poller = ShardedPoller(self._platform, mapping, source, poller_class)
        else:
            poller = poller_class(self._platform, mapping, source)
        self._running[mapping.uuid] = poller
        poller.start()

    async def stop(self, uuid: str) -> None:
        poller = self._running.pop(uuid, None)
        if poller is not None:
            await poller.stop()

    def forget(self, uuid: str) -> None:
        """A deleted mapping's stream checkpoints go with it."""
        store = self._platform.store
        store.migrate("stream_checkpoints", CHECKPOINT_MIGRATIONS)
        store.delete_where(CHECKPOINTS, {"mapping": uuid})
        store.delete_where(WINDOWS, {"mapping": uuid})

    def last_result(self, uuid: str) -> str | None:
        poller = self._running.get(uuid)
        return poller.last_result if poller is not None else None

    def running(self, uuid: str) -> bool:
        return uuid in self._running

    async def close(self) -> None:
        """Stop every poller (server shutdown): batches being invoked get a few
        seconds to finish; whatever is cut short returns after its visibility timeout."""
        pollers, self._running = list(self._running.values()), {}
        await asyncio.gather(
            *(p.stop(SHUTDOWN_GRACE_S) for p in pollers), *self._retiring, return_exceptions=True
        )
