"""Dead-letter queues: which queues use one, and moving messages out of one
(StartMessageMoveTask and friends).

A move task is a row; a background task per running row moves the messages that were
in the dead-letter queue when it started (``last_seq``), in order, at the requested
rate, each to the destination or back to the queue it was redriven from. The moved
count is committed with each step, so a restart resumes a running task where it was.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.sqs import attributes as attrs
from sandlot.services.sqs.base import SqsBase
from sandlot.services.sqs.errors import invalid_parameter, invalid_value
from sandlot.services.sqs.schema import MOVE_TASKS, QUEUES
from sandlot.services.sqs.storage import Queue

log = logging.getLogger("sandlot.sqs")

_MOVE_STEP = 10  # messages per transaction when no rate is given


def task_handle(task_id: str, source_arn: str) -> str:
    """AWS's shape: base64 of {"taskId", "sourceArn"} (IAM reads the queue from it)."""
    raw = json.dumps({"taskId": task_id, "sourceArn": source_arn}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


class RedriveOperations(SqsBase):
    def list_dead_letter_source_queues(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        limit = params.get("MaxResults")
        if limit is not None and not 1 <= limit <= 1000:
            raise invalid_value(
                limit, "MaxResults", "MaxResults must be an integer between 1 and 1000."
            )
        start = params.get("NextToken")
        sources = []
        for row in self.store.select(
            QUEUES, {"account": queue.account, "region": ctx.region}, order_by=("name",)
        ):
            redrive = attrs.redrive_policy(json.loads(row["attributes"]))
            if (
                redrive is not None
                and redrive[0] == queue.arn
                and (not start or row["name"] > _decode(start))
            ):
                sources.append(Queue(row, {}))
        page = sources[: limit or 1000]
        out: dict = {"queueUrls": [self.queue_url(ctx, q) for q in page]}
        if limit is not None and len(sources) > limit:
            out["NextToken"] = base64.b64encode(page[-1].name.encode()).decode()
        return out

    def _sources_of(self, dlq: Queue) -> list[Queue]:
        found = []
        for row in self.store.select(QUEUES, {"account": dlq.account, "region": dlq.row["region"]}):
            values = json.loads(row["attributes"])
            redrive = attrs.redrive_policy(values)
            if redrive is not None and redrive[0] == dlq.arn:
                found.append(Queue(row, values))
        return found

    # -- message move tasks ------------------------------------------------------------

    def start_message_move_task(self, ctx: RequestContext, params: dict) -> dict:
        source = self.storage.queue_by_arn(params["SourceArn"])
        if source is None:
            raise ServiceError(
                "ResourceNotFoundException",
                "The resource that you specified for the SourceArn parameter doesn't exist.",
            )
        if not self._sources_of(source):
            raise invalid_parameter("Source queue must be configured as a Dead Letter Queue.")
        destination = params.get("DestinationArn")
        if destination is not None:
            target = self.storage.queue_by_arn(destination)
            if target is None:
                raise ServiceError(
                    "ResourceNotFoundException",
                    "The resource that you specified for the DestinationArn parameter doesn't exist.",
                )
            if target.fifo != source.fifo:
                raise invalid_parameter(
                    "Destination queue must be same type of queue as the source."
                )
        rate = params.get("MaxNumberOfMessagesPerSecond")
        if rate is not None and not 1 <= rate <= 500:
            raise invalid_value(
                rate,
                "MaxNumberOfMessagesPerSecond",
                "MaxNumberOfMessagesPerSecond must be an integer between 1 and 500.",
            )
        for task in self.store.select(MOVE_TASKS, {"source_arn": source.arn}):
            if task["status"] == "RUNNING":
                raise ServiceError(
                    "UnsupportedOperation",
                    "There is already a task running. Only one active task is allowed for a "
                    "source queue arn at a given time.",
                )
        handle = task_handle(str(uuid.uuid4()), source.arn)
        row = {
            "task_handle": handle,
            "source_arn": source.arn,
            "destination_arn": destination,
            "rate": rate,
            "status": "RUNNING",
            "started": int(time.time() * 1000),
            "moved": 0,
            "to_move": self.storage.count(source.arn),
            "last_seq": self.storage.last_seq(source.arn),
            "failure": None,
        }
        self.store.put(MOVE_TASKS, row)
        self._run_task(handle)
        return {"TaskHandle": handle}

    def list_message_move_tasks(self, ctx: RequestContext, params: dict) -> dict:
        source = self.storage.queue_by_arn(params["SourceArn"])
        if source is None:
            raise ServiceError(
                "ResourceNotFoundException",
                "The resource that you specified for the SourceArn parameter doesn't exist.",
            )
        limit = params.get("MaxResults", 1)
        if not 1 <= limit <= 10:
            raise invalid_value(
                limit, "MaxResults", "MaxResults must be an integer between 1 and 10."
            )
        rows = self.store.select(
            MOVE_TASKS,
            {"source_arn": source.arn},
            order_by=("started",),
            descending=True,
            limit=limit,
        )
        results = []
        for row in rows:
            entry = {
                "Status": row["status"],
                "SourceArn": row["source_arn"],
                "ApproximateNumberOfMessagesMoved": row["moved"],
                "ApproximateNumberOfMessagesToMove": row["to_move"],
                "StartedTimestamp": row["started"],
            }
            if row["status"] == "RUNNING":
                entry["TaskHandle"] = row["task_handle"]
            if row["destination_arn"]:
                entry["DestinationArn"] = row["destination_arn"]
            if row["rate"] is not None:
                entry["MaxNumberOfMessagesPerSecond"] = row["rate"]
            if row["failure"]:
                entry["FailureReason"] = row["failure"]
            results.append(entry)
        return {"Results": results}

    def cancel_message_move_task(self, ctx: RequestContext, params: dict) -> dict:
        row = self.store.get(MOVE_TASKS, params["TaskHandle"])
        if row is None:
            raise ServiceError("ResourceNotFoundException", "Task does not exist.")
        if row["status"] != "RUNNING":
            raise ServiceError("UnsupportedOperation", "Only active tasks can be cancelled.")
        self.store.put(MOVE_TASKS, {**row, "status": "CANCELLED"})
        return {"ApproximateNumberOfMessagesMoved": row["moved"]}

    # -- the mover ---------------------------------------------------------------------

    def resume_tasks(self) -> None:
        """After a restart: running tasks continue."""
        for row in self.store.select(MOVE_TASKS, {"status": "RUNNING"}):
            self._run_task(row["task_handle"])

    def _run_task(self, handle: str) -> None:
        task = asyncio.get_running_loop().create_task(self._move_all(handle))
        self._movers.add(task)
        task.add_done_callback(self._movers.discard)

    async def _move_all(self, handle: str) -> None:
        try:
            while True:
                row = self.store.get(MOVE_TASKS, handle)
                if row is None or row["status"] != "RUNNING":
                    return
                step = row["rate"] or _MOVE_STEP
                moved, reason = self._move_step(row, step)
                if reason is not None or moved == 0:
                    status = "FAILED" if reason else "COMPLETED"
                    self.store.put(MOVE_TASKS, {**row, "status": status, "failure": reason})
                    return
                await asyncio.sleep(1.0 if row["rate"] else 0)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("message move task %s failed", handle)

    def _move_step(self, task: dict, step: int) -> tuple[int, str | None]:
        source = self.storage.queue_by_arn(task["source_arn"])
        if source is None:
            return 0, "AWS.SimpleQueueService.NonExistentQueue"
        now = time.time()
        moved = 0
        touched: set[str] = set()
        with self.store.transaction():
            for row in self.storage.due(source, step, now):
                if row["seq"] > task["last_seq"]:
                    continue  # arrived after the task started: it stays
                target_arn = task["destination_arn"] or row["dead_letter_source"]
                target = self.storage.queue_by_arn(target_arn) if target_arn else None
                if target is None:
                    return moved, "AWS.SimpleQueueService.NonExistentQueue"
                self.move(row, source, target, now, dead_letter_source=None)
                touched.add(target.arn)
                moved += 1
            current = self.store.get(MOVE_TASKS, task["task_handle"])
            if current is not None and current["status"] == "RUNNING":
                self.store.put(MOVE_TASKS, {**current, "moved": current["moved"] + moved})
        for arn in touched:
            self.wakeups.notify(arn)
        return moved, None


def _decode(token: str) -> str:
    try:
        return base64.b64decode(token).decode()
    except ValueError:
        raise invalid_parameter("Invalid NextToken value.") from None
