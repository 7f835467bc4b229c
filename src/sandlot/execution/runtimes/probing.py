"""Asking an interpreter found on the host what it is: run it once with a one-line
program that prints JSON, and remember the answer per path."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from typing import Any


@functools.cache
def ask(argv: tuple[str, ...]) -> Any | None:
    """The JSON ``argv`` prints (None: it does not run, fails, or prints no JSON); asked
    once per ``argv``, with a minimal environment."""
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            timeout=30,
            check=False,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        return json.loads(done.stdout)
    except ValueError:
        return None
