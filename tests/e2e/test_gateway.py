"""The gateway's answers to requests it cannot serve, and its own endpoints."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import urllib.error
import urllib.request
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.server import SandlotServer


def _post(endpoint: str, body: bytes, headers: dict, path: str = "/"):
    request = urllib.request.Request(endpoint + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_health(server):
    with urllib.request.urlopen(server.endpoint + "/_sandlot/health", timeout=10) as response:
        body = json.loads(response.read())
    assert response.status == 200
    assert body["status"] == "running" and "sts" in body["services"]
    assert body["uptime_seconds"] >= 0 and body["version"]


def test_known_operation_without_provider_is_501(client):
    with pytest.raises(ClientError) as error:
        client("sns").get_sms_attributes()  # SNS's SMS settings: not served
    response = error.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert response["Error"]["Code"] == "NotImplemented"
    assert "GetSMSAttributes" in response["Error"]["Message"]
    assert "sns" in response["Error"]["Message"]


def test_unknown_query_action_is_invalid_action(server):
    status, _, body = _post(
        server.endpoint,
        b"Action=NoSuchThing&Version=2011-06-15",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 400
    assert b"<Code>InvalidAction</Code>" in body


def test_unknown_json_target_is_unknown_operation(server):
    status, headers, body = _post(
        server.endpoint,
        b"{}",
        {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.Nope"},
    )
    assert status == 400
    assert "UnknownOperationException" in json.loads(body)["__type"]


def test_unknown_service_gets_an_aws_error(server):
    request = AWSRequest(
        method="POST", url=server.endpoint + "/", data=b"{}", headers={"X-Amz-Target": "Nope_1.Do"}
    )
    SigV4Auth(Credentials("test", "test"), "nosuchservice", "us-east-1").add_auth(request)
    status, _, body = _post(server.endpoint, b"{}", dict(request.headers.items()))
    assert status == 400
    assert "UnknownOperationException" in json.loads(body)["__type"]


def test_oversize_body_is_refused_and_server_keeps_serving():
    with SandlotServer(None, env={"SANDLOT_MAX_BODY_BYTES": str(1024 * 1024)}) as small:
        status, _, body = _post(
            small.endpoint,
            b"Action=GetCallerIdentity&x=" + b"a" * (2 * 1024 * 1024),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 413
        assert b"RequestEntityTooLarge" in body
        sts = make_client(small.endpoint, "sts")
        assert sts.get_caller_identity()["Account"] == "000000000000"


def test_clock_skew_over_15_minutes_is_refused(client):
    sts = client("sts")
    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=16)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=skewed),
        # with awscrt installed (sandlot's CRCs) botocore signs with its CRT signers
        mock.patch(
            "botocore.crt.auth.get_current_datetime", return_value=skewed.replace(tzinfo=dt.UTC)
        ),
        pytest.raises(ClientError) as error,
    ):
        sts.get_caller_identity()
    assert error.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert "expired" in error.value.response["Error"]["Message"]


def test_garbage_on_the_wire_does_not_hurt_the_server(server, client):
    host, port = server.endpoint.removeprefix("http://").rsplit(":", 1)
    for payload in (
        b"\x00\xff\x10garbage\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /?Action=GetCallerIdentity HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256"
        b" Credential=\xff/\r\nContent-Length: 0\r\n\r\n",
    ):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(payload)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                sock.recv(65536)
    assert client("sts").get_caller_identity()["Account"] == "000000000000"
