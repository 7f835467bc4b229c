"""Queue operations: create, find, list, delete, attributes, tags, permissions, purge."""

from __future__ import annotations

import base64
import json
import time

from sandlot.iam.authorizer import ResourcePolicy
from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.sqs import attributes as attrs
from sandlot.services.sqs.base import SqsBase
from sandlot.services.sqs.errors import (
    invalid_attribute_name,
    invalid_parameter,
    invalid_value,
    queue_does_not_exist,
)
from sandlot.services.sqs.schema import DELETED, QUEUES
from sandlot.services.sqs.storage import Queue

RECENTLY_DELETED_S = 60.0
PURGE_INTERVAL_S = 60.0
MAX_TAGS = 50
# AddPermission's action names (the batch versions come with their single one).
_PERMISSION_ACTIONS = frozenset(
    {
        "*",
        "SendMessage",
        "ReceiveMessage",
        "DeleteMessage",
        "ChangeMessageVisibility",
        "GetQueueAttributes",
        "GetQueueUrl",
        "ListDeadLetterSourceQueues",
        "PurgeQueue",
    }
)


class QueueOperations(SqsBase):
    def create_queue(self, ctx: RequestContext, params: dict) -> dict:
        name = params["QueueName"]
        given = {k: str(v) for k, v in (params.get("Attributes") or {}).items()}
        fifo = given.get("FifoQueue", "false").lower() == "true"
        if given.get("FifoQueue", "false").lower() not in ("true", "false"):
            raise attrs.invalid_attribute_value("FifoQueue")
        attrs.check_queue_name(name, fifo)
        checked = attrs.validate(given, fifo=fifo, creating=True, queue_exists=self._attributes_of)
        arn = f"arn:aws:sqs:{ctx.region}:{ctx.account_id}:{name}"
        self._check_dead_letter_target(checked, arn)
        existing = self.storage.queue(ctx.account_id, ctx.region, name)
        if existing is not None:
            for key, value in checked.items():
                if existing.attributes.get(key, "false" if key == "FifoQueue" else None) != value:
                    raise ServiceError(
                        "QueueNameExists",
                        "A queue already exists with the same name and a different value for "
                        f"attribute {key}",
                    )
            return {"QueueUrl": self.queue_url(ctx, existing)}
        deleted = self.store.get(DELETED, ctx.account_id, ctx.region, name)
        if deleted is not None and time.time() - deleted["deleted"] < RECENTLY_DELETED_S:
            raise ServiceError(
                "QueueDeletedRecently",
                "You must wait 60 seconds after deleting a queue before you can create another "
                "with the same name.",
            )
        tags = params.get("tags") or {}
        _check_tags(tags)
        values = {**attrs.DEFAULTS, **(attrs.FIFO_DEFAULTS if fifo else {}), **checked}
        if not fifo:
            values.pop("FifoQueue", None)
        now = int(time.time())
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "arn": arn,
            "attributes": json.dumps(values),
            "tags": json.dumps(tags),
            "created": now,
            "modified": now,
            "purged": None,
        }
        if not self.storage.put_queue(row, replace=False):
            return {
                "QueueUrl": self.queue_url(
                    ctx, self.storage.queue(ctx.account_id, ctx.region, name)
                )
            }
        return {"QueueUrl": self.queue_url(ctx, Queue(row, values))}

    def get_queue_url(self, ctx: RequestContext, params: dict) -> dict:
        owner = params.get("QueueOwnerAWSAccountId") or ctx.account_id
        found = self.storage.queue(owner, ctx.region, params["QueueName"])
        if found is None:
            raise queue_does_not_exist()
        return {"QueueUrl": self.queue_url(ctx, found)}

    def list_queues(self, ctx: RequestContext, params: dict) -> dict:
        prefix = params.get("QueueNamePrefix") or ""
        limit = params.get("MaxResults")
        if limit is not None and not 1 <= limit <= 1000:
            raise invalid_value(
                limit, "MaxResults", "MaxResults must be an integer between 1 and 1000."
            )
        after = None
        if params.get("NextToken"):
            try:
                after = {"name": base64.b64decode(params["NextToken"]).decode()}
            except ValueError:
                raise invalid_parameter("Invalid NextToken value.") from None
        rows = self.store.select(
            QUEUES,
            {"account": ctx.account_id, "region": ctx.region},
            order_by=("name",),
            after=after,
            bounds={"name": (prefix, prefix + "\U0010ffff") if prefix else (None, None)},
            limit=(limit or 1000) + 1,
        )
        page = rows[: limit or 1000]
        out: dict = {}
        if page:
            out["QueueUrls"] = [self.queue_url(ctx, Queue(r, {})) for r in page]
        if limit is not None and len(rows) > limit:
            out["NextToken"] = base64.b64encode(page[-1]["name"].encode()).decode()
        return out

    def delete_queue(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        with self.store.transaction():
            self.storage.purge(queue.arn)
            self.storage.drop_queue(queue.account, ctx.region, queue.name)
            self.store.put(
                DELETED,
                {
                    "account": queue.account,
                    "region": ctx.region,
                    "name": queue.name,
                    "deleted": time.time(),
                },
            )
        self.wakeups.notify(queue.arn)
        return {}

    # -- attributes ---------------------------------------------------------------------

    def get_queue_attributes(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        names = params.get("AttributeNames") or []
        for name in names:
            if name != "All" and name not in attrs.READABLE:
                raise invalid_attribute_name(name)
        if not names:
            return {}
        values = self.attribute_values(queue)
        if "All" not in names:
            values = {k: v for k, v in values.items() if k in names}
        return {"Attributes": values} if values else {}

    def attribute_values(self, queue: Queue) -> dict[str, str]:
        """Every attribute of ``queue``, computed ones included."""
        now = time.time()
        visible, in_flight, delayed = self.storage.counts(queue, now)
        values = {k: v for k, v in queue.attributes.items() if v != ""}
        values.update(
            QueueArn=queue.arn,
            ApproximateNumberOfMessages=str(visible),
            ApproximateNumberOfMessagesNotVisible=str(in_flight),
            ApproximateNumberOfMessagesDelayed=str(delayed),
            CreatedTimestamp=str(queue.row["created"]),
            LastModifiedTimestamp=str(queue.row["modified"]),
        )
        return values

    def set_queue_attributes(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        given = {k: str(v) for k, v in (params.get("Attributes") or {}).items()}
        if "FifoQueue" in given:
            raise invalid_attribute_name("FifoQueue")
        checked = attrs.validate(
            given, fifo=queue.fifo, creating=False, queue_exists=self._attributes_of
        )
        self._check_dead_letter_target(checked, queue.arn)
        queue.attributes.update(checked)
        queue.row["modified"] = int(time.time())
        self.storage.save_queue(queue)
        return {}

    def _attributes_of(self, arn: str) -> dict[str, str] | None:
        found = self.storage.queue_by_arn(arn)
        return found.attributes if found is not None else None

    def _check_dead_letter_target(self, checked: dict[str, str], source_arn: str) -> None:
        redrive = attrs.redrive_policy(checked)
        if redrive is None:
            return
        dlq = self._attributes_of(redrive[0])
        if dlq is not None and not attrs.allows_source(dlq, source_arn):
            raise invalid_parameter(
                f"Value {checked['RedrivePolicy']} for parameter RedrivePolicy is invalid. "
                "Reason: Queue "
                f"{source_arn} is not allowed to use {redrive[0]} as its dead-letter queue."
            )

    # -- tags ---------------------------------------------------------------------------

    def tag_queue(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        tags = {**json.loads(queue.row["tags"] or "{}"), **(params.get("Tags") or {})}
        _check_tags(tags)
        self.storage.put_queue({**queue.row, "tags": json.dumps(tags)})
        return {}

    def untag_queue(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        tags = json.loads(queue.row["tags"] or "{}")
        for key in params.get("TagKeys") or []:
            tags.pop(key, None)
        self.storage.put_queue({**queue.row, "tags": json.dumps(tags)})
        return {}

    def list_queue_tags(self, ctx: RequestContext, params: dict) -> dict:
        tags = json.loads(self.queue(ctx, params["QueueUrl"]).row["tags"] or "{}")
        return {"Tags": tags} if tags else {}

    # -- permissions (the queue policy) -------------------------------------------------

    def add_permission(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        label = params["Label"]
        accounts, actions = params.get("AWSAccountIds") or [], params.get("Actions") or []
        if not accounts:
            raise ServiceError(
                "MissingParameter", "The request must contain the parameter AWSAccountIds."
            )
        if not actions:
            raise ServiceError(
                "MissingParameter", "The request must contain the parameter Actions."
            )
        for action in actions:
            if action not in _PERMISSION_ACTIONS:
                raise invalid_value(
                    action, "ActionName", "Only the queue owner is allowed to invoke this action."
                )
        policy = self._policy(queue)
        if any(s.get("Sid") == label for s in policy["Statement"]):
            raise invalid_value(label, "Label", "Already exists.")
        principals = [f"arn:aws:iam::{a}:root" for a in accounts]
        policy["Statement"].append(
            {
                "Sid": label,
                "Effect": "Allow",
                "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                "Action": [f"SQS:{a}" for a in actions]
                if len(actions) > 1
                else f"SQS:{actions[0]}",
                "Resource": queue.arn,
            }
        )
        self._save_policy(queue, policy)
        return {}

    def remove_permission(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        label = params["Label"]
        policy = self._policy(queue)
        kept = [s for s in policy["Statement"] if s.get("Sid") != label]
        if len(kept) == len(policy["Statement"]):
            raise invalid_value(label, "Label", "can't find label on existing policy.")
        policy["Statement"] = kept
        self._save_policy(queue, policy if kept else None)
        return {}

    def _policy(self, queue: Queue) -> dict:
        text = queue.attributes.get("Policy")
        if text:
            policy = json.loads(text)
            if isinstance(policy.get("Statement"), dict):
                policy["Statement"] = [policy["Statement"]]
            return policy
        return {"Version": "2012-10-17", "Id": f"{queue.arn}/SQSDefaultPolicy", "Statement": []}

    def _save_policy(self, queue: Queue, policy: dict | None) -> None:
        queue.attributes["Policy"] = json.dumps(policy, separators=(",", ":")) if policy else ""
        queue.row["modified"] = int(time.time())
        self.storage.save_queue(queue)

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """The queue policy of ``arn`` with the queue's owner and tags, which IAM
        evaluates requests against; None when there is no such queue."""
        queue = self.storage.queue_by_arn(arn)
        if queue is None:
            return None
        tags = json.loads(queue.row["tags"] or "{}")
        return ResourcePolicy(queue.attributes.get("Policy") or None, queue.account, tags=tags)

    # -- purge --------------------------------------------------------------------------

    def purge_queue(self, ctx: RequestContext, params: dict) -> dict:
        queue = self.queue(ctx, params["QueueUrl"])
        now = time.time()
        if queue.row["purged"] and now - queue.row["purged"] < PURGE_INTERVAL_S:
            raise ServiceError(
                "PurgeQueueInProgress",
                f"Only one PurgeQueue operation on {queue.name} is allowed every 60 seconds.",
            )
        with self.store.transaction():
            self.storage.purge(queue.arn)
            self.storage.put_queue({**queue.row, "purged": now})
        return {}


def _check_tags(tags: dict) -> None:
    if len(tags) > MAX_TAGS:
        raise invalid_parameter(f"Too many tags added for queue. Maximum of {MAX_TAGS} tags.")
    for key in tags:
        if not key or len(key) > 128 or key.startswith("aws:"):
            raise invalid_parameter(f"Tag key {key} is invalid.")
