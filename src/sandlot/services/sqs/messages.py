"""Message operations: send, receive (with long polling), delete, change visibility.

Every 2xx follows a committed transaction (store/db.py): an acknowledged send
survives a kill -9. Long polls wait on ``Wakeups`` keyed by the queue ARN; whoever
makes a message receivable now (a send, a visibility change to 0, a redrive) notifies
after its commit, and a waiter also wakes when the next delayed or in-flight message
comes due.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.sqs import attributes as attrs
from sandlot.services.sqs import messages_format as fmt
from sandlot.services.sqs.base import SqsBase
from sandlot.services.sqs.errors import (
    invalid_parameter,
    invalid_value,
    missing_parameter,
)
from sandlot.services.sqs.storage import Queue
from sandlot.uuids import uuid4_text

MAX_BATCH = 10
MAX_BATCH_BYTES = 1_048_576
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
SYSTEM_ATTRIBUTES = (
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)
_WRONG_TYPE = "The request include parameter that is not valid for this queue type."


class MessageOperations(SqsBase):
    # == send =============================================================================

    async def send_message(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        now = time.time()
        if queue.fifo:  # the deduplication check and the write in one transaction
            with self.store.transaction():
                result = self._send(ctx, queue, params, now)
        else:  # concurrent sends share a commit (the answer still follows it)
            row, result = self._new_message(ctx, queue, params, now)
            await self.storage.writes.put(row)
        self.wakeups.notify(queue.arn)
        self._metric(queue, "NumberOfMessagesSent", 1)
        self._metric(queue, "SentMessageSize", len(params["MessageBody"].encode()), "Bytes")
        return result

    def _metric(self, queue: Queue, name: str, value: float, unit: str = "Count") -> None:
        """One of AWS/SQS's metrics, by QueueName (buffered: sandlot/metrics.py)."""
        self.platform.metrics.emit(
            queue.account, queue.row["region"], "AWS/SQS", name, (("QueueName", queue.name),),
            value, unit,
        )  # fmt: skip

    async def send_message_batch(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        entries = _check_batch(params.get("Entries") or [], "SendMessageBatchRequestEntry")
        total = sum(
            len((e.get("MessageBody") or "").encode())
            + fmt.check_attributes(e.get("MessageAttributes") or {})
            for e in entries
        )
        limit = MAX_BATCH_BYTES  # the whole batch's limit, whatever the queue's
        if total > limit:
            raise ServiceError(
                "BatchRequestTooLong",
                f"Batch requests cannot be longer than {limit} bytes. You have sent {total} bytes.",
            )
        now = time.time()
        successful, failed, rows = [], [], []
        # FIFO: entries are deduplicated against each other, so each is written in turn
        # (one transaction); standard: the rows share a commit with concurrent sends.
        with self.store.transaction() if queue.fifo else contextlib.nullcontext():
            for entry in entries:
                try:
                    if queue.fifo:
                        result = self._send(ctx, queue, entry, now)
                    else:
                        row, result = self._new_message(ctx, queue, entry, now)
                        rows.append(row)
                except ServiceError as error:
                    failed.append(_failure(entry["Id"], error))
                    continue
                successful.append({"Id": entry["Id"], **result})
        if rows:
            await self.storage.writes.put_many(rows)
        self.wakeups.notify(queue.arn)
        if successful:
            self._metric(queue, "NumberOfMessagesSent", len(successful))
        return {"Successful": successful, "Failed": failed}

    def _send(self, ctx: RequestContext, queue: Queue, params: dict, now: float) -> dict:
        """Validate one message and write its row (inside the caller's transaction)."""
        row, result = self._new_message(ctx, queue, params, now)
        if row is not None:
            self.storage.put_message(row)
            if queue.fifo:
                key = _dedup_key(queue, row["group_id"], row["dedup_id"])
                self.storage.remember(queue.arn, key, row["message_id"], row["seq"], now)
        return result

    def _new_message(
        self, ctx: RequestContext, queue: Queue, params: dict, now: float
    ) -> tuple[dict | None, dict]:
        """Validate one message: its row and the answer (no row: a FIFO duplicate)."""
        body = params.get("MessageBody")
        if body is None or body == "":
            raise missing_parameter("MessageBody")
        fmt.check_characters(body)
        user = params.get("MessageAttributes") or {}
        system = params.get("MessageSystemAttributes") or {}
        size = len(body.encode()) + fmt.check_attributes(user)
        fmt.check_attributes(system, system=True)
        limit = queue.int("MaximumMessageSize")
        if size > limit:
            raise invalid_parameter(
                f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
            )
        delay = params.get("DelaySeconds")
        group, dedup = params.get("MessageGroupId"), params.get("MessageDeduplicationId")
        if delay is not None:
            if queue.fifo:
                raise invalid_value(delay, "DelaySeconds", _WRONG_TYPE)
            if not 0 <= delay <= 900:
                raise invalid_value(delay, "DelaySeconds", "DelaySeconds must be >= 0 and <= 900.")
        else:
            delay = queue.int("DelaySeconds")
        if queue.fifo:
            if not group:
                raise missing_parameter("MessageGroupId")
            if not dedup:
                if queue.attributes.get("ContentBasedDeduplication") != "true":
                    raise invalid_parameter(
                        "The queue should either have ContentBasedDeduplication enabled or "
                        "MessageDeduplicationId provided explicitly"
                    )
                dedup = fmt.content_dedup_id(body)
        elif dedup is not None:
            raise invalid_value(dedup, "MessageDeduplicationId", _WRONG_TYPE)
        for name, value in (("MessageGroupId", group), ("MessageDeduplicationId", dedup)):
            if value is not None and not re.fullmatch(r"[!-~]{1,128}", value):
                raise invalid_value(
                    value,
                    name,
                    f"{name} can only include alphanumeric and punctuation characters. 1 to 128 in length.",
                )
        result = {"MD5OfMessageBody": fmt.body_md5(body)}  # the digests of what was sent
        if user:
            result["MD5OfMessageAttributes"] = fmt.attributes_md5(user)
        if system:
            result["MD5OfMessageSystemAttributes"] = fmt.attributes_md5(system)
        trace = ctx.trace()
        if trace and "AWSTraceHeader" not in system:
            # The request's X-Ray header becomes the message's (an explicit one wins), so
            # a chain of requests (Lambda's loop detection) continues through the queue.
            system = {**system, "AWSTraceHeader": {"DataType": "String", "StringValue": trace}}
        if queue.fifo:
            earlier = self.storage.deduplicated(queue.arn, _dedup_key(queue, group, dedup), now)
            if earlier is not None:  # accepted, not enqueued again (AWS's answer is the same)
                result.update(
                    MessageId=earlier["message_id"], SequenceNumber=_sequence(earlier["seq"])
                )
                return None, result
        seq = self.storage.next_seq()
        message_id = uuid4_text()
        row = {
            "queue": queue.arn,
            "seq": seq,
            "message_id": message_id,
            "body": body,
            "attributes": json.dumps(fmt.stored(user)) if user else None,
            "system": json.dumps(fmt.stored(system)) if system else None,
            "md5_body": result["MD5OfMessageBody"],
            "md5_attributes": result.get("MD5OfMessageAttributes"),
            "sent": now,
            "visible_at": now + delay,
            "received": 0,
            "receive_count": 0,
            "first_received": None,
            "receipt": None,
            "group_id": group,
            "dedup_id": dedup,
            "sender": ctx.principal.user_id,
            "dead_letter_source": None,
        }
        if queue.fifo:
            result["SequenceNumber"] = _sequence(seq)
        result["MessageId"] = message_id
        return row, result

    # == receive ==========================================================================

    async def receive_message(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        count = params.get("MaxNumberOfMessages", 1)
        if not 1 <= count <= MAX_BATCH:
            raise invalid_value(
                count, "MaxNumberOfMessages", "Must be between 1 and 10, if provided."
            )
        wait = params.get("WaitTimeSeconds")
        if wait is None:
            wait = queue.int("ReceiveMessageWaitTimeSeconds")
        elif not 0 <= wait <= 20:
            raise invalid_value(wait, "WaitTimeSeconds", "Must be >= 0 and <= 20, if provided.")
        visibility = params.get("VisibilityTimeout")
        if visibility is None:
            visibility = queue.int("VisibilityTimeout")
        elif not 0 <= visibility <= 43_200:
            raise invalid_value(
                visibility, "VisibilityTimeout", "Must be >= 0 and <= 43200, if provided."
            )
        system_names = set(params.get("MessageSystemAttributeNames") or []) | set(
            params.get("AttributeNames") or []
        )
        for name in system_names:
            if name not in SYSTEM_ATTRIBUTES and name != "All":
                raise invalid_parameter(f"Unknown Attribute {name}.")
        user_names = params.get("MessageAttributeNames") or []
        attempt = params.get("ReceiveRequestAttemptId")
        deadline = time.time() + wait
        while True:
            now = time.time()
            # The receive is awaited (a commit): a notify meanwhile must still end the wait.
            since = self.wakeups.mark(queue.arn)
            rows = await self._receive(queue, count, visibility, attempt, now)
            if rows or now >= deadline:
                break
            next_due = self.storage.next_due(queue.arn, now)
            until = deadline if next_due is None else min(deadline, next_due)
            await self.wakeups.wait(queue.arn, until, since=since)
            fresh = self.storage.queue(queue.account, queue.row["region"], queue.name)
            if fresh is None:
                break
            queue = fresh
        messages = [self._message_out(queue, row, system_names, user_names) for row in rows]
        if messages:
            self._metric(queue, "NumberOfMessagesReceived", len(messages))
        else:
            self._metric(queue, "NumberOfEmptyReceives", 1)
        return {"Messages": messages} if messages else {}

    async def _receive(
        self, queue: Queue, count: int, visibility: int, attempt: str | None, now: float
    ) -> list[dict]:
        redrive = attrs.redrive_policy(queue.attributes)

        def claim() -> tuple[list[dict], bool]:
            """Inside a transaction: take the due rows (moving those received
            ``maxReceiveCount`` times to the dead-letter queue) and give them new receipts;
            (the rows, whether any moved)."""
            rows = self.storage.due(queue, count, now)
            moved = False
            if redrive is not None:
                rows, moved = self._redrive(queue, rows, redrive, now)
            return self.storage.mark_received(rows, visibility, now), moved

        if not queue.fifo:
            # Standard queues: the receive shares a commit with concurrent receives, sends
            # and deletes, and runs inside it on the commit thread, where it sees every
            # write queued before it (two receives never take the same row).
            claiming = asyncio.ensure_future(self.storage.writes.run(claim))
            try:
                rows, moved = await asyncio.shield(claiming)
            except asyncio.CancelledError:
                # Cancelled while the claim commits (a mapping's poller stopping after a
                # message woke its long poll, a client gone): the claim commits anyway,
                # so the receive completes with what it took rather than leave it
                # invisible for the visibility timeout. With nothing taken it stops.
                rows, moved = await claiming
                if not rows:
                    raise
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
        else:
            if attempt:
                repeated = self._attempts.get((queue.arn, attempt))
                if repeated is not None and repeated[0] > now:
                    rows = [self.storage.message(queue.arn, seq) for seq, _ in repeated[1]]
                    if all(
                        r is not None and r["receipt"] == n
                        for r, (_, n) in zip(rows, repeated[1], strict=True)
                    ):
                        return rows
            with self.store.transaction():  # no await until the attempt is recorded
                rows, moved = claim()
        if moved:
            self.wakeups.notify(redrive[0])
        if queue.fifo and attempt:
            if len(self._attempts) > 10_000:  # forget the expired ones now and then
                self._attempts = {k: v for k, v in self._attempts.items() if v[0] > now}
            self._attempts[(queue.arn, attempt)] = (
                now + 300,
                [(r["seq"], r["receipt"]) for r in rows],
            )
        return rows

    def _redrive(
        self, queue: Queue, rows: list[dict], redrive: tuple[str, int], now: float
    ) -> tuple[list[dict], bool]:
        """Move the rows already received ``maxReceiveCount`` times to the dead-letter
        queue; (the rows to deliver, whether any moved)."""
        target_arn, max_count = redrive
        keep, moved = [], False
        dlq = None
        for row in rows:
            if row["receive_count"] < max_count:
                keep.append(row)
                continue
            dlq = dlq or self.storage.queue_by_arn(target_arn)
            if dlq is None:  # the DLQ was deleted: the message stays where it is
                keep.append(row)
                continue
            self.move(row, queue, dlq, now, dead_letter_source=queue.arn)
            moved = True
        return keep, moved

    def move(
        self, row: dict, source: Queue, target: Queue, now: float, *, dead_letter_source: str | None
    ) -> None:
        """Move a message row to ``target`` (redrive and move tasks), keeping its id,
        body, attributes and send time; inside the caller's transaction."""
        self.storage.delete_message(source.arn, row["seq"])
        self.storage.put_message(
            {
                **row,
                "queue": target.arn,
                "seq": self.storage.next_seq(),
                "visible_at": now,
                "received": 0,
                "receive_count": 0,
                "first_received": None,
                "receipt": None,
                "dead_letter_source": dead_letter_source,
            }
        )

    def _message_out(self, queue: Queue, row: dict, system: set[str], user: list[str]) -> dict:
        out = {
            "MessageId": row["message_id"],
            "ReceiptHandle": self.receipt_handle(queue, row),
            "MD5OfBody": row["md5_body"],
            "Body": row["body"],
        }
        if system:
            values = {
                "SenderId": row["sender"],
                "SentTimestamp": str(int(row["sent"] * 1000)),
                "ApproximateReceiveCount": str(row["receive_count"]),
                "ApproximateFirstReceiveTimestamp": str(int(row["first_received"] * 1000)),
            }
            if queue.fifo:
                values["SequenceNumber"] = _sequence(row["seq"])
                values["MessageDeduplicationId"] = row["dedup_id"]
            if row["group_id"]:
                values["MessageGroupId"] = row["group_id"]
            if row["system"]:
                trace = json.loads(row["system"]).get("AWSTraceHeader")
                if trace:
                    values["AWSTraceHeader"] = trace["StringValue"]
            if row["dead_letter_source"]:
                values["DeadLetterQueueSourceArn"] = row["dead_letter_source"]
            if "All" not in system:
                values = {k: v for k, v in values.items() if k in system}
            if values:
                out["Attributes"] = values
        if user and row["attributes"]:
            stored = json.loads(row["attributes"])
            chosen = {k: v for k, v in stored.items() if _wanted(k, user)}
            if chosen:
                out["MessageAttributes"] = fmt.wire(chosen)
                out["MD5OfMessageAttributes"] = fmt.attributes_md5(chosen)
        return out

    # == delete and visibility ============================================================

    async def delete_message(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        seq = self._deletable(queue, params["ReceiptHandle"], time.time())
        if seq is not None:
            await self._delete(queue, [seq])
        return {}

    async def delete_message_batch(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        entries = _check_batch(params.get("Entries") or [], "DeleteMessageBatchRequestEntry")
        successful, failed, seqs = [], [], []
        now = time.time()
        for entry in entries:
            try:
                seq = self._deletable(queue, entry["ReceiptHandle"], now)
            except ServiceError as error:
                failed.append(_failure(entry["Id"], error))
                continue
            if seq is not None:
                seqs.append(seq)
            successful.append({"Id": entry["Id"]})
        if seqs:
            await self._delete(queue, seqs)
        return {"Successful": successful, "Failed": failed}

    async def _delete(self, queue: Queue, seqs: list[int]) -> None:
        self._metric(queue, "NumberOfMessagesDeleted", len(seqs))
        if queue.fifo:  # checked against the rows just read: no other write in between
            self.storage.delete_messages(queue.arn, seqs)
        else:
            await self.storage.writes.delete([(queue.arn, seq) for seq in seqs])

    def _deletable(self, queue: Queue, handle: str, now: float) -> int | None:
        """The message a receipt handle lets one delete (None: nothing to delete)."""
        seq, nonce = self._handle_for(queue, handle)
        if not queue.fifo:
            # Standard queues accept an earlier receipt handle of the message, and
            # deleting a deleted message succeeds, as in AWS.
            return seq
        row = self.storage.message(queue.arn, seq)
        if row is None:
            return None
        if row["receipt"] != nonce or row["visible_at"] <= now:
            raise invalid_value(handle, "ReceiptHandle", "The receipt handle has expired.")
        return seq

    def change_message_visibility(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        self._change_visibility(
            queue, params["ReceiptHandle"], params["VisibilityTimeout"], time.time()
        )
        self.wakeups.notify(queue.arn)
        return {}

    def change_message_visibility_batch(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        entries = _check_batch(
            params.get("Entries") or [], "ChangeMessageVisibilityBatchRequestEntry"
        )
        successful, failed = [], []
        now = time.time()
        with self.store.transaction():
            for entry in entries:
                try:
                    self._change_visibility(
                        queue, entry["ReceiptHandle"], entry.get("VisibilityTimeout", 0), now
                    )
                except ServiceError as error:
                    failed.append(_failure(entry["Id"], error))
                    continue
                successful.append({"Id": entry["Id"]})
        self.wakeups.notify(queue.arn)
        return {"Successful": successful, "Failed": failed}

    def _change_visibility(self, queue: Queue, handle: str, timeout: int, now: float) -> None:
        seq, nonce = self._handle_for(queue, handle)
        if not 0 <= timeout <= 43_200:
            raise invalid_value(
                timeout, "VisibilityTimeout", "Must be between 0 and 43200, if provided."
            )
        row = self.storage.message(queue.arn, seq)
        if row is None or not row["received"] or row["visible_at"] <= now:
            raise invalid_value(
                handle,
                "ReceiptHandle",
                "Message does not exist or is not available for visibility timeout change.",
            )
        if queue.fifo and row["receipt"] != nonce:
            raise invalid_value(handle, "ReceiptHandle", "The receipt handle has expired.")
        if now + timeout > row["first_received"] + 43_200:  # 12 hours from the first receive
            raise invalid_value(
                timeout,
                "VisibilityTimeout",
                "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]",
            )
        self.storage.put_message({**row, "visible_at": now + timeout})

    def _handle_for(self, queue: Queue, handle: str) -> tuple[int, str]:
        arn, seq, nonce = self.parse_receipt(handle)
        if arn != queue.arn:
            raise ServiceError(
                "ReceiptHandleIsInvalid",
                f'The receipt handle "{handle}" is not valid for this queue.',
            )
        return seq, nonce


def _wanted(name: str, requested: list[str]) -> bool:
    for pattern in requested:
        if pattern in ("All", ".*") or pattern == name:
            return True
        if pattern.endswith(".*") and name.startswith(pattern[:-1]):
            return True
    return False


def _dedup_key(queue: Queue, group: str, dedup: str) -> str:
    """The deduplication key: the id, within its group when the scope is messageGroup."""
    if queue.attributes.get("DeduplicationScope") == "messageGroup":
        return f"{group}\0{dedup}"
    return dedup


def _sequence(seq: int) -> str:
    return f"{seq:020d}"


def _failure(entry_id: str, error: ServiceError) -> dict:
    return {
        "Id": entry_id,
        "SenderFault": error.sender_fault,
        "Code": error.code,
        "Message": error.message,
    }


def _check_batch(entries: list[dict], entry_name: str) -> list[dict]:
    if not entries:
        raise ServiceError(
            "EmptyBatchRequest", f"There should be at least one {entry_name} in the request."
        )
    if len(entries) > MAX_BATCH:
        raise ServiceError(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_BATCH}. You have sent {len(entries)}.",
        )
    seen = set()
    for entry in entries:
        entry_id = entry.get("Id") or ""
        if not _BATCH_ID.fullmatch(entry_id):
            raise ServiceError(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and "
                "underscores. It can be at most 80 letters long.",
            )
        if entry_id in seen:
            raise ServiceError("BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.")
        seen.add(entry_id)
    return entries
