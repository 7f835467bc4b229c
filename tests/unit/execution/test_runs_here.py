"""Which bootstraps execve can run: the linux sandbox says ENOEXEC before starting one."""

import os
import sys
from pathlib import Path

from sandlot.execution.sandbox_linux import _runs_here


def test_scripts_and_host_binaries_run_other_architectures_and_plain_text_do_not(tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho hi\n")
    assert _runs_here(script)
    host = Path(os.path.realpath(sys.executable)).read_bytes()[:64]
    assert _runs_here(_write(tmp_path / "host", host))
    other = 62 if os.uname().machine == "aarch64" else 183  # x86_64 / aarch64
    foreign = host[:18] + other.to_bytes(2, "little") + host[20:]
    assert not _runs_here(_write(tmp_path / "foreign", foreign))
    assert not _runs_here(_write(tmp_path / "plain", b"echo hello\n"))


def _write(path, content: bytes):
    path.write_bytes(content)
    return path
