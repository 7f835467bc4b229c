"""Event invocations on the delivery path: durable before 202, run in order, throttles
retried, outcomes to the dead-letter queue and destinations as the function's role."""

from __future__ import annotations

import asyncio
import json

from sandlot.config import Settings
from sandlot.events.async_invoke import AsyncSettings
from sandlot.platform import Platform
from sandlot.protocol import ServiceError


class Recorder:
    """Stands in for the internal client: records calls, optionally throttles some."""

    def __init__(self, throttle: int = 0) -> None:
        self.calls: list[tuple[str, str, dict, str]] = []
        self.throttle = throttle

    async def __call__(self, service, operation, params, *, principal, region, request_id, context):
        if self.throttle:
            self.throttle -= 1
            raise ServiceError("TooManyRequestsException", "Rate Exceeded.", 429)
        self.calls.append((service, operation, params, request_id))
        return {"StatusCode": 200}


async def _drain(platform: Platform, seconds: float = 3.0) -> None:
    worker = asyncio.create_task(platform.deliveries.run())
    deadline = asyncio.get_running_loop().time() + seconds
    while platform.deliveries.pending() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    worker.cancel()


def test_queued_events_survive_a_restart_and_run_in_order(tmp_path):
    first = Platform(Settings(), tmp_path)
    ids = [
        first.async_invocations.enqueue("000000000000", "us-east-1", "fn", None, b'{"n": %d}' % i)
        for i in range(5)
    ]
    first.close()  # the process goes away before the worker ran anything

    second = Platform(Settings(), tmp_path)
    recorder = Recorder()
    second.call = recorder
    asyncio.run(_drain(second))
    assert [call[3] for call in recorder.calls] == ids
    service, operation, params, _ = recorder.calls[0]
    assert (service, operation) == ("lambda", "Invoke")
    assert params == {
        "FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "InvocationType": "RequestResponse",
        "Payload": b'{"n": 0}',
    }
    assert second.deliveries.pending() == 0


def test_throttled_event_stays_queued_and_is_retried(tmp_path):
    platform = Platform(Settings(), tmp_path)
    recorder = Recorder(throttle=1)
    platform.call = recorder
    platform.async_invocations.enqueue(
        "000000000000", "us-east-1", "fn", "live", b"{}", client_context="e30="
    )
    asyncio.run(_drain(platform))
    assert len(recorder.calls) == 1
    assert recorder.calls[0][2]["Qualifier"] == "live"
    assert recorder.calls[0][2]["ClientContext"] == "e30="


ROLE = "arn:aws:iam::000000000000:role/worker"
FN_ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
DLQ = "arn:aws:sqs:us-east-1:000000000000:dlq"
FAILURES = "arn:aws:sns:us-east-1:000000000000:failures"


class Scripted:
    """The internal client: answers each Invoke from a script, records everything."""

    def __init__(self, invoke_answers) -> None:
        self.invoke_answers = list(invoke_answers)
        self.calls: list[dict] = []

    async def __call__(self, service, operation, params, **kw):
        self.calls.append({"service": service, "operation": operation, "params": params, **kw})
        if service == "lambda":
            answer = self.invoke_answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return {}


def _settings(**over) -> AsyncSettings:
    fields = dict(function_arn=f"{FN_ARN}:$LATEST", function_name="fn", role_arn=ROLE)
    fields.update(over)
    return AsyncSettings(**fields)


def test_a_failing_event_goes_to_the_dlq_and_the_failure_destination(tmp_path):
    platform = Platform(Settings(), tmp_path)
    error = {
        "StatusCode": 200,
        "FunctionError": "Unhandled",
        "ExecutedVersion": "$LATEST",
        "Payload": b'{"errorMessage": "boom", "errorType": "ValueError"}',
    }
    client = Scripted([error, error])
    platform.call = client
    request_id = platform.async_invocations.enqueue(
        "000000000000", "us-east-1", FN_ARN, None, b'{"k": 1}',
        settings=_settings(max_retry_attempts=1, dead_letter=DLQ, on_failure=FAILURES),
    )  # fmt: skip
    asyncio.run(_drain(platform, seconds=10))
    invokes = [c for c in client.calls if c["service"] == "lambda"]
    assert len(invokes) == 2 and {c["request_id"] for c in invokes} == {request_id}
    [dlq] = [c for c in client.calls if c["service"] == "sqs"]
    assert dlq["operation"] == "SendMessage" and dlq["params"]["MessageBody"] == '{"k": 1}'
    assert dlq["params"]["MessageAttributes"] == {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "boom"},
    }
    # Sent as the function's execution role, not as the invoker.
    assert dlq["principal"].arn == "arn:aws:sts::000000000000:assumed-role/worker/fn"
    [destination] = [c for c in client.calls if c["service"] == "sns"]
    record = json.loads(destination["params"]["Message"])
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{FN_ARN}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 2,
    }
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["requestPayload"] == {"k": 1}
    assert record["responsePayload"] == {"errorMessage": "boom", "errorType": "ValueError"}
    platform.close()


def test_an_event_throttled_past_its_maximum_age_fails_with_event_age_exceeded(tmp_path):
    platform = Platform(Settings(), tmp_path)
    throttle = ServiceError("TooManyRequestsException", "Rate Exceeded.", 429)
    client = Scripted([throttle] * 100)
    platform.call = client
    settings = _settings(max_event_age_s=1, dead_letter=DLQ, on_failure=DLQ)
    platform.async_invocations.enqueue(
        "000000000000", "us-east-1", FN_ARN, None, b"{}", settings=settings
    )
    asyncio.run(_drain(platform, seconds=10))
    sent = [c for c in client.calls if c["service"] == "sqs"]
    dead_letter, destination = sorted(sent, key=lambda c: "MessageAttributes" in c["params"])[::-1]
    assert dead_letter["params"]["MessageAttributes"]["ErrorCode"]["StringValue"] == "429"
    record = json.loads(destination["params"]["MessageBody"])
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] > 1
    platform.close()


def test_reserved_concurrency_zero_is_not_retried(tmp_path):
    platform = Platform(Settings(), tmp_path)
    throttle = ServiceError("TooManyRequestsException", "Rate Exceeded.", 429)
    client = Scripted([throttle] * 10)
    platform.call = client
    settings = _settings(zero_concurrency=True, on_failure=DLQ)
    platform.async_invocations.enqueue(
        "000000000000", "us-east-1", FN_ARN, None, b"{}", settings=settings
    )
    asyncio.run(_drain(platform))
    assert [c["service"] for c in client.calls] == ["lambda", "sqs"]
    record = json.loads(client.calls[1]["params"]["MessageBody"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    platform.close()
