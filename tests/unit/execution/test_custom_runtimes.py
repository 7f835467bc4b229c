"""provided* runtimes: bootstraps nobody here wrote, speaking the Runtime API."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from sandlot.execution.runtimes import PYTHON

from .helpers import harness, wait_until

CURL = shutil.which("curl")

# The bootstrap of AWS's custom runtime tutorial, in shell with curl.
CURL_BOOTSTRAP = """
    #!/bin/bash
    set -euo pipefail
    echo "bootstrap starting"
    while true; do
      HEADERS="$(mktemp)"
      EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
      REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
      echo "handling $REQUEST_ID"
      RESPONSE="{\\"echo\\": $EVENT_DATA, \\"handler\\": \\"$_HANDLER\\"}"
      curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" -d "$RESPONSE" > /dev/null
    done
"""

# The same loop with Python's standard library, for hosts without curl.
PYTHON_BOOTSTRAP = f"""
    #!{PYTHON}
    import json, os, urllib.request
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
    print("bootstrap starting", flush=True)
    while True:
        with urllib.request.urlopen(api + "next") as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(response.read())
        print("handling", request_id, flush=True)
        body = json.dumps({{"echo": event, "handler": os.environ["_HANDLER"]}}).encode()
        urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", body))
"""


async def test_shell_bootstrap(tmp_path):
    bootstrap = CURL_BOOTSTRAP if CURL else PYTHON_BOOTSTRAP
    async with harness(tmp_path) as h:
        spec = h.spec(
            {"bootstrap": bootstrap}, runtime="provided.al2023", handler="function.handler"
        )
        payload = {"big": "y" * 2000}  # over 1 KB: curl asks "Expect: 100-continue"
        for _ in range(2):
            result = await h.invoke(spec, json.dumps(payload).encode())
            assert result.function_error is None
            assert json.loads(result.payload) == {"echo": payload, "handler": "function.handler"}
        tail = result.log_tail.decode()
        assert "handling " in tail and "REPORT RequestId" in tail
        assert await wait_until(lambda: len(h.messages()) > 0)
        assert h.messages()[0] == "bootstrap starting\n"


async def test_bootstrap_from_a_layer(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(
            {"README": "code without a bootstrap"},
            runtime="provided.al2",
            layers=({"bootstrap": PYTHON_BOOTSTRAP},),
        )
        result = await h.invoke(spec, b'{"a": 1}')
        assert json.loads(result.payload)["echo"] == {"a": 1}


async def test_missing_or_broken_bootstrap(tmp_path):
    async with harness(tmp_path) as h:
        missing = h.spec({"README": ""}, runtime="provided")
        error = json.loads((await h.invoke(missing)).payload)
        assert error["errorType"] == "Runtime.InvalidEntrypoint"
        assert error["errorMessage"].endswith(
            f"Error: Couldn't find valid bootstrap(s): [{missing.code_dir}/bootstrap "
            f"{tmp_path}/work/opt/empty/bootstrap]"
        )
        no_exec = h.spec({"README": ""}, runtime="provided")
        (no_exec.code_dir / "bootstrap").write_text("#!/bin/sh\n")
        error = json.loads((await h.invoke(no_exec)).payload)
        assert error["errorType"] == "Runtime.InvalidEntrypoint"
        assert error["errorMessage"].endswith(
            f"Error: fork/exec {no_exec.code_dir}/bootstrap: permission denied"
        )


async def test_bootstrap_exiting_during_init(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(
            {"bootstrap": "#!/bin/sh\necho 'cannot start' >&2\nexit 4\n"}, runtime="provided"
        )
        result = await h.invoke(spec)
        error = json.loads(result.payload)
        assert error["errorType"] == "Runtime.ExitError"
        assert error["errorMessage"].endswith("Error: Runtime exited with error: exit status 4")
        assert "cannot start\n" in result.log_tail.decode()


async def test_init_that_never_finishes_times_out(tmp_path, monkeypatch):
    from sandlot.execution import environment

    monkeypatch.setattr(environment, "INIT_TIMEOUT_S", 0.5)
    async with harness(tmp_path) as h:
        spec = h.spec(
            {"bootstrap": "#!/bin/sh\necho started\nexec sleep 60\n"}, timeout=1, runtime="provided"
        )
        result = await h.invoke(spec)
        error = json.loads(result.payload)
        assert error["errorType"] == "Sandbox.Timedout"
        assert error["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
        assert 900 < result.init_duration_ms < 2000
        assert await wait_until(lambda: h.engine.environment_count == 0)


async def test_bootstrap_reporting_an_init_error(tmp_path):
    bootstrap = f"""
        #!{PYTHON}
        import json, os, urllib.request
        url = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/init/error"
        body = json.dumps({{"errorMessage": "config missing", "errorType": "Custom.ConfigError"}})
        request = urllib.request.Request(
            url, body.encode(), {{"Lambda-Runtime-Function-Error-Type": "Custom.ConfigError"}}
        )
        urllib.request.urlopen(request)
    """
    async with harness(tmp_path) as h:
        result = await h.invoke(h.spec({"bootstrap": bootstrap}, runtime="provided.al2023"))
        assert result.function_error == "Unhandled"
        assert json.loads(result.payload) == {
            "errorMessage": "config missing",
            "errorType": "Custom.ConfigError",
        }


def _ship_awslambdaric(code_dir: Path) -> None:
    """Copy awslambdaric and its dependencies into the deployment package, as a zip has them."""
    for name in ("awslambdaric", "runtime_client", "simplejson", "snapshot_restore_py"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        if spec.submodule_search_locations:
            source = Path(spec.origin).parent
            shutil.copytree(
                source, code_dir / source.name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(spec.origin, code_dir / Path(spec.origin).name)


@pytest.mark.skipif(
    importlib.util.find_spec("awslambdaric") is None,
    reason="awslambdaric is not installed (pip install awslambdaric==4.2.2)",
)
async def test_awslambdaric(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(
            {
                # -S: only what the package ships is importable, as on Lambda.
                "bootstrap": f'#!/bin/sh\nexec "{PYTHON}" -S -m awslambdaric "$_HANDLER"\n',
                "app.py": """
                    import os

                    STATE = {"count": 0}

                    def handler(event, context):
                        if event.get("fail"):
                            raise KeyError("missing")
                        if event.get("big"):
                            return "x" * 7_000_000
                        STATE["count"] += 1
                        print("handled", event)
                        return {
                            "count": STATE["count"],
                            "request_id": context.aws_request_id,
                            "function_name": context.function_name,
                            "remaining": context.get_remaining_time_in_millis(),
                            "region": os.environ["AWS_REGION"],
                        }
                """,
            },
            runtime="provided.al2023",
            name="ric",
        )
        _ship_awslambdaric(spec.code_dir)
        first = await h.invoke(spec, b'{"x": 1}')
        assert first.function_error is None, first.payload
        body = json.loads(first.payload)
        assert body["count"] == 1 and body["function_name"] == "ric"
        assert 0 < body["remaining"] <= 3000
        assert body["region"] == "eu-west-1"
        second = await h.invoke(spec, b'{"x": 2}')
        assert json.loads(second.payload)["count"] == 2  # warm: same module state
        assert second.environment_id == first.environment_id
        assert "handled {'x': 2}" in second.log_tail.decode()

        failed = await h.invoke(spec, b'{"fail": true}')
        assert failed.function_error == "Unhandled"
        error = json.loads(failed.payload)
        assert error["errorType"] == "KeyError"
        assert error["errorMessage"] == "'missing'"
        assert isinstance(error["stackTrace"], list)

        too_big = await h.invoke(spec, b'{"big": true}')
        assert too_big.function_error == "Unhandled"
        assert json.loads(too_big.payload)["errorType"] == "Function.ResponseSizeTooLarge"

        broken = h.spec(
            {
                "bootstrap": f'#!/bin/sh\nexec "{PYTHON}" -S -m awslambdaric app.handler\n',
                "app.py": "import not_there\n",
            },
            runtime="provided.al2023",
        )
        _ship_awslambdaric(broken.code_dir)
        init_error = json.loads((await h.invoke(broken)).payload)
        assert init_error["errorType"] == "Runtime.ImportModuleError"
        assert "not_there" in init_error["errorMessage"]
