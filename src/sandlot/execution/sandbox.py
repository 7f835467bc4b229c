"""Sandbox backends: where an environment's runtime process lives.

The contract is deliberately small (after OpenLambda's): a backend *lays out* what the
function sees (its code, /opt, /tmp, as paths inside the sandbox), *creates* a sandbox
running one command, and a sandbox can be *frozen*, *thawed* and *destroyed*. Everything
about how a process is started stays behind it: the ``linux`` backend
(sandbox_linux.py: namespaces, cgroups, read-only code) slots in without touching the
environment or the pool.

The ``process`` backend here is portable and does not isolate: the runtime is a plain
child process in its own session (so its whole process group can be signalled), and
the function sees host paths. On Linux the Python runtime is forked by the zygote
(zygote.py) instead of started afresh; other runtimes are started with Popen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from sandlot.execution import network, zygote
from sandlot.execution.network import NetworkSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the function sees its files, as paths inside the sandbox."""

    task_root: str  # the deployment package (LAMBDA_TASK_ROOT, /var/task on AWS)
    opt: str  # the merged layers (/opt on AWS)
    tmp: str  # the writable scratch dir (/tmp on AWS)
    runtime_dir: str  # sandlot's runtime bootstraps (LAMBDA_RUNTIME_DIR, /var/runtime)
    python_packages: str  # the packages Lambda's Python runtime provides (boto3, …)
    node_modules: str = ""  # the AWS SDK for JavaScript the Node.js runtimes provide
    # Where the runtime's interpreter is shown (/var/lang/bin); "": at its host path.
    interpreter_dir: str = ""


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """What to run and with what: host paths plus the command as the sandbox sees it."""

    argv: tuple[str, ...]
    env: dict[str, str]
    code_dir: Path
    opt_dir: Path
    tmp_dir: Path
    runtime_dir: Path
    python_packages: Path
    output_fd: int  # the write end of the pipe that receives stdout and stderr
    memory_mb: int
    ephemeral_storage_mb: int
    layer_dirs: tuple[Path, ...] = ()  # what a merged opt_dir's symlinks point into
    runtime_prefix: str | None = None  # the interpreter's installation (shown at /var/lang)
    node_modules: Path | None = None  # the AWS SDK for JavaScript (Node.js runtimes)
    runtime_api_port: int = 0  # the environment's Runtime API on the host's 127.0.0.1
    # A container image's unpacked root, shown read-only as / (code_dir is then unused),
    # and the working directory there; only backends with ``runs_images`` take one.
    image_root: Path | None = None
    workdir: str = ""


class Sandbox(ABC):
    """One running runtime process (tree)."""

    pid: int
    # Another listening socket the Runtime API must serve (a spare sandbox's network
    # forwards there; see sandbox_linux.py), or None.
    runtime_api_listener: socket.socket | None = None

    @property
    @abstractmethod
    def exited(self) -> asyncio.Future[int]:
        """Resolves with the wait status as ``subprocess`` reports it (-N: signal N)."""

    @abstractmethod
    def freeze(self) -> None:
        """Stop every process of the sandbox (between invocations, as Lambda does)."""

    @abstractmethod
    def thaw(self) -> None:
        """Resume a frozen sandbox."""

    @abstractmethod
    def kill(self) -> None:
        """Start killing everything in the sandbox now, without waiting."""

    @abstractmethod
    def max_memory_mb(self) -> int:
        """Peak memory used so far, in MB (REPORT's "Max Memory Used")."""

    @abstractmethod
    async def destroy(self, reason: str) -> None:
        """Kill everything in the sandbox and reap it. Idempotent."""

    def tcp_socket(self) -> socket.socket:
        """A TCP socket in the sandbox's network (to reach a listener on its loopback)."""
        return network.tcp_socket_in(self.pid)


class SandboxBackend(ABC):
    """Creates sandboxes of one kind."""

    name: str

    @abstractmethod
    def layout(
        self,
        code_dir: Path,
        opt_dir: Path,
        tmp_dir: Path,
        runtime_dir: Path,
        python_packages: Path,
        node_modules: Path | None = None,
    ) -> Layout:
        """The in-sandbox paths for these host directories."""

    def layer_paths(self, layers: tuple[Path, ...]) -> tuple[str, ...]:
        """Where the sandbox shows each layer, for the merged /opt's links to point at."""
        return tuple(map(str, layers))

    def runtime_api_address(self, host_address: str) -> str:
        """AWS_LAMBDA_RUNTIME_API for a Runtime API listening at ``host_address``."""
        return host_address

    @property
    def isolates_network(self) -> bool:
        """Whether each sandbox has a network of its own (see network.py)."""
        return False

    @abstractmethod
    async def create(self, spec: SandboxSpec) -> Sandbox:
        """Start ``spec.argv``. Raises OSError if the command cannot be executed."""

    async def snapshot(self, spec: SandboxSpec) -> tuple[Sandbox, zygote.Template]:
        """Start a SnapStart template of ``spec`` (a Python runtime that serves restores
        once its INIT is done: ``Template.ready``). Raises SnapshotUnsupported."""
        raise SnapshotUnsupported(f"sandlot's {self.name} sandbox cannot snapshot functions")

    async def restore(self, template: zygote.Template, spec: SandboxSpec) -> Sandbox:
        """A restored environment: a fork of ``template`` with ``spec``'s variables,
        cwd and output."""
        raise SnapshotUnsupported(f"sandlot's {self.name} sandbox cannot restore snapshots")

    @abstractmethod
    async def close(self) -> None:
        """Release what the backend holds (after every sandbox is destroyed)."""


class SnapshotUnsupported(Exception):
    """This backend (or runtime) cannot make SnapStart snapshots; the message says why."""


class ProcessBackend(SandboxBackend):
    """A child process in its own session; no isolation, host paths."""

    name = "process"

    def __init__(self) -> None:
        self._lifeline: _Lifeline | None = None
        # One zygote per Python interpreter (runtime version); the server's own starts
        # now, importing while the server finishes starting, the others on first use.
        self._zygotes = zygote.Zygotes()
        if zygote.enabled():
            self._zygotes.get(zygote.PYTHON)

    @property
    def _zygote(self) -> zygote.Zygote | None:
        """The zygote of the server's own Python."""
        return self._zygotes.get(zygote.PYTHON) if zygote.enabled() else None

    def layout(
        self,
        code_dir: Path,
        opt_dir: Path,
        tmp_dir: Path,
        runtime_dir: Path,
        python_packages: Path,
        node_modules: Path | None = None,
    ) -> Layout:
        return Layout(
            str(code_dir),
            str(opt_dir),
            str(tmp_dir),
            str(runtime_dir),
            str(python_packages),
            str(node_modules or ""),
        )

    async def create(self, spec: SandboxSpec) -> Sandbox:
        lifeline = self._lifeline
        if lifeline is None:
            lifeline = self._lifeline = _Lifeline()
        if zygote.enabled() and zygote.forkable(spec.argv, spec.env, str(spec.runtime_dir)):
            return await self._fork(spec, lifeline)
        # Popen forks with vfork where it can: a few hundred microseconds, so it runs
        # inline rather than paying a thread hop.
        popen = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=spec.output_fd,
            stderr=spec.output_fd,
            cwd=spec.code_dir,
            env=spec.env,
            close_fds=True,
            start_new_session=True,  # own process group: signals reach the whole tree
            umask=zygote.FUNCTION_UMASK,
        )
        lifeline.watch(popen.pid)
        return ProcessSandbox(popen, lifeline)

    async def _fork(
        self,
        spec: SandboxSpec,
        lifeline: _Lifeline,
        kind: str = "process",
        template_fd: int | None = None,
        forker: zygote.Zygote | None = None,
    ) -> Sandbox:
        """The Python runtime, forked by its interpreter's zygote (no interpreter
        start-up), or by ``forker`` (a SnapStart template: a restore)."""
        header = {"kind": kind, "script": spec.argv[-1]}
        request = {"env": spec.env, "cwd": str(spec.code_dir)}
        sandbox: ProcessSandbox | None = None
        early: list[int] = []

        def on_exit(code: int) -> None:
            if sandbox is None:
                early.append(code)
            else:
                sandbox.reported_exit(code)

        forker = forker or self._zygotes.get(spec.argv[0])
        fds = [spec.output_fd] if template_fd is None else [spec.output_fd, template_fd]
        pid = await forker.fork(header, request, fds, on_exit)
        lifeline.watch(pid)  # it leads its own session: the reaper kills the group
        sandbox = ProcessSandbox(None, lifeline, pid)
        if early:
            sandbox.reported_exit(early[0])
        return sandbox

    async def snapshot(self, spec: SandboxSpec) -> tuple[Sandbox, zygote.Template]:
        if not (zygote.enabled() and zygote.forkable(spec.argv, spec.env, str(spec.runtime_dir))):
            raise SnapshotUnsupported(
                "sandlot makes SnapStart snapshots of Python runtimes forked by its zygote "
                "only (not of other runtimes; no "
                "AWS_LAMBDA_EXEC_WRAPPER, no PYTHON* variables but PYTHONPATH, "
                "PYTHONUNBUFFERED and PYTHONDONTWRITEBYTECODE, SANDLOT_ZYGOTE not 0)"
            )
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sandbox = await self._fork(spec, self._lifeline_now(), "snapshot", theirs.fileno())
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return sandbox, zygote.Template(ours)

    async def restore(self, template: zygote.Template, spec: SandboxSpec) -> Sandbox:
        return await self._fork(spec, self._lifeline_now(), forker=template)

    def _lifeline_now(self) -> _Lifeline:
        if self._lifeline is None:
            self._lifeline = _Lifeline()
        return self._lifeline

    async def close(self) -> None:
        await self._zygotes.close()
        if self._lifeline is not None:
            await self._lifeline.close()
            self._lifeline = None


class _Lifeline:
    """The reaper process (reaper.py) that kills the sandboxes if this server dies.

    Only this process holds the write end of the reaper's input, so the kernel closes
    it whenever this process ends, however it ends.
    """

    def __init__(self) -> None:
        read_fd, self._fd = os.pipe()  # non-inheritable: runtimes must not hold it
        try:
            self._process = subprocess.Popen(
                (sys.executable, "-S", str(Path(__file__).with_name("reaper.py"))),
                stdin=read_fd,
                stdout=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,
            )
        finally:
            os.close(read_fd)

    def _send(self, line: str) -> None:
        if self._fd < 0:
            return
        try:
            os.write(self._fd, line.encode())
        except OSError:  # the reaper is gone (killed by someone): nothing to tell it
            log.warning("the sandbox reaper has exited; sandboxes outlive a server crash")
            os.close(self._fd)
            self._fd = -1

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}\n")

    def forget(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")

    async def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # end of input: the reaper exits
            self._fd = -1
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(self._process.wait, 5)


class ProcessSandbox(Sandbox):
    """A process group led by the runtime process; exit noticed through a pidfd.

    Without ``popen`` the process is not the server's child (the zygote forked it):
    its parent reaps it and reports the status through ``reported_exit``.
    """

    def __init__(
        self, popen: subprocess.Popen | None, lifeline: _Lifeline, pid: int | None = None
    ) -> None:
        self._popen = popen
        self._lifeline = lifeline
        self.pid = popen.pid if popen is not None else pid  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._frozen = False
        # Kept open: re-reading it costs a few microseconds, opening it more.
        self._status_fd = -1
        with contextlib.suppress(OSError):
            self._status_fd = os.open(f"/proc/{self.pid}/status", os.O_RDONLY | os.O_CLOEXEC)
        self._pidfd = -1
        if popen is None:
            return
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            # No pidfd (old kernel, non-Linux): a dedicated thread blocks in waitpid.
            threading.Thread(target=self._wait_in_thread, daemon=True).start()
        else:
            self._loop.add_reader(self._pidfd, self._on_pidfd)

    @property
    def exited(self) -> asyncio.Future[int]:
        return self._exited

    def _on_pidfd(self) -> None:
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        # The leader is a zombie now, so its pid (the group id) cannot be reused yet:
        # kill what it left behind in the group, and drop the group from the reaper's
        # list, before reaping it.
        self._signal(signal.SIGKILL)
        self._lifeline.forget(self.pid)
        try:
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # reaped elsewhere (should not happen)
            code = -signal.SIGKILL
        self._finish(code)

    def _wait_in_thread(self) -> None:
        try:
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = -signal.SIGKILL
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self._loop.call_soon_threadsafe(self._finish_in_loop, code)

    def reported_exit(self, code: int) -> None:
        """The leader has ended with ``code`` and was reaped by its own parent."""
        self._signal(signal.SIGKILL)  # what it left behind in its group
        self._lifeline.forget(self.pid)
        self._finish(code)

    def _finish_in_loop(self, code: int) -> None:
        self._lifeline.forget(self.pid)
        self._finish(code)

    def _finish(self, code: int) -> None:
        if self._popen is not None:
            self._popen.returncode = code  # so Popen never tries to reap it again
        if self._status_fd >= 0:
            os.close(self._status_fd)
            self._status_fd = -1
        if not self._exited.done():
            self._exited.set_result(code)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def freeze(self) -> None:
        if not self._frozen and not self._exited.done():
            self._frozen = True
            self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self._frozen:
            self._frozen = False
            self._signal(signal.SIGCONT)

    def kill(self) -> None:
        if not self._exited.done():
            self._signal(signal.SIGKILL)  # a stopped process dies from SIGKILL too

    def max_memory_mb(self) -> int:
        """The runtime process's peak resident memory (VmHWM)."""
        if self._status_fd < 0:
            return 0
        try:
            status = os.pread(self._status_fd, 8192, 0)
        except OSError:
            return 0
        start = status.find(b"VmHWM:")
        if start < 0:  # a zombie has no memory figures
            return 0
        kb = int(status[start + 6 : status.index(b"kB", start)])
        return (kb + 1023) // 1024

    async def destroy(self, reason: str) -> None:
        log.debug("destroying sandbox of process %d: %s", self.pid, reason)
        self.kill()
        # SIGKILL cannot be ignored; the wait is bounded in case the process sits in
        # uninterruptible sleep (e.g. a hung network filesystem).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._exited), 5.0)


BACKENDS = ("process", "linux")


def resolve_backend(requested: str) -> tuple[str, str | None]:
    """(backend to use, warning or None) for ``requested``: ``process``, ``linux``, or
    ``auto`` — linux where it works, else process with a warning. Raises ValueError
    when ``linux`` was asked for and cannot work here, or for an unknown name."""
    if requested == "process":
        return "process", None
    if requested not in ("linux", "auto"):
        raise ValueError(f"unknown sandbox {requested!r} (choose auto, process or linux)")
    from sandlot.execution.sandbox_linux import linux_backend_available

    available, reason = linux_backend_available()
    if available:
        return "linux", None
    if requested == "linux":
        raise ValueError(f"refusing to start with --sandbox linux: {reason}")
    return "process", f"warning: Lambda functions run without isolation (process sandbox): {reason}"


def isolation(name: str) -> str:
    """How backend ``name`` isolates functions here (``/_sandlot/health``): ``none``
    (process), or the linux sandbox's mechanism, ``namespaces`` or ``bubblewrap``."""
    if name == "process":
        return "none"
    from sandlot.execution.sandbox_linux import linux_mechanism

    return linux_mechanism()[0] or "none"


def create_backend(name: str, net: NetworkSettings | None = None) -> SandboxBackend:
    """The backend called ``name`` (EngineSettings.sandbox); ``net``: how ``linux``
    connects its sandboxes (the process backend shares the host's network).

    Raises ``SandboxUnavailable`` (sandbox_linux.py) if ``linux`` cannot work here.
    """
    if name == "process":
        return ProcessBackend()
    if name == "linux":
        from sandlot.execution.sandbox_linux import LinuxBackend  # imports this module

        return LinuxBackend(net)
    raise ValueError(f"unknown sandbox backend {name!r} (available: {', '.join(BACKENDS)})")
