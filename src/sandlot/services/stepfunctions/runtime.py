"""The engine's Runtime for one execution: task calls through ``integrations.py``,
task tokens and activity tasks through ``tasks.py``, Wait states, history events and
checkpoints.

Durability (Standard): ``record`` buffers history events; ``checkpoint`` commits the
buffered events and the engine's snapshot in one transaction, so after a kill -9 the
history ends exactly where the snapshot the execution resumes from was taken.
Express executions keep their events in memory (for their CloudWatch Logs delivery).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from sandlot.protocol import ServiceError
from sandlot.services.stepfunctions.base import engine
from sandlot.services.stepfunctions.integrations import (
    Target,
    UnsupportedResource,
    cause_of,
    error_name,
    from_model,
    input_shape,
    parse_resource,
    to_model,
)
from sandlot.services.stepfunctions.schema import ACTIVITIES, EXECUTIONS, HISTORY
from sandlot.services.stepfunctions.tasks import new_token

if TYPE_CHECKING:
    from sandlot.services.stepfunctions.executions import ExecutionOperations

_MEMBERS = None


def details_member(event_type: str) -> str | None:
    """HistoryEvent's member holding ``event_type``'s details (AWS's model)."""
    global _MEMBERS
    if _MEMBERS is None:
        from sandlot.protocol.models import service_model

        _MEMBERS = set(service_model("stepfunctions").shape_for("HistoryEvent").members)
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    name = event_type[:1].lower() + event_type[1:] + "EventDetails"
    return name if name in _MEMBERS else None


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class ExecutionRuntime:
    """One execution's side of the engine contract (``asl.Runtime``)."""

    def __init__(
        self, owner: ExecutionOperations, row: dict, *, express: bool, principal=None
    ) -> None:
        self.owner = owner
        self.platform = owner.platform
        self.store = owner.store
        self.row = row
        self.arn = row["arn"]
        self.express = express
        self.last_id = row.get("events") or 0
        self.pending: list[dict] = []  # events since the last checkpoint
        self.all_events: list[dict] = []  # Express: every event (for logging)
        self.last_snapshot: dict | None = (
            json.loads(row["snapshot"]) if row.get("snapshot") else None
        )
        self._principal = principal  # TestState without a role: the caller
        # A Distributed Map runs as a Map Run of child executions in a Standard
        # execution; the engine runs it inline where there is none (Express, TestState).
        self.run_map = None if express else self._run_map

    # -- history and checkpoints ----------------------------------------------------------

    async def record(self, event_type: str, details: dict) -> int:
        """An event the engine records; ``details`` are HistoryEvent members."""
        return self._append(event_type, details)["id"]

    def add_event(self, event_type: str, details: dict | None) -> dict:
        """An event the service records; ``details`` go in the type's details member."""
        member = details_member(event_type)
        return self._append(event_type, {member: details} if details is not None and member else {})

    def _append(self, event_type: str, members: dict) -> dict:
        self.last_id += 1
        event = {
            "execution_arn": self.arn,
            "id": self.last_id,
            "previous_id": self.last_id - 1,
            "timestamp": time.time(),
            "type": event_type,
            "details": json.dumps(members),
        }
        if self.express:
            self.all_events.append(event)
        else:
            self.pending.append(event)
        return event

    def flush(self, **changes: Any) -> None:
        """Commit the buffered events with ``changes`` to the execution row; a change of
        status stages its EventBridge event in the same transaction."""
        if self.express:
            return
        with self.store.transaction():
            self.store.put_many(HISTORY, self.pending)
            current = self.store.get(EXECUTIONS, self.arn)
            if current is not None:
                updated = {**current, **changes, "events": self.last_id}
                self.store.put(EXECUTIONS, updated)
                if "status" in changes:
                    self.owner.emit_status_change(updated)
        self.pending = []

    async def checkpoint(self, snapshot: dict) -> None:
        self.last_snapshot = snapshot
        if not self.express:
            self.flush(snapshot=compact(snapshot))

    async def _run_map(self, request: dict) -> Any:
        return await self.owner.run_map(self, request)

    # -- time and tokens ------------------------------------------------------------------

    def new_task_token(self) -> str:
        return new_token()

    async def sleep_until(self, epoch_s: float) -> None:
        """A Wait state. The deadline is in the engine's snapshot (committed before
        this sleep), so a restart resumes the Wait and ends it on time."""
        # The loop's timers may fire up to its clock resolution early (and run on the
        # monotonic clock): never end a Wait before its wall-clock deadline.
        while (delay := epoch_s - time.time()) > 0:
            await asyncio.sleep(delay)

    # -- tasks ----------------------------------------------------------------------------

    @property
    def principal(self):
        """The state machine's role, as Step Functions calls services with it."""
        if self._principal is None:
            session = self.row["name"][:64]
            self._principal = self.platform.function_principal(self.row["role_arn"], session)
        return self._principal

    async def call(self, service: str, operation: str, params: dict) -> dict:
        return await self.platform.call(
            service,
            operation,
            params,
            principal=self.principal,
            region=self.row["region"],
            trace_header=self.row.get("trace_header"),
        )

    async def invoke(
        self,
        resource: str,
        arguments: Any,
        *,
        state: str,
        task_token: str | None,
        resumed: bool,
        timeout_s: float | None,
        heartbeat_s: float | None,
    ) -> Any:
        try:
            target = parse_resource(resource)
        except UnsupportedResource:
            raise engine().TaskFailure(
                "States.Runtime",
                f"The resource '{resource}' is not supported by sandlot's Step Functions "
                "(Lambda, activities, SQS, SNS, DynamoDB, EventBridge, Step Functions, API "
                "Gateway, HTTP and aws-sdk integrations are).",
            ) from None
        began = time.time()
        try:
            if target.kind == "activity":
                return await self._activity(target, arguments, state, resumed, timeout_s,
                                            heartbeat_s)  # fmt: skip
            if target.kind == "function":
                return await self._function(target, arguments, timeout_s)
            return await self._task(target, arguments, state, task_token, resumed, timeout_s,
                                    heartbeat_s)  # fmt: skip
        except asyncio.CancelledError:
            # The engine cancels the call when TimeoutSeconds ends (then fails the state
            # with States.Timeout): the history says so as AWS's *TimedOut event.
            if timeout_s is not None and time.time() >= began + timeout_s - 0.05:
                self._timed_out(target)
            raise

    async def read(self, resource: str, arguments: Any) -> Any:
        """A Distributed Map's ItemReader call: as the role, no history events."""
        return await self._call_target(parse_resource(resource), arguments)

    def _timed_out(self, target: Target) -> None:
        details = {"error": "States.Timeout", "cause": ""}
        if target.kind == "activity":
            self.add_event("ActivityTimedOut", details)
        elif target.kind == "function":
            self.add_event("LambdaFunctionTimedOut", details)
        else:
            self.add_event("TaskTimedOut", {"resourceType": target.type_name,
                                            "resource": target.short, **details})  # fmt: skip

    async def _function(self, target: Target, arguments: Any, timeout_s: float | None) -> Any:
        scheduled = {"resource": target.resource, "input": compact(arguments),
                     "inputDetails": {"truncated": False}}  # fmt: skip
        if timeout_s:
            scheduled["timeoutInSeconds"] = int(timeout_s)
        self.add_event("LambdaFunctionScheduled", scheduled)
        self.add_event("LambdaFunctionStarted", None)
        try:
            answer = await self._lambda(target.resource, compact(arguments).encode(), None)
        except engine().TaskFailure as failure:
            self.add_event("LambdaFunctionFailed", {"error": failure.error,
                                                    "cause": failure.cause or ""})  # fmt: skip
            raise
        output = answer["Payload"]
        self.add_event("LambdaFunctionSucceeded", {"output": compact(output),
                                                   "outputDetails": {"truncated": False}})  # fmt: skip
        return output

    async def _lambda(self, function: str, payload: bytes, extra: dict | None) -> dict:
        """Invoke a function; its error (or Lambda's) as a TaskFailure."""
        params = {"FunctionName": function, "Payload": payload, **(extra or {})}
        try:
            answer = await self.call("lambda", "Invoke", params)
        except ServiceError as e:
            raise engine().TaskFailure(
                error_name("lambda", e.code, sdk=False), cause_of(e, "AWSLambda", "")
            ) from None
        raw = answer.get("Payload") or b""
        text = raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)
        if answer.get("FunctionError"):
            try:
                reported = json.loads(text)
            except ValueError:
                reported = {}
            name = reported.get("errorType") if isinstance(reported, dict) else None
            raise engine().TaskFailure(name or "Lambda.Unknown", text)
        try:
            payload_out = json.loads(text) if text else None
        except ValueError:
            payload_out = text
        return {**answer, "Payload": payload_out}

    async def _task(
        self,
        target: Target,
        arguments: Any,
        state: str,
        task_token: str | None,
        resumed: bool,
        timeout_s: float | None,
        heartbeat_s: float | None,
    ) -> Any:
        base = {"resourceType": target.type_name, "resource": target.short}
        waits = target.pattern == "waitForTaskToken"
        if waits and task_token:
            if resumed and self.owner.token_known(task_token):
                # The call went out before the restart: only the token is awaited again.
                return await self._await(target, task_token, base)
            # Open before the call: whoever gets the token may answer at once.
            self.owner.open_token(task_token, self.arn, state, heartbeat_s=heartbeat_s)
        scheduled = {**base, "region": self.row["region"], "parameters": compact(arguments)}
        if timeout_s:
            scheduled["timeoutInSeconds"] = int(timeout_s)
        if heartbeat_s:
            scheduled["heartbeatInSeconds"] = int(heartbeat_s)
        self.add_event("TaskScheduled", scheduled)
        self.add_event("TaskStarted", base)
        try:
            result = await self._call_target(target, arguments)
        except engine().TaskFailure as failure:
            self.add_event("TaskFailed", {**base, "error": failure.error,
                                          "cause": failure.cause or ""})  # fmt: skip
            if task_token:
                self.owner.close_token(task_token)
            raise
        if waits and task_token:
            self.add_event("TaskSubmitted", {**base, "output": compact(result),
                                             "outputDetails": {"truncated": False}})  # fmt: skip
            # The snapshot the engine took before this task already names the token;
            # commit what the call produced before waiting.
            self.flush()
            return await self._await(target, task_token, base)
        self.add_event("TaskSucceeded", {**base, "output": compact(result),
                                         "outputDetails": {"truncated": False}})  # fmt: skip
        return result

    async def _await(self, target: Target, token: str, base: dict) -> Any:
        try:
            output = await self.owner.await_token(token)
        except engine().TaskFailure as failure:
            kind = "TaskTimedOut" if failure.error == "States.HeartbeatTimeout" else "TaskFailed"
            self.add_event(kind, {**base, "error": failure.error, "cause": failure.cause or ""})
            raise
        except asyncio.CancelledError:
            self.owner.token_abandoned(token)
            raise
        self.add_event("TaskSucceeded", {**base, "output": compact(output),
                                         "outputDetails": {"truncated": False}})  # fmt: skip
        return output

    async def _call_target(self, target: Target, arguments: Any) -> Any:
        if target.service == "lambda" and target.kind == "optimized":
            params = to_model(input_shape("lambda", "Invoke"), arguments or {})
            payload = params.pop("Payload", b"")
            answer = await self._lambda(params.pop("FunctionName", ""), payload, params)
            return {
                "ExecutedVersion": answer.get("ExecutedVersion", "$LATEST"),
                "Payload": answer["Payload"],
                "SdkHttpMetadata": {"HttpHeaders": {}, "HttpStatusCode": answer["StatusCode"]},
                "SdkResponseMetadata": {"RequestId": ""},
                "StatusCode": answer["StatusCode"],
            }
        if target.kind == "http":
            from sandlot.services.stepfunctions import http_task

            return await http_task.invoke(self, arguments)
        if target.kind == "apigateway":
            from sandlot.services.stepfunctions import apigateway_task

            return await apigateway_task.invoke(self, arguments)
        if target.service == "stepfunctions" and target.operation == "StartExecution":
            return await self.owner.start_child(self, target, arguments or {})
        sdk = target.kind == "sdk"
        params = to_model(input_shape(target.service, target.operation), arguments or {})
        try:
            answer = await self.call(target.service, target.operation, params)
        except ServiceError as e:
            raise engine().TaskFailure(
                error_name(target.service, e.code, sdk=sdk),
                cause_of(e, target.service, ""),
            ) from None
        answer = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
        pascal = sdk or target.service == "stepfunctions"
        return from_model(answer, pascal=pascal)

    async def _activity(
        self,
        target: Target,
        arguments: Any,
        state: str,
        resumed: bool,
        timeout_s: float | None,
        heartbeat_s: float | None,
    ) -> Any:
        """An activity task: queued for GetActivityTask; its token's outcome is the
        result. A resumed execution waits for the task it queued before the restart."""
        token = self.owner.activity_token(self.arn, state, target.resource) if resumed else None
        if token is None:
            if self.store.get(ACTIVITIES, target.resource) is None:
                self.add_event("ActivityScheduleFailed", {
                    "resource": target.resource, "error": "States.Runtime",
                    "cause": f"Activity Does Not Exist: '{target.resource}'"})  # fmt: skip
                raise engine().TaskFailure(
                    "States.Runtime", f"Activity Does Not Exist: '{target.resource}'"
                )
            token = new_token()
            scheduled = {"resource": target.resource, "input": compact(arguments),
                         "inputDetails": {"truncated": False}}  # fmt: skip
            if timeout_s:
                scheduled["timeoutInSeconds"] = int(timeout_s)
            if heartbeat_s:
                scheduled["heartbeatInSeconds"] = int(heartbeat_s)
            self.add_event("ActivityScheduled", scheduled)
            self.flush()  # the scheduled task and its event are durable together
            self.owner.open_token(
                token, self.arn, state, activity_arn=target.resource,
                input_text=compact(arguments), heartbeat_s=heartbeat_s,
            )  # fmt: skip
        try:
            output = await self.owner.await_token(token)
        except engine().TaskFailure as failure:
            timed_out = failure.error == "States.HeartbeatTimeout"
            kind = "ActivityTimedOut" if timed_out else "ActivityFailed"
            self.add_event(kind, {"error": failure.error, "cause": failure.cause or ""})
            raise
        except asyncio.CancelledError:
            self.owner.token_abandoned(token)
            raise
        self.add_event("ActivitySucceeded", {"output": compact(output),
                                             "outputDetails": {"truncated": False}})  # fmt: skip
        return output
