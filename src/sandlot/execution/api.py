"""The execution engine's interface: what Lambda asks of it, and what it answers.

The Lambda provider talks to compute only through these types and ``Engine``
(execution/engine.py). Everything about processes, sandboxes, runtimes and the
Runtime API stays inside execution/.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path


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
