"""Fixtures: a real sandlot server per test session, and clients pointed at it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.server import SandlotServer


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report carries the end of its servers' output (their warnings and
    errors): a failure in CI is then read with what the server said meanwhile."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, SandlotServer) and value.output:
                tail = "".join(value.output[-80:])
                report.sections.append(("sandlot server output (last 80 lines)", tail))


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("sandlot-data")) as running:
        yield running


def make_client(
    endpoint: str,
    service: str,
    key: str = "test",
    secret: str = "test",
    token: str | None = None,
    region: str = "us-east-1",
):
    """A boto3 client for ``service`` at ``endpoint`` with the given credentials."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1}),
    )


def session_client(endpoint: str, service: str, answer: dict):
    """A client using the temporary credentials of an AssumeRole… ``answer``."""
    creds = answer["Credentials"]
    return make_client(
        endpoint,
        service,
        key=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        token=creds["SessionToken"],
    )


def unsigned_client(endpoint: str, service: str, region: str = "us-east-1"):
    """A boto3 client that signs nothing: for operations AWS serves without credentials
    (AssumeRoleWithWebIdentity, AssumeRoleWithSAML)."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
    )


@pytest.fixture
def client(server):
    """``client("sts")``: a boto3 client with dev-mode credentials."""
    return lambda service, **kw: make_client(server.endpoint, service, **kw)


def cli_env(endpoint: str, key: str = "test", secret: str = "test") -> dict:
    """Environment for the AWS CLI: sandlot's endpoint, fixed credentials, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID=key,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_MAX_ATTEMPTS="1",
    )
    return env


def aws(endpoint: str, *args: str, key: str = "test") -> dict:
    """Run the AWS CLI (`awscli` from PyPI) against ``endpoint``; its JSON output."""
    result = subprocess.run(
        [sys.executable, "-m", "awscli", *args, "--output", "json"],
        env=cli_env(endpoint, key=key),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def error_of(call, *args, **kwargs) -> dict:
    """The error ``call`` raises: botocore's ``Error`` and ``ResponseMetadata`` merged."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return {**caught.value.response["Error"], **caught.value.response["ResponseMetadata"]}


def code_and_status(excinfo) -> tuple[str, int]:
    """(error code, HTTP status) of a ``pytest.raises(ClientError)`` result."""
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def bucket(client):
    """A new, empty S3 bucket of the default account."""
    name = f"bkt-{uuid.uuid4().hex[:12]}"
    client("s3").create_bucket(Bucket=name)
    return name
