"""Topic operations: create, list, delete, attributes, tags, permissions (the topic
policy) and the resource policy IAM evaluates requests against."""

from __future__ import annotations

import base64
import json
import re

from sandlot.iam.authorizer import ResourcePolicy
from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.sns.base import SnsBase, Topic, parse_arn
from sandlot.services.sns.errors import invalid_parameter, resource_not_found
from sandlot.services.sns.schema import SUBSCRIPTIONS, TOPICS

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,251}\.fifo$")
PAGE = 100
MAX_TAGS = 50

_FEEDBACK = [
    f"{proto}{kind}"
    for proto in ("Application", "HTTP", "Firehose", "Lambda", "SQS")
    for kind in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn")
]
# What SetTopicAttributes may change (FifoTopic only at creation).
SETTABLE = frozenset(
    {
        "DeliveryPolicy",
        "DisplayName",
        "Policy",
        "KmsMasterKeyId",
        "SignatureVersion",
        "TracingConfig",
        "ContentBasedDeduplication",
        "ArchivePolicy",
        "FifoThroughputScope",
        "DataProtectionPolicy",
        *_FEEDBACK,
    }
)
CREATABLE = SETTABLE | {"FifoTopic"}

# EffectiveDeliveryPolicy when the topic has none: AWS's default HTTP/S retry policy.
DEFAULT_DELIVERY_POLICY = {
    "http": {
        "defaultHealthyRetryPolicy": {
            "minDelayTarget": 20,
            "maxDelayTarget": 20,
            "numRetries": 3,
            "numMaxDelayRetries": 0,
            "numNoDelayRetries": 0,
            "numMinDelayRetries": 0,
            "backoffFunction": "linear",
        },
        "disableSubscriptionOverrides": False,
        "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"},
    }
}
_BACKOFF = ("linear", "arithmetic", "geometric", "exponential")


def default_policy(arn: str, account: str) -> dict:
    """The policy AWS gives a new topic: its owner's account may use it."""
    return {
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [
            {
                "Sid": "__default_statement_ID",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "SNS:GetTopicAttributes",
                    "SNS:SetTopicAttributes",
                    "SNS:AddPermission",
                    "SNS:RemovePermission",
                    "SNS:DeleteTopic",
                    "SNS:Subscribe",
                    "SNS:ListSubscriptionsByTopic",
                    "SNS:Publish",
                ],
                "Resource": arn,
                "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
            }
        ],
    }


def check_delivery_policy(text: str, name: str = "DeliveryPolicy") -> None:
    """A topic or subscription DeliveryPolicy: JSON with AWS's retry policy rules."""
    try:
        policy = json.loads(text)
    except ValueError:
        raise invalid_parameter(f"{name}: failed to parse JSON.") from None
    if not isinstance(policy, dict):
        raise invalid_parameter(f"{name}: must be a JSON object.")
    http = policy.get("http", policy)  # a subscription's policy has no "http" level
    retry = http.get("defaultHealthyRetryPolicy") or http.get("healthyRetryPolicy") or {}
    prefix = "http.defaultHealthyRetryPolicy" if "http" in policy else "healthyRetryPolicy"
    for key, value in retry.items():
        if key == "backoffFunction":
            if value not in _BACKOFF:
                raise invalid_parameter(
                    f"{name}: {prefix}.backoffFunction must be one of {_BACKOFF}"
                )
        elif not isinstance(value, int) or isinstance(value, bool):
            raise invalid_parameter(
                f"{name}: {prefix}.{key} type mismatch, expecting integer, "
                f"received a {type(value).__name__.replace('str', 'string')}"
            )
    if retry:
        low, high = retry.get("minDelayTarget", 20), retry.get("maxDelayTarget", 20)
        if low > high:
            raise invalid_parameter(f"{name}: {prefix}.minDelayTarget must be <= maxDelayTarget")
        if retry.get("numRetries", 3) > 100:
            raise invalid_parameter(f"{name}: {prefix}.numRetries must be <= 100")


# Attributes of features sandlot does not have (FIFO message archiving and replay,
# message data protection): refused rather than stored and silently ignored.
NOT_SERVED = frozenset({"ArchivePolicy", "DataProtectionPolicy"})


def _check_attribute(name: str, value: str, fifo: bool) -> None:
    if name in NOT_SERVED and value:
        raise ServiceError(
            "NotImplemented",
            f"The topic attribute {name} is not implemented by sandlot yet.",
            501,
            sender_fault=False,
        )
    if name == "SignatureVersion" and value not in ("1", "2"):
        raise invalid_parameter("SignatureVersion")
    if name == "TracingConfig" and value not in ("PassThrough", "Active"):
        raise invalid_parameter("TracingConfig")
    if name in ("Policy", "DataProtectionPolicy"):
        try:
            doc = json.loads(value)
        except ValueError:
            raise invalid_parameter(f"{name}: failed to parse JSON.") from None
        if not isinstance(doc, dict) or (name == "Policy" and "Statement" not in doc):
            raise invalid_parameter(f"{name} Error: Statement is missing")
    if name == "DeliveryPolicy":
        check_delivery_policy(value)
    if name == "ContentBasedDeduplication":
        if value.lower() not in ("true", "false"):
            raise invalid_parameter("ContentBasedDeduplication")
        if not fifo and value.lower() == "true":
            raise invalid_parameter(
                "Attributes Reason: Content based deduplication can only be set for FIFO topics"
            )
    if name in ("ArchivePolicy", "FifoThroughputScope") and not fifo:
        raise invalid_parameter(f"Attributes Reason: {name} can only be set for FIFO topics")
    if name == "FifoThroughputScope" and value not in ("Topic", "MessageGroup"):
        raise invalid_parameter("FifoThroughputScope")


class TopicOperations(SnsBase):
    def create_topic(self, ctx: RequestContext, params: dict) -> dict:
        name = params["Name"]
        given = {k: str(v) for k, v in (params.get("Attributes") or {}).items()}
        for key in given:
            if key not in CREATABLE:
                raise invalid_parameter(f"Attributes Reason: Unknown attribute {key}")
        fifo_flag = given.get("FifoTopic", "false").lower()
        if fifo_flag not in ("true", "false"):
            raise invalid_parameter("Attributes Reason: FifoTopic must be true or false")
        fifo = fifo_flag == "true"
        if fifo and not _FIFO_NAME.match(name):
            raise invalid_parameter(
                "Fifo Topic names must end with .fifo and must be made up of only uppercase "
                "and lowercase ASCII letters, numbers, underscores, and hyphens, and must be "
                "between 1 and 256 characters long."
            )
        if not fifo and (not _NAME.match(name)):
            raise invalid_parameter("Topic Name")
        for key, value in given.items():
            _check_attribute(key, value, fifo)
        arn = f"arn:aws:sns:{ctx.region}:{ctx.account_id}:{name}"
        tags = params.get("Tags") or []
        _check_tags(tags)
        existing = self.topic_by_arn(arn)
        if existing is not None:
            for key, value in given.items():
                if key == "FifoTopic":
                    value = value.lower()
                if existing.attributes.get(key, "false" if key == "FifoTopic" else "") != value:
                    raise invalid_parameter(
                        "Attributes Reason: Topic already exists with different attributes"
                    )
            if tags:
                merged = {
                    **json.loads(existing.row["tags"]),
                    **{t["Key"]: t["Value"] for t in tags},
                }
                if merged != json.loads(existing.row["tags"]):
                    raise invalid_parameter("Tags Reason: Topic already exists with different tags")
            return {"TopicArn": arn}
        attributes = {"DisplayName": "", **given}
        if fifo:
            attributes["FifoTopic"] = "true"
            attributes.setdefault("ContentBasedDeduplication", "false")
        else:
            attributes.pop("FifoTopic", None)
        if "ContentBasedDeduplication" in attributes:
            attributes["ContentBasedDeduplication"] = attributes[
                "ContentBasedDeduplication"
            ].lower()
        attributes.setdefault(
            "Policy", json.dumps(default_policy(arn, ctx.account_id), separators=(",", ":"))
        )
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "arn": arn,
            "tags": json.dumps({t["Key"]: t["Value"] for t in tags}),
            "created": self.now(),
        }
        self.save_topic(row, attributes, replace=False)
        return {"TopicArn": arn}

    def delete_topic(self, ctx: RequestContext, params: dict) -> dict:
        arn = params["TopicArn"]
        parse_arn(arn)
        topic = self.topic_by_arn(arn)
        if topic is None:
            return {}  # AWS: deleting a topic that does not exist succeeds
        with self.store.transaction():
            self.store.delete_where(SUBSCRIPTIONS, {"topic": arn})
            self.store.delete(TOPICS, topic.account, topic.region, topic.row["name"])
        self.forget_topic(arn)
        return {}

    def list_topics(self, ctx: RequestContext, params: dict) -> dict:
        after = None
        if params.get("NextToken"):
            try:
                after = {"name": base64.b64decode(params["NextToken"], validate=True).decode()}
            except ValueError:
                raise invalid_parameter("NextToken") from None
        rows = self.store.select(
            TOPICS,
            {"account": ctx.account_id, "region": ctx.region},
            order_by=("name",),
            after=after,
            limit=PAGE + 1,
        )
        out: dict = {"Topics": [{"TopicArn": r["arn"]} for r in rows[:PAGE]]}
        if len(rows) > PAGE:
            out["NextToken"] = base64.b64encode(rows[PAGE - 1]["name"].encode()).decode()
        return out

    # -- attributes -----------------------------------------------------------------------

    def get_topic_attributes(self, ctx: RequestContext, params: dict) -> dict:
        topic = self.topic(ctx, params["TopicArn"])
        subs = self.subscriptions_of(topic.arn)
        values = dict(topic.attributes)
        values.update(
            TopicArn=topic.arn,
            Owner=topic.account,
            SubscriptionsPending=str(sum(1 for s in subs if s.pending)),
            SubscriptionsConfirmed=str(sum(1 for s in subs if not s.pending)),
            SubscriptionsDeleted="0",
            EffectiveDeliveryPolicy=json.dumps(
                json.loads(values["DeliveryPolicy"])
                if values.get("DeliveryPolicy")
                else DEFAULT_DELIVERY_POLICY,
                separators=(",", ":"),
            ),
        )
        return {"Attributes": {k: v for k, v in values.items() if v != "" or k == "DisplayName"}}

    def set_topic_attributes(self, ctx: RequestContext, params: dict) -> dict:
        topic = self.topic(ctx, params["TopicArn"])
        name, value = params["AttributeName"], params.get("AttributeValue")
        if name not in SETTABLE:
            raise invalid_parameter("AttributeName")
        value = "" if value is None else str(value)
        if value != "" or name in ("SignatureVersion", "TracingConfig"):
            _check_attribute(name, value, topic.fifo)
        if name == "Policy" and value == "":
            value = json.dumps(default_policy(topic.arn, topic.account), separators=(",", ":"))
        if name == "ContentBasedDeduplication":
            value = value.lower()
        topic.attributes[name] = value
        self.save_topic(topic.row, topic.attributes)
        return {}

    # -- tags -------------------------------------------------------------------------------

    def _tagged(self, arn: str) -> Topic:
        try:
            parse_arn(arn, "ResourceArn")
        except ServiceError:
            raise resource_not_found() from None
        topic = self.topic_by_arn(arn)
        if topic is None:
            raise resource_not_found()
        return topic

    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        topic = self._tagged(params["ResourceArn"])
        tags = json.loads(topic.row["tags"])
        _check_tags(params.get("Tags") or [])
        tags.update({t["Key"]: t["Value"] for t in params.get("Tags") or []})
        if len(tags) > MAX_TAGS:
            raise ServiceError(
                "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded"
            )
        self.save_topic({**topic.row, "tags": json.dumps(tags)}, topic.attributes)
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        topic = self._tagged(params["ResourceArn"])
        tags = json.loads(topic.row["tags"])
        for key in params.get("TagKeys") or []:
            tags.pop(key, None)
        self.save_topic({**topic.row, "tags": json.dumps(tags)}, topic.attributes)
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: dict) -> dict:
        topic = self._tagged(params["ResourceArn"])
        tags = json.loads(topic.row["tags"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}

    # -- permissions (the topic policy) ---------------------------------------------------

    def add_permission(self, ctx: RequestContext, params: dict) -> dict:
        topic = self.topic(ctx, params["TopicArn"])
        label = params["Label"]
        accounts, actions = params.get("AWSAccountId") or [], params.get("ActionName") or []
        if not accounts:
            raise invalid_parameter("AWSAccountId")
        if not actions:
            raise invalid_parameter("ActionName")
        policy = json.loads(topic.attributes["Policy"])
        statements = policy.setdefault("Statement", [])
        if isinstance(statements, dict):
            statements = policy["Statement"] = [statements]
        if any(s.get("Sid") == label for s in statements):
            raise invalid_parameter("Statement already exists")
        principals = [f"arn:aws:iam::{a}:root" for a in accounts]
        statements.append(
            {
                "Sid": label,
                "Effect": "Allow",
                "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                "Action": [f"SNS:{a}" for a in actions]
                if len(actions) > 1
                else f"SNS:{actions[0]}",
                "Resource": topic.arn,
            }
        )
        topic.attributes["Policy"] = json.dumps(policy, separators=(",", ":"))
        self.save_topic(topic.row, topic.attributes)
        return {}

    def remove_permission(self, ctx: RequestContext, params: dict) -> dict:
        topic = self.topic(ctx, params["TopicArn"])
        policy = json.loads(topic.attributes["Policy"])
        statements = policy.get("Statement") or []
        if isinstance(statements, dict):
            statements = [statements]
        kept = [s for s in statements if s.get("Sid") != params["Label"]]
        if len(kept) == len(statements):
            raise invalid_parameter("Label")
        policy["Statement"] = kept
        topic.attributes["Policy"] = json.dumps(policy, separators=(",", ":"))
        self.save_topic(topic.row, topic.attributes)
        return {}

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """The topic policy of ``arn`` with its owner and tags; None if there is no topic."""
        topic = self.topic_by_arn(arn)
        if topic is None:
            return None
        tags = json.loads(topic.row["tags"])
        return ResourcePolicy(topic.attributes.get("Policy") or None, topic.account, tags=tags)


def _check_tags(tags: list[dict]) -> None:
    if len(tags) > MAX_TAGS:
        raise ServiceError(
            "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded"
        )
    for tag in tags:
        key = tag.get("Key", "")
        if not key or len(key) > 128 or key.startswith("aws:"):
            raise invalid_parameter(f"Tags Reason: Invalid tag key {key}")
        if len(tag.get("Value", "")) > 256:
            raise invalid_parameter(f"Tags Reason: Invalid tag value for key {key}")
