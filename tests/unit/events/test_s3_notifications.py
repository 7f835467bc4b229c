"""S3 notifications: the event shape AWS documents, a durable outbox, delivery as the
s3.amazonaws.com service principal, retries for transient failures only."""

from __future__ import annotations

import asyncio
import json

from sandlot.config import Settings
from sandlot.events import s3_notifications
from sandlot.events.s3_notifications import s3_event
from sandlot.platform import Platform
from sandlot.protocol import ServiceError

FN = "arn:aws:lambda:us-east-1:000000000000:function:thumbs"


def _event(key: str = "photos/a b+c.jpg", **over) -> dict:
    fields = dict(
        region="us-east-1",
        event_name="s3:ObjectCreated:Put",
        bucket="uploads",
        owner_id="000000000000",
        configuration_id="cfg",
        key=key,
        size=1024,
        etag='"0123abcd"',
        version_id=None,
        sequencer="00000000000000000A",
        principal_id="AWS:000000000000",
        source_ip="127.0.0.1",
        request_id="req-1",
        when=0.5,
    )
    fields.update(over)
    return s3_event(**fields)


def test_event_has_the_documented_shape():
    [record] = _event()["Records"]
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["eventTime"] == "1970-01-01T00:00:00.500Z"
    assert record["s3"]["bucket"] == {
        "name": "uploads",
        "ownerIdentity": {"principalId": "000000000000"},
        "arn": "arn:aws:s3:::uploads",
    }
    # Keys are URL-encoded as S3 does: a space becomes "+", a "+" becomes "%2B".
    assert record["s3"]["object"] == {
        "key": "photos/a+b%2Bc.jpg",
        "size": 1024,
        "eTag": "0123abcd",
        "sequencer": "00000000000000000A",
    }
    removed = _event(event_name="s3:ObjectRemoved:DeleteMarkerCreated", size=None, etag=None,
                     version_id="v1")["Records"][0]  # fmt: skip
    assert removed["s3"]["object"] == {
        "key": "photos/a+b%2Bc.jpg",
        "versionId": "v1",
        "sequencer": "00000000000000000A",
    }


class Recorder:
    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        self.calls: list[tuple] = []

    async def __call__(self, service, operation, params, *, principal, region, context, **_):
        self.calls.append((service, operation, params, principal, region, context))
        if self.failures:
            code = self.failures.pop(0)
            raise ServiceError(code, code, 400)
        return {"StatusCode": 202}


async def _drain(platform: Platform, seconds: float = 5.0) -> None:
    worker = asyncio.create_task(platform.deliveries.run())
    deadline = asyncio.get_running_loop().time() + seconds
    while platform.deliveries.pending() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    worker.cancel()


def test_staged_events_survive_a_restart_and_go_out_as_s3(tmp_path, monkeypatch):
    first = Platform(Settings(), tmp_path)
    with first.store.transaction():
        s3_notifications.stage(first.deliveries, "000000000000", "uploads", FN, _event())
    first.close()

    second = Platform(Settings(), tmp_path)
    recorder = Recorder(["TooManyRequestsException"])  # transient: retried
    monkeypatch.setattr(second, "call", recorder)
    asyncio.run(_drain(second))
    assert second.deliveries.pending() == 0
    assert len(recorder.calls) == 2
    service, operation, params, principal, region, context = recorder.calls[-1]
    assert (service, operation, region) == ("lambda", "Invoke", "us-east-1")
    assert params["FunctionName"] == FN and params["InvocationType"] == "Event"
    assert json.loads(params["Payload"])["Records"][0]["eventName"] == "ObjectCreated:Put"
    assert (principal.kind, principal.arn) == ("service", "s3.amazonaws.com")
    assert context == {
        "aws:SourceArn": "arn:aws:s3:::uploads",
        "aws:SourceAccount": "000000000000",
    }
    second.close()


def test_a_denied_delivery_is_dropped_not_retried(tmp_path, monkeypatch):
    platform = Platform(Settings(), tmp_path)
    s3_notifications.stage(platform.deliveries, "000000000000", "uploads", FN, _event())
    recorder = Recorder(["AccessDeniedException"])
    monkeypatch.setattr(platform, "call", recorder)
    asyncio.run(_drain(platform))
    assert platform.deliveries.pending() == 0
    assert len(recorder.calls) == 1
    platform.close()
