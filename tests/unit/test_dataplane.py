"""Recognising data-plane requests (gateway/dataplane.py), and the hosts passing the
dev-mode DNS-rebinding check."""

from __future__ import annotations

import pytest

from sandlot.config import Settings
from sandlot.gateway.dataplane import EXECUTE_API as EX
from sandlot.gateway.dataplane import FUNCTION_URL as URL
from sandlot.gateway.dataplane import match
from sandlot.gateway.origins import BrowserPolicy

CASES = [
    ("abc123.execute-api.localhost.localstack.cloud:4566", "/prod/x", (EX, "abc123", "/prod/x", None)),
    ("abc123.execute-api.localhost:4566", "/", (EX, "abc123", "/", None)),
    ("ABC123.Execute-Api.LOCALHOST", "/p", (EX, "abc123", "/p", None)),
    ("127.0.0.1:4566", "/_aws/execute-api/abc123/prod/a/b", (EX, "abc123", "/prod/a/b", None)),
    ("localhost", "/_aws/execute-api/abc123", (EX, "abc123", "/", None)),
    ("u1.lambda-url.eu-west-1.localhost:4566", "/q", (URL, "u1", "/q", "eu-west-1")),
    ("u1.lambda-url.eu-west-1.localhost.localstack.cloud", "/", (URL, "u1", "/", "eu-west-1")),
    ("127.0.0.1:4566", "/2015-03-31/functions", None),
    ("lambda.localhost:4566", "/2015-03-31/functions", None),
    ("bucket.s3.localhost", "/key", None),
    ("abc.execute-api.example.com", "/", None),
    ("localhost", "/_aws/execute-api/", None),
    (None, "/x", None),
]  # fmt: skip


@pytest.mark.parametrize(("host", "path", "expected"), CASES)
def test_match(host, path, expected):
    found = match(host, path)
    if expected is None:
        assert found is None
    else:
        assert (found.services, found.target, found.path, found.region) == expected


@pytest.mark.parametrize(
    "host",
    [
        "abc123.execute-api.localhost.localstack.cloud:4566",
        "abc123.execute-api.localhost:4566",
        "u1.lambda-url.us-east-1.localhost:4566",
        "u1.lambda-url.us-east-1.localhost.localstack.cloud:4566",
    ],
)
def test_data_plane_hosts_pass_the_rebinding_check(host):
    assert BrowserPolicy(Settings()).host_refusal(host) is None


def test_custom_domains_match_by_host_name():
    from sandlot.protocol.dataplane import CustomDomain

    domains = {"api.example.com": CustomDomain("apigatewayv2", b"pem")}
    found = match("API.Example.com:4567", "/v1/x", domains)
    assert (found.services, found.target, found.path) == (
        ("apigatewayv2",),
        "api.example.com",
        "/v1/x",
    )
    assert found.domain == domains["api.example.com"]
    assert match("api.example.com.", "", domains).path == "/"
    assert match("other.example.com", "/", domains) is None
    assert match("127.0.0.1:4566", "/", domains) is None
    # The local hosts still win their own way; no domains, no lookup.
    assert match("abc.execute-api.localhost", "/", domains).domain is None
    assert match("api.example.com", "/", {}) is None


def test_registry_blob_uploads_are_streamed():
    from sandlot.gateway.dataplane import streamed_upload

    found = match("localhost:4566", "/v2/team/app/blobs/uploads/abc")
    assert found is not None
    for method in ("POST", "PUT", "PATCH"):
        assert streamed_upload(found, method, "/v2/team/app/blobs/uploads/abc")
    assert streamed_upload(found, "POST", "/v2/team/app/blobs/uploads/")
    assert not streamed_upload(found, "GET", "/v2/team/app/blobs/uploads/abc")
    manifest = match("localhost:4566", "/v2/team/app/manifests/v1")
    assert not streamed_upload(manifest, "PUT", "/v2/team/app/manifests/v1")
    api = match("abc123.execute-api.localhost:4566", "/prod/v2/x/blobs/uploads/y")
    assert not streamed_upload(api, "POST", "/prod/v2/x/blobs/uploads/y")


def test_a_lambda_calendar_date_must_be_a_date():
    Settings(lambda_runtime_date="2026-02-03").check()
    with pytest.raises(ValueError, match="not a YYYY-MM-DD date"):
        Settings(lambda_runtime_date="soon").check()
