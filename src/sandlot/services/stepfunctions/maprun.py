"""Distributed Map runs: a Map state in DISTRIBUTED mode runs each of its inputs (an
item, or a batch from ItemBatcher) as a child workflow execution of a Map Run, as AWS
does. DescribeMapRun, ListMapRuns, UpdateMapRun, ListExecutions(mapRunArn), and the
ResultWriter's export to S3.

The engine reads, selects and batches the items and calls ``run_map`` (through
``ExecutionRuntime.run_map``). A Map Run is a row (``sfn_map_runs``) holding the
children's inputs and its settings; each child is an execution row carrying
``map_run_arn``/``map_index``: a STANDARD child is a Standard execution with its own
history (durable, resumed at start-up like any), an EXPRESS child a row written when
it starts and ends (no history, as AWS). A parent resumed after a restart rejoins its
RUNNING Map Run (its snapshot names the run as pending): ended children keep their
results, Standard children still running are awaited, Express children that were
running start again (at least once), and the rest start as concurrency allows.
``MaxConcurrency`` and the tolerated failures are read from the row at each step, so
``UpdateMapRun`` applies to the running Map Run.

Names as AWS: the run ``arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<id>``,
a child ``…:execution:<machine>/<label>:<name>`` (Express: ``…:express:<machine>/<label>:
<run id>:<name>``) of the state machine ``…:stateMachine:<machine>/<label>``. The
ResultWriter writes ``<Prefix>/<run id>/SUCCEEDED_<n>.json``, ``FAILED_<n>.json``,
``PENDING_<n>.json`` (each status present, a new file past
``Settings.sfn_result_file_max_bytes``; ``.jsonl`` for OutputType JSONL) and
``manifest.json`` naming them all, as the state machine's role. SUCCEEDED holds AWS's
execution records (Transformation NONE) or the children's outputs (COMPACT; FLATTEN
splices arrays); FAILED always the records; PENDING the inputs never started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.stepfunctions.base import engine, error, parse_arn
from sandlot.services.stepfunctions.executions import ExecutionOperations, iso
from sandlot.services.stepfunctions.paging import page
from sandlot.services.stepfunctions.runtime import ExecutionRuntime, compact
from sandlot.services.stepfunctions.schema import EXECUTIONS, HISTORY, MAP_RUNS

THRESHOLD = ("States.ExceedToleratedFailureThreshold",
             "The specified tolerated failure threshold was exceeded")  # fmt: skip
_ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_RESULT_FILES = {"SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED", "TIMED_OUT": "FAILED",
                 "ABORTED": "FAILED", "PENDING": "PENDING"}  # fmt: skip


def exceeded(failures: int, total: int, run: dict) -> bool:
    """AWS's threshold: none set tolerates no failure; either set is a ceiling."""
    count, percent = run["tolerated_count"], run["tolerated_percent"]
    if count is None and percent is None:
        return failures > 0
    if count is not None and failures > count:
        return True
    return percent is not None and total > 0 and failures * 100.0 / total > percent


class MapRunOperations(ExecutionOperations):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        self._map_wakeups: dict[str, asyncio.Event] = {}

    # -- the engine's side ----------------------------------------------------------------

    async def run_map(self, parent: ExecutionRuntime, request: dict) -> Any:
        """Run (or, resumed, rejoin) the Map Run; the children's results in order, or
        the ResultWriter's ``{MapRunArn, ResultWriterDetails}``. A failure past the
        threshold raises States.ExceedToleratedFailureThreshold."""
        run = None
        redriving = False
        if request["resumed"]:  # after a restart, or a RedriveExecution of the parent
            found = self.store.select(
                MAP_RUNS, {"execution_arn": parent.arn, "state": request["state"]},
                order_by=("started",),
            )  # fmt: skip
            run = found[-1] if found else None
            if run is not None and run["status"] in ("FAILED", "ABORTED"):
                run = self._redrive_map_run(parent, run)
                redriving = True
            elif run is not None and run["status"] != "RUNNING":
                run = None
        if run is None:
            self._check_start(parent)
            run = self._new_map_run(parent, request)
        arn = run["arn"]
        wake = self._map_wakeups.setdefault(arn, asyncio.Event())
        writer = (request.get("transformation", "COMPACT"), request.get("output_type", "JSON"))
        try:
            return await self._drive(parent, run, wake, writer, redriving)
        except asyncio.CancelledError:
            if not self.shutting_down:  # StopExecution of the parent aborts the run
                await self._abort_map_run(parent, arn, writer)
            raise
        finally:
            self._map_wakeups.pop(arn, None)

    def _check_start(self, parent: ExecutionRuntime) -> None:
        """Children are started as the machine's role: AWS requires it to allow
        states:StartExecution on its own state machine, else the Map state fails."""
        from sandlot.iam.authorizer import denied_message

        machine = parent.row["machine_arn"]
        decision = self.platform.authorizer.decide(
            parent.principal, "states:StartExecution", machine,
            request_id=str(uuid.uuid4()), region=parent.row["region"],
        )  # fmt: skip
        if not decision.allowed:
            raise engine().StatesError("States.Runtime", denied_message(
                parent.principal.arn, "states:StartExecution", machine, decision.reason))  # fmt: skip

    def _new_map_run(self, parent: ExecutionRuntime, request: dict) -> dict:
        machine_name = parent.row["machine_arn"].rsplit(":", 1)[1]
        region, account = parent.row["region"], parent.row["account_id"]
        arn = (f"arn:aws:states:{region}:{account}:mapRun:{machine_name}/{request['label']}:"
               f"{uuid.uuid4()}")  # fmt: skip
        run = {
            "arn": arn,
            "execution_arn": parent.arn,
            "machine_arn": parent.row["machine_arn"],
            "state": request["state"],
            "label": request["label"],
            "status": "RUNNING",
            "started": self.clock(),
            "stopped": None,
            "execution_type": request["execution_type"],
            "definition": request["definition"],
            "role_arn": parent.row["role_arn"],
            "inputs": compact(request["inputs"]),
            "item_sizes": compact(request["item_sizes"]),
            "max_concurrency": request["max_concurrency"],
            "tolerated_count": request["tolerated_count"],
            "tolerated_percent": request["tolerated_percent"],
            "destination": compact(request["destination"]) if request["destination"] else None,
            "results_written": 0,
            "error": None,
            "cause": None,
            "redrive_count": 0,
            "redrive_date": None,
        }
        parent.add_event("MapRunStarted", {"mapRunArn": arn})
        with self.store.transaction():  # the run and its MapRunStarted commit together
            self.store.put(MAP_RUNS, run)
            parent.flush()
        return run

    def _redrive_map_run(self, parent: ExecutionRuntime, run: dict) -> dict:
        """The parent was redriven in its Map state: the same Map Run runs again, its
        failed, timed-out and aborted children (and those never started) only."""
        count = (run["redrive_count"] or 0) + 1
        run = {**run, "status": "RUNNING", "stopped": None, "error": None, "cause": None,
               "redrive_count": count, "redrive_date": self.clock(), "results_written": 0}  # fmt: skip
        parent.add_event("MapRunRedriven", {"mapRunArn": run["arn"], "redriveCount": count})
        with self.store.transaction():
            self.store.put(MAP_RUNS, run)
            parent.flush()
        return run

    async def _drive(
        self,
        parent: ExecutionRuntime,
        run: dict,
        wake: asyncio.Event,
        writer: tuple[str, str],
        redriving: bool = False,
    ) -> Any:
        """Start children as the limit allows, settle each as it ends, until all ended
        or the failures pass the threshold. ``writer``: the WriterConfig's Transformation
        and OutputType. ``redriving``: children that ended without success run again (a
        Standard one is redriven)."""
        arn = run["arn"]
        inputs = json.loads(run["inputs"])
        total = len(inputs)
        results: list[Any] = [None] * total
        children = {c["map_index"]: c for c in self.store.select(EXECUTIONS, {"map_run_arn": arn})}
        running: dict[asyncio.Future, int] = {}
        failures = 0

        def settle(child: dict) -> None:
            nonlocal failures
            if child["status"] == "SUCCEEDED":
                results[child["map_index"]] = json.loads(child["output"])
            else:
                failures += 1
                results[child["map_index"]] = {"Error": child["error"], "Cause": child["cause"]}

        for index in sorted(children):
            child = children[index]
            if child["status"] == "SUCCEEDED" or (child["status"] in _ENDED and not redriving):
                settle(child)
            elif child["status"] in _ENDED:
                running[asyncio.ensure_future(self._rerun(child, run))] = index
            else:
                running[asyncio.ensure_future(self._rejoin(child, run))] = index
        waiting = [i for i in range(total) if i not in children]
        try:
            while True:
                current = self.store.get(MAP_RUNS, arn) or run
                if exceeded(failures, total, current):
                    await self._stop_children(running)
                    return await self._end(parent, current, "FAILED", results, THRESHOLD, writer)
                limit = current["max_concurrency"] or total or 1
                while waiting and len(running) < limit:
                    index = waiting.pop(0)
                    task = asyncio.ensure_future(self._start(parent, run, index, inputs[index]))
                    running[task] = index
                if not running:
                    return await self._end(parent, current, "SUCCEEDED", results, None, writer)
                wake.clear()
                woken = asyncio.ensure_future(wake.wait())
                done, _ = await asyncio.wait([*running, woken], return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                for task in done:
                    if task in running:
                        running.pop(task)
                        settle(task.result())
        except asyncio.CancelledError:
            for task in running:
                task.cancel()
            raise

    async def _start(self, parent: ExecutionRuntime, run: dict, index: int, value: Any) -> dict:
        """Start the child for input ``index``; its final row when it ends."""
        machine_name, label = parent.row["machine_arn"].rsplit(":", 1)[1], run["label"]
        region, account = parent.row["region"], parent.row["account_id"]
        name = str(uuid.uuid4())
        run_id = run["arn"].rsplit(":", 1)[1]
        express = run["execution_type"] == "EXPRESS"
        if express:
            arn = (
                f"arn:aws:states:{region}:{account}:express:{machine_name}/{label}:{run_id}:{name}"
            )
        else:
            arn = f"arn:aws:states:{region}:{account}:execution:{machine_name}/{label}:{name}"
        row = {
            "arn": arn,
            "machine_arn": f"arn:aws:states:{region}:{account}:stateMachine:{machine_name}/{label}",
            "version_arn": None,
            "alias_arn": None,
            "account_id": account,
            "region": region,
            "name": name,
            "status": "RUNNING",
            "input": compact(value),
            "output": None,
            "error": None,
            "cause": None,
            "started": self.clock(),
            "stopped": None,
            "definition": run["definition"],
            "role_arn": run["role_arn"],
            "revision_id": None,
            "trace_header": parent.row.get("trace_header"),
            "snapshot": None,
            "events": 0,
            "redrive_count": 0,
            "redrive_date": None,
            "map_run_arn": run["arn"],
            "map_index": index,
        }
        return await self._launch_child(row, express=express, fresh=True)

    async def _rejoin(self, child: dict, run: dict) -> dict:
        """A child that was running when the parent's Map Run was resumed."""
        if run["execution_type"] == "EXPRESS":  # its run died with the process: again
            return await self._launch_child(child, express=True, fresh=False)
        return await self._child_done(child["arn"])

    async def _rerun(self, child: dict, run: dict) -> dict:
        """A redriven Map Run's child that failed: a Standard one is redriven (from the
        state it failed in), an Express one runs again."""
        if run["execution_type"] == "EXPRESS":
            again = {**child, "status": "RUNNING", "output": None, "error": None,
                     "cause": None, "started": self.clock(), "stopped": None}  # fmt: skip
            return await self._launch_child(again, express=True, fresh=False)
        try:
            self.redrive_execution(None, {"executionArn": child["arn"]})
        except ServiceError:  # not redrivable (it failed before entering a state)
            return child
        return await self._child_done(child["arn"])

    async def _launch_child(self, row: dict, *, express: bool, fresh: bool) -> dict:
        if express:
            self.store.put(EXECUTIONS, row)
            final = await self._launch(row, express=True)
            outcome = {k: final[k] for k in ("status", "output", "error", "cause", "stopped")}
            self.store.put(EXECUTIONS, {**row, **outcome})
            return {**row, **outcome}
        if fresh:
            runtime = ExecutionRuntime(self, row, express=False)
            runtime.add_event("ExecutionStarted", self._started_details(row))
            with self.store.transaction():
                self.store.put(EXECUTIONS, {**row, "events": runtime.last_id})
                self.store.put_many(HISTORY, runtime.pending)
                self.emit_status_change(row)
            runtime.pending = []
            row["events"] = runtime.last_id
            self._launch(row, express=False, runtime=runtime)
        return await self._child_done(row["arn"])

    async def _child_done(self, arn: str) -> dict:
        try:
            return await self.wait_for(arn)
        except engine().TaskFailure:  # not running and not ended: it cannot end any more
            row = self.store.get(EXECUTIONS, arn)
            return {**row, "status": "FAILED", "error": "States.Runtime",
                    "cause": "The child execution was lost"}  # fmt: skip

    async def _stop_children(self, running: dict) -> None:
        """Past the threshold: stop waiting for the children still running (``_end``
        aborts them)."""
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _abort_map_run(
        self, parent: ExecutionRuntime, arn: str, writer: tuple[str, str]
    ) -> None:
        """The parent was stopped: its running children are aborted, the run too. A
        ResultWriter still exports it (the aborted children FAILED, the inputs never
        started PENDING), as AWS; a failed write has no execution left to fail."""
        for child in self.store.select(EXECUTIONS, {"map_run_arn": arn, "status": "RUNNING"}):
            await self._abort_child(child)
        run = self.store.get(MAP_RUNS, arn)
        written = 0
        if run["destination"]:
            with contextlib.suppress(ServiceError):
                written = (await self._write_results(parent, run, *writer))[1]
        parent.add_event("MapRunAborted", None)
        changes = {"status": "ABORTED", "stopped": self.clock(), "results_written": written}
        with self.store.transaction():
            self.store.put(MAP_RUNS, {**run, **changes})
            parent.flush()

    async def _abort_child(self, child: dict) -> None:
        if ":express:" in child["arn"]:
            task = self._running.get(child["arn"])
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.store.put(EXECUTIONS, {**child, "status": "ABORTED", "stopped": self.clock()})
        else:
            await self.stop_execution(None, {"executionArn": child["arn"]})

    async def _end(
        self, parent: ExecutionRuntime, run: dict, status: str, results: list,
        failure: tuple[str, str] | None, writer: tuple[str, str] = ("COMPACT", "JSON"),
    ) -> Any:  # fmt: skip
        """The Map Run ends: results exported (with a ResultWriter), the run's status and
        its MapRunSucceeded/MapRunFailed committed with the parent's history."""
        # Children still running past the threshold are aborted (the run is over).
        for child in self.store.select(EXECUTIONS, {"map_run_arn": run["arn"],
                                                    "status": "RUNNING"}):  # fmt: skip
            await self._abort_child(child)
        answer: Any = results
        if writer[0] == "NONE" and not run["destination"]:
            # AWS's execution records, in input order (those that started)
            children = self.store.select(EXECUTIONS, {"map_run_arn": run["arn"]})
            answer = [_record(c) for c in sorted(children, key=lambda c: c["map_index"])]
        written = 0
        if run["destination"]:
            try:
                answer, written = await self._write_results(parent, run, *writer)
            except ServiceError as e:
                failure = ("States.ResultWriterFailed", f"{e.code}: {e.message}")
                status = "FAILED"
        changes = {"status": status, "stopped": self.clock(), "results_written": written}
        if failure is not None:
            changes.update(error=failure[0], cause=failure[1])
            parent.add_event("MapRunFailed", {"error": failure[0], "cause": failure[1]})
        else:
            parent.add_event("MapRunSucceeded", None)
        with self.store.transaction():
            self.store.put(MAP_RUNS, {**run, **changes})
            parent.flush()
        if failure is not None:
            raise engine().StatesError(*failure)
        return answer

    async def _write_results(
        self, parent: ExecutionRuntime, run: dict, transformation: str, output_type: str
    ) -> tuple[dict, int]:
        """AWS's export: the files of each status present, then manifest.json. Every
        input is in one file: SUCCEEDED (transformed), FAILED (timed-out and aborted
        too, always as records), PENDING (never started)."""
        destination = json.loads(run["destination"])
        bucket = destination.get("Bucket")
        prefix = (destination.get("Prefix") or "").rstrip("/")
        run_id = run["arn"].rsplit(":", 1)[1]
        base = f"{prefix}/{run_id}" if prefix else run_id
        children = {c["map_index"]: c for c in self.store.select(
            EXECUTIONS, {"map_run_arn": run["arn"]})}  # fmt: skip
        groups: dict[str, list] = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
        written = 0
        for index, value in enumerate(json.loads(run["inputs"])):
            child = children.get(index)
            if child is None:  # the run failed or was aborted before starting it
                groups["PENDING"].append({"Input": compact(value),
                                          "InputDetails": {"Included": True},
                                          "Status": "PENDING"})  # fmt: skip
                continue
            written += 1
            group = groups[_RESULT_FILES[child["status"]]]
            if child["status"] != "SUCCEEDED" or transformation == "NONE":
                group.append(_record(child))
                continue
            output = json.loads(child["output"])
            if transformation == "FLATTEN" and isinstance(output, list):
                group.extend(output)
            else:
                group.append(output)
        manifest: dict = {"DestinationBucket": bucket, "MapRunArn": run["arn"],
                          "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": []}}  # fmt: skip
        extension = "jsonl" if output_type == "JSONL" else "json"
        limit = int(self.platform.settings.sfn_result_file_max_bytes)
        for status, entries in groups.items():
            for number, body in enumerate(_result_files(entries, output_type, limit)):
                key = f"{base}/{status}_{number}.{extension}"
                await parent.call("s3", "PutObject", {"Bucket": bucket, "Key": key, "Body": body})
                manifest["ResultFiles"][status].append({"Key": key, "Size": len(body)})
        key = f"{base}/manifest.json"
        await parent.call(
            "s3", "PutObject", {"Bucket": bucket, "Key": key, "Body": compact(manifest).encode()}
        )
        return {
            "MapRunArn": run["arn"],
            "ResultWriterDetails": {"Bucket": bucket, "Key": key},
        }, written

    # -- the API --------------------------------------------------------------------------

    def _map_run(self, arn: str) -> dict:
        parsed = parse_arn(arn)
        if parsed is None or parsed[2] != "mapRun":
            raise error(
                "InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {arn}'"
            )
        run = self.store.get(MAP_RUNS, arn)
        if run is None:
            raise error("ResourceNotFound", f"Resource not found: '{arn}'")
        return run

    def describe_map_run(self, ctx: RequestContext, params: dict) -> dict:
        run = self._map_run(params["mapRunArn"])
        sizes = json.loads(run["item_sizes"])
        children = self.store.select(EXECUTIONS, {"map_run_arn": run["arn"]})
        executions = _counts(children, [1] * len(sizes), lambda c: 1)
        items = _counts(children, sizes, lambda c: sizes[c["map_index"]])
        executions["resultsWritten"] = run["results_written"] or 0
        items["resultsWritten"] = sum(
            sizes[c["map_index"]] for c in children if c["status"] in _ENDED
        ) if run["results_written"] else 0  # fmt: skip
        out = {
            "mapRunArn": run["arn"],
            "executionArn": run["execution_arn"],
            "status": run["status"],
            "startDate": run["started"],
            "maxConcurrency": run["max_concurrency"] or 0,
            "toleratedFailurePercentage": float(run["tolerated_percent"] or 0),
            "toleratedFailureCount": int(run["tolerated_count"] or 0),
            "itemCounts": items,
            "executionCounts": executions,
            "redriveCount": run["redrive_count"] or 0,
        }
        if run["stopped"] is not None:
            out["stopDate"] = run["stopped"]
        if run["redrive_date"] is not None:
            out["redriveDate"] = run["redrive_date"]
        return out

    def list_map_runs(self, ctx: RequestContext, params: dict) -> dict:
        parent = self.execution(params["executionArn"])
        runs = self.store.select(MAP_RUNS, {"execution_arn": parent["arn"]}, order_by=("started",))
        items, token = page(runs, params, key="arn")
        out = []
        for run in items:
            item = {"executionArn": run["execution_arn"], "mapRunArn": run["arn"],
                    "stateMachineArn": run["machine_arn"], "startDate": run["started"]}  # fmt: skip
            if run["stopped"] is not None:
                item["stopDate"] = run["stopped"]
            out.append(item)
        return {"mapRuns": out, **token}

    def update_map_run(self, ctx: RequestContext, params: dict) -> dict:
        run = self._map_run(params["mapRunArn"])
        keys = {"maxConcurrency": "max_concurrency", "toleratedFailureCount": "tolerated_count",
                "toleratedFailurePercentage": "tolerated_percent"}  # fmt: skip
        changes = {column: params[name] for name, column in keys.items() if name in params}
        if not changes:
            raise error(
                "ValidationException",
                "at least one of maxConcurrency, toleratedFailurePercentage or "
                "toleratedFailureCount must be specified",
            )
        self.store.put(MAP_RUNS, {**run, **changes})
        wake = self._map_wakeups.get(run["arn"])
        if wake is not None:
            wake.set()
        return {}

    def map_run_children(self, map_run_arn: str) -> tuple[list[dict], list[int]]:
        """ListExecutions(mapRunArn): the run's children, newest first, and the number
        of items each input holds (by ``map_index``)."""
        run = self._map_run(map_run_arn)
        children = self.store.select(
            EXECUTIONS, {"map_run_arn": map_run_arn}, order_by=("started",), descending=True
        )
        return children, json.loads(run["item_sizes"])


def _counts(children: list[dict], sizes: list[int], weight) -> dict:
    counts = {"pending": 0, "running": 0, "succeeded": 0, "failed": 0, "timedOut": 0,
              "aborted": 0, "total": sum(sizes), "resultsWritten": 0,
              "failuresNotRedrivable": 0, "pendingRedrive": 0}  # fmt: skip
    names = {"RUNNING": "running", "SUCCEEDED": "succeeded", "FAILED": "failed",
             "TIMED_OUT": "timedOut", "ABORTED": "aborted"}  # fmt: skip
    started = 0
    for child in children:
        counts[names[child["status"]]] += weight(child)
        started += weight(child)
    counts["pending"] = counts["total"] - started
    return counts


def _record(child: dict) -> dict:
    """A child as AWS's ResultWriter records it."""
    record = {
        "ExecutionArn": child["arn"],
        "Input": child["input"],
        "InputDetails": {"Included": True},
        "Name": child["name"],
        "StartDate": iso(child["started"]),
        "StateMachineArn": child["machine_arn"],
        "Status": child["status"],
        "StopDate": iso(child["stopped"]) if child["stopped"] else None,
    }
    if child["status"] == "SUCCEEDED":
        record["Output"] = child["output"]
        record["OutputDetails"] = {"Included": True}
    else:
        record["Error"] = child["error"]
        record["Cause"] = child["cause"]
    if ":express:" not in child["arn"]:
        record["RedriveCount"] = child["redrive_count"] or 0
        done = child["status"] == "SUCCEEDED"
        record["RedriveStatus"] = "NOT_REDRIVABLE" if done else "REDRIVABLE"
        if done:
            record["RedriveStatusReason"] = "Execution is SUCCEEDED and cannot be redriven"
    return record


def _result_files(entries: list, output_type: str, limit: int) -> list[bytes]:
    """The bodies of one status's result files: a JSON array, or JSON Lines (each line
    ended by a newline), a file closed when the next entry would take it past ``limit``
    bytes (an entry larger than that has a file of its own)."""
    lines = output_type == "JSONL"
    files: list[bytes] = []
    current: list[bytes] = []
    size = 0 if lines else 2  # JSON's brackets

    def close() -> None:
        if lines:
            files.append(b"".join(item + b"\n" for item in current))
        else:
            files.append(b"[" + b",".join(current) + b"]")

    for entry in entries:
        item = compact(entry).encode()
        cost = len(item) + (1 if lines or current else 0)  # its newline, or a comma
        if current and size + cost > limit:
            close()
            current, size = [], 0 if lines else 2
            cost = len(item) + (1 if lines else 0)
        current.append(item)
        size += cost
    if current:
        close()
    return files
