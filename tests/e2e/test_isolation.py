"""Hostile functions against the linux sandbox, through the Lambda API (issue 4's battery
at the API level; the engine-level battery is tests/unit/execution/test_linux_sandbox.py)."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandlot.execution.sandbox_linux import linux_mechanism
from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique


@pytest.fixture(scope="module")
def lam(server):
    with urllib.request.urlopen(server.endpoint + "/_sandlot/health", timeout=10) as response:
        health = json.loads(response.read())
    if os.environ.get("SANDLOT_TEST_SANDBOX") == "process":
        pytest.skip("SANDLOT_TEST_SANDBOX=process: the server runs without isolation")
    # Wherever the kernel allows it, `sandlot up` isolates (bubblewrap or not): these
    # tests skip only where neither the zygote's namespaces nor bwrap can work.
    mechanism, reason = linux_mechanism()
    if mechanism is None:
        pytest.skip(f"no linux sandbox on this host: {reason}")
    assert (health["sandbox"], health["isolation"]) == ("linux", mechanism)
    return make_client(server.endpoint, "lambda")


def run(lam, body: str, **config):
    """Create a function whose handler body is ``body`` and invoke it once."""
    name = unique("hostile")
    code = "import os, json, errno\ndef handler(event, context):\n" + "".join(
        f"    {line}\n" for line in body.splitlines()
    )
    create_function(lam, name, {"app.py": code}, **config)
    response = lam.invoke(FunctionName=name, Payload=b"{}")
    return response, json.loads(response["Payload"].read())


def test_code_is_read_only_at_var_task(lam):
    _, result = run(lam, (
        "assert os.environ['LAMBDA_TASK_ROOT'] == '/var/task'\n"
        "try:\n"
        "    open('/var/task/app.py', 'a').write('#')\n"
        "except OSError as e:\n"
        "    return errno.errorcode[e.errno]\n"
        "return 'written'"
    ))  # fmt: skip
    assert result in ("EROFS", "EACCES")


def test_no_view_of_the_data_dir_or_home(server, lam):
    home = os.path.expanduser("~")
    # The interpreter may be installed under the home directory (pyenv): only the
    # directories leading to it may show there.
    interpreter = os.path.realpath(sys.base_prefix)
    allowed = []
    if interpreter.startswith(home + "/"):
        allowed = [interpreter[len(home) + 1 :].split("/")[0]]
    _, result = run(lam, (
        f"home = {home!r}\n"
        f"hidden = [{str(server.data_dir)!r}, home + '/.ssh', home + '/.bash_history']\n"
        "return {'visible': [p for p in hidden if os.path.exists(p)],\n"
        "        'home': sorted(os.listdir(home)) if os.path.isdir(home) else [],\n"
        "        'users': sorted(os.listdir('/home')) if os.path.isdir('/home') else []}"
    ))  # fmt: skip
    assert result["visible"] == [] and result["users"] == []
    assert set(result["home"]) <= set(allowed), result


def test_own_pid_namespace(lam):
    _, result = run(lam, (
        f"host_pid = {os.getpid()}\n"
        "try:\n"
        "    os.kill(host_pid, 0)\n"
        "    seen = True\n"
        "except ProcessLookupError:\n"
        "    seen = False\n"
        "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "return {'seen': seen, 'pids': len(pids)}"
    ))  # fmt: skip
    assert result["seen"] is False and result["pids"] <= 5


def test_no_capabilities(lam):
    _, result = run(lam, (
        "status = open('/proc/self/status').read().splitlines()\n"
        "return {l.split(':')[0]: l.split()[1] for l in status\n"
        "        if l.startswith(('CapEff', 'NoNewPrivs'))}"
    ))  # fmt: skip
    assert int(result["CapEff"], 16) == 0 and result["NoNewPrivs"] == "1"


def test_literal_tmp_is_private_per_environment(server, lam):
    # Only the linux sandbox gives each environment its own literal /tmp (``lam`` skips
    # on the process backend, whose functions share the host's /tmp through TMPDIR).
    name = unique("tmpprivate")
    code = (
        "import os, time\n"
        "def handler(event, context):\n"
        "    open('/tmp/' + context.aws_request_id, 'w').close()\n"
        "    time.sleep(0.5)\n"
        "    return sorted(os.listdir('/tmp'))\n"
    )
    create_function(lam, name, {"app.py": code})

    def call(_):
        client = make_client(server.endpoint, "lambda")
        response = client.invoke(FunctionName=name, Payload=b"{}")
        return response["ResponseMetadata"]["RequestId"], json.loads(response["Payload"].read())

    with ThreadPoolExecutor(2) as pool:
        for request_id, files in pool.map(call, range(2)):
            assert files == [request_id]
