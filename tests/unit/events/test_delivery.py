"""The delivery path: durable staging, adapters by ARN, retry policy and dead letters as
data, outcome hooks by name."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
import time

from sandlot.config import Settings
from sandlot.events.delivery import DELIVERIES, RetryPolicy
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


class _Endpoint(http.server.BaseHTTPRequestHandler):
    """A subscriber's HTTP endpoint: answers each POST from ``statuses``, records it."""

    statuses: list[int] = []
    received: list[tuple[str, dict, bytes]] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, dict(self.headers), body))
        self.send_response(type(self).statuses.pop(0) if type(self).statuses else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_http_targets_get_a_post_and_non_2xx_answers_count(tmp_path):
    _Endpoint.statuses, _Endpoint.received = [500], []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/hook?x=1"
    platform = Platform(Settings(), tmp_path)
    outcomes = []
    platform.deliveries.register_hook("seen", lambda d, delivery, o: outcomes.append(o))
    sns = Principal.service("sns.amazonaws.com", "000000000000")
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": "Notification",
    }
    platform.deliveries.stage(url, '{"Message": "hi"}', principal=sns, options={"headers": headers},
                              policy=QUICK, on_success="seen")  # fmt: skip
    asyncio.run(_drain(platform))
    httpd.shutdown()
    assert [r[0] for r in _Endpoint.received] == ["/hook?x=1", "/hook?x=1"]
    path, got_headers, body = _Endpoint.received[-1]
    assert body == b'{"Message": "hi"}'
    assert got_headers["x-amz-sns-message-type"] == "Notification"
    [outcome] = outcomes
    assert outcome.succeeded and (outcome.attempts, outcome.tries) == (2, 2)
    platform.close()


def test_an_unreachable_http_target_exhausts_its_retries(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    platform = Platform(Settings(), tmp_path)
    outcomes = []
    platform.deliveries.register_hook("seen", lambda d, delivery, o: outcomes.append(o))
    platform.deliveries.stage(f"http://127.0.0.1:{port}/", "x", principal=S3, policy=QUICK,
                              on_failure="seen")  # fmt: skip
    asyncio.run(_drain(platform))
    [outcome] = outcomes
    assert outcome.condition == "RetriesExhausted" and outcome.attempts == 3
    assert outcome.error_code == "ConnectionError"
    platform.close()


def test_a_row_whose_handling_breaks_waits_instead_of_spinning(tmp_path, monkeypatch):
    platform = Platform(Settings(), tmp_path)
    platform.call = Recorder()
    delivery_id = platform.deliveries.stage(QUEUE, "x", principal=S3)
    calls = []

    def broken(*args):
        calls.append(args)
        raise RuntimeError("store trouble")

    monkeypatch.setattr(platform.deliveries, "_finish", broken)
    asyncio.run(_drain(platform, seconds=0.3))
    assert len(calls) == 1  # not retried at once
    [row] = platform.store.select(DELIVERIES, {"id": delivery_id})
    assert row["not_before"] > time.time()
    platform.close()


def test_http_final_statuses_end_a_delivery_at_once(tmp_path):
    _Endpoint.statuses, _Endpoint.received = [429, 403], []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    platform = Platform(Settings(), tmp_path)
    outcomes = []
    platform.deliveries.register_hook("seen", lambda d, delivery, o: outcomes.append(o))
    options = {"final_statuses": [[400, 428], [430, 499]]}  # SNS's rule: 4xx but 429
    platform.deliveries.stage(url, "x", principal=S3, options=options, policy=QUICK,
                              on_failure="seen")  # fmt: skip
    asyncio.run(_drain(platform))
    httpd.shutdown()
    assert len(_Endpoint.received) == 2  # the 429 was retried, the 403 was not
    [outcome] = outcomes
    assert (outcome.condition, outcome.error_code, outcome.status) == ("Rejected", "403", 403)
    platform.close()


def test_a_retried_fifo_delivery_holds_back_later_ones_of_its_group(tmp_path):
    fifo = "arn:aws:sqs:us-east-1:000000000000:orders.fifo"
    platform = Platform(Settings(), tmp_path)
    calls: list[str] = []

    async def call(service, operation, params, **kw):
        calls.append(params["MessageBody"])
        if calls.count("a1") == 1 and params["MessageBody"] == "a1":  # the first try fails
            raise ServiceError("ServiceUnavailable", "try again", 503)
        return {}

    platform.call = call
    slow = RetryPolicy(transient_base_s=0.3)
    with platform.store.transaction():
        for body, group in [("a1", "A"), ("a2", "A"), ("b1", "B"), ("a3", "A")]:
            platform.deliveries.stage(
                fifo, body, principal=S3, options={"MessageGroupId": group}, policy=slow
            )
    asyncio.run(_drain(platform))
    # Group A waits for its retried first message; group B is not held up by it.
    assert calls == ["a1", "b1", "a1", "a2", "a3"]
    assert platform.deliveries.pending() == 0
    platform.close()


def test_order_is_kept_across_a_restart_and_for_fresh_rows(tmp_path):
    fifo = "arn:aws:sqs:us-east-1:000000000000:orders.fifo"
    first = Platform(Settings(), tmp_path)
    first.deliveries.stage(fifo, "m1", principal=S3, options={"MessageGroupId": "g"},
                           not_before=time.time() + 0.3)  # fmt: skip
    first.close()
    second = Platform(Settings(), tmp_path)
    calls: list[str] = []

    async def call(service, operation, params, **kw):
        calls.append(params["MessageBody"])
        return {}

    second.call = call

    async def run() -> None:
        worker = asyncio.create_task(second.deliveries.run())
        await asyncio.sleep(0.05)  # the worker is idle, waiting for m1's time
        second.deliveries.stage(fifo, "m2", principal=S3, options={"MessageGroupId": "g"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while second.deliveries.pending() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        worker.cancel()

    asyncio.run(run())
    assert calls == ["m1", "m2"]  # the fresh m2 waited for the earlier m1
    second.close()


def test_a_long_fifo_group_drains_in_order_beside_other_traffic(tmp_path):
    fifo = "arn:aws:sqs:us-east-1:000000000000:orders.fifo"
    platform = Platform(Settings(), tmp_path)
    recorder = Recorder()
    platform.call = recorder
    with platform.store.transaction():
        for n in range(40):
            platform.deliveries.stage(fifo, f"g{n}", principal=S3, options={"MessageGroupId": "g"})
            platform.deliveries.stage(QUEUE, f"q{n}", principal=S3)
    asyncio.run(_drain(platform))
    bodies = [c["params"]["MessageBody"] for c in recorder.calls]
    assert [b for b in bodies if b.startswith("g")] == [f"g{n}" for n in range(40)]
    assert len(bodies) == 80 and platform.deliveries.pending() == 0
    platform.close()
