"""SNS's capability URLs: the ``SubscribeURL`` and ``UnsubscribeURL`` SNS puts in
messages are opened by whoever receives them, unsigned (AWS: the token, or the
subscription ARN, is the authority). ``capability_account`` recognizes such a request
so the gateway can let it through in secure mode, as the root of the account that owns
the topic, for that one operation: ConfirmSubscription still needs the right token,
and an Unsubscribe of a subscription confirmed with ``AuthenticateOnUnsubscribe`` still
needs a signature (``subscriptions.py``)."""

from __future__ import annotations

from urllib.parse import parse_qs

_ARN_PARAMETER = {"ConfirmSubscription": "TopicArn", "Unsubscribe": "SubscriptionArn"}


def capability_account(method: str, query: str) -> str | None:
    """The account whose topic an unsigned ``GET ?Action=ConfirmSubscription&TopicArn=…
    &Token=…`` or ``GET ?Action=Unsubscribe&SubscriptionArn=…`` names, else None."""
    if method != "GET" or not query:
        return None
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    name = _ARN_PARAMETER.get(params.get("Action", ""))
    if name is None or (name == "TopicArn" and not params.get("Token")):
        return None
    parts = params.get(name, "").split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[4].isdigit():
        return None
    return parts[4]
