"""Finding the Ruby a ``ruby3.X`` runtime names.

A function runs on the major.minor version its runtime names, or not at all. Where
sandlot looks for Ruby 3.X, first found wins:

1. ``SANDLOT_RUNTIME_RUBY3_X`` (the path of a ``ruby``; it must be 3.X);
2. ``ruby3.X`` on the server's PATH (Debian's naming), then ``ruby``;
3. rbenv's versions (``$RBENV_ROOT``, else ``~/.rbenv``): ``versions/3.X.*``, newest first.

Each candidate is run once to read its version, executable and installation prefix.
"""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass

from sandlot.execution.runtimes import probing

_PROBE = (
    "require 'json'; require 'rbconfig'; puts JSON.generate([RUBY_VERSION, "
    "File.realpath(RbConfig.ruby), RbConfig::CONFIG['prefix']])"
)


@dataclass(frozen=True, slots=True)
class Ruby:
    executable: str
    version: tuple[int, int, int]
    prefix: str

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


class NotFound(Exception):
    """No Ruby of the version; the message says where sandlot looked and how to provide one."""


def variable(minor: int) -> str:
    return f"SANDLOT_RUNTIME_RUBY3_{minor}"


def find(minor: int) -> Ruby:
    name = variable(minor)
    explicit = os.environ.get(name)
    if explicit:
        found = probe(explicit)
        if found is None or found.version[:2] != (3, minor):
            what = f"Ruby {found.version_text}" if found else "not a Ruby interpreter"
            raise NotFound(f"{name}={explicit} is {what}, not Ruby 3.{minor}")
        return found
    rbenv = os.environ.get("RBENV_ROOT") or os.path.expanduser("~/.rbenv")
    versions = sorted(glob.glob(f"{rbenv}/versions/3.{minor}.*/bin/ruby"), reverse=True)
    for candidate in (shutil.which(f"ruby3.{minor}"), shutil.which("ruby"), *versions):
        found = probe(candidate) if candidate else None
        if found is not None and found.version[:2] == (3, minor):
            return found
    raise NotFound(
        f"Ruby 3.{minor} is not installed where sandlot looks (PATH, rbenv). Install it "
        f"(e.g. `rbenv install 3.{minor}`), or set {name} to the path of a Ruby 3.{minor} "
        "`ruby`, and invoke again."
    )


def probe(path: str) -> Ruby | None:
    """What runs at ``path`` (None: not a working ruby), asked once per path."""
    answer = probing.ask((path, "-e", _PROBE))
    try:
        version, executable, prefix = answer  # type: ignore[misc]
        numbers = tuple(int(part) for part in version.split(".")[:3])
    except (TypeError, ValueError, AttributeError):
        return None
    return Ruby(executable, numbers, os.path.realpath(prefix))  # type: ignore[arg-type]
