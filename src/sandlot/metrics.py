"""The one place sandlot's services publish their AWS/* CloudWatch metrics.

``platform.metrics.emit(account, region, "AWS/Namespace", "Name", dims, 1, "Count")``
appends the value to an in-memory buffer grouped by series, unit and second — no lock,
no I/O — so a request pays about a microsecond. Lambda's invocations, the hottest
emitter, are counted per function, invoked ARN and second instead (``_Invocations``)
and become their datapoints at the flush. The platform's flush loop hands the buffer to
CloudWatch's provider every ``FLUSH_INTERVAL_S`` (through
``Platform.provider``: no service imports another), which aggregates it into its
one-minute buckets (readable at once); every ``PERSIST_INTERVAL_S`` it writes the
buckets changed (by services or PutMetricData) to the store in one transaction, and
once more on stop: a crash loses at most those seconds of metrics. The retention sweep
(AWS's roll-up schedule) runs from the same loop.

A buffer past ``CAPACITY`` datapoints and invocations is dropped and counted (``dropped``): metrics
are diagnostics and must never grow memory without bound when nobody flushes.
Dimensions are given as a tuple of (name, value) pairs sorted by name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandlot.execution.api import FunctionSpec, InvokeRequest, InvokeResult
    from sandlot.platform import Platform

log = logging.getLogger("sandlot.metrics")

FLUSH_INTERVAL_S = 1.0  # buffered datapoints become readable
PERSIST_INTERVAL_S = 5.0  # changed buckets are written to the store
SWEEP_INTERVAL_S = 60.0
CAPACITY = 200_000

Dimensions = tuple[tuple[str, str], ...]

# CloudWatch's units (StandardUnit), in AWS's order (its error messages list them so).
UNITS = (
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
)  # fmt: skip


# A buffered series: (account, region, namespace, name, dimensions, unit, second).
SeriesSecond = tuple[str, str, str, str, Dimensions, str, int]


class _Invocations:
    """One function's invocations through one ARN in one second, as the invoke path
    counts them; ``Metrics._expand`` makes them Lambda's datapoints."""

    __slots__ = ("durations", "errors", "function_running", "account_running", "throttles")

    def __init__(self) -> None:
        self.durations: list[float] = []
        self.errors = 0
        self.function_running: list[float] = []
        self.account_running: list[float] = []
        self.throttles = 0


class Metrics:
    """The buffer every service emits into; see the module docstring."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._series: dict[SeriesSecond, list[float]] = {}
        # (account, region, function, version, invoked ARN, second) -> its invocations
        self._invocations: dict[tuple[str, str, str, str, str, int], _Invocations] = {}
        self._size = 0  # datapoints and invocations buffered
        self.dropped = 0
        self.clock = time.time
        self.enabled = platform.settings.service_metrics

    def emit(
        self,
        account: str,
        region: str,
        namespace: str,
        name: str,
        dimensions: Dimensions,
        value: float,
        unit: str = "Count",
        timestamp: float | None = None,
    ) -> None:
        if not self.enabled:
            return
        second = int(timestamp if timestamp is not None else self.clock())
        key = (account, region, namespace, name, dimensions, unit, second)
        values = self._series.get(key)
        if values is None:
            self._series[key] = [float(value)]
        else:
            values.append(float(value))
        self._count_one()

    def _count_one(self) -> None:
        """One more datapoint or invocation buffered; past CAPACITY the buffer goes."""
        self._size += 1
        if self._size > CAPACITY:
            self.dropped += self._size
            self._size = 0
            self._series, self._invocations = {}, {}

    def flush(self, persist: bool = True) -> int:
        """Hand what is buffered to CloudWatch (readable at once) and, with ``persist``,
        have it write what changed to the store; how many datapoints and invocations."""
        size, self._size = self._size, 0
        series = self._expand()
        if not series and not self._platform.has_provider("cloudwatch"):
            return 0  # nothing to do: loading CloudWatch's store can wait for a use
        cloudwatch = self._platform.provider("cloudwatch")
        if cloudwatch is None:
            return 0
        if series:
            cloudwatch.ingest(series)
        if persist:
            cloudwatch.flush()
        return size

    def _expand(self) -> dict[SeriesSecond, list[float]]:
        """Take the buffer: Lambda's counted invocations become their datapoints."""
        series, self._series = self._series, {}
        invocations, self._invocations = self._invocations, {}
        for (account, region, function, version, arn, second), counted in invocations.items():
            n = len(counted.durations)
            points: list[tuple[str, str, list[float]]] = []
            if counted.throttles:
                points.append(("Throttles", "Count", [1.0] * counted.throttles))
            if n:
                points += (
                    ("Invocations", "Count", [1.0] * n),
                    ("Errors", "Count", [1.0] * counted.errors + [0.0] * (n - counted.errors)),
                    ("Duration", "Milliseconds", counted.durations),
                )
            for dims in self.lambda_dimensions(function, version, arn):
                running = counted.function_running if dims else counted.account_running
                for name, unit, values in (*points, ("ConcurrentExecutions", "Count", running)):
                    if values:
                        key = (account, region, "AWS/Lambda", name, dims, unit, second)
                        series.setdefault(key, []).extend(values)
        return series

    async def run(self) -> None:
        """Flush every FLUSH_INTERVAL_S and sweep every SWEEP_INTERVAL_S until cancelled
        (flushing once more then)."""
        last_sweep = last_write = time.monotonic()
        try:
            while True:
                await asyncio.sleep(FLUSH_INTERVAL_S)
                try:
                    persist = time.monotonic() - last_write >= PERSIST_INTERVAL_S
                    if persist:
                        last_write = time.monotonic()
                    self.flush(persist)
                    if time.monotonic() - last_sweep >= SWEEP_INTERVAL_S:
                        last_sweep = time.monotonic()
                        if self._platform.has_provider("cloudwatch"):
                            self._platform.provider("cloudwatch").sweep()
                except Exception:
                    log.exception("metrics flush failed")
        finally:
            try:
                self.flush()
            except Exception:
                log.exception("metrics flush on stop failed")

    # -- AWS/Lambda ---------------------------------------------------------------------------

    @staticmethod
    def lambda_dimensions(function: str, version: str, invoked_arn: str) -> list[Dimensions]:
        """The dimension sets Lambda publishes an invocation under: the account
        aggregate, the function, and for a qualified invoke its Resource
        (``fn:alias``/``fn:version``) and, through an alias, the ExecutedVersion."""
        sets: list[Dimensions] = [(), (("FunctionName", function),)]
        parts = invoked_arn.split(":")
        if len(parts) > 7:
            resource = (("FunctionName", function), ("Resource", f"{function}:{parts[7]}"))
            sets.append(resource)
            if not parts[7].isdigit() and parts[7] != "$LATEST":
                sets.append((("ExecutedVersion", version), *resource))
        return sets

    def lambda_invoked(
        self,
        spec: FunctionSpec,
        request: InvokeRequest,
        result: InvokeResult | None,
        function_running: int,
        account_running: int,
        provisioned: tuple[bool, int, int] | None = None,
    ) -> None:
        """The engine's observer: Invocations, Errors, Duration, Throttles and
        ConcurrentExecutions, as Lambda publishes them; with provisioned concurrency
        configured, ProvisionedConcurrencyInvocations or ...SpilloverInvocations and
        ProvisionedConcurrencyUtilization (busy / allocated), by function and by the
        invoked version or alias (``Resource``)."""
        if not self.enabled:
            return
        account, region = spec.account_id, spec.region
        now = self.clock()
        if result is not None and provisioned is not None:
            on_it, busy, allocated = provisioned
            parts = request.invoked_function_arn.split(":")
            qualifier = parts[7] if len(parts) > 7 else spec.version
            name = spec.function_name
            for dims in ((("FunctionName", name),),
                         (("FunctionName", name), ("Resource", f"{name}:{qualifier}"))):  # fmt: skip
                self.emit(account, region, "AWS/Lambda",
                          "ProvisionedConcurrencyInvocations" if on_it
                          else "ProvisionedConcurrencySpilloverInvocations",
                          dims, 1, "Count", now)  # fmt: skip
                if allocated:
                    self.emit(account, region, "AWS/Lambda", "ProvisionedConcurrencyUtilization",
                              dims, busy / allocated, "None", now)  # fmt: skip
        # Counted here, made datapoints at the flush: the invoke path pays a lookup and
        # three appends, not eight datapoints.
        key = (account, region, spec.function_name, spec.version,
               request.invoked_function_arn, int(now))  # fmt: skip
        counted = self._invocations.get(key)
        if counted is None:
            counted = self._invocations[key] = _Invocations()
        if result is None:
            counted.throttles += 1
        else:
            counted.durations.append(float(result.duration_ms))
            counted.function_running.append(float(function_running))
            counted.account_running.append(float(account_running))
            if result.function_error:
                counted.errors += 1
        self._count_one()

    def lambda_async(
        self, account: str, region: str, function: str, name: str, value: float = 1,
        unit: str = "Count",
    ) -> None:  # fmt: skip
        """One of Lambda's asynchronous-invocation metrics (AsyncEventsReceived,
        AsyncEventAge, AsyncEventsDropped, DeadLetterErrors, DestinationDeliveryFailures)
        by FunctionName and account-wide; ``function`` a name or ARN."""
        function = function.rsplit(":function:", 1)[-1].split(":")[0]
        now = self.clock()
        for dims in ((), (("FunctionName", function),)):
            self.emit(account, region, "AWS/Lambda", name, dims, value, unit, now)

    # -- AWS/ApiGateway -----------------------------------------------------------------------

    def api_request(
        self,
        account: str,
        region: str,
        api: Dimensions,
        stage: str,
        status: int,
        latency_ms: float,
        integration_ms: float | None,
        *,
        http_api: bool,
    ) -> None:
        """One request to an API, by the API (``ApiName`` for a REST API, ``ApiId`` for
        an HTTP API) and by API and Stage: Count, the client and server error counts
        (0 or 1 each, so their Average is the error rate; ``4XXError``/``5XXError`` for
        REST, ``4xx``/``5xx`` for HTTP APIs, AWS's names), Latency and, when an
        integration ran, IntegrationLatency."""
        four, five = ("4xx", "5xx") if http_api else ("4XXError", "5XXError")
        now, emit = self.clock(), self.emit
        for dims in (api, tuple(sorted((*api, ("Stage", stage))))):
            emit(account, region, "AWS/ApiGateway", "Count", dims, 1, "Count", now)
            emit(account, region, "AWS/ApiGateway", four, dims,
                 1 if 400 <= status < 500 else 0, "Count", now)  # fmt: skip
            emit(account, region, "AWS/ApiGateway", five, dims,
                 1 if status >= 500 else 0, "Count", now)  # fmt: skip
            emit(account, region, "AWS/ApiGateway", "Latency", dims, latency_ms,
                 "Milliseconds", now)  # fmt: skip
            if integration_ms is not None:
                emit(account, region, "AWS/ApiGateway", "IntegrationLatency", dims,
                     integration_ms, "Milliseconds", now)  # fmt: skip

    # -- AWS/States ---------------------------------------------------------------------------

    def execution_started(self, account: str, region: str, machine_arn: str) -> None:
        dims = (("StateMachineArn", machine_arn),)
        self.emit(account, region, "AWS/States", "ExecutionsStarted", dims, 1, "Count")

    def execution_ended(
        self, account: str, region: str, machine_arn: str, status: str, elapsed_ms: float
    ) -> None:
        """ExecutionsSucceeded/Failed/TimedOut/Aborted and ExecutionTime, by
        StateMachineArn."""
        name = _EXECUTION_ENDINGS.get(status)
        if name is None:
            return
        dims = (("StateMachineArn", machine_arn),)
        now = self.clock()
        self.emit(account, region, "AWS/States", name, dims, 1, "Count", now)
        self.emit(account, region, "AWS/States", "ExecutionTime", dims, elapsed_ms,
                  "Milliseconds", now)  # fmt: skip

    # -- AWS/Events ---------------------------------------------------------------------------

    @staticmethod
    def rule_dimensions(rule_arn: str) -> Dimensions:
        """A rule's dimensions from its ARN: ``RuleName`` on the default bus,
        ``EventBusName`` and ``RuleName`` on a custom one (AWS's convention)."""
        parts = rule_arn.split(":", 5)[5].split("/")  # rule/[bus/]name
        if len(parts) > 2 and parts[1] != "default":
            return (("EventBusName", parts[1]), ("RuleName", parts[-1]))
        return (("RuleName", parts[-1]),)

    def rule_event(self, account: str, region: str, rule_arn: str, name: str) -> None:
        """One of AWS/Events' counts for a rule: TriggeredRules and MatchedEvents by the
        rule; Invocations and FailedInvocations by the rule and account-wide. Like
        EventBridge, only what happened is sent (no zeros)."""
        now = self.clock()
        dims = self.rule_dimensions(rule_arn)
        self.emit(account, region, "AWS/Events", name, dims, 1, "Count", now)
        if name in ("Invocations", "FailedInvocations"):
            self.emit(account, region, "AWS/Events", name, (), 1, "Count", now)


_EXECUTION_ENDINGS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}
