"""The execution engine's interface: what Lambda asks of it, and what it answers.

The Lambda provider talks to compute only through these types and ``Engine``
(execution/engine.py). Everything about processes, sandboxes, runtimes and the
Runtime API stays inside execution/.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sandlot.execution.images import Launch

# A streamed response's limit ("200 MB", Lambda's default maximum since July 2025;
# buffered responses stay at 6 MB).
STREAM_LIMIT_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One function version as it runs. Equal specs share a pool of environments.

    ``code_dir`` holds the extracted deployment package and each of ``layer_dirs`` an
    extracted layer, in order (they are merged into what the function sees as /opt).
    ``digest`` identifies code + configuration: a changed function gets a new pool.
    """

    account_id: str
    region: str
    function_name: str
    function_arn: str  # unqualified: arn:aws:lambda:<region>:<account>:function:<name>
    version: str  # "$LATEST" or "1", "2", ...
    runtime: str  # e.g. "python3.12", "nodejs20.x", "provided.al2023"
    handler: str  # e.g. "app.handler"; ignored by provided* runtimes except as _HANDLER
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    memory_mb: int
    timeout_s: int
    ephemeral_storage_mb: int
    environment: tuple[tuple[str, str], ...]  # the function's own variables
    role_arn: str
    digest: str
    reserved_concurrency: int | None = None  # None: only the account limit applies
    architecture: str = "x86_64"  # Architectures[0]; arm64 runs on the host's (said at INIT)
    # LoggingConfig: where the logs go, "Text" or "JSON", and (JSON only) the levels
    # below which application and system (platform) records are dropped.
    custom_log_group: str | None = None
    log_format: str = "Text"
    application_log_level: str | None = None
    system_log_level: str | None = None
    # PackageType Image: what the image runs (code_dir is then its unpacked root, shown
    # as the sandbox's /; runtime and layers are unused). See execution/images.py.
    image: Launch | None = None
    # SnapStart (a published version with ApplyOn PublishedVersions): environments are
    # restored from a template initialised once (pool.py, zygote_process.Template).
    snap_start: bool = False
    tracing: str = "PassThrough"  # TracingConfig.Mode; Active: Lambda records segments

    @property
    def log_group(self) -> str:
        return self.custom_log_group or f"/aws/lambda/{self.function_name}"

    @property
    def pool_key(self) -> tuple[str, str, str, str]:
        return (self.account_id, self.region, self.function_name, self.digest)


@dataclass(frozen=True, slots=True)
class InvokeRequest:
    """One invocation."""

    request_id: str
    payload: bytes
    invoked_function_arn: str  # qualified as the caller asked (version or alias)
    client_context: str | None = None  # base64 JSON, passed through to the runtime
    cognito_identity: str | None = None
    trace_id: str | None = None
    # Set by a caller that takes the response as it is written (InvokeWithResponseStream,
    # function URLs in RESPONSE_STREAM mode); None: the response is buffered.
    stream: ResponseStream | None = None


class ResponseStream:
    """The response of one invocation as the runtime writes it, for a caller that reads
    it while the function still runs.

    The Runtime API side calls ``deliver()`` when the runtime takes the invocation,
    ``begin(content_type)`` when it starts a streamed response (``Lambda-Runtime-
    Function-Response-Mode: streaming``) and ``write(chunk)`` for each piece of it; a
    runtime that answers buffered never calls ``begin``, and its whole payload is the
    invocation's result as usual. The caller awaits ``opened()`` (the invocation reached a
    runtime, so refusals such as throttling are behind it), then iterates: each item is
    what arrived since the last one, joined up to about 1 MB; iteration ends at ``close()``, which the
    caller calls once the invocation is over. ``write`` answers False while more than
    ``HIGH_WATER`` bytes wait unread; the Runtime API then stops reading the runtime's
    socket until ``on_drain`` is called (backpressure reaches the function's writes).
    """

    HIGH_WATER = 1024 * 1024

    def __init__(self) -> None:
        self.content_type: str | None = None
        self.streamed = False  # the runtime began a streamed response
        self.on_drain: Callable[[], None] | None = None
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._closed = False
        self._wakeup: asyncio.Future[None] | None = None
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- the runtime's side -------------------------------------------------------------

    def deliver(self) -> None:
        if not self._opened.done():
            self._opened.set_result(None)

    def begin(self, content_type: str) -> None:
        self.streamed = True
        self.content_type = content_type
        self.deliver()

    def write(self, chunk: bytes) -> bool:
        if self._closed or not chunk:
            return True
        self._chunks.append(chunk)
        self._size += len(chunk)
        self._wake()
        return self._size <= self.HIGH_WATER

    def close(self) -> None:
        """No more chunks (the invocation is over, however it ended). What is still
        queued is read out; whatever the runtime sends after this is dropped, so its
        socket is read again even if nobody reads the rest."""
        self._closed = True
        self.deliver()
        self._wake()
        if self.on_drain is not None:
            self.on_drain()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    # -- the caller's side --------------------------------------------------------------

    async def opened(self) -> None:
        await asyncio.shield(self._opened)

    def __aiter__(self) -> ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        while not self._chunks:
            if self._closed:
                raise StopAsyncIteration
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
        # What waits, joined up to about HIGH_WATER (an event-stream message must stay
        # small: botocore refuses payloads over 24 MB).
        queued, taken, size = self._chunks, [], 0
        while queued and size < self.HIGH_WATER:
            taken.append(queued.popleft())
            size += len(taken[-1])
        was_over, self._size = self._size > self.HIGH_WATER, self._size - size
        if was_over and self._size <= self.HIGH_WATER and self.on_drain is not None:
            self.on_drain()
        return taken[0] if len(taken) == 1 else b"".join(taken)


@dataclass(slots=True)
class InvokeResult:
    """What an invocation produced.

    ``function_error`` is None on success, else ``"Unhandled"`` (the payload is then
    AWS's error document ``{"errorMessage", "errorType", "requestId", "stackTrace"}``).
    ``log_tail`` is the end (at most 4 KB) of this invocation's log lines, as
    ``LogType=Tail`` returns it before base64.
    """

    payload: bytes
    function_error: str | None = None
    log_tail: bytes = b""
    duration_ms: float = 0.0
    init_duration_ms: float | None = None  # set on a cold start
    environment_id: str = ""


@dataclass(frozen=True, slots=True)
class ProvisionedStatus:
    """Where one provisioned concurrency configuration stands (``Engine.provisioned``).

    ``allocated`` counts its environments that finished INIT and are kept for it;
    ``status`` is Lambda's: ``IN_PROGRESS`` until all requested are allocated, then
    ``READY``; ``FAILED`` (with ``reason``) when an environment's INIT failed.
    """

    requested: int
    allocated: int
    status: str
    reason: str | None = None


class Throttled(Exception):
    """No environment may start: a concurrency limit is reached.

    ``reason`` is AWS's ``Reason`` value, e.g.
    ``ReservedFunctionConcurrentInvocationLimitExceeded`` or
    ``ConcurrentInvocationLimitExceeded``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class LogEvent:
    timestamp_ms: int
    message: str


@dataclass(frozen=True, slots=True)
class LogStream:
    """Where an environment's log lines go, and whose they are: in Lambda the logs are
    written with the function's execution role (``role_arn``), so a role that may not
    write them loses them."""

    account_id: str
    region: str
    log_group: str
    log_stream: str
    function_name: str
    role_arn: str


# Receives an environment's log lines (already split into events), off the invoke path.
# It must not block; the engine calls it from its log batching task.
LogSink = Callable[[LogStream, list[LogEvent]], Awaitable[None]]

# Temporary credentials for a function's role:
# returns {"AWS_ACCESS_KEY_ID": ..., "AWS_SECRET_ACCESS_KEY": ..., "AWS_SESSION_TOKEN": ...}.
CredentialIssuer = Callable[[FunctionSpec], dict[str, str]]

# Told of each invocation's outcome, on the invoke path (so it must only buffer):
# (spec, request, result or None when throttled, invocations of the function in flight
# including this one, invocations of all functions in flight).
# (spec, request, result or None when throttled, function's running, account's running,
# provisioned concurrency when configured: (ran on it, its environments busy, allocated)).
InvokeObserver = Callable[
    [FunctionSpec, InvokeRequest, InvokeResult | None, int, int, tuple[bool, int, int] | None],
    None,
]


@dataclass(slots=True)
class EngineSettings:
    """Knobs of the engine (defaults mirrored in sandlot.config.Settings)."""

    endpoint_url: str  # AWS_ENDPOINT_URL given to functions: sandlot itself
    work_dir: Path  # per-environment scratch (tmp dirs) lives under here
    account_concurrency: int = 1000
    keep_alive_s: float = 300.0  # idle environments are reclaimed after this
    sandbox: str = "process"
    # linux: a network namespace per environment (network.py) in which endpoint_url's
    # port is forwarded to the host's loopback, and nothing else of it.
    isolate_network: bool = False
    extra: dict[str, str] = field(default_factory=dict)
