"""The server's side of the Python zygote (zygote_process.py): start it, ask it to fork.

A sandbox backend owns one ``Zygote``. The zygote process is started when the backend
is made (it imports in the background while the server starts) and again whenever it
has died; requests go over a SOCK_SEQPACKET socket pair, one message each, with the
environment's file descriptors (its output pipe, its cgroups' ``cgroup.procs``)
passed along (SCM_RIGHTS). The zygote is the parent of what it forks, so it reports
each child's exit status on the same socket; ``fork`` takes the callback that
receives it. If the zygote dies, every environment it forked dies with it
(PR_SET_PDEATHSIG) and each callback gets ``-SIGKILL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).with_name("zygote_process.py")
# As runtimes.PYTHON (not imported: runtimes imports sandbox, which imports this).
PYTHON = os.path.realpath(sys.executable)
# Variables of the runtime's interpreter that the zygote honours after its start-up;
# any other PYTHON* variable needs a real interpreter start (the backend's exec path).
FORKABLE_PYTHON_VARIABLES = frozenset({"PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"})


# Runtimes start with a Linux process's usual umask, not the server's 077 (which keeps
# the data dir private): files a function writes are 0644, as a Linux process's are.
FUNCTION_UMASK = 0o022


def enabled() -> bool:
    """Whether backends use a zygote (``SANDLOT_ZYGOTE=0`` turns it off, e.g. to compare)."""
    return sys.platform.startswith("linux") and os.environ.get("SANDLOT_ZYGOTE", "1") != "0"


def forkable(argv: tuple[str, ...], env: dict[str, str], runtime_dir: str) -> bool:
    """Whether ``argv`` is exactly the Python bootstrap's launch on some interpreter (no
    wrapper, no custom runtime) with nothing in ``env`` that only an interpreter start
    would apply. The interpreter's own zygote forks it (``Zygotes.get(argv[0])``)."""
    if argv[1:] != ("-S", "-u", f"{runtime_dir}/python_bootstrap.py"):
        return False
    return not any(
        name.startswith("PYTHON") and name not in FORKABLE_PYTHON_VARIABLES for name in env
    )


class ZygoteError(OSError):
    """The zygote could not fork the environment."""


class Zygote:
    def __init__(self, python: str = PYTHON, title: tuple[str, ...] = ()) -> None:
        """The zygote of the interpreter ``python``; ``title``: the command line its
        processes show (``/proc/<pid>/cmdline``) instead of the zygote's own."""
        self.python = python
        self.title = title
        self._process: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._replies: deque[tuple[asyncio.Future[int], Callable[[int], None]]] = deque()
        self._watchers: dict[int, Callable[[int], None]] = {}
        self.starts = 0  # how many zygote processes were started (restarts included)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the zygote process if none is running (does not wait for it)."""
        if self._sock is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # Nothing of the host's: a sandbox's init and runtime inherit this block
            # (/proc/1/environ); the runtime's own variables come with each request.
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": ":UTC"}
            argv = [self.python, "-S", "-u", str(SCRIPT), str(os.getpid()), str(theirs.fileno())]
            if self.title:
                argv.append(json.dumps(self.title))
            # Started from the thread that runs the event loop: PR_SET_PDEATHSIG follows
            # the thread that forked it, and this one lives as long as the server.
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                cwd="/",
                env=env,
                close_fds=True,
                start_new_session=True,
                umask=FUNCTION_UMASK,  # what its forks, the runtimes, start with
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self._loop = None
        self.starts += 1

    def _attach(self) -> socket.socket:
        self.start()
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._sock.fileno())
            loop.add_reader(self._sock.fileno(), self._on_readable)
            self._loop = loop
        return self._sock

    async def fork(
        self, header: dict, request: dict, fds: list[int], on_exit: Callable[[int], None]
    ) -> int:
        """Fork an environment; its pid. ``on_exit(code)`` is called when it ends.

        ``header`` is for the zygote (what to fork); ``request`` — the function's
        variables with its credentials, its paths — goes through a pipe that only the
        forked child reads, so no function's secrets enter the zygote's memory, which
        every later environment inherits. ``fds``: the output pipe, then the cgroups'.
        """
        sock = self._attach()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        data = json.dumps({"op": "fork", **header}).encode()
        request_fd = request_pipe(json.dumps(request).encode())
        fds = [fds[0], request_fd, *fds[1:]]
        try:
            return await self._send_fork(sock, data, fds, future, on_exit)
        finally:
            os.close(request_fd)

    async def _send_fork(
        self,
        sock: socket.socket,
        data: bytes,
        fds: list[int],
        future: asyncio.Future[int],
        on_exit: Callable[[int], None],
    ) -> int:
        try:
            while True:
                try:
                    socket.send_fds(sock, [data], fds)
                    break
                except BlockingIOError:  # a burst of requests: wait until it reads
                    await self._writable(sock)
                    if self._sock is not sock:
                        raise ZygoteError(0, "the zygote died") from None
        except ZygoteError:
            raise
        except OSError as exc:
            self._lost(f"cannot reach the zygote: {exc}")
            raise ZygoteError(exc.errno, f"cannot reach the zygote: {exc.strerror}") from None
        self._replies.append((future, on_exit))
        return await future

    async def _writable(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = sock.fileno()
        loop.add_writer(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await asyncio.wait_for(ready, 1.0)
        except TimeoutError:
            pass
        finally:
            with contextlib.suppress(Exception):
                loop.remove_writer(fd)

    def post(self, request: dict, fds: list[int]) -> bool:
        """Send a request that has no reply (a spare sandbox to make); False if the
        zygote cannot be reached."""
        self.start()
        assert self._sock is not None
        try:
            socket.send_fds(self._sock, [json.dumps(request).encode()], fds)
        except OSError:
            return False
        return True

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._lost(str(exc))
                return
            if not data:
                self._lost("the zygote exited")
                return
            self._dispatch(json.loads(data))

    def _dispatch(self, message: dict) -> None:
        if "exit" in message:
            callback = self._watchers.pop(message["exit"], None)
            if callback is not None:
                callback(message["code"])
        elif "pid" in message or "error" in message:
            future, on_exit = self._replies.popleft()
            if "error" in message:
                if not future.done():
                    future.set_exception(ZygoteError(0, message["error"]))
                return
            pid = message["pid"]
            if future.done():  # the caller gave up (cancelled): nobody will use it
                self._kill(pid)
                self._watchers[pid] = lambda code: None
            else:
                self._watchers[pid] = on_exit
                future.set_result(pid)

    def _lost(self, reason: str) -> None:
        """The zygote is gone: fail what waits on it; the next fork starts another."""
        sock, self._sock = self._sock, None
        if sock is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(sock.fileno())
            sock.close()
        self._loop = None
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(OSError):
                process.kill()
            threading_wait(process)
            log.warning(
                "the Python zygote (pid %d) is gone (%s); restarting it", process.pid, reason
            )
        replies, self._replies = self._replies, deque()
        for future, _ in replies:
            if not future.done():
                future.set_exception(ZygoteError(0, f"the zygote died: {reason}"))
        watchers, self._watchers = self._watchers, {}
        for pid, callback in watchers.items():
            self._kill(pid)
            callback(-signal.SIGKILL)

    def _kill(self, pid: int) -> None:
        """Kill the process group of ``pid``, one of this zygote's children."""
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)

    async def close(self) -> None:
        """Stop the zygote (its children, if any are left, die with it)."""
        sock, self._sock = self._sock, None
        process, self._process = self._process, None
        if sock is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(sock.fileno())
            sock.close()  # end of input: the zygote exits
        self._loop = None
        if process is not None:
            try:
                await asyncio.to_thread(process.wait, 5)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)


class Template(Zygote):
    """A SnapStart snapshot (zygote_process.Template): a runtime that has run its
    function's INIT and forks restored environments, spoken to as a zygote is.
    Made by forking the interpreter's zygote with ``kind: snapshot``; ``ready``
    resolves when INIT is done: None, or INIT's error document (the runtime exits)."""

    def __init__(self, sock: socket.socket, namespaced: bool = False) -> None:
        """``namespaced``: the template runs in a linux sandbox, so the pids it reports
        are those of its PID namespace, never to be signalled from here (its restores
        die with it, and are killed by their cgroups and host pids)."""
        super().__init__()
        self.namespaced = namespaced
        sock.setblocking(False)
        self._sock = sock
        self.ready: asyncio.Future[dict | None] = asyncio.get_running_loop().create_future()
        self._attach()

    def start(self) -> None:
        if self._sock is None:
            raise ZygoteError(0, "the snapshot is gone")

    def _dispatch(self, message: dict) -> None:
        if "ready" in message or "failed" in message:
            if not self.ready.done():
                self.ready.set_result(message.get("failed"))
            return
        super()._dispatch(message)

    def _lost(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ZygoteError(0, f"the snapshot's runtime ended: {reason}"))
        super()._lost(reason)

    @property
    def alive(self) -> bool:
        return self._sock is not None

    def _kill(self, pid: int) -> None:
        if not self.namespaced:
            super()._kill(pid)


class Zygotes:
    """A backend's zygotes, one per Python interpreter, each started on first use."""

    def __init__(self, title: Callable[[str], tuple[str, ...]] | None = None) -> None:
        self._title = title
        self._zygotes: dict[str, Zygote] = {}

    def get(self, python: str) -> Zygote:
        found = self._zygotes.get(python)
        if found is None:
            title = self._title(python) if self._title is not None else ()
            found = self._zygotes[python] = Zygote(python, title)
            found.start()
        return found

    def __iter__(self):
        return iter(list(self._zygotes.values()))

    async def close(self) -> None:
        zygotes = list(self._zygotes.values())
        self._zygotes.clear()
        await asyncio.gather(*(z.close() for z in zygotes))


async def peer_pid(sock: socket.socket, timeout: float) -> int:
    """The pid, in this process's PID namespace, of the process that sends the next
    message on ``sock``, which must be "hello" (SO_PASSCRED set before: the kernel
    attaches and translates the sender's credentials). Raises OSError if the peer
    closes, is silent, or says what went wrong instead."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    deadline = loop.time() + timeout
    while True:
        try:
            data, ancillary, _, _ = sock.recvmsg(64, socket.CMSG_SPACE(12))
        except (BlockingIOError, InterruptedError):
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(sock.fileno(), _resolve, ready)
            try:
                await asyncio.wait_for(ready, max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise OSError(0, "the restore did not start in time") from None
            finally:
                loop.remove_reader(sock.fileno())
            continue
        if not data:
            raise OSError(0, "the restore ended before its sandbox was made")
        if data != b"hello":
            raise OSError(0, data.decode(errors="replace"))
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                return int.from_bytes(value[:4], sys.byteorder, signed=True)
        raise OSError(0, "the restore's hello came without credentials")


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def request_pipe(data: bytes) -> int:
    """The read end of a pipe holding ``data`` (written whole, then closed)."""
    read_fd, write_fd = os.pipe()
    try:
        if len(data) > 65536:  # more than a default pipe holds
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, len(data))
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return read_fd


def threading_wait(process: subprocess.Popen) -> None:
    """Reap a killed zygote without blocking the event loop."""
    import threading

    threading.Thread(target=process.wait, daemon=True).start()
