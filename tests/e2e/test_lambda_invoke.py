"""Lambda functions running for real, driven by boto3 and the AWS CLI."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.conftest import cli_env, make_client
from tests.e2e.functions import (
    create_function,
    unique,
    wait_active,
    wait_for_log_events,
    zip_of,
)
from tests.e2e.server import SandlotServer

HELLO = {
    "app.py": (
        "import os\n"
        "COUNT = 0\n"
        "def handler(event, context):\n"
        "    global COUNT\n"
        "    COUNT += 1\n"
        "    print('hello from', context.function_name)\n"
        "    return {'event': event, 'count': COUNT, 'version': context.function_version,\n"
        "            'greeting': os.environ.get('GREETING')}\n"
    )
}


@pytest.fixture
def lam(server):
    return make_client(server.endpoint, "lambda")


def invoke(lam, name: str, payload=None, **kw) -> tuple[dict, object]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kw)
    body = response["Payload"].read()
    return response, json.loads(body) if body else None


def test_create_invoke_update_publish_alias(lam):
    name = unique("hello")
    create_function(lam, name, HELLO, Environment={"Variables": {"GREETING": "hi"}})
    response, result = invoke(lam, name, {"a": 1})
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert result["event"] == {"a": 1} and result["greeting"] == "hi"

    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_code(
        FunctionName=name,
        ZipFile=zip_of({"app.py": "def handler(e, c):\n    return {'v': 2}\n"}),
    )
    wait_active(lam, name)
    assert invoke(lam, name)[1] == {"v": 2}
    v2 = lam.publish_version(FunctionName=name)["Version"]
    assert invoke(lam, name, Qualifier=v1)[1]["version"] == v1
    assert invoke(lam, name, Qualifier=v2)[1] == {"v": 2}

    lam.create_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion=v1,
        RoutingConfig={"AdditionalVersionWeights": {v2: 0.5}},
    )
    seen = {invoke(lam, name, Qualifier="live")[0]["ExecutedVersion"] for _ in range(40)}
    assert seen == {v1, v2}


def test_context_and_environment(lam):
    name = unique("ctx")
    code = {
        "app.py": (
            "import os\n"
            "def handler(event, context):\n"
            "    keys = ['AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_VERSION',\n"
            "            'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_LOG_GROUP_NAME',\n"
            "            'AWS_LAMBDA_LOG_STREAM_NAME', '_HANDLER', 'AWS_REGION',\n"
            "            'AWS_DEFAULT_REGION', 'AWS_EXECUTION_ENV', 'LAMBDA_TASK_ROOT',\n"
            "            'LAMBDA_RUNTIME_DIR', 'TZ', 'AWS_LAMBDA_RUNTIME_API', 'AWS_ENDPOINT_URL',\n"
            "            'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'MINE']\n"
            "    return {'env': {k: os.environ.get(k) for k in keys},\n"
            "            'ctx': {'name': context.function_name,\n"
            "                    'arn': context.invoked_function_arn,\n"
            "                    'memory': context.memory_limit_in_mb,\n"
            "                    'request_id': context.aws_request_id,\n"
            "                    'group': context.log_group_name,\n"
            "                    'remaining': context.get_remaining_time_in_millis()}}\n"
        )
    }
    create_function(
        lam, name, code, MemorySize=256, Timeout=7, Environment={"Variables": {"MINE": "yes"}}
    )
    response, result = invoke(lam, name)
    env, ctx = result["env"], result["ctx"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert "[$LATEST]" in env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["MINE"] == "yes"
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA") and env["AWS_SESSION_TOKEN"]
    assert ctx["name"] == name and ctx["memory"] == "256"  # a string, as in AWS
    assert ctx["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert ctx["group"] == f"/aws/lambda/{name}"
    assert 0 < ctx["remaining"] <= 7000


def test_function_calls_sandlot_with_its_role_credentials(lam):
    name = unique("whoami")
    code = {
        "app.py": (
            "import boto3\n"
            "def handler(event, context):\n"
            "    return boto3.client('sts').get_caller_identity()['Arn']\n"
        )
    }
    create_function(lam, name, code)
    arn = invoke(lam, name)[1]
    assert arn == f"arn:aws:sts::000000000000:assumed-role/lambda-role/{name}"


def test_warm_reuse_keeps_module_state_and_tmp(lam):
    name = unique("warm")
    code = {
        "app.py": (
            "import os, tempfile\n"
            "STATE = []\n"
            "def handler(event, context):\n"
            "    path = os.path.join(tempfile.gettempdir(), 'seen')\n"
            "    existed = os.path.exists(path)\n"
            "    open(path, 'w').write('x')\n"
            "    STATE.append(1)\n"
            "    return {'calls': len(STATE), 'tmp_existed': existed}\n"
        )
    }
    create_function(lam, name, code)
    assert invoke(lam, name)[1] == {"calls": 1, "tmp_existed": False}
    assert invoke(lam, name)[1] == {"calls": 2, "tmp_existed": True}


def test_parallel_invokes_scale_out(server):
    lam = make_client(server.endpoint, "lambda")
    name = unique("par")
    code = {
        "app.py": (
            "import os, time\n"
            "def handler(event, context):\n"
            "    time.sleep(0.3)\n"
            "    return os.environ['AWS_LAMBDA_LOG_STREAM_NAME']\n"
        )
    }
    create_function(lam, name, code)
    pooled = make_client(server.endpoint, "lambda")
    pooled._client_config = pooled._client_config.merge(Config(max_pool_connections=20))

    def call(_):
        response, stream = invoke(pooled, name)
        assert "FunctionError" not in response
        return stream

    with ThreadPoolExecutor(20) as pool:
        streams = list(pool.map(call, range(20)))
    assert len(streams) == 20
    assert 1 < len(set(streams)) <= 20


def test_reserved_concurrency_throttles(lam):
    name = unique("reserved")
    code = {"app.py": "import time\ndef handler(e, c):\n    time.sleep(1)\n    return 1\n"}
    create_function(lam, name, code)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)

    def call(_):
        try:
            invoke(lam, name)
            return "ok"
        except ClientError as error:
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            assert error.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
            return error.response["Error"]["Code"]

    with ThreadPoolExecutor(3) as pool:
        outcomes = sorted(pool.map(call, range(3)))
    assert outcomes.count("TooManyRequestsException") >= 1 and "ok" in outcomes


@pytest.mark.parametrize(
    ("code", "error_type", "message_part"),
    [
        (
            "import time\ndef handler(e, c):\n    time.sleep(5)\n",
            "Sandbox.Timedout",
            "Task timed out after 1.00 seconds",
        ),
        (
            "import os\ndef handler(e, c):\n    os._exit(3)\n",
            "Runtime.ExitError",
            "Runtime exited with error: exit status 3",
        ),
        (
            "import nosuchmodule\ndef handler(e, c):\n    pass\n",
            "Runtime.ImportModuleError",
            "Unable to import module 'app'",
        ),
        (
            "def other(e, c):\n    pass\n",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'app'",
        ),
        ("def handler(e, c):\n    raise ValueError('bad value')\n", "ValueError", "bad value"),
    ],
)
def test_function_errors(lam, code, error_type, message_part):
    name = unique("err")
    create_function(lam, name, {"app.py": code}, Timeout=1)
    response, error = invoke(lam, name)
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == error_type
    assert message_part in error["errorMessage"]
    # the platform keeps serving the function afterwards
    assert invoke(lam, name)[0]["StatusCode"] == 200


def test_log_tail(lam):
    name = unique("tail")
    create_function(lam, name, HELLO)
    response, _ = invoke(lam, name, LogType="Tail")
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "START RequestId:" in tail and "END RequestId:" in tail
    assert f"hello from {name}" in tail
    assert "REPORT RequestId:" in tail and "Billed Duration:" in tail
    assert "Init Duration" in tail


def test_logs_reach_cloudwatch_logs(server, lam):
    name = unique("logs")
    create_function(lam, name, HELLO)
    invoke(lam, name)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "awscli",
                "logs",
                "filter-log-events",
                "--log-group-name",
                f"/aws/lambda/{name}",
                "--filter-pattern",
                '"hello from"',
                "--output",
                "json",
            ],
            env=cli_env(server.endpoint),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode == 0 and json.loads(result.stdout)["events"]:
            break
        time.sleep(0.3)
    events = json.loads(result.stdout)["events"]
    assert len(events) == 1 and f"hello from {name}" in events[0]["message"]


def test_payload_limits(lam):
    name = unique("limits")
    create_function(lam, name, HELLO)
    with pytest.raises(ClientError) as error:
        lam.invoke(FunctionName=name, Payload=b'"' + b"a" * 6_291_456 + b'"')
    assert error.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    with pytest.raises(ClientError) as error:
        lam.invoke(
            FunctionName=name, InvocationType="Event", Payload=b'"' + b"a" * 1_048_575 + b'"'
        )
    assert error.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error.value.response["Error"]["Message"] == (
        "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    )
    big = {"app.py": "def handler(e, c):\n    return 'x' * 7_000_000\n"}
    big_name = unique("bigresponse")
    create_function(lam, big_name, big)
    response, error = invoke(lam, big_name)
    assert response["FunctionError"] == "Unhandled"


def test_provided_runtime_with_bash_bootstrap(lam):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed on this machine")
    bootstrap = (
        "#!/bin/bash\n"
        "set -euo pipefail\n"
        'API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"\n'
        "while true; do\n"
        "  HEADERS=$(mktemp)\n"
        '  EVENT=$(curl -sS -D "$HEADERS" "$API/next")\n'
        "  ID=$(grep -i Lambda-Runtime-Aws-Request-Id \"$HEADERS\" | tr -d '\\r' | cut -d' ' -f2)\n"
        '  curl -sS -X POST "$API/$ID/response" -d "{\\"echo\\": $EVENT}" > /dev/null\n'
        "done\n"
    )
    name = unique("bash")
    create_function(
        lam,
        name,
        {"bootstrap": bootstrap},
        runtime="provided.al2023",
        handler="unused",
        executable=("bootstrap",),
    )
    assert invoke(lam, name, {"k": "v"})[1] == {"echo": {"k": "v"}}


def test_node_function(lam):
    if shutil.which("node") is None:
        pytest.skip("node is not installed on this machine")
    code = {
        "index.js": (
            "exports.handler = async (event, context) => ({\n"
            "  sum: event.a + event.b, name: context.functionName });\n"
        )
    }
    name = unique("node")
    create_function(lam, name, code, runtime="nodejs20.x", handler="index.handler")
    assert invoke(lam, name, {"a": 2, "b": 3})[1] == {"sum": 5, "name": name}


def test_event_invocations_survive_a_restart(tmp_path):
    name = unique("async")
    code = {
        "app.py": (
            "import json\ndef handler(event, context):\n    print('processed', json.dumps(event))\n"
        )
    }
    # An account allowed no concurrent executions throttles every run (throttles are
    # retried, not counted), so the event must wait in the queue across the kill.
    server = SandlotServer(tmp_path, env={"SANDLOT_ACCOUNT_CONCURRENCY": "0"}).start()
    try:
        lam = make_client(server.endpoint, "lambda")
        create_function(lam, name, code)
        response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 1}')
        assert response["StatusCode"] == 202
    finally:
        server.kill()
    with SandlotServer(tmp_path) as restarted:
        logs = make_client(restarted.endpoint, "logs")
        found = wait_for_log_events(logs, name, '"processed"')
        assert found and '{"n": 1}' in found[0]["message"]


def _pinned(package: str) -> str:
    """``package==version`` as pinned in pyproject.toml's test extras."""
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    for requirement in project["project"]["optional-dependencies"]["test"]:
        if requirement.split("==")[0] == package:
            return requirement
    raise AssertionError(f"{package} is not pinned in pyproject.toml's test extras")


def _pip_target(tmp_path: Path, requirement: str) -> dict[str, bytes]:
    """``requirement`` installed as a user packages it for Lambda (``pip install --target``),
    as zip entries: everything the runtime needs, nothing from this interpreter."""
    target = tmp_path / "package"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(target),
            requirement,
        ],
        check=True,
        timeout=300,
    )
    return {
        str(path.relative_to(target)): path.read_bytes()
        for path in target.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.parts[0] != "bin"
    }


def test_awslambdaric_custom_runtime(lam, tmp_path):
    """AWS's own runtime interface client, shipped in the zip, speaks sandlot's Runtime API."""
    files: dict[str, str | bytes] = _pip_target(tmp_path, _pinned("awslambdaric"))
    files["bootstrap"] = (
        "#!/bin/sh\n"
        'export PYTHONPATH="$LAMBDA_TASK_ROOT"\n'
        # -S: no site-packages, so the client runs only from the zip, whatever this host has
        f'exec "{os.path.realpath(sys.executable)}" -S -m awslambdaric "$_HANDLER"\n'
    )
    files["app.py"] = (
        "def handler(event, context):\n"
        "    if event.get('fail'):\n"
        "        raise KeyError('missing')\n"
        "    return {'ric': True, 'request_id': context.aws_request_id,\n"
        "            'remaining_ok': context.get_remaining_time_in_millis() > 0}\n"
    )
    name = unique("ric")
    create_function(
        lam,
        name,
        files,
        runtime="provided.al2023",
        handler="app.handler",
        executable=("bootstrap",),
    )
    response, result = invoke(lam, name)
    assert result["ric"] is True and result["remaining_ok"] is True
    assert result["request_id"] == response["ResponseMetadata"]["RequestId"]
    response, error = invoke(lam, name, {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "KeyError"


def test_client_context_reaches_the_handler(lam):
    name = unique("clientctx")
    code = {"app.py": "def handler(e, context):\n    return context.client_context.custom\n"}
    create_function(lam, name, code)
    document = base64.b64encode(json.dumps({"custom": {"tenant": "t1"}}).encode()).decode()
    assert invoke(lam, name, ClientContext=document)[1] == {"tenant": "t1"}


def test_tmp_is_private_to_each_environment(server):
    """Each environment has its own fresh temporary directory (TMPDIR). A literal /tmp
    path is private only with the linux sandbox backend (the isolation issue)."""
    lam = make_client(server.endpoint, "lambda")
    name = unique("tmp")
    code = {
        "app.py": (
            "import os, tempfile, time\n"
            "def handler(event, context):\n"
            "    tmp = tempfile.gettempdir()\n"
            "    open(os.path.join(tmp, context.aws_request_id), 'w').close()\n"
            "    time.sleep(0.5)\n"
            "    return sorted(os.listdir(tmp))\n"
        )
    }
    create_function(lam, name, code)
    # The clients are made first, so the two invocations overlap (each needs its own
    # environment) instead of the second waiting on its client and reusing the first's.
    clients = [make_client(server.endpoint, "lambda") for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        seen = list(pool.map(lambda c: invoke(c, name), clients))
    for response, files in seen:
        assert files == [response["ResponseMetadata"]["RequestId"]]


def test_layers_are_merged_in_order_into_opt(lam):
    first = lam.publish_layer_version(
        LayerName=unique("base"),
        Content={
            "ZipFile": zip_of(
                {"python/shared.py": "WHO = 'base'\n", "python/only_base.py": "X = 1\n"}
            )
        },
    )["LayerVersionArn"]
    second = lam.publish_layer_version(
        LayerName=unique("override"),
        Content={"ZipFile": zip_of({"python/shared.py": "WHO = 'override'\n"})},
    )["LayerVersionArn"]
    code = {
        "app.py": (
            "import shared, only_base\n"
            "def handler(event, context):\n"
            "    return {'who': shared.WHO, 'x': only_base.X}\n"
        )
    }
    name = unique("layered")
    create_function(lam, name, code, Layers=[first, second])
    result = invoke(lam, name)[1]
    assert result["who"] == "override" and result["x"] == 1
