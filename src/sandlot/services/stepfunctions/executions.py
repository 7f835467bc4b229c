"""Executions: StartExecution (idempotent by name), StartSyncExecution (Express),
DescribeExecution, ListExecutions, StopExecution, GetExecutionHistory,
DescribeStateMachineForExecution, nested executions (``states:startExecution``), the
resumption of Standard executions at start-up and Express executions' CloudWatch Logs.

A Standard execution is a row plus history rows; its coroutine runs the engine
(``asl.Execution``) with an ``ExecutionRuntime``, whose checkpoints commit the snapshot
and the history together. ``start()`` (from ``Platform.start``) resumes every RUNNING
execution from its last snapshot. An Express execution runs in memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import time
import uuid
from typing import Any

from sandlot.events import service_events
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.protocol.errors import not_implemented
from sandlot.services.provider import RequestContext
from sandlot.services.stepfunctions import mocks
from sandlot.services.stepfunctions.base import (
    Row,
    StepFunctionsBase,
    check_name,
    engine,
    error,
    invalid_arn,
    parse_arn,
)
from sandlot.services.stepfunctions.integrations import Target, error_name
from sandlot.services.stepfunctions.machines import describe
from sandlot.services.stepfunctions.paging import page
from sandlot.services.stepfunctions.runtime import ExecutionRuntime, compact
from sandlot.services.stepfunctions.schema import EXECUTIONS, HISTORY, MACHINES, TOKENS

log = logging.getLogger("sandlot.stepfunctions")
MAX_INPUT = 256 * 1024  # bytes of input/output, as AWS
EVENT_DATA_LIMIT = 248 * 1024  # input + output carried by a status-change event
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
REDRIVE_WINDOW_S = 14 * 86400
_FAILED_EVENTS = ("Failed", "TimedOut", "Aborted")


def iso(ts: float) -> str:
    """AWS's context-object time: 2019-03-26T20:14:13.192Z."""
    moment = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _millis(ts: float | None) -> int | None:
    """The status-change event's times: epoch milliseconds."""
    return None if ts is None else int(ts * 1000)


def _input(text: str | None) -> tuple[str, Any]:
    text = "{}" if text is None else text
    if len(text.encode()) > MAX_INPUT:
        raise error(
            "ValidationException",
            "1 validation error detected: Value at 'input' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_INPUT}",
        )
    try:
        return text, json.loads(text)
    except ValueError as e:
        raise error(
            "InvalidExecutionInput", f"Invalid State Machine Execution Input: '{e}'"
        ) from None


class ExecutionOperations(StepFunctionsBase):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        self._running: dict[str, asyncio.Task] = {}
        self._runtimes: dict[str, ExecutionRuntime] = {}
        self._done: dict[str, asyncio.Future] = {}  # .sync callers waiting for an end
        self._stopping: set[str] = set()
        self.shutting_down = False

    # -- start --------------------------------------------------------------------------

    def _prepare(
        self, ctx: RequestContext, params: dict
    ) -> tuple[Row, Row | None, Row | None, dict]:
        machine, version, alias = self.resolve(params["stateMachineArn"])
        name = params.get("name") or str(uuid.uuid4())
        check_name(name)
        text, value = _input(params.get("input"))
        source = version or machine
        row = {
            "arn": "",
            "machine_arn": machine["arn"],
            "version_arn": version["arn"] if version else None,
            "alias_arn": alias["arn"] if alias else None,
            "account_id": machine["account_id"],
            "region": machine["region"],
            "name": name,
            "status": "RUNNING",
            "input": text,
            "output": None,
            "error": None,
            "cause": None,
            "started": self.clock(),
            "stopped": None,
            "definition": source["definition"],
            "role_arn": source["role_arn"],
            "revision_id": source["revision_id"],
            "trace_header": params.get("traceHeader") or (ctx.trace() if ctx else None),
            "snapshot": None,
            "events": 0,
            "redrive_count": 0,
            "redrive_date": None,
        }
        return machine, version, alias, row

    def start_execution(self, ctx: RequestContext, params: dict) -> dict:
        machine, version, alias, row = self._prepare(ctx, params)
        kind = (version or machine)["type"]
        if kind == "EXPRESS":
            row["arn"] = (f"arn:aws:states:{row['region']}:{row['account_id']}:express:"
                          f"{machine['name']}:{row['name']}:{uuid.uuid4()}")  # fmt: skip
            self._launch(row, express=True, machine=machine)
            self._metric_started(row)
            return {"executionArn": row["arn"], "startDate": row["started"]}
        arn = (f"arn:aws:states:{row['region']}:{row['account_id']}:execution:"
               f"{machine['name']}:{row['name']}")  # fmt: skip
        row["arn"] = arn
        existing = self.store.get(EXECUTIONS, arn)
        if existing is not None:
            if existing["status"] == "RUNNING" and existing["input"] == row["input"]:
                return {"executionArn": arn, "startDate": existing["started"]}
            raise error("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'")
        runtime = ExecutionRuntime(self, row, express=False)
        runtime.add_event("ExecutionStarted", self._started_details(row))
        with self.store.transaction():
            self.store.put(EXECUTIONS, {**row, "events": runtime.last_id})
            self.store.put_many(HISTORY, runtime.pending)
            self.emit_status_change(row)
        runtime.pending = []
        row["events"] = runtime.last_id
        self._launch(row, express=False, machine=machine, runtime=runtime)
        self._metric_started(row)
        return {"executionArn": arn, "startDate": row["started"]}

    def _metric_started(self, row: Row) -> None:
        """AWS/States' ExecutionsStarted (a resumed or redriven execution is not started
        again; a Map Run's child executions are the Map Run's, not counted here)."""
        self.platform.metrics.execution_started(
            row["account_id"], row["region"], row["machine_arn"]
        )

    def emit_status_change(self, row: Row) -> None:
        """AWS's "Step Functions Execution Status Change" on the account's default bus, for a
        Standard execution whose status the caller's transaction sets (AWS: Express
        executions emit none)."""
        # An event is at most 256 KiB: data past 248 KiB is left out (included: false).
        budget = EVENT_DATA_LIMIT
        included = {}
        for name in ("input", "output"):
            text = row[name] if name == "input" or row["status"] == "SUCCEEDED" else None
            size = len(text.encode()) if text is not None else 0
            included[name] = text if size <= budget else None
            budget -= size if size <= budget else 0
        succeeded = row["status"] == "SUCCEEDED"
        detail = {
            "executionArn": row["arn"],
            "stateMachineArn": row["machine_arn"],
            "name": row["name"],
            "status": row["status"],
            "startDate": _millis(row["started"]),
            "stopDate": _millis(row["stopped"]),
            "input": included["input"],
            "output": included["output"],
            "inputDetails": {"included": included["input"] is not None},
            "outputDetails": {"included": included["output"] is not None} if succeeded else None,
            "error": row["error"],
            "cause": row["cause"],
            "redriveCount": row["redrive_count"] or 0,
            "redriveDate": _millis(row["redrive_date"]),
        }
        reason = self._not_redrivable(row)
        detail["redriveStatus"] = "REDRIVABLE" if reason is None else "NOT_REDRIVABLE"
        detail["redriveStatusReason"] = reason
        if row["version_arn"]:
            detail["stateMachineVersionArn"] = row["version_arn"]
        if row["alias_arn"]:
            detail["stateMachineAliasArn"] = row["alias_arn"]
        service_events.emit(
            self.platform.deliveries,
            region=row["region"],
            account_id=row["account_id"],
            source="aws.states",
            detail_type="Step Functions Execution Status Change",
            detail=detail,
            resources=[row["arn"]],
        )

    def _started_details(self, row: Row) -> dict:
        details = {"input": row["input"], "inputDetails": {"truncated": False},
                   "roleArn": row["role_arn"]}  # fmt: skip
        if row["alias_arn"]:
            details["stateMachineAliasArn"] = row["alias_arn"]
        if row["version_arn"]:
            details["stateMachineVersionArn"] = row["version_arn"]
        return details

    def _launch(
        self,
        row: Row,
        *,
        express: bool,
        machine: Row | None = None,
        runtime: ExecutionRuntime | None = None,
    ) -> asyncio.Task:
        if runtime is None:
            runtime = ExecutionRuntime(self, row, express=express)
            if express:
                runtime.add_event("ExecutionStarted", self._started_details(row))
        self._runtimes[row["arn"]] = runtime
        task = asyncio.get_running_loop().create_task(self._run(row, runtime, machine))
        self._running[row["arn"]] = task
        return task

    def _context(self, row: Row) -> dict:
        machine_name = row["machine_arn"].rsplit(":", 1)[1]
        return {
            "Execution": {
                "Id": row["arn"],
                "Input": json.loads(row["input"]),
                "Name": row["name"],
                "RoleArn": row["role_arn"],
                "StartTime": iso(row["started"]),
                "RedriveCount": row["redrive_count"] or 0,
            },
            "StateMachine": {"Id": row["version_arn"] or row["machine_arn"], "Name": machine_name},
        }

    async def _run(self, row: Row, runtime: ExecutionRuntime, machine: Row | None) -> dict:
        arn = row["arn"]
        try:
            try:
                asl = engine()
                execution = asl.Execution(asl.parse(row["definition"]), runtime, self._context(row))
                resume = json.loads(row["snapshot"]) if row.get("snapshot") else None
                result = await execution.run(json.loads(row["input"]), resume=resume)
                status, output = result.status, result.output
                failure = (result.error, result.cause)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # an engine fault fails the execution, never the server
                log.exception("execution %s failed in the engine", arn)
                status, output, failure = "FAILED", None, ("States.Runtime", str(e))
                runtime.add_event("ExecutionFailed", {"error": failure[0], "cause": failure[1]})
            outcome = {
                "status": status,
                "output": compact(output) if status == "SUCCEEDED" else None,
                "error": failure[0] if status != "SUCCEEDED" else None,
                "cause": failure[1] if status != "SUCCEEDED" else None,
                "stopped": self.clock(),
                # A failed execution keeps its last snapshot: RedriveExecution resumes it.
                "snapshot": None
                if status == "SUCCEEDED" or runtime.last_snapshot is None
                else compact(runtime.last_snapshot),
            }
            runtime.flush(**outcome)
            final = {**row, **outcome}
            if runtime.express:
                await self._log_express(final, runtime, machine)
            self._finished(arn, final)
            return final
        except asyncio.CancelledError:
            if arn in self._stopping:
                return self.store.get(EXECUTIONS, arn) or row
            raise
        finally:
            self._running.pop(arn, None)
            self._runtimes.pop(arn, None)

    def _finished(self, arn: str, final: Row) -> None:
        if "/" not in arn.split(":")[6]:  # not a Map Run's child (<machine>/<label>)
            self.platform.metrics.execution_ended(
                final["account_id"], final["region"], final["machine_arn"], final["status"],
                ((final["stopped"] or self.clock()) - final["started"]) * 1000,
            )  # fmt: skip
        waiter = self._done.pop(arn, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(final)

    async def run(self) -> None:
        """From ``Platform.start`` until ``Platform.stop``: resume every RUNNING Standard
        execution from its last snapshot (a Wait ends on time, a pending token is awaited
        again), then stay until stopped; the stop marks the shutdown, so executions it
        cancels keep their tokens open for the next start."""
        try:
            for row in self.store.select(EXECUTIONS, {"status": "RUNNING"}):
                # An Express Map Run child is started again by its resumed Map Run.
                if row["arn"] not in self._running and ":express:" not in row["arn"]:
                    self._launch(row, express=False)
            await asyncio.Event().wait()
        finally:
            # Executions stop with the server, before the store closes; their tokens
            # stay open and the next start resumes them.
            self.shutting_down = True
            for task in list(self._running.values()):
                task.cancel()

    def token_abandoned(self, token: str) -> None:
        """A waiting state was cancelled: by StopExecution or its TimeoutSeconds the
        token closes; by a server shutdown it stays open for the resumed execution."""
        if not self.shutting_down:
            self.close_token(token)

    async def on_activity_started(self, task: Row, worker: str | None) -> None:
        """A worker took an activity task: ActivityStarted in its execution's history."""
        runtime = self._runtimes.get(task["execution_arn"])
        if runtime is not None:
            runtime.add_event("ActivityStarted", {"workerName": worker} if worker else {})
            runtime.flush()

    # -- StartSyncExecution -------------------------------------------------------------

    async def start_sync_execution(self, ctx: RequestContext, params: dict) -> dict:
        machine, version, alias, row = self._prepare(ctx, params)
        if (version or machine)["type"] != "EXPRESS":
            raise error(
                "StateMachineTypeNotSupported",
                "This operation is not supported by this type of state machine",
            )
        row["arn"] = (f"arn:aws:states:{row['region']}:{row['account_id']}:express:"
                      f"{machine['name']}:{row['name']}:{uuid.uuid4()}")  # fmt: skip
        self._metric_started(row)
        final = await self._launch(row, express=True, machine=machine)
        out = {
            "executionArn": final["arn"],
            "stateMachineArn": machine["arn"],
            "name": final["name"],
            "startDate": final["started"],
            "stopDate": final["stopped"],
            "status": final["status"],
            "input": final["input"],
            "inputDetails": {"included": True},
            "billingDetails": {
                "billedMemoryUsedInMB": 64,
                "billedDurationInMilliseconds": max(
                    100, int((final["stopped"] - final["started"]) * 1000 + 99) // 100 * 100
                ),
            },
        }
        if final["trace_header"]:
            out["traceHeader"] = final["trace_header"]
        if final["status"] == "SUCCEEDED":
            out["output"] = final["output"]
            out["outputDetails"] = {"included": True}
        else:
            out["error"] = final["error"]
            out["cause"] = final["cause"]
        return out

    # -- reading ------------------------------------------------------------------------

    def describe_execution(self, ctx: RequestContext, params: dict) -> dict:
        row = self._standard(params["executionArn"], map_child=True)
        out = {
            "executionArn": row["arn"],
            "stateMachineArn": row["machine_arn"],
            "name": row["name"],
            "status": row["status"],
            "startDate": row["started"],
            "input": row["input"],
            "inputDetails": {"included": True},
            "redriveCount": row["redrive_count"] or 0,
        }
        if row["stopped"] is not None:
            out["stopDate"] = row["stopped"]
        if row["status"] == "SUCCEEDED":
            out["output"] = row["output"]
            out["outputDetails"] = {"included": True}
        if row["error"] is not None:
            out["error"] = row["error"]
        if row["cause"] is not None:
            out["cause"] = row["cause"]
        if row["trace_header"]:
            out["traceHeader"] = row["trace_header"]
        if row["version_arn"]:
            out["stateMachineVersionArn"] = row["version_arn"]
        if row["alias_arn"]:
            out["stateMachineAliasArn"] = row["alias_arn"]
        if row["redrive_date"] is not None:
            out["redriveDate"] = row["redrive_date"]
        if row["map_run_arn"]:
            out["mapRunArn"] = row["map_run_arn"]
        reason = self._not_redrivable(row)
        out["redriveStatus"] = "REDRIVABLE" if reason is None else "NOT_REDRIVABLE"
        if reason is not None:
            out["redriveStatusReason"] = reason
        return out

    def _not_redrivable(self, row: Row) -> str | None:
        """Why AWS would refuse to redrive the execution, or None."""
        if row["status"] in ("RUNNING", "SUCCEEDED"):
            return f"Execution is {row['status']} and cannot be redriven"
        if row["stopped"] is not None and self.clock() - row["stopped"] > REDRIVE_WINDOW_S:
            return "Execution can no longer be redriven: it ended more than 14 days ago"
        if not row["snapshot"]:
            return "Execution failed before entering a state and cannot be redriven"
        return None

    def redrive_execution(self, ctx: RequestContext, params: dict) -> dict:
        """Run a failed, timed-out or aborted execution again from the state it was in,
        with that state's input (its last snapshot, any pending wait or token dropped)."""
        row = self._standard(params["executionArn"])
        reason = self._not_redrivable(row)
        if reason is not None:
            raise error("ExecutionNotRedrivable", reason)
        snapshot = json.loads(row["snapshot"])
        if "map_run" not in (snapshot.get("pending") or {}):  # a Map Run is redriven
            snapshot.pop("pending", None)
        now = self.clock()
        row = {**row, "status": "RUNNING", "stopped": None, "error": None, "cause": None,
               "output": None, "snapshot": compact(snapshot),
               "redrive_count": (row["redrive_count"] or 0) + 1, "redrive_date": now}  # fmt: skip
        runtime = ExecutionRuntime(self, row, express=False)
        runtime.add_event("ExecutionRedriven", {"redriveCount": row["redrive_count"]})
        runtime.flush(**{k: row[k] for k in ("status", "stopped", "error", "cause", "output",
                                             "snapshot", "redrive_count", "redrive_date")})  # fmt: skip
        row["events"] = runtime.last_id
        self._launch(row, express=False, runtime=runtime)
        return {"redriveDate": now}

    def _standard(self, arn: str, *, map_child: bool = False) -> Row:
        parsed = parse_arn(arn)
        if parsed is not None and parsed[2] == "express":
            # Express executions are not recorded (AWS: no Describe/History for them),
            # except a Map Run's children, which the Describe operations answer.
            row = self.store.get(EXECUTIONS, arn) if map_child else None
            if row is None or not row["map_run_arn"]:
                raise invalid_arn(arn, "Resource type not valid in this context")
            return row
        return self.execution(arn)

    def list_executions(self, ctx: RequestContext, params: dict) -> dict:
        arn = params.get("stateMachineArn")
        map_run = params.get("mapRunArn")
        if bool(arn) == bool(map_run):
            raise error("ValidationException", "Must provide a StateMachine ARN or MapRun ARN")
        if map_run:
            rows, sizes = self.map_run_children(map_run)
        else:
            machine, version, alias = self.resolve(arn)
            if machine["type"] == "EXPRESS":
                raise error(
                    "StateMachineTypeNotSupported",
                    "This operation is not supported by this type of state machine",
                )
            rows = self.store.select(
                EXECUTIONS, {"machine_arn": machine["arn"]}, order_by=("started",), descending=True
            )
            if alias is not None:
                rows = [r for r in rows if r["alias_arn"] == alias["arn"]]
            elif version is not None:
                rows = [r for r in rows if r["version_arn"] == arn]
        if params.get("statusFilter"):
            rows = [r for r in rows if r["status"] == params["statusFilter"]]
        if params.get("redriveFilter") == "REDRIVEN":
            rows = [r for r in rows if r["redrive_count"]]
        elif params.get("redriveFilter") == "NOT_REDRIVEN":
            rows = [r for r in rows if not r["redrive_count"]]
        items, token = page(rows, params, key="arn")
        out = []
        for r in items:
            item = {
                "executionArn": r["arn"],
                "stateMachineArn": r["machine_arn"],
                "name": r["name"],
                "status": r["status"],
                "startDate": r["started"],
                "redriveCount": r["redrive_count"] or 0,
            }
            if r["stopped"] is not None:
                item["stopDate"] = r["stopped"]
            if r["version_arn"]:
                item["stateMachineVersionArn"] = r["version_arn"]
            if r["alias_arn"]:
                item["stateMachineAliasArn"] = r["alias_arn"]
            if map_run:  # AWS names the run only when listing by it
                item["mapRunArn"] = map_run
                item["itemCount"] = sizes[r["map_index"]]
            out.append(item)
        return {"executions": out, **token}

    def get_execution_history(self, ctx: RequestContext, params: dict) -> dict:
        row = self._standard(params["executionArn"])
        events = self.store.select(
            HISTORY,
            {"execution_arn": row["arn"]},
            order_by=("id",),
            descending=bool(params.get("reverseOrder")),
        )
        items, token = page(events, params, key="id")
        include = params.get("includeExecutionData", True)
        return {"events": [history_event(e, include) for e in items], **token}

    def describe_state_machine_for_execution(self, ctx: RequestContext, params: dict) -> dict:
        row = self._standard(params["executionArn"], map_child=True)
        machine = self.store.get(MACHINES, row["machine_arn"])
        source = {
            "arn": row["machine_arn"],
            "definition": row["definition"],
            "role_arn": row["role_arn"],
            "type": machine["type"] if machine else "STANDARD",
            "created": row["started"],
            "logging": machine["logging"] if machine else '{"level": "OFF"}',
            "tracing": machine["tracing"] if machine else '{"enabled": false}',
            "encryption": machine["encryption"] if machine else '{"type": "AWS_OWNED_KEY"}',
            "revision_id": row["revision_id"],
            "description": None,
            "name": row["machine_arn"].rsplit(":", 1)[1],
        }
        described = describe(source)
        out = {
            "stateMachineArn": row["machine_arn"],
            "name": source["name"],
            "definition": row["definition"],
            "roleArn": row["role_arn"],
            "updateDate": row["started"],
            "loggingConfiguration": described["loggingConfiguration"],
            "tracingConfiguration": described["tracingConfiguration"],
            "revisionId": row["revision_id"],
            "encryptionConfiguration": described["encryptionConfiguration"],
        }
        if row["map_run_arn"]:  # a Map Run's child: its Map Run and the Map's label
            out["mapRunArn"] = row["map_run_arn"]
            out["label"] = row["machine_arn"].rsplit("/", 1)[1]
        return {k: v for k, v in out.items() if v is not None}

    # -- TestState -------------------------------------------------------------------------

    async def test_state(self, ctx: RequestContext, params: dict) -> dict:
        """One state run once (``asl.run_test_state``), its tasks called as ``roleArn``
        (or the caller when none is given, for states that call nothing)."""
        configuration = params.get("stateConfiguration") or {}
        if set(configuration) - {"retrierRetryCount"}:
            raise not_implemented("stepfunctions", "TestState stateConfiguration for Map and "
                                  "Parallel (errorCausedByState, mapIterationFailureCount, "
                                  "mapItemReaderData)")  # fmt: skip
        mock = mocks.engine_mock(params, _tested_state(params))
        _, value = _input(params.get("input"))
        variables = json.loads(params["variables"]) if params.get("variables") else None
        context = json.loads(params["context"]) if params.get("context") else None
        role = params.get("roleArn")
        if role is not None:
            self._check_role(ctx, role)
        row = {
            "arn": f"arn:aws:states:{ctx.region}:{ctx.account_id}:execution:TestState:test",
            "name": "TestState",
            "region": ctx.region,
            "role_arn": role,
            "trace_header": None,
            "events": 0,
        }
        runtime = ExecutionRuntime(
            self, row, express=True, principal=None if role else ctx.principal
        )
        try:
            answer = await engine().run_test_state(
                params["definition"], value, runtime, state_name=params.get("stateName"),
                variables=variables, context=context, mock=mock,
            )  # fmt: skip
        except engine().InvalidDefinition as e:
            raise error("InvalidDefinition", e.message) from None
        except engine().InvalidMock as e:
            raise error("ValidationException", str(e)) from None
        if params.get("inspectionLevel", "INFO") == "INFO":
            answer.pop("inspectionData", None)
        return answer

    # -- stop ---------------------------------------------------------------------------

    async def stop_execution(self, ctx: RequestContext, params: dict) -> dict:
        row = self._standard(params["executionArn"])
        if row["status"] != "RUNNING":
            return {"stopDate": row["stopped"]}
        arn = row["arn"]
        self._stopping.add(arn)
        try:
            task = self._running.get(arn)
            runtime = self._runtimes.get(arn)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if runtime is None:
                runtime = ExecutionRuntime(self, row, express=False)
            for token in self.store.select(TOKENS, {"execution_arn": arn}):
                self.close_token(token["token"])
            details = {}
            if params.get("error") is not None:
                details["error"] = params["error"]
            if params.get("cause") is not None:
                details["cause"] = params["cause"]
            runtime.add_event("ExecutionAborted", details)
            now = self.clock()
            # The snapshot stays: RedriveExecution resumes an aborted execution too.
            runtime.flush(status="ABORTED", stopped=now, error=params.get("error"),
                          cause=params.get("cause"))  # fmt: skip
            self._finished(arn, {**row, **self.store.get(EXECUTIONS, arn)})
            return {"stopDate": now}
        finally:
            self._stopping.discard(arn)

    # -- states:startExecution from a task ------------------------------------------------

    async def start_child(self, parent: ExecutionRuntime, target: Target, arguments: dict) -> Any:
        """``arn:aws:states:::states:startExecution`` (``.sync`` / ``.sync:2``) as the
        parent's role; IAM decides (states:StartExecution, and DescribeExecution for .sync)."""
        params = {k[:1].lower() + k[1:]: v for k, v in arguments.items()}
        if params.get("input") is not None and not isinstance(params["input"], str):
            params["input"] = compact(params["input"])
        try:
            started = await parent.call("stepfunctions", "StartExecution", params)
        except ServiceError as e:
            raise engine().TaskFailure(error_name("stepfunctions", e.code, sdk=False),
                                  f"{e.message} (Service: AWSStepFunctions; Status Code: "
                                  f"{e.status}; Error Code: {e.code})") from None  # fmt: skip
        if not target.pattern.startswith("sync"):
            return {"ExecutionArn": started["executionArn"], "StartDate": iso(started["startDate"])}
        child = await self.wait_for(started["executionArn"])
        described = {
            "ExecutionArn": child["arn"],
            "StateMachineArn": child["machine_arn"],
            "Name": child["name"],
            "Status": child["status"],
            "StartDate": iso(child["started"]),
            "StopDate": iso(child["stopped"]) if child["stopped"] else None,
            "Input": child["input"] if target.pattern == "sync" else json.loads(child["input"]),
        }
        if child["status"] == "SUCCEEDED":
            out = child["output"]
            described["Output"] = out if target.pattern == "sync" else json.loads(out)
            return described
        error_code = {"FAILED": "States.TaskFailed", "TIMED_OUT": "States.Timeout",
                      "ABORTED": "States.TaskFailed"}[child["status"]]  # fmt: skip
        raise engine().TaskFailure(error_code, compact({**described, "Error": child["error"],
                                                   "Cause": child["cause"]}))  # fmt: skip

    async def wait_for(self, arn: str) -> Row:
        row = self.store.get(EXECUTIONS, arn)
        if row is not None and row["status"] in TERMINAL:
            return row
        task = self._running.get(arn)
        if task is not None:
            waiter = self._done.setdefault(arn, asyncio.get_running_loop().create_future())
            return await asyncio.shield(waiter)
        raise engine().TaskFailure("States.Runtime", f"Execution Does Not Exist: '{arn}'")

    # -- Express logging ------------------------------------------------------------------

    async def _log_express(
        self, final: Row, runtime: ExecutionRuntime, machine: Row | None
    ) -> None:
        """An Express execution's events to its log group, per the logging level."""
        if machine is None:
            return
        config = json.loads(machine["logging"])
        level = config.get("level", "OFF")
        if level == "OFF" or not config.get("destinations"):
            return
        group_arn = config["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"]
        group = group_arn.split(":log-group:", 1)[1].removesuffix(":*")
        events = []
        for e in runtime.all_events:
            failed = e["type"].endswith(_FAILED_EVENTS)
            fatal = failed and e["type"].startswith("Execution")
            if (level == "ERROR" and not failed) or (level == "FATAL" and not fatal):
                continue
            details = next(iter(json.loads(e["details"]).values()), {}) or {}
            if not config.get("includeExecutionData"):
                details = {k: v for k, v in details.items()
                           if k not in ("input", "output", "parameters")}  # fmt: skip
            message = {
                "id": str(e["id"]),
                "type": e["type"],
                "details": details,
                "previous_event_id": str(e["previous_id"]),
                "event_timestamp": str(int(e["timestamp"] * 1000)),
                "execution_arn": final["arn"],
            }
            events.append({"timestamp": int(e["timestamp"] * 1000), "message": compact(message)})
        if not events:
            return
        stream = (f"states/{machine['name']}/{time.strftime('%Y-%m-%d-%H-%M', time.gmtime())}/"
                  f"{uuid.uuid4().hex[:8]}")  # fmt: skip
        # Step Functions' log delivery writes as the service for the account (the role
        # needs the log-delivery permissions in AWS, not PutLogEvents).
        principal = Principal.root(final["account_id"])
        try:
            await self.platform.call(
                "logs", "CreateLogStream", {"logGroupName": group, "logStreamName": stream},
                principal=principal, region=final["region"], record_decisions=False,
            )  # fmt: skip
            await self.platform.call(
                "logs", "PutLogEvents",
                {"logGroupName": group, "logStreamName": stream, "logEvents": events},
                principal=principal, region=final["region"], record_decisions=False,
            )  # fmt: skip
        except ServiceError as e:
            log.warning("Express execution logs for %s not delivered: %s", final["arn"], e)


def history_event(row: Row, include_data: bool = True) -> dict:
    out = {
        "timestamp": row["timestamp"],
        "type": row["type"],
        "id": row["id"],
        "previousEventId": row["previous_id"],
    }
    details = json.loads(row["details"])
    if not include_data:
        for value in details.values():
            for key in ("input", "output"):
                value.pop(key, None)
    out.update(details)
    return out


def _tested_state(params: dict) -> dict | None:
    """The state TestState runs (the definition, or its ``stateName`` state), if it reads."""
    try:
        document = json.loads(params["definition"])
        if params.get("stateName"):
            document = document["States"][params["stateName"]]
    except (ValueError, KeyError, TypeError):
        return None  # the engine refuses it with AWS's InvalidDefinition
    return document if isinstance(document, dict) else None
