"""Control groups for the ``linux`` sandbox: memory, pids and CPU limits per environment.

Each environment gets a cgroup nested under the server's own (so whatever limits the
server itself runs under still apply to its functions, and nothing outside its subtree
is touched). Two kernels' worth of interfaces:

- **v2** (the unified hierarchy, every current distribution): ``memory.max`` (and
  ``memory.swap.max`` 0), ``pids.max``, ``cpu.weight``; ``cgroup.freeze`` freezes and
  ``cgroup.kill`` kills the whole tree, ``memory.peak`` is the peak.
- **v1** (older or hybrid hosts, e.g. some container runtimes): one directory per
  controller (memory, pids, cpu). The v1 freezer is not used: a task frozen by it does
  not die of SIGKILL until thawed, so a server dying while its environments are frozen
  would leave them stuck. The sandbox stops its processes with SIGSTOP instead.

``probe()`` says which one works here, or why none does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PIDS_MAX = 1024
# Lambda allocates CPU in proportion to memory: 1,769 MB is one full vCPU.
MB_PER_VCPU = 1769


@dataclass(frozen=True, slots=True)
class Limits:
    memory_mb: int
    pids_max: int = PIDS_MAX
    # The least CPU share there is, in place of the memory's: work done ahead of time
    # (a spare sandbox being made) that must yield to any running function.
    background: bool = False


class Cgroup:
    """One environment's cgroup (in one or several hierarchies)."""

    freezer = False  # whether freeze() stops the processes (else the caller must)

    def __init__(self, dirs: list[Path], procs_fd: list[int]) -> None:
        self._dirs = dirs
        # Opened in the parent so the child only has to write its pid: no allocation
        # or path lookup between fork and exec.
        self._procs_fds = procs_fd
        self._peak_fd: int | None = None  # the peak-memory file, once read

    def attach_self(self) -> None:
        """Run in the child between fork and exec: move it (and so all it will start) in."""
        for fd in self._procs_fds:
            os.write(fd, b"0")

    def set_limits(self, limits: Limits) -> None:
        """Change the limits (a cgroup made ahead of time, given to a function)."""
        _apply(2 if isinstance(self, CgroupV2) else 1, self._dirs, limits)

    @property
    def procs_fds(self) -> list[int]:
        """The open ``cgroup.procs`` files (for a process that joins from elsewhere)."""
        return list(self._procs_fds)

    def close_fds(self) -> None:
        for fd in self._procs_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._procs_fds = []

    def pids(self) -> list[int]:
        """Every process in the cgroup now."""
        with contextlib.suppress(OSError):
            text = (self._dirs[0] / "cgroup.procs").read_text()
            return [int(line) for line in text.split()]
        return []

    def freeze(self) -> None:
        """Freeze every process (only where ``freezer`` is true)."""

    def thaw(self) -> None:
        """Undo ``freeze``."""

    def kill(self) -> None:
        """SIGKILL every process in the cgroup."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def _peak_file(self) -> Path | None:
        """Where the kernel keeps the cgroup's peak memory use (None: nowhere)."""
        return None

    def peak_memory_mb(self) -> int:
        """The peak memory use in MB, rounded up; 0 where it cannot be read. Every
        invocation's REPORT asks: the file stays open and is read again from its start
        (one pread instead of an open, a read and a close)."""
        try:
            if self._peak_fd is None:
                path = self._peak_file()
                if path is None:
                    return 0
                self._peak_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            return (int(os.pread(self._peak_fd, 32, 0)) + (1 << 20) - 1) >> 20
        except (OSError, ValueError):
            return 0

    def remove(self) -> None:
        """Remove the directories once the processes are gone (retrying while they exit:
        a thousand killed processes, a fork bomb's, take seconds on a busy machine)."""
        if self._peak_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._peak_fd)
            self._peak_fd = None
        deadline = time.monotonic() + 10
        for path in self._dirs:
            while time.monotonic() < deadline:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break
                    self.kill()
                    time.sleep(0.01)


class CgroupV2(Cgroup):
    freezer = True

    def freeze(self) -> None:
        _write(self._dirs[0] / "cgroup.freeze", "1")

    def thaw(self) -> None:
        _write(self._dirs[0] / "cgroup.freeze", "0")

    def kill(self) -> None:
        # cgroup.kill (Linux 5.14) kills the tree atomically, frozen processes included.
        if not _write(self._dirs[0] / "cgroup.kill", "1"):
            super().kill()

    def _peak_file(self) -> Path:
        return self._dirs[0] / "memory.peak"


class CgroupV1(Cgroup):
    """v1: ``_dirs`` is [pids, memory, cpu], pids first (it lists the processes)."""

    def _peak_file(self) -> Path:
        return self._dirs[1] / "memory.max_usage_in_bytes"


class Cgroups:
    """Where this server's environments' cgroups go, and how to make one."""

    def __init__(self, version: int, bases: list[Path]) -> None:
        self.version = version
        self._bases = bases  # v2: [base]; v1: [pids, memory, cpu] bases

    @property
    def description(self) -> str:
        return f"cgroup v{self.version} under {self._bases[0].parent}"

    def create(self, name: str, limits: Limits) -> Cgroup:
        """A new cgroup with ``limits``. Raises OSError if the kernel refuses."""
        dirs = [base / name for base in self._bases]
        for path in dirs:
            path.mkdir()
        try:
            _apply(self.version, dirs, limits)
            fds = [os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for path in dirs]
        except OSError:
            for path in dirs:
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise
        if self.version == 2:
            return CgroupV2(dirs, fds)
        return CgroupV1(dirs, fds)

    def close(self) -> None:
        """Remove this server's base directories (empty once every sandbox is gone)."""
        for base in self._bases:
            with contextlib.suppress(OSError):
                base.rmdir()


def _apply(version: int, dirs: list[Path], limits: Limits) -> None:
    """Write ``limits`` into a cgroup's control files (raises OSError)."""
    memory = limits.memory_mb * 1024 * 1024
    if version == 2:
        (cgroup,) = dirs
        _set(cgroup / "memory.max", str(memory))
        _write(cgroup / "memory.swap.max", "0")  # absent without swap accounting
        _set(cgroup / "pids.max", str(limits.pids_max))
        weight = 1 if limits.background else _cpu_weight(limits.memory_mb)
        _write(cgroup / "cpu.weight", str(weight))
    else:
        pids, mem, cpu = dirs
        _set(pids / "pids.max", str(limits.pids_max))
        # memsw exists only with swap accounting and must not be below the limit: the
        # order of the two writes depends on whether the limit grows or shrinks.
        memsw = mem / "memory.memsw.limit_in_bytes"
        if not _write(memsw, str(memory)):
            _set(mem / "memory.limit_in_bytes", str(memory))
            _write(memsw, str(memory))
        else:
            _set(mem / "memory.limit_in_bytes", str(memory))
        shares = 2 if limits.background else max(2, _cpu_weight(limits.memory_mb) * 1024 // 100)
        _write(cpu / "cpu.shares", str(shares))


def _cpu_weight(memory_mb: int) -> int:
    """cgroup v2 weight (default 100 = one vCPU's share) for ``memory_mb``."""
    return min(10000, max(1, round(100 * memory_mb / MB_PER_VCPU)))


def _own_paths() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and "" for the v2 hierarchy."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if not controllers:
            paths[""] = path
        for controller in controllers.split(","):
            paths[controller] = path
    return paths


def remove_stale(parent: Path) -> None:
    """Remove what servers that died without closing (``sandlot-<pid>-…``) left in ``parent``.

    Their sandboxes died with them (bwrap's --die-with-parent), so only empty
    directories remain; a directory still in use refuses rmdir and is kept.
    """
    with contextlib.suppress(OSError):
        for base in parent.glob("sandlot-*-*"):
            pid = base.name.split("-")[1]
            if not pid.isdigit() or Path(f"/proc/{pid}").exists():
                continue
            for child in base.iterdir():
                if child.is_dir():
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                base.rmdir()


def probe(tag: str) -> tuple[Cgroups | None, str]:
    """Cgroups this server can create environments' cgroups in, or None and why not.

    ``tag`` names this server's base directory: ``sandlot-<pid>-<unique>``.
    """
    try:
        own = _own_paths()
    except OSError as exc:
        return None, f"cannot read /proc/self/cgroup: {exc}"
    v2_mount = CGROUP_ROOT if (CGROUP_ROOT / "cgroup.controllers").exists() else None
    if v2_mount is not None and "" in own:
        return _probe_v2(v2_mount / own[""].lstrip("/"), tag)
    if all(name in own for name in ("memory", "pids", "cpu")):
        return _probe_v1(own, tag)
    return None, "no cgroup v2 hierarchy with memory and pids, nor v1 memory, pids and cpu"


def _probe_v2(own_dir: Path, tag: str) -> tuple[Cgroups | None, str]:
    needed = {"memory", "pids"}
    available = set((own_dir / "cgroup.controllers").read_text().split())
    if not needed <= available:
        missing = ", ".join(sorted(needed - available))
        return None, f"cgroup v2 at {own_dir} lacks the {missing} controller"
    base = own_dir / tag
    remove_stale(own_dir)
    try:
        # Children may only have controllers their parent enables, and a v2 cgroup
        # with processes in it cannot enable any ("no internal processes"): the server
        # therefore keeps its own processes out of the base it hands controllers to.
        base.mkdir(exist_ok=True)
        wanted = " ".join(f"+{name}" for name in sorted(needed | ({"cpu"} & available)))
        enabled = set((own_dir / "cgroup.subtree_control").read_text().split())
        if not needed <= enabled:
            (own_dir / "cgroup.subtree_control").write_text(wanted)
        (base / "cgroup.subtree_control").write_text(wanted)
    except OSError as exc:
        with contextlib.suppress(OSError):
            base.rmdir()
        # EBUSY: other processes share the server's cgroup; EACCES: not delegated.
        return None, (
            f"cannot enable the memory and pids controllers below {own_dir} ({exc.strerror}); "
            "start sandlot alone in a cgroup delegated to its user"
        )
    return Cgroups(2, [base]), ""


def _probe_v1(own: dict[str, str], tag: str) -> tuple[Cgroups | None, str]:
    bases = [CGROUP_ROOT / name / own[name].lstrip("/") / tag for name in ("pids", "memory", "cpu")]
    made = []
    for base in bases:
        remove_stale(base.parent)
    try:
        for base in bases:
            base.mkdir(exist_ok=True)
            made.append(base)
    except OSError as exc:
        for base in made:
            with contextlib.suppress(OSError):
                base.rmdir()
        return None, f"cannot create cgroups under {base.parent} ({exc.strerror})"
    return Cgroups(1, bases), ""


def _write(path: Path, value: str) -> bool:
    """Write a control file that may not exist on this kernel; False if it could not."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        os.write(fd, value.encode())
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _set(path: Path, value: str) -> None:
    """Write a control file the limits depend on (raises OSError)."""
    path.write_text(value)
