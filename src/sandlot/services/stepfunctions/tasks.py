"""Task tokens and activities: CreateActivity/DescribeActivity/ListActivities/
DeleteActivity, GetActivityTask (long polling up to 60 s), SendTaskSuccess/
SendTaskFailure/SendTaskHeartbeat, and the waiting side the runtime uses.

A token is a row (``sfn_task_tokens``). An activity task is a token row with the
activity's ARN and input, queued (``taken`` NULL) until a worker takes it. A callback
(``.waitForTaskToken``) is a token row without one. The outcome a worker or callback
sends is written on the row first, then the waiting execution is woken
(``events/wakeup.py``), so an outcome sent while the execution's coroutine is not
running (a restart) is read by the resumed execution. ``HeartbeatSeconds`` is a
durable timer (``events/timers.py``, kind ``stepfunctions:heartbeat``) re-armed by
each heartbeat: when it fires the token is TIMED_OUT and the waiter fails the state
with ``States.HeartbeatTimeout``, also when that moment passed while the server was
down.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from sandlot.events.timers import Timer
from sandlot.events.wakeup import Wakeups
from sandlot.services.provider import RequestContext
from sandlot.services.stepfunctions.base import (
    Row,
    StepFunctionsBase,
    check_name,
    engine,
    error,
    merged_tags,
)
from sandlot.services.stepfunctions.paging import page
from sandlot.services.stepfunctions.schema import ACTIVITIES, TOKENS

HEARTBEAT = "stepfunctions:heartbeat"
POLL_S = 60.0  # GetActivityTask waits this long for a task (AWS: 60 s)
_TOKEN = re.compile(r"AAAA[A-Za-z0-9_-]{64}\Z")
PENDING, SUCCEEDED, FAILED, TIMED_OUT, CLOSED = (
    "PENDING", "SUCCEEDED", "FAILED", "TIMED_OUT", "CLOSED",
)  # fmt: skip


def new_token() -> str:
    """An opaque token; the fixed prefix and length tell a malformed one from an
    unknown one (InvalidToken vs TaskDoesNotExist, as AWS distinguishes them)."""
    return "AAAA" + secrets.token_urlsafe(48)


class TaskOperations(StepFunctionsBase):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.wakeups = Wakeups()
        self._seq = 0
        platform.timers.register(HEARTBEAT, self._heartbeat_missed)

    # -- activities ---------------------------------------------------------------------

    def create_activity(self, ctx: RequestContext, params: dict) -> dict:
        name = params["name"]
        check_name(name)
        arn = f"arn:aws:states:{ctx.region}:{ctx.account_id}:activity:{name}"
        existing = self.store.get(ACTIVITIES, arn)
        if existing is not None:  # idempotent, as AWS: same name answers the same ARN
            return {"activityArn": arn, "creationDate": existing["created"]}
        row = {
            "arn": arn,
            "account_id": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "created": self.clock(),
            "tags": json.dumps(merged_tags([], params.get("tags") or [])),
        }
        self.store.put(ACTIVITIES, row)
        return {"activityArn": arn, "creationDate": row["created"]}

    def describe_activity(self, ctx: RequestContext, params: dict) -> dict:
        row = self.activity(params["activityArn"])
        return {
            "activityArn": row["arn"],
            "name": row["name"],
            "creationDate": row["created"],
            "encryptionConfiguration": {"type": "AWS_OWNED_KEY"},
        }

    def list_activities(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(
            ACTIVITIES, {"account_id": ctx.account_id, "region": ctx.region}, order_by=("name",)
        )
        items, token = page(rows, params, key="name")
        return {
            "activities": [
                {"activityArn": r["arn"], "name": r["name"], "creationDate": r["created"]}
                for r in items
            ],
            **token,
        }

    def delete_activity(self, ctx: RequestContext, params: dict) -> dict:
        row = self.activity(params["activityArn"])
        self.store.delete(ACTIVITIES, row["arn"])
        return {}

    async def get_activity_task(self, ctx: RequestContext, params: dict) -> dict:
        """The oldest queued task of the activity, waiting up to 60 s for one; an empty
        answer (no token) when none came, as AWS."""
        arn = self.activity(params["activityArn"])["arn"]
        deadline = self.clock() + POLL_S
        while True:
            task = self._take(arn, params.get("workerName"))
            if task is not None:
                await self.on_activity_started(task, params.get("workerName"))
                return {"taskToken": task["token"], "input": task["input"]}
            if not await self.wakeups.wait(arn, deadline) and self.clock() >= deadline:
                return {}

    def _take(self, activity_arn: str, worker: str | None) -> Row | None:
        with self.store.transaction():
            queued = self.store.select(
                TOKENS,
                {"activity_arn": activity_arn, "taken": 0, "status": PENDING},
                order_by=("seq",),
                limit=1,
            )
            if not queued:
                return None
            task = {**queued[0], "taken": self.clock(), "worker": worker or ""}
            task["heartbeat"] = task["taken"]
            self.store.put(TOKENS, task)
            # An activity's heartbeat clock starts when a worker takes the task.
            if task["heartbeat_s"]:
                self.platform.timers.arm(
                    HEARTBEAT, task["token"], task["taken"] + task["heartbeat_s"]
                )
        return task

    async def on_activity_started(self, task: Row, worker: str | None) -> None:
        """Hook for the executions: the ActivityStarted event."""

    def token_known(self, token: str) -> bool:
        return self.store.get(TOKENS, token) is not None

    def activity_token(self, execution_arn: str, state: str, activity_arn: str) -> str | None:
        """The still-open task a resumed execution queued for ``state`` before a restart."""
        for row in self.store.select(TOKENS, {"execution_arn": execution_arn, "state": state}):
            if row["activity_arn"] == activity_arn and row["status"] != CLOSED:
                return row["token"]
        return None

    # -- tokens -------------------------------------------------------------------------

    def open_token(
        self,
        token: str,
        execution_arn: str,
        state: str,
        *,
        activity_arn: str | None = None,
        input_text: str | None = None,
        heartbeat_s: float | None = None,
    ) -> None:
        """Record a task waiting for ``token`` (an activity's task is queued for its
        workers); arms the heartbeat timer. Idempotent for a resumed execution."""
        if self.store.get(TOKENS, token) is not None:
            return
        self._seq += 1
        now = self.clock()
        row = {
            "token": token,
            "execution_arn": execution_arn,
            "state": state,
            "activity_arn": activity_arn,
            "input": input_text,
            "seq": int(now * 1000) * 1000 + self._seq % 1000,
            "created": now,
            # 0 = queued for a worker; callbacks count as started at once.
            "taken": 0 if activity_arn else now,
            "worker": None,
            "heartbeat": now,
            "heartbeat_s": heartbeat_s,
            "status": PENDING,
            "output": None,
            "error": None,
            "cause": None,
        }
        with self.store.transaction():
            self.store.put(TOKENS, row)
            if heartbeat_s and not activity_arn:
                self.platform.timers.arm(HEARTBEAT, token, now + heartbeat_s)
        if activity_arn:
            self.wakeups.notify(activity_arn)

    async def await_token(self, token: str) -> Any:
        """The output sent for ``token`` (parsed JSON); raises asl.TaskFailure for a
        failure or a missed heartbeat."""
        while True:
            row = self.store.get(TOKENS, token)
            if row is None:
                raise engine().TaskFailure("States.Runtime", "The task token is gone.")
            if row["status"] == CLOSED:
                raise engine().TaskFailure("States.Runtime", "The task was closed.")
            if row["status"] != PENDING:
                # Consumed: later sends answer TaskTimedOut, a resumed run asks anew.
                self.store.put(TOKENS, {**row, "status": CLOSED})
            if row["status"] == SUCCEEDED:
                return json.loads(row["output"])
            if row["status"] == FAILED:
                raise engine().TaskFailure(row["error"] or "", row["cause"])
            if row["status"] == TIMED_OUT:
                raise engine().TaskFailure("States.HeartbeatTimeout", None)
            await self.wakeups.wait(f"token:{token}", self.clock() + 3600)

    def close_token(self, token: str) -> None:
        """The state stopped waiting (execution stopped, state timed out): later sends
        answer TaskTimedOut."""
        with self.store.transaction():
            row = self.store.get(TOKENS, token)
            if row is not None and row["status"] == PENDING:
                self.store.put(TOKENS, {**row, "status": CLOSED})
            self.platform.timers.cancel(HEARTBEAT, token)

    def _heartbeat_missed(self, timer: Timer) -> None:
        """The heartbeat timer fired (in the timer's transaction): the task timed out
        unless a heartbeat or an outcome came meanwhile (firing is at least once)."""
        row = self.store.get(TOKENS, timer.key)
        if row is None or row["status"] != PENDING:
            return
        if row["heartbeat"] + row["heartbeat_s"] > self.clock() + 0.001:
            return  # a heartbeat moved the deadline (its own arming will fire)
        self.store.put(TOKENS, {**row, "status": TIMED_OUT})
        self.wakeups.notify(f"token:{timer.key}")

    def _open(self, token: str) -> Row:
        if not _TOKEN.match(token or ""):
            raise error("InvalidToken", "Invalid Token: 'Invalid token'")
        row = self.store.get(TOKENS, token)
        if row is None:
            raise error("TaskDoesNotExist", "Task Does Not Exist: 'Provided task does not exist'")
        if row["status"] != PENDING:
            raise error("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
        return row

    def _finish(self, row: Row, **outcome: Any) -> None:
        with self.store.transaction():
            self.store.put(TOKENS, {**row, **outcome})
            self.platform.timers.cancel(HEARTBEAT, row["token"])
        self.wakeups.notify(f"token:{row['token']}")

    def send_task_success(self, ctx: RequestContext, params: dict) -> dict:
        row = self._open(params["taskToken"])
        try:
            json.loads(params["output"])
        except ValueError:
            raise error("InvalidOutput", "Invalid Output: 'Output must be valid JSON'") from None
        self._finish(row, status=SUCCEEDED, output=params["output"])
        return {}

    def send_task_failure(self, ctx: RequestContext, params: dict) -> dict:
        row = self._open(params["taskToken"])
        self._finish(row, status=FAILED, error=params.get("error"), cause=params.get("cause"))
        return {}

    def send_task_heartbeat(self, ctx: RequestContext, params: dict) -> dict:
        row = self._open(params["taskToken"])
        now = self.clock()
        with self.store.transaction():
            self.store.put(TOKENS, {**row, "heartbeat": now})
            if row["heartbeat_s"] and row["taken"]:
                self.platform.timers.arm(HEARTBEAT, row["token"], now + row["heartbeat_s"])
        return {}
