"""Fan-out on the shared delivery path (``events/delivery.py``): what SNS stages for
each subscription, its retry policies and its dead-letter hook.

SQS (``SendMessage``) and Lambda (``Invoke``, asynchronous) deliveries use the path's
own adapters, which call through ``Platform.call`` as the service principal
``sns.amazonaws.com`` with ``aws:SourceArn`` = the topic and ``aws:SourceAccount``: the
queue policy or the function's permission must allow it, as in AWS, and IAM's decision
log records a refusal. HTTP/S deliveries (and the confirmation handshake) use the
path's http(s) adapter with the endpoint URL as the target: a POST where, as AWS does,
only 5xx, 429, timeouts and refused connections are retried and other 4xx answers are
final (``http_options``: the status rule is data in the delivery).

Retries follow AWS's delivery policies. SQS and Lambda: the AWS-managed policy (3
immediate, 2 at 1 s, 10 backing off from 1 s to 20 s, then every 20 s), where AWS's
client-side errors (access denied, no such queue or function) are final and
server-side ones retried; HTTP/S: the effective DeliveryPolicy, where 5xx, 429,
timeouts and refused connections count as failed attempts and other 4xx are final.
``retry_timing=fast`` (the default) divides the waits by 100; ``aws`` keeps them.
A delivery that fails for good goes to the subscription's RedrivePolicy queue.
"""

from __future__ import annotations

import base64
import functools
import json
import logging

from sandlot.events.delivery import Deliveries, Delivery, Outcome, RetryPolicy
from sandlot.iam.principal import Principal

log = logging.getLogger("sandlot.sns")

SNS_PRINCIPAL = "sns.amazonaws.com"
HTTP_TIMEOUT_S = 15.0  # AWS waits 15 seconds for an HTTP/S endpoint
# HTTP/S answers that end a delivery at once: client errors other than 429 (AWS's rule).
FINAL_STATUSES = ((400, 428), (430, 499))
DEAD_LETTER_HOOK = "sns-dead-letter"
# The AWS-managed policy's waits before each retry: 2 more immediate tries, 2 at 1 s,
# 10 backing off from 1 s to 20 s, then 20 s (the last wait repeats: 100,000 of them).
_MANAGED_DELAYS = (0.0, 0.0, 1.0, 1.0) + tuple(min(20.0, 2.0**i) for i in range(10))
_MANAGED_ATTEMPTS = 100_015
_MANAGED_AGE_S = 23 * 24 * 3600.0  # 100,015 attempts over 23 days


def scale(retry_timing: str) -> float:
    return 1.0 if retry_timing == "aws" else 0.01


def principal(account: str) -> Principal:
    return Principal.service(SNS_PRINCIPAL, account)


@functools.cache
def managed_policy(factor: float) -> RetryPolicy:
    """AWS's managed policy for SQS and Lambda, its waits and 23-day limit scaled."""
    return RetryPolicy(
        max_attempts=_MANAGED_ATTEMPTS,
        delays_s=tuple(delay * factor for delay in _MANAGED_DELAYS),
        max_age_s=_MANAGED_AGE_S * factor,
        transient_base_s=1.0 * factor,
        transient_max_s=20.0 * factor,
    )


def http_policy(retry: dict, factor: float) -> RetryPolicy:
    """An HTTP/S ``healthyRetryPolicy`` (AWS's four phases) as a retry policy."""
    retries = int(retry.get("numRetries", 3))
    low, high = float(retry.get("minDelayTarget", 20)), float(retry.get("maxDelayTarget", 20))
    no_delay = int(retry.get("numNoDelayRetries", 0))
    at_min = int(retry.get("numMinDelayRetries", 0))
    at_max = int(retry.get("numMaxDelayRetries", 0))
    backoff = max(0, retries - no_delay - at_min - at_max)
    function = retry.get("backoffFunction", "linear")
    steps = []
    for i in range(1, backoff + 1):
        if function == "geometric":
            fraction = (i / backoff) ** 2
        elif function == "exponential":
            fraction = (2**i - 1) / (2**backoff - 1)
        elif function == "arithmetic":
            fraction = (i * (i + 1) / 2) / (backoff * (backoff + 1) / 2)
        else:
            fraction = i / backoff
        steps.append(low + (high - low) * fraction)
    delays = ([0.0] * no_delay + [low] * at_min + steps + [high] * at_max)[:retries]
    return RetryPolicy(
        max_attempts=retries + 1,
        delays_s=tuple(d * factor for d in delays) or (0.0,),
        max_age_s=3600.0 * factor + HTTP_TIMEOUT_S * (retries + 1),  # AWS's hard hour
        retry_transient=False,
    )


def http_options(headers: dict[str, str]) -> dict:
    """The http(s) adapter's options for an SNS POST: headers, AWS's timeout and which
    answers are final."""
    return {"headers": headers, "timeout_s": HTTP_TIMEOUT_S, "final_statuses": FINAL_STATUSES}


def dead_letter(
    deliveries: Deliveries, delivery: Delivery, outcome: Outcome, *, factor: float
) -> None:
    """A delivery that failed for good: its message to the subscription's dead-letter
    queue (hook data: the queue, the body and, for a FIFO queue, group and dedup ids),
    sent as SNS with the managed SQS retry policy."""
    data = delivery.hook_data
    log.warning(
        "SNS delivery for %s ended %s (%s: %s): to its dead-letter queue %s",
        data["subscription"],
        outcome.condition,
        outcome.error_code,
        outcome.error_message,
        data["queue"],
    )
    deliveries.stage(
        data["queue"],
        data["body"],
        principal=delivery.principal,
        context=delivery.context,
        options=data.get("options") or {},
        policy=managed_policy(factor),
    )


def register(deliveries: Deliveries, retry_timing: str) -> None:
    """SNS's hook on the delivery path (at start-up: staged rows outlive the
    process)."""
    factor = scale(retry_timing)
    deliveries.register_hook(
        DEAD_LETTER_HOOK,
        lambda d, delivery, outcome: dead_letter(d, delivery, outcome, factor=factor),
    )


def sqs_attributes(attributes: dict[str, dict]) -> dict[str, dict]:
    """A publish's message attributes as SQS message attributes (raw delivery)."""
    out = {}
    for name, value in attributes.items():
        kind = value["DataType"]
        if kind.startswith("Binary"):  # base64 text: staged options are JSON
            raw = value["BinaryValue"]
            raw = raw if isinstance(raw, bytes) else raw.encode()
            out[name] = {"DataType": kind, "BinaryValue": base64.b64encode(raw).decode()}
        else:
            out[name] = {"DataType": kind, "StringValue": value["StringValue"]}
    return out


def redrive_target(attributes: dict[str, str]) -> str | None:
    text = attributes.get("RedrivePolicy")
    return json.loads(text).get("deadLetterTargetArn") if text else None
