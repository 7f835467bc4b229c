"""Live Tail's session end: after its time limit the stream ends with AWS's
SessionTimeoutException, and the session no longer counts."""

from __future__ import annotations

import asyncio

import pytest

from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.services.logs import livetail

from .conftest import ACCOUNT

ARN = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:g"


def test_session_times_out(platform, logs, monkeypatch):
    monkeypatch.setattr(livetail, "SESSION_LIMIT_S", 0.3)
    monkeypatch.setattr(livetail, "UPDATE_INTERVAL_S", 0.1)
    logs("CreateLogGroup", {"logGroupName": "g"})
    provider = platform.provider("logs")

    async def run() -> list:
        answer = await platform.call(
            "logs",
            "StartLiveTail",
            {"logGroupIdentifiers": [ARN]},
            principal=Principal.root(ACCOUNT),
            region="us-east-1",
        )
        seen = []
        with pytest.raises(ServiceError) as raised:
            async for event in answer["responseStream"]:
                seen.append(next(iter(event)))
                assert len(provider._live) == 1
        assert raised.value.code == "SessionTimeoutException"
        return seen

    seen = asyncio.run(run())
    assert seen[0] == "sessionStart" and set(seen[1:]) == {"sessionUpdate"}
    assert 2 <= len(seen) - 1 <= 4
    assert provider._live == set()
