"""SQS helpers for e2e tests whose results arrive on a queue: new queues (optionally
open to an AWS service sending for one source ARN), receiving with a deadline, counts."""

from __future__ import annotations

import json
import time

from tests.e2e.functions import unique


def queue(sqs, prefix: str, **attributes) -> tuple[str, str]:
    """(url, arn) of a new queue named ``prefix`` plus a unique suffix."""
    name = unique(prefix) + (".fifo" if attributes.get("FifoQueue") == "true" else "")
    attributes = {k: str(v) for k, v in attributes.items()}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, queue_arn(sqs, url)


def queue_arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def allow_service(sqs, url: str, service: str, source_arn: str) -> None:
    """Let ``service`` (e.g. events.amazonaws.com) send to the queue for ``source_arn``."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn(sqs, url),
                "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})


def receive(sqs, url: str, count: int = 1, timeout: float = 15) -> list[dict]:
    """Up to the first ``count`` messages (with their attributes), deleted as received;
    fewer when ``timeout`` passes first."""
    messages: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])  # fmt: skip
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages += got
    return messages


def received(sqs, url: str, count: int, timeout: float = 20) -> list[dict]:
    """At least ``count`` messages (deleted as received); AssertionError when fewer
    arrive in time."""
    found = receive(sqs, url, count, timeout)
    assert len(found) >= count, f"only {len(found)} of {count} messages arrived"
    return found


def events(sqs, out_url: str, count: int, timeout: float = 30) -> list[dict]:
    """The first ``count`` JSON messages a function reported to ``out_url`` (in the order
    it sent them); AssertionError when fewer arrive in time."""
    return [json.loads(m["Body"]) for m in received(sqs, out_url, count, timeout)]


def counts(sqs, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    got = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(got["ApproximateNumberOfMessages"]), int(
        got["ApproximateNumberOfMessagesNotVisible"]
    )


def wait_counts(sqs, url: str, expected: tuple[int, int], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if counts(sqs, url) == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"queue counts {counts(sqs, url)}, expected {expected}")
