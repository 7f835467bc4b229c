"""The browser rules of gateway/origins.py: which pages are foreign, which hosts dev mode
answers."""

from __future__ import annotations

import pytest

from sandlot.config import Settings
from sandlot.gateway.origins import BrowserPolicy

ALLOWED = "http://localhost:3000, https://console.example/"


@pytest.fixture
def policy() -> BrowserPolicy:
    return BrowserPolicy(Settings(cors_allowed_origins=ALLOWED))


@pytest.mark.parametrize(
    ("headers", "foreign"),
    [
        ({}, None),  # an SDK: no browser headers at all
        ({"sec-fetch-site": "none"}, None),  # typed into the address bar
        ({"sec-fetch-site": "same-origin"}, None),
        ({"origin": "http://127.0.0.1:4566", "host": "127.0.0.1:4566"}, None),  # own
        ({"origin": "http://LOCALHOST:3000", "host": "127.0.0.1:4566"}, None),  # listed
        ({"origin": "https://console.example", "host": "127.0.0.1:4566"}, None),
        ({"origin": "http://localhost:3001", "host": "127.0.0.1:4566"}, "http://localhost:3001"),
        ({"origin": "null", "host": "127.0.0.1:4566"}, "null"),  # sandboxed frame, file://
        ({"origin": "http://127.0.0.1:4566", "host": "localhost:4566"}, "http://127.0.0.1:4566"),
        ({"sec-fetch-site": "cross-site"}, "a cross-site page"),  # <img>, no Referer
        (
            {"sec-fetch-site": "same-site", "referer": "http://127.0.0.1:8000/a"},
            "http://127.0.0.1:8000",
        ),
        # A listed page's <img> (no Origin) is recognised by its Referer.
        ({"sec-fetch-site": "same-site", "referer": "http://localhost:3000/app"}, None),
    ],
)
def test_foreign_page(policy, headers, foreign):
    assert policy.foreign_page(headers) == foreign


def test_any_origin():
    policy = BrowserPolicy(Settings(cors_allowed_origins="*"))
    assert policy.foreign_page({"origin": "http://evil.example", "host": "x"}) is None


def test_cors_origin_only_for_trusted_pages(policy):
    assert policy.cors_origin({"origin": "http://localhost:3000", "host": "h"}) == (
        "http://localhost:3000"
    )
    assert policy.cors_origin({"origin": "http://evil.example", "host": "h"}) is None
    assert policy.cors_origin({"origin": "null", "host": "h"}) is None
    assert policy.cors_origin({}) is None


@pytest.mark.parametrize(
    "host",
    [
        None,
        "localhost",
        "localhost:4566",
        "LOCALHOST.:4566",
        "127.0.0.1:4566",
        "127.8.9.10",
        "[::1]:4566",
        "::1",
        "my-bucket.localhost:4566",
        "my-bucket.s3.localhost:4566",
        "my-bucket.s3.eu-west-1.localhost",
        "abc123.execute-api.localhost.localstack.cloud:4566",
        "localhost.localstack.cloud:4566",
        "10.0.2.15:4566",  # an IP literal: no DNS, no rebinding
        "sync-127.0.0.1:4566",  # botocore's host prefix (StartSyncExecution, TestState)
        "sync-states.localhost:4566",
        "stream-logs.localhost:4566",  # StartLiveTail's host prefix
    ],
)
def test_hosts_dev_mode_answers(policy, host):
    assert policy.host_refusal(host) is None


@pytest.mark.parametrize(
    "host",
    [
        "rebind.test:4566",
        "attacker.example",
        "localhost.attacker.example",
        "127.0.0.1.nip.io:4566",
        "localstack.cloud",
        "sync-localhost:4566",  # single label: a search domain could complete it
        "sync-attacker.example",
        "stream-localhost",
    ],
)
def test_hosts_dev_mode_refuses(policy, host):
    message = policy.host_refusal(host)
    assert message is not None and host in message


def test_configured_host_is_answered():
    policy = BrowserPolicy(Settings(host="dev-box.internal"))
    assert policy.host_refusal("dev-box.internal:4566") is None


def test_secure_mode_checks_no_host():
    # Secure mode needs a signature from a known key for everything; it may be reached
    # under any name (it may bind a public address).
    assert BrowserPolicy(Settings(secure=True)).host_refusal("sandlot.corp.example") is None


def test_preflight_answer_for_a_trusted_origin(policy):
    asked = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,x-amz-date",
        "access-control-request-private-network": "true",
    }
    answer = policy.preflight_headers("http://localhost:3000", asked)
    assert answer["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert answer["Access-Control-Allow-Headers"] == "authorization,x-amz-date"
    assert "POST" in answer["Access-Control-Allow-Methods"]
    assert answer["Access-Control-Allow-Private-Network"] == "true"
    assert "x-amzn-RequestId" in answer["Access-Control-Expose-Headers"]
