"""The Python zygote (zygote.py, zygote_process.py): environments forked from a
pre-initialised interpreter, on both sandbox backends.

Engine-level tests, real processes. The linux variants are skipped where the linux
sandbox cannot work (see test_linux_sandbox.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest

from sandlot.execution import zygote
from sandlot.execution.runtimes import RUNTIME_DIR
from sandlot.execution.sandbox_linux import linux_backend_available, zygote_sandbox_available

from .helpers import CREDENTIALS, PYTHON_RUNTIME, alive, harness, wait_until

AVAILABLE, REASON = linux_backend_available()
BACKENDS = [
    "process",
    pytest.param(
        "linux",
        marks=pytest.mark.skipif(
            not (AVAILABLE and zygote_sandbox_available()),
            reason=f"the linux sandbox or the zygote's namespaces are unavailable: {REASON}",
        ),
    ),
]
needs_zygote = pytest.mark.skipif(not zygote.enabled(), reason="SANDLOT_ZYGOTE=0 or not Linux")
pytestmark = needs_zygote


def probe(source: str) -> dict[str, str]:
    body = "\n".join("    " + line for line in source.strip().splitlines())
    return {"app.py": f"import os, sys, json\n\ndef handler(event, context):\n{body}\n"}


async def call(h, spec, event: dict | None = None) -> dict:
    result = await h.invoke(spec, json.dumps(event or {}).encode())
    assert result.function_error is None, result.payload
    return json.loads(result.payload)


def ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def only_environment(h):
    (pool,) = h.engine._pools.values()
    (environment,) = pool.environments
    return environment


@pytest.mark.parametrize("sandbox", BACKENDS)
async def test_environments_are_forked_by_a_clean_zygote(tmp_path, sandbox):
    async with harness(tmp_path, sandbox=sandbox) as h:
        spec = h.spec(
            probe("""
fds = {}
for fd in os.listdir('/proc/self/fd'):
    try:
        fds[fd] = os.readlink(f'/proc/self/fd/{fd}')
    except OSError:
        pass  # the directory listing's own
return {'pid': os.getpid(), 'argv': sys.argv, 'path': sys.path, 'fds': fds}
""")
        )
        seen = await call(h, spec)
        # Nothing of the zygote leaks in (its control socket would let a function ask
        # it to fork): stdin, the output pipe twice, the Runtime API connection.
        fds = seen["fds"]
        assert set(fds) == {"0", "1", "2", "3"}, fds
        assert fds["0"] == "/dev/null" and fds["1"] == fds["2"] and fds["1"].startswith("pipe:")
        assert fds["3"].startswith("socket:")
        backend_zygote = h.engine._backend._zygote
        environment = only_environment(h)
        # The environment is the zygote's child, and the zygote the server's.
        assert ppid(environment._sandbox.pid) == backend_zygote.pid
        assert ppid(backend_zygote.pid) == os.getpid()
        # Not a fork of the server: its own command, and none of the server's variables.
        # (In the linux sandbox it shows the runtime's command line as the sandbox sees
        # it, rewritten in place, so that /proc/1/cmdline inside names no host path.)
        with open(f"/proc/{backend_zygote.pid}/cmdline", "rb") as f:
            cmdline = f.read().split(b"\0")
        if sandbox == "linux":
            assert cmdline[0] == f"/var/lang/bin/{os.path.basename(zygote.PYTHON)}".encode()
        else:
            assert str(zygote.SCRIPT).encode() in cmdline
        with open(f"/proc/{backend_zygote.pid}/environ", "rb") as f:
            names = {entry.split(b"=", 1)[0] for entry in f.read().split(b"\0") if entry}
        assert names <= {b"PATH", b"LANG", b"TZ"}
        # What the function sees is what `python -S -u python_bootstrap.py` shows.
        layout = h.engine._backend.layout(
            spec.code_dir, spec.code_dir, tmp_path, RUNTIME_DIR, h.engine._context.python_packages
        )
        assert seen["argv"] == [f"{layout.runtime_dir}/python_bootstrap.py"]
        assert seen["path"][0] == layout.task_root
        assert layout.python_packages in seen["path"]
        if sandbox == "process":
            assert seen["pid"] == environment._sandbox.pid


@pytest.mark.parametrize("sandbox", BACKENDS)
async def test_a_dead_zygote_is_restarted(tmp_path, sandbox):
    async with harness(tmp_path, sandbox=sandbox) as h:
        spec = h.spec(probe("return {'pid': os.getpid()}"))
        first = await h.invoke(spec, b"{}")
        assert first.function_error is None
        backend_zygote = h.engine._backend._zygote
        old = backend_zygote.pid
        environment = only_environment(h)
        processes = [environment._sandbox.pid]
        os.kill(old, signal.SIGKILL)
        # Its environments die with it (PR_SET_PDEATHSIG) and are seen to have ended.
        await asyncio.wait_for(asyncio.shield(environment._sandbox.exited), 5)
        assert await wait_until(lambda: not any(alive(pid) for pid in processes))
        after = await h.invoke(spec, b"{}")
        assert after.function_error is None, after.payload
        assert after.environment_id != first.environment_id
        assert backend_zygote.pid not in (None, old) and backend_zygote.starts == 2


@pytest.mark.parametrize("sandbox", BACKENDS)
async def test_interpreter_variables(tmp_path, sandbox):
    """PYTHONPATH and PYTHONDONTWRITEBYTECODE apply to a forked runtime; a variable only
    an interpreter's start-up reads (PYTHONWARNINGS) makes the runtime start afresh."""
    async with harness(tmp_path, sandbox=sandbox) as h:
        source = "return {'warn': sys.warnoptions, 'nobytecode': sys.dont_write_bytecode}"
        plain = h.spec(probe(source), name="plain")
        assert await call(h, plain) == {"warn": [], "nobytecode": False}
        nobytecode = h.spec(
            probe(source), name="nobytecode", environment={"PYTHONDONTWRITEBYTECODE": "1"}
        )
        assert (await call(h, nobytecode))["nobytecode"] is True
        warnings = h.spec(
            probe(source), name="warnings", environment={"PYTHONWARNINGS": "error::FutureWarning"}
        )
        assert (await call(h, warnings))["warn"] == ["error::FutureWarning"]


@pytest.mark.parametrize("sandbox", BACKENDS)
async def test_environments_do_not_share_random_state(tmp_path, sandbox):
    async with harness(tmp_path, sandbox=sandbox) as h:
        spec = h.spec(probe("import random\nreturn {'r': random.getrandbits(64)}"))
        a, b = await asyncio.gather(call(h, spec), call(h, spec))
        assert a["r"] != b["r"]
        assert h.engine.environment_count == 2


@pytest.mark.parametrize("sandbox", BACKENDS)
async def test_init_error_exit_and_output(tmp_path, sandbox):
    async with harness(tmp_path, sandbox=sandbox) as h:
        broken = h.spec({"app.py": "import nowhere_to_be_found\n"}, name="broken")
        result = await h.invoke(broken, b"{}")
        assert result.function_error == "Unhandled"
        assert json.loads(result.payload)["errorType"] == "Runtime.ImportModuleError"
        exits = h.spec(probe("print('bye')\nos._exit(3)"), name="exits")
        result = await h.invoke(exits, b"{}")
        error = json.loads(result.payload)
        assert error["errorType"] == "Runtime.ExitError"
        assert error["errorMessage"].endswith("Runtime exited with error: exit status 3")
        assert await wait_until(lambda: "bye\n" in h.messages())


async def test_a_killed_server_takes_the_zygote_and_its_environments(tmp_path):
    from .test_engine import SERVER

    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return {}\n")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path / "work"), str(code), PYTHON_RUNTIME],
        stdout=subprocess.PIPE,
    )
    try:
        await asyncio.wait_for(asyncio.to_thread(server.stdout.readline), 10)
        descendants, queue = [], [server.pid]
        while queue:
            pid = queue.pop()
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    children = [int(child) for child in f.read().split()]
            except OSError:
                continue
            descendants += children
            queue += children
        commands = []
        for pid in descendants:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                commands.append(f.read())
        assert any(str(zygote.SCRIPT).encode() in command for command in commands)
        assert len(descendants) >= 3  # the reaper, the zygote, the runtime
        server.kill()
        server.wait()
        assert await wait_until(lambda: not any(alive(pid) for pid in descendants))
    finally:
        server.kill()
        server.wait()
        server.stdout.close()


@pytest.mark.parametrize("sandbox", [p for p in BACKENDS if p != "process"])
async def test_linux_cold_starts_take_a_prepared_spare(tmp_path, sandbox):
    """The spare sandbox is made with default limits; the function's are set on it."""
    async with harness(tmp_path, sandbox=sandbox) as h:
        backend = h.engine._backend
        if backend.cgroups is None or backend.cgroups.version != 1:
            pytest.skip("checks cgroup v1 files (this host's kind)")
        assert await wait_until(lambda: backend._spare is not None)
        spare_cgroup = backend._spare.cgroup
        spec = h.spec(probe("return {'pid': os.getpid()}"), memory=256)
        assert (await call(h, spec))["pid"] == 2
        sandbox_ = only_environment(h)._sandbox
        assert sandbox_._cgroup is spare_cgroup  # this cold start took the spare
        pids_dir, memory_dir, cpu_dir = spare_cgroup._dirs
        assert int((memory_dir / "memory.limit_in_bytes").read_text()) == 256 << 20
        assert int((pids_dir / "pids.max").read_text()) == 1024
        assert int((cpu_dir / "cpu.shares").read_text()) == 143  # 14% of a vCPU's 1024
        assert sorted(spare_cgroup.pids()) == sorted(sandbox_._processes())
        # The next one is being prepared already, in a cgroup of its own.
        assert await wait_until(lambda: backend._spare is not None)
        assert backend._spare.cgroup is not spare_cgroup


def memory_contains(pid: int, needle: bytes) -> bool:
    """Whether ``needle`` is anywhere in the writable memory of ``pid``."""
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        with open(f"/proc/{pid}/maps") as maps:
            for line in maps:
                span, perms = line.split()[:2]
                if "w" not in perms:
                    continue
                start, end = (int(x, 16) for x in span.split("-"))
                try:
                    if needle in os.pread(fd, end - start, start):
                        return True
                except OSError:
                    continue
    finally:
        os.close(fd)
    return False


@pytest.mark.parametrize("sandbox", BACKENDS)
async def test_no_function_secret_enters_the_zygote(tmp_path, sandbox):
    """Every environment gets a copy of the zygote's memory: a function's variables and
    credentials must never be in it (they travel in a pipe only the child reads)."""
    async with harness(tmp_path, sandbox=sandbox) as h:
        token = f"tok-{os.urandom(8).hex()}"
        spec = h.spec(
            probe("return {'t': os.environ['TOKEN'], 'k': os.environ['AWS_SECRET_ACCESS_KEY']}"),
            environment={"TOKEN": token},
        )
        seen = await call(h, spec)
        assert seen == {"t": token, "k": CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}
        runtime = only_environment(h)._sandbox.pid
        zygote_pid = h.engine._backend._zygote.pid
        # The check itself works: the environment's own processes do hold it.
        if sandbox == "process":
            assert memory_contains(runtime, token.encode())
        for needle in (token, CREDENTIALS["AWS_SECRET_ACCESS_KEY"]):
            assert not memory_contains(zygote_pid, needle.encode())
