"""Every Lambda end-to-end test on the sandbox backend the rest of the suite does not
use: the suite's server runs the default (``linux`` where it works), this runs the
Lambda modules again, in a child pytest, with the ``process`` backend (and, where the
suite was asked for ``process``, with ``linux`` if this host has it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandlot.execution.sandbox import resolve_backend

LAMBDA_MODULES = (
    "test_lambda_invoke.py",
    "test_lambda_api.py",
    "test_lambda_runtimes.py",
    "test_isolation.py",
    "test_cli_invoke.py",
    "test_logs.py",
    "test_provisioned_concurrency.py",
)


def _other_backend() -> str | None:
    chosen = os.environ.get("SANDLOT_TEST_SANDBOX") or resolve_backend("auto")[0]
    if chosen == "linux":
        return "process"
    try:
        return resolve_backend("linux")[0]
    except ValueError:
        return None  # no linux sandbox on this host: the suite already ran on process


def test_lambda_suite_on_the_other_backend(tmp_path):
    if os.environ.get("SANDLOT_TEST_SANDBOX_CHILD"):
        pytest.skip("this is the child run")
    backend = _other_backend()
    if backend is None:
        pytest.skip("only the process backend works on this host")
    here = Path(__file__).parent
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "0",  # one child run, in this worker (the suite's own workers run beside it)
            "-p",
            "no:cacheprovider",
            *(str(here / m) for m in LAMBDA_MODULES),
        ],
        env={**os.environ, "SANDLOT_TEST_SANDBOX": backend, "SANDLOT_TEST_SANDBOX_CHILD": "1"},
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=here.parent.parent,
    )
    assert result.returncode == 0, f"on {backend}:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"
