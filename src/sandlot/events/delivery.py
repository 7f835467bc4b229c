"""The one delivery path: everything one service sends to another, durably.

A delivery is a row staged with ``stage`` inside the transaction of the change that
caused it (an outbox), so an acknowledged change always has its deliveries recorded and
a crash before they went out sends them after the restart (at least once). The worker
(a ``DrainedQueue``) hands each row to the adapter of its target ARN's service, which
calls the target through ``Platform.call`` as the sender's principal with the sender's
IAM condition keys (``aws:SourceArn``, ``aws:SourceAccount``), so the target's resource
policy decides, exactly as in AWS.

Everything a sender chooses is data in the row, not code here:

- ``RetryPolicy``: how many failed attempts end it, the wait before each retry, the
  maximum age. Failures count (a function error, an unexpected exception); throttles
  and system errors (HTTP 429 and 5xx) are retried with exponential back-off without
  counting, until the maximum age; any other error (AccessDenied, a missing target) is
  final at once, as a retry cannot succeed.
- ``dead_letter``: a target ARN that gets the payload when the delivery fails for good.
- ``on_success`` / ``on_failure``: names of hooks registered with ``register_hook``
  (e.g. Lambda's destinations), run with the ``Outcome`` in the transaction that
  retires the row, so whatever they stage is staged exactly when the row goes.
- ``order_key``: deliveries sharing one go out one at a time in staging order, a
  retried one holding back the rest (by default target + ``MessageGroupId``: FIFO).
- http(s) ``options["final_statuses"]``: the answers that end a delivery at once
  (SNS: 4xx but 429); any other non-2xx answer is a counted failure.

Adapters: ``ADAPTERS`` maps an ARN's service (or an http(s) URL's scheme) to an
``async (platform, delivery) -> response``; a new target kind is one function added
there. ``lambda`` Invoke, ``sqs`` SendMessage, ``sns`` Publish, ``events`` PutEvents
(payload = Detail), ``logs`` CreateLogStream + PutLogEvents, ``states`` StartExecution
(the ``stepfunctions`` API), ``scheduler`` universal targets (any operation), http(s) POST.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import http.client
import json
import logging
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandlot.events import oauth
from sandlot.events.queue import DrainedQueue
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.store import Migration, Table

if TYPE_CHECKING:
    from sandlot.platform import Platform

log = logging.getLogger("sandlot.events")

DELIVERIES = Table(
    "deliveries",
    columns={
        "id": "TEXT",
        "seq": "INTEGER",  # staging order
        "target": "TEXT",  # the destination ARN; its service picks the adapter
        "region": "TEXT",  # where the call is made (the target's region by default)
        "payload": "BLOB",
        "options": "TEXT",  # JSON: adapter parameters (message attributes, qualifier…)
        "principal": "TEXT",  # JSON: the sender's Principal
        "context": "TEXT",  # JSON: IAM condition keys of the sender
        "policy": "TEXT",  # JSON: RetryPolicy
        "dead_letter": "TEXT",  # ARN or NULL
        "on_success": "TEXT",  # hook name or NULL
        "on_failure": "TEXT",  # hook name or NULL
        "hook_data": "TEXT",  # JSON the hooks get back
        "attempts": "INTEGER",  # failed attempts that count against max_attempts
        "tries": "INTEGER",  # every call made (counted or not)
        "created_at": "REAL",
        "not_before": "REAL",
        "last_error": "TEXT",  # JSON {code, message, response} of the last failure
        "order_key": "TEXT",  # rows with the same key run one at a time, in seq order
    },
    key=("id",),
    indexes=(("seq",), ("not_before",), ("order_key", "seq")),
)
MIGRATIONS = [
    Migration(1, create=DELIVERIES),
    Migration(2, add_column=(DELIVERIES, "order_key")),
]

# The option that carries a delivery's X-Ray trace header (Lambda's loop detection):
# the call is made with it, as the request that caused the delivery was.
TRACE_OPTION = "TraceHeader"
HTTP_TIMEOUT_S = 15.0  # SNS's HTTP endpoints must answer within 15 seconds
MAX_IN_FLIGHT = 128  # shared by every sender: one slow function must not stall the rest
POLL_S = 0.5


@dataclass(frozen=True)
class RetryPolicy:
    """When a delivery is tried again. ``delays_s[n-1]`` is the wait after the n-th
    counted failure (the last entry repeats); throttles and system errors wait
    ``transient_base_s`` doubling up to ``transient_max_s``. ``max_age_s`` None: no
    age limit (then only counted failures end it)."""

    max_attempts: int = 3
    delays_s: tuple[float, ...] = (1.0, 2.0)
    max_age_s: float | None = 6 * 3600.0
    transient_base_s: float = 1.0
    transient_max_s: float = 300.0
    retry_transient: bool = True  # False: a throttle or system error ends it too

    def delay(self, attempts: int) -> float:
        if not self.delays_s:
            return 0.0
        return self.delays_s[min(attempts, len(self.delays_s)) - 1]

    def transient_delay(self, transient_tries: int) -> float:
        return min(self.transient_max_s, self.transient_base_s * 2 ** max(transient_tries - 1, 0))

    def to_json(self) -> str:
        return _policy_json(self)

    @classmethod
    def from_json(cls, text: str) -> RetryPolicy:
        return _policy_from_json(text)


# Senders stage a handful of distinct policies (and principals) over and over: their
# JSON is computed once (``dataclasses.asdict`` deep-copies, and showed in profiles).
@functools.lru_cache(maxsize=256)
def _policy_json(policy: RetryPolicy) -> str:
    return json.dumps(dataclasses.asdict(policy))


@functools.lru_cache(maxsize=256)
def _policy_from_json(text: str) -> RetryPolicy:
    data = json.loads(text)
    data["delays_s"] = tuple(data.get("delays_s") or ())
    return RetryPolicy(**data)


@functools.lru_cache(maxsize=256)
def _principal_json(principal: Principal) -> str:
    return json.dumps(dataclasses.asdict(principal))


@dataclass
class Delivery:
    """One staged delivery as adapters and hooks see it."""

    id: str
    target: str
    region: str
    payload: bytes
    options: dict
    principal: Principal
    context: dict
    policy: RetryPolicy
    dead_letter: str | None
    hook_data: dict
    attempts: int
    tries: int
    created_at: float

    @classmethod
    def from_row(cls, row: dict) -> Delivery:
        return cls(
            id=row["id"],
            target=row["target"],
            region=row["region"],
            payload=bytes(row["payload"] or b""),
            options=json.loads(row["options"] or "{}"),
            principal=Principal(**json.loads(row["principal"])),
            context=json.loads(row["context"] or "{}"),
            policy=RetryPolicy.from_json(row["policy"]),
            dead_letter=row["dead_letter"],
            hook_data=json.loads(row["hook_data"] or "{}"),
            attempts=row["attempts"],
            tries=row["tries"],
            created_at=row["created_at"],
        )


@dataclass
class Outcome:
    """How a delivery ended. ``condition``: ``Success``, ``RetriesExhausted`` (counted
    failures used up), ``EventAgeExceeded`` (older than the maximum age) or
    ``Rejected`` (an error no retry can fix: access denied, no such target)."""

    condition: str
    attempts: int
    tries: int
    response: dict | None = None  # the target's answer (last one, on failure)
    error_code: str | None = None
    error_message: str | None = None
    status: int | None = None  # HTTP status of the error

    @property
    def succeeded(self) -> bool:
        return self.condition == "Success"


class Failed(Exception):
    """Raised by an adapter for an attempt that failed and counts against
    ``max_attempts`` (a function error, where the call itself succeeded)."""

    def __init__(self, code: str, message: str, response: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.response = response


Adapter = Callable[["Platform", Delivery], Awaitable[dict]]
Hook = Callable[["Deliveries", Delivery, Outcome], None]


def arn_service(arn: str) -> str:
    """The service an ARN names; for an http(s) URL its scheme (the adapter key)."""
    if arn.startswith(("http://", "https://")):
        return arn.split(":", 1)[0]
    parts = arn.split(":")
    return parts[2] if len(parts) > 5 and parts[0] == "arn" else ""


def arn_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 else ""


async def _call(
    platform: Platform, delivery: Delivery, service: str, op: str, params: dict, **extra: Any
) -> dict:
    if delivery.options.get(TRACE_OPTION):
        extra["trace_header"] = delivery.options[TRACE_OPTION]
    return await platform.call(
        service,
        op,
        params,
        principal=delivery.principal,
        region=delivery.region,
        context=delivery.context or None,
        **extra,
    )


def _options(delivery: Delivery) -> dict:
    """The options that are the operation's parameters."""
    return {k: v for k, v in delivery.options.items() if k != TRACE_OPTION}


def _text(payload: bytes) -> str:
    return payload.decode("utf-8", "replace")


async def send_lambda(platform: Platform, delivery: Delivery) -> dict:
    """Invoke (``options``: InvocationType, default Event; Qualifier; ClientContext).
    A RequestResponse run that reports a FunctionError is a counted failure."""
    params = {
        "FunctionName": delivery.target,
        "InvocationType": delivery.options.get("InvocationType", "Event"),
        "Payload": delivery.payload,
    }
    for name in ("Qualifier", "ClientContext"):
        if delivery.options.get(name):
            params[name] = delivery.options[name]
    # A run of a queued event keeps the event's request id across retries; an Event
    # invocation is a new request of its own.
    extra = {}
    if params["InvocationType"] == "RequestResponse":
        extra["request_id"] = delivery.id
        # AWS/Lambda's AsyncEventAge: how long the queued event waited for this run.
        platform.metrics.lambda_async(
            delivery.principal.account_id, delivery.region, delivery.target, "AsyncEventAge",
            max(0.0, time.time() - delivery.created_at) * 1000, "Milliseconds",
        )  # fmt: skip
    response = await _call(platform, delivery, "lambda", "Invoke", params, **extra)
    if response.get("FunctionError"):
        raise Failed(response["FunctionError"], _text(response.get("Payload") or b""), response)
    return response


async def send_sqs(platform: Platform, delivery: Delivery) -> dict:
    """SendMessage to the queue the ARN names (``options``: MessageAttributes,
    MessageGroupId, MessageDeduplicationId, DelaySeconds…)."""
    _, _, _, _, account, name = delivery.target.split(":", 5)
    params = {
        "QueueUrl": f"{platform.endpoint_url}/{account}/{name}",
        "MessageBody": _text(delivery.payload),
        **_options(delivery),
    }
    return await _call(platform, delivery, "sqs", "SendMessage", params, request_id=delivery.id)


async def send_sns(platform: Platform, delivery: Delivery) -> dict:
    """Publish to the topic (``options``: Subject, MessageAttributes, MessageGroupId…)."""
    params = {"TopicArn": delivery.target, "Message": _text(delivery.payload), **_options(delivery)}
    return await _call(platform, delivery, "sns", "Publish", params, request_id=delivery.id)


async def send_s3(platform: Platform, delivery: Delivery) -> dict:
    """PutObject into the bucket the ARN (``arn:aws:s3:::bucket``) names, at
    ``options["Key"]`` (the sender names the object: Lambda's failure records go under
    ``aws/lambda/…``)."""
    params = {
        "Bucket": delivery.target.split(":", 5)[5],
        "Key": delivery.options["Key"],
        "Body": delivery.payload
        if isinstance(delivery.payload, bytes)
        else delivery.payload.encode(),
        "ContentType": delivery.options.get("ContentType", "application/json"),
    }
    return await _call(platform, delivery, "s3", "PutObject", params, request_id=delivery.id)


# Request rates a sender caps (an API destination's InvocationRateLimitPerSecond): a
# token bucket per key, in memory, holding at most one second's worth.
_BUCKETS: dict[str, tuple[float, float]] = {}  # key -> (tokens, monotonic time)


def _within_rate(key: str, rate: float) -> bool:
    now = time.monotonic()
    tokens, then = _BUCKETS.get(key, (rate, now))
    tokens = min(rate, tokens + (now - then) * rate)
    allowed = tokens >= 1.0
    _BUCKETS[key] = (tokens - 1.0 if allowed else tokens, now)
    return allowed


async def send_http(platform: Platform, delivery: Delivery) -> dict:
    """POST the payload to an http(s) URL (``options``: ``headers``, ``method``,
    ``timeout_s``, ``final_statuses``, ``oauth``: client credentials, ``events/oauth.py``). A non-2xx answer, or no answer, is a counted
    failure: an endpoint that is down or refuses is what a sender's retry policy is for.
    ``final_statuses`` (inclusive ``[low, high]`` ranges) are answers no retry can fix,
    ending the delivery at once (``Rejected``): SNS gives its 4xx-but-429 rule here.
    ``rate_limit`` (requests per second, per ``rate_key``): a request past it is not
    sent but throttled, so it waits and goes out later (EventBridge's behaviour)."""
    options = delivery.options
    rate = options.get("rate_limit")
    if rate and not _within_rate(str(options.get("rate_key") or delivery.target), float(rate)):
        raise ServiceError("ThrottlingException", f"Rate exceeded: {rate} per second", 429)
    headers = dict(options.get("headers") or {})
    if options.get("oauth"):  # OAuth client credentials: a bearer token first
        try:
            headers["Authorization"] = "Bearer " + await asyncio.to_thread(
                oauth.token, options["oauth"]
            )
        except oauth.TokenError as error:
            raise Failed("OAuthTokenError", str(error)) from None
    try:
        status, reason, body = await asyncio.to_thread(
            _http_request,
            options.get("method", "POST"),
            delivery.target,
            delivery.payload,
            headers,
            float(options.get("timeout_s", HTTP_TIMEOUT_S)),
        )
    except (OSError, http.client.HTTPException) as error:
        raise Failed("ConnectionError", f"{type(error).__name__}: {error}") from None
    if status == 401 and options.get("oauth"):
        oauth.forget(options["oauth"])  # the next try fetches a new token
    if 200 <= status < 300:
        return {"StatusCode": status, "Body": body}  # the body: Pipes' enrichments read it
    if any(low <= status <= high for low, high in options.get("final_statuses") or ()):
        raise ServiceError(str(status), f"HTTP {status} {reason}", status)
    raise Failed(str(status), f"HTTP {status} {reason}", {"StatusCode": status})


async def send_events(platform: Platform, delivery: Delivery) -> dict:
    """PutEvents of one event onto the bus the ARN names: the payload is its Detail,
    ``options`` its Source, DetailType and Resources. A refused entry is final."""
    entry = {"EventBusName": delivery.target, "Detail": _text(delivery.payload)}
    for name in ("Source", "DetailType", "Resources"):
        if delivery.options.get(name) is not None:
            entry[name] = delivery.options[name]
    response = await _call(platform, delivery, "events", "PutEvents", {"Entries": [entry]})
    result = (response.get("Entries") or [{}])[0]
    if result.get("ErrorCode"):
        raise ServiceError(result["ErrorCode"], result.get("ErrorMessage", ""), 400)
    return response


async def send_logs(platform: Platform, delivery: Delivery) -> dict:
    """One log event in the group the ARN names, in the stream ``options["logStreamName"]``
    (created if missing), at ``options["timestamp"]`` (ms; default now)."""
    group = delivery.target.split(":", 6)[6].removesuffix(":*")
    stream = delivery.options["logStreamName"]
    try:
        await _call(
            platform, delivery, "logs", "CreateLogStream",
            {"logGroupName": group, "logStreamName": stream},
        )  # fmt: skip
    except ServiceError as error:
        if error.code != "ResourceAlreadyExistsException":
            raise
    event = {
        "timestamp": int(delivery.options.get("timestamp") or time.time() * 1000),
        "message": _text(delivery.payload),
    }
    params = {"logGroupName": group, "logStreamName": stream, "logEvents": [event]}
    return await _call(platform, delivery, "logs", "PutLogEvents", params)


async def send_states(platform: Platform, delivery: Delivery) -> dict:
    """StartExecution of the state machine the ARN names, with the payload as input."""
    params = {"stateMachineArn": delivery.target, "input": _text(delivery.payload)}
    return await _call(platform, delivery, "stepfunctions", "StartExecution", params)


# Universal targets name a service by its SDK id; where that is not botocore's name.
_SDK_SERVICES = {"sfn": "stepfunctions", "cloudwatchlogs": "logs", "eventbridge": "events"}


async def send_sdk(platform: Platform, delivery: Delivery) -> dict:
    """A universal target (``arn:aws:scheduler:::aws-sdk:<service>:<apiAction>``): that
    operation with the payload (JSON) as its parameters, in the delivery's region."""
    parts = delivery.target.split(":", 5)[5].split(":")
    if len(parts) != 3 or parts[0] != "aws-sdk":
        raise ServiceError("ValidationException", f"Not a universal target: {delivery.target}")
    service = _SDK_SERVICES.get(parts[1], parts[1])
    operation = parts[2][:1].upper() + parts[2][1:]
    params = json.loads(delivery.payload) if delivery.payload.strip() else {}
    return await _call(platform, delivery, service, operation, params)


def _http_request(
    method: str, url: str, body: bytes, headers: dict, timeout: float
) -> tuple[int, str, bytes]:
    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.netloc, timeout=timeout)
    try:
        path = parts.path or "/"
        connection.request(method, path + (f"?{parts.query}" if parts.query else ""), body, headers)
        response = connection.getresponse()
        return response.status, response.reason, response.read()
    finally:
        connection.close()


async def send_kinesis(platform: Platform, delivery: Delivery) -> dict:
    """PutRecord on the stream the ARN names; the payload is the record's data
    (``options``: ``PartitionKey``, a random one when absent or empty)."""
    key = delivery.options.get("PartitionKey") or uuid.uuid4().hex
    params = {"StreamARN": delivery.target, "Data": delivery.payload, "PartitionKey": key}
    return await _call(platform, delivery, "kinesis", "PutRecord", params)


async def send_firehose(platform: Platform, delivery: Delivery) -> dict:
    """PutRecord on the Firehose delivery stream the ARN names (the payload is the data)."""
    name = delivery.target.split(":", 5)[5].removeprefix("deliverystream/")
    params = {"DeliveryStreamName": name, "Record": {"Data": delivery.payload}}
    return await _call(platform, delivery, "firehose", "PutRecord", params)


ADAPTERS: dict[str, Adapter] = {
    "lambda": send_lambda,
    "kinesis": send_kinesis,
    "firehose": send_firehose,
    "sqs": send_sqs,
    "sns": send_sns,
    "s3": send_s3,
    "events": send_events,
    "logs": send_logs,
    "states": send_states,
    "scheduler": send_sdk,
    "http": send_http,
    "https": send_http,
}

_TRANSIENT_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ServiceUnavailable",
        "ProvisionedThroughputExceededException",  # a Kinesis shard's write limit
    }
)


def _transient(error: ServiceError) -> bool:
    return error.status >= 500 or error.status == 429 or error.code in _TRANSIENT_CODES


class Deliveries(DrainedQueue):
    """The durable outbox of deliveries and the worker that sends them."""

    table = DELIVERIES
    key = "id"
    order_column = "order_key"
    max_in_flight = MAX_IN_FLIGHT
    poll_s = POLL_S

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform.store)
        self._platform = platform
        self._hooks: dict[str, Hook] = {}
        self._store.migrate("deliveries", MIGRATIONS)
        # Delivered rows with nothing else to do in their transaction are retired
        # together: one commit per event-loop step, not one per row.
        self._to_retire: list[tuple[str, asyncio.Future]] = []

    def _hook(self, name: str) -> Hook | None:
        """The hook ``name``; one not registered yet makes the platform create the
        provider its name starts with (``events-target-failed`` → ``events``), which
        registers its hooks when constructed: rows staged before a restart find their
        hook even if nothing has used that service since."""
        if name not in self._hooks:
            self._platform.provider(name.split("-", 1)[0])
        return self._hooks.get(name)

    def register_hook(self, name: str, hook: Hook) -> None:
        """``hook(deliveries, delivery, outcome)`` runs in the transaction that retires a
        delivery naming it; it may ``stage`` more. Register at start-up (rows naming a
        hook outlive the process)."""
        self._hooks[name] = hook

    def stage(
        self,
        target: str,
        payload: bytes | str,
        *,
        principal: Principal,
        context: dict | None = None,
        options: dict | None = None,
        policy: RetryPolicy | None = None,
        dead_letter: str | None = None,
        on_success: str | None = None,
        on_failure: str | None = None,
        hook_data: dict | None = None,
        region: str | None = None,
        delivery_id: str | None = None,
        not_before: float | None = None,
        order_key: str | None = None,
    ) -> str:
        """Record one delivery (call inside the transaction of the change that caused
        it); returns its id. ``payload`` is the body the adapter sends. Deliveries with
        the same ``order_key`` go out one at a time in staging order, a retried one
        holding back the later ones; a ``MessageGroupId`` in ``options`` (a FIFO queue
        or topic) makes target + group the key unless one is given."""
        service = arn_service(target)
        if service not in ADAPTERS:
            raise ValueError(f"no delivery adapter for {target}")
        group = (options or {}).get("MessageGroupId")
        if order_key is None and group and service in ("sqs", "sns"):
            order_key = f"{target} {group}"
        delivery_id = delivery_id or str(uuid.uuid4())
        now = time.time()
        self._store.put(
            DELIVERIES,
            {
                "id": delivery_id,
                "seq": self.next_seq(),
                "target": target,
                "region": region or arn_region(target),
                "payload": payload.encode() if isinstance(payload, str) else payload,
                "options": json.dumps(options or {}),
                "principal": _principal_json(principal),
                "context": json.dumps(context or {}),
                "policy": (policy or RetryPolicy()).to_json(),
                "dead_letter": dead_letter,
                "on_success": on_success,
                "on_failure": on_failure,
                "hook_data": json.dumps(hook_data or {}),
                "attempts": 0,
                "tries": 0,
                "created_at": now,
                "not_before": not_before if not_before is not None else now,
                "last_error": None,
                "order_key": order_key,
            },
            replace=False,  # staging an id again (a retried request) keeps the first
        )
        self.added(delivery_id)
        return delivery_id

    async def deliver(self, row: dict) -> None:
        delivery = Delivery.from_row(row)
        policy = delivery.policy
        now = time.time()
        last = json.loads(row["last_error"] or "null")
        if policy.max_age_s is not None and now - delivery.created_at >= policy.max_age_s:
            await self._finish(row, delivery, _failure("EventAgeExceeded", delivery, last))
            return
        adapter = ADAPTERS.get(arn_service(delivery.target))
        if adapter is None:  # staged by a version that had this adapter
            missing = {"code": "InvalidTarget", "message": f"cannot deliver to {delivery.target}"}
            await self._finish(row, delivery, _failure("Rejected", delivery, missing))
            return
        delivery.tries += 1
        try:
            response = await adapter(self._platform, delivery)
        except Failed as failed:
            last = _jsonable(
                {"code": failed.code, "message": failed.message, "response": failed.response}
            )
            await self._counted(row, delivery, last)
        except ServiceError as error:
            last = {"code": error.code, "message": error.message, "status": error.status}
            if _transient(error) and policy.retry_transient:
                wait = policy.transient_delay(delivery.tries - delivery.attempts)
                self._retry(row, delivery, last, now + wait)
            else:
                delivery.attempts += 1
                log.warning("delivery %s to %s rejected: %s", delivery.id, delivery.target, error)
                await self._finish(row, delivery, _failure("Rejected", delivery, last))
        except Exception as error:
            log.exception("delivery %s to %s failed", delivery.id, delivery.target)
            await self._counted(row, delivery, {"code": "ServiceException", "message": str(error)})
        else:
            delivery.attempts += 1
            outcome = Outcome("Success", delivery.attempts, delivery.tries, response=response)
            await self._finish(row, delivery, outcome)

    async def _counted(self, row: dict, delivery: Delivery, last: dict) -> None:
        delivery.attempts += 1
        if delivery.attempts >= delivery.policy.max_attempts:
            await self._finish(row, delivery, _failure("RetriesExhausted", delivery, last))
            return
        self._retry(row, delivery, last, time.time() + delivery.policy.delay(delivery.attempts))

    def _retry(self, row: dict, delivery: Delivery, last: dict, when: float) -> None:
        if delivery.policy.max_age_s is not None:  # an age limit ends it on time
            when = min(when, delivery.created_at + delivery.policy.max_age_s)
        self._store.put(
            DELIVERIES,
            {
                **row,
                "attempts": delivery.attempts,
                "tries": delivery.tries,
                "not_before": when,
                "last_error": json.dumps(last),
            },
        )
        self.rescheduled(when)

    async def _finish(self, row: dict, delivery: Delivery, outcome: Outcome) -> None:
        """Retire the row; stage its dead-letter delivery and run its hook, atomically."""
        hook_name = row["on_success"] if outcome.succeeded else row["on_failure"]
        if not hook_name and (outcome.succeeded or not delivery.dead_letter):
            await self._retire_soon(delivery.id)
            self._log_failure(delivery, outcome)
            return
        hook = self._hook(hook_name) if hook_name else None
        if hook_name and hook is None:
            log.error("delivery %s names unknown hook %s", delivery.id, hook_name)
        try:
            self._retire(delivery, outcome, hook)
        except Exception:  # a failing hook must not keep the row coming back forever
            log.exception("hook %s of delivery %s failed", hook_name, delivery.id)
            self._retire(delivery, outcome, None)
        self._log_failure(delivery, outcome)

    def _log_failure(self, delivery: Delivery, outcome: Outcome) -> None:
        if not outcome.succeeded:
            log.warning(
                "delivery %s to %s ended %s after %d attempt(s): %s %s",
                delivery.id,
                delivery.target,
                outcome.condition,
                outcome.attempts,
                outcome.error_code,
                outcome.error_message,
            )

    async def _retire_soon(self, delivery_id: str) -> None:
        """Delete the row in the commit shared by the rows finishing in this event-loop
        step (on the loop: a worker thread holding the store would stall it anyway);
        returns once it is committed."""
        future = asyncio.get_running_loop().create_future()
        if not self._to_retire:
            asyncio.get_running_loop().call_soon(self._retire_batch)
        self._to_retire.append((delivery_id, future))
        await future

    def _retire_batch(self) -> None:
        batch, self._to_retire = self._to_retire, []
        try:
            with self._store.transaction():
                self._store.delete_many(DELIVERIES, [(key,) for key, _ in batch])
        except Exception as error:  # each delivery's handler learns it (and retries)
            for _, future in batch:
                if not future.done():  # (a handler cancelled at shutdown)
                    future.set_exception(error)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    def _retire(self, delivery: Delivery, outcome: Outcome, hook: Hook | None) -> None:
        with self._store.transaction():
            self._store.delete(DELIVERIES, delivery.id)
            if not outcome.succeeded and delivery.dead_letter:
                self.stage(
                    delivery.dead_letter,
                    delivery.payload,
                    principal=delivery.principal,
                    context=delivery.context,
                    policy=delivery.policy,
                )
            if hook is not None:
                hook(self, delivery, outcome)


def _failure(condition: str, delivery: Delivery, last: dict | None) -> Outcome:
    last = last or {}
    return Outcome(
        condition,
        delivery.attempts,
        delivery.tries,
        response=last.get("response"),
        error_code=last.get("code"),
        error_message=last.get("message"),
        status=last.get("status"),
    )


def _jsonable(value: Any) -> Any:
    """``value`` with bytes (a function's response payload) as text, so it can be kept."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    return value
