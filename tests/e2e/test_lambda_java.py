"""Java and Scala functions, built with Maven against aws-lambda-java-core/-events, run on
AWS's Java Runtime Interface Client; missing JDKs and .NET answer AWS's Runtime.* errors.

The Maven project is tests/e2e/java/ (Java handlers and the source documents' Scala
handler); it is built once per run with a local repository in pytest's cache dir, so
nothing depends on ~/.m2.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from sandlot.execution.runtimes import java
from tests.e2e.conftest import make_client
from tests.e2e.functions import ROLE, unique, wait_active, wait_for_log_events
from tests.e2e.server import SandlotServer

PROJECT = Path(__file__).parent / "java"
# The functions run on the JDK that builds them (.ci/run installs openjdk-17-jdk-headless).
_JDK = java.probe(shutil.which("java") or "/nonexistent")
MAJOR = _JDK.major if _JDK else 17
RUNTIME = f"java{MAJOR}"
OTHER = 21 if MAJOR != 21 else 17  # a runtime the JDK on PATH must not pass for

pytestmark = pytest.mark.skipif(
    shutil.which("mvn") is None or shutil.which("java") is None,
    reason="Maven and a JDK are needed to build the Java functions",
)


WRAPPER = """#!/bin/sh
# An AWS_LAMBDA_EXEC_WRAPPER: changes the JVM's options, then runs the runtime's command.
export JAVA_TOOL_OPTIONS="-Dsandlot.marker=wrapped"
exec "$@"
"""


@pytest.fixture(scope="module")
def built(request, tmp_path_factory) -> Path:
    """The Maven project, built (``mvn package``) in a scratch copy."""
    repository = request.config.cache.mkdir("maven-repository")
    build = tmp_path_factory.mktemp("java-build") / "project"
    shutil.copytree(PROJECT, build, ignore=shutil.ignore_patterns("target"))
    done = subprocess.run(
        ["mvn", "-q", "-B", "package", f"-Dmaven.repo.local={repository}"],
        cwd=build,
        capture_output=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout.decode()[-3000:] + done.stderr.decode()[-3000:]
    return build


@pytest.fixture(scope="module")
def package(built) -> bytes:
    """The deployment package: the classes at the root, the jars in lib/, and a wrapper."""
    build = built
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((build / "target" / "classes").rglob("*.class")):
            archive.write(path, path.relative_to(build / "target" / "classes").as_posix())
        for jar in sorted((build / "target" / "lib").glob("*.jar")):
            archive.write(jar, f"lib/{jar.name}")
        info = zipfile.ZipInfo("wrapper.sh")
        info.external_attr = 0o100755 << 16
        archive.writestr(info, WRAPPER)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # javaOTHER named by the JDK on PATH: it must fail INIT, whatever else is installed.
    wrong = {java.variable(OTHER): shutil.which("java") or "java"}
    with SandlotServer(tmp_path_factory.mktemp("java"), env=wrong) as running:
        yield running


@pytest.fixture(scope="module")
def lam(server):
    # The first Java function fetches the RIC's jars (seconds, once): INIT waits for it.
    return boto3.session.Session().client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=600),
    )


@pytest.fixture(scope="module")
def logs(server):
    return make_client(server.endpoint, "logs")


def deploy(lam, package: bytes, handler: str, runtime: str = RUNTIME, **extra) -> str:
    name = unique("java")
    lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler=handler,
        Code={"ZipFile": package},
        MemorySize=512,
        **extra,
    )
    wait_active(lam, name)
    return name


def invoke(lam, name: str, payload: bytes | dict) -> tuple[dict, object]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    response = lam.invoke(FunctionName=name, Payload=body)
    return response, json.loads(response["Payload"].read() or b"null")


def test_an_api_gateway_event_round_trips_through_the_events_types(lam, package):
    name = deploy(lam, package, "example.ApiHandler")
    event = {
        "resource": "/orders/{id}",
        "path": "/orders/7",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": {"name": "ada"},
        "requestContext": {"stage": "prod", "requestId": "r-1"},
        "body": "{}",
        "isBase64Encoded": False,
    }
    response, result = invoke(lam, name, event)
    assert "FunctionError" not in response, result
    assert result == {
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain"},
        "body": "POST /orders/7 hello ada prod",
    }


def test_a_request_stream_handler_gets_the_raw_bytes(lam, package):
    name = deploy(lam, package, "example.StreamHandler::handleRequest")
    response = lam.invoke(FunctionName=name, Payload=b'"hello stream"')
    assert response["Payload"].read() == b'"HELLO STREAM"'


def test_a_pojo_handler_gets_its_bean(lam, package):
    name = deploy(lam, package, "example.Pojo::order")
    _, result = invoke(lam, name, {"item": "tea", "count": 4})
    assert result == {"item": "tea", "total": 12}


def test_context_logger_and_jvm_options(lam, logs, package):
    name = deploy(
        lam,
        package,
        "example.Pojo::context",
        Environment={"Variables": {"JAVA_TOOL_OPTIONS": "-Dsandlot.marker=set"}},
    )
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"marker": "m-42"}).encode())
    result = json.loads(response["Payload"].read())
    request_id = response["ResponseMetadata"]["RequestId"]
    assert result["requestId"] == request_id
    assert result["functionName"] == name
    assert result["functionVersion"] == "$LATEST"
    assert result["memoryLimit"] == 512
    assert 0 < result["remainingMs"] <= 3000
    assert result["logGroup"] == f"/aws/lambda/{name}"
    assert result["arn"].endswith(f":function:{name}")
    assert result["javaVersion"] == str(MAJOR)
    assert result["property"] == "set"  # the JVM read JAVA_TOOL_OPTIONS
    assert wait_for_log_events(logs, name, '"logger line m-42"')
    assert wait_for_log_events(logs, name, '"stdout line m-42"')


def test_the_jar_maven_builds_deploys_as_it_is(lam, built):
    # A jar is a zip: Lambda takes it as the deployment package (aws-lambda-java-core
    # comes with the runtime, so this thin jar needs nothing else).
    jar = built / "target" / "sandlot-java-e2e-1.0.jar"
    name = deploy(lam, jar.read_bytes(), "example.Pojo::order")
    _, result = invoke(lam, name, {"item": "jar", "count": 2})
    assert result == {"item": "jar", "total": 6}


def test_an_exec_wrapper_starts_the_jvm(lam, package):
    name = deploy(lam, package, "example.Pojo::context")
    _, result = invoke(lam, name, {"marker": "w"})
    assert result.get("property") is None  # (the runtime leaves nulls out)
    # /var/task in Lambda and the linux sandbox; the code's host path on the process one.
    wrapper = f"{result['taskRoot']}/wrapper.sh"
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": wrapper}}
    )
    wait_active(lam, name)
    _, result = invoke(lam, name, {"marker": "w"})
    assert result["property"] == "wrapped"
    assert result["toolOptions"] == "-Dsandlot.marker=wrapped"


def test_json_log_format_writes_the_loggers_lines_as_json(lam, logs, package):
    name = deploy(lam, package, "example.Pojo::context", LoggingConfig={"LogFormat": "JSON"})
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"marker": "j-7"}).encode())
    request_id = response["ResponseMetadata"]["RequestId"]
    events = wait_for_log_events(logs, name, '"warning line j-7"')
    assert events
    record = json.loads(events[0]["message"])
    assert record["message"] == "warning line j-7"
    assert record["AWSRequestId"] == request_id
    assert record["level"] == "WARN"


def test_an_exception_answers_the_java_runtimes_error_shape(lam, package):
    name = deploy(lam, package, "example.Pojo::fail")
    response, result = invoke(lam, name, {"id": 7})
    assert response["FunctionError"] == "Unhandled"
    assert result["errorType"] == "java.lang.IllegalStateException"
    assert result["errorMessage"] == "order 7 is invalid"
    assert any(line.startswith("example.Pojo.fail(Pojo.java:") for line in result["stackTrace"])


def test_a_missing_handler_class_is_a_class_not_found_error(lam, package):
    name = deploy(lam, package, "example.Missing::handleRequest")
    response, result = invoke(lam, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert result["errorType"] == "java.lang.ClassNotFoundException"
    assert result["errorMessage"] == "Class not found: example.Missing"


def test_a_handler_method_with_a_wrong_signature_is_refused(lam, package):
    name = deploy(lam, package, "example.Pojo::wrong")
    response, result = invoke(lam, name, {})
    assert response["FunctionError"] == "Unhandled"
    # AWS's runtime reports this user fault with a message and no errorType.
    assert result == {
        "errorMessage": "No public method named wrong with appropriate method signature "
        "found on class example.Pojo"
    }


def test_the_source_documents_scala_handler(lam, logs, package):
    name = deploy(lam, package, "example.ScalaHandler")
    response, result = invoke(lam, name, {"name": "Scala"})
    assert "FunctionError" not in response, result
    assert result == "Hello from Scala, Scala"
    assert wait_for_log_events(logs, name, '"scala got Scala"')


def test_a_java_version_not_on_this_host_fails_init_saying_how_to_provide_it(lam, package):
    name = deploy(lam, package, "example.Pojo::order", runtime=f"java{OTHER}")
    response, result = invoke(lam, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert result["errorType"] == "Runtime.InvalidRuntime"
    assert f"{java.variable(OTHER)}=" in result["errorMessage"]
    assert f"not Java {OTHER}" in result["errorMessage"]


def test_dotnet_is_accepted_and_refused_at_invoke_in_aws_shape(lam):
    name = unique("dotnet")
    lam.create_function(
        FunctionName=name,
        Runtime="dotnet8",
        Role=ROLE,
        Handler="App::App.Function::Handler",
        Code={"ZipFile": _empty_zip()},
    )
    wait_active(lam, name)
    response, result = invoke(lam, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert result["errorType"] == "Runtime.InvalidRuntime"
    assert "dotnet8" in result["errorMessage"]


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("App.dll", b"")
    return buffer.getvalue()


# Class-data sharing (execution/runtimes/java_cds.py): CdsProbe answers its JVM's flags and
# where the RIC's main class came from, as -Xlog:class+load writes it.
CLASS_LOG = {"Variables": {"JAVA_TOOL_OPTIONS": "-Xlog:class+load=info:file=/tmp/classes.log"}}


def cds_probe(lam, package) -> tuple[list[str], str]:
    """A cold start of a new function: its JVM's archive flags and the RIC's class source
    (the function's own class never comes from the archive: sandlot dumps without it)."""
    name = deploy(lam, package, "example.CdsProbe::handle", Environment=CLASS_LOG)
    response, result = invoke(lam, name, {})
    assert "FunctionError" not in response, result
    lam.delete_function(FunctionName=name)
    flags = [arg for arg in result["arguments"] if arg.startswith("-XX:SharedArchiveFile=")]
    assert result["ownSource"] and "shared objects file" not in result["ownSource"], result
    if flags:  # (nearly) all of the RIC's classes came from the archive: it was linked whole
        assert result["ricClassesFromJars"] < 20, result
    else:
        assert result["ricClassesFromJars"] > 200, result
    return flags, result["ricSource"]


def cold_start_with_archive(lam, package, timeout: float = 240) -> tuple[list[str], str]:
    """Cold starts until one maps the archive: the first Java environment of a server
    starts its build in the background (each probe is a cold start: no sleep needed)."""
    deadline = time.monotonic() + timeout
    while True:
        flags, source = cds_probe(lam, package)
        if flags:
            return flags, source
        assert time.monotonic() < deadline, "the CDS archive was not built"


def test_a_cold_start_maps_the_rics_class_data_sharing_archive(lam, package):
    flags, source = cold_start_with_archive(lam, package)
    assert source == "shared objects file (top)"  # the RIC's classes came from the archive
    archive = java.ric() / "cds" / flags[0].rsplit("/", 1)[1]
    assert archive.stat().st_mode & 0o077 == 0  # owner-only


def test_a_corrupted_archive_is_not_used_and_is_built_again(lam, logs, package):
    flags, _ = cold_start_with_archive(lam, package)
    archive = java.ric() / "cds" / flags[0].rsplit("/", 1)[1]
    size = archive.stat().st_size
    with open(archive, "r+b") as f:  # same size, a run of bytes in the middle changed
        f.seek(size // 2)
        f.write(b"\0" * 4096)
    flags, source = cds_probe(lam, package)
    assert flags == [] and source != "shared objects file (top)"  # works without it
    # That start found the seal broken and started a new dump, replacing the archive.
    flags, source = cold_start_with_archive(lam, package)
    assert source == "shared objects file (top)"
    # The dump ran in sandlot's own environment in this server: nothing of it in the account.
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/sandlot-java-cds")
    assert groups["logGroups"] == []
    assert "sandlot-java-cds" not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]


def test_sandlot_java_cds_0_turns_it_off(package, tmp_path):
    with SandlotServer(tmp_path, env={"SANDLOT_JAVA_CDS": "0"}) as off:
        client = make_client(off.endpoint, "lambda")
        flags, source = cds_probe(client, package)
    assert flags == [] and source != "shared objects file (top)"
