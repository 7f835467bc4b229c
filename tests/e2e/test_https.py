"""HTTPS: the local CA sandlot creates at first start, the second listener it serves the
same gateway on, and ``aws:SecureTransport`` (true over HTTPS, false over HTTP)."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, SSLError
from cryptography import x509

from tests.e2e.conftest import cli_env
from tests.e2e.server import SandlotServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("sandlot-data")) as running:
        yield running


def https_client(server, service: str, **kw):
    return boto3.session.Session().client(
        service,
        endpoint_url=server.https_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        verify=server.ca_path,
        config=Config(retries={"max_attempts": 1}),
        **kw,
    )


def http_client(server, service: str):
    return boto3.session.Session().client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def test_banner_ca_and_sandlot_ca_command(server) -> None:
    ca = Path(server.ca_path)
    assert ca.parent == server.data_dir / "tls"
    assert (ca.parent / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(ca.read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    printed = subprocess.run(
        [sys.executable, "-m", "sandlot.cli.main", "ca", "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    assert printed == str(ca)
    https_port = urlsplit(server.https_endpoint).port
    assert urlsplit(server.https_endpoint).scheme == "https"
    assert https_port and https_port != urlsplit(server.endpoint).port


def test_boto3_over_https_with_the_ca(server) -> None:
    identity = https_client(server, "sts").get_caller_identity()
    assert identity["Account"] == "000000000000"
    s3 = https_client(server, "s3")
    s3.create_bucket(Bucket="over-tls")
    s3.put_object(Bucket="over-tls", Key="k", Body=b"secret" * 1000)
    assert s3.get_object(Bucket="over-tls", Key="k")["Body"].read() == b"secret" * 1000
    # The same state behind both listeners: one gateway.
    assert http_client(server, "s3").head_object(Bucket="over-tls", Key="k")["ContentLength"]


def test_server_certificate_names(server) -> None:
    """Python's (OpenSSL's) hostname check accepts the names local tools use."""
    port = urlsplit(server.https_endpoint).port
    context = ssl.create_default_context(cafile=server.ca_path)
    for name in (
        "localhost",
        "127.0.0.1",
        "abc123.execute-api.localhost",
        "abc123.execute-api.localhost.localstack.cloud",
        "x1y2.lambda-url.eu-west-1.localhost",
        "bucket.s3.localhost.localstack.cloud",
    ):
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3"), name


def test_https_without_the_ca_is_refused_by_the_client(server) -> None:
    client = boto3.session.Session().client(
        "sts",
        endpoint_url=server.https_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )
    env = os.environ.pop("AWS_CA_BUNDLE", None)
    try:
        with pytest.raises(SSLError):
            client.get_caller_identity()
    finally:
        if env is not None:
            os.environ["AWS_CA_BUNDLE"] = env


def test_secure_transport_in_a_bucket_policy(server) -> None:
    """A Deny on aws:SecureTransport false: allowed over HTTPS, denied over HTTP (as
    SAM's managed bucket and AWS's own guidance write it)."""
    s3 = https_client(server, "s3")
    s3.create_bucket(Bucket="tls-only")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::tls-only", "arn:aws:s3:::tls-only/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    s3.put_bucket_policy(Bucket="tls-only", Policy=json.dumps(policy))
    s3.put_object(Bucket="tls-only", Key="a", Body=b"over tls")
    assert s3.get_object(Bucket="tls-only", Key="a")["Body"].read() == b"over tls"
    plain = http_client(server, "s3")
    with pytest.raises(ClientError) as denied:
        plain.get_object(Bucket="tls-only", Key="a")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as denied:
        plain.put_object(Bucket="tls-only", Key="b", Body=b"plain")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    # A local client cannot claim TLS (or another address) with forwarding headers:
    # sandlot is no proxy's backend and reads none.
    forged = http_client(server, "s3")

    def forward(request, **_) -> None:
        request.headers["X-Forwarded-Proto"] = "https"
        request.headers["X-Forwarded-For"] = "203.0.113.7"

    forged.meta.events.register("before-sign.s3.*", forward)
    with pytest.raises(ClientError) as denied:
        forged.get_object(Bucket="tls-only", Key="a")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    s3.delete_bucket_policy(Bucket="tls-only")
    assert plain.get_object(Bucket="tls-only", Key="a")["Body"].read() == b"over tls"


def test_aws_cli_over_https_with_aws_ca_bundle(server, tmp_path) -> None:
    """The AWS CLI with AWS_ENDPOINT_URL on HTTPS and AWS_CA_BUNDLE: an upload a
    TLS-only bucket policy admits."""
    https_client(server, "s3").create_bucket(Bucket="cli-tls")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::cli-tls", "arn:aws:s3:::cli-tls/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}  # fmt: skip
    https_client(server, "s3").put_bucket_policy(Bucket="cli-tls", Policy=json.dumps(policy))
    source = tmp_path / "f.txt"
    source.write_text("via the cli")
    env = cli_env(server.https_endpoint)
    env["AWS_CA_BUNDLE"] = server.ca_path
    done = subprocess.run(
        [sys.executable, "-m", "awscli", "s3", "cp", str(source), "s3://cli-tls/f.txt"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plain = subprocess.run(
        [sys.executable, "-m", "awscli", "s3", "cp", str(source), "s3://cli-tls/g.txt"],
        env=cli_env(server.endpoint), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert plain.returncode != 0 and "AccessDenied" in plain.stderr
    body = https_client(server, "s3").get_object(Bucket="cli-tls", Key="f.txt")["Body"]
    assert body.read() == b"via the cli"


def test_https_port_flag_and_no_https(server) -> None:
    taken = urlsplit(server.https_endpoint).port
    busy = subprocess.run(
        [sys.executable, "-m", "sandlot.cli.main", "up", "--ephemeral", "--port", "0",
         "--https-port", str(taken)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert busy.returncode == 1
    assert busy.stderr == (
        f"sandlot: cannot listen on 127.0.0.1:{taken}: Address already in use (another "
        "server is using it: stop it or choose another --https-port)\n"
    )
    with SandlotServer(None, "--no-https", lambda_role=False) as plain:
        assert plain.https_endpoint == "" and plain.ca_path == ""
        assert not any("https" in line for line in plain.output)
