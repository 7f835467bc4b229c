"""X-Ray's emitting side uploads segments in batches: one PutTraceSegments per uploader
once BATCH_SIZE documents wait, or FLUSH_S after the first."""

import asyncio
import json
from types import SimpleNamespace

from sandlot.services.xray import emit


class FakePlatform:
    def __init__(self):
        self.calls = []

    async def call(self, service, operation, params, **kwargs):
        self.calls.append((operation, kwargs["principal"], kwargs["region"], params))
        return {}


def test_a_full_batch_goes_at_once_and_the_rest_after_the_interval(monkeypatch):
    monkeypatch.setattr(emit, "FLUSH_S", 0.05)
    platform = FakePlatform()

    async def scenario():
        uploader = emit.Uploader(platform)
        role = SimpleNamespace(arn="arn:aws:iam::111122223333:role/r")
        for i in range(emit.BATCH_SIZE + 1):
            uploader.add(("function", "r", "fn"), lambda: role, "us-east-1", [{"n": i}])
        await asyncio.sleep(0)  # the full batch's upload runs
        assert [len(c[3]["TraceSegmentDocuments"]) for c in platform.calls] == [emit.BATCH_SIZE]
        await asyncio.sleep(0.1)
        return role

    role = asyncio.run(scenario())
    sizes = [len(c[3]["TraceSegmentDocuments"]) for c in platform.calls]
    assert sizes == [emit.BATCH_SIZE, 1]
    assert all(c[:3] == ("PutTraceSegments", role, "us-east-1") for c in platform.calls)
    numbers = [json.loads(d)["n"] for c in platform.calls for d in c[3]["TraceSegmentDocuments"]]
    assert numbers == list(range(emit.BATCH_SIZE + 1))
