"""The engine's lifecycle: warm reuse, scale-out, throttling, timeouts, crashes, reaping."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import subprocess
import sys

from sandlot.execution.api import Throttled

from .helpers import CREDENTIALS, PYTHON_RUNTIME, alive, harness, process_state, wait_until

HELLO = {
    "app.py": """
        def handler(event, context):
            return {"hello": event.get("name", "world")}
    """
}

STATEFUL = {
    "app.py": """
        import os, tempfile

        COUNT = 0

        def handler(event, context):
            global COUNT
            COUNT += 1
            marker = os.path.join(tempfile.gettempdir(), "marker")
            seen = os.path.exists(marker)
            with open(marker, "w") as f:
                f.write("x")
            return {"count": COUNT, "seen": seen, "pid": os.getpid(),
                    "tmp": tempfile.gettempdir()}
    """
}

SLEEPY = {
    "app.py": """
        import os, time, tempfile

        def handler(event, context):
            time.sleep(event.get("sleep", 0))
            return {"pid": os.getpid(), "tmp": tempfile.gettempdir()}
    """
}


async def test_hello_world_cold_then_warm(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(HELLO)
        first = await h.invoke(spec, b'{"name": "sandlot"}')
        assert first.function_error is None
        assert json.loads(first.payload) == {"hello": "sandlot"}
        assert first.init_duration_ms is not None and first.init_duration_ms > 0
        second = await h.invoke(spec)
        assert json.loads(second.payload) == {"hello": "world"}
        assert second.init_duration_ms is None  # warm
        assert second.environment_id == first.environment_id
        assert re.fullmatch(r"[0-9a-f]{32}", first.environment_id)


async def test_warm_reuse_keeps_module_state_and_tmp(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(STATEFUL)
        first = json.loads((await h.invoke(spec)).payload)
        second = json.loads((await h.invoke(spec)).payload)
        assert (first["count"], first["seen"]) == (1, False)
        assert (second["count"], second["seen"]) == (2, True)
        assert first["pid"] == second["pid"]


async def test_parallel_invokes_scale_out(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(SLEEPY)
        results = await asyncio.gather(*(h.invoke(spec, b'{"sleep": 0.3}') for _ in range(20)))
        assert all(r.function_error is None for r in results)
        environments = {r.environment_id for r in results}
        assert 1 < len(environments) <= 20
        assert h.engine.environment_count == len(environments)


async def test_tmp_is_not_shared_between_environments(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(STATEFUL)
        a, b = await asyncio.gather(h.invoke(spec), h.invoke(spec))
        first, second = json.loads(a.payload), json.loads(b.payload)
        assert a.environment_id != b.environment_id
        assert first["tmp"] != second["tmp"]
        assert not first["seen"] and not second["seen"]


async def test_reserved_concurrency_throttles(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(SLEEPY, reserved=1)
        outcomes = await asyncio.gather(
            *(h.invoke(spec, b'{"sleep": 0.3}') for _ in range(3)), return_exceptions=True
        )
        throttled = [o for o in outcomes if isinstance(o, Throttled)]
        succeeded = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(succeeded) == 1 and len(throttled) == 2
        assert throttled[0].reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert throttled[0].message == "Rate Exceeded."
        # Capacity comes back once the invocation is over, for any version of the function.
        other_version = h.spec(HELLO, version="1", reserved=1)
        assert (await h.invoke(other_version)).function_error is None
        # The reservation is read from each invocation's spec (same pool, new limit).
        raised = dataclasses.replace(spec, reserved_concurrency=3)
        outcomes = await asyncio.gather(*(h.invoke(raised, b'{"sleep": 0.2}') for _ in range(3)))
        assert all(o.function_error is None for o in outcomes)


async def test_reserved_concurrency_zero_always_throttles(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(HELLO, reserved=0)
        try:
            await h.invoke(spec)
        except Throttled as exc:
            assert exc.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
        else:
            raise AssertionError("not throttled")
        assert h.engine.environment_count == 0


async def test_account_concurrency_throttles(tmp_path):
    async with harness(tmp_path, account_concurrency=2) as h:
        a = h.spec(SLEEPY, name="a")
        b = h.spec(SLEEPY, name="b")
        outcomes = await asyncio.gather(
            h.invoke(a, b'{"sleep": 0.3}'),
            h.invoke(b, b'{"sleep": 0.3}'),
            h.invoke(a, b'{"sleep": 0.3}'),
            return_exceptions=True,
        )
        throttled = [o for o in outcomes if isinstance(o, Throttled)]
        assert len(throttled) == 1
        assert throttled[0].reason == "ConcurrentInvocationLimitExceeded"


async def test_timeout_kills_the_environment(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(SLEEPY, timeout=1)
        pid = json.loads((await h.invoke(spec)).payload)["pid"]
        result = await h.invoke(spec, b'{"sleep": 30}')
        assert result.function_error == "Unhandled"
        error = json.loads(result.payload)
        assert error["errorType"] == "Sandbox.Timedout"
        assert re.fullmatch(
            r"RequestId: [0-9a-f-]{36} Error: Task timed out after 1\.00 seconds",
            error["errorMessage"],
        )
        assert 1000 <= result.duration_ms < 2000
        tail = result.log_tail.decode()
        assert re.search(
            r"\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [0-9a-f-]{36} Task timed out after 1\.00 seconds\n",
            tail,
        )
        assert "Status: timeout" in tail
        assert await wait_until(lambda: not alive(pid))
        after = await h.invoke(spec)
        assert after.function_error is None
        assert after.environment_id != result.environment_id  # a fresh environment
        assert after.init_duration_ms is not None


async def test_process_exit_is_runtime_exit_error(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(
            {
                "app.py": """
                    import os, signal

                    def handler(event, context):
                        print("about to go")
                        if event.get("kill"):
                            os.kill(os.getpid(), signal.SIGKILL)
                        os._exit(event.get("code", 3))
                """
            }
        )
        result = await h.invoke(spec, b'{"code": 3}')
        assert result.function_error == "Unhandled"
        error = json.loads(result.payload)
        assert error == {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {error['errorMessage'].split()[1]} Error: "
            "Runtime exited with error: exit status 3",
        }
        tail = result.log_tail.decode()
        assert "about to go\n" in tail
        assert "Error: Runtime exited with error: exit status 3\nRuntime.ExitError\n" in tail
        killed = await h.invoke(spec, b'{"kill": true}')
        assert json.loads(killed.payload)["errorMessage"].endswith(
            "Runtime exited with error: signal: killed"
        )
        assert (await h.invoke(spec, b'{"code": 0}')).environment_id not in (
            result.environment_id,
            killed.environment_id,
        )


async def test_keep_alive_reaps_idle_environments(tmp_path):
    async with harness(tmp_path, keep_alive_s=0.3) as h:
        spec = h.spec(STATEFUL)
        first = await h.invoke(spec)
        pid = json.loads(first.payload)["pid"]
        assert alive(pid)
        assert await wait_until(lambda: not alive(pid), timeout=5)
        assert await wait_until(lambda: h.engine.environment_count == 0)
        env_dir = tmp_path / "work" / "environments" / first.environment_id
        assert await wait_until(lambda: not env_dir.exists())
        second = await h.invoke(spec)
        assert second.init_duration_ms is not None
        assert json.loads(second.payload)["count"] == 1


async def test_idle_environments_are_frozen(tmp_path):
    async with harness(tmp_path, keep_alive_s=2.0) as h:
        spec = h.spec(STATEFUL)
        pid = json.loads((await h.invoke(spec)).payload)["pid"]
        assert await wait_until(lambda: process_state(pid) == "T", timeout=1.5)
        again = json.loads((await h.invoke(spec)).payload)
        assert (again["pid"], again["count"]) == (pid, 2)  # thawed, same environment
        assert process_state(pid) != "T"


async def test_close_kills_everything(tmp_path):
    spawner = {
        "app.py": """
            import os, subprocess

            def handler(event, context):
                child = subprocess.Popen(["sleep", "60"])
                return {"pid": os.getpid(), "child": child.pid}
        """
    }
    async with harness(tmp_path) as h:
        spec = h.spec(spawner)
        slow = h.spec(SLEEPY, name="slow")
        first = json.loads((await h.invoke(spec)).payload)
        busy = asyncio.ensure_future(h.invoke(slow, b'{"sleep": 30}'))
        await asyncio.sleep(0.5)
        assert alive(first["pid"]) and alive(first["child"])
        await h.engine.close()
        assert not alive(first["pid"]) and not alive(first["child"])
        result = await asyncio.wait_for(busy, 5)
        assert json.loads(result.payload)["errorType"] == "Runtime.ExitError"
        assert h.engine.environment_count == 0
        assert not any((tmp_path / "work" / "environments").iterdir())
        # Every log line was delivered before close returned.
        assert any(m.startswith("REPORT") for m in h.messages())


SERVER = """
import asyncio, sys, uuid
from pathlib import Path
from sandlot.execution.api import EngineSettings, FunctionSpec, InvokeRequest
from sandlot.execution.engine import Engine

async def sink(*args):
    pass

async def main():
    work, code = Path(sys.argv[1]), Path(sys.argv[2])
    engine = Engine(EngineSettings("http://127.0.0.1:9", work), lambda spec: {}, sink)
    spec = FunctionSpec("123456789012", "eu-west-1", "fn", "arn:aws:lambda:eu-west-1:123456789012:function:fn",
                        "$LATEST", sys.argv[3], "app.handler", code, (), 128, 3, 512, (), "role", "d")
    result = await engine.invoke(spec, InvokeRequest(str(uuid.uuid4()), b"{}", spec.function_arn))
    print(result.payload.decode(), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_killed_server_leaves_no_runtime_behind(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(
        "import os, subprocess\n"
        "def handler(event, context):\n"
        "    child = subprocess.Popen(['sleep', '60'])\n"
        "    return {'pid': os.getpid(), 'child': child.pid}\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path / "work"), str(code), PYTHON_RUNTIME],
        stdout=subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(server.stdout.readline), 10)
        pids = json.loads(line)
        # Idle, the environment gets frozen: it cannot notice on its own that the server died.
        assert await wait_until(lambda: process_state(pids["pid"]) == "T", timeout=3)
        server.kill()
        server.wait()
        assert await wait_until(lambda: not alive(pids["pid"]) and not alive(pids["child"]))
    finally:
        server.kill()
        server.wait()
        server.stdout.close()


async def test_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDLOT_SECRET_SETTING", "leak")
    monkeypatch.setenv("AWS_PROFILE", "host-profile")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
    async with harness(tmp_path) as h:
        spec = h.spec(
            {
                "app.py": """
                    import os

                    def handler(event, context):
                        return dict(os.environ)
                """
            },
            name="envfn",
            version="7",
            memory=256,
            environment={"GREETING": "hi", "AWS_REGION": "xx-nowhere-1"},
        )
        env = json.loads((await h.invoke(spec)).payload)
        assert env["GREETING"] == "hi"
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"  # reserved
        assert env["AWS_LAMBDA_FUNCTION_NAME"] == "envfn"
        assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "7"
        assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
        assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/envfn"
        assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[7\][0-9a-f]{32}", env["AWS_LAMBDA_LOG_STREAM_NAME"])
        assert env["_HANDLER"] == "app.handler"
        assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{PYTHON_RUNTIME}"
        assert env["LAMBDA_TASK_ROOT"] == str(spec.code_dir)
        assert os.path.isdir(env["LAMBDA_RUNTIME_DIR"])
        assert env["TZ"] == ":UTC"
        assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
        assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
        assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
        assert env["TMPDIR"].startswith(str(tmp_path / "work" / "environments"))
        for name, value in CREDENTIALS.items():
            assert env[name] == value
        assert h.issued == [spec.role_arn]
        assert not any(name.startswith("SANDLOT_") for name in env)
        assert "AWS_PROFILE" not in env
        assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")


async def test_layers_are_merged_in_order(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(
            {
                "app.py": """
                    import os, subprocess
                    import shared, first_only

                    def handler(event, context):
                        tool = subprocess.run(["layer-tool"], capture_output=True, text=True)
                        return {"shared": shared.WHO, "first": first_only.WHO,
                                "tool": tool.stdout.strip()}
                """
            },
            layers=(
                {
                    "python/shared.py": "WHO = 'layer 1'\n",
                    "python/first_only.py": "WHO = 'layer 1'\n",
                    "bin/layer-tool": "#!/bin/sh\necho from layer 1\n",
                },
                {
                    f"python/lib/{PYTHON_RUNTIME}/site-packages/shared.py": "WHO = 'layer 2'\n",
                    "bin/layer-tool": "#!/bin/sh\necho from layer 2\n",
                },
            ),
        )
        result = await h.invoke(spec)
        assert json.loads(result.payload) == {
            "shared": "layer 2",
            "first": "layer 1",
            "tool": "from layer 2",
        }
