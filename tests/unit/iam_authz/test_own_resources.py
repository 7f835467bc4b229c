"""``only_own_resources``: the shortcut that lets a root skip resolving authorizations
must agree with them (every resource they name is in the caller's account)."""

from __future__ import annotations

import pytest

from sandlot.iam.actions import authorizations, only_own_resources

A, B, R = "000000000000", "111111111111", "us-east-1"
OPERATIONS = ("SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessageBatch",
              "SetQueueAttributes", "PurgeQueue")  # fmt: skip


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_queue_url_of_the_account_names_only_its_resources(operation) -> None:
    params = {"QueueUrl": f"http://127.0.0.1:4566/{A}/orders"}
    assert only_own_resources("sqs", params, A)
    for auth in authorizations("sqs", operation, params, A, R):
        assert auth.resources == (f"arn:aws:sqs:{R}:{A}:orders",)


@pytest.mark.parametrize(
    "params",
    [
        {"QueueUrl": f"http://127.0.0.1:4566/{B}/orders"},  # another account's queue
        {"QueueUrl": "http://127.0.0.1:4566/orders"},  # no account in the URL
        {"QueueUrl": f"http://127.0.0.1:4566/{A}/orders/extra"},
        {"QueueName": "orders", "QueueOwnerAWSAccountId": B},
        {},
    ],
)
def test_anything_else_is_resolved(params) -> None:
    assert not only_own_resources("sqs", params, A)


def test_other_services_are_resolved() -> None:
    assert not only_own_resources("sns", {"QueueUrl": f"http://h/{A}/q"}, A)
