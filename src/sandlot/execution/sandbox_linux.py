"""The ``linux`` sandbox backend: namespaces plus a cgroup per environment.

Each environment's runtime runs in new user, PID, mount, IPC and UTS namespaces, with
every capability dropped and no-new-privileges set, in a new session, dying with the
server. Two mechanisms make that sandbox, and both give the same layout:

- **namespaces** (the default wherever the kernel lets sandlot create user, PID and
  mount namespaces: ``zygote_sandbox_available()`` probes once): the Python zygote
  (zygote.py) makes the sandbox itself with unshare/mount/pivot_root and forks the
  Python runtime into it, or executes the runtime's command there (Node.js,
  ``provided*``); one sandbox is kept prepared ahead of time (a spare). Nothing to
  install.
- **bubblewrap** (``bwrap``, an optional fallback): used only when the zygote is off
  (``SANDLOT_ZYGOTE=0``) or cannot create the namespaces (bwrap may still, e.g.
  installed setuid).

Network: with ``NetworkSettings.isolated`` (network.py; zygote-made sandboxes only),
each sandbox has its own network namespace connected by pasta: outbound access, the
Runtime API at 127.0.0.1:9001, sandlot's function-facing listener, nothing else of
the host's loopback. Otherwise the host's network namespace is shared.

The root it sees is built from nothing: read-only binds of the system's ``/usr`` (and
``/bin``, ``/lib``… as the host has them), a handful of files of ``/etc``, the Python
and Node.js installations the runtimes use (exactly their install prefixes, nothing
else of a home directory), then

    /var/task           the function's code, read-only (LAMBDA_TASK_ROOT, the cwd)
    /opt                the merged layers, read-only
    /var/lang           the runtime's interpreter installation (/var/lang/bin/python3.X,
                        /var/lang/bin/node), read-only
    /var/runtime        sandlot's bootstraps (LAMBDA_RUNTIME_DIR), the packages Lambda's
                        Python runtime provides (boto3, …), the AWS SDK for JavaScript
                        (node_modules; the Java RIC's jars for java*), each bound by name, read-only
    /var/layers/N  each layer, read-only, when several are merged (/opt links there)
    /tmp                a private tmpfs of EphemeralStorage MB, gone with the sandbox
    /proc, /dev         fresh (the PID namespace's own /proc; null, zero, urandom, …)

Memory, pids and CPU weight come from a cgroup per environment (cgroups.py) when the
server can create them; without, the sandbox still isolates but limits nothing, and
the backend says so once in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

from sandlot.execution import cgroups, images, network, zygote
from sandlot.execution.runtimes import PYTHON
from sandlot.execution.sandbox import (
    Layout,
    ProcessSandbox,
    Sandbox,
    SandboxBackend,
    SandboxSpec,
    SnapshotUnsupported,
    _Lifeline,
)

log = logging.getLogger(__name__)

TASK_ROOT = "/var/task"
OPT = "/opt"
RUNTIME_DIR = "/var/runtime"
PYTHON_PACKAGES = RUNTIME_DIR  # as on Lambda, boto3 & co sit beside the bootstrap
NODE_MODULES = f"{RUNTIME_DIR}/node_modules"
LANG = "/var/lang"  # the runtime's interpreter installation
# sandlot's runtime files the sandbox shows in RUNTIME_DIR (not the discovery modules).
_RUNTIME_FILES = (
    "python_bootstrap.py",
    "node_bootstrap.js",
    "node_paths.mjs",
    "node_paths_hooks.mjs",
    "ruby_bootstrap.rb",
)
LAYERS = "/var/layers"  # each layer, when several are merged into /opt (not under /var/lang)
TMP = "/tmp"
# What the sandbox itself shows there: a host directory under one cannot be shown at its
# own path as well.
_SANDBOX_DIRS = (TASK_ROOT, OPT, RUNTIME_DIR, LANG, LAYERS, TMP)
# Lambda's function user (sbx_user1051). Inside the user namespace only; see
# docs/architecture.md for what the kernel sees when the server runs as root.
UID, GID = 993, 990
# The system's top-level directories runtimes need; symlinks (a merged /usr) stay symlinks.
_SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
# What of /etc a runtime needs: name resolution, TLS roots, the time zone, the dynamic
# linker's cache. Not /etc as a whole: it holds the host's secrets (shadow, ssh keys).
_ETC_FILES = (
    "resolv.conf",
    "hosts",
    "host.conf",
    "nsswitch.conf",
    "gai.conf",
    "services",
    "protocols",
    "localtime",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ssl",
    "ca-certificates",
    "pki",
    "crypto-policies",
    "alternatives",
    "mime.types",
    # Debian's JDKs: their conf/ and lib/security files are links into /etc/java-NN-openjdk.
    *sorted(path.name for path in Path("/etc").glob("java-*-openjdk")),
)
_PASSWD = (
    f"root:x:0:0:root:/root:/sbin/nologin\nsbx_user1051:x:{UID}:{GID}::/tmp:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/:/sbin/nologin\n"
)
_GROUP = f"root:x:0:\nsbx_user1051:x:{GID}:\nnobody:x:65534:\n"
_NAMESPACES = (
    "--unshare-user",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",  # also when the server is killed: bwrap kills its whole tree
    "--new-session",  # no ioctl(TIOCSTI) into a terminal the server may have
    "--cap-drop",
    "ALL",
)


class SandboxUnavailable(Exception):
    """The ``linux`` backend cannot work on this host (the message says why)."""


NAMESPACES = "namespaces"  # the zygote makes the sandbox (the default)
BUBBLEWRAP = "bubblewrap"  # bwrap makes it (the fallback)


def linux_mechanism() -> tuple[str | None, str]:
    """(what makes the linux sandboxes here, why none can) — ``NAMESPACES`` wherever
    the zygote can create the namespaces itself, else ``BUBBLEWRAP`` where bwrap
    works, else ``(None, reason)``. Each probe runs once per process."""
    if not sys.platform.startswith("linux"):
        return None, f"the linux sandbox needs Linux (this is {sys.platform})"
    if not zygote.enabled():
        namespaces = "the zygote is off (SANDLOT_ZYGOTE=0)"
    else:
        works, namespaces = _zygote_probe()
        if works:
            return NAMESPACES, ""
    works, bubblewrap = _bwrap_probe()
    if works:
        return BUBBLEWRAP, ""
    return None, f"{namespaces}, and {bubblewrap}"


def linux_backend_available() -> tuple[bool, str]:
    """Whether the linux backend works here, and if not, why."""
    mechanism, reason = linux_mechanism()
    return mechanism is not None, reason


@functools.cache
def _bwrap_probe() -> tuple[bool, str]:
    """Whether bwrap runs here with the namespaces the backend uses, and if not, why."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, "bubblewrap is not installed (`bwrap` not on PATH)"
    argv = (bwrap, *_NAMESPACES, *_system_binds(), "--proc", "/proc", "--dev", "/dev", "true")
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap does not run: {exc}"
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        return False, f"bwrap cannot create the sandbox's namespaces: {reason}"
    return True, ""


_PROBE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
uid, gid = os.geteuid(), os.getegid()
if libc.unshare(0x10000000 | 0x00020000 | 0x20000000 | 0x08000000 | 0x04000000) != 0:
    raise SystemExit("unshare: " + os.strerror(ctypes.get_errno()))
for name, text in (("setgroups", "deny"), ("uid_map", f"993 {uid} 1"), ("gid_map", f"990 {gid} 1")):
    with open(f"/proc/self/{name}", "w") as f:
        f.write(text)
"""


@functools.cache
def _zygote_probe() -> tuple[bool, str]:
    """Whether a process can create the user, mount, PID, IPC and UTS namespaces and
    map its uid (what the zygote's sandboxes need), and if not, why."""
    try:
        done = subprocess.run(
            (PYTHON, "-S", "-c", _PROBE), capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"the kernel does not let sandlot create namespaces ({exc})"
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        return False, f"the kernel does not let sandlot create namespaces ({reason})"
    return True, ""


def zygote_sandbox_available() -> bool:
    """Whether the zygote can make sandboxes itself (see ``linux_mechanism``)."""
    return _zygote_probe()[0]


def _system_binds() -> list[str]:
    args = []
    for name in _SYSTEM_DIRS:
        host = f"/{name}"
        if os.path.islink(host):
            args += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            args += ["--ro-bind", host, host]
    return args


def _install_prefixes() -> list[str]:
    """The Python and Node.js installations the runtimes execute, outside /usr."""
    # The base installation only: runtimes run the real interpreter (runtimes.PYTHON),
    # never a virtual environment's link, so no venv needs to be visible.
    prefixes = {os.path.realpath(sys.base_prefix)}
    prefixes.add(os.path.dirname(os.path.dirname(PYTHON)))
    node = shutil.which("node")
    if node is not None:
        prefixes.add(os.path.dirname(os.path.dirname(os.path.realpath(node))))
    return _outside_system(prefixes)


def _outside_system(paths: set[str]) -> list[str]:
    """``paths`` minus those the system binds already show, and minus nested ones."""
    kept: list[str] = []
    for path in sorted(paths):
        if path in ("/", "") or any(_under(path, f"/{d}") for d in _SYSTEM_DIRS):
            continue
        if not any(_under(path, other) for other in kept):
            kept.append(path)
    return kept


# ELF e_machine of the host's architecture (os.uname().machine).
_ELF_MACHINES = {"x86_64": 62, "aarch64": 183}


def _runs_here(path: Path) -> bool:
    """Whether execve can run ``path``: a ``#!`` script, or an ELF binary of this host's
    architecture (a Go or Rust bootstrap built for the other one is ENOEXEC, as on
    Lambda; a file that is neither is ENOEXEC too: execve does not fall back to sh)."""
    try:
        with open(path, "rb") as file:
            head = file.read(20)
    except OSError:
        return True  # let execve say what is wrong
    if head.startswith(b"#!"):
        return True
    if not head.startswith(b"\x7fELF") or len(head) < 20:
        return False
    expected = _ELF_MACHINES.get(os.uname().machine)
    byteorder = "little" if head[5] == 1 else "big"
    return expected is None or int.from_bytes(head[18:20], byteorder) == expected


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _remove_stale_etc() -> None:
    """Remove the passwd/group dirs of servers that died without closing their backend."""
    for path in Path(tempfile.gettempdir()).glob("sandlot-etc-*-*"):
        pid = path.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)


class LinuxBackend(SandboxBackend):
    """Sandboxes made by the zygote (or bubblewrap), limited by cgroups where the host
    lets us."""

    name = "linux"

    def __init__(self, net: network.NetworkSettings | None = None) -> None:
        mechanism, reason = linux_mechanism()
        if mechanism is None:
            raise SandboxUnavailable(reason)
        self.mechanism = mechanism
        self._bwrap = shutil.which("bwrap") or "bwrap"
        _remove_stale_etc()
        self._etc = Path(tempfile.mkdtemp(prefix=f"sandlot-etc-{os.getpid()}-"))
        (self._etc / "passwd").write_text(_PASSWD)
        (self._etc / "group").write_text(_GROUP)
        # The host's names plus Lambda's name for the sandbox itself, where extensions'
        # Telemetry API listeners bind (telemetry_api.py delivers to its loopback).
        hosts = ""
        with contextlib.suppress(OSError):
            hosts = Path("/etc/hosts").read_text().rstrip("\n")
        (self._etc / "hosts").write_text(f"{hosts}\n127.0.0.1\tsandbox.localdomain\n")
        self._prefixes = _install_prefixes()
        self._base = self._base_args()
        self._package_binds: dict[Path, list[tuple[str, str]]] = {}
        self._lifeline: _Lifeline | None = None
        self.cgroups, self.cgroups_reason = cgroups.probe(
            f"sandlot-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        )
        if self.cgroups is None:
            log.warning(
                "linux sandbox without cgroups (%s): memory, pids and CPU are not limited",
                self.cgroups_reason,
            )
        self._zygote: zygote.Zygote | None = None  # the server's Python's (makes spares)
        self._zygotes = zygote.Zygotes(_title)
        self._zygote_base: dict = {}
        self._spare: _Spare | None = None
        # SnapStart: a restore made ahead of time per template, and the refills under way.
        self._restore_spares: dict[zygote.Template, _RestoreSpare] = {}
        self._refilling: dict[zygote.Template, asyncio.Task[None]] = {}
        self._closed = False
        # A network namespace per sandbox needs the zygote's sandboxes (resolve_network):
        # pasta's path, and the functions' endpoint port it forwards.
        self._pasta: str | None = None
        self._function_port = 0
        if mechanism == NAMESPACES:
            self._zygote = self._zygotes.get(PYTHON)  # imports while the server starts
            if net is not None and net.isolated:
                self._pasta = shutil.which("pasta") or "pasta"
                self._function_port = net.function_port
                (self._etc / "resolv.conf").write_text(network.resolv_conf())
            self._zygote_base = self._zygote_layout()
            self._refill_spare()

    @property
    def isolates_network(self) -> bool:
        return self._pasta is not None

    @property
    def runs_images(self) -> bool:
        """Container images run under bubblewrap, their root as / (the zygote's sandboxes
        are built on the host's system directories)."""
        return shutil.which("bwrap") is not None

    def runtime_api_address(self, host_address: str) -> str:
        """With a network per sandbox, the runtime reaches its Runtime API at
        127.0.0.1:9001 inside, which pasta forwards to the host's loopback: to the
        environment's own listener (``host_address``, ``SandboxSpec.runtime_api_port``)
        or, for a spare, to one made with it (``LinuxSandbox.runtime_api_listener``)."""
        if self._pasta is None:
            return host_address
        return f"127.0.0.1:{network.RUNTIME_API_PORT}"

    def _network(self, api_port: int) -> dict | None:
        """The zygote's request for a sandbox's network (zygote_process.sandbox_parent)."""
        if self._pasta is None:
            return None
        # %PID% becomes the sandbox's outer process, known only there.
        argv = network.pasta_argv(self._pasta, api_port, self._function_port, "%PID%")
        return {"argv": argv, "ports": [network.RUNTIME_API_PORT, self._function_port]}

    def _base_args(self) -> list[str]:
        args = [self._bwrap, *_NAMESPACES, "--uid", str(UID), "--gid", str(GID)]
        args += ["--hostname", "sandlot", *_system_binds()]
        for name in _ETC_FILES:
            host = os.path.realpath(f"/etc/{name}")  # resolv.conf is often a symlink
            if name == "hosts":
                host = str(self._etc / name)
            args += ["--ro-bind-try", host, f"/etc/{name}"]
        args += ["--ro-bind", str(self._etc / "passwd"), "/etc/passwd"]
        args += ["--ro-bind", str(self._etc / "group"), "/etc/group"]
        return [*args, "--proc", "/proc", "--dev", "/dev"]

    def _zygote_layout(self) -> dict:
        """What every zygote-made sandbox sees, as the zygote's request spells it: the
        same root as ``_base_args`` gives bwrap."""
        root = self._etc / "root"  # the mount point of the sandbox's root (its own mount ns)
        root.mkdir()
        symlinks, binds = [], []
        for name in _SYSTEM_DIRS:
            host = f"/{name}"
            if os.path.islink(host):
                symlinks.append((host, os.readlink(host)))
            elif os.path.isdir(host):
                binds.append((host, host, "ro"))
        for name in _ETC_FILES:
            source = os.path.realpath(f"/etc/{name}")
            if name == "resolv.conf" and self._pasta is not None:
                source = str(self._etc / name)  # the namespace's resolver (network.py)
            elif name == "hosts":
                source = str(self._etc / name)
            binds.append((source, f"/etc/{name}", "ro-try"))
        binds.append((str(self._etc / "passwd"), "/etc/passwd", "ro"))
        binds.append((str(self._etc / "group"), "/etc/group", "ro"))
        for prefix in self._prefixes:
            binds.append((prefix, prefix, "ro"))
        return {
            "kind": "linux",
            "root": str(root),
            "symlinks": symlinks,
            "binds": binds,
            "hostname": "sandlot",
            "userns": True,
            "uid": UID,
            "gid": GID,
            "script": f"{RUNTIME_DIR}/python_bootstrap.py",
        }

    def _zygote_request(self, spec: SandboxSpec) -> dict:
        """What only the environment's own processes read (zygote.Zygote.fork)."""
        binds = [(host, inside, "ro") for host, inside in self._function_binds(spec)]
        request = {
            "task_binds": binds,
            "dirs": [RUNTIME_DIR],
            "tmp_bytes": max(1, spec.ephemeral_storage_mb) * 1024 * 1024,
            "argv": spec.argv,
            "env": spec.env,
            "cwd": TASK_ROOT,
        }
        if spec.runtime_prefix and _under(spec.argv[0], LANG):
            request["lang"] = {
                "prefix": spec.runtime_prefix,
                "inside": LANG,
                "executable": spec.argv[0],
            }
        return request

    def _function_binds(self, spec: SandboxSpec) -> list[tuple[str, str]]:
        """(host, inside) of what one function's sandbox shows beyond the system's."""
        binds = [(str(spec.code_dir), TASK_ROOT), (str(spec.opt_dir), OPT)]
        if len(spec.layer_dirs) > 1:
            for layer, inside in zip(
                spec.layer_dirs, self.layer_paths(spec.layer_dirs), strict=True
            ):
                binds.append((str(layer), inside))
        if spec.runtime_prefix:
            binds.append((spec.runtime_prefix, LANG))
            # Python and Ruby are shown at their own path too (unless that is one of the
            # sandbox's, /opt say): a forked Python runs code its zygote loaded from
            # there (tracebacks, lazily imported submodules), a shared libpython or
            # libruby is found through an absolute RPATH (pyenv's builds), and a Ruby not
            # built --enable-load-relative (rbenv's) finds its libraries, RubyGems
            # first, under its configured prefix only.
            shown_at = (a for a in spec.argv if _under(a, f"{LANG}/bin"))
            if any(os.path.basename(a).startswith(("python", "ruby")) for a in shown_at):
                shown = _outside_system({spec.runtime_prefix})
                binds += [
                    (prefix, prefix)
                    for prefix in shown
                    if prefix not in self._prefixes
                    and not any(_under(prefix, own) for own in _SANDBOX_DIRS)
                ]
        for name in _RUNTIME_FILES:
            binds.append((str(spec.runtime_dir / name), f"{RUNTIME_DIR}/{name}"))
        binds += self._package_binds_of(spec.python_packages)
        if spec.node_modules is not None:
            binds.append((str(spec.node_modules), NODE_MODULES))
        return binds

    def _refill_spare(self) -> None:
        """Have the zygote make the next sandbox ahead of time, in a cgroup of its own
        (its limits are set when a function gets it): cgroup creation, joining it (a
        v1 cgroup's first join waits for an RCU grace period, milliseconds), the
        namespaces and most of the root then cost nothing on a cold start.

        It is made with the least CPU share there is (``background``), so on a busy or
        two-core machine it waits for the INIT that took the last spare instead of
        taking a core from it; a function that takes it gets its own share back."""
        if self._zygote is None or self._spare is not None or self._closed:
            return
        cgroup = None
        if self.cgroups is not None:
            try:
                limits = cgroups.Limits(128, background=True)
                cgroup = self.cgroups.create(uuid.uuid4().hex, limits)
            except OSError as exc:
                log.warning("cannot create a cgroup for a spare sandbox: %s", exc)
                return
        fds = cgroup.procs_fds if cgroup is not None else []
        listener = _listen() if self._pasta is not None else None
        api_port = listener.getsockname()[1] if listener is not None else 0
        request = {"op": "spare", **self._zygote_base, "net": self._network(api_port)}
        if not self._zygote.post(request, fds):
            if cgroup is not None:
                cgroup.close_fds()
                cgroup.remove()
            if listener is not None:
                listener.close()
            return
        self._spare = _Spare(cgroup, listener, api_port)

    def layout(
        self,
        code_dir: Path,
        opt_dir: Path,
        tmp_dir: Path,
        runtime_dir: Path,
        python_packages: Path,
        node_modules: Path | None = None,
    ) -> Layout:
        modules = NODE_MODULES if node_modules is not None else ""
        return Layout(TASK_ROOT, OPT, TMP, RUNTIME_DIR, PYTHON_PACKAGES, modules, f"{LANG}/bin")

    def layer_paths(self, layers: tuple[Path, ...]) -> tuple[str, ...]:
        return tuple(f"{LAYERS}/{index}" for index in range(len(layers)))

    def _package_binds_of(self, packages: Path) -> list[tuple[str, str]]:
        """Show the provided packages (``packages``' entries) at PYTHON_PACKAGES."""
        binds = self._package_binds.get(packages)
        if binds is None:
            # Each provided package is shown at its name under PYTHON_PACKAGES, so where
            # it lives on the host (a virtual environment, say) stays out of view.
            binds = []
            with contextlib.suppress(OSError):
                for entry in sorted(packages.iterdir()):
                    if entry.name in _RUNTIME_FILES or entry.name in ("bin", "node_modules"):
                        continue
                    binds.append((os.path.realpath(entry), f"{PYTHON_PACKAGES}/{entry.name}"))
            self._package_binds[packages] = binds
        return binds

    def _command(self, spec: SandboxSpec) -> list[str]:
        if spec.image_root is not None:
            return self._image_command(spec)
        # /tmp comes first: later binds of paths under the host's /tmp (an interpreter
        # in a virtual environment there, say) then stay visible on top of it.
        tmp_bytes = max(1, spec.ephemeral_storage_mb) * 1024 * 1024
        args = [*self._base, "--perms", "01777", "--size", str(tmp_bytes), "--tmpfs", TMP]
        for prefix in self._prefixes:
            args += ["--ro-bind", prefix, prefix]
        # Several layers are merged as a tree of symlinks to the layers' files: the
        # layers themselves must be visible where those links point (_function_binds).
        for host, inside in self._function_binds(spec):
            args += ["--ro-bind", host, inside]
        return [*args, "--chdir", TASK_ROOT, "--", *spec.argv]

    def _image_command(self, spec: SandboxSpec) -> list[str]:
        """A container image's sandbox: its unpacked root read-only as /, a private /tmp,
        fresh /proc and /dev; the namespaces and dropped capabilities of every sandbox,
        the host's network (the Runtime API is at the host's loopback)."""
        tmp_bytes = max(1, spec.ephemeral_storage_mb) * 1024 * 1024
        args = [shutil.which("bwrap") or self._bwrap, *_NAMESPACES, "--uid", str(UID)]
        args += ["--gid", str(GID), "--hostname", "sandlot"]
        args += ["--ro-bind", str(spec.image_root), "/", "--proc", "/proc", "--dev", "/dev"]
        args += ["--perms", "01777", "--size", str(tmp_bytes), "--tmpfs", TMP]
        return [*args, "--chdir", spec.workdir or "/", "--", *spec.argv]

    def _check_executable(self, spec: SandboxSpec) -> None:
        """Fail as the process backend's exec does for a bootstrap that cannot run.

        Inside, bwrap's exec failure would only be an exit status; Lambda reports it as
        Runtime.InvalidEntrypoint.
        """
        program = spec.argv[0]
        if spec.image_root is not None:
            if program.startswith("/"):
                path = images.resolve(spec.image_root, program)
                if not path.is_file():
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
                if not os.access(path, os.X_OK):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
                if not _runs_here(path):
                    raise OSError(errno.ENOEXEC, os.strerror(errno.ENOEXEC), program)
            return
        for inside, host in ((TASK_ROOT, spec.code_dir), (OPT, spec.opt_dir)):
            if _under(program, inside):
                path = host / os.path.relpath(program, inside)
                if path.is_symlink() and len(spec.layer_dirs) > 1:  # into a merged layer
                    path = self._layer_file(spec.layer_dirs, os.readlink(path))
                if not path.exists():
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
                if not os.access(path, os.X_OK):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
                if not _runs_here(path):
                    raise OSError(errno.ENOEXEC, os.strerror(errno.ENOEXEC), program)

    def _layer_file(self, layers: tuple[Path, ...], link: str) -> Path:
        """The host file behind a merged /opt's ``link`` (which points into LAYERS)."""
        for layer, inside in zip(layers, self.layer_paths(layers), strict=True):
            if _under(link, inside):
                return layer / os.path.relpath(link, inside)
        return Path(link)

    async def create(self, spec: SandboxSpec) -> Sandbox:
        self._check_executable(spec)
        lifeline = self._lifeline
        if lifeline is None:
            lifeline = self._lifeline = _Lifeline()
        if self._zygote is not None and spec.image_root is None:
            return await self._fork(spec, lifeline)
        cgroup = None
        if self.cgroups is not None:
            cgroup = self.cgroups.create(uuid.uuid4().hex, cgroups.Limits(spec.memory_mb))
        try:
            # The child joins its cgroup before exec'ing bwrap, so every process of the
            # sandbox is born inside it: none can escape the limits by forking early.
            # bwrap's options (host paths among them) come through a pipe (--args), so
            # that bwrap's own command line, which the sandbox's PID 1 shows, holds
            # only bwrap and the runtime's command as the sandbox sees it.
            command = self._command(spec)
            split = command.index("--")
            options = "".join(f"{option}\0" for option in command[1:split]).encode()
            args_fd = zygote.request_pipe(options)
            # bwrap's --die-with-parent ties the sandbox to this thread: create() runs
            # on the event loop's thread, which lives as long as the server.
            try:
                popen = subprocess.Popen(
                    [command[0], "--args", str(args_fd), *command[split:]],
                    stdin=subprocess.DEVNULL,
                    stdout=spec.output_fd,
                    stderr=spec.output_fd,
                    env=spec.env,
                    close_fds=True,
                    pass_fds=(args_fd,),
                    start_new_session=True,
                    umask=zygote.FUNCTION_UMASK,
                    preexec_fn=cgroup.attach_self if cgroup is not None else None,
                )
            finally:
                os.close(args_fd)
        except BaseException:
            if cgroup is not None:
                cgroup.close_fds()
                cgroup.remove()
            raise
        if cgroup is not None:
            cgroup.close_fds()
        lifeline.watch(popen.pid)
        return LinuxSandbox(popen, lifeline, cgroup)

    async def snapshot(self, spec: SandboxSpec) -> tuple[Sandbox, zygote.Template]:
        """A SnapStart template: a Python runtime forked into a sandbox of its own, as
        any environment's (its root, namespaces, cgroups, network), which runs INIT and
        then forks restores (``restore``; docs/execution.md, "SnapStart")."""
        forkable = zygote.forkable(spec.argv, spec.env, RUNTIME_DIR)
        if self._zygote is None or spec.image_root is not None or not forkable:
            raise SnapshotUnsupported(
                "sandlot makes SnapStart snapshots of Python runtimes forked by its zygote "
                "only (not of other runtimes or container images; no "
                "AWS_LAMBDA_EXEC_WRAPPER, no PYTHON* variables but PYTHONPATH, "
                "PYTHONUNBUFFERED and PYTHONDONTWRITEBYTECODE, SANDLOT_ZYGOTE not 0)"
            )
        self._check_executable(spec)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sandbox = await self._fork(spec, self._lifeline_now(), theirs.fileno())
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        template = zygote.Template(ours, namespaced=True)
        key = (spec.memory_mb, spec.ephemeral_storage_mb)

        def ready(done: asyncio.Future[dict | None]) -> None:
            if not done.cancelled() and done.exception() is None and done.result() is None:
                self._refill_restore(template, key)  # the first cold start's restore

        template.ready.add_done_callback(ready)
        return sandbox, template

    async def restore(self, template: zygote.Template, spec: SandboxSpec) -> Sandbox:
        """A restored environment: a fork of ``template`` (inside the template's sandbox)
        that made new namespaces there, its own /dev, /tmp and /proc, its cgroups and
        network, and waits for its variables and output (zygote_process._restore_sandbox).
        One is made ahead of time per template (as the spare of fresh sandboxes), so a
        cold start only hands it those; a burst that finds none makes one now."""
        key = (spec.memory_mb, spec.ephemeral_storage_mb)
        refill = self._refilling.get(template)
        if refill is not None and template not in self._restore_spares:
            await asyncio.shield(refill)  # one under way: sooner than making another
        spare = self._restore_spares.pop(template, None)
        if spare is not None and (spare.key != key or spare.exited is not None):
            spare.discard()
            spare = None
        if spare is None:
            spare = await self._prepare_restore(template, key)
        self._refill_restore(template, key)
        start = {"env": spec.env, "cwd": TASK_ROOT}
        try:
            socket.send_fds(spare.channel, [json.dumps(start).encode()], [spec.output_fd])
        except OSError as exc:
            spare.discard()
            raise OSError(exc.errno, f"the restore's sandbox is gone: {exc}") from None
        return spare.take(self._lifeline_now())

    def _refill_restore(self, template: zygote.Template, key: tuple[int, int]) -> None:
        """Have the next restore of ``template`` made ahead of time (in the background)."""
        if self._closed or template in self._restore_spares or template in self._refilling:
            return

        async def refill() -> None:
            try:
                spare = await self._prepare_restore(template, key)
            except (OSError, zygote.ZygoteError) as exc:
                log.debug("cannot make a restore ahead of time: %s", exc)
                return
            finally:
                self._refilling.pop(template, None)
            if self._closed or template in self._restore_spares or not template.alive:
                spare.discard()
            elif spare.exited is None:  # the template's death ends it, and this entry
                self._restore_spares[template] = spare
                spare.shelf = (self._restore_spares, template)

        task = self._refilling[template] = asyncio.get_running_loop().create_task(refill())
        task.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def _prepare_restore(
        self, template: zygote.Template, key: tuple[int, int]
    ) -> _RestoreSpare:
        """Fork a restore of ``template`` as far as nothing of the invocation is needed:
        it says hello with its credentials (its pid here), which is moved into a new
        cgroup and given its network (pasta, forwarding 9001 to a listener bound here,
        which the environment adopts), then builds its root and waits."""
        memory_mb, storage_mb = key
        lifeline = self._lifeline_now()
        cgroup = None
        if self.cgroups is not None:  # mkdir and limits: off the event loop (a refill)
            name, limits = uuid.uuid4().hex, cgroups.Limits(memory_mb)
            cgroup = await asyncio.to_thread(self.cgroups.create, name, limits)
        listener = _listen() if self._pasta is not None else None
        net = None
        if self._pasta is not None:
            net = {"ports": [network.RUNTIME_API_PORT, self._function_port]}
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        spare = _RestoreSpare(key, ours, cgroup, listener)
        try:
            header = {"kind": "linux", "net": net}
            request = {"tmp_bytes": max(1, storage_mb) * 1024 * 1024}
            try:
                await template.fork(header, request, [theirs.fileno()], spare.on_exit)
            finally:
                theirs.close()
            spare.pid = await zygote.peer_pid(ours, 10.0)
            lifeline.watch(spare.pid)  # it leads its own session: the reaper kills the group
            if cgroup is not None:  # a v1 join can wait for an RCU grace period: a thread
                await asyncio.to_thread(_join, cgroup, spare.pid)
            if self._pasta is not None and listener is not None:
                api_port = listener.getsockname()[1]
                argv = network.pasta_argv(self._pasta, api_port, self._function_port, spare.pid)
                spare.pasta = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    close_fds=True,
                    start_new_session=True,
                )
                lifeline.watch(spare.pasta.pid)
            spare.lifeline = lifeline
            ours.send(b"go")
        except BaseException:
            spare.lifeline = lifeline
            spare.discard()
            raise
        return spare

    def _lifeline_now(self) -> _Lifeline:
        if self._lifeline is None:
            self._lifeline = _Lifeline()
        return self._lifeline

    async def _fork(
        self, spec: SandboxSpec, lifeline: _Lifeline, template_fd: int | None = None
    ) -> Sandbox:
        """The Python runtime, forked by the zygote, in a sandbox the zygote's child makes.

        The child joins the cgroups (their ``cgroup.procs``, opened here, travel with
        the request) before it makes the namespaces, so all of the sandbox is inside.
        ``template_fd``: the runtime is a SnapStart template serving on that socket.
        """
        assert self._zygote is not None
        forkable = zygote.forkable(spec.argv, spec.env, RUNTIME_DIR)
        forker = self._zygote
        if forkable and spec.runtime_prefix:  # the zygote of the function's Python
            forker = self._zygotes.get(spec.runtime_prefix + spec.argv[0][len(LANG) :])
        sandbox: LinuxSandbox | None = None
        early: list[int] = []

        def on_exit(code: int) -> None:
            if sandbox is None:
                early.append(code)
            else:
                sandbox.reported_exit(code)

        limits = cgroups.Limits(spec.memory_mb)
        spare = None
        # Spares are made by the server's Python's zygote (never for a template).
        if forker is self._zygote and template_fd is None:
            spare, self._spare = self._spare, None
        if spare is not None:
            cgroup = spare.cgroup
            if cgroup is not None:
                cgroup.set_limits(limits)
        elif self.cgroups is not None:
            cgroup = self.cgroups.create(uuid.uuid4().hex, limits)
        else:
            cgroup = None
        # The next cold start's sandbox is prepared once this one is under way.
        asyncio.get_running_loop().call_soon(self._refill_spare)
        fds = [spec.output_fd, *(cgroup.procs_fds if cgroup is not None else ())]
        if template_fd is not None:  # last: zygote_process.Zygote.fork takes it from there
            fds.append(template_fd)
        # The Python bootstrap runs in the forked process; anything else is executed.
        # A spare's pasta forwards to the spare's own listener: if the zygote has lost
        # the spare, it makes the sandbox from scratch with that same forward.
        api_port = spare.api_port if spare is not None else spec.runtime_api_port
        header = {
            **self._zygote_base,
            "spare": spare is not None,
            "exec": not forkable,
            "net": self._network(api_port),
            "snapshot": template_fd is not None,
        }
        listener = spare.listener if spare is not None else None
        try:
            pid = await forker.fork(header, self._zygote_request(spec), fds, on_exit)
        except BaseException:
            if cgroup is not None:
                cgroup.close_fds()
                await asyncio.to_thread(cgroup.remove)
            if listener is not None:
                listener.close()
            raise
        if cgroup is not None:
            cgroup.close_fds()
        lifeline.watch(pid)
        sandbox = LinuxSandbox(None, lifeline, cgroup, pid)
        sandbox.runtime_api_listener = listener
        if early:
            sandbox.reported_exit(early[0])
        return sandbox

    async def close(self) -> None:
        self._closed = True
        spares, self._restore_spares = self._restore_spares, {}
        for restore in spares.values():
            restore.discard()
        await self._zygotes.close()
        spare, self._spare = self._spare, None
        if spare is not None and spare.listener is not None:
            spare.listener.close()
        if spare is not None and spare.cgroup is not None:
            spare.cgroup.close_fds()
            await asyncio.to_thread(spare.cgroup.remove)
        if self._lifeline is not None:
            await self._lifeline.close()
            self._lifeline = None
        if self.cgroups is not None:
            self.cgroups.close()
        await asyncio.to_thread(shutil.rmtree, self._etc, True)


def _title(python: str) -> tuple[str, ...]:
    """The command line a sandbox's processes show for the zygote of ``python``: the
    runtime's launch as the sandbox sees it (no host path)."""
    return (
        f"{LANG}/bin/{os.path.basename(python)}",
        "-S",
        "-u",
        f"{RUNTIME_DIR}/python_bootstrap.py",
    )


def _join(cgroup: cgroups.Cgroup, pid: int) -> None:
    """Move ``pid`` (a restore's outer process, before it forks) into ``cgroup``."""
    for fd in cgroup.procs_fds:
        os.write(fd, str(pid).encode())
    cgroup.close_fds()


class _RestoreSpare:
    """A SnapStart restore made ahead of time (LinuxBackend.restore): its outer
    process's pid here, the socket its init waits on, its cgroup, pasta and Runtime
    API listener; all of them go to the environment's sandbox when it is taken, or
    are released (``discard``) if it ends first."""

    def __init__(
        self,
        key: tuple[int, int],
        channel: socket.socket,
        cgroup: cgroups.Cgroup | None,
        listener: socket.socket | None,
    ) -> None:
        self.key = key  # (MemorySize, EphemeralStorage) it was made for
        self.channel = channel
        self.cgroup = cgroup
        self.listener = listener
        self.pid = 0
        self.pasta: subprocess.Popen | None = None
        self.lifeline: _Lifeline | None = None
        self.sandbox: LinuxSandbox | None = None
        self.exited: int | None = None
        self.shelf: tuple[dict, zygote.Template] | None = None  # where it waits to be taken

    def on_exit(self, code: int) -> None:
        if self.sandbox is not None:
            self.sandbox.reported_exit(code)
        else:
            self.exited = code
            self.discard()

    def take(self, lifeline: _Lifeline) -> LinuxSandbox:
        self.channel.close()
        sandbox = self.sandbox = LinuxSandbox(None, lifeline, self.cgroup, self.pid, self.pasta)
        sandbox.runtime_api_listener = self.listener
        if self.exited is not None:
            sandbox.reported_exit(self.exited)
        return sandbox

    def discard(self) -> None:
        """Kill and release it (never taken, or failed while being made)."""
        if self.sandbox is not None:
            return
        if self.shelf is not None and self.shelf[0].get(self.shelf[1]) is self:
            del self.shelf[0][self.shelf[1]]
        self.channel.close()
        if self.pid and self.lifeline is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
            self.lifeline.forget(self.pid)
        pasta, self.pasta = self.pasta, None
        if pasta is not None:
            pasta.kill()
            zygote.threading_wait(pasta)
            if self.lifeline is not None:
                self.lifeline.forget(pasta.pid)
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()
        cgroup, self.cgroup = self.cgroup, None
        if cgroup is not None:
            cgroup.kill()
            cgroup.close_fds()
            threading.Thread(target=cgroup.remove, daemon=True).start()  # once they died


class _Spare:
    """A sandbox made ahead of time: its cgroup, and with networks the host's end of
    its Runtime API (where its pasta forwards 127.0.0.1:9001) and that end's port."""

    __slots__ = ("cgroup", "listener", "api_port")

    def __init__(
        self, cgroup: cgroups.Cgroup | None, listener: socket.socket | None, api_port: int
    ) -> None:
        self.cgroup = cgroup
        self.listener = listener
        self.api_port = api_port


def _listen() -> socket.socket:
    """A listening socket on the host's 127.0.0.1, any port (a Runtime API's host end)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    return listener


class LinuxSandbox(ProcessSandbox):
    """A bwrap process tree, its PID namespace and (when available) its cgroup.

    The process the server starts is bwrap's monitor; the runtime is a grandchild in
    the PID namespace. Killing the monitor ends the namespace (its init dies with it,
    and with the init every process in the namespace); the cgroup, when there is one,
    is killed as a whole as well.
    """

    def __init__(
        self,
        popen: subprocess.Popen | None,
        lifeline: _Lifeline,
        cgroup: cgroups.Cgroup | None,
        pid: int | None = None,
        pasta: subprocess.Popen | None = None,
    ) -> None:
        self._cgroup = cgroup
        # A restore's network: pasta started here (a fresh sandbox's is its child).
        self._pasta = pasta
        super().__init__(popen, lifeline, pid)

    def _finish(self, code: int) -> None:
        # bwrap reports a command killed by signal N as exit status 128 + N, as shells do.
        if 128 < code <= 128 + 64:
            code = 128 - code
        pasta, self._pasta = self._pasta, None
        if pasta is not None:
            pasta.kill()
            zygote.threading_wait(pasta)
            self._lifeline.forget(pasta.pid)
        super()._finish(code)

    def _processes(self) -> list[int]:
        """Every process of the sandbox, parents before children."""
        if self._cgroup is not None:
            return self._cgroup.pids()
        found, queue = [], [self.pid]
        while queue:
            pid = queue.pop(0)
            found.append(pid)
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children") as f:
                queue += [int(child) for child in f.read().split()]
        return found

    def freeze(self) -> None:
        if self._frozen or self._exited.done():
            return
        self._frozen = True
        if self._cgroup is not None and self._cgroup.freezer:
            self._cgroup.freeze()
            return
        # SIGSTOP each process; repeated until no process appears that was not stopped
        # (one may fork between the listing and its own stop).
        stopped: set[int] = set()
        for _ in range(10):
            fresh = [pid for pid in self._processes() if pid not in stopped]
            if not fresh:
                break
            for pid in fresh:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGSTOP)
            stopped.update(fresh)

    def thaw(self) -> None:
        if not self._frozen:
            return
        self._frozen = False
        if self._cgroup is not None and self._cgroup.freezer:
            self._cgroup.thaw()
            return
        for pid in self._processes():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGCONT)

    def kill(self) -> None:
        if self._cgroup is not None:
            self._cgroup.kill()
        if not self._exited.done():
            self._signal(signal.SIGKILL)

    def max_memory_mb(self) -> int:
        """The cgroup's peak (all processes, /tmp included), else the largest process's."""
        if self._cgroup is not None:
            return self._cgroup.peak_memory_mb()
        peak = 0
        for pid in self._processes():
            with contextlib.suppress(OSError, ValueError):
                with open(f"/proc/{pid}/status", "rb") as f:
                    status = f.read()
                start = status.find(b"VmHWM:")
                if start >= 0:
                    peak = max(peak, int(status[start + 6 : status.index(b"kB", start)]))
        return (peak + 1023) // 1024

    async def destroy(self, reason: str) -> None:
        await super().destroy(reason)
        if self._cgroup is not None:
            await asyncio.to_thread(self._cgroup.remove)
