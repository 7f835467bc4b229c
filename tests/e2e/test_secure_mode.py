"""Secure mode: generated root keys, every request signed by a known key."""

from __future__ import annotations

import http.client
import json
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.forms import post_form, s3_error
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


def test_web_identity_needs_no_signature(secure):
    """AWS serves AssumeRoleWithWebIdentity unsigned (the token is the credential): it
    reaches STS, which judges the token, and grants nothing else."""
    request = urllib.request.Request(
        secure.endpoint + "/",
        data=urllib.parse.urlencode(
            {
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": "arn:aws:iam::000000000000:role/deploy",
                "RoleSessionName": "ci",
                "WebIdentityToken": "not-a-token",
            }
        ).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 400
    assert b"<Code>InvalidIdentityToken</Code>" in error.value.read()


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


def test_s3_presigned_urls_are_checked(secure):
    keys = _root_keys(secure)
    s3 = make_client(
        secure.endpoint, "s3", keys["aws_access_key_id"], keys["aws_secret_access_key"]
    )
    s3.create_bucket(Bucket="secure-presigned")
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "secure-presigned", "Key": "k"}, ExpiresIn=60
    )
    # http.client, not urllib: urllib adds a Content-Type the URL did not sign.
    parts = urllib.parse.urlsplit(put_url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    connection.request("PUT", f"{parts.path}?{parts.query}", body=b"signed upload")
    assert connection.getresponse().status == 200
    connection.close()
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "secure-presigned", "Key": "k"}, ExpiresIn=60
    )
    with urllib.request.urlopen(get_url, timeout=10) as response:
        assert response.read() == b"signed upload"

    def refused(url: str) -> tuple[int, bytes]:
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(url, timeout=10)
        return error.value.code, error.value.read()

    # Another key in the URL, a changed signature, an unsigned URL: all refused.
    # botocore presigns S3 URLs in the HMAC-SHA1 query form (Signature=, Expires=).
    assert "Signature=" in get_url and "Expires=" in get_url
    tampered = get_url.replace("Signature=", "Signature=A")
    assert refused(tampered)[0] == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in refused(tampered)[1]
    assert refused(get_url.replace("/k?", "/other?"))[0] == 403
    assert b"<Code>AccessDenied</Code>" in refused(f"{secure.endpoint}/secure-presigned/k")[1]
    expired = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "secure-presigned", "Key": "k"}, ExpiresIn=1
    )
    time.sleep(2.1)
    status, body = refused(expired)
    assert status == 403 and b"<Code>AccessDenied</Code>" in body


def test_s3_form_uploads_need_a_known_key(secure):
    """POST Object in secure mode: the root's keys sign a form that uploads; an
    unsigned form or one signed with an unknown key is refused."""
    keys = _root_keys(secure)
    s3 = make_client(
        secure.endpoint, "s3", keys["aws_access_key_id"], keys["aws_secret_access_key"]
    )
    bucket = "secure-forms"
    s3.create_bucket(Bucket=bucket)
    presigned = s3.generate_presigned_post(bucket, "signed.txt")
    assert post_form(presigned["url"], presigned["fields"], b"signed")[0] == 204
    assert s3.get_object(Bucket=bucket, Key="signed.txt")["Body"].read() == b"signed"
    status, _, body = post_form(presigned["url"], {"key": "anonymous.txt"}, b"x")
    assert (status, s3_error(body)[0]) == (403, "AccessDenied")
    stranger = make_client(secure.endpoint, "s3", "AKIAUNKNOWNUNKNOWN00", "secret")
    presigned = stranger.generate_presigned_post(bucket, "stranger.txt")
    status, _, body = post_form(presigned["url"], presigned["fields"], b"x")
    assert (status, s3_error(body)[0]) == (403, "InvalidAccessKeyId")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["signed.txt"]
