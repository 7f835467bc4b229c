"""Queue attributes: names, defaults and AWS's validation (pure, no I/O).

Settable attributes are stored as the strings AWS returns; the computed ones
(``QueueArn``, ``Approximate*``, timestamps) are produced by the provider.
"""

from __future__ import annotations

import json
import re

from sandlot.services.sqs.errors import (
    invalid_attribute_name,
    invalid_attribute_value,
    invalid_parameter,
)

# name → (lowest, highest) for integer attributes (the SetQueueAttributes reference).
RANGES = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 1_048_576),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
_CHOICES = {
    "DeduplicationScope": ("queue", "messageGroup"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),
}
BOOLEANS = ("FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled")
FIFO_ONLY = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
SETTABLE = (
    *RANGES,
    "Policy",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "SqsManagedSseEnabled",
    *FIFO_ONLY,
)
COMPUTED = (
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
)
READABLE = frozenset((*SETTABLE, "FifoQueue", *COMPUTED))

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo")


def check_queue_name(name: str, fifo: bool) -> None:
    if fifo:
        if not _FIFO_NAME.fullmatch(name):
            raise invalid_parameter(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, "
                "or underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
    elif not _QUEUE_NAME.fullmatch(name):
        raise invalid_parameter(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )


def is_fifo(attributes: dict[str, str]) -> bool:
    return attributes.get("FifoQueue") == "true"


def validate(given: dict[str, str], *, fifo: bool, creating: bool, queue_exists) -> dict[str, str]:
    """The attributes ``given`` to CreateQueue/SetQueueAttributes, checked and normalised.

    ``queue_exists(arn)`` returns the attributes of a queue (or None), to check a
    redrive policy's dead-letter queue.
    """
    out: dict[str, str] = {}
    for name, value in given.items():
        if name == "FifoQueue" and creating:
            pass
        elif name not in SETTABLE or (name in FIFO_ONLY and not fifo):
            raise invalid_attribute_name(name)
        value = str(value)
        if name in RANGES:
            lowest, highest = RANGES[name]
            if not re.fullmatch(r"-?\d+", value.strip()) or not (lowest <= int(value) <= highest):
                raise invalid_attribute_value(name)
            value = str(int(value))
        elif name in BOOLEANS:
            if value.lower() not in ("true", "false"):
                raise invalid_attribute_value(name)
            value = value.lower()
        elif name in _CHOICES and value not in _CHOICES[name]:
            raise invalid_attribute_value(name)
        elif name == "Policy" and value:
            _check_policy(value)
        elif name == "RedrivePolicy" and value:
            value = _check_redrive(value, fifo, queue_exists)
        elif name == "RedriveAllowPolicy" and value:
            value = _check_redrive_allow(value)
        out[name] = value
    # One server-side encryption at a time: a KMS key turns SSE-SQS off.
    if out.get("KmsMasterKeyId"):
        if out.get("SqsManagedSseEnabled") == "true":
            raise invalid_attribute_value(
                "SqsManagedSseEnabled",
                "You can use one type of server-side encryption (SSE) at "
                "one time. You can either enable KMS SSE or SQS SSE.",
            )
        out["SqsManagedSseEnabled"] = "false"
        out.setdefault("KmsDataKeyReusePeriodSeconds", "300")
    return out


def _check_policy(text: str) -> None:
    try:
        document = json.loads(text)
    except ValueError:
        raise invalid_attribute_value("Policy") from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise invalid_attribute_value("Policy")


def _check_redrive(text: str, fifo: bool, queue_exists) -> str:
    try:
        policy = json.loads(text)
    except ValueError:
        raise invalid_parameter(
            "Value "
            + text
            + " for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map."
        ) from None
    if not isinstance(policy, dict):
        raise invalid_attribute_value("RedrivePolicy")
    target, count = policy.get("deadLetterTargetArn"), policy.get("maxReceiveCount")
    if not target or count is None:
        raise invalid_parameter(
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: Redrive policy does "
            "not contain mandatory attribute: "
            + ("deadLetterTargetArn." if not target else "maxReceiveCount.")
        )
    try:
        count = int(count)
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= 1000:
        raise invalid_parameter(
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: Invalid value for "
            "maxReceiveCount: "
            f"{policy.get('maxReceiveCount')}, valid values are from 1 to 1000 both inclusive."
        )
    dlq = queue_exists(target)
    if dlq is None:
        raise invalid_parameter(
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: Dead-letter target "
            "does not exist."
        )
    if is_fifo(dlq) != fifo:
        raise invalid_parameter(
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue "
            "must be same type of queue as the source."
        )
    return json.dumps(
        {"deadLetterTargetArn": target, "maxReceiveCount": count}, separators=(",", ":")
    )


def _check_redrive_allow(text: str) -> str:
    try:
        policy = json.loads(text)
    except ValueError:
        raise invalid_attribute_value("RedriveAllowPolicy") from None
    permission = policy.get("redrivePermission") if isinstance(policy, dict) else None
    sources = policy.get("sourceQueueArns") if isinstance(policy, dict) else None
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise invalid_attribute_value("RedriveAllowPolicy")
    if (permission == "byQueue") != bool(sources) or (sources and len(sources) > 10):
        raise invalid_attribute_value("RedriveAllowPolicy")
    return text


def redrive_policy(attributes: dict[str, str]) -> tuple[str, int] | None:
    """(dead-letter queue ARN, maxReceiveCount) of a queue with a redrive policy."""
    text = attributes.get("RedrivePolicy")
    if not text:
        return None
    policy = json.loads(text)
    return policy["deadLetterTargetArn"], int(policy["maxReceiveCount"])


def allows_source(dlq_attributes: dict[str, str], source_arn: str) -> bool:
    """Whether a dead-letter queue's RedriveAllowPolicy lets ``source_arn`` use it."""
    text = dlq_attributes.get("RedriveAllowPolicy")
    if not text:
        return True
    policy = json.loads(text)
    permission = policy.get("redrivePermission")
    if permission == "denyAll":
        return False
    if permission == "byQueue":
        return source_arn in (policy.get("sourceQueueArns") or [])
    return True
