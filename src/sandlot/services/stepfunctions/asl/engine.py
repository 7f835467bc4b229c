"""Running a parsed state machine: Execution drives states through a Runtime.

The engine is pure: every effect goes through the Runtime the service gives it (task
invocations, task tokens, durable sleeps, history events, checkpoints). A top-level state
is checkpointed as it is entered, and again with the pending Wait deadline or task
(token, deadline) before the engine waits on it, so `run(input, resume=snapshot)` picks
up where a killed process left off. Parallel branches and Map iterations are not
checkpointed one by one: a resumed execution re-runs such a state from its start,
except a Distributed Map run by the service, whose Map Run the resumed state rejoins.

Errors that fail a state are StatesError(error, cause); Retry and Catch see them with
AWS's matching rules (States.ALL matches everything but States.Runtime; States.TaskFailed
everything but States.Timeout and States.Runtime).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from . import choice, intrinsics, jsonata_support
from . import items as item_reader
from .definition import JSONATA, Graph, StateMachine, parse_timestamp
from .errors import StatesError, TaskFailure
from .paths import MISSING, compile_path, set_reference

log = logging.getLogger(__name__)
_MAX_PAYLOAD = 262144  # 256 KiB: AWS's limit on a state's input/output
_VARIABLE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"


class Runtime(Protocol):
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
    ) -> Any: ...

    def new_task_token(self) -> str: ...

    async def sleep_until(self, epoch_s: float) -> None: ...

    async def record(self, event_type: str, details: dict) -> int | None: ...

    async def checkpoint(self, snapshot: dict) -> None: ...


@dataclass
class Result:
    status: str  # SUCCEEDED | FAILED | TIMED_OUT
    output: Any = None
    error: str | None = None
    cause: str | None = None


def dumps(value: Any) -> str:
    """JSON as AWS prints it in history and outputs: compact, UTF-8 kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Frame:
    """What one flow (the machine, a branch, an iteration) runs with."""

    __slots__ = ("context", "variables", "top")

    def __init__(self, context: dict, variables: dict, top: bool):
        self.context = context
        self.variables = variables
        self.top = top


class _Retriable(Exception):
    """Internal (TestState): the error would be retried by Retry[index] after delay s."""

    def __init__(self, error: StatesError, index: int, delay: float):
        self.error = error
        self.index = index
        self.delay = delay


class _Goto(Exception):
    """Internal: a Catch sends the flow to another state with this output."""

    def __init__(self, target: str, output: Any, error: StatesError | None = None):
        self.target = target
        self.output = output
        self.error = error


class Execution:
    def __init__(self, machine: StateMachine, runtime: Runtime, context: dict):
        self.machine = machine
        self.runtime = runtime
        self.context = context
        self.inspection: dict | None = None  # set by run_test_state()
        # TestState's mock (set by run_test_state): {"result": value} or {"error", "cause"}
        # stands for the tested Task's call or the Map's or Parallel's work; "retried" is
        # how many retries its Retry has already made (stateConfiguration).
        self.mock: dict | None = None

    async def run(self, input: Any, resume: dict | None = None) -> Result:
        context = self.context
        context.setdefault("Execution", {}).setdefault("Input", input)
        frame = _Frame(context, dict((resume or {}).get("variables") or {}), top=True)
        try:
            flow = self._run_graph(self.machine, input, frame, resume)
            deadline = self._execution_deadline()
            if deadline is None:
                output = await flow
            else:
                try:
                    output = await asyncio.wait_for(flow, max(0.0, deadline - time.time()))
                except TimeoutError:
                    cause = "The execution exceeded its TimeoutSeconds."
                    await self.runtime.record(
                        "ExecutionTimedOut",
                        {"executionTimedOutEventDetails": {"error": "States.Timeout",
                                                           "cause": cause}},
                    )  # fmt: skip
                    return Result("TIMED_OUT", error="States.Timeout", cause=cause)
        except Exception as e:  # noqa: BLE001 - a bug must fail the execution, not the server
            if not isinstance(e, StatesError):
                log.exception(
                    "execution %s: unexpected engine error", self.context.get("Execution")
                )
                e = StatesError("States.Runtime", f"An internal error occurred: {e!r}")
            details = {} if e.error is None else {"error": e.error}
            if e.cause is not None:
                details["cause"] = e.cause
            await self.runtime.record("ExecutionFailed", {"executionFailedEventDetails": details})
            return Result("FAILED", error=e.error, cause=e.cause)
        await self.runtime.record(
            "ExecutionSucceeded",
            {"executionSucceededEventDetails": {"output": dumps(output),
                                                "outputDetails": {"truncated": False}}},
        )  # fmt: skip
        return Result("SUCCEEDED", output=output)

    def _execution_deadline(self) -> float | None:
        timeout = self.machine.timeout_seconds
        if not timeout:
            return None
        start = self.context.get("Execution", {}).get("StartTime")
        started = parse_timestamp(start) if isinstance(start, str) else None
        base = started.timestamp() if started else time.time()
        return base + timeout

    # --- flows --------------------------------------------------------------------------

    async def _run_graph(
        self, graph: Graph, data: Any, frame: _Frame, resume: dict | None = None
    ) -> Any:
        name = graph.start_at
        pending = None
        if resume:
            name, data, pending = resume["state"], resume.get("input"), resume.get("pending")
        while True:
            state = graph.states[name]
            if frame.top and pending is None:
                await self.runtime.checkpoint(
                    {"state": name, "input": data, "variables": frame.variables}
                )
            try:
                next_name, data = await self._run_state(graph, name, state, data, frame, pending)
            except _Goto as goto:
                next_name, data = goto.target, goto.output
            pending = None
            if next_name is None:
                return data
            name = next_name

    async def _run_state(self, graph, name, state, data, frame, pending):
        kind = state["Type"]
        language = graph.languages[name]
        entered_id = None
        if pending is None:
            entered_id = await self.runtime.record(
                f"{kind}StateEntered",
                {"stateEnteredEventDetails": {"name": name, "input": dumps(data),
                                              "inputDetails": {"truncated": False}}},
            )  # fmt: skip
        # $$.State is this state's; $$.Task exists only in the Task that made the token.
        context = {k: v for k, v in frame.context.items() if k != "Task"}
        context["State"] = {"Name": name, "EnteredTime": _now_iso(), "RetryCount": 0}
        frame.context = context
        step = _State(self, graph, name, state, language, frame, entered_id)
        try:
            output, assigned, next_name = await getattr(step, "run_" + kind.lower())(data, pending)
        except StatesError as e:
            await step.evaluation_failed(e)
            raise
        text = dumps(output)
        if len(text) > _MAX_PAYLOAD // 4 and len(text.encode()) > _MAX_PAYLOAD:
            raise StatesError(
                "States.DataLimitExceeded",
                f"The state/task '{name}' returned a result with a size exceeding the maximum "
                "number of bytes service limit.",
            )
        if kind != "Fail":
            details = {"name": name, "output": text, "outputDetails": {"truncated": False}}
            if assigned:
                details["assignedVariables"] = {k: dumps(v) for k, v in assigned.items()}
                details["assignedVariablesDetails"] = {"truncated": False}
            await self.runtime.record(f"{kind}StateExited", {"stateExitedEventDetails": details})
        if assigned:
            frame.variables.update(assigned)
        if kind == "Succeed" or state.get("End"):
            return None, output
        return next_name or state.get("Next"), output


class _State:
    """One state's run: the data-flow fields of its query language, then its behaviour."""

    def __init__(self, execution: Execution, graph, name, state, language, frame, entered_id):
        self.execution = execution
        self.runtime = execution.runtime
        self.graph = graph
        self.name = name
        self.state = state
        self.is_jsonata = language == JSONATA
        self.frame = frame
        self.entered_id = entered_id
        self.inspection = execution.inspection

    # --- data flow: JSONPath --------------------------------------------------------------

    def _where(self) -> str:
        at = f" (entered at the event id #{self.entered_id})" if self.entered_id else ""
        return f"An error occurred while executing the state '{self.name}'{at}."

    def _not_found(self, path: str, field: str, data: Any) -> StatesError:
        return StatesError(
            "States.Runtime",
            f"{self._where()} The JSONPath '{path}' specified for the field '{field}' could "
            f"not be found in the input '{dumps(data)}'",
        )

    def resolve(self, path: str, data: Any) -> Any:
        """A path's value: `$$…` the context, `$name…` a variable, `$…` the data."""
        if path.startswith("$$"):
            return compile_path(path[1:]).get(self.frame.context)
        if len(path) > 1 and path[1] in _VARIABLE_CHARS:
            end = 1
            while end < len(path) and path[end] in _VARIABLE_CHARS:
                end += 1
            name = path[1:end]
            if name not in self.frame.variables:
                return MISSING
            return compile_path("$" + path[end:]).get(self.frame.variables[name])
        return compile_path(path).get(data)

    def path(self, field: str, data: Any, default: Any = "$") -> Any:
        """InputPath/OutputPath/ItemsPath: null gives {}, a miss is States.Runtime."""
        path = self.state.get(field, default)
        if path is None:
            return {}
        value = self.resolve(path, data)
        if value is MISSING:
            raise self._not_found(path, field, data)
        return value

    def template(self, template: Any, data: Any) -> Any:
        """A payload template (Parameters, ResultSelector, ItemSelector, Assign)."""
        if isinstance(template, list):
            return [self.template(item, data) for item in template]
        if not isinstance(template, dict):
            return template
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = self.expression(value, key, data)
            else:
                out[key] = self.template(value, data)
        return out

    def expression(self, value: str, field: str, data: Any) -> Any:
        """A `.$` value: an intrinsic function call or a path."""
        if intrinsics.is_call(value):

            def resolve(path):
                found = self.resolve(path, data)
                if found is MISSING:
                    raise self._not_found(path, field, data)
                return found

            return intrinsics.evaluate(intrinsics.parse_call(value), resolve)
        found = self.resolve(value, data)
        if found is MISSING:
            raise self._not_found(value, field, data)
        return found

    def result_path(self, raw_input: Any, result: Any, holder: dict | None = None) -> Any:
        holder = self.state if holder is None else holder
        if "ResultPath" not in holder:
            return result
        path = holder["ResultPath"]
        if path is None:
            return raw_input
        try:
            return set_reference(raw_input, compile_path(path, reference=True), result)
        except TypeError:
            raise StatesError(
                "States.Runtime",
                f"{self._where()} Invalid path '{path}' : Unable to apply ResultPath "
                f"'{path}' to input '{dumps(raw_input)}'",
            ) from None

    # --- data flow: JSONata ---------------------------------------------------------------

    def bindings(self, data: Any, **states: Any) -> dict:
        return {
            **self.frame.variables,
            "states": {"input": data, "context": self.frame.context, **states},
        }

    def jsonata(self, value: Any, data: Any, field: str, **states: Any) -> Any:
        """A JSONata field (`field` names it in errors, as AWS: `Output/values[0]`)."""
        try:
            return jsonata_support.evaluate_template(value, self.bindings(data, **states), field)
        except StatesError as e:
            if e.error == jsonata_support.QUERY_ERROR and not getattr(e, "located", False):
                e.cause = f"{self._where()} {e.cause}"
                e.located = True
            raise

    # --- the common pipeline --------------------------------------------------------------

    async def evaluation_failed(self, error: StatesError) -> None:
        """A JSONata expression that failed is recorded once as EvaluationFailed (AWS)."""
        if error.error != jsonata_support.QUERY_ERROR or getattr(error, "recorded", False):
            return
        error.recorded = True
        details = {"error": error.error, "state": self.name}
        if error.cause is not None:
            details["cause"] = error.cause
        await self.runtime.record("EvaluationFailed", {"evaluationFailedEventDetails": details})

    def note(self, key: str, value: Any) -> None:
        """TestState's inspection data: what each data-flow step produced."""
        if self.inspection is not None:
            self.inspection[key] = value

    def effective_input(self, data: Any) -> Any:
        if self.is_jsonata:
            return data
        effective = self.path("InputPath", data)
        self.note("afterInputPath", effective)
        return effective

    def arguments(self, data: Any, effective: Any) -> Any:
        """Task/Parallel input: Arguments (JSONata) or Parameters (JSONPath), else the input."""
        if self.is_jsonata:
            if "Arguments" not in self.state:
                return data
            arguments = self.jsonata(self.state["Arguments"], data, "Arguments")
            self.note("afterArguments", arguments)
            return arguments
        if "Parameters" not in self.state:
            return effective
        arguments = self.template(self.state["Parameters"], effective)
        self.note("afterParameters", arguments)
        return arguments

    def select(self, result: Any) -> Any:
        """ResultSelector (JSONPath) on a Task/Parallel/Map result."""
        self.note("result", result)
        if self.is_jsonata or "ResultSelector" not in self.state:
            return result
        selected = self.template(self.state["ResultSelector"], result)
        self.note("afterResultSelector", selected)
        return selected

    def assign(self, data: Any, value_for_paths: Any, holder: dict | None = None, **states):
        holder = self.state if holder is None else holder
        if "Assign" not in holder:
            return {}
        if self.is_jsonata:
            return self.jsonata(holder["Assign"], data, "Assign", **states)
        return self.template(holder["Assign"], value_for_paths)

    def finish(self, data: Any, result: Any, default_output: Any = None, **states):
        """Assign, ResultPath and OutputPath (or Output): (output, assigned variables)."""
        if self.is_jsonata:
            assigned = self.assign(data, None, result=result, **states)
            if "Output" in self.state:
                output = self.jsonata(self.state["Output"], data, "Output", result=result, **states)
            else:
                output = result if default_output is None else default_output
            return output, assigned
        assigned = self.assign(data, result)
        output = self.result_path(data, result)
        self.note("afterResultPath", output)
        return self.path("OutputPath", output), assigned

    def number(self, field: str, data: Any, effective: Any) -> float | None:
        """TimeoutSeconds-like fields: a literal, a {% %} expression or a …Path."""
        if field in self.state:
            value = self.state[field]
            if self.is_jsonata and jsonata_support.is_expression(value):
                value = self.jsonata(value, data, field)
            return value
        if field + "Path" in self.state:
            value = self.path(field + "Path", effective)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise StatesError(
                    "States.Runtime",
                    f"{self._where()} The value of the field '{field}Path' must be a "
                    f"non-negative number, got {dumps(value)}",
                )
            return value
        return None

    # --- states ---------------------------------------------------------------------------

    async def run_pass(self, data, pending):
        if self.is_jsonata:
            output, assigned = self.finish(data, data)
            return output, assigned, None
        effective = self.effective_input(data)
        if "Result" in self.state:
            result = self.state["Result"]
        elif "Parameters" in self.state:
            result = self.template(self.state["Parameters"], effective)
            self.note("afterParameters", result)
        else:
            result = effective
        output, assigned = self.finish(data, result)
        return output, assigned, None

    async def run_succeed(self, data, pending):
        if self.is_jsonata:
            output, _ = self.finish(data, data)
            return output, {}, None
        return self.path("OutputPath", self.effective_input(data)), {}, None

    async def run_fail(self, data, pending):
        error, cause = self.state.get("Error"), self.state.get("Cause")
        if self.is_jsonata:
            error = self.jsonata(error, data, "Error") if error is not None else None
            cause = self.jsonata(cause, data, "Cause") if cause is not None else None
        else:
            if "ErrorPath" in self.state:
                error = self.expression(self.state["ErrorPath"], "ErrorPath", data)
            if "CausePath" in self.state:
                cause = self.expression(self.state["CausePath"], "CausePath", data)
        for field, value in (("Error", error), ("Cause", cause)):
            if value is not None and not isinstance(value, str):
                raise StatesError(
                    "States.Runtime",
                    f"{self._where()} The value of the field '{field}' must be a string, got "
                    f"{dumps(value)}",
                )
        raise StatesError(error, cause)

    async def run_choice(self, data, pending):
        rules = self.state["Choices"]
        if self.is_jsonata:
            for rule in rules:
                verdict = self.jsonata(rule["Condition"], data, "Condition")
                if not isinstance(verdict, bool):
                    raise StatesError(
                        jsonata_support.QUERY_ERROR,
                        f"{self._where()} The Condition '{rule['Condition']}' returned "
                        f"{dumps(verdict)}, not a boolean",
                    )
                if verdict:
                    return self._choose(data, rule)
        else:
            effective = self.effective_input(data)
            for rule in rules:
                if choice.matches(rule, lambda path: self.resolve(path, effective)):
                    return self._choose(data, rule, effective)
        if "Default" in self.state:
            return self._choose(data, {"Next": self.state["Default"]}, self.effective_input(data))
        raise StatesError(
            "States.NoChoiceMatched",
            f"{self._where()} No Choice Rules matched the input '{dumps(data)}' and no "
            "Default is set",
        )

    def _choose(self, data, rule, effective=None):
        if self.is_jsonata:
            holder = rule if "Assign" in rule else self.state
            assigned = self.assign(data, None, holder)
            source = rule if "Output" in rule else self.state
            output = self.jsonata(source["Output"], data, "Output") if "Output" in source else data
            return output, assigned, rule["Next"]
        holder = rule if "Assign" in rule else self.state
        assigned = self.assign(data, effective, holder)
        return self.path("OutputPath", effective), assigned, rule["Next"]

    async def run_wait(self, data, pending):
        effective = self.effective_input(data)
        if pending and "wait_until" in pending:
            deadline = pending["wait_until"]
        else:
            deadline = self._wait_deadline(data, effective)
            if self.frame.top:
                await self.runtime.checkpoint(
                    {"state": self.name, "input": data, "variables": self.frame.variables,
                     "pending": {"wait_until": deadline}}
                )  # fmt: skip
        await self.runtime.sleep_until(deadline)
        if self.is_jsonata:
            output, assigned = self.finish(data, data)
            return output, assigned, None
        return self.path("OutputPath", effective), self.assign(data, effective), None

    def _wait_deadline(self, data, effective) -> float:
        state = self.state
        if "Seconds" in state or "SecondsPath" in state:
            seconds = self.number("Seconds", data, effective)
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                raise StatesError(
                    "States.Runtime",
                    f"{self._where()} The Seconds value must be a non-negative number, got "
                    f"{dumps(seconds)}",
                )
            return time.time() + seconds
        if "TimestampPath" in state:
            value = self.path("TimestampPath", effective)
        else:
            value = state["Timestamp"]
            if self.is_jsonata and jsonata_support.is_expression(value):
                value = self.jsonata(value, data, "Timestamp")
        parsed = parse_timestamp(value)
        if parsed is None:
            raise StatesError(
                "States.Runtime",
                f"{self._where()} The Timestamp value {dumps(value)} is not a valid ISO-8601 "
                "timestamp",
            )
        return parsed.timestamp()

    # --- Task, Parallel and Map share Retry/Catch -----------------------------------------

    async def run_task(self, data, pending):
        return await self._with_handlers(data, pending, self._task_attempt)

    async def run_parallel(self, data, pending):
        return await self._with_handlers(data, None, self._parallel_attempt)

    async def run_map(self, data, pending):
        # Only a Distributed Map's run is ever pending (an inline Map is re-run whole).
        return await self._with_handlers(data, pending, self._map_attempt)

    def mocked(self) -> Any:
        """TestState: the mock's result in place of the state's work, or its error."""
        mock = self.execution.mock or {}
        if "result" in mock:
            return mock["result"]
        raise StatesError(mock.get("error", ""), mock.get("cause"))

    async def _with_handlers(self, data, pending, attempt):
        retriers = self.state.get("Retry") or []
        retried = (self.execution.mock or {}).get("retried", 0)
        attempts = [retried] * len(retriers)  # per Retrier, as AWS counts MaxAttempts
        while True:
            try:
                result = await attempt(data, pending)
                pending = None
                output, assigned = self.finish(data, result)
                return output, assigned, None
            except StatesError as e:
                pending = None
                await self.evaluation_failed(e)
                index = _matching(retriers, e.error)
                if index is not None:
                    retrier = retriers[index]
                    if attempts[index] < retrier.get("MaxAttempts", 3):
                        delay = self._retry_delay(retrier, attempts[index])
                        if self.inspection is not None:  # TestState runs one attempt
                            raise _Retriable(e, index, delay) from None
                        attempts[index] += 1
                        self.frame.context["State"]["RetryCount"] += 1
                        await self.runtime.sleep_until(time.time() + delay)
                        continue
                self._catch(e, data)
                raise

    @staticmethod
    def _retry_delay(retrier: dict, attempt: int) -> float:
        interval = retrier.get("IntervalSeconds", 1)
        delay = interval * retrier.get("BackoffRate", 2.0) ** attempt
        if "MaxDelaySeconds" in retrier:
            delay = min(delay, retrier["MaxDelaySeconds"])
        if retrier.get("JitterStrategy") == "FULL":
            delay = random.uniform(0, delay)
        return delay

    def _catch(self, error: StatesError, data: Any) -> None:
        """Raise _Goto when a Catcher handles `error`; return to let it propagate."""
        catchers = self.state.get("Catch") or []
        index = _matching(catchers, error.error)
        if index is None:
            return
        catcher = catchers[index]
        error_output = {"Error": error.error, "Cause": error.cause}
        if self.is_jsonata:
            assigned = self.assign(data, None, catcher, errorOutput=error_output)
            if "Output" in catcher:
                output = self.jsonata(catcher["Output"], data, "Output", errorOutput=error_output)
            else:
                output = error_output
        else:
            assigned = self.assign(data, error_output, catcher)
            output = self.result_path(data, error_output, catcher)
        if assigned:
            self.frame.variables.update(assigned)
        self.note("errorDetails", {"catchIndex": index})
        raise _Goto(catcher["Next"], output, error)

    async def _task_attempt(self, data, pending):
        state = self.state
        resource = state["Resource"]
        effective = self.effective_input(data)
        resumed = bool(pending and "task" in pending)
        if resumed:
            token = pending["task"].get("token")
            arguments = pending["task"].get("arguments")
            deadline = pending["task"].get("deadline")
        else:
            token = (
                self.runtime.new_task_token() if resource.endswith(".waitForTaskToken") else None
            )
            if token:
                self.frame.context = {**self.frame.context, "Task": {"Token": token}}
            arguments = self.arguments(data, effective)
            timeout = self.number("TimeoutSeconds", data, effective)
            deadline = time.time() + timeout if timeout else None
            if self.frame.top:
                await self.runtime.checkpoint(
                    {"state": self.name, "input": data, "variables": self.frame.variables,
                     "pending": {"task": {"token": token, "arguments": arguments,
                                          "deadline": deadline}}}
                )  # fmt: skip
        if self.execution.mock is not None:
            return self.select(self.mocked())
        heartbeat = self.number("HeartbeatSeconds", data, effective)
        remaining = None if deadline is None else max(0.0, deadline - time.time())
        call = self.runtime.invoke(
            resource,
            arguments,
            state=self.name,
            task_token=token,
            resumed=resumed,
            timeout_s=remaining,
            heartbeat_s=heartbeat,
        )
        try:
            result = await (call if remaining is None else asyncio.wait_for(call, remaining))
        except TimeoutError:
            raise StatesError("States.Timeout", None) from None
        except TaskFailure:
            raise
        return self.select(result)

    def _state_input_for_children(self, data):
        """Parallel/Map: the value branches/items are built from (after InputPath)."""
        if self.is_jsonata:
            return data
        return self.effective_input(data)

    async def _parallel_attempt(self, data, pending):
        branch_input = self.arguments(data, self._state_input_for_children(data))
        if self.execution.mock is not None:
            return self.select(self.mocked())
        await self.runtime.record("ParallelStateStarted", {})
        branches = self.graph.branches[self.name]
        tasks = [
            asyncio.ensure_future(
                self.execution._run_graph(
                    branch,
                    branch_input,
                    _Frame(self.frame.context, dict(self.frame.variables), False),
                )
            )
            for branch in branches
        ]
        try:
            results = await asyncio.gather(*tasks)
        except StatesError as e:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.runtime.record("ParallelStateFailed", {})
            raise StatesError(e.error, e.cause) from None
        await self.runtime.record("ParallelStateSucceeded", {})
        return self.select(results)

    async def _map_attempt(self, data, pending):
        state = self.state
        if self.execution.mock is not None:
            return self.select(self.mocked())
        processor = self.graph.processors[self.name]
        config = (state.get("ItemProcessor") or {}).get("ProcessorConfig") or {}
        mode = config.get("Mode")
        run_map = getattr(self.runtime, "run_map", None)
        if mode == "DISTRIBUTED" and run_map is not None:
            return await self._distributed_attempt(data, pending, config, run_map)
        writer = state.get("ResultWriter")
        transformation = None
        if writer is not None:
            transformation = (writer.get("WriterConfig") or {}).get("Transformation", "COMPACT")
            if "Resource" in writer or transformation not in ("COMPACT", "FLATTEN"):
                raise StatesError(
                    "States.Runtime",
                    f"{self._where()} A ResultWriter that exports to Amazon S3 or uses the "
                    "NONE transformation needs a Distributed Map run by the service",
                )
        effective = self._state_input_for_children(data)
        if "ItemReader" in state:
            items = await self._read_items(state["ItemReader"], data, effective)
        elif self.is_jsonata:
            items = self.jsonata(state["Items"], data, "Items") if "Items" in state else data
        else:
            items = self.path("ItemsPath", effective)
        if not isinstance(items, list):
            raise StatesError(
                "States.Runtime",
                f"{self._where()} Invalid path '{state.get('ItemsPath', '$')}' : The Map state "
                f"input must be an array, got '{dumps(items)}'",
            )
        if mode == "DISTRIBUTED" and "ItemBatcher" in state:
            items = self._batches(items, data, effective)
        max_concurrency = self.number("MaxConcurrency", data, effective) or 0
        tolerated_count = self.number("ToleratedFailureCount", data, effective)
        tolerated_percent = self.number("ToleratedFailurePercentage", data, effective)
        tolerant = tolerated_count is not None or tolerated_percent is not None
        await self.runtime.record(
            "MapStateStarted", {"mapStateStartedEventDetails": {"length": len(items)}}
        )
        semaphore = asyncio.Semaphore(int(max_concurrency)) if max_concurrency else None
        results: list[Any] = [None] * len(items)
        failures = 0
        selector = state.get("ItemSelector", state.get("Parameters"))
        label = self.name

        async def iteration(index: int, item: Any) -> None:
            nonlocal failures
            context = {**self.frame.context, "Map": {"Item": {"Index": index, "Value": item}}}
            detail = {"mapIterationStartedEventDetails": {"name": label, "index": index}}
            value = self._select_item(selector, index, item, data, effective)
            await self.runtime.record("MapIterationStarted", detail)
            frame = _Frame(context, dict(self.frame.variables), False)
            try:
                results[index] = await self.execution._run_graph(processor, value, frame)
            except asyncio.CancelledError:  # another iteration failed the Map
                await self.runtime.record(
                    "MapIterationAborted",
                    {"mapIterationAbortedEventDetails": {"name": label, "index": index}},
                )
                raise
            except StatesError as e:
                await self.runtime.record(
                    "MapIterationFailed",
                    {"mapIterationFailedEventDetails": {"name": label, "index": index}},
                )
                if not tolerant:
                    raise
                failures += 1
                results[index] = {"Error": e.error, "Cause": e.cause}
                if _exceeds(failures, len(items), tolerated_count, tolerated_percent):
                    raise StatesError(
                        "States.ExceedToleratedFailureThreshold",
                        "The specified tolerated failure threshold was exceeded",
                    ) from None
                return
            await self.runtime.record(
                "MapIterationSucceeded",
                {"mapIterationSucceededEventDetails": {"name": label, "index": index}},
            )

        async def bounded(index: int, item: Any) -> None:
            if semaphore is None:
                return await iteration(index, item)
            async with semaphore:
                return await iteration(index, item)

        tasks = [asyncio.ensure_future(bounded(i, item)) for i, item in enumerate(items)]
        try:
            await asyncio.gather(*tasks)
        except StatesError as e:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.runtime.record("MapStateFailed", {})
            raise StatesError(e.error, e.cause) from None
        await self.runtime.record("MapStateSucceeded", {})
        if transformation == "FLATTEN":  # WriterConfig: child outputs that are arrays, spliced
            results = [x for r in results for x in (r if isinstance(r, list) else [r])]
        return self.select(results)

    def _select_item(self, selector, index: int, item: Any, data: Any, effective: Any) -> Any:
        """One item as its iteration gets it: ItemSelector with $$.Map.Item in context."""
        if selector is None:
            return item
        context = {**self.frame.context, "Map": {"Item": {"Index": index, "Value": item}}}
        if self.is_jsonata:
            return jsonata_support.evaluate_template(
                selector,
                {**self.frame.variables, "states": {"input": data, "context": context}},
                "ItemSelector",
            )
        saved = self.frame.context
        self.frame.context = context
        try:
            return self.template(selector, effective)
        finally:
            self.frame.context = saved

    async def _distributed_attempt(self, data, pending, config: dict, run_map) -> Any:
        """A Distributed Map run by the service as a Map Run of child executions: the
        engine reads, selects and batches the items and hands the children's inputs over
        (``Runtime.run_map``); the Map Run's results are the state's result. A top-level
        Map is checkpointed with its run pending, so a resumed execution rejoins the
        same Map Run instead of starting another."""
        state = self.state
        resumed = bool(pending and "map_run" in pending)
        effective = self._state_input_for_children(data)
        writer = state.get("ResultWriter")
        destination = None
        if writer is not None and "Resource" not in writer and "WriterConfig" not in writer:
            # AWS accepts such a definition and fails the execution when it gets here.
            raise StatesError(
                "States.Runtime",
                f"{self._where()} A ResultWriter needs a WriterConfig, or a Resource and "
                "its Parameters, or all three",
            )
        if writer is not None and "Resource" in writer:
            if writer["Resource"] != "arn:aws:states:::s3:putObject":
                raise StatesError(
                    "States.ResultWriterFailed",
                    f"The ResultWriter Resource '{writer['Resource']}' is not supported: use "
                    "arn:aws:states:::s3:putObject",
                )
            if self.is_jsonata:
                destination = self.jsonata(writer.get("Arguments", {}), data, "ResultWriter")
            else:
                destination = self.template(writer.get("Parameters", {}), effective)
        # AWS's defaults: an S3 export without a WriterConfig writes the execution
        # records (NONE); no ResultWriter at all answers the outputs (COMPACT).
        writer_config = (writer or {}).get("WriterConfig") or {}
        transformation = writer_config.get(
            "Transformation", "NONE" if destination is not None else "COMPACT"
        )
        if "ItemReader" in state:
            items = await self._read_items(state["ItemReader"], data, effective)
        elif self.is_jsonata:
            items = self.jsonata(state["Items"], data, "Items") if "Items" in state else data
        else:
            items = self.path("ItemsPath", effective)
        if not isinstance(items, list):
            raise StatesError(
                "States.Runtime",
                f"{self._where()} Invalid path '{state.get('ItemsPath', '$')}' : The Map state "
                f"input must be an array, got '{dumps(items)}'",
            )
        selector = state.get("ItemSelector", state.get("Parameters"))
        items = [self._select_item(selector, i, item, data, effective)
                 for i, item in enumerate(items)]  # fmt: skip
        sizes = [1] * len(items)
        if "ItemBatcher" in state:
            items = self._batches(items, data, effective)
            sizes = [len(batch["Items"]) for batch in items]
        body = {k: v for k, v in state["ItemProcessor"].items() if k != "ProcessorConfig"}
        body["QueryLanguage"] = self.execution.machine.query_language
        if not resumed:
            await self.runtime.record(
                "MapStateStarted", {"mapStateStartedEventDetails": {"length": len(items)}}
            )
            if self.frame.top:
                await self.runtime.checkpoint(
                    {"state": self.name, "input": data, "variables": self.frame.variables,
                     "pending": {"map_run": {}}}
                )  # fmt: skip
        request = {
            "state": self.name,
            "label": state.get("Label") or self.name,
            "definition": dumps(body),
            "execution_type": config.get("ExecutionType", "STANDARD"),
            "inputs": items,
            "item_sizes": sizes,
            "max_concurrency": int(self.number("MaxConcurrency", data, effective) or 0),
            "tolerated_count": self.number("ToleratedFailureCount", data, effective),
            "tolerated_percent": self.number("ToleratedFailurePercentage", data, effective),
            "destination": destination,
            "transformation": transformation,
            "output_type": writer_config.get("OutputType", "JSON"),
            "resumed": resumed,
        }
        try:
            result = await run_map(request)
        except StatesError as e:
            await self.runtime.record("MapStateFailed", {})
            raise StatesError(e.error, e.cause) from None
        await self.runtime.record("MapStateSucceeded", {})
        if isinstance(result, list) and transformation == "FLATTEN":
            result = [x for r in result for x in (r if isinstance(r, list) else [r])]
        return self.select(result)

    async def _read_items(self, reader: dict, data: Any, effective: Any) -> list:
        """A Distributed Map's ItemReader: the items of an S3 object or an S3 listing
        (``items.py``).

        S3 is read through the Runtime's AWS SDK integration
        (`arn:aws:states:::aws-sdk:s3:getObject` / `listObjectsV2`), so the state machine's
        role is what authorizes it, as in AWS. Failures are States.ItemReaderFailed.
        """
        if self.is_jsonata:
            arguments = self.jsonata(reader.get("Arguments", {}), data, "ItemReader/Arguments")
        else:
            arguments = self.template(reader.get("Parameters", {}), effective)
        config = reader.get("ReaderConfig") or {}
        limit = config.get("MaxItems")
        if limit is None and "MaxItemsPath" in config:
            limit = self.resolve(config["MaxItemsPath"], effective)
        resource = reader.get("Resource", "")
        # The reader's calls are no Task of the execution: a runtime with ``read`` makes
        # them without history events (as AWS); otherwise they go through ``invoke``.
        read = getattr(self.runtime, "read", None)

        async def fetch(sdk_resource: str, request: dict) -> dict:
            if read is not None:
                return await read(sdk_resource, request)
            return await self.runtime.invoke(
                sdk_resource, request, state=self.name, task_token=None, resumed=False,
                timeout_s=None, heartbeat_s=None,
            )  # fmt: skip

        try:
            items = await item_reader.read(resource, arguments, config, fetch, int(limit or 0))
        except TaskFailure as e:
            raise StatesError("States.ItemReaderFailed", f"{e.error}: {e.cause}") from None
        return items[: int(limit)] if limit else items

    def _batches(self, items: list, data: Any, effective: Any) -> list:
        batcher = self.state["ItemBatcher"]
        size = batcher.get("MaxItemsPerBatch")
        if self.is_jsonata and jsonata_support.is_expression(size):
            size = self.jsonata(size, data, "ItemBatcher/MaxItemsPerBatch")
        if size is None and "MaxItemsPerBatchPath" in batcher:
            size = self.resolve(batcher["MaxItemsPerBatchPath"], effective)
        if size is not None and (
            not isinstance(size, int | float) or isinstance(size, bool) or size < 1
        ):
            raise StatesError(
                "States.Runtime",
                f"{self._where()} MaxItemsPerBatch must be a positive integer, got {dumps(size)}",
            )
        size = int(size or len(items) or 1)
        batch_input = batcher.get("BatchInput")
        if batch_input is not None:
            batch_input = (
                self.jsonata(batch_input, data, "ItemBatcher/BatchInput")
                if self.is_jsonata
                else self.template(batch_input, effective)
            )
        limit = batcher.get("MaxInputBytesPerBatch")
        if limit is None and "MaxInputBytesPerBatchPath" in batcher:
            limit = self.resolve(batcher["MaxInputBytesPerBatchPath"], effective)
        if self.is_jsonata and jsonata_support.is_expression(limit):
            limit = self.jsonata(limit, data, "ItemBatcher/MaxInputBytesPerBatch")
        limit = int(limit) if limit else _MAX_PAYLOAD
        extra = 0 if batch_input is None else len(dumps(batch_input).encode()) + 14
        out: list[dict] = []
        current: list = []
        used = 12 + extra  # {"Items":[]} and ,"BatchInput":
        for item in items:
            cost = len(dumps(item).encode()) + (1 if current else 0)
            if current and (len(current) >= size or used + cost > limit):
                out.append(current)
                current, used = [], 12 + extra
                cost -= 1
            if used + cost > limit:
                raise StatesError(
                    "States.Runtime",
                    f"{self._where()} An item is larger than MaxInputBytesPerBatch ({limit})",
                )
            current.append(item)
            used += cost
        if current:
            out.append(current)
        batches = []
        for chunk in out:
            batch: dict = {"Items": chunk}
            if batch_input is not None:
                batch["BatchInput"] = batch_input
            batches.append(batch)
        return batches


def _check_mock(state: dict, mock: dict | None) -> None:
    """TestState's rules for mocks, with AWS's messages."""
    from .errors import InvalidDefinition, InvalidMock

    kind = state.get("Type")
    if mock is None:
        if kind in ("Map", "Parallel"):
            raise InvalidDefinition(
                "TestState API does not support Map or Parallel states. Supported state types "
                "include: [Task, Wait, Pass, Succeed, Fail, Choice]"
            )
        return
    if kind not in ("Task", "Map", "Parallel"):
        raise InvalidMock(f"State type '{kind}' is not supported when a mock is specified")
    if "result" not in mock:
        return
    result = mock["result"]
    if kind == "Parallel":
        if not isinstance(result, list):
            raise InvalidMock("Mocked result must be an array.")
        if len(result) != len(state.get("Branches") or []):
            raise InvalidMock(
                "Mocked result must contain the same number of items as number of Parallel "
                "branches."
            )
    elif kind == "Map":
        exported = "Resource" in (state.get("ResultWriter") or {})
        if exported and not isinstance(result, dict):
            raise InvalidMock("Mocked result must be a JSON object.")
        if not exported and not isinstance(result, list):
            raise InvalidMock("Mocked result must be an array.")


def _exceeds(failures: int, total: int, count: float | None, percent: float | None) -> bool:
    if count is not None and failures > count:
        return True
    if percent is not None and total and failures * 100.0 / total > percent:
        return True
    return count is None and percent is None and failures > 0


def _matching(handlers: list, error: str) -> int | None:
    """The first Retrier/Catcher whose ErrorEquals names `error` (AWS's wildcards)."""
    for i, handler in enumerate(handlers):
        for name in handler["ErrorEquals"]:
            if name == error:
                return i
            if error == "States.Runtime" or error == "States.DataLimitExceeded":
                continue
            if name == "States.ALL":
                return i
            if name == "States.TaskFailed" and error != "States.Timeout":
                return i
    return None


async def run_test_state(
    definition: str,
    input: Any,
    runtime: Runtime,
    *,
    state_name: str | None = None,
    variables: dict | None = None,
    context: dict | None = None,
    mock: dict | None = None,
) -> dict:
    """TestState: run one state once and answer in the API's shape (JSON strings).

    ``mock`` (``{"result": value}`` or ``{"error", "cause"}``, and ``retried``) stands for
    a Task's call or a Map's or Parallel's work; only those take one, and a Map or
    Parallel must have one (AWS's rules; InvalidMock or InvalidDefinition otherwise).

    `definition` is one state's JSON, or a whole machine with `state_name`. Retry is not
    performed: a retriable error answers RETRIABLE with the retrier and its delay; a caught
    one CAUGHT_ERROR with the Catcher's next state. Raises InvalidDefinition.
    """
    from .definition import parse
    from .errors import InvalidDefinition

    if state_name is None:
        try:
            state = json.loads(definition)
        except ValueError as e:
            raise InvalidDefinition(
                f"Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: {e} at /'"
            ) from None
        if not isinstance(state, dict):
            raise InvalidDefinition(
                "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: A state must be a "
                "JSON object at /'"
            )
        state_name = "TestState"
        states = {state_name: state}
        # The targets a lone state names are outside the test: stand-ins keep it valid.
        targets = [state.get("Next"), state.get("Default")]
        targets += [r.get("Next") for r in state.get("Choices") or [] if isinstance(r, dict)]
        targets += [c.get("Next") for c in state.get("Catch") or [] if isinstance(c, dict)]
        for target in targets:
            if isinstance(target, str) and target not in states:
                states[target] = {"Type": "Succeed"}
        text = json.dumps({"StartAt": state_name, "States": states})
        machine = parse(text)
    else:
        machine = parse(definition)
        if state_name not in machine.states:
            raise InvalidDefinition(
                "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The state "
                f"{state_name} does not exist at /States'"
            )
    _check_mock(machine.states[state_name], mock)
    execution = Execution(machine, runtime, context or {})
    execution.mock = mock
    inspection: dict = {"input": input}
    execution.inspection = inspection
    frame = _Frame(execution.context, dict(variables or {}), top=False)
    answer: dict = {}
    try:
        next_name, output = await execution._run_state(
            machine, state_name, machine.states[state_name], input, frame, None
        )
        answer.update(status="SUCCEEDED", output=dumps(output))
        if next_name:
            answer["nextState"] = next_name
    except _Goto as goto:
        if goto.error is not None:
            answer.update(error=goto.error.error, cause=goto.error.cause)
        answer.update(status="CAUGHT_ERROR", output=dumps(goto.output), nextState=goto.target)
    except _Retriable as retry:
        answer.update(status="RETRIABLE", error=retry.error.error, cause=retry.error.cause)
        inspection["errorDetails"] = {
            "retryIndex": retry.index,
            "retryBackoffIntervalSeconds": int(retry.delay),
        }
    except StatesError as e:
        answer.update(status="FAILED", error=e.error, cause=e.cause)
    inspection["variables"] = frame.variables
    answer["inspectionData"] = {
        k: (v if k == "errorDetails" else dumps(v)) for k, v in inspection.items()
    }
    return {k: v for k, v in answer.items() if v is not None}
