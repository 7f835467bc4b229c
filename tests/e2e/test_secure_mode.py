"""Secure mode: generated root keys, every request signed by a known key."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.server import SandlotServer


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("secure-data")
    with SandlotServer(data_dir, "--secure") as running:
        yield running


def _root_keys(server) -> dict:
    return json.loads((server.data_dir / "root-credentials.json").read_text())


def test_root_credentials_file_is_private(secure):
    path = secure.data_dir / "root-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = _root_keys(secure)
    assert keys["aws_access_key_id"].startswith("AKIA")


def test_correctly_signed_request_succeeds(secure):
    keys = _root_keys(secure)
    sts = make_client(
        secure.endpoint, "sts", keys["aws_access_key_id"], keys["aws_secret_access_key"]
    )
    assert sts.get_caller_identity()["Arn"] == "arn:aws:iam::000000000000:root"


def test_unsigned_request_is_refused(secure):
    request = urllib.request.Request(
        secure.endpoint + "/",
        data=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in error.value.read()


def test_wrong_secret_is_refused(secure):
    keys = _root_keys(secure)
    sts = make_client(secure.endpoint, "sts", keys["aws_access_key_id"], "wrong-secret")
    with pytest.raises(ClientError) as error:
        sts.get_caller_identity()
    assert error.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_key_is_refused(secure):
    sts = make_client(secure.endpoint, "sts", "000000000000", "whatever")
    with pytest.raises(ClientError) as error:
        sts.get_caller_identity()
    assert error.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_keys_survive_restart(tmp_path):
    with SandlotServer(tmp_path, "--secure") as first:
        keys = _root_keys(first)
    with SandlotServer(tmp_path, "--secure") as second:
        assert _root_keys(second) == keys
        sts = make_client(
            second.endpoint, "sts", keys["aws_access_key_id"], keys["aws_secret_access_key"]
        )
        assert sts.get_caller_identity()["Account"] == "000000000000"


def test_non_loopback_bind_requires_secure(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandlot.cli.main",
            "up",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--secure" in result.stderr
