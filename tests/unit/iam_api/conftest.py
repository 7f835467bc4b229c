"""A real platform (store in a temporary directory) and a caller for the IAM API."""

from __future__ import annotations

import asyncio
import json

import pytest

from sandlot.config import Settings
from sandlot.iam.principal import Principal
from sandlot.platform import Platform
from sandlot.protocol import ServiceError

ACCOUNT = "000000000000"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str, resource: str = "*") -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def deny(action: str, resource: str = "*") -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


@pytest.fixture
def platform(tmp_path):
    # The API's own behaviour; enforcement (which would deny the users these tests act
    # as) is tested in tests/unit/iam_enforce.
    running = Platform(Settings(iam="off"), tmp_path / "data")
    yield running
    running.close()


@pytest.fixture
def iam(platform):
    """``iam("CreateUser", {...}, principal=...)``: one call through the internal client."""

    def call(operation: str, params: dict | None = None, principal: Principal | None = None):
        return asyncio.run(
            platform.call(
                "iam",
                operation,
                params or {},
                principal=principal or Principal.root(ACCOUNT),
                region="us-east-1",
            )
        )

    return call


@pytest.fixture
def fails(iam):
    """``fails("GetUser", {...})``: the ServiceError a call raises."""

    def call(operation: str, params: dict | None = None, **kw) -> ServiceError:
        with pytest.raises(ServiceError) as caught:
            iam(operation, params, **kw)
        return caught.value

    return call
