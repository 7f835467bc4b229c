"""Environments of one function version, and the concurrency limits across all of them.

``FunctionPool.acquire()`` hands out a warm idle environment (the most recently used,
so the others age out) or starts a new one; ``release()`` takes it back, or shuts it
down when it cannot be reused. ``provision(n)`` keeps ``n`` environments initialised
ahead of invocations (provisioned concurrency): they are started in the background,
handed out before any other, never reaped by the keep-alive, and replaced when they
die. Concurrency is counted in invocations in flight, as
Lambda counts it: a function with reserved concurrency may run that many at once across
all its versions, and all functions together at most the account's limit. Beyond a
limit an invocation is throttled at once; Lambda does not queue synchronous invokes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
import uuid
from collections import defaultdict, deque
from pathlib import Path

from sandlot.execution.api import FunctionSpec, Throttled
from sandlot.execution.environment import Environment, EnvironmentContext


class Concurrency:
    """Invocations in flight, per function and in total."""

    def __init__(self, account_limit: int) -> None:
        self.account_limit = account_limit
        self.total = 0
        self.by_function: defaultdict[tuple[str, str, str], int] = defaultdict(int)

    def reserve(self, spec: FunctionSpec) -> None:
        """Count one more invocation of ``spec``, or raise Throttled."""
        key = (spec.account_id, spec.region, spec.function_name)
        reserved = spec.reserved_concurrency
        if reserved is not None and self.by_function[key] >= reserved:
            raise Throttled("ReservedFunctionConcurrentInvocationLimitExceeded", "Rate Exceeded.")
        if self.total >= self.account_limit:
            raise Throttled("ConcurrentInvocationLimitExceeded", "Rate Exceeded.")
        self.by_function[key] += 1
        self.total += 1

    def free(self, spec: FunctionSpec) -> None:
        key = (spec.account_id, spec.region, spec.function_name)
        count = self.by_function[key] - 1
        if count:
            self.by_function[key] = count
        else:
            del self.by_function[key]
        self.total -= 1


class FunctionPool:
    """The environments of one function version (one ``FunctionSpec.pool_key``)."""

    def __init__(self, spec: FunctionSpec, context: EnvironmentContext, concurrency: Concurrency):
        self.spec = spec
        self._ctx = context
        self._concurrency = concurrency
        self._idle: deque[Environment] = deque()  # oldest idle on the left
        self.environments: set[Environment] = set()
        # Provisioned concurrency: the environments kept for it (starting, idle or busy),
        # those of them that finished INIT, and the idle ones.
        self.provisioned_target = 0
        self.provisioned: set[Environment] = set()
        self._allocated: set[Environment] = set()
        self._idle_provisioned: deque[Environment] = deque()
        self.provision_failure: str | None = None
        self._provisioning: asyncio.Task[None] | None = None
        self.busy = 0
        self.empty_since = time.monotonic()
        self._opt_dir: Path | None = None
        self._owns_opt_dir = False
        self._prepared: asyncio.Task[Path] | None = None
        # SnapStart: the version's template (initialised once; environments restore
        # from it), made by ``snapshot``.
        self._template: asyncio.Task[Environment] | None = None
        self._closed = False

    async def acquire(self, spec: FunctionSpec) -> Environment:
        """A warm idle environment, or a new one after its INIT. Raises Throttled.

        ``spec`` is the invoked function's current one: its reserved concurrency can
        change without changing the pool (PutFunctionConcurrency is not configuration).
        A new environment whose INIT failed is returned all the same: its first
        invocation reports the init error.
        """
        if self._closed:
            raise RuntimeError("the execution engine is closed")
        self._concurrency.reserve(spec)
        self.busy += 1
        try:
            idle = self._idle_provisioned
            while idle:  # provisioned environments first: no cold start
                env = idle.pop()
                if env.alive:
                    return env
            idle = self._idle
            while idle:
                env = idle.pop()
                if env.alive:
                    return env
            opt_dir = await self._prepare()
            template = await self.snapshot() if self.spec.snap_start else None
            env = Environment(self.spec, self._ctx, opt_dir, self._forget, restore_from=template)
            self.environments.add(env)
            try:
                await env.start()
            except BaseException:
                self._forget(env)
                raise
            return env
        except BaseException:
            self._done()
            raise

    def release(self, env: Environment, reusable: bool) -> None:
        """Take an environment back after an invocation."""
        self._done()
        if env.provisioned:
            if reusable and env.alive and len(self._allocated) <= self.provisioned_target:
                env.idle()
                self._idle_provisioned.append(env)
            else:  # gone, or surplus after a scale-down: released (and replaced if needed)
                self._forget(env)
                self._ctx.spawn(env.shutdown("not reusable"))
        elif reusable and env.alive:
            env.idle()
            self._idle.append(env)
        else:
            self._forget(env)
            self._ctx.spawn(env.shutdown("not reusable"))

    def _done(self) -> None:
        self._concurrency.free(self.spec)
        self.busy -= 1

    def _forget(self, env: Environment) -> None:
        self.environments.discard(env)
        if env in self._idle:
            self._idle.remove(env)
        if env.provisioned and env in self.provisioned:
            self.provisioned.discard(env)
            self._allocated.discard(env)
            if env in self._idle_provisioned:
                self._idle_provisioned.remove(env)
            self._provision()  # replace it
        if not self.environments:
            self.empty_since = time.monotonic()

    def expired(self, now: float, keep_alive_s: float) -> list[Environment]:
        """Remove and return the environments idle for longer than the keep-alive."""
        expired = []
        idle = self._idle
        while idle and now - idle[0].idle_since >= keep_alive_s:
            env = idle.popleft()
            self._forget(env)
            expired.append(env)
        return expired

    def freeze_idle(self) -> None:
        """Freeze the idle environments (the sweeper does it, off the invoke path)."""
        for env in self._idle:
            env.freeze()
        for env in self._idle_provisioned:
            env.freeze()

    @property
    def unused(self) -> bool:
        return not self.environments and self.busy == 0 and self.provisioned_target == 0

    # -- provisioned concurrency -----------------------------------------------------

    @property
    def allocated(self) -> int:
        """Provisioned environments that finished INIT and are alive (idle or busy)."""
        return len(self._allocated)

    @property
    def provisioned_busy(self) -> int:
        """Provisioned environments running an invocation now."""
        return len(self._allocated) - len(self._idle_provisioned)

    def provision(self, count: int, *, retry: bool = False) -> None:
        """Keep ``count`` environments initialised; 0 releases them.

        A failed INIT stops provisioning (``provision_failure``) until the count changes
        or ``retry`` asks again.
        """
        if count != self.provisioned_target or retry:
            self.provision_failure = None
        self.provisioned_target = count
        surplus = len(self.provisioned) - count
        while surplus > 0 and self._idle_provisioned:  # busy ones go at their release
            env = self._idle_provisioned.popleft()
            self._forget(env)
            self._ctx.spawn(env.shutdown("provisioned concurrency released"))
            surplus -= 1
        self._provision()

    def _provision(self) -> None:
        if self._closed or self.provision_failure is not None:
            return
        if len(self.provisioned) >= self.provisioned_target:
            return
        if self._provisioning is not None and not self._provisioning.done():
            return  # the running task looks again before it ends
        self._provisioning = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        while not self._closed and self.provision_failure is None:
            missing = self.provisioned_target - len(self.provisioned)
            if missing <= 0:
                return
            opt_dir = await self._prepare()
            if self._closed:
                return
            template = await self.snapshot() if self.spec.snap_start else None
            envs = [
                Environment(
                    self.spec,
                    self._ctx,
                    opt_dir,
                    self._forget,
                    provisioned=True,
                    restore_from=template,
                )
                for _ in range(missing)
            ]
            for env in envs:
                self.environments.add(env)
                self.provisioned.add(env)
            await asyncio.gather(*(self._start_provisioned(env) for env in envs))

    async def _start_provisioned(self, env: Environment) -> None:
        try:
            await env.start()
        except Exception as exc:  # the platform could not start it at all
            self.provision_failure = f"sandlot could not start an environment: {exc}"
            self._forget(env)
            return
        if self._closed:
            return  # close() shuts it down
        if env.init_failed or not env.alive:
            # Lambda's reason when the function's INIT fails for provisioned concurrency.
            self.provision_failure = "FUNCTION_ERROR_INIT_FAILURE"
            self._forget(env)
            self._ctx.spawn(env.shutdown("init failed"))
        elif env not in self.provisioned or len(self._allocated) >= self.provisioned_target:
            self._forget(env)  # scaled down (or released) while it started
            self._ctx.spawn(env.shutdown("provisioned concurrency released"))
        else:
            env.idle()
            self._allocated.add(env)
            self._idle_provisioned.append(env)

    async def snapshot(self) -> Environment:
        """SnapStart: the version's template, INIT done (or failed); made on first
        use, and again if its runtime has died since."""
        task = self._template
        if task is not None and task.done() and not task.cancelled() and not task.exception():
            template = task.result()
            if not (template.alive or template.init_failed):
                self._ctx.spawn(template.shutdown("the snapshot's runtime ended"))
                task = None
        elif task is not None and task.done():
            task = None
        if task is None:
            task = self._template = asyncio.get_running_loop().create_task(self._snapshot())
        return await asyncio.shield(task)

    @property
    def snapshot_state(self) -> str | None:
        """SnapStart: "Pending" while the template initialises, "Active" once it is
        ready, "Failed" if its INIT failed; None if none was asked for."""
        task = self._template
        if task is None:
            return None
        if not task.done():
            return "Pending"
        if task.cancelled() or task.exception() is not None or task.result().init_failed:
            return "Failed"
        return "Active"

    @property
    def snapshot_failure(self) -> tuple[str, str] | None:
        """SnapStart: (StateReasonCode, StateReason) of a Failed template: its INIT
        failed (FunctionError), or sandlot cannot snapshot this runtime here
        (InvalidRuntime, saying why); None otherwise."""
        task = self._template
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        failure = task.result().init_failure
        if failure is None:
            return None
        if failure.error_type == "SnapStartException":
            return "InvalidRuntime", failure.payload.decode(errors="replace")
        return "FunctionError", "The function's INIT failed while its snapshot was made."

    async def _snapshot(self) -> Environment:
        opt_dir = await self._prepare()
        template = Environment(self.spec, self._ctx, opt_dir, lambda env: None, snapshot=True)
        await template.start()
        if self._closed:
            await template.shutdown("pool closed")
        return template

    async def _prepare(self) -> Path:
        """The /opt every environment of this pool sees (built once, shared)."""
        if self._opt_dir is not None:
            return self._opt_dir
        if self._prepared is None:
            self._prepared = asyncio.get_running_loop().create_task(self._merge_layers())
        return await asyncio.shield(self._prepared)

    async def _merge_layers(self) -> Path:
        layers = self.spec.layer_dirs
        work_dir = self._ctx.work_dir
        if not layers:
            opt_dir = work_dir / "opt" / "empty"
            opt_dir.mkdir(parents=True, exist_ok=True)
        elif len(layers) == 1:
            opt_dir = layers[0].absolute()
        else:
            opt_dir = work_dir / "opt" / uuid.uuid4().hex
            layers = tuple(p.absolute() for p in layers)
            # The links point where the sandbox shows each layer (host paths for the
            # process backend; the linux backend binds them elsewhere).
            seen_at = self._ctx.backend.layer_paths(layers)
            await asyncio.to_thread(merge_layers, layers, opt_dir, seen_at)
            self._owns_opt_dir = True
        self._opt_dir = opt_dir
        return opt_dir

    async def close(self) -> None:
        """Shut every environment down and remove the merged layers."""
        self._closed = True
        if self._provisioning is not None:
            self._provisioning.cancel()
            await asyncio.gather(self._provisioning, return_exceptions=True)
        envs = list(self.environments)
        self._idle.clear()
        self._idle_provisioned.clear()
        self.provisioned.clear()
        self._allocated.clear()
        self.environments.clear()
        if self._template is not None:  # the restored environments die with it
            self._template.cancel()  # an INIT still running is abandoned (then shut down)
            template = await asyncio.gather(self._template, return_exceptions=True)
            if isinstance(template[0], Environment):
                envs.append(template[0])
        await asyncio.gather(*(env.shutdown("pool closed") for env in envs))
        if self._prepared is not None and not self._prepared.done():
            with contextlib.suppress(Exception):
                await self._prepared  # merging the layers: let it finish, then remove them
        if self._owns_opt_dir and self._opt_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._opt_dir, True)
            self._opt_dir = None


def merge_layers(
    layers: tuple[Path, ...], target: Path, seen_at: tuple[str, ...] | None = None
) -> None:
    """Merge layer directories, later layers winning, into a tree of symlinks.

    Lambda extracts layers into /opt in order, each overwriting the files of the ones
    before; linking instead of copying makes this cheap for large layers. The links
    point into ``seen_at`` (where each layer is visible to the function; by default
    the layers' own paths).
    """
    target.mkdir(parents=True, exist_ok=True)
    for layer, shown in zip(layers, seen_at or tuple(map(str, layers)), strict=True):
        for root, dirs, files in os.walk(layer):
            relative = os.path.relpath(root, layer)
            dest_root = target if relative == "." else target / relative
            link_root = shown if relative == "." else os.path.join(shown, relative)
            for name in dirs:
                source = os.path.join(root, name)
                dest = dest_root / name
                if os.path.islink(source):  # os.walk does not descend into these
                    _replace(dest)
                    os.symlink(os.path.join(link_root, name), dest)
                elif dest.is_symlink() or (dest.exists() and not dest.is_dir()):
                    dest.unlink()
                    dest.mkdir()
                else:
                    dest.mkdir(exist_ok=True)
            for name in files:
                dest = dest_root / name
                _replace(dest)
                os.symlink(os.path.join(link_root, name), dest)


def _replace(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
