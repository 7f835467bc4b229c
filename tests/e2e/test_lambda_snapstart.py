"""SnapStart for Python: a published version is initialised once (its snapshot), and
its cold starts restore from it, running snapshot_restore_py's hooks as AWS does."""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time

import pytest

from sandlot.execution.runtimes import java
from sandlot.execution.sandbox_linux import linux_backend_available
from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.server import SandlotServer

# INIT sleeps 0.6 s: a restore that took it again would show in every timing below.
APP = """
import os, time, uuid
from snapshot_restore_py import register_after_restore, register_before_snapshot

time.sleep(0.6)
INIT_PID = os.getpid()
STATE = {"before": 0, "after": 0, "seed": uuid.uuid4().hex}
ORDER = []


@register_before_snapshot
def first():
    ORDER.append("first")


@register_before_snapshot
def before():
    STATE["before"] += 1
    ORDER.append("before")
    print("before-snapshot hook ran")


@register_after_restore
def after():
    STATE["after"] += 1
    STATE["seed"] = uuid.uuid4().hex  # uniqueness is the function's job after restore
    print("after-restore hook ran")


def handler(event, context):
    time.sleep(event.get("sleep", 0))  # held busy: concurrent calls need more environments
    return {
        "before": STATE["before"],
        "after": STATE["after"],
        "order": ORDER,
        "seed": STATE["seed"],
        "pid": os.getpid(),
        "init_pid": INIT_PID,
        "type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
    }
"""


@pytest.fixture(scope="module", params=["process", "linux"])
def sandbox(request) -> str:
    """Each test runs on both sandboxes (a server each)."""
    if request.param == "linux":
        available, reason = linux_backend_available()
        if not available:
            pytest.skip(f"the linux sandbox does not work here: {reason}")
    return request.param


@pytest.fixture(scope="module")
def lam(tmp_path_factory, sandbox):
    env = {"SANDLOT_SANDBOX": sandbox}
    with SandlotServer(tmp_path_factory.mktemp(f"snapstart-{sandbox}"), env=env) as server:
        yield make_client(server.endpoint, "lambda")


def _wait_state(lam, name: str, qualifier: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        config = lam.get_function_configuration(FunctionName=name, Qualifier=qualifier)
        if config["State"] != "Pending" or time.monotonic() > deadline:
            return config
        time.sleep(0.02)


def _invoke(lam, name: str, qualifier: str, payload: bytes = b"{}") -> tuple[dict, str]:
    answer = lam.invoke(FunctionName=name, Qualifier=qualifier, LogType="Tail", Payload=payload)
    tail = base64.b64decode(answer["LogResult"]).decode()
    return json.loads(answer["Payload"].read()), tail


@pytest.fixture(scope="module")
def published(lam):
    name = unique("snap")
    create_function(lam, name, {"app.py": APP}, SnapStart={"ApplyOn": "PublishedVersions"})
    version = lam.publish_version(FunctionName=name)
    return name, version


def test_publish_makes_the_snapshot(lam, published):
    name, version = published
    assert version["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    assert version["State"] == "Pending"  # INIT runs now, in the background
    config = _wait_state(lam, name, version["Version"])
    assert config["State"] == "Active"
    assert config["SnapStart"]["OptimizationStatus"] == "On"
    latest = lam.get_function_configuration(FunctionName=name)
    assert latest["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}


def test_cold_start_restores_without_init(lam, published, sandbox):
    name, version = published
    assert _wait_state(lam, name, version["Version"])["State"] == "Active"
    began = time.monotonic()
    result, tail = _invoke(lam, name, version["Version"])
    elapsed = time.monotonic() - began
    assert elapsed < 0.5, elapsed  # INIT (0.6 s) happened at publish, not now
    assert result["before"] == 1 and result["after"] == 1
    assert result["order"] == ["before", "first"]  # before-snapshot: reverse order
    if sandbox == "process":  # in a linux sandbox, the runtime is PID 2 of its own
        assert result["pid"] != result["init_pid"]  # a fork of the initialised runtime
    assert result["type"] == "snap-start"
    assert result["stream"] is None  # AWS: not available to SnapStart functions
    assert result["version"] == version["Version"]
    assert "RESTORE_START Runtime Version: python:3.12.v3.12." in tail
    assert "RESTORE_REPORT Restore Duration:" in tail
    assert "after-restore hook ran" in tail
    assert "before-snapshot hook ran" not in tail  # that ran in the snapshot's INIT
    report = next(line for line in tail.splitlines() if line.startswith("REPORT"))
    assert "Restore Duration:" in report and "Billed Restore Duration:" in report
    assert "Init Duration" not in report
    # Warm: same environment, no restore reported again.
    again, tail = _invoke(lam, name, version["Version"])
    assert again["seed"] == result["seed"] and again["after"] == 1
    assert "Restore Duration" not in tail


def test_concurrent_restores_are_separate_environments(lam, published):
    name, version = published
    _wait_state(lam, name, version["Version"])
    results: list[dict] = []

    def call() -> None:
        results.append(_invoke(lam, name, version["Version"], b'{"sleep": 0.5}')[0])

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    assert all(r["before"] == 1 and r["after"] == 1 for r in results)
    # Each busy: three restored environments, each made unique by the after-restore hook.
    assert len({r["seed"] for r in results}) == 3


def test_latest_is_not_snapshotted(lam, published):
    name, _ = published
    result, tail = _invoke(lam, name, "$LATEST")
    assert result["before"] == 0 and result["after"] == 0  # no hooks outside SnapStart
    assert result["type"] == "on-demand"
    assert result["pid"] == result["init_pid"]
    assert "Init Duration" in tail and "Restore Duration" not in tail


def test_failing_init_fails_the_version(lam):
    name = unique("snapfail")
    code = {"app.py": "raise RuntimeError('no snapshot for you')\ndef handler(e, c):\n    pass\n"}
    create_function(lam, name, code, SnapStart={"ApplyOn": "PublishedVersions"})
    version = lam.publish_version(FunctionName=name)["Version"]
    config = _wait_state(lam, name, version)
    assert config["State"] == "Failed"
    assert config["StateReasonCode"] == "FunctionError"
    answer = lam.invoke(FunctionName=name, Qualifier=version)
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "no snapshot for you"


def test_runtime_sandlot_cannot_snapshot_says_so(lam):
    name = unique("snapnode")
    code = {"index.js": "exports.handler = async () => 'hi';\n"}
    create_function(
        lam,
        name,
        code,
        runtime="nodejs20.x",
        handler="index.handler",
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    version = lam.publish_version(FunctionName=name)["Version"]
    assert _wait_state(lam, name, version)["State"] == "Failed"
    answer = lam.invoke(FunctionName=name, Qualifier=version)
    error = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "SnapStartException"
    assert "Python" in error["errorMessage"]


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a JDK (.ci/run installs one)")
def test_java_without_crac_fails_the_version_saying_so(lam):
    jdk = java.probe(shutil.which("java") or "")
    assert jdk is not None
    runtime = f"java{jdk.major}"
    name = unique("snapjava")
    # INIT never runs: the version fails because the JVM cannot be checkpointed.
    create_function(
        lam,
        name,
        {"README": "no classes needed"},
        runtime=runtime,
        handler="example.Handler::handleRequest",
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    version = lam.publish_version(FunctionName=name)["Version"]
    config = _wait_state(lam, name, version, timeout=120)  # the RIC's jars: fetched once
    assert config["State"] == "Failed"
    assert config["StateReasonCode"] == "InvalidRuntime"
    assert "CRaC" in config["StateReason"] and jdk.home in config["StateReason"]
    answer = lam.invoke(FunctionName=name, Qualifier=version)
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "SnapStartException"
    assert f"snapshot of {runtime}" in error["errorMessage"]
    assert "no CRaC support" in error["errorMessage"]
    # $LATEST (never snapshotted) is not affected: it fails only on its missing class.
    latest = lam.get_function_configuration(FunctionName=name)
    assert latest["State"] == "Active" and "StateReasonCode" not in latest
