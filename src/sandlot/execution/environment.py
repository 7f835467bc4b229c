"""One Lambda execution environment: INIT, INVOKE (one at a time), SHUTDOWN.

An environment owns a sandbox running the function's runtime, the Runtime API endpoint
that runtime talks to, the pipe carrying its stdout/stderr, a fresh writable tmp dir,
and its log stream. INIT ends when the runtime first asks for an invocation (or fails);
each INVOKE dispatches one invocation and waits for its response, error, the deadline
or the process's exit. Anything that leaves the runtime in an unknown state (timeout,
exit, cancellation) makes the environment unusable; the pool then shuts it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import errno
import json
import logging
import os
import re
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandlot.execution import images, runtimes, zygote
from sandlot.execution.api import (
    CredentialIssuer,
    EngineSettings,
    FunctionSpec,
    InvokeRequest,
    InvokeResult,
    LogEvent,
    LogStream,
)
from sandlot.execution.extensions_api import ExtensionsAPI
from sandlot.execution.logs import (
    LogPolicy,
    LogShipper,
    OutputReader,
    iso_timestamp,
    platform_record,
    report_line,
    report_record,
)
from sandlot.execution.network import xray_variables
from sandlot.execution.runtime_api import (
    Invocation,
    Outcome,
    RuntimeAPI,
    RuntimeAPIServer,
    _new_trace_id,
)
from sandlot.execution.runtimes import java_cds
from sandlot.execution.sandbox import (
    Layout,
    Sandbox,
    SandboxBackend,
    SandboxSpec,
    SnapshotUnsupported,
)
from sandlot.execution.telemetry_api import TelemetryAPI

log = logging.getLogger(__name__)

# Lambda gives INIT 10 s; a longer INIT is retried within the first invoke under the
# function's timeout. sandlot folds both into one limit: the larger of the two.
INIT_TIMEOUT_S = 10.0
TAIL_BYTES = 4096  # LogType=Tail returns the last 4 KB
# Host variables a runtime needs to work at all; nothing else of the server's
# environment (credentials, SANDLOT_* settings) reaches functions.
_HOST_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE")
# SHUTDOWN gives external extensions 2,000 ms to finish (Lambda's limit with one or more
# external extensions registered); then everything is killed.
EXTENSION_SHUTDOWN_S = 2.0
# Starts the executables of /opt/extensions in the background, then becomes the runtime:
# every process stays in the sandbox, and the runtime keeps the sandbox's main pid. A
# subshell waits for each extension and tells the Extensions API when it exits (bash's
# /dev/tcp: no other tool is needed in the sandbox).
# Arguments: the number of extensions, their paths, the runtime's command.
_LAUNCHER = """n=$1; shift
api=$AWS_LAMBDA_RUNTIME_API
while [ "$n" -gt 0 ]; do
  ( "$1"; code=$?
    exec 3<>"/dev/tcp/${api%:*}/${api##*:}" || exit
    printf 'POST /2020-01-01/extension/exited HTTP/1.1\r\nHost: %s\r\n'\
'Lambda-Extension-Name: %s\r\nLambda-Extension-Exit-Status: %s\r\n'\
'Content-Length: 0\r\nConnection: close\r\n\r\n' "$api" "${1##*/}" "$code" >&3
    cat <&3 >/dev/null ) &
  n=$((n-1)); shift
done
exec "$@"
"""


class EnvironmentGone(Exception):
    """The runtime died before it received the invocation (e.g. exiting just after
    reporting its previous one); the invocation is untouched and can go elsewhere."""


class State(enum.Enum):
    INIT = "init"
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"


@dataclass(slots=True)
class EnvironmentContext:
    """What the environments of one engine share."""

    settings: EngineSettings
    work_dir: Path  # settings.work_dir, absolute
    backend: SandboxBackend
    credentials: CredentialIssuer
    shipper: LogShipper
    python_packages: Path  # the packages Lambda's Python runtime provides (boto3, …)
    spawn: Callable[[Coroutine[Any, Any, None]], None]  # run a tracked background task


class _Tail:
    """The end of one invocation's log, kept small while the function writes."""

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def append(self, message: str) -> None:
        self.parts.append(message)
        self.size += len(message)
        if self.size > 4 * TAIL_BYTES:
            while self.size - len(self.parts[0]) >= TAIL_BYTES:
                self.size -= len(self.parts.pop(0))

    def encode(self) -> bytes:
        return "".join(self.parts).encode("utf-8", "replace")[-TAIL_BYTES:]


class Environment:
    """One execution environment of one function version."""

    def __init__(
        self,
        spec: FunctionSpec,
        context: EnvironmentContext,
        opt_dir: Path,
        on_dead: Callable[[Environment], None],
        *,
        provisioned: bool = False,
        snapshot: bool = False,
        restore_from: Environment | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.spec = spec
        # SnapStart: ``snapshot`` makes this environment its version's template (INIT
        # once, then it forks restores: ``template``); ``restore_from`` restores one.
        self.snapshot = snapshot
        self.template: zygote.Template | None = None
        self._restore_from = restore_from
        # Initialised ahead of invocations (provisioned concurrency): no cold start.
        self.provisioned = provisioned
        self.state = State.INIT
        self.idle_since = 0.0
        self.init_duration_ms: float | None = None
        self.log_stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{spec.version}]{self.id}"
        self._ctx = context
        self._opt_dir = opt_dir
        self._on_dead = on_dead
        self._loop = asyncio.get_running_loop()
        self._stream_key = LogStream(
            spec.account_id,
            spec.region,
            spec.log_group,
            self.log_stream,
            spec.function_name,
            spec.role_arn,
        )
        self._logging = LogPolicy(
            spec.log_format, spec.application_log_level, spec.system_log_level
        )
        self._dir = context.work_dir / "environments" / self.id
        self._code_dir = spec.code_dir.absolute()  # it becomes the runtime's cwd
        self._init_timeout = max(INIT_TIMEOUT_S, float(spec.timeout_s))
        self._api: RuntimeAPI | None = None
        self._server: RuntimeAPIServer | None = None
        self._sandbox: Sandbox | None = None
        self._output: OutputReader | None = None
        self._init_waiter: asyncio.Future[Outcome | None] | None = None
        self._init_failure: Outcome | None = None
        self._invocation: Invocation | None = None
        self._tail: _Tail | None = _Tail()  # INIT's lines go into the first invocation's tail
        self._cold = True
        self._started = False  # START written for the current invocation
        self._max_memory_mb = 0
        self._shutdown_task: asyncio.Task[None] | None = None
        self._extensions: ExtensionsAPI | None = None
        self._telemetry: TelemetryAPI | None = None
        self._runtime_ready = False  # the runtime called next (INIT waits for extensions too)
        self._extensions_idle: asyncio.Future[None] | None = None  # post-invoke / SHUTDOWN

    @property
    def init_failed(self) -> bool:
        """INIT ended in an error (reported to the first invocation)."""
        return self._init_failure is not None

    @property
    def init_failure(self) -> Outcome | None:
        """How INIT failed (None: it did not, or has not ended)."""
        return self._init_failure

    @property
    def alive(self) -> bool:
        sandbox = self._sandbox
        return self.state is not State.DEAD and sandbox is not None and not sandbox.exited.done()

    # -- logging -----------------------------------------------------------------

    def _emit(self, text: str) -> None:
        message = text + "\n"
        self._ctx.shipper.emit(self._stream_key, LogEvent(int(time.time() * 1000), message))
        tail = self._tail
        if tail is not None:
            tail.append(message)

    def _emit_output(self, line: str) -> None:
        """A line the function wrote, unless ApplicationLogLevel filters it out."""
        if self._logging.keeps_application(line):
            self._emit(line)

    def _emit_record(self, record_type: str, record: dict[str, Any]) -> None:
        """A JSON platform record (LogFormat JSON), unless SystemLogLevel filters it out."""
        if self._logging.keeps_platform(record_type):
            self._emit(platform_record(record_type, record, time.time()))

    def _on_output(self, line: str) -> None:
        """A line the runtime's sandbox wrote (the function's or an extension's)."""
        if self._logging.json:
            self._emit_output(line)
        else:  # text: no levels
            self._emit(line)
        telemetry = self._telemetry
        if telemetry is not None and telemetry.active:
            telemetry.publish("function", time.time(), line)

    def _publish(self, event_type: str, record: dict[str, Any]) -> None:
        """A platform event for the Telemetry and Logs API subscriptions."""
        telemetry = self._telemetry
        if telemetry is not None and telemetry.active:
            telemetry.publish(event_type, time.time(), record)

    def _init_record(self, **extra: Any) -> dict[str, Any]:
        kind = "provisioned-concurrency" if self.provisioned else "on-demand"
        return {"initializationType": kind, "phase": "init", **extra}

    def _sandbox_socket(self) -> socket.socket:
        if self._sandbox is None:
            raise OSError(errno.ESRCH, "the sandbox is not running")
        return self._sandbox.tcp_socket()

    def _drain_output(self) -> None:
        if self._output is not None:
            self._output.drain()

    # -- INIT --------------------------------------------------------------------

    async def start(self) -> None:
        """INIT: start the runtime and wait until it asks for work, fails or times out.

        A failed INIT is not an exception: it is recorded and becomes the result of the
        invocation that caused it, as Lambda reports init errors.
        """
        began = time.perf_counter()
        try:
            self._init_failure = await self._init()
        except BaseException:
            await self.shutdown("init aborted")
            raise
        self.init_duration_ms = (time.perf_counter() - began) * 1000
        if self.snapshot:
            self._emit(f"INIT_REPORT Init Duration: {self.init_duration_ms:.2f} ms")
        elif self._restore_from is not None:
            self._emit(f"RESTORE_REPORT Restore Duration: {self.init_duration_ms:.2f} ms")
        status = "success" if self._init_failure is None else "error"
        self._publish("platform.initRuntimeDone", self._init_record(status=status))
        metrics = {"durationMs": round(self.init_duration_ms, 2)}
        self._publish("platform.initReport", self._init_record(status=status, metrics=metrics))
        if self._telemetry is not None:
            self._telemetry.end_backlog()
        if self.provisioned and self._init_failure is None:
            # INIT happened before any invocation: the first one is warm, and INIT's
            # lines are not part of its log tail.
            self._cold = False
            self._tail = None

    async def _init(self) -> Outcome | None:
        spec = self.spec
        tmp_dir = self._dir / "tmp"
        tmp_dir.mkdir(parents=True)
        self._api = RuntimeAPI(
            self._on_ready, self._on_init_error, self._drain_output, self._on_deliver
        )
        external = external_extensions(self._opt_dir, spec.layer_dirs)
        self._extensions = ExtensionsAPI(
            spec.function_name,
            spec.version,
            spec.handler,
            spec.account_id,
            external,
            self._on_extension_change,
        )
        self._api.extensions = self._extensions
        self._telemetry = TelemetryAPI(self._extensions, self._sandbox_socket, self._ctx.spawn)
        self._api.telemetry = self._telemetry
        self._publish("platform.initStart", self._init_record())
        self._server = RuntimeAPIServer(self._api)
        address = await self._server.start()
        self._server_port = int(address.rsplit(":", 1)[1])
        if self.state is State.DEAD:  # shut down while starting (the engine is closing)
            self._server.close()
            return Outcome("exit", status=-signal.SIGKILL)
        backend = self._ctx.backend
        if spec.image is not None:  # a container image (execution/images.py)
            if not getattr(backend, "runs_images", False):
                return Outcome("platform", images.UNSUPPORTED.encode(), "Runtime.Unknown")
            return await self._start_image(address, tmp_dir)
        try:
            found = runtimes.prepared(spec.runtime)
            if found is None:  # first use: discovery, maybe a download (seconds, once)
                found = await asyncio.to_thread(runtimes.prepare, spec.runtime)
            # found.packages: the Python packages of its version, or the Node.js SDK.
            packages, node_modules = found.packages or self._ctx.python_packages, None
            # found.packages of Node.js and Java (the RIC's jars) are shown at node_modules.
            if found.runtime.startswith(("nodejs", "java")):
                packages, node_modules = self._ctx.python_packages, found.packages
            layout = backend.layout(
                self._code_dir, self._opt_dir, tmp_dir, runtimes.RUNTIME_DIR, packages, node_modules
            )
            java_options = ()
            if found.runtime.startswith("java"):
                java_options = await self._java_archive(found, layout)
            launch = runtimes.launch(
                spec, layout, self._code_dir, self._opt_dir, found, java_options
            )
        except runtimes.RuntimeUnavailable as exc:
            return Outcome("platform", exc.message.encode(), exc.error_type)
        refusal = runtimes.snapshot_refusal(found) if self.snapshot else None
        if refusal is not None:  # e.g. Java without CRaC: the version is Failed, saying so
            return Outcome("platform", refusal.encode(), "SnapStartException")
        template = self._restore_from
        if template is not None:
            if template._init_failure is not None:  # the snapshot's INIT failed
                return template._init_failure
            # AWS's form, e.g. "python:3.12.v…": the runtime's family, then its version.
            family, number = re.fullmatch(r"([a-z]+)(.*)", found.runtime).groups()  # type: ignore[union-attr]
            self._emit(f"RESTORE_START Runtime Version: {family}:{number}.v{found.version}")
        if self.state is State.DEAD:  # shut down while the runtime was being prepared
            self._server.close()
            return Outcome("exit", status=-signal.SIGKILL)
        variables = self._variables(layout, launch, backend.runtime_api_address(address))
        argv = launch.argv
        wrapper = variables.get("AWS_LAMBDA_EXEC_WRAPPER")
        if wrapper and launch.execution_env:  # Lambda honours wrappers for its runtimes
            argv = (wrapper, *argv)
        if external:  # started before the runtime, in the same sandbox
            paths = [f"{layout.opt}/extensions/{name}" for name in external]
            argv = ("/bin/bash", "-c", _LAUNCHER, "bash", str(len(paths)), *paths, *argv)
        if launch.notice:
            for line in launch.notice.splitlines():
                self._emit(line)
        return await self._run_sandbox(
            argv, variables, tmp_dir, packages, node_modules, found.prefix
        )

    async def _java_archive(self, found: runtimes.Prepared, layout: Layout) -> tuple[str, ...]:
        """The flag that maps the RIC's class-data sharing archive (java_cds.py) if it is
        built and sealed; else () and, once, its dump started beside this environment."""
        spec = self.spec
        jars = found.packages
        if jars is None or not java_cds.enabled():
            return ()
        if java_cds.user_options_conflict(spec.environment):
            return ()
        class_path = runtimes.java_class_path(layout, found)
        backend = self._ctx.backend.name
        name = java_cds.key(found.executable or "", found.version or "", jars, backend, class_path)
        path = java_cds.archive_path(jars, name)
        # Hashing (a new or changed archive: ~10 ms) off the event loop.
        if java_cds.remembered(path) or await asyncio.to_thread(java_cds.sealed, path):
            return (f"-XX:SharedArchiveFile={layout.node_modules or jars}/cds/{path.name}",)
        if java_cds.wanted(name):
            home = found.prefix or ""
            self._ctx.spawn(_dump_java_archive(self._ctx, spec, name, path, home, jars))
        return ()

    async def _run_sandbox(
        self,
        argv: tuple[str, ...],
        variables: dict[str, str],
        tmp_dir: Path,
        packages: Path,
        node_modules: Path | None,
        runtime_prefix: str | None,
        *,
        image_root: Path | None = None,
        workdir: str = "",
    ) -> Outcome | None:
        """Start the runtime's sandbox and wait until INIT is over (ready, failed or
        timed out)."""
        spec, backend = self.spec, self._ctx.backend
        read_fd, write_fd = os.pipe()
        self._output = OutputReader(read_fd, self._on_output)
        self._init_waiter = self._loop.create_future()
        try:
            sandbox_spec = SandboxSpec(
                argv=argv,
                env=variables,
                code_dir=self._code_dir,
                opt_dir=self._opt_dir,
                tmp_dir=tmp_dir,
                runtime_dir=runtimes.RUNTIME_DIR,
                python_packages=packages,
                output_fd=write_fd,
                memory_mb=spec.memory_mb,
                ephemeral_storage_mb=spec.ephemeral_storage_mb,
                layer_dirs=tuple(layer.absolute() for layer in spec.layer_dirs),
                runtime_prefix=runtime_prefix,
                node_modules=node_modules,
                runtime_api_port=self._server_port,
                image_root=image_root,
                workdir=workdir,
            )
            template = self._restore_from
            if self.snapshot:
                self._sandbox, self.template = await backend.snapshot(sandbox_spec)
                self.template.ready.add_done_callback(self._on_snapshot)
            elif template is not None and template.template is not None:
                self._sandbox = await backend.restore(template.template, sandbox_spec)
            else:
                self._sandbox = await backend.create(sandbox_spec)
        except SnapshotUnsupported as exc:
            return Outcome("platform", str(exc).encode(), "SnapStartException")
        except OSError as exc:
            # Worded as Lambda's (Go) init reports a bootstrap it cannot execute.
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            message = f"fork/exec {argv[0]}: {reason}"
            return Outcome("platform", message.encode(), "Runtime.InvalidEntrypoint")
        finally:
            os.close(write_fd)
        if self._sandbox.runtime_api_listener is not None:  # a spare's network forwards there
            await self._server.adopt(self._sandbox.runtime_api_listener)
        if self.state is State.DEAD:
            self._sandbox.kill()
        self._sandbox.exited.add_done_callback(self._on_exit)
        timer = self._loop.call_later(self._init_timeout, self._resolve_init, Outcome("timeout"))
        try:
            return await self._init_waiter
        finally:
            timer.cancel()

    async def _start_image(self, address: str, tmp_dir: Path) -> Outcome | None:
        """INIT of a function from a container image: the image's ENTRYPOINT + CMD in its
        root, its ENV under Lambda's variables, the Runtime API at the host's loopback
        (the image's sandbox shares the host's network)."""
        image = self.spec.image
        assert image is not None
        if not image.argv:
            message = b"sandlot: the image has no ENTRYPOINT or CMD, and ImageConfig sets none"
            return Outcome("platform", message, "Runtime.InvalidEntrypoint")
        layout = Layout(images.TASK_ROOT, "/opt", "/tmp", images.RUNTIME_DIR, "")
        launch = runtimes.Launch(image.argv, dict(image.environment), None)
        variables = self._variables(layout, launch, address)
        return await self._run_sandbox(
            image.argv, variables, tmp_dir, self._ctx.python_packages, None, None,
            image_root=self._code_dir, workdir=image.workdir,
        )  # fmt: skip

    def _initialization_type(self) -> str:
        if self.snapshot or self._restore_from is not None:
            return "snap-start"
        return "provisioned-concurrency" if self.provisioned else "on-demand"

    def _variables(self, layout: Layout, launch: runtimes.Launch, address: str) -> dict[str, str]:
        spec = self.spec
        variables = {name: os.environ[name] for name in _HOST_VARIABLES if name in os.environ}
        variables.setdefault("LANG", "C.UTF-8")
        variables.update(launch.env)
        variables["TZ"] = ":UTC"
        variables["AWS_ENDPOINT_URL"] = self._ctx.settings.endpoint_url
        variables.update(xray_variables(self._ctx.settings.endpoint_url))
        variables.update(spec.environment)
        # Lambda's reserved variables: the function's own configuration cannot override them.
        variables.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
                "AWS_LAMBDA_LOG_FORMAT": spec.log_format,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
                "AWS_LAMBDA_INITIALIZATION_TYPE": self._initialization_type(),
                "AWS_LAMBDA_RUNTIME_API": address,
                "AWS_REGION": spec.region,
                "AWS_DEFAULT_REGION": spec.region,
                "LAMBDA_TASK_ROOT": layout.task_root,
                "LAMBDA_RUNTIME_DIR": layout.runtime_dir,
                "TMPDIR": layout.tmp,
                "_HANDLER": spec.handler,
            }
        )
        if self.snapshot or self._restore_from is not None:
            # AWS: not available to SnapStart functions (one snapshot, many streams).
            del variables["AWS_LAMBDA_LOG_GROUP_NAME"], variables["AWS_LAMBDA_LOG_STREAM_NAME"]
        if launch.execution_env:
            variables["AWS_EXECUTION_ENV"] = launch.execution_env
        if spec.log_format == "JSON":  # the runtime filters its own records too
            variables["AWS_LAMBDA_LOG_LEVEL"] = spec.application_log_level or "INFO"
        variables.update(self._ctx.credentials(spec))
        return variables

    def _on_snapshot(self, ready: asyncio.Future[dict | None]) -> None:
        """The template's INIT is done: snapshot taken, or INIT's error document."""
        if ready.cancelled() or ready.exception() is not None:
            return  # the runtime ended: _on_exit reports it
        failure = ready.result()
        if failure is None:
            self._on_ready()
        else:
            self._on_init_error(json.dumps(failure).encode(), failure.get("errorType"))

    def _resolve_init(self, outcome: Outcome | None) -> None:
        waiter = self._init_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(outcome)

    def _on_ready(self) -> None:
        self._runtime_ready = True
        self._check_init()

    def _check_init(self) -> None:
        """INIT is over when the runtime and every extension have called next."""
        extensions = self._extensions
        if self._runtime_ready and (extensions is None or extensions.all_ready()):
            if extensions is not None:
                extensions.registration_open = False
            self._resolve_init(None)

    def _on_extension_change(self) -> None:
        extensions = self._extensions
        assert extensions is not None
        if self.state is State.INIT:
            if extensions.init_error is not None:
                document, error_type = extensions.init_error
                self._resolve_init(Outcome("init_error", document, error_type))
            elif extensions.crash is not None:
                self._resolve_init(
                    Outcome("platform", extensions.crash.encode(), "Extension.Crash")
                )
            else:
                self._check_init()
        idle = self._extensions_idle
        if idle is not None and not idle.done() and extensions.all_ready():
            idle.set_result(None)

    async def _extensions_done(self, timeout: float) -> bool:
        """Wait until every extension has called next again; False if it took too long."""
        extensions = self._extensions
        if extensions is None or extensions.all_ready():
            return True
        self._extensions_idle = self._loop.create_future()
        sandbox = self._sandbox
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                if sandbox is None:
                    await self._extensions_idle
                else:  # an extension cannot call next once the sandbox is gone
                    await asyncio.wait(
                        (self._extensions_idle, sandbox.exited),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
        except TimeoutError:
            return False
        finally:
            self._extensions_idle = None
        return extensions.all_ready()

    def _on_init_error(self, payload: bytes, error_type: str | None) -> None:
        self._resolve_init(Outcome("init_error", payload, error_type or "Runtime.Unknown"))

    # -- INVOKE ------------------------------------------------------------------

    @property
    def has_extensions(self) -> bool:
        """Whether an invocation here has a post-invoke phase (extensions exist)."""
        return self._extensions is not None and self._extensions.present

    async def invoke(
        self, request: InvokeRequest, answered: Callable[[InvokeResult], None] | None = None
    ) -> tuple[InvokeResult, bool]:
        """Run one invocation; returns its result and whether this environment is reusable.

        With extensions, ``answered`` gets the runtime's response as soon as it is posted
        (as Lambda returns it to the caller), while the invocation goes on until the
        extensions' post-invoke phase ends; the result returned then has REPORT's
        duration, which covers that phase. Raises EnvironmentGone if the runtime died
        before receiving the invocation.
        """
        spec = self.spec
        request_id = request.request_id
        cold, self._cold = self._cold, False
        self.state = State.BUSY
        tail = self._tail if cold else _Tail()
        self._tail = tail
        self._started = False
        failure = self._init_failure
        started = time.perf_counter()
        if failure is not None:
            outcome = failure
        else:
            outcome = await self._run(request)
        runtime_ms = (time.perf_counter() - started) * 1000
        extensions_ok = True
        if outcome.kind in ("response", "error") and self._extensions is not None:
            if answered is not None and self.has_extensions:
                # Lambda returns the response now; the environment stays busy until the
                # extensions are done with this invocation.
                if self._output is not None:
                    self._output.drain()
                answered(
                    InvokeResult(
                        payload=outcome.payload,
                        function_error="Unhandled" if outcome.kind == "error" else None,
                        log_tail=tail.encode(),
                        duration_ms=runtime_ms,
                        init_duration_ms=self.init_duration_ms if cold else None,
                        environment_id=self.id,
                    )
                )
            # The post-invoke phase: the invocation ends when every extension subscribed
            # to INVOKE has called next again, within the function's timeout. REPORT's
            # Duration covers it (Lambda bills it); runtimeDone's does not.
            remaining = float(spec.timeout_s) - runtime_ms / 1000
            extensions_ok = await self._extensions_done(remaining)
            if not extensions_ok:
                self._kill()
        duration_ms = (time.perf_counter() - started) * 1000
        self._start_line(request)  # if the runtime never received it (timeout)

        timeout_s = self._init_timeout if failure is not None else float(spec.timeout_s)
        payload, function_error, status = self._conclude(outcome, request_id, timeout_s)
        if self._output is not None:
            self._output.drain()
            self._output.flush()
        as_json = self._logging.json
        telemetry = self._telemetry
        subscribed = telemetry is not None and telemetry.active
        done, error_type = _telemetry_status(outcome)
        if as_json or subscribed:
            metrics = {"durationMs": round(runtime_ms, 2), "producedBytes": len(payload)}
            ended = {"requestId": request_id, "status": done, "metrics": metrics}
            if error_type:
                ended["errorType"] = error_type
            self._publish("platform.runtimeDone", ended)
        if as_json:
            self._emit_record("platform.runtimeDone", ended)
        else:
            self._emit(f"END RequestId: {request_id}")
        if self.alive:
            self._max_memory_mb = self._sandbox.max_memory_mb()  # type: ignore[union-attr]
        init_ms = self.init_duration_ms if cold else None
        # A restored environment reports its restore instead of an INIT (SnapStart).
        restore_ms = None
        if self._restore_from is not None and failure is None:
            init_ms, restore_ms = None, init_ms
        memory, used = spec.memory_mb, self._max_memory_mb
        # Active tracing: a sampled invocation's REPORT names its trace (logs.py).
        traced = request.trace_id if spec.tracing == "Active" else None
        if as_json or subscribed:
            report = report_record(
                request_id, duration_ms, memory, used, init_ms, done, error_type, restore_ms,
                traced,
            )  # fmt: skip
            self._publish("platform.report", report)
        if as_json:
            self._emit_record("platform.report", report)
        else:
            self._emit(
                report_line(
                    request_id, duration_ms, memory, used, init_ms, status, restore_ms, traced
                )
            )
        self._tail = None
        reusable = outcome.kind in ("response", "error") and self.alive and extensions_ok
        extensions = self._extensions
        if extensions is not None and (extensions.exit_error or extensions.crash):
            reusable = False  # an extension failed or ended: the environment is reset
        result = InvokeResult(
            payload=payload,
            function_error=function_error,
            log_tail=tail.encode(),
            duration_ms=duration_ms,
            init_duration_ms=init_ms,
            environment_id=self.id,
        )
        return result, reusable

    def _conclude(
        self, outcome: Outcome, request_id: str, timeout_s: float
    ) -> tuple[bytes, str | None, str | None]:
        """(payload, function error, REPORT status) for an outcome, logging Lambda's lines."""
        kind = outcome.kind
        if kind == "response":
            return outcome.payload, None, None
        if kind == "error":  # reported by the runtime: the environment lives on
            return outcome.payload, "Unhandled", None
        if kind == "init_error":
            return outcome.payload, "Unhandled", f"Status: error\tError Type: {outcome.error_type}"
        self._drain_output()
        if kind == "timeout":
            message = f"Task timed out after {timeout_s:.2f} seconds"
            self._emit(f"{iso_timestamp(time.time())} {request_id} {message}")
            payload = _platform_error(
                "Sandbox.Timedout", f"RequestId: {request_id} Error: {message}"
            )
            return payload, "Unhandled", "Status: timeout"
        # "exit" or "platform": the runtime is gone, or never started
        if kind == "exit":
            error_type = "Runtime.ExitError"
            reason = f"Runtime exited with error: {exit_description(outcome.status)}"
        else:
            error_type = outcome.error_type or "Runtime.Unknown"
            reason = outcome.payload.decode()
        message = f"RequestId: {request_id} Error: {reason}"
        self._emit(message)
        self._emit(error_type)
        payload = _platform_error(error_type, message)
        return payload, "Unhandled", f"Status: error\tError Type: {error_type}"

    def _start_line(self, request: InvokeRequest) -> None:
        if not self._started:
            self._started = True
            request_id, version = request.request_id, self.spec.version
            record = {"requestId": request_id, "version": version}
            self._publish("platform.start", record)
            if self._logging.json:
                self._emit_record("platform.start", record)
            else:
                self._emit(f"START RequestId: {request_id} Version: {version}")

    def _on_deliver(self, invocation: Invocation) -> None:
        # START is written when the runtime takes the invocation, so that an environment
        # found dead before that leaves no trace of an invocation that ran elsewhere.
        self._start_line(invocation.request)

    async def _run(self, request: InvokeRequest) -> Outcome:
        sandbox = self._sandbox
        if sandbox is not None and sandbox.exited.done():  # died since INIT ended
            self.state = State.DEAD
            raise EnvironmentGone()
        timeout = float(self.spec.timeout_s)
        invocation = Invocation(
            request, int((time.time() + timeout) * 1000), self._loop.create_future()
        )
        self._invocation = invocation
        timer = self._loop.call_later(timeout, self._on_timeout, invocation)
        self.thaw()
        self._api.dispatch(invocation)  # type: ignore[union-attr]
        extensions = self._extensions
        if extensions is not None and extensions.present:
            trace = request.trace_id or _new_trace_id().decode()
            arn = request.invoked_function_arn
            extensions.invoke(request.request_id, invocation.deadline_ms, arn, trace)
        try:
            outcome = await invocation.future
        except asyncio.CancelledError:
            # The caller went away mid-invocation: the runtime's state is unknown.
            self.state = State.DEAD
            if self._sandbox is not None:
                self._sandbox.kill()
            raise
        finally:
            timer.cancel()
            self._invocation = None
        if outcome.kind == "exit" and not invocation.delivered:
            self.state = State.DEAD
            raise EnvironmentGone()
        return outcome

    def _on_timeout(self, invocation: Invocation) -> None:
        if invocation.future.done():
            return
        self._kill()
        invocation.finish(Outcome("timeout"))

    def _kill(self) -> None:
        sandbox = self._sandbox
        if sandbox is not None:
            self._max_memory_mb = sandbox.max_memory_mb()
            sandbox.kill()

    def _on_exit(self, exited: asyncio.Future[int]) -> None:
        code = exited.result()
        self._drain_output()
        outcome = Outcome("exit", status=code)
        if self.state is State.INIT:
            template = self.template if self.snapshot else None
            if template is not None and not template.ready.done():
                # A SnapStart template reports INIT's result on its own channel, and a
                # runtime that failed INIT exits right after: its exit may be seen first.
                self._loop.call_later(0.5, self._resolve_init, outcome)
                return
            self._resolve_init(outcome)
        elif self._invocation is not None:
            self._invocation.finish(outcome)
        elif self.state is State.IDLE:
            self.state = State.DEAD
            self._on_dead(self)
            self._ctx.spawn(self.shutdown("runtime exited"))

    # -- between invocations -----------------------------------------------------

    def idle(self) -> None:
        """Wait for the next invocation."""
        self.state = State.IDLE
        self.idle_since = time.monotonic()

    def freeze(self) -> None:
        """Stop the idle sandbox until its next invocation, as Lambda freezes it."""
        if self.state is State.IDLE and self._sandbox is not None:
            self._sandbox.freeze()

    def thaw(self) -> None:
        if self._sandbox is not None:
            self._sandbox.thaw()

    # -- SHUTDOWN ----------------------------------------------------------------

    async def shutdown(self, reason: str) -> None:
        """Kill the runtime, close the endpoint, remove the tmp dir. Idempotent."""
        if self._shutdown_task is None:
            self._shutdown_task = self._loop.create_task(self._shutdown(reason))
        await asyncio.shield(self._shutdown_task)

    async def _shutdown(self, reason: str) -> None:
        self.state = State.DEAD
        sandbox, extensions = self._sandbox, self._extensions
        if sandbox is not None and extensions is not None and not sandbox.exited.done():
            # The SHUTDOWN phase: external extensions subscribed to it get the event and
            # up to 2,000 ms to call next again before everything is killed.
            deadline_ms = int((time.time() + EXTENSION_SHUTDOWN_S) * 1000)
            if extensions.present:
                sandbox.thaw()
            if self._telemetry is not None and self._telemetry.subscriptions:
                await self._telemetry.flush(EXTENSION_SHUTDOWN_S / 2)  # before SHUTDOWN
            if extensions.shutdown(_shutdown_reason(reason), deadline_ms):
                await self._extensions_done(EXTENSION_SHUTDOWN_S)
        if self._sandbox is not None:
            await self._sandbox.destroy(reason)
        self._resolve_init(Outcome("exit", status=-signal.SIGKILL))
        if self._output is not None:
            self._output.drain()
            self._output.flush()
            self._output.close()
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(RuntimeError):  # the default executor is shutting down
            await asyncio.to_thread(shutil.rmtree, self._dir, True)


class _DiscardLogs:
    """The log shipper of sandlot's own environments: their lines go to no account."""

    def emit(self, key: LogStream, event: LogEvent) -> None:
        log.debug("java cds dump: %s", event.message.rstrip())


async def _dump_java_archive(
    ctx: EnvironmentContext, spec: FunctionSpec, name: str, path: Path, jdk_home: str, jars: Path
) -> None:
    """Dump the RIC's class-data sharing archive at ``path`` in an environment of
    sandlot's own warm-up function (``java_cds``), with ``spec``'s runtime and sandbox
    kind but none of its code, layers or variables."""
    ok = False
    try:
        with java_cds.dump_lock(path) as mine:
            if not mine or await asyncio.to_thread(java_cds.sealed, path):
                ok = True  # another server dumps it, or has
                return
            code = await asyncio.to_thread(java_cds.warmup_code, jdk_home, jars)
            own = dataclasses.replace(
                spec,
                function_name="sandlot-java-cds",
                function_arn=f"arn:aws:lambda:{spec.region}:{spec.account_id}:function:sandlot-java-cds",
                version="$LATEST",
                handler=java_cds.HANDLER,
                code_dir=code,
                layer_dirs=(),
                memory_mb=512,
                timeout_s=60,
                ephemeral_storage_mb=512,
                environment=(("JAVA_TOOL_OPTIONS", java_cds.DUMP_OPTIONS),),
                digest=f"java-cds-{name}",
                custom_log_group=None,
                log_format="Text",
                application_log_level=None,
                system_log_level=None,
                image=None,
                snap_start=False,
                tracing="PassThrough",
            )
            opt_dir = ctx.work_dir / "java-cds-opt"  # no layers
            opt_dir.mkdir(parents=True, exist_ok=True)
            quiet = dataclasses.replace(ctx, credentials=lambda _: {}, shipper=_DiscardLogs())
            env = Environment(own, quiet, opt_dir, lambda _: None)
            try:
                await env.start()
                if env.init_failed:
                    log.info("no Java CDS archive: its environment failed INIT")
                    return

                async def invoke(event: dict) -> dict | None:
                    request = InvokeRequest(
                        str(uuid.uuid4()), json.dumps(event).encode(), own.function_arn
                    )
                    result, reusable = await env.invoke(request)
                    if result.function_error or not reusable:
                        log.info("no Java CDS archive: %s", result.payload[:500])
                        return None
                    env.idle()
                    return json.loads(result.payload)

                data = await java_cds.dump(invoke)
            finally:
                await env.shutdown("java cds archive dumped")
            if data is not None:
                await asyncio.to_thread(java_cds.write_sealed, path, data)
                ok = True
                log.info("Java CDS archive %s written (%d bytes)", path, len(data))
    except Exception:  # a missing javac, a full disk…: the functions run without it
        log.warning("no Java CDS archive for %s", path, exc_info=True)
    finally:
        java_cds.finished(name, ok)


def external_extensions(opt_dir: Path, layer_dirs: tuple[Path, ...]) -> tuple[str, ...]:
    """The names of the executables in /opt/extensions, in the order Lambda starts them.

    A merged /opt (several layers) holds links into the layers, as the sandbox sees
    them; their files are found in the layers' host directories.
    """
    directory = opt_dir / "extensions"
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        return ()
    names = []
    for entry in entries:
        candidates = [Path(entry.path)] if not entry.is_symlink() else []
        candidates += [layer / "extensions" / entry.name for layer in layer_dirs]
        if any(path.is_file() and os.access(path, os.X_OK) for path in candidates):
            names.append(entry.name)
    return tuple(names)


def _shutdown_reason(reason: str) -> str:
    """SHUTDOWN's shutdownReason: spindown (reaped or released), timeout or failure."""
    if reason in ("keep-alive expired", "pool closed", "provisioned concurrency released"):
        return "spindown"
    return "timeout" if "timeout" in reason else "failure"


def _platform_error(error_type: str, message: str) -> bytes:
    return json.dumps(
        {"errorType": error_type, "errorMessage": message}, separators=(",", ":")
    ).encode()


# How Lambda (Go's os.ProcessState) words a runtime killed by a signal.
_SIGNAL_WORDS = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGINT: "interrupt",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction",
    signal.SIGHUP: "hangup",
    signal.SIGPIPE: "broken pipe",
    signal.SIGQUIT: "quit",
    signal.SIGTRAP: "trace/breakpoint trap",
    signal.SIGSYS: "bad system call",
    signal.SIGXCPU: "CPU time limit exceeded",
    signal.SIGXFSZ: "file size limit exceeded",
    signal.SIGUSR1: "user defined signal 1",
    signal.SIGUSR2: "user defined signal 2",
    signal.SIGALRM: "alarm clock",
}


def exit_description(code: int) -> str:
    """``exit status 1`` or ``signal: killed``, as Lambda reports a runtime's exit."""
    if code >= 0:
        return f"exit status {code}"
    number = -code
    try:
        words = _SIGNAL_WORDS.get(signal.Signals(number)) or signal.strsignal(number)
    except ValueError:
        words = None
    return f"signal: {words or number}"


def _telemetry_status(outcome: Outcome) -> tuple[str, str | None]:
    """(status, errorType) of an invocation, as Lambda's JSON platform records give them."""
    if outcome.kind == "response":
        return "success", None
    if outcome.kind == "timeout":
        return "timeout", None
    if outcome.kind == "exit":
        return "error", "Runtime.ExitError"
    return "error", outcome.error_type
