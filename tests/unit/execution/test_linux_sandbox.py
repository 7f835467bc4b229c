"""The ``linux`` sandbox backend: hostile functions against its namespaces and cgroups.

Each test is an engine-level test: a function written to break out, run through
``Engine.invoke`` under ``sandbox="linux"``, made by the default mechanism (the
zygote's own namespaces; nothing to install). Skipped only where the kernel allows
neither that nor bubblewrap; the limit tests also need cgroups the server can create.
The bubblewrap fallback has its own tests at the end (skipped without ``bwrap``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sandlot.execution import cgroups, sandbox_linux
from sandlot.execution.runtimes import PYTHON
from sandlot.execution.sandbox import create_backend
from sandlot.execution.sandbox_linux import (
    BUBBLEWRAP,
    NAMESPACES,
    SandboxUnavailable,
    linux_backend_available,
    linux_mechanism,
    zygote_sandbox_available,
)

from .helpers import NODE, PYTHON_RUNTIME, alive, harness, needs_node, wait_until
from .test_custom_runtimes import CURL, CURL_BOOTSTRAP, PYTHON_BOOTSTRAP, _ship_awslambdaric

AVAILABLE, REASON = linux_backend_available()
needs_linux = pytest.mark.skipif(not AVAILABLE, reason=f"linux sandbox unavailable: {REASON}")


def _cgroups_usable() -> tuple[bool, str]:
    found, reason = cgroups.probe(f"sandlot-probe-{os.getpid()}")
    if found is None:
        return False, reason
    found.close()
    return True, ""


CGROUPS, CGROUPS_REASON = _cgroups_usable() if AVAILABLE else (False, REASON)
needs_cgroups = pytest.mark.skipif(not CGROUPS, reason=f"no usable cgroups: {CGROUPS_REASON}")


def linux(tmp_path: Path, **settings: object):
    return harness(tmp_path, sandbox="linux", **settings)


def probe(source: str) -> dict[str, str]:
    """A function whose handler body is ``source`` (``event`` in scope, ``result`` out)."""
    body = "\n".join("    " + line for line in source.strip().splitlines())
    return {"app.py": f"import os, json, errno\n\ndef handler(event, context):\n{body}\n"}


async def call(h, spec, event: dict | None = None) -> dict:
    result = await h.invoke(spec, json.dumps(event or {}).encode())
    assert result.function_error is None, result.payload
    return json.loads(result.payload)


def sandbox_processes(h) -> list[int]:
    """Host pids of every sandbox's processes (bwrap's monitor and all below it)."""
    found = []
    for pool in h.engine._pools.values():
        for env in pool.environments:
            if env._sandbox is not None:
                found += env._sandbox._processes()
    return found


WRITE_ATTEMPT = """
def attempt(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "written"
    except OSError as exc:
        return errno.errorcode[exc.errno]
"""


# -- the backend ---------------------------------------------------------------------


NO_NAMESPACES = (
    "the kernel does not let sandlot create namespaces (unshare: Operation not permitted)"
)
NOTHING = f"{NO_NAMESPACES}, and bubblewrap is not installed (`bwrap` not on PATH)"


@pytest.fixture
def no_bwrap(monkeypatch):
    """bubblewrap hidden, as on a fresh machine (its probe runs again, then is reset)."""
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    sandbox_linux._bwrap_probe.cache_clear()
    yield
    sandbox_linux._bwrap_probe.cache_clear()


@pytest.fixture
def no_namespaces(monkeypatch):
    """A kernel that refuses unprivileged user namespaces."""
    monkeypatch.setattr(sandbox_linux, "_zygote_probe", lambda: (False, NO_NAMESPACES))


def test_unavailable_backend_says_why(no_bwrap, no_namespaces):
    assert linux_backend_available() == (False, NOTHING)
    with pytest.raises(SandboxUnavailable, match="bubblewrap is not installed"):
        create_backend("linux")


def test_up_refuses_an_unavailable_linux_sandbox(no_bwrap, no_namespaces, monkeypatch, capsys):
    from sandlot.cli import main

    monkeypatch.setattr("sandlot.gateway.server.run", lambda settings: pytest.fail("started"))
    assert main.main(["up", "--sandbox", "linux", "--port", "0"]) == 2
    assert (
        capsys.readouterr().err == f"sandlot: refusing to start with --sandbox linux: {NOTHING}\n"
    )


@pytest.mark.skipif(not zygote_sandbox_available(), reason="the kernel refuses user namespaces")
async def test_a_fresh_machine_isolates_without_bubblewrap(no_bwrap, tmp_path):
    from sandlot.execution.sandbox import isolation, resolve_backend

    assert linux_mechanism() == (NAMESPACES, "")
    assert resolve_backend("auto") == ("linux", None)
    assert isolation("linux") == "namespaces"
    async with linux(tmp_path) as h:
        seen = await call(
            h,
            h.spec(
                probe(
                    WRITE_ATTEMPT
                    + """
return {"uid": os.getuid(), "pid": os.getpid(), "code": attempt("/var/task/app.py")}
"""
                )
            ),
        )
        assert h.engine._backend.mechanism == NAMESPACES
        assert seen == {"uid": 993, "pid": 2, "code": "EROFS"}


# -- what a function sees -------------------------------------------------------------


@needs_linux
async def test_code_and_layers_are_read_only(tmp_path):
    async with linux(tmp_path) as h:
        spec = h.spec(
            probe(
                WRITE_ATTEMPT
                + """
return {
    "task_root": os.environ["LAMBDA_TASK_ROOT"], "cwd": os.getcwd(),
    "code": attempt("/var/task/app.py"), "new": attempt("/var/task/new.py"),
    "opt": attempt("/opt/layer.txt"), "opt_new": attempt("/opt/new.txt"),
    "runtime": attempt(os.environ["LAMBDA_RUNTIME_DIR"] + "/python_bootstrap.py"),
    "layer": open("/opt/layer.txt").read(), "usr": attempt("/usr/evil"),
}
"""
            ),
            layers=({"layer.txt": "from a layer"},),
        )
        seen = await call(h, spec)
        assert seen.pop("task_root") == seen.pop("cwd") == "/var/task"
        assert seen.pop("layer") == "from a layer"
        assert set(seen.values()) == {"EROFS"}, seen
        assert (spec.code_dir / "app.py").read_text().startswith("import os")


@needs_linux
async def test_tmp_is_private_writable_capped_and_wiped(tmp_path):
    async with linux(tmp_path) as h:
        spec = h.spec(
            probe(
                WRITE_ATTEMPT
                + """
before = sorted(os.listdir("/tmp"))
with open("/tmp/mine", "w") as f:
    f.write(event["who"])
written = 0
if event.get("fill"):
    try:
        with open("/tmp/fill", "wb") as f:
            while True:
                f.write(b"x" * 1048576)
                f.flush()
                written += 1
    except OSError as exc:
        error = errno.errorcode[exc.errno]
    os.remove("/tmp/fill")
else:
    error = None
import time; time.sleep(event.get("sleep", 0))
return {"before": before, "mine": open("/tmp/mine").read(), "tmpdir": os.environ["TMPDIR"],
        "written": written, "error": error}
"""
            ),
            memory=256,
        )
        spec = dataclasses.replace(spec, ephemeral_storage_mb=16)
        a, b = await asyncio.gather(
            call(h, spec, {"who": "a", "sleep": 0.3}), call(h, spec, {"who": "b", "sleep": 0.3})
        )
        # Same literal /tmp, different contents: neither saw the other's file.
        assert (a["before"], b["before"]) == ([], [])
        assert (a["mine"], b["mine"], a["tmpdir"]) == ("a", "b", "/tmp")
        full = await call(h, spec, {"who": "c", "fill": True})
        assert full["error"] == "ENOSPC" and 10 <= full["written"] <= 16
    async with linux(tmp_path / "again") as h:
        fresh = await call(h, spec, {"who": "d"})
        assert fresh["before"] == []  # nothing survives its environment


@needs_linux
async def test_no_view_of_the_host(tmp_path):
    async with linux(tmp_path) as h:
        other = h.spec({"secret.py": "KEY = 'other function'"}, name="other")
        spec = h.spec(
            probe("""
paths = event["paths"]
visible = [p for p in paths if os.path.exists(p)]
root = os.listdir("/root") if os.path.isdir("/root") else []
return {"visible": visible, "root": root,
        "home": os.listdir("/home") if os.path.isdir("/home") else [],
        "etc": sorted(os.listdir("/etc"))}
""")
        )
        host_home = [str(p) for p in Path("/root").iterdir()] if os.access("/root", os.R_OK) else []
        prefix_parents = {sys.base_prefix, sys.prefix}
        paths = [
            str(tmp_path),
            str(tmp_path / "work"),
            str(spec.code_dir),
            str(other.code_dir),
            "/etc/shadow",
            "/etc/ssh",
            "/home",
            *[p for p in host_home if not any(q.startswith(p) for q in prefix_parents)],
        ]
        seen = await call(h, spec, {"paths": paths})
        assert seen["visible"] == []
        assert seen["home"] == []
        # /root shows at most the path down to the Python installation, nothing else.
        assert all(
            any(q.startswith(f"/root/{name}") for q in prefix_parents) for name in seen["root"]
        )
        assert "passwd" in seen["etc"] and "shadow" not in seen["etc"]


@needs_linux
async def test_own_pid_namespace(tmp_path):
    async with linux(tmp_path) as h:
        spec = h.spec(
            probe("""
import signal
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
try:
    os.kill(event["server"], signal.SIGKILL)
    server = "signalled"
except ProcessLookupError:
    server = "no such process"
os.kill(1, 0)  # its own init, not the host's
return {"pid": os.getpid(), "pids": pids, "server": server,
        "init": open("/proc/1/cmdline").read().split("\\0")}
""")
        )
        seen = await call(h, spec, {"server": os.getpid()})
        # The default mechanism made it wherever the kernel allows, bwrap or not.
        expected = NAMESPACES if zygote_sandbox_available() else BUBBLEWRAP
        assert h.engine._backend.mechanism == expected
        assert seen["server"] == "no such process"
        assert seen["pid"] <= 3 and len(seen["pids"]) <= 3
        # Its init is bwrap's, or the zygote's child that made the sandbox, which shows
        # the runtime's command line as the sandbox sees it (no host path).
        init = [part for part in seen["init"] if part]
        assert "bwrap" in init[0] or init == [
            f"/var/lang/bin/python3.{sys.version_info.minor}",
            "-S",
            "-u",
            "/var/runtime/python_bootstrap.py",
        ]


@needs_linux
async def test_no_capabilities_no_new_privileges(tmp_path):
    async with linux(tmp_path) as h:
        spec = h.spec(
            probe("""
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
results = {key: status[key].strip() for key in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs")}
for name, attempt in (("setuid", lambda: os.setuid(0)), ("chroot", lambda: os.chroot("/tmp")),
                      ("hostname", lambda: __import__("socket").sethostname("x"))):
    try:
        attempt()
        results[name] = "allowed"
    except OSError as exc:
        results[name] = errno.errorcode[exc.errno]
results["uid"] = os.getuid()
return results
""")
        )
        seen = await call(h, spec)
        assert seen["CapEff"] == seen["CapPrm"] == seen["CapBnd"] == "0000000000000000"
        assert seen["NoNewPrivs"] == "1"
        assert seen["chroot"] == seen["hostname"] == "EPERM"
        assert seen["setuid"] == "EINVAL"  # uid 0 does not even exist in its namespace
        assert seen["uid"] == 993


@needs_linux
async def test_sandlot_endpoint_is_reachable(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        async with linux(tmp_path, endpoint_url=f"http://127.0.0.1:{port}") as h:
            spec = h.spec(
                probe("""
import socket, urllib.parse
url = urllib.parse.urlsplit(os.environ["AWS_ENDPOINT_URL"])
with socket.create_connection((url.hostname, url.port), timeout=2) as s:
    s.sendall(b"hello from inside")
return {"url": os.environ["AWS_ENDPOINT_URL"]}
""")
            )
            seen = await call(h, spec)
            assert seen["url"] == f"http://127.0.0.1:{port}"
            connection, _ = await asyncio.to_thread(listener.accept)
            with connection:
                assert connection.recv(100) == b"hello from inside"
    finally:
        listener.close()


# -- limits (cgroups) -----------------------------------------------------------------


@needs_linux
@needs_cgroups
async def test_memory_cap_kills_the_environment_not_the_platform(tmp_path):
    async with linux(tmp_path) as h:
        spec = h.spec(
            probe("""
hog = []
for _ in range(event.get("mb", 0)):
    hog.append(bytearray(1048576))  # zero-filled: every page is touched
return {"held": len(hog)}
"""),
            memory=128,
        )
        assert (await call(h, spec, {"mb": 16}))["held"] == 16
        result = await h.invoke(spec, b'{"mb": 400}')
        assert result.function_error == "Unhandled"
        error = json.loads(result.payload)
        assert error["errorType"] == "Runtime.ExitError"
        assert error["errorMessage"].endswith("Runtime exited with error: signal: killed")
        after = await h.invoke(spec, b'{"mb": 1}')
        assert after.function_error is None and after.environment_id != result.environment_id


@needs_linux
@needs_cgroups
async def test_fork_bomb_hits_the_pids_limit(tmp_path):
    async with linux(tmp_path) as h:
        bomb = h.spec(
            probe("""
import time
children = 0
try:
    while children < 5000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError as exc:
    return {"children": children, "error": errno.errorcode[exc.errno]}
return {"children": children, "error": None}
"""),
            memory=1024,
            timeout=30,
        )
        seen = await call(h, bomb)
        assert seen["error"] == "EAGAIN"
        assert seen["children"] < cgroups.PIDS_MAX
        # Others are unaffected: a new function starts and the host can still fork.
        assert (await call(h, h.spec(probe("return {'ok': True}"), name="bystander")))["ok"]
        subprocess.run(["true"], check=True)


@needs_linux
@needs_cgroups
async def test_cpu_weight_follows_memory(tmp_path):
    async with linux(tmp_path) as h:
        for memory in (128, 1769):
            await call(h, h.spec(probe("return {}"), memory=memory, name=f"m{memory}"))
        backend = h.engine._backend
        weights = {}
        for pool in h.engine._pools.values():
            for env in pool.environments:
                directory = env._sandbox._cgroup._dirs[-1]
                name = "cpu.weight" if backend.cgroups.version == 2 else "cpu.shares"
                weights[pool.spec.memory_mb] = int((directory / name).read_text())
        # v2 weight 100 (v1 1024 shares) is one vCPU's share; 128 MB gets 7% of that.
        expected = {1769: 100, 128: 7} if backend.cgroups.version == 2 else {1769: 1024, 128: 71}
        assert weights == expected  # each had been a spare: taken, it has its own share
        # The spare made ahead of time yields to every function until one takes it.
        spare = backend._spare.cgroup._dirs[-1]
        least = "1" if backend.cgroups.version == 2 else "2"
        assert (spare / name).read_text().strip() == least


# -- lifecycle ------------------------------------------------------------------------


@needs_linux
async def test_idle_sandbox_is_frozen_and_killed_with_the_environment(tmp_path):
    async with linux(tmp_path, keep_alive_s=2.0) as h:
        spec = h.spec(
            probe("""
import subprocess, threading, time
def tick():
    while True:
        print("tick", flush=True)
        time.sleep(0.05)
if event.get("start"):
    threading.Thread(target=tick, daemon=True).start()
    subprocess.Popen(["sleep", "60"])
return {}
""")
        )
        await call(h, spec, {"start": True})
        processes = sandbox_processes(h)
        assert len(processes) >= 4  # bwrap, its init, the runtime, sleep
        await asyncio.sleep(1.5)  # the sweeper freezes within a second
        ticks = h.messages().count("tick\n")
        await asyncio.sleep(0.5)
        assert h.messages().count("tick\n") == ticks  # frozen: not a single tick
        await call(h, spec)  # thawed for the invocation
        cgroups = h.engine._backend.cgroups
        await h.engine.close()
        assert not any(alive(pid) for pid in processes)
        # Every cgroup of this engine is gone with it (other engines of this test
        # process are not this test's business).
        assert cgroups is not None
        assert not [base for base in cgroups._bases if base.exists()]


@needs_linux
async def test_a_killed_server_leaves_no_sandbox_behind(tmp_path):
    from .test_engine import SERVER

    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(
        "import subprocess\n"
        "def handler(event, context):\n"
        "    subprocess.Popen(['sleep', '60'])\n"
        "    return {}\n"
    )
    script = SERVER.replace(
        'EngineSettings("http://127.0.0.1:9", work)',
        'EngineSettings("http://127.0.0.1:9", work, sandbox="linux")',
    )
    assert script != SERVER
    server = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "work"), str(code), PYTHON_RUNTIME],
        stdout=subprocess.PIPE,
    )
    try:
        await asyncio.wait_for(asyncio.to_thread(server.stdout.readline), 10)
        descendants, queue = [], [server.pid]
        while queue:
            pid = queue.pop()
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children") as f:
                children = [int(child) for child in f.read().split()]
                descendants += children
                queue += children
        assert len(descendants) >= 4
        await asyncio.sleep(1.2)  # frozen by now
        server.kill()
        server.wait()
        assert await wait_until(lambda: not any(alive(pid) for pid in descendants))
        if CGROUPS:  # the next server removes the dead one's (empty) cgroups
            leftovers = list(Path("/sys/fs/cgroup").glob(f"**/sandlot-{server.pid}-*"))
            assert leftovers
            found, _ = cgroups.probe(f"sandlot-{os.getpid()}-cleanup")
            assert found is not None
            found.close()
            assert not any(path.exists() for path in leftovers)
    finally:
        server.kill()
        server.wait()
        server.stdout.close()


# -- every runtime works inside ---------------------------------------------------------


@needs_linux
async def test_python_runtime_timeout_and_exit(tmp_path):
    async with linux(tmp_path) as h:
        spec = h.spec(
            probe("""
import time, boto3
time.sleep(event.get("sleep", 0))
if "exit" in event:
    os._exit(event["exit"])
return {"hello": "world", "boto3": boto3.__version__ != ""}
"""),
            timeout=1,
        )
        first = await h.invoke(spec)
        assert json.loads(first.payload) == {"hello": "world", "boto3": True}
        assert first.init_duration_ms is not None
        assert "Max Memory Used: " in first.log_tail.decode()
        timed_out = json.loads((await h.invoke(spec, b'{"sleep": 5}')).payload)
        assert timed_out["errorType"] == "Sandbox.Timedout"
        exited = json.loads((await h.invoke(spec, b'{"exit": 3}')).payload)
        assert exited["errorMessage"].endswith("Runtime exited with error: exit status 3")
        assert (await h.invoke(spec)).function_error is None


@needs_linux
@needs_node
async def test_node_runtime(tmp_path):
    assert NODE is not None
    async with linux(tmp_path) as h:
        spec = h.spec(
            {
                "index.js": """
                    const fs = require('fs');
                    exports.handler = async (event) => {
                      let code;
                      try { fs.writeFileSync('/var/task/x', 'x'); } catch (e) { code = e.code; }
                      fs.writeFileSync('/tmp/x', 'ok');
                      return { root: process.env.LAMBDA_TASK_ROOT, code, tmp: fs.readFileSync('/tmp/x', 'utf8') };
                    };
                """
            },
            runtime="nodejs20.x",
            handler="index.handler",
        )
        result = await h.invoke(spec)
        assert json.loads(result.payload) == {"root": "/var/task", "code": "EROFS", "tmp": "ok"}


@needs_linux
async def test_custom_runtimes(tmp_path):
    async with linux(tmp_path) as h:
        shell = h.spec(
            {"bootstrap": CURL_BOOTSTRAP if CURL else PYTHON_BOOTSTRAP},
            runtime="provided.al2023",
            handler="function.handler",
        )
        for _ in range(2):
            result = await h.invoke(shell, b'{"a": 1}')
            assert json.loads(result.payload) == {"echo": {"a": 1}, "handler": "function.handler"}
        from_layers = h.spec(
            {"README": ""},
            runtime="provided.al2",
            layers=({"bootstrap": PYTHON_BOOTSTRAP}, {"other.txt": "second layer"}),
        )
        layered = await h.invoke(from_layers, b"[]")
        assert json.loads(layered.payload).get("echo") == [], layered.log_tail.decode()
        missing = json.loads((await h.invoke(h.spec({"README": ""}, runtime="provided"))).payload)
        assert missing["errorType"] == "Runtime.InvalidEntrypoint"
        assert missing["errorMessage"].endswith(
            "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
        )
        no_exec = h.spec({"README": ""}, runtime="provided")
        (no_exec.code_dir / "bootstrap").write_text("#!/bin/sh\n")
        error = json.loads((await h.invoke(no_exec)).payload)
        assert error["errorType"] == "Runtime.InvalidEntrypoint"
        assert error["errorMessage"].endswith("fork/exec /var/task/bootstrap: permission denied")


@needs_linux
@pytest.mark.skipif(
    importlib.util.find_spec("awslambdaric") is None,
    reason="awslambdaric is not installed (pip install awslambdaric==4.2.2)",
)
async def test_awslambdaric(tmp_path):
    async with linux(tmp_path) as h:
        spec = h.spec(
            {
                "bootstrap": f'#!/bin/sh\nexec "{PYTHON}" -S -m awslambdaric "$_HANDLER"\n',
                "app.py": """
                    import os
                    def handler(event, context):
                        return {"root": os.environ["LAMBDA_TASK_ROOT"], "name": context.function_name}
                """,
            },
            runtime="provided.al2023",
            name="ric",
        )
        _ship_awslambdaric(spec.code_dir)
        result = await h.invoke(spec, b"{}")
        assert json.loads(result.payload) == {"root": "/var/task", "name": "ric"}


# -- the bubblewrap fallback ----------------------------------------------------------

needs_bwrap = pytest.mark.skipif(
    not sandbox_linux._bwrap_probe()[0], reason=f"no bubblewrap: {sandbox_linux._bwrap_probe()[1]}"
)


@needs_bwrap
async def test_bubblewrap_fallback_isolates(tmp_path, monkeypatch):
    """With the zygote off (or unable to make namespaces), bwrap makes the same sandbox."""
    monkeypatch.setenv("SANDLOT_ZYGOTE", "0")
    assert linux_mechanism() == (BUBBLEWRAP, "")
    async with linux(tmp_path) as h:
        spec = h.spec(
            probe(
                WRITE_ATTEMPT
                + """
import signal
try:
    os.kill(event["server"], signal.SIGKILL)
    server = "signalled"
except ProcessLookupError:
    server = "no such process"
return {"uid": os.getuid(), "code": attempt("/var/task/app.py"), "tmp": os.listdir("/tmp"),
        "server": server, "init": os.path.basename(open("/proc/1/cmdline").read().split("\\0")[0])}
"""
            )
        )
        seen = await call(h, spec, {"server": os.getpid()})
        assert h.engine._backend.mechanism == BUBBLEWRAP
        assert seen == {
            "uid": 993,
            "code": "EROFS",
            "tmp": [],
            "server": "no such process",
            "init": "bwrap",
        }
