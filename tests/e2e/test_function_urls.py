"""Lambda function URLs: configuration with boto3 and the AWS CLI, and real HTTP
requests to ``<urlId>.lambda-url.<region>.localhost:<port>`` reaching a Python function
that echoes its payload 2.0 event (AuthType NONE and AWS_IAM, CORS, AWS's errors)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import aws, error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import send, signed_headers

ACCOUNT = "000000000000"
ECHO = """
import json

def handler(event, context):
    path = event["rawPath"]
    if path == "/inferred":
        return {"hello": "world"}
    if path == "/text":
        return "plain words"
    if path == "/garbage":
        return {"statusCode": "not a status"}
    if path == "/fail":
        raise RuntimeError("boom")
    if path == "/inject":
        return {"statusCode": 200, "body": "x", "headers": {
            "x-evil": "a\\r\\nSet-Cookie: pwn=1", "bad name": "x", "x-uni": "caf\\u00e9\\u20ac",
            "content-length": "999"}}
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-echo": "yes"},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": json.dumps(event),
    }
"""


@pytest.fixture(scope="module")
def echo(server):
    lam = make_client(server.endpoint, "lambda")
    name = unique("url-echo")
    create_function(lam, name, {"app.py": ECHO})
    return name


def _public(lam, name: str, **extra) -> str:
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", **extra)
    lam.add_permission(
        FunctionName=name,
        StatementId="public-url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    return url["FunctionUrl"]


def test_configuration_lifecycle_with_boto3_and_the_cli(server, client, echo):
    lam = client("lambda")
    assert error_of(lam.get_function_url_config, FunctionName=echo)["Code"] == (
        "ResourceNotFoundException"
    )
    created = lam.create_function_url_config(
        FunctionName=echo, AuthType="AWS_IAM", Cors={"AllowOrigins": ["https://app.example"]}
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    url = urlsplit(created["FunctionUrl"])
    assert url.hostname.endswith(".lambda-url.us-east-1.localhost")
    assert url.port == urlsplit(server.endpoint).port
    assert len(url.hostname.split(".")[0]) == 32
    assert created["FunctionArn"].endswith(f":function:{echo}")
    assert created["InvokeMode"] == "BUFFERED"
    conflict = error_of(lam.create_function_url_config, FunctionName=echo, AuthType="NONE")
    assert (conflict["Code"], conflict["HTTPStatusCode"]) == ("ResourceConflictException", 409)
    got = aws(server.endpoint, "lambda", "get-function-url-config", "--function-name", echo)
    assert got["FunctionUrl"] == created["FunctionUrl"]
    assert got["Cors"] == {"AllowOrigins": ["https://app.example"]}
    updated = lam.update_function_url_config(FunctionName=echo, AuthType="NONE")
    assert updated["AuthType"] == "NONE"
    listed = lam.list_function_url_configs(FunctionName=echo)["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [created["FunctionUrl"]]
    assert any("function URL of" in line and created["FunctionUrl"] in line
               for line in server.output)  # fmt: skip
    lam.delete_function_url_config(FunctionName=echo)
    assert lam.list_function_url_configs(FunctionName=echo)["FunctionUrlConfigs"] == []
    version = error_of(
        lam.create_function_url_config, FunctionName=echo, Qualifier="1", AuthType="NONE"
    )
    assert version["Code"] in ("ValidationException", "ResourceNotFoundException")


def test_public_url_gets_the_exact_v2_event_and_maps_the_answer(server, client):
    lam = client("lambda")
    name = unique("url-pub")
    create_function(lam, name, {"app.py": ECHO})
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    host = urlsplit(url).netloc
    # No resource policy allowing the public: AWS's 403.
    denied = send(server.endpoint, "GET", url + "echo")
    assert (denied.status, denied.json()) == (403, {"Message": "Forbidden"})
    lam.add_permission(
        FunctionName=name,
        StatementId="public-url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    answer = send(
        server.endpoint,
        "POST",
        url + "some/path?b=2&a=1&a=3&empty=",
        b'{"x": 1}',
        [
            ("Content-Type", "application/json"),
            ("X-Multi", "one"),
            ("x-multi", "two"),
            ("Cookie", "c1=v1; c2=v2"),
            ("User-Agent", "e2e-agent"),
        ],
    )
    assert answer.status == 201, answer.body
    assert answer.header("x-echo") == "yes"
    assert answer.all("set-cookie") == ["a=1; Path=/", "b=2"]
    assert answer.header("x-amzn-requestid")
    event = answer.json()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/some/path"
    assert event["rawQueryString"] == "b=2&a=1&a=3&empty="
    assert event["queryStringParameters"] == {"b": "2", "a": "1,3", "empty": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["host"] == host
    assert "cookie" not in event["headers"]
    assert all(k == k.lower() for k in event["headers"])
    assert event["body"] == '{"x": 1}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["accountId"] == ACCOUNT
    assert context["apiId"] == host.split(".")[0]
    assert context["domainPrefix"] == host.split(".")[0]
    assert context["http"] == {
        "method": "POST",
        "path": "/some/path",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "e2e-agent",
    }
    assert context["stage"] == "$default" and context["routeKey"] == "$default"
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60
    assert context["requestId"] == answer.header("x-amzn-requestid")
    assert "pathParameters" not in event and "stageVariables" not in event
    # A binary body travels base64-encoded.
    binary = send(
        server.endpoint, "PUT", url, bytes(range(256)), {"Content-Type": "application/octet-stream"}
    ).json()
    assert binary["isBase64Encoded"] is True
    # Answers without statusCode are inferred; a malformed one or an error is a 502.
    inferred = send(server.endpoint, "GET", url + "inferred")
    assert (inferred.status, inferred.json()) == (200, {"hello": "world"})
    assert inferred.header("content-type") == "application/json"
    assert send(server.endpoint, "GET", url + "text").body == b"plain words"
    for path in ("garbage", "fail"):
        failed = send(server.endpoint, "GET", url + path)
        assert (failed.status, failed.json()) == (502, {"Message": "Internal Server Error"})
    # Headers from the function cannot split the response or lie about its length.
    injected = send(server.endpoint, "GET", url + "inject")
    assert (injected.status, injected.body) == (200, b"x")
    assert injected.all("set-cookie") == [] and injected.header("bad name") is None
    assert injected.header("x-evil") == "a Set-Cookie: pwn=1"
    assert injected.header("content-length") == "1"


def test_the_localstack_cloud_name_and_an_unknown_url(server, client):
    lam = client("lambda")
    name = unique("url-ls")
    create_function(lam, name, {"app.py": ECHO})
    url = _public(lam, name)
    parts = urlsplit(url)
    other = f"http://{parts.hostname}.localstack.cloud:{parts.port}/x"
    assert send(server.endpoint, "GET", other).json()["rawPath"] == "/x"
    port = parts.port
    unknown = send(
        server.endpoint, "GET", f"http://{'a' * 32}.lambda-url.us-east-1.localhost:{port}/"
    )
    assert unknown.status == 404


def test_aws_iam_url_needs_a_signature_iam_allows(server, client):
    lam, iam = client("lambda"), client("iam")
    name = unique("url-iam")
    create_function(lam, name, {"app.py": ECHO})
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    assert send(server.endpoint, "GET", url).status == 403  # unsigned
    user = unique("caller")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    target = url + "signed?q=1"

    def signed(secret: str = key["SecretAccessKey"]):
        headers = signed_headers("GET", target, b"", key["AccessKeyId"], secret, "lambda")
        return send(server.endpoint, "GET", target, b"", headers)

    denied = signed()
    assert (denied.status, denied.json()) == (403, {"Message": "Forbidden"})
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    iam.put_user_policy(
        UserName=user,
        PolicyName="urls",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "lambda:InvokeFunctionUrl",
                        "Resource": arn,
                        "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
                    }
                ],
            }
        ),
    )
    allowed = signed()
    assert allowed.status == 201, allowed.body
    event = allowed.json()
    assert event["rawQueryString"] == "q=1"
    iam_context = event["requestContext"]["authorizer"]["iam"]
    assert iam_context["userArn"] == f"arn:aws:iam::{ACCOUNT}:user/{user}"
    assert iam_context["accessKey"] == key["AccessKeyId"]
    assert signed("wrong-secret").status == 403
    # Dev mode's any-key-goes root is not for web pages: a page's forged signature
    # with a key sandlot never issued is refused.
    forged = signed_headers("GET", target, b"", "AKIAFORGED0000000000", "x", "lambda")
    from_page = send(
        server.endpoint, "GET", target, b"", {**forged, "Origin": "https://evil.example"}
    )
    assert from_page.status == 403
    assert send(server.endpoint, "GET", target, b"", forged).status == 201  # dev mode's root


def test_cors_preflight_is_answered_and_responses_carry_cors(server, client):
    lam = client("lambda")
    name = unique("url-cors")
    create_function(lam, name, {"app.py": ECHO})
    url = _public(
        lam,
        name,
        Cors={
            "AllowOrigins": ["https://app.example"],
            "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["content-type"],
            "ExposeHeaders": ["x-echo"],
            "MaxAge": 300,
        },
    )
    preflight = send(
        server.endpoint,
        "OPTIONS",
        url + "echo",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status == 200
    assert preflight.header("access-control-allow-origin") == "https://app.example"
    assert preflight.header("access-control-allow-methods") == "GET,POST"
    assert preflight.header("access-control-max-age") == "300"
    actual = send(server.endpoint, "GET", url + "echo", headers={"Origin": "https://app.example"})
    assert actual.status == 201
    assert actual.header("access-control-allow-origin") == "https://app.example"
    assert actual.header("access-control-expose-headers") == "x-echo"
    stranger = send(
        server.endpoint, "GET", url + "echo", headers={"Origin": "https://evil.example"}
    )
    assert stranger.header("access-control-allow-origin") is None
    # In RESPONSE_STREAM mode a function answering buffered is passed through as it
    # answered (tests/e2e/test_function_url_streaming.py streams for real).
    lam.update_function_url_config(FunctionName=name, InvokeMode="RESPONSE_STREAM")
    streamed = send(server.endpoint, "GET", url + "echo", headers={"Origin": "https://app.example"})
    assert streamed.status == 200 and streamed.json()["statusCode"] == 201
    assert streamed.header("access-control-allow-origin") == "https://app.example"
