"""SQS's durable state: tables and their migrations.

A queue is keyed by (account, region, name) and known elsewhere by its ARN, which is
what message rows and IAM use. Every message is one row of ``sqs_messages`` keyed by
(queue ARN, seq); ``seq`` is the send order (clock-based, increasing across restarts),
which is FIFO order and the SequenceNumber. A message's state is its due time:
``visible_at`` is when it can next be received (send time + delay, or the end of its
visibility timeout), ``received`` says whether it was ever received (delayed versus
in flight when ``visible_at`` is in the future). Nothing is scheduled in memory, so
whatever comes due while the server is down is simply due when it is back.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

QUEUES = Table(
    "sqs_queues",
    {
        "account": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "arn": "TEXT",
        "attributes": "TEXT",  # JSON: the settable attributes, as strings, as AWS stores them
        "tags": "TEXT",  # JSON object
        "created": "INTEGER",  # epoch seconds
        "modified": "INTEGER",
        "purged": "REAL",  # when PurgeQueue last ran (60 s apart)
    },
    ("account", "region", "name"),
    indexes=(("arn",),),
)

MESSAGES = Table(
    "sqs_messages",
    {
        "queue": "TEXT",  # the queue's ARN
        "seq": "INTEGER",
        "message_id": "TEXT",
        "body": "TEXT",
        "attributes": "TEXT",  # JSON: MessageAttributes as sent (binary values base64)
        "system": "TEXT",  # JSON: MessageSystemAttributes (AWSTraceHeader) as sent
        "md5_body": "TEXT",
        "md5_attributes": "TEXT",
        "sent": "REAL",  # epoch seconds (SentTimestamp); retention counts from it
        "visible_at": "REAL",  # when it may next be received
        "received": "INTEGER",  # 1 once received
        "receive_count": "INTEGER",
        "first_received": "REAL",
        "receipt": "TEXT",  # the nonce of the latest receipt handle
        "group_id": "TEXT",  # FIFO MessageGroupId
        "dedup_id": "TEXT",  # FIFO MessageDeduplicationId (explicit or content-based)
        "sender": "TEXT",  # SenderId
        "dead_letter_source": "TEXT",  # the ARN of the queue it was redriven from
    },
    ("queue", "seq"),
    indexes=(("queue", "visible_at"), ("queue", "received", "visible_at")),
)

# FIFO deduplication: a (queue, scope key) seen within the last five minutes.
DEDUP = Table(
    "sqs_dedup",
    {
        "queue": "TEXT",
        "key": "TEXT",  # the deduplication id, prefixed by the group with messageGroup scope
        "message_id": "TEXT",
        "seq": "INTEGER",
        "expires": "REAL",
    },
    ("queue", "key"),
)

# Recently deleted queue names: AWS refuses to re-create one for 60 seconds.
DELETED = Table(
    "sqs_deleted",
    {"account": "TEXT", "region": "TEXT", "name": "TEXT", "deleted": "REAL"},
    ("account", "region", "name"),
)

# Dead-letter queue redrive tasks (StartMessageMoveTask).
MOVE_TASKS = Table(
    "sqs_move_tasks",
    {
        "task_handle": "TEXT",
        "source_arn": "TEXT",
        "destination_arn": "TEXT",  # NULL: back to each message's source queue
        "rate": "INTEGER",  # MaxNumberOfMessagesPerSecond, NULL when not given
        "status": "TEXT",  # RUNNING, COMPLETED, CANCELLED, FAILED
        "started": "INTEGER",  # epoch milliseconds
        "moved": "INTEGER",
        "to_move": "INTEGER",  # messages in the source queue when the task started
        "last_seq": "INTEGER",  # the newest message it moves (later arrivals stay)
        "failure": "TEXT",
    },
    ("task_handle",),
    indexes=(("source_arn", "started"),),
)

MIGRATIONS = [
    Migration(1, create=QUEUES),
    Migration(2, create=MESSAGES),
    Migration(3, create=DEDUP),
    Migration(4, create=DELETED),
    Migration(5, create=MOVE_TASKS),
]
