"""A real platform (store and blob area in a temporary directory) and a caller for S3."""

from __future__ import annotations

import asyncio

import pytest

from sandlot.config import Settings
from sandlot.iam.principal import Principal
from sandlot.platform import Platform

ACCOUNT = "000000000000"


@pytest.fixture
def platform(tmp_path):
    running = Platform(Settings(iam="off"), tmp_path / "data")
    yield running
    running.close()


@pytest.fixture
def s3(platform):
    """``s3("PutObject", {...}, account=...)``: one call through the internal client."""

    def call(operation: str, params: dict, account: str = ACCOUNT, region: str = "us-east-1"):
        return asyncio.run(
            platform.call("s3", operation, params, principal=Principal.root(account), region=region)
        )

    return call
