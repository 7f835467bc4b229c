"""S3 static website hosting end to end: Put/Get/DeleteBucketWebsite, and the website
endpoint (``<bucket>.s3-website.localhost:<port>``) driven with raw HTTP, as a browser
or curl reaches it: index and error documents, S3's HTML error pages, redirects."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import aws, error_of, make_client


def _get(server, bucket: str, path: str, method: str = "GET", host_form: str = "{b}.s3-website"):
    """One raw HTTP request to the website endpoint (the Host header names the bucket)."""
    port = urlsplit(server.endpoint).port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    host = host_form.format(b=bucket) + f".localhost:{port}"
    connection.request(method, path, headers={"Host": host})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


@pytest.fixture
def site(client):
    """A public website bucket: index.html, error.html, docs/index.html, a private key."""
    s3 = client("s3")
    name = f"site-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    s3.delete_public_access_block(Bucket=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{name}/*"},
                      {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{name}/private/*"}],
    }  # fmt: skip
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    for key, body in (("index.html", b"<h1>home</h1>"), ("error.html", b"<h1>oops</h1>"),
                      ("docs/index.html", b"<h1>docs</h1>"), ("private/x", b"secret")):  # fmt: skip
        s3.put_object(Bucket=name, Key=key, Body=body, ContentType="text/html")
    s3.put_bucket_website(
        Bucket=name,
        WebsiteConfiguration={
            "IndexDocument": {"Suffix": "index.html"},
            "ErrorDocument": {"Key": "error.html"},
            "RoutingRules": [
                {"Condition": {"KeyPrefixEquals": "old/"},
                 "Redirect": {"ReplaceKeyPrefixWith": "docs/"}},
            ],
        },
    )  # fmt: skip
    return s3, name


def test_configuration_round_trip_and_validation(client, bucket):
    s3 = client("s3")
    error = error_of(s3.get_bucket_website, Bucket=bucket)
    assert (error["Code"], error["HTTPStatusCode"]) == ("NoSuchWebsiteConfiguration", 404)
    error = error_of(
        s3.put_bucket_website,
        Bucket=bucket,
        WebsiteConfiguration={"IndexDocument": {"Suffix": "a/index.html"}},
    )
    assert error["Code"] == "InvalidArgument"
    error = error_of(
        s3.put_bucket_website,
        Bucket=bucket,
        WebsiteConfiguration={"ErrorDocument": {"Key": "e.html"}},
    )
    assert error["Message"] == (
        "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty"
    )
    s3.put_bucket_website(
        Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}
    )
    assert s3.get_bucket_website(Bucket=bucket)["IndexDocument"] == {"Suffix": "index.html"}
    s3.delete_bucket_website(Bucket=bucket)
    assert error_of(s3.get_bucket_website, Bucket=bucket)["Code"] == "NoSuchWebsiteConfiguration"


def test_index_error_documents_and_redirects(server, site):
    _s3, name = site
    status, headers, body = _get(server, name, "/")
    assert (status, body) == (200, b"<h1>home</h1>")
    assert headers["content-type"] == "text/html"
    assert _get(server, name, "/docs/")[2] == b"<h1>docs</h1>"
    # A "folder" without its slash is redirected to it.
    status, headers, _ = _get(server, name, "/docs")
    assert (status, headers["location"]) == (302, "/docs/")
    # A missing key: the error document, with the error's status.
    status, _, body = _get(server, name, "/nope.html")
    assert (status, body) == (404, b"<h1>oops</h1>")
    # A routing rule on the key prefix.
    status, headers, _ = _get(server, name, "/old/page.html")
    assert status == 301
    assert headers["location"].endswith(
        f"{name}.s3-website.localhost:{urlsplit(server.endpoint).port}/docs/page.html"
    )
    # HEAD answers the headers only; other methods are 405.
    status, headers, body = _get(server, name, "/", method="HEAD")
    assert status == 200 and body == b""
    assert _get(server, name, "/", method="POST")[0] == 405
    # The regional form of the endpoint serves the same site.
    assert _get(server, name, "/", host_form="{b}.s3-website-us-east-1")[2] == b"<h1>home</h1>"


def test_html_error_pages(server, client, site):
    s3, name = site
    s3.put_bucket_website(
        Bucket=name, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}
    )
    status, headers, body = _get(server, name, "/missing")
    assert status == 404
    assert headers["content-type"].startswith("text/html")
    page = body.decode()
    assert "<title>404 Not Found</title>" in page
    assert "<li>Code: NoSuchKey</li>" in page and "<li>Key: missing</li>" in page
    # Not readable by anyone: 403, S3's AccessDenied page.
    status, _, body = _get(server, name, "/private/x")
    assert status == 403 and "<li>Code: AccessDenied</li>" in body.decode()
    # A bucket that is no website, and no bucket at all.
    plain = f"plain-{uuid.uuid4().hex[:8]}"
    client("s3").create_bucket(Bucket=plain)
    status, _, body = _get(server, plain, "/")
    assert status == 404 and "<li>Code: NoSuchWebsiteConfiguration</li>" in body.decode()
    status, _, body = _get(server, f"none-{uuid.uuid4().hex[:8]}", "/")
    assert status == 404 and "<li>Code: NoSuchBucket</li>" in body.decode()


def test_private_bucket_is_not_served(server, client, bucket):
    """Without a public policy (the default), a website answers 403 for everything."""
    s3 = client("s3")
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"hi")
    s3.put_bucket_website(
        Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}
    )
    assert _get(server, bucket, "/")[0] == 403


def test_redirect_all_requests(server, client, bucket):
    aws(
        server.endpoint, "s3api", "put-bucket-website", "--bucket", bucket,
        "--website-configuration",
        json.dumps({"RedirectAllRequestsTo": {"HostName": "example.com", "Protocol": "https"}}),
    )  # fmt: skip
    got = aws(server.endpoint, "s3api", "get-bucket-website", "--bucket", bucket)
    assert got["RedirectAllRequestsTo"]["HostName"] == "example.com"
    status, headers, _ = _get(server, bucket, "/a/b.html")
    assert (status, headers["location"]) == (301, "https://example.com/a/b.html")


def test_cloudformation_website_bucket(server, client):
    """AWS::S3::Bucket WebsiteConfiguration, made public by the template, then served."""
    cfn = make_client(server.endpoint, "cloudformation")
    stack = f"web-{uuid.uuid4().hex[:8]}"
    template = {
        "Resources": {
            "Site": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "WebsiteConfiguration": {
                        "IndexDocument": "index.html",
                        "RoutingRules": [
                            {"RoutingRuleCondition": {"KeyPrefixEquals": "a/"},
                             "RedirectRule": {"ReplaceKeyWith": "index.html"}}
                        ],
                    },
                    "PublicAccessBlockConfiguration": {"BlockPublicPolicy": False,
                                                       "RestrictPublicBuckets": False},
                },
            },
            "Policy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "Site"},
                    "PolicyDocument": {"Statement": [{
                        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": {"Fn::Sub": "${Site.Arn}/*"}}]},
                },
            },
        },
        "Outputs": {"Name": {"Value": {"Ref": "Site"}}},
    }  # fmt: skip
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        if not described["StackStatus"].endswith("_IN_PROGRESS"):
            break
        time.sleep(0.2)
    assert described["StackStatus"] == "CREATE_COMPLETE"
    name = described["Outputs"][0]["OutputValue"]
    client("s3").put_object(Bucket=name, Key="index.html", Body=b"cfn site")
    assert _get(server, name, "/")[2] == b"cfn site"
    assert _get(server, name, "/a/x")[0] == 301
    cfn.delete_stack(StackName=stack)
