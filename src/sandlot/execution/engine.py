"""The execution engine: what the Lambda provider calls to run an invocation.

One ``FunctionPool`` per function version (``FunctionSpec.pool_key``), shared
concurrency limits, one log shipper, and a sweeper that shuts down environments idle
for longer than the keep-alive. Each pool holds its code and layer directories
(``DirectoryLeases``): whoever owns a directory asks ``after_last_use`` before deleting
it, so an environment never loses its /var/task or /opt while it lives. ``provision`` keeps environments initialised ahead of
invocations for a provisioned concurrency configuration. ``invoke`` is the hot path: for a warm environment it
is a few dictionary lookups, one dispatch on the environment's Runtime API connection
and one await.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import shutil
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from sandlot.execution.api import (
    CredentialIssuer,
    EngineSettings,
    FunctionSpec,
    InvokeObserver,
    InvokeRequest,
    InvokeResult,
    LogSink,
    ProvisionedStatus,
    Throttled,
)
from sandlot.execution.environment import Environment, EnvironmentContext, EnvironmentGone
from sandlot.execution.logs import LogShipper
from sandlot.execution.network import NetworkSettings
from sandlot.execution.pool import Concurrency, FunctionPool
from sandlot.execution.sandbox import create_backend

log = logging.getLogger(__name__)

# Tries of an invocation whose environment turns out dead before receiving it. A fresh
# environment receives the invocation as soon as INIT ends, so one retry is the norm.
_ATTEMPTS = 3

# What Lambda's Python runtimes provide besides the standard library: the AWS SDK and
# its dependencies (import names). Those installed for sandlot's own Python are linked
# into one directory on the functions' PYTHONPATH; nothing else of the host's.
PYTHON_RUNTIME_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "urllib3",
    "dateutil",
    "six",
)


class Engine:
    """Runs Lambda invocations in execution environments."""

    def __init__(
        self,
        settings: EngineSettings,
        credentials: CredentialIssuer,
        log_sink: LogSink,
        observer: InvokeObserver | None = None,
    ) -> None:
        self.settings = settings
        # Told of every invocation's outcome (the platform publishes Lambda's metrics).
        self._observer = observer
        port = urllib.parse.urlsplit(settings.endpoint_url).port or 80
        net = NetworkSettings(settings.isolate_network, port)
        self._backend = create_backend(settings.sandbox, net)
        self._credentials = credentials
        self._shipper = LogShipper(log_sink)
        self._concurrency = Concurrency(settings.account_concurrency)
        self._pools: dict[tuple[str, str, str, str], FunctionPool] = {}
        self._leases = DirectoryLeases()
        # Provisioned concurrency: per configuration (its owner's key), the function
        # versions it keeps environments of and how many of each.
        self._provisions: dict[str, tuple[tuple[FunctionSpec, int], ...]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._snapshotting: set[tuple[str, str, str, str]] = set()  # asked, no pool yet
        self._context: EnvironmentContext | None = None
        self._starting: asyncio.Task[EnvironmentContext] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    async def invoke(self, spec: FunctionSpec, request: InvokeRequest) -> InvokeResult:
        """Run one invocation of ``spec`` and return what it produced.

        Function errors (handler exceptions, timeouts, crashes, init errors) are results
        with ``function_error`` set, never exceptions. Raises ``Throttled`` when a
        concurrency limit is reached.
        """
        if self._closed:
            raise RuntimeError("the execution engine is closed")
        context = self._context or await self._start()
        pool = self._pools.get(spec.pool_key) or self._new_pool(spec, context)
        for _ in range(_ATTEMPTS):
            try:
                env = await pool.acquire(spec)
            except Throttled:
                if self._observer is not None:
                    self._observer(spec, request, None, 0, 0, None)
                raise
            key = (spec.account_id, spec.region, spec.function_name)
            running = self._concurrency.by_function.get(key, 0), self._concurrency.total
            provisioned = None
            if pool.provisioned_target:  # for ProvisionedConcurrency* metrics
                provisioned = (env.provisioned, pool.provisioned_busy, pool.allocated)
            observed = (*running, provisioned)
            if env.has_extensions:
                try:
                    return await self._invoke_with_extensions(pool, env, spec, request, observed)
                except EnvironmentGone:
                    continue
            reusable = False
            try:
                result, reusable = await env.invoke(request)
            except EnvironmentGone:
                continue  # it died while idle; the invocation goes to another one
            finally:
                pool.release(env, reusable)
            if self._observer is not None:
                self._observer(spec, request, result, *observed)
            return result
        raise RuntimeError(f"no execution environment of {spec.function_name} stayed up")

    async def _invoke_with_extensions(
        self,
        pool: FunctionPool,
        env: Environment,
        spec: FunctionSpec,
        request: InvokeRequest,
        observed: tuple[int, int, tuple[bool, int, int] | None],
    ) -> InvokeResult:
        """As Lambda does: the caller gets the response once the runtime posted it, while
        the environment stays busy (not released to the pool) until the extensions'
        post-invoke phase ends; the invocation's full result (REPORT's duration) goes to
        the observer then."""
        answer: asyncio.Future[InvokeResult] = asyncio.get_running_loop().create_future()

        def answered(result: InvokeResult) -> None:
            if not answer.done():
                answer.set_result(result)

        whole = asyncio.ensure_future(env.invoke(request, answered))
        try:
            await asyncio.wait((whole, answer), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            whole.cancel()  # the caller went away mid-invocation: as without extensions
            pool.release(env, False)
            raise
        if not answer.done():  # no early answer: a failure, a timeout, EnvironmentGone
            answer.cancel()
            reusable = False
            try:
                result, reusable = whole.result()
            finally:
                pool.release(env, reusable)
            if self._observer is not None:
                self._observer(spec, request, result, *observed)
            return result
        self._spawn(self._post_invoke(pool, env, whole, spec, request, observed))
        return answer.result()

    async def _post_invoke(
        self,
        pool: FunctionPool,
        env: Environment,
        whole: asyncio.Future[tuple[InvokeResult, bool]],
        spec: FunctionSpec,
        request: InvokeRequest,
        observed: tuple[int, int, tuple[bool, int, int] | None],
    ) -> None:
        reusable = False
        try:
            result, reusable = await whole
        finally:
            pool.release(env, reusable)
        if self._observer is not None:
            self._observer(spec, request, result, *observed)

    def provision(
        self, owner: str, targets: Sequence[tuple[FunctionSpec, int]], *, retry: bool = False
    ) -> None:
        """Keep environments initialised for one provisioned concurrency configuration.

        ``owner`` names the configuration (any stable key); ``targets`` says how many
        environments of which function version it wants (an alias with weights splits
        them over its versions). Replaces what ``owner`` asked before; no targets
        release its environments. Environments start in the background; see
        ``provisioned``. ``retry`` tries again after a failed INIT.
        """
        if self._closed:
            return
        previous = self._provisions.pop(owner, ())
        if targets:
            self._provisions[owner] = tuple((spec, count) for spec, count in targets if count)
        specs = {spec.pool_key: spec for spec, _ in (*previous, *targets)}
        self._spawn(self._apply_provisions(specs, retry))

    def provisioned(self, owner: str) -> ProvisionedStatus | None:
        """Where ``owner``'s provisioned concurrency stands; None if it asked for none."""
        targets = self._provisions.get(owner)
        if targets is None:
            return None
        requested = allocated = 0
        reason = None
        for spec, count in targets:
            requested += count
            pool = self._pools.get(spec.pool_key)
            if pool is not None:
                # Configurations sharing a version share its environments in proportion.
                allocated += min(count, pool.allocated * count // self._wanted(spec.pool_key))
                reason = reason or pool.provision_failure
        if allocated >= requested:
            return ProvisionedStatus(requested, allocated, "READY")
        if reason is not None:
            return ProvisionedStatus(requested, allocated, "FAILED", reason)
        return ProvisionedStatus(requested, allocated, "IN_PROGRESS")

    def _wanted(self, key: tuple[str, str, str, str]) -> int:
        """Provisioned environments all configurations want of one function version."""
        return sum(
            count
            for targets in self._provisions.values()
            for target, count in targets
            if target.pool_key == key
        )

    async def _apply_provisions(
        self, specs: dict[tuple[str, str, str, str], FunctionSpec], retry: bool
    ) -> None:
        context = self._context or await self._start()
        if self._closed:
            return
        for key, spec in specs.items():
            # Recomputed from the current wishes: the last change wins, whatever the order.
            wanted = self._wanted(key)
            pool = self._pools.get(key)
            if pool is None:
                if not wanted:
                    continue
                pool = self._new_pool(spec, context)
            pool.provision(wanted, retry=retry)

    def snapshot(self, spec: FunctionSpec) -> None:
        """SnapStart: initialise ``spec``'s template now (PublishVersion), in the
        background; ``snapshot_state`` says where it stands."""
        if not self._closed and spec.snap_start:
            self._snapshotting.add(spec.pool_key)
            self._spawn(self._snapshot(spec))

    async def _snapshot(self, spec: FunctionSpec) -> None:
        try:
            context = self._context or await self._start()
            if self._closed:
                return
            pool = self._pools.get(spec.pool_key) or self._new_pool(spec, context)
            started = pool.snapshot()
        finally:
            self._snapshotting.discard(spec.pool_key)
        await started

    def snapshot_state(self, spec: FunctionSpec) -> str | None:
        """The state ("Pending", "Active", "Failed") of a SnapStart version whose
        template this engine holds; None if it holds none (made at its next cold start)."""
        if spec.pool_key in self._snapshotting:
            return "Pending"
        pool = self._pools.get(spec.pool_key)
        return pool.snapshot_state if pool is not None else None

    def snapshot_failure(self, spec: FunctionSpec) -> tuple[str, str] | None:
        """(StateReasonCode, StateReason) of a SnapStart version whose template failed."""
        pool = self._pools.get(spec.pool_key)
        return pool.snapshot_failure if pool is not None else None

    def after_last_use(self, path: Path, action: Callable[[], None]) -> None:
        """Run ``action`` (e.g. deleting ``path``) now if no pool uses the directory,
        else once the last pool using it is gone (its environments shut down)."""
        self._leases.after_last_use(path, action)

    def _new_pool(self, spec: FunctionSpec, context: EnvironmentContext) -> FunctionPool:
        self._leases.hold(_directories(spec))
        pool = self._pools[spec.pool_key] = FunctionPool(spec, context, self._concurrency)
        return pool

    async def _drop(self, pool: FunctionPool) -> None:
        """Close a pool no longer in ``_pools``, then let go of its directories."""
        try:
            await pool.close()
        finally:
            self._leases.release(_directories(pool.spec))

    @property
    def environment_count(self) -> int:
        """Environments alive now (idle or busy), across all functions."""
        return sum(len(pool.environments) for pool in self._pools.values())

    async def close(self) -> None:
        """Shut down every environment (SHUTDOWN), deliver the last logs, stop tasks."""
        if self._closed:
            return
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        pools = list(self._pools.values())
        self._pools.clear()
        await asyncio.gather(*(self._drop(pool) for pool in pools))
        while self._tasks:  # shutdowns started by invocations that just ended
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._backend.close()
        await self._shipper.close()
        if self._context is not None:
            await asyncio.to_thread(shutil.rmtree, self._context.python_packages, True)

    # -- internals -----------------------------------------------------------------

    async def _start(self) -> EnvironmentContext:
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._prepare())
        return await asyncio.shield(self._starting)

    async def _prepare(self) -> EnvironmentContext:
        work_dir = self.settings.work_dir.absolute()
        # Scratch left by a previous run that did not shut down cleanly.
        for name in ("environments", "opt", "runtime"):
            await asyncio.to_thread(shutil.rmtree, work_dir / name, True)
        packages = work_dir / "runtime" / f"python-{uuid.uuid4().hex[:12]}"
        await asyncio.to_thread(_link_python_packages, packages)
        self._shipper.start()
        self._context = EnvironmentContext(
            settings=self.settings,
            work_dir=work_dir,
            backend=self._backend,
            credentials=self._credentials,
            shipper=self._shipper,
            python_packages=packages,
            spawn=self._spawn,
        )
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return self._context

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("execution engine background task failed", exc_info=task.exception())

    async def _sweep(self) -> None:
        """Freeze idle environments, reclaim those idle past the keep-alive, drop unused pools.

        Freezing here rather than at each release keeps two signals per invocation off
        the hot path; an environment in steady use is frozen about once a second.
        """
        keep_alive = self.settings.keep_alive_s
        interval = min(max(keep_alive / 4, 0.05), 1.0)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for key, pool in list(self._pools.items()):
                for env in pool.expired(now, keep_alive):
                    self._spawn(env.shutdown("keep-alive expired"))
                pool.freeze_idle()
                if pool.unused and now - pool.empty_since >= keep_alive:
                    del self._pools[key]
                    self._spawn(self._drop(pool))


class DirectoryLeases:
    """How many pools use each code or layer directory, and what waits for none to.

    Counted per pool, not per environment: a pool's environments come and go, the
    directories stay while the pool does (a few minutes past its last environment).
    """

    def __init__(self) -> None:
        self._count: Counter[Path] = Counter()
        self._waiting: defaultdict[Path, list[Callable[[], None]]] = defaultdict(list)

    def hold(self, paths: Sequence[Path]) -> None:
        for path in paths:
            self._count[path] += 1

    def release(self, paths: Sequence[Path]) -> None:
        for path in paths:
            self._count[path] -= 1
            if self._count[path] <= 0:
                del self._count[path]
                for action in self._waiting.pop(path, ()):
                    _run_quietly(action, path)

    def in_use(self, path: Path) -> bool:
        return path.absolute() in self._count

    def after_last_use(self, path: Path, action: Callable[[], None]) -> None:
        path = path.absolute()
        if path in self._count:
            self._waiting[path].append(action)
        else:
            _run_quietly(action, path)


def _run_quietly(action: Callable[[], None], path: Path) -> None:
    try:
        action()
    except Exception:  # a failed clean-up must not break the pool that triggered it
        log.exception("clean-up of %s failed", path)


def _directories(spec: FunctionSpec) -> tuple[Path, ...]:
    return (spec.code_dir.absolute(), *(layer.absolute() for layer in spec.layer_dirs))


def _link_python_packages(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in PYTHON_RUNTIME_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        source = origin.parent if spec.submodule_search_locations else origin  # package: its dir
        with contextlib.suppress(FileExistsError):
            os.symlink(source, target / source.name)
