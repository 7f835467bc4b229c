"""`sandlot invoke` against a running server."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.conftest import cli_env, make_client
from tests.e2e.functions import create_function, unique, wait_for_log_events

CODE = {
    "app.py": (
        "def handler(event, context):\n"
        "    print('got', event)\n"
        "    if event.get('fail'):\n"
        "        raise RuntimeError('asked to fail')\n"
        "    return {'doubled': event['n'] * 2}\n"
    )
}


def sandlot(endpoint: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sandlot.cli.main", *args, "--endpoint", endpoint],
        env=cli_env(endpoint), capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_invoke_prints_result_and_log_tail(server, tmp_path):
    lam = make_client(server.endpoint, "lambda")
    name = unique("cli")
    create_function(lam, name, CODE)
    done = sandlot(server.endpoint, "invoke", name, "--payload", '{"n": 21}')
    assert done.returncode == 0, done.stderr
    assert '"doubled": 42' in done.stdout
    assert "got {'n': 21}" in done.stderr and "REPORT RequestId" in done.stderr

    event = tmp_path / "event.json"
    event.write_text('{"fail": true}')
    failed = sandlot(server.endpoint, "invoke", name, "--payload", f"@{event}")
    assert failed.returncode == 1
    assert '"errorType": "RuntimeError"' in failed.stdout


def test_invoke_async_and_bad_payload(server):
    lam = make_client(server.endpoint, "lambda")
    name = unique("cliasync")
    create_function(lam, name, CODE)
    queued = sandlot(server.endpoint, "invoke", name, "--async", "--payload", '{"n": 5}')
    assert queued.returncode == 0 and "queued (status 202)" in queued.stdout
    found = wait_for_log_events(make_client(server.endpoint, "logs"), name, '"got"')
    assert found and "{'n': 5}" in found[0]["message"]
    bad = sandlot(server.endpoint, "invoke", name, "--payload", "{not json")
    assert bad.returncode == 2 and "bad --payload" in bad.stderr


def test_multi_line_messages_print_as_lines(server):
    """Lambda's runtimes keep a multi-line message in one log event with "\\r" for its
    inner line breaks; on a terminal `sandlot invoke` and `sandlot logs` show lines."""
    lam = make_client(server.endpoint, "lambda")
    name = unique("clilines")
    code = {
        "app.py": (
            "import logging\n"
            "def handler(event, context):\n"
            "    logging.getLogger().error('first line\\nsecond line')\n"
            "    raise ValueError('broken')\n"
        )
    }
    create_function(lam, name, code)

    def run(*args: str) -> subprocess.CompletedProcess:  # bytes: what the terminal gets
        return subprocess.run(
            [sys.executable, "-m", "sandlot.cli.main", *args, "--endpoint", server.endpoint],
            env=cli_env(server.endpoint), capture_output=True, timeout=60,
        )  # fmt: skip

    invoked = run("invoke", name)
    assert invoked.returncode == 1
    tail = invoked.stderr.decode()
    assert "\r" not in tail
    assert "first line\nsecond line\n" in tail
    assert "Traceback (most recent call last):\n" in tail
    assert wait_for_log_events(make_client(server.endpoint, "logs"), name, "second")
    printed = run("logs", name).stdout.decode()
    assert "\r" not in printed
    assert "first line\nsecond line\n" in printed
