"""Lambda runtimes: which command starts an environment's runtime, with which variables.

- ``python3.9`` … ``python3.13``: sandlot's ``python_bootstrap.py`` on the host's Python
  (``sys.executable``); a one-line notice goes to the log when the minor version
  differs from the one asked for.
- ``nodejs18.x`` / ``nodejs20.x`` / ``nodejs22.x``: ``node_bootstrap.js`` on the host's
  ``node``.
- ``provided``, ``provided.al2``, ``provided.al2023``: the executable ``bootstrap`` of
  the deployment package, else of the layers (``/opt/bootstrap``), as Lambda looks.

Variables follow Lambda's: layers' ``python`` and ``nodejs/node_modules`` directories
are on PYTHONPATH / NODE_PATH, ``<opt>/bin`` on PATH, ``<opt>/lib`` on LD_LIBRARY_PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from sandlot.execution.api import FunctionSpec
from sandlot.execution.sandbox import Layout

RUNTIME_DIR = Path(__file__).resolve().parent

PYTHON_RUNTIMES = {f"python3.{minor}": minor for minor in range(9, 14)}
NODE_RUNTIMES = {"nodejs18.x": 18, "nodejs20.x": 20, "nodejs22.x": 22}
# The host's interpreter itself, not a virtual environment's link to it: with -S a
# venv adds nothing, and the linux sandbox then only needs the base installation.
PYTHON = os.path.realpath(sys.executable)
PROVIDED_RUNTIMES = frozenset({"provided", "provided.al2", "provided.al2023"})
SUPPORTED_RUNTIMES = frozenset(PYTHON_RUNTIMES) | frozenset(NODE_RUNTIMES) | PROVIDED_RUNTIMES


class RuntimeUnavailable(Exception):
    """The runtime cannot start; reported to the invoker as an init error."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start one environment's runtime."""

    argv: tuple[str, ...]
    env: dict[str, str]  # runtime-specific variables, overridable by the function's own
    execution_env: str | None  # AWS_EXECUTION_ENV (Lambda sets none for provided*)
    notice: str | None = None  # a line for the log at INIT


def launch(spec: FunctionSpec, layout: Layout, code_dir: Path, opt_dir: Path) -> Launch:
    """The command and variables for ``spec``'s runtime.

    ``code_dir`` and ``opt_dir`` are the host's view (to find a bootstrap).
    """
    opt = layout.opt
    env = {
        "PATH": _join(os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), f"{opt}/bin"),
        "LD_LIBRARY_PATH": _join(
            f"{layout.task_root}/lib", f"{opt}/lib", os.environ.get("LD_LIBRARY_PATH", "")
        ),
    }
    runtime = spec.runtime
    if runtime in PYTHON_RUNTIMES:
        minor = PYTHON_RUNTIMES[runtime]
        # Lambda's order: the code (the bootstrap puts it first), the layers, then the
        # runtime's own packages, which layers can therefore override.
        env["PYTHONPATH"] = _join(
            f"{opt}/python/lib/python3.{minor}/site-packages",
            f"{opt}/python",
            layout.python_packages,
        )
        host = sys.version_info
        notice = None
        if host[:2] != (3, minor):
            notice = (
                f"sandlot: {runtime} runs on the host's Python "
                f"{host.major}.{host.minor}.{host.micro} ({PYTHON})"
            )
        # -u: unbuffered output, so each line reaches the log as it is printed.
        # -S: no site-packages of the host; functions see what Lambda's runtime has.
        argv = (PYTHON, "-S", "-u", f"{layout.runtime_dir}/python_bootstrap.py")
        return Launch(argv, env, f"AWS_Lambda_{runtime}", notice)
    if runtime in NODE_RUNTIMES:
        node = shutil.which("node")
        if node is None:
            raise RuntimeUnavailable(
                "Runtime.InvalidEntrypoint",
                f"sandlot: the {runtime} runtime needs `node` on the host's PATH",
            )
        major = NODE_RUNTIMES[runtime]
        env["NODE_PATH"] = _join(
            f"{opt}/nodejs/node{major}/node_modules",
            f"{opt}/nodejs/node_modules",
            layout.runtime_dir,
            layout.task_root,
        )
        argv = (node, f"{layout.runtime_dir}/node_bootstrap.js")
        return Launch(argv, env, f"AWS_Lambda_{runtime}")
    if runtime in PROVIDED_RUNTIMES:
        minor = sys.version_info.minor
        env["PYTHONPATH"] = _join(
            f"{opt}/python/lib/python3.{minor}/site-packages", f"{opt}/python"
        )
        if (code_dir / "bootstrap").is_file():
            return Launch((f"{layout.task_root}/bootstrap",), env, None)
        # Merged layers are links to where the sandbox shows the layers, maybe not here.
        if (opt_dir / "bootstrap").is_file() or (opt_dir / "bootstrap").is_symlink():
            return Launch((f"{opt}/bootstrap",), env, None)
        raise RuntimeUnavailable(
            "Runtime.InvalidEntrypoint",
            f"Couldn't find valid bootstrap(s): [{layout.task_root}/bootstrap {opt}/bootstrap]",
        )
    raise RuntimeUnavailable(
        "Runtime.InvalidRuntime", f"sandlot does not support the runtime {runtime!r}"
    )


def _join(*parts: str) -> str:
    return ":".join(part for part in parts if part)
