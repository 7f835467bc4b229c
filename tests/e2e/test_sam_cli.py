"""The SAM CLI (from PyPI) against sandlot."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest

from tests.e2e.conftest import cli_env, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.tools import sam_cli


@pytest.fixture(scope="module")
def sam():
    return sam_cli()


def _sam_env(endpoint: str) -> dict:
    env = cli_env(endpoint)
    env.update(SAM_CLI_TELEMETRY="0", SAM_CLI_CONTEXTS="", HOME=os.environ.get("HOME", "/tmp"))
    return env


def test_sam_logs_tail_shows_lines_as_they_happen(server, sam):
    lam = make_client(server.endpoint, "lambda")
    name = unique("samtail")
    create_function(
        lam,
        name,
        {
            "app.py": (
                "def handler(event, context):\n"
                "    print('tail me', event['n'])\n"
                "    return event['n']\n"
            )
        },
    )
    tail = subprocess.Popen(
        # The log group named directly (`sam logs -n NAME --stack-name S`, a stack's
        # function, is tests/e2e/test_sam_sync.py's).
        [
            str(sam),
            "logs",
            "--cw-log-group",
            f"/aws/lambda/{name}",
            "--tail",
            "--region",
            "us-east-1",
        ],
        env=_sam_env(server.endpoint),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(tail.stdout), daemon=True)
    reader.start()
    try:
        time.sleep(3)  # sam starts tailing
        for n in range(3):
            lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}).encode())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(any(f"tail me {n}" in line for line in lines) for n in range(3)):
                break
            time.sleep(0.5)
    finally:
        tail.terminate()
        tail.wait(10)
    output = "".join(lines)
    for n in range(3):
        assert f"tail me {n}" in output, output
    assert "REPORT RequestId" in output
