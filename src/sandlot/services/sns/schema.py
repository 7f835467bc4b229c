"""SNS's durable state: tables and their migrations.

A topic is keyed by (account, region, name) and known elsewhere by its ARN; a
subscription by its ARN (``<topic ARN>:<uuid>``), indexed by topic. Email, email-json
and SMS have nowhere to go from a local machine: what would be sent to them is kept in
``sns_outbox`` (read with ``GET /_sandlot/sns/messages``). FIFO topics remember each
deduplication id for five minutes in ``sns_dedup``; an unsubscribed HTTP/S subscription
can be restored with its UnsubscribeConfirmation token from ``sns_restorable``.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

TOPICS = Table(
    "sns_topics",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "attributes": "TEXT",  # JSON: the settable attributes, as strings, as AWS keeps them
        "tags": "TEXT",  # JSON object
        "created": "REAL",
    },
    ("account", "region", "name"),
    indexes=(("arn",),),
)

SUBSCRIPTIONS = Table(
    "sns_subscriptions",
    {
        "arn": "TEXT",  # "<topic ARN>:<uuid>", also while pending (AWS answers "pending confirmation")
        "topic": "TEXT",  # the topic's ARN
        "owner": "TEXT",  # the subscriber's account
        "protocol": "TEXT",
        "endpoint": "TEXT",
        "attributes": "TEXT",  # JSON: the settable attributes, as strings
        "pending": "INTEGER",  # 1 until confirmed
        "token": "TEXT",  # the confirmation token sent to the endpoint
        "authenticated": "INTEGER",  # ConfirmationWasAuthenticated
        "created": "REAL",
    },
    ("arn",),
    indexes=(("topic",), ("token",)),
)

DEDUP = Table(
    "sns_dedup",
    {
        "topic": "TEXT",
        "key": "TEXT",  # the MessageDeduplicationId (explicit or content SHA-256)
        "message_id": "TEXT",
        "sequence": "TEXT",
        "expires": "REAL",
    },
    ("topic", "key"),
)

OUTBOX = Table(
    "sns_outbox",
    {
        "seq": "INTEGER",
        "subscription": "TEXT",
        "topic": "TEXT",
        "protocol": "TEXT",  # email, email-json, sms
        "endpoint": "TEXT",
        "kind": "TEXT",  # SubscriptionConfirmation, Notification
        "message": "TEXT",  # what the endpoint would get (the JSON envelope for email-json)
        "subject": "TEXT",
        "time": "REAL",
    },
    ("seq",),
    indexes=(("endpoint", "seq"),),
)

# Unsubscribed HTTP/S subscriptions: the UnsubscribeConfirmation's token restores one
# (ConfirmSubscription or its SubscribeURL) for three days, as in AWS.
RESTORABLE = Table(
    "sns_restorable",
    {
        "token": "TEXT",
        "topic": "TEXT",
        "subscription": "TEXT",  # JSON: the subscription row as it was
        "expires": "REAL",
    },
    ("token",),
)

MIGRATIONS = [
    Migration(1, create=TOPICS),
    Migration(2, create=SUBSCRIPTIONS),
    Migration(3, create=DEDUP),
    Migration(4, create=OUTBOX),
    Migration(5, create=RESTORABLE),
]
