"""Finding the Python interpreter a ``python3.X`` runtime names, and its provided packages.

A function runs on the major.minor version its runtime names, or not at all. Where
sandlot looks for Python 3.X, first found wins:

1. ``SANDLOT_RUNTIME_PYTHON3_X`` (the path of an interpreter; it must be 3.X);
2. the server's own interpreter, when it is 3.X;
3. ``python3.X`` on the server's PATH;
4. pyenv's versions (``$PYENV_ROOT``, else ``~/.pyenv``): ``versions/3.X.*``, newest first;
5. uv's managed Pythons (``$UV_PYTHON_INSTALL_DIR``, else ``~/.local/share/uv/python``):
   ``cpython-3.X.*``, newest first.

Each candidate is run once (``-S``, a few milliseconds) to read its real version,
executable and installation prefix; the answer is cached per path for the server's
lifetime, so a pyenv shim or a broken link costs one try.

The packages Lambda's Python runtime provides (boto3 and its dependencies) are those
installed for sandlot when they support 3.X (their ``Requires-Python``); otherwise a
pinned set that does is installed once with pip into the user cache dir.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from sandlot.execution.runtimes import probing

# The host's interpreter itself, not a virtual environment's link to it: with -S a
# venv adds nothing, and the linux sandbox then only needs the base installation.
SERVER_PYTHON = os.path.realpath(sys.executable)

# Distributions behind the provided packages (engine.PYTHON_RUNTIME_PACKAGES).
PROVIDED_DISTRIBUTIONS = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "urllib3",
    "python-dateutil",
    "six",
)
# For a Python the server's own copies do not support: the newest releases that do
# (pip's resolution for that version when these pins were chosen).
PINNED_PACKAGES = {
    9: (
        "boto3==1.42.97",
        "botocore==1.42.97",
        "s3transfer==0.16.1",
        "jmespath==1.1.0",
        "urllib3==2.6.3",
        "python-dateutil==2.9.0.post0",
        "six==1.17.0",
    ),
}

_PROBE = (
    "import json, os, sys; print(json.dumps([list(sys.version_info[:3]), "
    "sys.implementation.name, os.path.realpath(sys.executable), sys.base_prefix]))"
)


@dataclass(frozen=True, slots=True)
class Interpreter:
    executable: str  # the real interpreter (links resolved)
    version: tuple[int, int, int]
    prefix: str  # its installation (sys.base_prefix): the standard library lives here

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


class NotFound(Exception):
    """No interpreter of the version; the message says where sandlot looked and how to
    provide one."""


def variable(minor: int) -> str:
    """The setting that names the interpreter of Python 3.``minor``."""
    return f"SANDLOT_RUNTIME_PYTHON3_{minor}"


def find(minor: int) -> Interpreter:
    """The interpreter of Python 3.``minor``; raises NotFound (saying how to provide one)."""
    name = variable(minor)
    explicit = os.environ.get(name)
    if explicit:
        found = probe(explicit)
        if found is None or found.version[:2] != (3, minor):
            what = f"Python {found.version_text}" if found else "not a Python interpreter"
            raise NotFound(f"{name}={explicit} is {what}, not Python 3.{minor}")
        return found
    for candidate in _candidates(minor):
        found = probe(candidate)
        if found is not None and found.version[:2] == (3, minor):
            return found
    raise NotFound(
        f"Python 3.{minor} is not installed where sandlot looks (PATH, pyenv, uv). "
        f"Install it (e.g. `pyenv install 3.{minor}` or `uv python install 3.{minor}`), "
        f"or set {name} to the path of a python3.{minor} interpreter, and invoke again."
    )


def _candidates(minor: int) -> list[str]:
    found = []
    if sys.version_info[:2] == (3, minor):
        found.append(SERVER_PYTHON)
    on_path = shutil.which(f"python3.{minor}")
    if on_path:
        found.append(on_path)
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found += _newest_first(glob.glob(f"{pyenv}/versions/3.{minor}.*/bin/python3.{minor}"))
    uv = os.environ.get("UV_PYTHON_INSTALL_DIR") or os.path.join(
        platformdirs.user_data_dir("uv", appauthor=False), "python"
    )
    found += _newest_first(glob.glob(f"{uv}/cpython-3.{minor}.*/bin/python3.{minor}"))
    return found


def _newest_first(paths: list[str]) -> list[str]:
    def key(path: str) -> tuple[int, ...]:
        match = re.search(r"3\.\d+\.(\d+)", path)
        return (int(match.group(1)) if match else -1,)

    return sorted(paths, key=key, reverse=True)


def probe(path: str) -> Interpreter | None:
    """What runs at ``path`` (None: not a working CPython), asked once per path."""
    answer = probing.ask((path, "-S", "-c", _PROBE))
    try:
        version, implementation, executable, prefix = answer  # type: ignore[misc]
    except (TypeError, ValueError):
        return None
    if implementation != "cpython":
        return None
    return Interpreter(executable, tuple(version), os.path.realpath(prefix))


def server_packages_support(minor: int) -> bool:
    """Whether the provided packages installed for sandlot declare support of 3.``minor``."""
    for name in PROVIDED_DISTRIBUTIONS:
        try:
            requires = importlib.metadata.metadata(name).get("Requires-Python") or ""
        except importlib.metadata.PackageNotFoundError:
            continue
        match = re.search(r">=\s*3\.(\d+)", requires)
        if match and minor < int(match.group(1)):
            return False
    return True


_installing = threading.Lock()


def provided_packages(minor: int) -> Path:
    """The directory of the pinned provided packages for 3.``minor``, installed with pip
    on first use into the user cache dir (atomically: a temporary directory renamed)."""
    pins = PINNED_PACKAGES.get(minor)
    if pins is None:
        raise NotFound(
            f"sandlot has no set of the packages Lambda's Python runtime provides "
            f"(boto3, …) for Python 3.{minor}"
        )
    digest = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12]
    root = Path(platformdirs.user_cache_dir("sandlot", appauthor=False)) / "python-packages"
    target = root / f"3.{minor}-{digest}"
    with _installing:
        if target.is_dir():
            return target
        root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".3.{minor}-", dir=root))
        try:
            # The server's own pip (its environment's), fetching wheels for 3.X (all pure Python).
            command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
            command += ["--disable-pip-version-check", "--only-binary=:all:"]
            command += ["--python-version", f"3.{minor}", "--target", str(scratch), *pins]
            done = subprocess.run(command, capture_output=True, timeout=600, check=False)
            if done.returncode != 0:
                reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
                raise NotFound(
                    f"cannot install the packages Lambda's Python 3.{minor} runtime provides "
                    f"(pip install {' '.join(pins)}): {' '.join(reason)}"
                )
            try:
                os.rename(scratch, target)  # another server may have won the race
            except OSError:
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target
