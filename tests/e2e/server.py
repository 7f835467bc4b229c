"""Running a real sandlot server for end-to-end tests: `sandlot up` on a free loopback port."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

_ENDPOINT = re.compile(r"endpoint: (http://\S+)")
_HTTPS_ENDPOINT = re.compile(r"https endpoint: (https://\S+)")
_CA = re.compile(r"CA certificate: (\S+)")
SUITE_RUNTIME_DATE = "2026-01-15"


class SandlotServer:
    """A `sandlot up` child process. ``endpoint`` is its URL once started."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *args: str,
        env: dict | None = None,
        lambda_role: bool = True,
    ):
        self.data_dir = data_dir
        self.lambda_role = lambda_role and "--secure" not in args
        self.args = list(args)
        # Lambda's calendar (AWS's runtime deprecation dates) is pinned, so the suite's
        # functions on e.g. python3.11 do not start failing as those dates pass.
        self.env = {"SANDLOT_LAMBDA_RUNTIME_DATE": SUITE_RUNTIME_DATE, **os.environ, **(env or {})}
        # SANDLOT_TEST_SANDBOX=process|linux runs the end-to-end tests on that backend.
        chosen = os.environ.get("SANDLOT_TEST_SANDBOX")
        if chosen and not (env and "SANDLOT_SANDBOX" in env):
            self.env["SANDLOT_SANDBOX"] = chosen
        self.process: subprocess.Popen | None = None
        self.endpoint = ""
        self.https_endpoint = ""  # the HTTPS listener's URL, and the CA clients trust
        self.ca_path = ""
        self.output: list[str] = []

    def start(self, timeout: float = 20) -> SandlotServer:
        command = [sys.executable, "-m", "sandlot.cli.main", "up", "--port", "0", *self.args]
        command += ["--data-dir", str(self.data_dir)] if self.data_dir else ["--ephemeral"]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        for line in self.process.stdout:
            self.output.append(line)
            match = _ENDPOINT.search(line)
            if match:
                self.endpoint = match.group(1)
            if found := _HTTPS_ENDPOINT.search(line):
                self.https_endpoint = found.group(1)
            if found := _CA.search(line):
                self.ca_path = found.group(1)
            if line.startswith("ready in"):
                break
            if time.monotonic() > deadline:
                break
        if not self.endpoint or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("sandlot did not start:\n" + "".join(self.output))
        # Keep draining output so the server never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        if self.lambda_role:
            self._create_lambda_role()
        return self

    def _create_lambda_role(self) -> None:
        """The execution role most tests' functions use (tests.e2e.functions.ROLE),
        created as a developer would: trusted by Lambda, with basic execution rights."""
        from tests.e2e.conftest import make_client
        from tests.e2e.roles import ensure_role

        ensure_role(
            make_client(self.endpoint, "iam"),
            "lambda-role",
            managed=("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",),
        )

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def root_keys(self) -> tuple[str, str]:
        """The account root's access key id and secret, which secure mode writes to the
        data directory's root-credentials.json (owner-only)."""
        assert self.data_dir is not None, "an ephemeral server keeps no credentials file"
        keys = json.loads((self.data_dir / "root-credentials.json").read_text())
        return keys["aws_access_key_id"], keys["aws_secret_access_key"]

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> SandlotServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
