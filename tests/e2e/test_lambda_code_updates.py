"""Invocations overlapping UpdateFunctionCode: AWS runs the old code or the new, always.

A package's extracted directory lives until the last execution environment built from
it is gone, so an environment still serving the old code keeps its /var/task whole,
and deploying A, then B, then A again finds A's environments intact.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.functions import (
    create_function,
    unique,
    wait_active,
    wait_for_log_events,
    zip_of,
)
from tests.e2e.server import SandlotServer


def _package(tag: str) -> dict[str, str]:
    """A handler that answers its tag and reads a data file of its own package."""
    return {
        "app.py": (
            "import os\n"
            "HERE = os.path.dirname(os.path.abspath(__file__))\n"
            "def handler(event, context):\n"
            "    with open(os.path.join(HERE, 'data', 'tag.txt')) as f:\n"
            "        data = f.read()\n"
            f"    return {{'tag': {tag!r}, 'data': data}}\n"
        ),
        "data/tag.txt": tag,
    }


A, B = _package("A"), _package("B")


@pytest.fixture
def lam(server):
    return make_client(server.endpoint, "lambda")


def _invoke(lam, name: str) -> tuple[str | None, dict]:
    response = lam.invoke(FunctionName=name, Payload=b"{}")
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def _update(lam, name: str, code: dict[str, str]) -> None:
    lam.update_function_code(FunctionName=name, ZipFile=zip_of(code))
    wait_active(lam, name)


def test_invokes_during_code_updates_all_succeed(lam, server):
    name = unique("overlap")
    create_function(lam, name, A)
    failures: list = []
    answers: list[str] = []
    stop = threading.Event()

    def invoker() -> None:
        client = make_client(server.endpoint, "lambda")
        while not stop.is_set():
            error, body = _invoke(client, name)
            if error or body.get("tag") not in ("A", "B") or body["data"] != body["tag"]:
                failures.append((error, body))
            else:
                answers.append(body["tag"])

    threads = [threading.Thread(target=invoker) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for i in range(10):
            _update(lam, name, B if i % 2 == 0 else A)
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    assert {"A", "B"} <= set(answers)


def test_deploy_a_then_b_then_a_again(lam):
    name = unique("aba")
    create_function(lam, name, A)
    assert _invoke(lam, name) == (None, {"tag": "A", "data": "A"})
    _update(lam, name, B)
    assert _invoke(lam, name) == (None, {"tag": "B", "data": "B"})
    _update(lam, name, A)
    for _ in range(3):  # the warm environment of A, and again
        assert _invoke(lam, name) == (None, {"tag": "A", "data": "A"})


def test_old_environment_reads_its_package_while_busy_across_an_update(lam, server):
    """An invocation that started on A and reads its package after the update to B."""
    name = unique("slowread")
    slow = {
        "app.py": (
            "import os, time\n"
            "HERE = os.path.dirname(os.path.abspath(__file__))\n"
            "def handler(event, context):\n"
            "    if event.get('sleep'):\n"
            "        print('sleeping ' + context.aws_request_id, flush=True)\n"
            "    time.sleep(event.get('sleep', 0))\n"
            "    with open(os.path.join(HERE, 'data', 'tag.txt')) as f:\n"
            "        return {'tag': 'A', 'data': f.read()}\n"
        ),
        "data/tag.txt": "A",
    }
    create_function(lam, name, slow, Timeout=30)
    assert _invoke(lam, name) == (None, {"tag": "A", "data": "A"})  # warm: no cold start
    result: dict = {}

    def slow_invoke() -> None:
        client = make_client(server.endpoint, "lambda")
        response = client.invoke(FunctionName=name, Payload=json.dumps({"sleep": 5}).encode())
        result["error"] = response.get("FunctionError")
        result["body"] = json.loads(response["Payload"].read())

    thread = threading.Thread(target=slow_invoke)
    thread.start()
    # The slow invocation is running on A once its handler says so (no fixed sleep:
    # under load the request may take long to get there).
    logs = make_client(server.endpoint, "logs")
    assert wait_for_log_events(logs, name, '"sleeping"', timeout=60)
    _update(lam, name, B)
    assert _invoke(lam, name) == (None, {"tag": "B", "data": "B"})
    thread.join(timeout=30)
    assert result == {"error": None, "body": {"tag": "A", "data": "A"}}


def _extracted(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "code").iterdir() if not p.name.startswith(".")}


def test_an_old_package_goes_with_its_last_environment_and_at_restart(tmp_path):
    """Replaced code stays on disk while environments run it, then goes: when its last
    pool is dropped (after the keep-alive), or at the next start."""
    data = tmp_path / "data"
    env = {"SANDLOT_KEEP_ALIVE_SECONDS": "1"}
    with SandlotServer(data, env=env) as running:
        lam = make_client(running.endpoint, "lambda")
        name = unique("lifetime")
        create_function(lam, name, A)
        assert _invoke(lam, name)[1]["tag"] == "A"
        (package_a,) = _extracted(data)
        _update(lam, name, B)
        assert _invoke(lam, name)[1]["tag"] == "B"
        deadline = time.monotonic() + 20
        while package_a in _extracted(data) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert package_a not in _extracted(data) and len(_extracted(data)) == 1
    with SandlotServer(data, env={"SANDLOT_KEEP_ALIVE_SECONDS": "300"}) as running:
        lam = make_client(running.endpoint, "lambda")
        _update(lam, name, A)
        assert _invoke(lam, name)[1]["tag"] == "A"
        _update(lam, name, B)  # A's environment keeps A's directory...
        assert package_a in _extracted(data)
        running.kill()  # ...and a crash leaves it behind
    with SandlotServer(data):
        assert package_a not in _extracted(data)  # swept at start: no row names it
