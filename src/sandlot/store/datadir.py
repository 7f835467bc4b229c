"""The data dir: private to the user who runs sandlot, and used by one server at a time.

It holds every issued secret (``sandlot.db``, ``root-credentials.json``) and every
object's bytes, so it is mode 0700 (a looser one is tightened at start, and said so);
the server runs with umask 077, so all it creates inside is 0600/0700.

Two servers on one data dir would both run each queued event, and one's start-up
clean-up (the blob area's partial writes) would delete the other's in-flight writes:
a server holds an exclusive ``flock`` on ``sandlot.lock`` for its whole life (the
kernel drops it when the process ends, kill -9 included), and a second one is refused
before it touches anything. The lock file says who holds it: ``{"pid", "endpoint"}``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

LOCK_FILE = "sandlot.lock"
MODE = 0o700


class DataDirInUse(Exception):
    """Another live server holds the data dir."""


class DataDir:
    """An opened data dir whose lock this process holds until ``release`` (or its end)."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._fd = lock_fd

    @classmethod
    def open(cls, path: Path, notice: Callable[[str], None]) -> DataDir:
        """Create or tighten ``path`` to 0700 and take its lock; DataDirInUse if held.
        ``notice`` gets one line when the mode had to be tightened."""
        path.mkdir(mode=MODE, parents=True, exist_ok=True)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, MODE)
            # An older sandlot's database: SQLite gives its new WAL files the same mode.
            for entry in path.iterdir():
                if entry.is_file() and not entry.is_symlink():
                    os.chmod(entry, stat.S_IMODE(entry.stat().st_mode) & 0o700)
            notice(f"data dir {path} was mode {mode:04o}; made it 0700 (it holds secrets)")
        # O_CLOEXEC: no process sandlot starts may keep the lock alive after it.
        fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise DataDirInUse(
                f"data dir {path} is in use by another sandlot server ({holder}); stop it "
                "first, or give this one its own --data-dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        data_dir = cls(path, fd)
        data_dir.announce(None)
        return data_dir

    def announce(self, endpoint: str | None) -> None:
        """Record this server's pid (and its endpoint, once listening) in the lock file."""
        data = json.dumps({"pid": os.getpid(), "endpoint": endpoint}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = -1


def _holder(fd: int) -> str:
    """Who holds the lock, from what it wrote: ``pid 123, http://127.0.0.1:4566``."""
    with contextlib.suppress(OSError, ValueError):
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        if info.get("pid"):
            return ", ".join(
                str(part) for part in (f"pid {info['pid']}", info.get("endpoint")) if part
            )
    return "pid unknown: it is still starting"
