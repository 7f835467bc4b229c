"""Fan-out: handing one published message to each subscription, with SNS's retry
policies and the subscription dead-letter queue.

Each protocol's target is reached as AWS's SNS reaches it: SQS ``SendMessage`` and
Lambda ``Invoke`` (asynchronous) through ``Platform.call`` as the service principal
``sns.amazonaws.com`` with ``aws:SourceArn`` = the topic (so the queue policy or the
function's permission must allow it, and IAM's decision log says why not); HTTP/S by a
POST; email, email-json and SMS are recorded (nowhere to send them locally).

Retries follow AWS's delivery policies: for SQS and Lambda the AWS-managed one (3
immediate, 2 at 1 s, 10 backing off from 1 s to 20 s, then every 20 s), for HTTP/S the
effective DeliveryPolicy; delays are scaled by ``sns_retry_delay_scale``. Client errors
(AWS: a deleted endpoint, a policy that denies) are not retried. When a delivery fails
for good, the message goes to the subscription's RedrivePolicy queue if it has one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.services.sns.base import Subscription, Topic

log = logging.getLogger("sandlot.sns")

SNS_PRINCIPAL = "sns.amazonaws.com"
HTTP_TIMEOUT_S = 15.0  # AWS waits 15 seconds for an HTTP/S endpoint
# Errors an AWS-managed endpoint answers that retrying cannot fix (AWS's "client-side
# errors": the endpoint is gone or its policy does not allow SNS).
_CLIENT_ERRORS = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "ResourceNotFoundException",
        "InvalidParameterValue",
        "InvalidMessageContents",
        "InvalidParameterValueException",
        "KMS.AccessDeniedException",
        "KmsAccessDenied",
        "RequestEntityTooLargeException",
    }
)
# The AWS-managed policy's phases: (attempts, delay before each in seconds).
_MANAGED = [(3, 0.0), (2, 1.0)] + [(1, min(20.0, 2.0**i)) for i in range(10)] + [(100_000, 20.0)]


class Permanent(Exception):
    """A delivery failure retrying cannot fix."""


@dataclass
class Delivery:
    """One message for one subscription: what to send and how."""

    topic: Topic
    subscription: Subscription
    send: Callable[[], Awaitable[None]]  # one attempt; raises on failure
    dead_letter: Callable[[], Awaitable[None]] | None  # the DLQ send, when there is a DLQ
    delays: list[float]  # the wait before each retry (len = retries)


def managed_delays() -> list[float]:
    """The AWS-managed retry schedule, capped at what a local loop can use (the post-
    backoff phase's 100,000 attempts 20 s apart are kept to 100)."""
    out: list[float] = []
    for count, delay in _MANAGED:
        out += [delay] * min(count, 100)
    return out[1:]  # the first of the immediate phase is the first attempt


def http_delays(policy: dict) -> list[float]:
    """The retry waits of an HTTP/S ``healthyRetryPolicy`` (AWS's four phases)."""
    retries = int(policy.get("numRetries", 3))
    low, high = float(policy.get("minDelayTarget", 20)), float(policy.get("maxDelayTarget", 20))
    no_delay = int(policy.get("numNoDelayRetries", 0))
    at_min = int(policy.get("numMinDelayRetries", 0))
    at_max = int(policy.get("numMaxDelayRetries", 0))
    backoff = max(0, retries - no_delay - at_min - at_max)
    function = policy.get("backoffFunction", "linear")
    steps = []
    for i in range(1, backoff + 1):
        fraction = i / backoff
        if function == "geometric":
            fraction = fraction**2
        elif function == "exponential":
            fraction = (2**i - 1) / (2**backoff - 1)
        elif function == "arithmetic":
            fraction = (i * (i + 1) / 2) / (backoff * (backoff + 1) / 2)
        steps.append(low + (high - low) * fraction)
    return ([0.0] * no_delay + [low] * at_min + steps + [high] * at_max)[:retries]


async def run(delivery: Delivery, scale: float) -> bool:
    """Attempt ``delivery`` by its schedule; on final failure, its dead-letter queue.
    True when delivered."""
    waits = [0.0, *delivery.delays]
    sub = delivery.subscription.arn
    for attempt, wait in enumerate(waits, 1):
        if wait:
            await asyncio.sleep(wait * scale)
        try:
            await delivery.send()
            return True
        except Permanent as failure:
            log.warning("SNS delivery to %s failed for good: %s", sub, failure)
            break
        except Exception as failure:  # a server-side error: retried
            log.info("SNS delivery to %s, attempt %d failed: %s", sub, attempt, failure)
    if delivery.dead_letter is not None:
        try:
            await delivery.dead_letter()
        except Exception as failure:
            log.warning("SNS dead-letter queue of %s refused the message: %s", sub, failure)
    return False


async def call_as_sns(
    platform,
    topic: Topic,
    target_arn: str,
    service: str,
    operation: str,
    params: dict,
    request_id: str,
) -> dict:
    """``Platform.call`` as SNS delivering for ``topic``; AWS's client-side errors
    become ``Permanent``. ``request_id`` (``request_id()``) names the delivery in IAM's
    decision log."""
    try:
        return await platform.call(
            service,
            operation,
            params,
            principal=Principal.service(SNS_PRINCIPAL, topic.account),
            region=target_arn.split(":")[3] or topic.region,
            request_id=request_id,
            context={"aws:SourceArn": topic.arn, "aws:SourceAccount": topic.account},
        )
    except ServiceError as error:
        if error.code in _CLIENT_ERRORS or error.status in (403, 404):
            raise Permanent(f"{error.code}: {error.message}") from None
        raise


def request_id(message_id: str, sub: Subscription) -> str:
    """The request id of a delivery: ``<MessageId>.<subscription id>`` (the last part of
    its ARN); ``sandlot iam explain`` with it says why a delivery was refused."""
    return f"{message_id}.{sub.arn.rsplit(':', 1)[-1]}"


def queue_url(endpoint: str, queue_arn: str) -> str:
    parts = queue_arn.split(":")
    return f"{endpoint}/{parts[4]}/{parts[5]}"


async def http_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url`` (in a thread: urllib blocks); the status. 5xx, timeouts
    and connection errors raise (retried), other 4xx raise ``Permanent``."""

    def post() -> int:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    status = await asyncio.to_thread(post)
    if 200 <= status < 300:
        return status
    if status >= 500 or status == 429:
        raise ConnectionError(f"HTTP {status} from {url}")
    raise Permanent(f"HTTP {status} from {url}")


def sqs_attributes(attributes: dict[str, dict]) -> dict[str, dict]:
    """A publish's message attributes as SQS message attributes (raw delivery)."""
    out = {}
    for name, value in attributes.items():
        kind = value["DataType"]
        if kind.startswith("Binary"):
            out[name] = {"DataType": kind, "BinaryValue": value["BinaryValue"]}
        else:
            out[name] = {"DataType": kind, "StringValue": value["StringValue"]}
    return out


def redrive_target(sub: Subscription) -> str | None:
    text = sub.attributes.get("RedrivePolicy")
    return json.loads(text).get("deadLetterTargetArn") if text else None
