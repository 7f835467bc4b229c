"""Compiled languages on the custom runtimes, as AWS users build them.

Go (github.com/aws/aws-lambda-go, ``lambda.Start``, ``-tags lambda.norpc``) and Rust (the
``lambda_runtime`` crate) functions are built here with each language's own toolchain
and run unchanged on ``provided.al2023``/``provided.al2``: the binary is the package's
``bootstrap``. Module and crate downloads, and the build caches, live in pytest's cache
dir (``.pytest_cache/d/native-builds``), so only a machine's first run builds from
scratch. A test is skipped only when its toolchain is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandlot.execution.sandbox import resolve_backend
from tests.e2e.conftest import cli_env, make_client
from tests.e2e.functions import ROLE, create_function, unique, wait_for_log_events, zip_of
from tests.e2e.server import SandlotServer

GO_MODULE = "github.com/aws/aws-lambda-go"
GO_VERSION = "v1.55.1"  # pinned (needs Go 1.26); go.sum holds the checksum database's hashes
GO_SUM = (
    f"{GO_MODULE} {GO_VERSION} h1:We2cCp4BwqqH/JW+bEEo1FhgG71rslvjfi4y7KmlrR0=\n"
    f"{GO_MODULE} {GO_VERSION}/go.mod h1:V+NzkHNR6vBC8C1PDloqSLE+7jYWFiPvJJFiCiTm8nE=\n"
)
GO_MAIN = """package main

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

func handle(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	if req.QueryStringParameters["fail"] != "" {
		return events.APIGatewayProxyResponse{}, errors.New("the request asked to fail")
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	return events.APIGatewayProxyResponse{
		StatusCode: 201,
		Headers:    map[string]string{"content-type": "text/plain"},
		Body: req.HTTPMethod + " " + req.Path + " " + req.Body + " " + lc.AwsRequestID + " " +
			lambdacontext.FunctionName + " " + deadline.UTC().Format("2006"),
	}, nil
}

func main() { lambda.Start(handle) }
"""

RUST_MANIFEST = """[package]
name = "bootstrap"
version = "0.1.0"
edition = "2021"

[dependencies]
lambda_runtime = "=0.14.4"
serde_json = "1"
tokio = { version = "1", features = ["macros"] }

[profile.release]
opt-level = 1
"""
RUST_MAIN = """use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if payload.get("fail").is_some() {
        return Err("the event asked to fail".into());
    }
    Ok(json!({"statusCode": 200, "body": payload["body"], "requestId": context.request_id,
              "function": context.env_config.function_name,
              "memory": context.env_config.memory}))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("native")) as running:
        yield running


@pytest.fixture(scope="module")
def lam(server):
    return boto3.session.Session().client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=120),
    )


@pytest.fixture(scope="module")
def builds(request) -> Path:
    return Path(request.config.cache.mkdir("native-builds"))


def _tool(name: str) -> str:
    # Where rustup and Go's own installer put them, when the PATH does not say.
    elsewhere = os.pathsep.join((os.path.expanduser("~/.cargo/bin"), "/usr/local/go/bin"))
    found = shutil.which(name) or shutil.which(name, path=elsewhere)
    if found is None:
        pytest.skip(f"the {name} toolchain is not installed on this machine")
    return found


def _build(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=1500
    )
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.fixture(scope="module")
def go_bootstrap(builds) -> bytes:
    go = _tool("go")
    source = builds / "go-hello"
    source.mkdir(exist_ok=True)
    (source / "go.mod").write_text(
        f"module example.com/hello\n\ngo 1.26\n\nrequire {GO_MODULE} {GO_VERSION}\n"
    )
    (source / "go.sum").write_text(GO_SUM)
    (source / "main.go").write_text(GO_MAIN)
    env = {
        "GOOS": "linux",
        "CGO_ENABLED": "0",
        "GOPATH": str(builds / "gopath"),
        "GOMODCACHE": str(builds / "gopath" / "mod"),
        "GOCACHE": str(builds / "gocache"),
        "GOFLAGS": "-modcacherw",  # so pytest's cache can be deleted like any directory
    }
    _build([go, "build", "-tags", "lambda.norpc", "-trimpath", "-o", "bootstrap", "."], source, env)
    return (source / "bootstrap").read_bytes()


@pytest.fixture(scope="module")
def go_bootstrap_other_arch(builds, go_bootstrap) -> bytes:
    """The same function built for the architecture this host is not."""
    source = builds / "go-hello"
    other = "amd64" if os.uname().machine == "aarch64" else "arm64"
    env = {
        "GOOS": "linux",
        "GOARCH": other,
        "CGO_ENABLED": "0",
        "GOPATH": str(builds / "gopath"),
        "GOMODCACHE": str(builds / "gopath" / "mod"),
        "GOCACHE": str(builds / "gocache"),
        "GOFLAGS": "-modcacherw",
    }
    output = f"bootstrap-{other}"
    _build([_tool("go"), "build", "-tags", "lambda.norpc", "-trimpath", "-o", output, "."],
           source, env)  # fmt: skip
    return (source / output).read_bytes()


@pytest.fixture(scope="module")
def rust_bootstrap(builds) -> bytes:
    cargo = _tool("cargo")
    source = builds / "rust-hello"
    (source / "src").mkdir(parents=True, exist_ok=True)
    (source / "Cargo.toml").write_text(RUST_MANIFEST)
    (source / "src" / "main.rs").write_text(RUST_MAIN)
    env = {"CARGO_HOME": str(builds / "cargo-home"), "CARGO_TARGET_DIR": str(builds / "target")}
    _build([cargo, "build", "--release", "--quiet"], source, env)
    return (builds / "target" / "release" / "bootstrap").read_bytes()


def invoke(lam, name: str, payload) -> tuple[dict, object]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return response, json.loads(response["Payload"].read())


API_GATEWAY_EVENT = {
    "resource": "/items",
    "path": "/items",
    "httpMethod": "POST",
    "headers": {"content-type": "text/plain"},
    "queryStringParameters": None,
    "requestContext": {"requestId": "r1", "stage": "prod", "httpMethod": "POST"},
    "body": "hello",
    "isBase64Encoded": False,
}


@pytest.mark.timeout(900)  # a machine's first build compiles Go's standard library
@pytest.mark.parametrize("runtime", ["provided.al2023", "provided.al2"])
def test_a_go_function_built_with_aws_lambda_go(lam, go_bootstrap, runtime):
    name = unique("go")
    create_function(lam, name, {"bootstrap": go_bootstrap}, runtime=runtime,
                    handler="bootstrap", executable=("bootstrap",))  # fmt: skip
    response, result = invoke(lam, name, API_GATEWAY_EVENT)
    assert "FunctionError" not in response, result
    assert result["statusCode"] == 201
    assert result["headers"] == {"content-type": "text/plain"}
    method, path, body, request_id, function, year = result["body"].split(" ")
    assert (method, path, body, function) == ("POST", "/items", "hello", name)
    assert request_id == response["ResponseMetadata"]["RequestId"]
    assert int(year) >= 2024  # the deadline the library read from the Runtime API

    failing = {**API_GATEWAY_EVENT, "queryStringParameters": {"fail": "1"}}
    response, error = invoke(lam, name, failing)
    assert response["FunctionError"] == "Unhandled"
    # aws-lambda-go names the error by its Go type (errors.New makes an *errors.errorString).
    assert error == {"errorMessage": "the request asked to fail", "errorType": "errorString"}


@pytest.mark.timeout(1500)  # a machine's first release build compiles tokio & co (minutes)
def test_a_rust_function_built_with_lambda_runtime(lam, rust_bootstrap):
    name = unique("rust")
    create_function(lam, name, {"bootstrap": rust_bootstrap}, runtime="provided.al2023",
                    handler="bootstrap", executable=("bootstrap",), MemorySize=256)  # fmt: skip
    response, result = invoke(lam, name, API_GATEWAY_EVENT)
    assert "FunctionError" not in response, result
    assert result == {
        "statusCode": 200,
        "body": "hello",
        "requestId": response["ResponseMetadata"]["RequestId"],
        "function": name,
        "memory": 256,
    }
    response, error = invoke(lam, name, {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorMessage"] == "the event asked to fail"
    assert error["errorType"]  # the crate's name for the error's type


def test_go1x_is_refused_on_create_and_update_with_awss_deprecation_message(lam, server):
    expected = (
        "The runtime parameter of go1.x is no longer supported for creating or updating AWS "
        "Lambda functions. We recommend you use the new runtime (provided.al2023) while "
        "creating or updating functions."
    )
    name = unique("go1x")
    with pytest.raises(ClientError) as caught:
        lam.create_function(FunctionName=name, Runtime="go1.x", Role=ROLE, Handler="main",
                            Code={"ZipFile": zip_of({"main": "x"})})  # fmt: skip
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("InvalidParameterValueException", expected)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    create_function(lam, name, {"bootstrap": "#!/bin/sh\n"}, runtime="provided.al2023",
                    handler="bootstrap", executable=("bootstrap",))  # fmt: skip
    # The AWS CLI shows the same refusal on update; the function keeps its runtime.
    answer = subprocess.run(
        [sys.executable, "-m", "awscli", "lambda", "update-function-configuration",
         "--function-name", name, "--runtime", "go1.x"],
        env=cli_env(server.endpoint), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert answer.returncode != 0
    assert (
        f"(InvalidParameterValueException) when calling the UpdateFunctionConfiguration operation: {expected}"
        in answer.stderr
    )
    assert lam.get_function_configuration(FunctionName=name)["Runtime"] == "provided.al2023"


# PHP as AWS's custom-runtime articles run it: the function's zip holds a `bootstrap` that
# starts the PHP binary of a layer (/opt/bin/php, its libraries in /opt/lib, which is on
# Lambda's LD_LIBRARY_PATH) on a small Runtime API loop written in PHP.
PHP_BOOTSTRAP = """#!/bin/sh
# The PHP binary comes from the layer; -n: no php.ini (the layer carries none).
cd "$LAMBDA_TASK_ROOT"
exec /opt/bin/php -n runtime.php
"""
PHP_RUNTIME = r"""<?php
$api = 'http://' . getenv('AWS_LAMBDA_RUNTIME_API') . '/2018-06-01/runtime';
function post($url, $body) {
    $context = stream_context_create(['http' => ['method' => 'POST', 'ignore_errors' => true,
        'header' => "Content-Type: application/json\r\n", 'content' => json_encode($body)]]);
    file_get_contents($url, false, $context);
}
[$file, $function] = explode('.', getenv('_HANDLER'), 2);
try {
    require_once getenv('LAMBDA_TASK_ROOT') . "/$file.php";
} catch (Throwable $e) {
    post("$api/init/error", ['errorMessage' => $e->getMessage(), 'errorType' => get_class($e)]);
    exit(1);
}
while (true) {
    $event = file_get_contents("$api/invocation/next");
    $id = '';
    foreach ($http_response_header as $header) {
        if (stripos($header, 'Lambda-Runtime-Aws-Request-Id:') === 0) {
            $id = trim(substr($header, strlen('Lambda-Runtime-Aws-Request-Id:')));
        }
    }
    try {
        $result = $function(json_decode($event, true), $id);
        post("$api/invocation/$id/response", $result);
    } catch (Throwable $e) {
        post("$api/invocation/$id/error", ['errorMessage' => $e->getMessage(),
            'errorType' => get_class($e), 'stackTrace' => explode("\n", $e->getTraceAsString())]);
    }
}
"""
PHP_HANDLER = r"""<?php
function hello($event, $requestId) {
    if (isset($event['fail'])) {
        throw new InvalidArgumentException('the event asked to fail');
    }
    error_log('hello from PHP ' . PHP_VERSION);
    return ['hello' => $event['name'], 'php' => PHP_BINARY, 'version' => PHP_MAJOR_VERSION,
            'requestId' => $requestId];
}
"""
# Debian's libc, libm and the dynamic loader are the system's (Amazon Linux has its own);
# every other library php links is copied into the layer.
SYSTEM_LIBRARIES = ("libc.so", "libm.so", "ld-linux", "linux-vdso")


def _php_layer() -> bytes:
    php = shutil.which("php")
    if php is None:
        pytest.skip("PHP is not installed on this machine (Debian's php-cli)")
    binary = os.path.realpath(php)
    listed = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    files: dict[str, bytes] = {"bin/php": Path(binary).read_bytes()}
    for line in listed.splitlines():
        parts = line.split()
        if "=>" in parts and not parts[0].startswith(SYSTEM_LIBRARIES):
            files[f"lib/{parts[0]}"] = Path(parts[2]).read_bytes()
    return zip_of(files, executable=("bin/php",))


def test_php_on_a_custom_runtime_with_the_binary_from_a_layer(lam, server):
    backend = os.environ.get("SANDLOT_TEST_SANDBOX") or resolve_backend("auto")[0]
    if backend != "linux":
        pytest.skip(f"the {backend} backend shows layers at a host path, not at /opt")
    logs = make_client(server.endpoint, "logs")
    layer = lam.publish_layer_version(
        LayerName=unique("php"), Content={"ZipFile": _php_layer()},
        CompatibleRuntimes=["provided.al2023"],
    )  # fmt: skip
    name = unique("php")
    code = {"bootstrap": PHP_BOOTSTRAP, "runtime.php": PHP_RUNTIME, "index.php": PHP_HANDLER}
    create_function(lam, name, code, runtime="provided.al2023", handler="index.hello",
                    executable=("bootstrap",), Layers=[layer["LayerVersionArn"]])  # fmt: skip
    response, result = invoke(lam, name, {"name": "sandlot"})
    assert "FunctionError" not in response, result
    assert result["hello"] == "sandlot" and result["version"] == 8
    assert result["php"] == "/opt/bin/php"  # the layer's, not the host's /usr/bin/php
    assert result["requestId"] == response["ResponseMetadata"]["RequestId"]
    response, error = invoke(lam, name, {"fail": 1})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "InvalidArgumentException"
    assert error["errorMessage"] == "the event asked to fail"
    assert error["stackTrace"][0].startswith("#0 ")
    # PHP's error_log writes to stderr, which Lambda sends to CloudWatch Logs.
    assert wait_for_log_events(logs, name, '"hello from PHP"')


RUNTIME_VERSION = (
    "arn:aws:lambda:us-east-1::runtime:"
    "0cdcfbdefbc5e7d3343f73c2e2dd3cba17d61dea0686b404502a0c9ce83931b9"
)


def test_runtime_management_config_per_version(lam, server):
    name = unique("rtm")
    created = create_function(lam, name, {"bootstrap": "#!/bin/sh\n"}, runtime="provided.al2023",
                              handler="bootstrap", executable=("bootstrap",))  # fmt: skip
    arn = created["FunctionArn"]
    got = lam.get_runtime_management_config(FunctionName=name)
    assert (got["UpdateRuntimeOn"], got["FunctionArn"]) == ("Auto", arn)
    assert "RuntimeVersionArn" not in got

    put = lam.put_runtime_management_config(
        FunctionName=name, UpdateRuntimeOn="Manual", RuntimeVersionArn=RUNTIME_VERSION
    )
    assert (put["UpdateRuntimeOn"], put["RuntimeVersionArn"]) == ("Manual", RUNTIME_VERSION)
    got = lam.get_runtime_management_config(FunctionName=name, Qualifier="$LATEST")
    assert (got["UpdateRuntimeOn"], got["RuntimeVersionArn"]) == ("Manual", RUNTIME_VERSION)

    # A published version has its own setting; the AWS CLI reads it.
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.put_runtime_management_config(
        FunctionName=name, Qualifier=version, UpdateRuntimeOn="FunctionUpdate"
    )
    done = subprocess.run(
        [sys.executable, "-m", "awscli", "lambda", "get-runtime-management-config",
         "--function-name", name, "--qualifier", version, "--output", "json"],
        env=cli_env(server.endpoint), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "UpdateRuntimeOn": "FunctionUpdate", "FunctionArn": f"{arn}:{version}"
    }  # fmt: skip
    assert lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == "Manual"

    with pytest.raises(ClientError) as caught:  # Manual needs the version to pin
        lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Manual")
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as caught:  # the model's enum
        lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Sometimes")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as caught:
        lam.get_runtime_management_config(FunctionName=name, Qualifier="42")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"

    lam.delete_function(FunctionName=name)  # a function made again starts from Auto
    create_function(lam, name, {"bootstrap": "#!/bin/sh\n"}, runtime="provided.al2023",
                    handler="bootstrap", executable=("bootstrap",))  # fmt: skip
    assert lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == "Auto"


@pytest.mark.timeout(900)  # a machine's first build for the other architecture
def test_a_bootstrap_that_cannot_execute_is_runtime_invalid_entrypoint(
    lam, go_bootstrap_other_arch
):
    """A binary for the other architecture, and a script without ``#!``: execve says
    ENOEXEC, which Lambda reports as Runtime.InvalidEntrypoint."""
    backend = os.environ.get("SANDLOT_TEST_SANDBOX") or resolve_backend("auto")[0]
    cases = {"arch": go_bootstrap_other_arch, "noshebang": "echo hello\n"}
    for label, bootstrap in cases.items():
        name = unique(label)
        create_function(lam, name, {"bootstrap": bootstrap}, runtime="provided.al2023",
                        handler="bootstrap", executable=("bootstrap",))  # fmt: skip
        response, error = invoke(lam, name, {})
        assert response["FunctionError"] == "Unhandled"
        assert error["errorType"] == "Runtime.InvalidEntrypoint", (backend, error)
        assert error["errorMessage"].endswith("/bootstrap: exec format error"), error
    # The server and other functions are unaffected.
    assert lam.get_function_configuration(FunctionName=name)["State"] == "Active"
