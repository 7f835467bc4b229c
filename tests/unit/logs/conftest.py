"""A real platform (store in a temporary directory) and a caller for the logs API."""

from __future__ import annotations

import asyncio

import pytest

from sandlot.config import Settings
from sandlot.iam.principal import Principal
from sandlot.platform import Platform

ACCOUNT = "000000000000"
NOW_MS = 1_700_000_000_000


@pytest.fixture
def platform(tmp_path):
    running = Platform(Settings(), tmp_path / "data")
    running.provider("logs").clock = lambda: NOW_MS / 1000
    yield running
    running.close()


@pytest.fixture
def logs(platform):
    """``logs("PutLogEvents", {...}, account=...)``: one call through the internal client."""

    def call(operation: str, params: dict, account: str = ACCOUNT, region: str = "us-east-1"):
        return asyncio.run(
            platform.call(
                "logs", operation, params, principal=Principal.root(account), region=region
            )
        )

    return call
