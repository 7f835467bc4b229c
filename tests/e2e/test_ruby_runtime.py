"""ruby3.X: sandlot's Ruby runtime client (execution/runtimes/ruby_bootstrap.rb).

A function runs on the Ruby its runtime names, or not at all: each version is skipped
when discovery finds no Ruby of it on this machine (Debian 12 has Ruby 3.1 only, which
no Lambda runtime names, so there only the refusal below runs; CI builds Ruby 3.3 with
.ci/ruby).
"""

from __future__ import annotations

import base64
import json
import shutil

import boto3
import pytest
from botocore.config import Config

from sandlot.execution.runtimes import ruby
from tests.e2e.functions import create_function, unique
from tests.e2e.server import SandlotServer

SYSTEM_RUBY = shutil.which("ruby")
FOUND = ruby.probe(SYSTEM_RUBY) if SYSTEM_RUBY else None
# A Lambda Ruby version this machine's ruby is not, named by a setting pointing at that
# ruby: INIT must refuse it (that version's positive test is then skipped).
WRONG_MINOR = 3 if FOUND and FOUND.version[:2] == (3, 2) else 2
WRONG = {ruby.variable(WRONG_MINOR): SYSTEM_RUBY} if FOUND else {}

CODE = {
    "function.rb": (
        "require 'logger'\n"
        "module Shop\n"
        "  class Handler\n"
        "    def self.process(event:, context:)\n"
        "      puts \"processing #{event['name']}\"\n"
        "      raise ArgumentError, 'bad name' if event['fail']\n"
        "      { 'hello' => event['name'], 'id' => context.aws_request_id,\n"
        "        'function' => context.function_name, 'memory' => context.memory_limit_in_mb,\n"
        "        'left' => context.get_remaining_time_in_millis,\n"
        "        'group' => context.log_group_name, 'ruby' => RUBY_VERSION }\n"
        "    end\n"
        "  end\n"
        "end\n"
        "def handler(event:, context:)\n"
        "  Logger.new($stdout).info('top level')\n"
        "  { 'top' => event }\n"
        "end\n"
    ),
    "broken.rb": "def handler(event:, context:\n",
}


@pytest.fixture(scope="module")
def lam(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("ruby"), env=WRONG) as server:
        yield boto3.session.Session().client(
            "lambda", endpoint_url=server.endpoint, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}, read_timeout=120),
        )  # fmt: skip


def invoke(lam, name: str, payload) -> tuple[dict, object, str]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload), LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    return response, json.loads(response["Payload"].read()), log


@pytest.mark.parametrize("minor", [2, 3, 4])
def test_ruby_functions_with_awss_handler_forms_context_and_errors(lam, minor):
    if FOUND and minor == WRONG_MINOR:
        pytest.skip(f"this module's server names another ruby for 3.{minor} (the refusal test)")
    try:
        found = ruby.find(minor)
    except ruby.NotFound as exc:
        pytest.skip(f"discovery finds no Ruby 3.{minor} on this machine: {exc}")
    runtime = f"ruby3.{minor}"
    name = unique(f"rb3{minor}")
    create_function(lam, name, CODE, runtime=runtime, handler="function.Shop::Handler.process",
                    MemorySize=256)  # fmt: skip
    response, result, log = invoke(lam, name, {"name": "sandlot"})
    assert "FunctionError" not in response, result
    assert result["ruby"] == found.version_text and result["ruby"].startswith(f"3.{minor}.")
    assert result["hello"] == "sandlot" and result["function"] == name
    assert result["id"] == response["ResponseMetadata"]["RequestId"]
    assert result["memory"] == "256" and 0 < result["left"] <= 3000
    assert result["group"] == f"/aws/lambda/{name}"
    assert "processing sandlot" in log
    response, error, _ = invoke(lam, name, {"name": "x", "fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert (error["errorType"], error["errorMessage"]) == ("Function<ArgumentError>", "bad name")
    assert error["stackTrace"][0].startswith("/var/task/function.rb:6:in ") or error["stackTrace"][
        0
    ].endswith("function.rb:6:in `process'"), error

    top = unique(f"rb3{minor}top")
    create_function(lam, top, CODE, runtime=runtime, handler="function.handler")
    response, result, log = invoke(lam, top, {"a": 1})
    assert result == {"top": {"a": 1}} and "INFO -- : top level" in log

    broken = unique(f"rb3{minor}init")
    create_function(lam, broken, CODE, runtime=runtime, handler="broken.handler")
    response, error, _ = invoke(lam, broken, {})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Init<SyntaxError>"


def test_a_ruby_of_another_version_is_refused_at_init_saying_so(lam):
    if FOUND is None:
        pytest.skip("no ruby on this machine to name with the wrong version")
    name = unique("rbwrong")
    create_function(lam, name, CODE, runtime=f"ruby3.{WRONG_MINOR}", handler="function.handler")
    response, error, _ = invoke(lam, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.InvalidRuntime"
    assert f"is Ruby {FOUND.version_text}, not Ruby 3.{WRONG_MINOR}" in error["errorMessage"]
