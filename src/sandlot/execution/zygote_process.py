"""The Python zygote: a pre-initialised interpreter that forks execution environments.

Started by the sandbox backends (zygote.py) as ``python -S -u zygote_process.py``, a
clean process of its own (never a fork of the server, so it holds none of the
platform's state or secrets), with one end of a SOCK_SEQPACKET socket pair (its fd number and the server's pid
are the arguments).
It imports sandlot's Python bootstrap (compiled once) and the standard-library
modules the bootstrap and typical handlers use, then serves requests:

    {"op": "fork", "kind": "process"|"linux", ...}
        + fds [output pipe, request pipe, cgroup.procs…]  → {"pid": N} (or {"error": "…"})
    later, when that child ends: {"exit": N, "code": C}  (C as subprocess reports it)

``process``: the child is the runtime itself (own session, the function's variables,
stdout/stderr on the output pipe, its code as cwd), which runs the bootstrap in
process — no exec, no interpreter start-up.

``linux``: the child joins its cgroups, unshares user, mount, PID, IPC, UTS and cgroup
namespaces (mapping itself to Lambda's uid 993/gid 990) and forks the namespace's
init, which builds the sandbox's root (the layout sandbox_linux.py documents),
pivots into it, drops every capability, sets no-new-privileges and forks the runtime
(PID 2). init exits with the runtime's status (128+N for signal N, as bwrap does) and
the child with init's; with init, the kernel ends every process of the namespace.

A SnapStart template (``Template``) serves the same ``fork`` request: ``process``
restores are forks of it; ``linux`` ones (``_restore_sandbox``) make new namespaces,
/dev, /tmp and /proc inside the template's sandbox, say hello (their pid reaches the
server through SCM_CREDENTIALS) and wait for their variables and output.

The zygote dies with the server (PR_SET_PDEATHSIG, and end of input on its socket);
its children die with it (PR_SET_PDEATHSIG again), so nothing outlives a ``kill -9``.
Only the standard library: this file runs outside sandlot's package.
"""

# The modules marked noqa are what the bootstrap and typical handlers import: paid
# once here, not per environment (site: the bootstrap's exit()/quit(); with -S its
# import does nothing else). Not logging, nor anything that imports threading: with
# threading loaded, every process a function forks dirties ~0.5 MB more at fork
# (measured: 575 kB against 160 kB), which a fork bomb turns into an OOM kill
# before the pids limit.
import base64  # noqa: F401
import contextlib
import ctypes
import datetime  # noqa: F401
import decimal  # noqa: F401
import gc
import hashlib  # noqa: F401
import hmac  # noqa: F401
import http.client  # noqa: F401
import importlib  # noqa: F401
import importlib.util  # noqa: F401
import json
import os
import re  # noqa: F401
import selectors
import signal
import site  # noqa: F401
import socket
import sys
import time
import traceback  # noqa: F401
import types
import urllib.parse  # noqa: F401
import urllib.request  # noqa: F401
import uuid  # noqa: F401

MAX_MESSAGE = 1 << 20

# <linux/sched.h>, <sys/mount.h>, <linux/prctl.h>, <linux/capability.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
PR_SET_CHILD_SUBREAPER = 36
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capset": 126},
    "aarch64": {"pivot_root": 41, "capset": 91},
}
# statvfs flags a user namespace's bind mount must keep (the kernel locks them).
_LOCKED = (
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME),
    (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
_libc.unshare.argtypes = (ctypes.c_int,)
_libc.prctl.argtypes = (
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
)
_libc.syscall.restype = ctypes.c_long


def _check(result, what):
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")
    return result


def _prctl(option, arg=0):
    return _check(_libc.prctl(option, arg, 0, 0, 0), f"prctl({option})")


def _mount(source, target, fstype, flags, data=None):
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(
        _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)),
        f"mount {source or fstype} on {target}",
    )


def _syscall(name, *args):
    number = _SYSCALLS[os.uname().machine][name]
    return _check(_libc.syscall(number, *args), name)


class Zygote:
    def __init__(self, control):
        self.control = control
        self.selector = selectors.DefaultSelector()
        self.children = set()
        self.wakeup_r, self.wakeup_w = socket.socketpair()
        self.wakeup_r.setblocking(False)
        self.wakeup_w.setblocking(False)
        signal.set_wakeup_fd(self.wakeup_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(control, selectors.EVENT_READ, "control")
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, "wakeup")
        self.bootstrap = {}  # in-sandbox path of python_bootstrap.py → code object
        self.host_runtime_dir = os.path.dirname(os.path.abspath(__file__)) + "/runtimes"
        self.base_path = list(sys.path[1:])  # the standard library (with -S: no site)
        self._submounts = {}  # of the spares' binds, which are always the same
        self.spare = None  # (pid, socket) of a linux sandbox made ahead of time

    def code_for(self, script):
        code = self.bootstrap.get(script)
        if code is None:
            with open(f"{self.host_runtime_dir}/python_bootstrap.py", "rb") as f:
                code = compile(f.read(), script, "exec")  # named as the sandbox shows it
            self.bootstrap[script] = code
        return code

    def serve(self):
        self.send({"ready": os.getpid()})
        gc.freeze()  # what exists now is shared with every child: GC must not touch it
        while True:
            for key, _ in self.selector.select():
                if key.data == "wakeup":
                    while True:
                        try:
                            if not self.wakeup_r.recv(512):
                                break
                        except BlockingIOError:
                            break
                    self.reap()
                elif not self.receive():
                    return

    def send(self, message, fds=()):
        data = json.dumps(message).encode()
        if fds:
            socket.send_fds(self.control, [data], list(fds))
        else:
            self.control.send(data)

    def receive(self):
        try:
            data, fds, _, _ = socket.recv_fds(self.control, MAX_MESSAGE, 64)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not data:
            return False  # the server is gone
        try:
            request = json.loads(data)
            if request.get("op") == "spare":  # no reply: a spare that fails is not used
                try:
                    self._submounts = _submounts_of(request["binds"])
                    self.make_spare(request, fds)
                except Exception as exc:
                    _report(2, exc)
            else:  # "fork": each gets exactly one reply, in order
                try:
                    reply = {"pid": self.fork(request, fds)}
                except Exception as exc:  # a bad request must not end the zygote
                    reply = {"error": f"{type(exc).__name__}: {exc}"}
                self.send(reply)
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.children:  # others are orphans adopted as subreaper
                self.children.discard(pid)
                if self.spare is not None and self.spare[0] == pid:
                    self.spare[1].close()
                    self.spare = None
                self.send({"exit": pid, "code": os.waitstatus_to_exitcode(status)})

    def fork(self, header, fds):
        """Fork an environment; its pid (the runtime's, or the sandbox's outer process).

        ``fds``: the output pipe, the request pipe, the cgroups' ``cgroup.procs``. The
        function's own request (its variables, credentials included) comes through the
        request pipe, read only by the child: it never enters the zygote's memory, of
        which every later environment gets a copy.
        """
        code = self.code_for(header["script"]) if not header.get("exec") else None
        if header["kind"] == "linux" and header.get("spare") and self.spare is not None:
            pid, channel = self.spare
            self.spare = None
            try:
                socket.send_fds(channel, [json.dumps(header).encode()], fds[:2])
                return pid
            except OSError:
                pass  # the spare died: make the sandbox from scratch
            finally:
                channel.close()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                self.leave_zygote()
                request = _load_request(header, fds[1])
                if request["kind"] == "snapshot":  # fds[2]: the template's own socket
                    status = self.process_child(request, fds[0], [], code, fds[2])
                elif request["kind"] == "process":
                    status = self.process_child(request, fds[0], fds[2:], code)
                elif request.get("snapshot"):  # a linux template: its socket comes last
                    status = self.sandbox_parent(request, fds[2:-1], None, request, fds[0], fds[-1])
                else:
                    status = self.sandbox_parent(request, fds[2:], None, request, fds[0])
            except BaseException as exc:
                _report(fds[0], exc)
            finally:
                os._exit(status)
        self.children.add(pid)
        return pid

    def make_spare(self, base, fds):
        """Fork a ``linux`` sandbox ahead of time, as far as nothing of the function is
        needed: in its cgroups (``fds``), namespaces made, root built but for the
        function's own binds; its init then waits for a fork request."""
        if self.spare is not None:
            old_pid, channel = self.spare
            channel.close()  # end of input: the unused spare exits
        self.code_for(base["script"])
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                ours.close()
                self.leave_zygote()
                status = self.sandbox_parent(base, fds, theirs, None, -1)
            finally:
                os._exit(status)
        theirs.close()
        self.children.add(pid)
        self.spare = (pid, ours)

    def leave_zygote(self):
        """In a child: forget the zygote's sockets, handlers and parent."""
        signal.set_wakeup_fd(-1)
        self.selector.close()
        self.control.close()
        self.wakeup_r.close()
        self.wakeup_w.close()
        if self.spare is not None:
            self.spare[1].close()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the zygote died between fork and prctl
            os._exit(1)

    def process_child(self, request, output, other_fds, code, template=None):
        """``process``: the runtime itself, in its own session. ``template`` (the
        ``snapshot`` kind): the socket on which, once the function is initialised, the
        runtime serves restores as a template (SnapStart; see Template)."""
        os.setsid()
        _stdio(output)
        for fd in other_fds:
            os.close(fd)
        return _run_runtime(request, code, self.base_path, template)

    def sandbox_parent(self, base, cgroup_fds, channel, request, output, template=None):
        """``linux``: the sandbox's outer process. Joins the cgroups, makes the
        namespaces and waits for their init; exits with init's status. ``template``: a
        SnapStart template's socket, for its runtime (see Template)."""
        os.setsid()
        net = base.get("net")  # its own network namespace, connected by pasta
        if net:  # forked before the cgroups are joined: pasta is not the function's
            go, helper = _network_helper(net["argv"])
        for fd in cgroup_fds:  # every process of the sandbox is born in its cgroups
            os.write(fd, b"0")
            os.close(fd)
        uid, gid = os.geteuid(), os.getegid()
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
        flags |= CLONE_NEWUSER if base["userns"] else 0
        flags |= CLONE_NEWNET if net else 0
        _check(_libc.unshare(flags), "unshare")
        with contextlib.suppress(OSError):  # optional, as bwrap's --unshare-cgroup-try
            _check(_libc.unshare(CLONE_NEWCGROUP), "unshare(cgroup)")
        if base["userns"]:
            _write_file("/proc/self/setgroups", "deny")
            _write_file("/proc/self/uid_map", f"{base['uid']} {uid} 1\n")
            _write_file("/proc/self/gid_map", f"{base['gid']} {gid} 1\n")
        if net:
            os.write(go, b"1")  # the namespaces exist: pasta may join them
            os.close(go)
            _wait_for_network(helper, net["ports"])
        init = os.fork()
        if init == 0:
            status = 1
            try:
                status = self.init(base, channel, request, output, template)
            except BaseException as exc:
                _report(output if output >= 0 else 2, exc)
            finally:
                os._exit(status)
        if channel is not None:
            channel.close()
        if output >= 0:
            os.close(output)
        if template is not None:
            os.close(template)
        return _wait_for(init)

    def init(self, base, channel, request, output, template=None):
        """PID 1 of the sandbox: build the root, drop privileges, run and wait for the runtime."""
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        root = base["root"]
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
        # /tmp first: binds of host paths under /tmp (a virtual environment) stay on top.
        tmp = root + "/tmp"
        _makedirs(tmp)
        _mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=1m")
        for link, target in base["symlinks"]:
            _makedirs(root + os.path.dirname(link))
            os.symlink(target, root + link)
        _bind(root, base["binds"], self._submounts or _submounts_of(base["binds"]))
        dev = root + "/dev"
        _makedirs(dev)
        _mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=0755")
        _make_dev(dev)
        proc = root + "/proc"
        _makedirs(proc)
        _mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        if channel is not None:  # a spare: wait for the function to run
            data, fds, _, _ = socket.recv_fds(channel, MAX_MESSAGE, 4)
            channel.close()
            if not data:
                return 0
            request, output = _load_request(json.loads(data), fds[1]), fds[0]
        code = self.code_for(request["script"]) if not request.get("exec") else None
        with contextlib.suppress(OSError, ValueError, IndexError):
            _retitle(request["argv"])  # PID 1 shows the runtime's command, as seen inside
        # The function's own: code, layers, runtime files, provided packages.
        _bind(root, request["task_binds"], _submounts_of(request["task_binds"]))
        _mount(None, tmp, None, MS_REMOUNT | MS_NOSUID | MS_NODEV, f"size={request['tmp_bytes']}")
        for name in request["dirs"]:
            _makedirs(root + name)
        os.chdir(root)
        _syscall("pivot_root", b".", b".")
        _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
        os.chdir("/")
        _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        socket.sethostname(base["hostname"])
        _drop_privileges()
        runtime = os.fork()
        if runtime == 0:
            status = 1
            try:
                _stdio(output)
                if request.get("exec"):
                    status = _exec_runtime(request)
                else:
                    status = _run_runtime(request, code, self.base_path, template)
            except BaseException as exc:
                _report(1, exc)
            finally:
                os._exit(status)
        os.close(output)
        if template is not None:
            os.close(template)
        return _reap_until(runtime)


class Restored(BaseException):
    """Raised in a child of a Template: unwinds its serving loop back into the
    bootstrap, which continues as the restored environment."""


class Template(Zygote):
    """A SnapStart snapshot: a runtime that has run its function's INIT (imported the
    handler, run the before-snapshot hooks) and now forks restored environments, as
    the zygote forks fresh ones. Each fork returns into the bootstrap, in the middle
    of its INIT, with the environment's own variables, cwd and output."""

    def fork(self, header, fds):
        pid = os.fork()
        if pid == 0:
            try:
                self.leave_zygote()
                request = _load_request(header, fds[1])  # closes fds[1]
                os.setsid()
                if request["kind"] == "linux":  # returns in the restore's runtime only
                    request = _restore_sandbox(request, fds[0])
                else:
                    _stdio(fds[0])  # closes fds[0]
                    for fd in fds[2:]:
                        os.close(fd)
                fds.clear()  # closed: the serving loop we unwind must not close them again
                os.chdir(request["cwd"])
                os.environ.clear()
                os.environ.update(request["env"])
                time.tzset()
            except BaseException as exc:
                _report(fds[0] if fds else 1, exc)
                os._exit(1)
            raise Restored()
        self.children.add(pid)
        return pid


def _restore_sandbox(request, hello):
    """A SnapStart restore in the ``linux`` sandbox, in this fork of the template (which
    runs in a sandbox of its own: the function's root, uid 993, no capabilities). As
    the sandbox's outer process: make new user (993 → 993), mount, PID, IPC, UTS and,
    with function networks, network namespaces; say hello on ``hello`` (the server
    reads this process's pid from the message's credentials, moves it into the
    restore's cgroups and connects its network) and wait for "go"; fork the restore's
    init, which gives it its own /dev, /tmp and /proc, drops every capability again
    and forks the runtime, which waits on ``hello`` for the invocation's variables
    and output: all of it is made ahead of time, as spares are. Returns in the
    runtime only (stdio on the output) with those variables and cwd; the outer
    process and init exit with the runtime's status, as a fresh sandbox's do."""
    null = os.open("/dev/null", os.O_RDWR)
    for target in (0, 1, 2):  # not the template's output
        os.dup2(null, target)
    os.close(null)
    net = request.get("net")
    channel = socket.socket(fileno=hello)
    try:
        uid, gid = os.geteuid(), os.getegid()
        flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
        _check(_libc.unshare(flags | (CLONE_NEWNET if net else 0)), "unshare")
        _write_file("/proc/self/setgroups", "deny")
        _write_file("/proc/self/uid_map", f"{uid} {uid} 1\n")
        _write_file("/proc/self/gid_map", f"{gid} {gid} 1\n")
        channel.send(b"hello")
        if channel.recv(16) != b"go":
            os._exit(1)  # the server let go of it
        with contextlib.suppress(OSError):  # in its own cgroups now: their root
            _check(_libc.unshare(CLONE_NEWCGROUP), "unshare(cgroup)")
        if net:
            _wait_for_network(None, net["ports"])
        init = os.fork()
    except BaseException as exc:
        with contextlib.suppress(OSError):
            channel.send(f"sandlot zygote: cannot make the restore: {exc!r}".encode())
        os._exit(1)
    if init != 0:
        channel.close()
        os._exit(_wait_for(init))
    try:  # PID 1 of the restore
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _restore_root(request["tmp_bytes"])
        _drop_privileges()  # a new user namespace starts with every capability
        runtime = os.fork()  # ahead of time too: a cold start pays no fork
    except BaseException as exc:
        with contextlib.suppress(OSError):
            channel.send(f"sandlot zygote: cannot make the restore: {exc!r}".encode())
        os._exit(1)
    if runtime != 0:
        channel.close()
        os._exit(_reap_until(runtime))
    output = -1
    try:  # the runtime: wait for the invocation's variables and output
        data, fds, _, _ = socket.recv_fds(channel, MAX_MESSAGE, 1)
        channel.close()
        if not data or not fds:
            os._exit(0)  # made ahead of time, never used
        output = fds[0]
        start = json.loads(data)
        _stdio(output)
    except BaseException as exc:
        if output >= 0:
            _report(output, exc)
        os._exit(1)
    return start


def _restore_root(tmp_bytes):
    """In a restore's init (new mount and PID namespaces, inside the template's root):
    a /dev, /tmp and /proc of its own, so restores share none of them with each other
    or with the template. Each new mount is first made on /proc (covered anyway) and
    moved into place, so what it must show of the old view (the devices; the host
    paths bound under /tmp) can still be bound into it."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", "/proc", "tmpfs", MS_NOSUID, "mode=0755")
    _make_dev("/proc")
    _mount("/proc", "/dev", None, MS_MOVE)
    with open("/proc/self/mountinfo") as f:  # still the template's proc: the old view
        points = [line.split(" ", 5)[4].replace("\\040", " ") for line in f]
    below = sorted(point for point in points if point.startswith("/tmp/"))
    _mount("tmpfs", "/proc", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={tmp_bytes}")
    # AWS's snapshot holds the environment's disk: what INIT wrote to /tmp is there.
    _copy_tree("/tmp", "/proc", {point for point in points if point.startswith("/tmp/")})
    for point in below:  # e.g. an interpreter's prefix under the host's /tmp, read-only
        inside = "/proc" + point[len("/tmp") :]
        if os.path.isdir(point):
            _makedirs(inside)
        else:
            _makedirs(os.path.dirname(inside))
            os.close(os.open(inside, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(point, inside, None, MS_BIND | MS_REC)
        with contextlib.suppress(OSError):
            flags = MS_BIND | MS_REMOUNT | MS_RDONLY | _locked_flags(point)
            _mount(None, inside, None, flags)
    _mount("/proc", "/tmp", None, MS_MOVE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _copy_tree(source, target, skip):
    """Copy the directory ``source``'s files, links and directories (with their modes)
    into ``target``, but not the mount points in ``skip``; links are not followed."""
    for entry in os.scandir(source):
        if entry.path in skip:
            continue
        inside = f"{target}/{entry.name}"
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), inside)
        elif entry.is_dir():
            os.mkdir(inside)
            _copy_tree(entry.path, inside, skip)
            os.chmod(inside, entry.stat().st_mode & 0o7777)
        elif entry.is_file():
            with open(entry.path, "rb") as src, open(inside, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            os.chmod(inside, entry.stat().st_mode & 0o7777)


def _make_dev(dev):
    """A minimal /dev in the tmpfs at ``dev``: the host's null, zero, … bound from the
    current /dev, the usual links, empty shm and pts."""
    for name in _DEVICES:
        path = f"{dev}/{name}"
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o666))
        _mount(f"/dev/{name}", path, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")):  # fmt: skip
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(f"{dev}/shm")
    os.mkdir(f"{dev}/pts")


def _wait_for(pid):
    """Wait for the child ``pid``; its status as the sandbox reports it (128+N: signal N)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _reap_until(runtime):
    """As a PID namespace's init: reap whatever is orphaned into the namespace; end
    with the runtime, with its status (128+N: signal N)."""
    while True:
        try:
            pid, status = os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            return 1
        if pid == runtime:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


def _snapshot_hook(control_fd):
    """The bootstrap's ``__sandlot_snapshot__``: called once INIT is done (``failure``:
    INIT's error document). Serves restores; returns in each restored child."""

    def snapshot(failure=None):
        control = socket.socket(fileno=control_fd)
        if failure is not None:
            control.send(json.dumps({"failed": failure}).encode())
            os._exit(1)
        template = Template(control)
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                template.serve()
        except Restored:
            return
        finally:
            signal.set_wakeup_fd(-1)
        os._exit(0)  # the server let go of the snapshot

    return snapshot


def _network_helper(argv):
    """Fork the process that becomes pasta once the sandbox's namespaces exist (a
    byte on the returned pipe); it stays outside them, in this process group, and
    dies with this process. (pipe, pid)."""
    go_r, go_w = os.pipe()
    outer = os.getpid()
    helper = os.fork()
    if helper == 0:
        try:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() == outer and os.read(go_r, 1) == b"1":
                # pasta refuses to start with SIGPIPE ignored (as Python leaves it).
                for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # no pipe, cgroup or channel
                argv = [arg.replace("%PID%", str(outer)) for arg in argv]
                os.execv(argv[0], argv)
        finally:
            os._exit(127)
    os.close(go_r)
    return go_w, helper


def _wait_for_network(helper, ports):
    """Until pasta has given this network namespace its default route and bound
    ``ports`` on its loopback (network.py's test, here from inside). ``helper``: the
    pid of pasta's process, if it is this one's child."""
    wanted = [f"0100007F:{port:04X} 00000000:0000 0A" for port in ports]
    deadline = time.monotonic() + 10
    while True:
        with open("/proc/self/net/route") as f:
            routes = f.read()
        with open("/proc/self/net/tcp") as f:
            tcp = f.read()
        if "\t00000000\t" in routes and all(entry in tcp for entry in wanted):
            return
        if helper is not None and os.waitpid(helper, os.WNOHANG)[0]:
            raise OSError("pasta exited before the sandbox's network was up")
        if time.monotonic() > deadline:
            raise TimeoutError("pasta did not set up the sandbox's network within 10 s")
        time.sleep(0.001)


def _bind(root, binds, submounts):
    """Bind ``(source, target, kind)`` under ``root``; read-only unless kind is "rw"."""
    for source, target, kind in binds:
        if kind == "ro-try" and not os.path.exists(source):
            continue
        inside = root + target
        if os.path.isdir(source):
            _makedirs(inside)
        else:
            _makedirs(os.path.dirname(inside))
            os.close(os.open(inside, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(source, inside, None, MS_BIND | MS_REC)
        if kind == "rw":
            continue
        _mount(None, inside, None, MS_BIND | MS_REMOUNT | MS_RDONLY | _locked_flags(source))
        for below in submounts.get(source, ()):  # a recursive bind's mounts stay writable
            with contextlib.suppress(OSError):
                sub = inside + below[len(source) :]
                _mount(None, sub, None, MS_BIND | MS_REMOUNT | MS_RDONLY | _locked_flags(below))


def _submounts_of(binds):
    """{source: mount points strictly below it} for ``binds`` (one read of mountinfo)."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split(" ", 5)[4].replace("\\040", " ") for line in f]
    found = {}
    for source, _, _ in binds:
        prefix = source.rstrip("/") + "/"
        below = [point for point in points if point.startswith(prefix)]
        if below:
            found[source] = below
    return found


def _load_request(header, fd):
    """The request: ``header`` plus what the server wrote into the pipe ``fd``."""
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return {**header, **json.loads(b"".join(chunks))}


def _write_file(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _makedirs(path):
    os.makedirs(path, 0o755, exist_ok=True)


def _locked_flags(path):
    flags = os.statvfs(path).f_flag
    return sum(ms for st, ms in _LOCKED if flags & st)


def _drop_privileges():
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        _prctl(PR_CAPBSET_DROP, cap)
    with contextlib.suppress(OSError):
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _syscall("capset", ctypes.byref(header), ctypes.byref(data))


def _stdio(output):
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(output, 1)
    os.dup2(output, 2)
    if output > 2:
        os.close(output)


def _report(fd, exc):
    """A sandbox that could not be made: one line in the function's log."""
    with contextlib.suppress(OSError):
        os.write(fd, f"sandlot zygote: cannot start the environment: {exc!r}\n".encode())


def _exec_runtime(request):
    """In the environment's runtime process: execute its command (Node.js, a custom
    runtime's bootstrap, a wrapper script) in the sandbox made here."""
    argv = request["argv"]
    os.chdir(request["cwd"])
    for sig in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):  # as a fresh process has them
        signal.signal(sig, signal.SIG_DFL)
    try:
        os.execve(argv[0], argv, request["env"])
    except OSError as exc:
        os.write(2, f"fork/exec {argv[0]}: {exc.strerror.lower()}\n".encode())
        return 127


def _run_runtime(request, code, base_path, template=None):
    """In the environment's runtime process: become ``python -S -u <script>`` and run it."""
    env = request["env"]
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(env)
    time.tzset()
    pythonpath = [p for p in env.get("PYTHONPATH", "").split(":") if p]
    script = request["script"]
    lang = request.get("lang")
    if lang:  # modules imported from now on come from where the sandbox shows them
        _as_installed(lang)
        host = lang["prefix"].rstrip("/") + "/"
        base_path = [lang["inside"] + p[len(host) - 1 :] if p.startswith(host) else p
                     for p in base_path]  # fmt: skip
    sys.path[:] = [os.path.dirname(script), *pythonpath, *base_path]
    sys.argv[:] = [script]
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    main = types.ModuleType("__main__")
    main.__file__ = script
    main.__builtins__ = __builtins__
    if template is not None:
        main.__sandlot_snapshot__ = _snapshot_hook(template)
    sys.modules["__main__"] = main
    try:
        exec(code, main.__dict__)
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code & 0xFF
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    return 0


def _retitle(title):
    """Show ``title`` (a command line) as this process's /proc/<pid>/cmdline, and so as
    that of every process forked from it (a sandbox's init and runtime): nothing of the
    host's paths. The argument area is rewritten in place, as setproctitle does."""
    with open("/proc/self/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49)
    data = "\0".join(title).encode()[: end - start - 1]
    ctypes.memmove(start, data + b"\0" * (end - start - len(data)), end - start)


def _as_installed(lang):
    """In a linux sandbox's runtime: the interpreter's installation is shown at
    ``lang["inside"]`` (/var/lang), as Lambda's is; point sys's view of it there."""
    host, inside = lang["prefix"], lang["inside"]
    sys.executable = sys._base_executable = lang["executable"]
    for name in ("prefix", "base_prefix", "exec_prefix", "base_exec_prefix"):
        if getattr(sys, name) == host:
            setattr(sys, name, inside)


def main():
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(sys.argv[1]):  # the server died before prctl
        return
    if len(sys.argv) > 3:
        with contextlib.suppress(OSError, ValueError, IndexError):
            _retitle(json.loads(sys.argv[3]))
    # Orphans of the runtimes (process kind) are reaped here, not by the host's init.
    with contextlib.suppress(OSError):
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=int(sys.argv[2]))
    zygote = Zygote(control)
    try:
        # BrokenPipe/ConnectionReset: the server went away (closed its end): nothing to serve.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            zygote.serve()
    finally:
        # Children still end (SIGCHLD) while this process exits: stop signals writing to
        # the wakeup socket before it is closed, or Python reports EBADF on stderr.
        signal.set_wakeup_fd(-1)


if __name__ == "__main__":
    main()
