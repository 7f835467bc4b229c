"""SnapStart in the linux sandbox: restored environments are as isolated from each other,
from their template and from the host as fresh linux environments are (own /tmp, /dev,
processes, network, no capabilities, the memory cap of their own cgroup)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request

import pytest

from sandlot.execution import cgroups
from sandlot.execution.sandbox_linux import linux_backend_available
from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.server import SandlotServer

AVAILABLE, REASON = linux_backend_available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=f"no linux sandbox here: {REASON}")

APP = """
import errno, os, socket, time, uuid
from snapshot_restore_py import register_after_restore

time.sleep(0.5)  # INIT: paid once, at publish
with open("/tmp/from-init", "w") as f:  # AWS's snapshot holds the disk: restores see it
    f.write("init")
ME = {"id": None}


@register_after_restore
def name_me():
    ME["id"] = uuid.uuid4().hex


def handler(event, context):
    op = event.get("op")
    if op == "hog":
        hog = [bytearray(1 << 20) for _ in range(event["mb"])]
        return {"held": len(hog)}
    if op == "connect":
        try:
            socket.create_connection(("127.0.0.1", event["port"]), timeout=2).close()
            return {"connect": "connected"}
        except OSError as exc:
            return {"connect": errno.errorcode.get(exc.errno, str(exc))}
    if op == "privileges":
        status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
        seen = {k: status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs")}
        for name, attempt in (("chroot", lambda: os.chroot("/tmp")),
                              ("hostname", lambda: socket.sethostname("x"))):
            try:
                attempt()
                seen[name] = "allowed"
            except OSError as exc:
                seen[name] = errno.errorcode[exc.errno]
        seen["uid"] = os.getuid()
        seen["host"] = socket.gethostname()
        return seen
    # Leave a mark in every shared place there could be, wait for the others, look.
    for where in ("/tmp", "/dev/shm"):
        with open(f"{where}/{ME['id']}", "w") as f:
            f.write(ME["id"])
    time.sleep(event.get("sleep", 0))
    return {
        "id": ME["id"],
        "tmp": sorted(os.listdir("/tmp")),
        "shm": sorted(os.listdir("/dev/shm")),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "init": open("/proc/1/cmdline").read().split("\\0")[0],
    }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"SANDLOT_SANDBOX": "linux"}
    with SandlotServer(tmp_path_factory.mktemp("snaplinux"), env=env) as server:
        yield server


@pytest.fixture(scope="module")
def lam(server):
    return make_client(server.endpoint, "lambda")


def _publish(lam, **config) -> tuple[str, str]:
    name = unique("snapiso")
    snap = {"ApplyOn": "PublishedVersions"}
    create_function(lam, name, {"app.py": APP}, SnapStart=snap, **config)
    version = lam.publish_version(FunctionName=name)["Version"]
    deadline = time.monotonic() + 30
    while lam.get_function_configuration(FunctionName=name, Qualifier=version)["State"] != (
        "Active"
    ):
        assert time.monotonic() < deadline, "the snapshot was not made"
        time.sleep(0.05)
    return name, version


def _invoke(lam, name: str, version: str, event: dict) -> dict:
    answer = lam.invoke(FunctionName=name, Qualifier=version, Payload=json.dumps(event))
    return {"error": answer.get("FunctionError"), **json.loads(answer["Payload"].read())}


@pytest.fixture(scope="module")
def published(lam):
    return _publish(lam)


def _concurrently(lam, name: str, version: str, count: int) -> list[dict]:
    results: list[dict] = []

    def call() -> None:
        results.append(_invoke(lam, name, version, {"sleep": 0.6}))

    threads = [threading.Thread(target=call) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_restores_share_no_tmp_dev_or_processes(lam, published):
    name, version = published
    # Three at once, then four: three warm and a new restore, which starts from the
    # snapshot, not from what the others left.
    for count in (3, 4):
        results = _concurrently(lam, name, version, count)
        assert len({r["id"] for r in results}) == count  # that many environments
        for seen in results:
            assert seen["error"] is None, seen
            # Its own /tmp (with what INIT wrote, as in AWS's snapshot) and /dev/shm:
            # no mark of the other restores, which wrote theirs at the same time.
            assert seen["tmp"] == sorted(["from-init", seen["id"]])
            assert seen["shm"] == [seen["id"]]
            # Its own PID namespace: its init and its runtime, nothing of the
            # template's sandbox or of the other restores.
            assert seen["pids"] == [1, 2]
            assert seen["init"].startswith("/var/lang/bin/python3")


def test_restore_has_no_privileges(lam, published):
    name, version = published
    seen = _invoke(lam, name, version, {"op": "privileges"})
    assert seen["CapEff"] == seen["CapPrm"] == seen["CapBnd"] == "0000000000000000"
    assert seen["NoNewPrivs"] == "1"
    assert seen["chroot"] == seen["hostname"] == "EPERM"
    assert seen["uid"] == 993 and seen["host"] == "sandlot"


def test_restore_reaches_no_host_loopback_service(server, lam, published):
    with urllib.request.urlopen(server.endpoint + "/_sandlot/health", timeout=10) as response:
        health = json.loads(response.read())
    if health.get("function_network") != "isolated":
        pytest.skip("functions share the host's network here (no pasta)")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        name, version = published
        seen = _invoke(lam, name, version, {"op": "connect", "port": listener.getsockname()[1]})
        assert seen["connect"] == "ECONNREFUSED"
    finally:
        listener.close()


def _cgroups_usable() -> bool:
    found, _ = cgroups.probe(f"sandlot-probe-{os.getpid()}")
    if found is None:
        return False
    found.close()
    return True


def test_restore_is_capped_by_its_own_memory_limit(lam):
    if not _cgroups_usable():
        pytest.skip("no usable cgroups here: memory is not limited")
    name, version = _publish(lam, MemorySize=128)
    assert _invoke(lam, name, version, {"op": "hog", "mb": 16}) == {"error": None, "held": 16}
    killed = _invoke(lam, name, version, {"op": "hog", "mb": 400})
    assert killed["error"] == "Unhandled"
    assert killed["errorType"] == "Runtime.ExitError"
    assert killed["errorMessage"].endswith("signal: killed")
    # The template survived its restore's death: the next cold start restores again.
    again = _invoke(lam, name, version, {"op": "privileges"})
    assert again["error"] is None and again["uid"] == 993
