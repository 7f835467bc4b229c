"""The delivery path: durable staging, adapters by ARN, retry policy and dead letters as
data, outcome hooks by name."""

from __future__ import annotations

import asyncio

from sandlot.config import Settings
from sandlot.events.delivery import RetryPolicy
from sandlot.iam.principal import Principal
from sandlot.platform import Platform
from sandlot.protocol import ServiceError

QUEUE = "arn:aws:sqs:us-east-1:000000000000:inbox"
DLQ = "arn:aws:sqs:us-east-1:000000000000:dead"
TOPIC = "arn:aws:sns:eu-west-1:000000000000:news"
FN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
S3 = Principal.service("s3.amazonaws.com", "000000000000")
QUICK = RetryPolicy(max_attempts=3, delays_s=(0.01, 0.02), transient_base_s=0.01)


class Recorder:
    """Stands in for the internal client: records calls, answers from a script."""

    def __init__(self, answers=()) -> None:
        self.answers = list(answers)
        self.calls: list[dict] = []

    async def __call__(self, service, operation, params, **kw):
        self.calls.append({"service": service, "operation": operation, "params": params, **kw})
        answer = self.answers.pop(0) if self.answers else {}
        if isinstance(answer, Exception):
            raise answer
        return answer


async def _drain(platform: Platform, seconds: float = 5.0) -> None:
    worker = asyncio.create_task(platform.deliveries.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while platform.deliveries.pending() and loop.time() < deadline:
        await asyncio.sleep(0.01)
    worker.cancel()


def test_staged_deliveries_survive_a_restart_and_go_out_in_order(tmp_path):
    first = Platform(Settings(), tmp_path)
    with first.store.transaction():
        for n in range(3):
            first.deliveries.stage(
                QUEUE,
                f"body {n}",
                principal=S3,
                context={"aws:SourceArn": "arn:aws:s3:::b"},
                options={"MessageAttributes": {"n": {"DataType": "Number", "StringValue": str(n)}}},
            )
    first.close()

    second = Platform(Settings(), tmp_path)
    recorder = Recorder()
    second.call = recorder
    asyncio.run(_drain(second))
    assert [c["params"]["MessageBody"] for c in recorder.calls] == ["body 0", "body 1", "body 2"]
    call = recorder.calls[0]
    assert (call["service"], call["operation"], call["region"]) == (
        "sqs",
        "SendMessage",
        "us-east-1",
    )
    assert call["params"]["QueueUrl"] == f"{second.endpoint_url}/000000000000/inbox"
    assert call["params"]["MessageAttributes"]["n"]["StringValue"] == "0"
    assert call["principal"] == S3
    assert call["context"] == {"aws:SourceArn": "arn:aws:s3:::b"}
    second.close()


def test_a_staged_delivery_rolls_back_with_its_transaction(tmp_path):
    platform = Platform(Settings(), tmp_path)
    try:
        with platform.store.transaction():
            platform.deliveries.stage(QUEUE, "x", principal=S3)
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    assert platform.deliveries.pending() == 0
    platform.close()


def test_adapters_by_service(tmp_path):
    platform = Platform(Settings(), tmp_path)
    platform.deliveries.stage(TOPIC, "hello", principal=S3, options={"Subject": "s"})
    platform.deliveries.stage(FN, b'{"a": 1}', principal=S3)
    recorder = Recorder()
    platform.call = recorder
    asyncio.run(_drain(platform))
    sns, lam = recorder.calls
    assert (sns["service"], sns["operation"], sns["region"]) == ("sns", "Publish", "eu-west-1")
    assert sns["params"] == {"TopicArn": TOPIC, "Message": "hello", "Subject": "s"}
    assert (lam["service"], lam["operation"]) == ("lambda", "Invoke")
    assert lam["params"] == {"FunctionName": FN, "InvocationType": "Event", "Payload": b'{"a": 1}'}
    platform.close()


def test_function_errors_count_then_dead_letter_and_failure_hook(tmp_path):
    platform = Platform(Settings(), tmp_path)
    outcomes = []
    platform.deliveries.register_hook("seen", lambda d, delivery, o: outcomes.append(o))
    error = {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": b'{"errorMessage": "no"}'}
    recorder = Recorder([error, error, error, {}])
    platform.call = recorder
    platform.deliveries.stage(
        FN,
        "{}",
        principal=S3,
        options={"InvocationType": "RequestResponse"},
        policy=QUICK,
        dead_letter=DLQ,
        on_failure="seen",
        on_success="seen",
    )
    asyncio.run(_drain(platform))
    assert [c["service"] for c in recorder.calls] == ["lambda", "lambda", "lambda", "sqs"]
    assert recorder.calls[-1]["params"]["MessageBody"] == "{}"
    [outcome] = outcomes
    assert (outcome.condition, outcome.attempts, outcome.tries) == ("RetriesExhausted", 3, 3)
    assert outcome.error_code == "Unhandled"
    assert outcome.response["Payload"] == '{"errorMessage": "no"}'
    platform.close()


def test_throttles_do_not_count_but_end_at_the_maximum_age(tmp_path):
    platform = Platform(Settings(), tmp_path)
    outcomes = []
    platform.deliveries.register_hook("seen", lambda d, delivery, o: outcomes.append(o))
    throttle = ServiceError("TooManyRequestsException", "Rate Exceeded.", 429)
    recorder = Recorder([throttle] * 1000)
    platform.call = recorder
    policy = RetryPolicy(max_attempts=1, max_age_s=0.3, transient_base_s=0.01, transient_max_s=0.02)
    platform.deliveries.stage(QUEUE, "x", principal=S3, policy=policy, on_failure="seen")
    asyncio.run(_drain(platform))
    [outcome] = outcomes
    assert outcome.condition == "EventAgeExceeded"
    assert outcome.attempts == 0 and outcome.tries == len(recorder.calls) > 1
    assert outcome.error_code == "TooManyRequestsException"
    platform.close()


def test_a_client_error_is_final_at_once(tmp_path):
    platform = Platform(Settings(), tmp_path)
    outcomes = []
    platform.deliveries.register_hook("seen", lambda d, delivery, o: outcomes.append(o))
    denied = ServiceError("AccessDenied", "not allowed", 403)
    recorder = Recorder([denied])
    platform.call = recorder
    platform.deliveries.stage(QUEUE, "x", principal=S3, policy=QUICK, on_failure="seen")
    asyncio.run(_drain(platform))
    assert len(recorder.calls) == 1
    assert outcomes[0].condition == "Rejected" and outcomes[0].status == 403
    platform.close()


def test_success_runs_the_success_hook_with_the_response(tmp_path):
    platform = Platform(Settings(), tmp_path)
    outcomes = []
    platform.deliveries.register_hook("ok", lambda d, delivery, o: outcomes.append((delivery, o)))
    platform.call = Recorder([{"MessageId": "m-1"}])
    platform.deliveries.stage(QUEUE, "x", principal=S3, on_success="ok", hook_data={"k": "v"})
    asyncio.run(_drain(platform))
    [(delivery, outcome)] = outcomes
    assert outcome.succeeded and outcome.response == {"MessageId": "m-1"}
    assert delivery.hook_data == {"k": "v"}
    platform.close()


def test_rows_backing_off_do_not_hide_due_ones(tmp_path):
    platform = Platform(Settings(), tmp_path)
    platform.deliveries.max_in_flight = 2
    far = 10**10
    for _ in range(5):
        platform.deliveries.stage(QUEUE, "later", principal=S3, not_before=far)
    platform.deliveries.stage(QUEUE, "now", principal=S3)
    recorder = Recorder()
    platform.call = recorder

    async def run() -> None:
        worker = asyncio.create_task(platform.deliveries.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3
        while not recorder.calls and loop.time() < deadline:
            await asyncio.sleep(0.01)
        worker.cancel()

    asyncio.run(run())
    assert [c["params"]["MessageBody"] for c in recorder.calls] == ["now"]
    platform.close()


def test_a_failing_hook_still_retires_the_row(tmp_path):
    platform = Platform(Settings(), tmp_path)

    def broken(deliveries, delivery, outcome):
        deliveries.stage(QUEUE, "half-done", principal=S3)
        raise RuntimeError("bug")

    platform.deliveries.register_hook("broken", broken)
    recorder = Recorder()
    platform.call = recorder
    platform.deliveries.stage(QUEUE, "x", principal=S3, on_success="broken")
    asyncio.run(_drain(platform))
    assert [c["params"]["MessageBody"] for c in recorder.calls] == ["x"]  # nothing half-done
    assert platform.deliveries.pending() == 0
    platform.close()
