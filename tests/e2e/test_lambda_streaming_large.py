"""Large streamed responses (InvokeWithResponseStream): past Invoke's 6 MB, and past
the 200 MB streaming limit, where the invocation fails with
``Function.ResponseSizeTooLarge`` and the environment lives on.

This module's server runs functions on the host's network (``SANDLOT_FUNCTION_NETWORK=
shared``): through pasta as Debian 12 ships it (passt 0.0~git20230309), a runtime's
connection to the Runtime API stalls for good after some tens of MB when the reader
applies backpressure (the runtime has sent everything; the bytes never arrive), so
these sizes would test pasta rather than sandlot. The streaming itself is the same on
either network (tests/e2e/test_lambda_streaming.py runs on the default one).
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.server import SandlotServer
from tests.e2e.test_lambda_streaming import STREAMING, _payload, _stream


def _streamed(lam, name: str, mb: int) -> tuple[int, dict]:
    """(bytes streamed, the InvokeComplete event): counted as they come, not kept."""
    response = lam.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"mb": mb, "parts": []}).encode()
    )
    size, complete = 0, None
    for event in response["EventStream"]:
        if "PayloadChunk" in event:
            size += len(event["PayloadChunk"]["Payload"])
        else:
            complete = event["InvokeComplete"]
    return size, complete


@pytest.fixture(scope="module")
def streaming(tmp_path_factory):
    env = {"SANDLOT_FUNCTION_NETWORK": "shared"}
    with SandlotServer(tmp_path_factory.mktemp("sandlot-data"), env=env) as server:
        lam = make_client(server.endpoint, "lambda")
        name = unique("stream")
        create_function(lam, name, {"index.js": STREAMING}, runtime="nodejs20.x",
                        handler="index.handler", Timeout=120)  # fmt: skip
        yield lam, name


def test_beyond_six_megabytes_streams(streaming):
    lam, name = streaming
    assert _streamed(lam, name, 8) == (8 * 1024 * 1024, {})


def test_past_the_streaming_limit_the_invocation_fails(streaming):
    lam, name = streaming
    size, complete = _streamed(lam, name, 201)
    assert 190 * 1024 * 1024 < size <= 200 * 1024 * 1024
    assert complete["ErrorCode"] == "Function.ResponseSizeTooLarge"
    assert "(209715200 bytes)" in complete["ErrorDetails"]
    _, events = _stream(lam, name, {"parts": ["after"]})
    assert _payload(events) == b"after"
