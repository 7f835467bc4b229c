"""A network namespace per environment (network.py): engine-level tests, real pasta.

Skipped where the zygote cannot make sandboxes or pasta cannot connect them (Debian:
apt-get install passt; .ci/run installs it).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket

import pytest

from sandlot.execution import network
from sandlot.execution.network import pasta_works, resolve_network
from sandlot.execution.sandbox_linux import NAMESPACES, linux_mechanism

from .helpers import alive, harness, wait_until

PASTA, PASTA_REASON = pasta_works()
needs_pasta = pytest.mark.skipif(
    not (PASTA and linux_mechanism()[0] == NAMESPACES), reason=f"no pasta: {PASTA_REASON}"
)

CONNECT = {
    "app.py": """
import os, socket, time
def handler(event, context):
    out = {"api": os.environ["AWS_LAMBDA_RUNTIME_API"],
           "resolver": open("/etc/resolv.conf").read().split("\\n")[0],
           "interfaces": sorted(open("/proc/net/dev").read().split("\\n")[2:])}
    out["interfaces"] = sorted(line.split(":")[0].strip() for line in out["interfaces"] if line)
    for name, port in event["ports"].items():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"from " + os.environ["AWS_LAMBDA_FUNCTION_NAME"].encode())
            out[name] = "connected"
        except OSError as exc:
            out[name] = type(exc).__name__
    time.sleep(event.get("sleep", 0))
    return out
"""
}


def listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def pasta_children(h) -> list[int]:
    """The pasta processes of the engine's sandboxes (children of their outer process)."""
    found = []
    for pool in h.engine._pools.values():
        for env in pool.environments:
            pid = env._sandbox.pid
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                for child in f.read().split():
                    with open(f"/proc/{child}/comm") as comm:
                        if comm.read().strip().startswith(("pasta", "passt")):
                            found.append(int(child))
    return found


@needs_pasta
async def test_each_environment_reaches_only_its_endpoint_and_runtime_api(tmp_path):
    endpoint, other = listener(), listener()
    port, other_port = endpoint.getsockname()[1], other.getsockname()[1]
    try:
        async with harness(
            tmp_path,
            sandbox="linux",
            isolate_network=True,
            endpoint_url=f"http://127.0.0.1:{port}",
        ) as h:
            assert h.engine._backend.isolates_network
            event = json.dumps({"ports": {"sandlot": port, "other": other_port}, "sleep": 0.3})
            # Two at once: one gets the spare (made ahead, its network too), the other
            # a sandbox made from scratch.
            results = await asyncio.gather(
                h.invoke(h.spec(CONNECT, name="a"), event.encode()),
                h.invoke(h.spec(CONNECT, name="b"), event.encode()),
            )
            for result in results:
                assert result.function_error is None, result.payload
                seen = json.loads(result.payload)
                assert seen == {
                    "api": "127.0.0.1:9001",
                    "resolver": "nameserver 169.254.78.1",  # forwarded to the host's
                    "interfaces": ["eth0", "lo"],  # its own: pasta's, and loopback
                    "sandlot": "connected",
                    "other": "ConnectionRefusedError",
                }
            received = set()
            for _ in range(2):
                connection, _ = await asyncio.to_thread(endpoint.accept)
                with connection:
                    received.add(connection.recv(100))
            assert received == {b"from a", b"from b"}
            pastas = pasta_children(h)
            assert len(pastas) == 2
            await h.engine.close()
            # pasta ends with its sandbox (PR_SET_PDEATHSIG: a signal, so not at once).
            assert await wait_until(lambda: not any(alive(pid) for pid in pastas))
    finally:
        endpoint.close()
        other.close()


@needs_pasta
async def test_warm_invokes_keep_the_network(tmp_path):
    endpoint = listener()
    port = endpoint.getsockname()[1]
    try:
        async with harness(
            tmp_path, sandbox="linux", isolate_network=True, endpoint_url=f"http://127.0.0.1:{port}"
        ) as h:
            spec = h.spec(CONNECT)
            first = await h.invoke(spec, json.dumps({"ports": {}}).encode())
            for _ in range(5):
                result = await h.invoke(spec, json.dumps({"ports": {}}).encode())
                assert result.function_error is None and result.environment_id == (
                    first.environment_id
                )
    finally:
        endpoint.close()


def test_without_pasta_functions_share_the_network_with_a_warning(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    pasta_works.cache_clear()
    try:
        if linux_mechanism()[0] == NAMESPACES:
            isolated, warning = resolve_network("auto", "linux")
            assert not isolated
            assert warning == (
                "warning: Lambda functions share the host's network (pasta is not installed "
                "(Debian: apt-get install passt)): they can reach every service on this "
                "machine's loopback, sandlot's main endpoint included"
            )
            with pytest.raises(
                ValueError, match="refusing to start with SANDLOT_FUNCTION_NETWORK=isolated"
            ):
                resolve_network("isolated", "linux")
    finally:
        pasta_works.cache_clear()
    assert resolve_network("shared", "linux") == (False, None)
    isolated, warning = resolve_network("auto", "process")
    assert not isolated and "the process sandbox cannot give functions a network" in warning
    with pytest.raises(ValueError, match="unknown function network"):
        resolve_network("vpc", "linux")


def test_pasta_command_line():
    """Only the two forwarded ports, no mapping of the host's loopback, IPv4, no ICMP,
    no inotify watch of its own for the namespace's end."""
    argv = network.pasta_argv("/usr/bin/pasta", 40001, 4567, 1234)
    assert argv[:15] == [
        "/usr/bin/pasta", "--config-net", "--no-map-gw", "-4", "--no-icmp", "--no-netns-quit",
        "-q", "-f", "-t", "none", "-u", "none", "-U", "4567", "-T",
    ]  # fmt: skip
    assert argv[15:20] == ["9001:40001", "-T", "4567", "--dns-forward", "169.254.78.1"]
    assert argv[-1] == "/proc/1234/ns/net"


def test_up_says_once_that_functions_share_the_network(monkeypatch, capsys):
    from sandlot.cli import main

    if linux_mechanism()[0] != NAMESPACES:
        pytest.skip("the linux sandbox's namespaces are unavailable here")
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setattr("sandlot.gateway.server.run", lambda settings: None)
    pasta_works.cache_clear()
    try:
        assert main.main(["up", "--sandbox", "linux", "--port", "0"]) == 0
        monkeypatch.setenv("SANDLOT_FUNCTION_NETWORK", "isolated")
        assert main.main(["up", "--sandbox", "linux", "--port", "0"]) == 2
    finally:
        pasta_works.cache_clear()
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "sandlot: warning: Lambda functions share the host's network (pasta is not installed "
        "(Debian: apt-get install passt)): they can reach every service on this machine's "
        "loopback, sandlot's main endpoint included",
        "sandlot: refusing to start with SANDLOT_FUNCTION_NETWORK=isolated: pasta is not installed "
        "(Debian: apt-get install passt)",
    ]
