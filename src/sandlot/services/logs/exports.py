"""Export tasks: a log group's events between two times, copied to an S3 bucket.

``CreateExportTask`` checks that CloudWatch Logs may write to the bucket (its policy must
allow the regional service principal ``logs.<region>.amazonaws.com`` ``s3:GetBucketAcl``
and ``s3:PutObject``, as AWS documents), writes the ``aws-logs-write-test`` object AWS
writes, and records the task; a background run then writes each stream's events as
gzipped text objects ``<prefix>/<taskId>/<stream>/000000.gz`` (a line per event:
ISO-8601 time, a space, the message), through ``Platform.call`` as that principal. The
task row is durable: a task cut short by a restart runs again from the start (its
objects are simply written again). One task per account runs at a time, as in AWS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import logging
import uuid
from typing import Any

from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.services.logs.schema import EXPORTS, STREAMS
from sandlot.services.logs.storage import Row
from sandlot.services.logs.validation import invalid_parameter, validated
from sandlot.services.provider import RequestContext

log = logging.getLogger("sandlot.logs")

ACTIVE = ("PENDING", "RUNNING")
OBJECT_BYTES = 100 * 1024 * 1024  # uncompressed text per object before the next one
SCAN_CHUNK = 5_000


def _principal(row: Row) -> Principal:
    return Principal.service(f"logs.{row['region']}.amazonaws.com", row["account_id"])


def _line(event: Row) -> str:
    moment = dt.datetime.fromtimestamp(event["ts"] / 1000, dt.UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return f"{stamp} {event['message']}\n"


class ExportOperations:
    """Mixin of LogsProvider."""

    platform: Any
    storage: Any
    _exports: dict[str, asyncio.Task]

    @validated
    async def create_export_task(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params["logGroupName"])
        if params["to"] < params["from"]:
            raise invalid_parameter("Specified time range of 'from' and 'to' is not valid.")
        active = [
            r
            for r in self.platform.store.select(EXPORTS, {"account_id": ctx.account_id})
            if r["status"] in ACTIVE
        ]
        if active:
            raise ServiceError("LimitExceededException", "Resource limit exceeded.")
        prefix = (params.get("destinationPrefix") or "exportedlogs").strip("/")
        row = {
            "task_id": str(uuid.uuid4()),
            "account_id": ctx.account_id,
            "region": ctx.region,
            "task_name": params.get("taskName"),
            "group_name": group["name"],
            "stream_prefix": params.get("logStreamNamePrefix") or "",
            "from_ms": params["from"],
            "to_ms": params["to"],
            "destination": params["destination"],
            "destination_prefix": prefix,
            "status": "PENDING",
            "message": "Pending.",
            "created_ms": self.now_ms(),
            "completed_ms": None,
        }
        # AWS checks the bucket's permissions at once: its ACL, then a test object.
        checks = (
            ("GetBucketAcl", self._s3(row, "GetBucketAcl", {"Bucket": row["destination"]})),
            (
                "PutObject",
                self._put_object(
                    row, f"{prefix}/aws-logs-write-test", b"Permission Check Successful"
                ),
            ),
        )
        for operation, call in checks:
            try:
                await call
            except ServiceError:
                for _, pending in checks:
                    pending.close()  # the check not awaited yet
                raise invalid_parameter(
                    f"{operation} call on the given bucket failed. Please check if CloudWatch "
                    "Logs has been granted permission to perform this operation."
                ) from None
        self.platform.store.put(EXPORTS, row)
        self.resume_exports()
        return {"taskId": row["task_id"]}

    def resume_exports(self) -> None:
        """Run the tasks that are pending or were running (after a restart too)."""
        for row in self.platform.store.select(EXPORTS):
            if row["status"] in ACTIVE and row["task_id"] not in self._exports:
                task = asyncio.get_running_loop().create_task(self._export(row["task_id"]))
                self._exports[row["task_id"]] = task
                task.add_done_callback(lambda _, tid=row["task_id"]: self._exports.pop(tid, None))

    async def _export(self, task_id: str) -> None:
        row = self._set_status(task_id, "RUNNING", "Started.")
        if row is None:
            return
        try:
            group = self.storage.group(row["account_id"], row["region"], row["group_name"])
            if group is None:
                raise ServiceError("ResourceNotFoundException", "The log group does not exist.")
            streams = [
                s
                for s in self.platform.store.select(STREAMS, {"group_id": group["group_id"]})
                if s["name"].startswith(row["stream_prefix"])
            ]
            for stream in streams:
                await self._export_stream(row, stream)
        except ServiceError as error:
            self._set_status(task_id, "FAILED", error.message, completed=True)
            return
        except Exception:
            log.exception("export task %s failed", task_id)
            self._set_status(task_id, "FAILED", "Internal error.", completed=True)
            return
        self._set_status(task_id, "COMPLETED", "Completed successfully.", completed=True)

    async def _export_stream(self, row: Row, stream: Row) -> None:
        after = (row["from_ms"], -1)
        part, text = 0, []
        size = 0
        while True:
            chunk = self.storage.forward(stream["stream_id"], after, SCAN_CHUNK)
            for event in chunk:
                if event["ts"] > row["to_ms"]:
                    chunk = []
                    break
                after = (event["ts"], event["seq"])
                text.append(_line(event))
                size += len(text[-1])
                if size >= OBJECT_BYTES:
                    await self._write_part(row, stream, part, text)
                    part, text, size = part + 1, [], 0
            if len(chunk) < SCAN_CHUNK:
                break
            await asyncio.sleep(0)
        if text:
            await self._write_part(row, stream, part, text)

    async def _write_part(self, row: Row, stream: Row, part: int, lines: list[str]) -> None:
        key = f"{row['destination_prefix']}/{row['task_id']}/{stream['name']}/{part:06d}.gz"
        body = await asyncio.to_thread(gzip.compress, "".join(lines).encode())
        await self._put_object(row, key, body)

    async def _put_object(self, row: Row, key: str, body: bytes) -> None:
        await self._s3(row, "PutObject", {"Bucket": row["destination"], "Key": key, "Body": body})

    async def _s3(self, row: Row, operation: str, params: dict) -> dict:
        return await self.platform.call(
            "s3",
            operation,
            params,
            principal=_principal(row),
            region=row["region"],
            context={
                "aws:SourceAccount": row["account_id"],
                "aws:SourceArn": (
                    f"arn:aws:logs:{row['region']}:{row['account_id']}:log-group:{row['group_name']}:*"
                ),
            },
        )

    def _set_status(
        self, task_id: str, status: str, message: str, *, completed: bool = False
    ) -> Row | None:
        store = self.platform.store
        with store.transaction():
            row = store.get(EXPORTS, task_id)
            if row is None or row["status"] not in ACTIVE:
                return None  # cancelled meanwhile
            row = {**row, "status": status, "message": message}
            if completed:
                row["completed_ms"] = self.now_ms()
            store.put(EXPORTS, row)
        return row

    @validated
    def describe_export_tasks(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.platform.store.select(
            EXPORTS, {"account_id": ctx.account_id, "region": ctx.region}, order_by=("created_ms",)
        )
        if params.get("taskId"):
            rows = [r for r in rows if r["task_id"] == params["taskId"]]
        if params.get("statusCode"):
            rows = [r for r in rows if r["status"] == params["statusCode"]]
        start = int(params["nextToken"]) if str(params.get("nextToken") or "").isdigit() else 0
        size = params.get("limit") or 50
        out = []
        for r in list(reversed(rows))[start : start + size]:
            info = {"creationTime": r["created_ms"]}
            if r["completed_ms"]:
                info["completionTime"] = r["completed_ms"]
            task = {
                "taskId": r["task_id"],
                "logGroupName": r["group_name"],
                "from": r["from_ms"],
                "to": r["to_ms"],
                "destination": r["destination"],
                "destinationPrefix": r["destination_prefix"],
                "status": {"code": r["status"], "message": r["message"]},
                "executionInfo": info,
            }
            if r["task_name"]:
                task["taskName"] = r["task_name"]
            out.append(task)
        result: dict = {"exportTasks": out}
        if start + size < len(rows):
            result["nextToken"] = str(start + size)
        return result

    @validated
    def cancel_export_task(self, ctx: RequestContext, params: dict) -> dict:
        store = self.platform.store
        with store.transaction():
            row = store.get(EXPORTS, params["taskId"])
            if row is None or row["account_id"] != ctx.account_id:
                raise ServiceError(
                    "ResourceNotFoundException", "The specified export task does not exist."
                )
            if row["status"] not in ACTIVE:
                raise ServiceError(
                    "InvalidOperationException",
                    f"The specified export task has already finished ({row['status']}).",
                )
            store.put(EXPORTS, {**row, "status": "CANCELLED", "message": "Cancelled by user"})
        task = self._exports.get(params["taskId"])
        if task is not None:
            task.cancel()
        return {}
