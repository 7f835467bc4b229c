"""Runtime fidelity: a function runs on the version its runtime names, or not at all.

Python versions are those discovery finds on this machine (a version is skipped only
when it finds none, saying so); Node.js versions are provisioned from the npm registry
on first use, so these tests need the registry the first time on a machine.
"""

from __future__ import annotations

import base64
import json
import os
import sys

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandlot.execution.runtimes import LAMBDA_PATH, python
from sandlot.execution.sandbox import resolve_backend
from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique, zip_of
from tests.e2e.roles import ensure_role
from tests.e2e.server import SandlotServer

# A setting that names an interpreter of the wrong version: python3.14 must then fail
# INIT, saying so, whether or not this machine has a Python 3.14 elsewhere.
WRONG = {python.variable(14): sys.executable}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("runtimes"), env=WRONG) as running:
        yield running


@pytest.fixture(scope="module")
def lam(server):
    # First use of a Node.js version downloads it (seconds): INIT waits for it, and so
    # does this client, longer than boto3's default read timeout.
    return boto3.session.Session().client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=600),
    )


def invoke(lam, name: str, payload=None) -> tuple[dict, object]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    return response, json.loads(response["Payload"].read() or b"null")


VERSION_REPORT = {
    "app.py": (
        "import sys, boto3, botocore\n"
        "def handler(event, context):\n"
        "    return {'version': list(sys.version_info[:2]), 'boto3': boto3.__version__}\n"
    )
}


@pytest.mark.parametrize("minor", [9, 10, 11, 12, 13])
def test_python_functions_run_on_the_version_they_name(lam, minor):
    try:
        found = python.find(minor)
    except python.NotFound as exc:
        pytest.skip(f"discovery finds no Python 3.{minor} on this machine: {exc}")
    name = unique(f"py3{minor}")
    create_function(lam, name, VERSION_REPORT, runtime=f"python3.{minor}")
    response, result = invoke(lam, name)
    assert "FunctionError" not in response, result
    assert result["version"] == [3, minor], (found, result)
    assert result["boto3"]  # the provided packages import on every version


def test_functions_write_files_with_a_usual_umask(lam):
    """The server keeps its data dir private with umask 077; runtimes do not inherit
    it: a file a function writes is 0644, a directory 0755, as for a Linux process."""
    name = unique("umask")
    code = {
        "app.py": (
            "import os, tempfile\n"
            "def handler(event, context):\n"
            "    path = os.path.join(tempfile.gettempdir(), 'out.txt')\n"
            "    open(path, 'w').close()\n"
            "    os.makedirs(path + '.d', exist_ok=True)\n"
            "    return [oct(os.stat(path).st_mode & 0o777), oct(os.stat(path + '.d').st_mode & 0o777)]\n"
        )
    }
    create_function(lam, name, code, runtime="python3.11")
    response, result = invoke(lam, name)
    assert "FunctionError" not in response, result
    assert result == ["0o644", "0o755"]


def test_a_missing_python_version_fails_init_saying_how_to_provide_it(lam):
    name = unique("py314")
    create_function(lam, name, VERSION_REPORT, runtime="python3.14")
    response, result = invoke(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert result["errorType"] == "Runtime.InvalidRuntime"
    assert f"{python.variable(14)}={sys.executable}" in result["errorMessage"]
    assert "not Python 3.14" in result["errorMessage"]


def test_runtimes_sandlot_cannot_run_are_accepted_and_refused_at_invoke(lam):
    name = unique("dotnet")
    create_function(lam, name, {"App.dll": "not .NET"}, runtime="dotnet8",
                    handler="App::App.Function::Handler")  # fmt: skip
    response, result = invoke(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert result["errorType"] == "Runtime.InvalidRuntime"
    assert "dotnet8" in result["errorMessage"] and "provided.al2023" in result["errorMessage"]


def _error(call, **params) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_create_and_update_refuse_runtimes_aws_does_not_offer(lam):
    name = unique("rt")
    common = {"FunctionName": name, "Role": "arn:aws:iam::000000000000:role/lambda-role",
              "Handler": "app.handler", "Code": {"ZipFile": zip_of(VERSION_REPORT)}}  # fmt: skip
    code, message = _error(lam.create_function, Runtime="python3.99", **common)
    assert code == "InvalidParameterValueException"
    assert message.startswith(
        "Value python3.99 at 'runtime' failed to satisfy constraint: Member must satisfy "
        "enum value set: [nodejs, "
    )
    assert message.endswith("] or be a valid ARN") and "python3.13" in message
    code, message = _error(lam.create_function, Runtime="python3.7", **common)
    assert (code, message) == (
        "InvalidParameterValueException",
        "The runtime parameter of python3.7 is no longer supported for creating or updating "
        "AWS Lambda functions. We recommend you use the new runtime (python3.13) while "
        "creating or updating functions.",
    )
    create_function(lam, name, VERSION_REPORT)
    code, message = _error(lam.update_function_configuration, FunctionName=name,
                           Runtime="nodejs99.x")  # fmt: skip
    assert code == "InvalidParameterValueException" and "at 'runtime'" in message
    assert lam.get_function_configuration(FunctionName=name)["Runtime"] == "python3.12"


NODE_SDK = {
    "index.mjs": (
        "import { S3Client, CreateBucketCommand, ListBucketsCommand } from '@aws-sdk/client-s3';\n"
        "const s3 = new S3Client({ forcePathStyle: true });\n"
        "export const handler = async (event) => {\n"
        "  await s3.send(new CreateBucketCommand({ Bucket: event.bucket }));\n"
        "  const listed = await s3.send(new ListBucketsCommand({}));\n"
        "  return { node: process.version, buckets: listed.Buckets.map((b) => b.Name) };\n"
        "};\n"
    )
}


@pytest.mark.parametrize("major", [20, 22])
def test_node_functions_run_their_version_with_the_aws_sdk_v3(lam, server, major):
    iam = make_client(server.endpoint, "iam")
    role = ensure_role(iam, "sdk-v3-role", managed=("arn:aws:iam::aws:policy/AmazonS3FullAccess",))
    name = unique(f"node{major}")
    create_function(
        lam, name, NODE_SDK, runtime=f"nodejs{major}.x", handler="index.handler", role=role
    )
    bucket = unique("sdk-v3")
    response, result = invoke(lam, name, {"bucket": bucket})
    assert "FunctionError" not in response, result
    assert result["node"].startswith(f"v{major}.")
    assert bucket in result["buckets"]  # the SDK reached sandlot (AWS_ENDPOINT_URL)


def test_arm64_says_once_at_init_that_it_runs_on_the_hosts_architecture(lam):
    if os.uname().machine == "aarch64":
        pytest.skip("this host is arm64: nothing to say")
    name = unique("arm")
    create_function(lam, name, VERSION_REPORT, Architectures=["arm64"])
    first = lam.invoke(FunctionName=name, LogType="Tail")
    second = lam.invoke(FunctionName=name, LogType="Tail")
    notice = f"runs on {os.uname().machine}"
    assert base64.b64decode(first["LogResult"]).decode().count(notice) == 1
    assert notice not in base64.b64decode(second["LogResult"]).decode()
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Architectures"] == ["arm64"]


LAYOUT = {
    "app.py": (
        "import os, sys\n"
        "def handler(event, context):\n"
        "    with open('/proc/1/cmdline', 'rb') as f:\n"
        "        init = [p.decode() for p in f.read().split(b'\\0') if p]\n"
        "    with open('/proc/1/environ', 'rb') as f:\n"
        "        init_env = [p.decode() for p in f.read().split(b'\\0') if p]\n"
        "    return {'path': os.environ['PATH'], 'runtime_dir': os.environ['LAMBDA_RUNTIME_DIR'],\n"
        "            'executable': sys.executable, 'prefix': sys.prefix, 'init': init,\n"
        "            'init_env': init_env, 'boto3': __import__('boto3').__file__}\n"
    )
}


def test_the_linux_sandbox_shows_lambdas_layout(lam, server):
    backend = os.environ.get("SANDLOT_TEST_SANDBOX") or resolve_backend("auto")[0]
    if backend != "linux":
        pytest.skip(f"the {backend} backend runs functions on the host's paths")
    name = unique("layout")
    create_function(lam, name, LAYOUT, runtime="python3.12")
    response, seen = invoke(lam, name)
    assert "FunctionError" not in response, seen
    assert seen["path"] == LAMBDA_PATH
    assert seen["runtime_dir"] == "/var/runtime"
    assert seen["executable"] == "/var/lang/bin/python3.12" and seen["prefix"] == "/var/lang"
    assert seen["boto3"] == "/var/runtime/boto3/__init__.py"
    # Nothing of the host in what the sandbox's init shows.
    host = ("/root", "/home", "/work", "/tmp/", str(server.data_dir), sys.prefix)
    for part in seen["init"] + seen["init_env"]:
        assert not any(marker in part for marker in host), seen
    _assert_init_shows(
        seen["init"], ["/var/lang/bin/python3.12", "-S", "-u", "/var/runtime/python_bootstrap.py"]
    )


NODE_LAYOUT = {
    "index.js": (
        "const fs = require('fs');\n"
        "exports.handler = async () => ({\n"
        "  path: process.env.PATH, execPath: process.execPath,\n"
        "  sdk: require.resolve('@aws-sdk/client-s3'),\n"
        "  init: fs.readFileSync('/proc/1/cmdline', 'latin1').split('\\0').filter(Boolean),\n"
        "});\n"
    )
}


def test_the_linux_sandbox_shows_lambdas_layout_to_node(lam, server):
    backend = os.environ.get("SANDLOT_TEST_SANDBOX") or resolve_backend("auto")[0]
    if backend != "linux":
        pytest.skip(f"the {backend} backend runs functions on the host's paths")
    name = unique("node-layout")
    create_function(lam, name, NODE_LAYOUT, runtime="nodejs22.x", handler="index.handler")
    response, seen = invoke(lam, name)
    assert "FunctionError" not in response, seen
    assert seen["path"] == LAMBDA_PATH and seen["execPath"] == "/var/lang/bin/node"
    assert seen["sdk"].startswith("/var/runtime/node_modules/@aws-sdk/client-s3/")
    # (A CommonJS handler: no ES module resolution hooks are loaded.)
    _assert_init_shows(seen["init"], ["/var/lang/bin/node", "/var/runtime/node_bootstrap.js"])


def _assert_init_shows(init: list[str], launch: list[str]) -> None:
    """PID 1 shows the runtime's command as the sandbox sees it: the zygote's init
    shows exactly that; under bubblewrap (no zygote) it is bwrap, whose options come
    through a pipe, so only `bwrap --args N --` precedes it."""
    if os.path.basename(init[0]) == "bwrap":
        assert init[1:3] == ["--args", init[2]] and init[3] == "--", init
        init = init[4:]
    assert init == launch
