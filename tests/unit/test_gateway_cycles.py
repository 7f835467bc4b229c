"""Answered requests, errors included, leave no reference cycles: their objects are
freed at once, not left for the garbage collector (collections cost more CPU per
request than the request's own parsing; docs/performance.md)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from sandlot.config import Settings
from sandlot.gateway.app import Gateway
from sandlot.platform import Platform
from sandlot.protocol import HttpRequest


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    platform = Platform(Settings(), tmp_path_factory.mktemp("cycles"))
    yield Gateway(platform)
    platform.close()


def _json(target: str, body: bytes) -> HttpRequest:
    headers = {
        "host": "127.0.0.1:4566",
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": target,
    }
    return HttpRequest("POST", "/", "", headers, body)


@pytest.mark.parametrize(
    "request_, status",
    [
        (_json("DynamoDB_20120810.ListTables", b"{}"), 200),
        # A ServiceError raised deep in a provider: its traceback held the handler's frame.
        (_json("DynamoDB_20120810.GetItem", b'{"TableName": "none", "Key": {}}'), 400),
        (HttpRequest("GET", "/no-such-bucket/key", "", {"host": "127.0.0.1:4566"}), 404),
    ],
    ids=["answer", "provider-error", "s3-error"],
)
def test_an_answered_request_leaves_no_cycle(gateway, request_, status):
    asyncio.run(gateway.handle(request_))  # first use compiles and caches
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        response = asyncio.run(gateway.handle(request_))
        assert response.status == status
        del response
        assert gc.collect() == 0  # nothing unreachable: all was freed by reference counts
    finally:
        if enabled:
            gc.enable()
