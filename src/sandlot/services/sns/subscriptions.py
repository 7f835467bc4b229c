"""Subscription operations: subscribe (with the confirmation handshake for HTTP/S and
email), confirm, unsubscribe, list, and subscription attributes."""

from __future__ import annotations

import base64
import json
import re
import secrets
import uuid

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.sns import filtering
from sandlot.services.sns.base import SnsBase, Subscription, Topic, parse_arn
from sandlot.services.sns.errors import (
    authorization_error,
    invalid_parameter,
    subscription_not_found,
)
from sandlot.services.sns.schema import RESTORABLE, SUBSCRIPTIONS
from sandlot.services.sns.topics import check_delivery_policy

PROTOCOLS = (
    "http",
    "https",
    "email",
    "email-json",
    "sms",
    "sqs",
    "application",
    "lambda",
    "firehose",
)
# Protocols whose subscriptions wait for the endpoint's owner to confirm them.
CONFIRMED_BY_ENDPOINT = ("http", "https", "email", "email-json")
RAW_PROTOCOLS = ("sqs", "http", "https", "firehose")
SETTABLE = frozenset(
    {
        "DeliveryPolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
        "SubscriptionRoleArn",
        "ReplayPolicy",
    }
)
PAGE = 100
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{5,15}$")
PENDING = "pending confirmation"
RESTORE_WINDOW_S = 3 * 24 * 3600.0  # AWS's tokens are valid for three days


def _check_endpoint(protocol: str, endpoint: str | None, topic: Topic) -> None:
    if protocol not in PROTOCOLS:
        raise invalid_parameter(f"Amazon SNS does not support this protocol string: {protocol}")
    if not endpoint:
        raise invalid_parameter("Endpoint")
    if protocol in ("http", "https") and not endpoint.lower().startswith(protocol + "://"):
        raise invalid_parameter("Endpoint must match the specified protocol")
    if protocol in ("email", "email-json") and not _EMAIL.match(endpoint):
        raise invalid_parameter("Email address")
    if protocol == "sms" and not _PHONE.match(endpoint.replace("-", "")):
        raise invalid_parameter(f"Invalid SMS endpoint: {endpoint}")
    if protocol in ("sqs", "lambda", "firehose", "application"):
        parts = endpoint.split(":")
        service = {"sqs": "sqs", "lambda": "lambda", "firehose": "firehose", "application": "sns"}
        if len(parts) < 6 or parts[0] != "arn" or parts[2] != service[protocol]:
            raise invalid_parameter(
                f"{protocol.upper() if protocol == 'sqs' else protocol.capitalize()} endpoint ARN"
            )
    if protocol == "sqs":
        queue_fifo = endpoint.endswith(".fifo")
        if queue_fifo and not topic.fifo:
            raise invalid_parameter(
                "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
                "standard SNS topics"
            )
    if protocol in ("application", "firehose"):  # mobile push and Firehose: not served
        raise ServiceError(
            "NotImplemented",
            f"Subscriptions with protocol {protocol} are not implemented by sandlot yet.",
            501,
            sender_fault=False,
        )
    if topic.fifo and protocol not in ("sqs", "firehose"):
        raise invalid_parameter(
            "Invalid parameter: Endpoint Reason: FIFO topics only support SQS and Firehose "
            "endpoints"
        )


def check_attribute(name: str, value: str, protocol: str) -> str:
    """A subscription attribute checked as AWS does; the value as stored."""
    if name == "ReplayPolicy" and value:  # replays need FIFO archiving, not served
        raise ServiceError(
            "NotImplemented",
            "The subscription attribute ReplayPolicy is not implemented by sandlot yet.",
            501,
            sender_fault=False,
        )
    if name == "RawMessageDelivery":
        if value.lower() not in ("true", "false"):
            raise invalid_parameter(
                "RawMessageDelivery: Invalid value [" + value + "]. Must be true or false."
            )
        if protocol not in RAW_PROTOCOLS:
            raise invalid_parameter(
                f"Delivery protocol [{protocol}] does not support raw message delivery."
            )
        return value.lower()
    if name == "FilterPolicyScope" and value not in ("MessageAttributes", "MessageBody"):
        raise invalid_parameter(
            "Attributes Reason: FilterPolicyScope: Invalid value ["
            + value
            + "]. Please use either MessageBody or MessageAttributes"
        )
    if name == "DeliveryPolicy" and value:
        if protocol not in ("http", "https"):
            # AWS keeps it, but it only shapes HTTP/S retries; other protocols' are fixed.
            pass
        check_delivery_policy(value)
    if name == "RedrivePolicy" and value:
        try:
            policy = json.loads(value)
        except ValueError:
            raise invalid_parameter("RedrivePolicy: failed to parse JSON.") from None
        target = policy.get("deadLetterTargetArn") if isinstance(policy, dict) else None
        if not isinstance(target, str):
            raise invalid_parameter("RedrivePolicy: deadLetterTargetArn is missing")
        parts = target.split(":")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
            raise invalid_parameter("RedrivePolicy: deadLetterTargetArn is an invalid arn")
    return value


class SubscriptionOperations(SnsBase):
    def subscribe(self, ctx: RequestContext, params: dict) -> dict:
        topic = self.topic(ctx, params.get("TopicArn"))
        protocol = (params.get("Protocol") or "").lower()
        endpoint = params.get("Endpoint")
        _check_endpoint(protocol, endpoint, topic)
        given = {k: str(v) for k, v in (params.get("Attributes") or {}).items()}
        checked = {}
        for key, value in given.items():
            if key not in SETTABLE:
                raise invalid_parameter(f"Attributes Reason: Unknown attribute {key}")
            checked[key] = check_attribute(key, value, protocol)
        filtering.check(checked, subscribe=True)
        for existing in self.subscriptions_of(topic.arn):
            if existing.protocol == protocol and existing.endpoint == endpoint:
                if any(existing.attributes.get(k, "") != v for k, v in checked.items()):
                    raise invalid_parameter(
                        "Attributes Reason: Subscription already exists with different attributes"
                    )
                if existing.pending and not params.get("ReturnSubscriptionArn"):
                    return {"SubscriptionArn": PENDING}
                return {"SubscriptionArn": existing.arn}
        pending = protocol in CONFIRMED_BY_ENDPOINT
        sub = Subscription(
            {
                "arn": f"{topic.arn}:{uuid.uuid4()}",
                "topic": topic.arn,
                "owner": ctx.account_id,
                "protocol": protocol,
                "endpoint": endpoint,
                "pending": int(pending),
                "token": secrets.token_hex(64) if pending else None,
                "authenticated": 0 if pending else 1,
                "created": self.now(),
            },
            checked,
        )
        with self.store.transaction():  # the confirmation is staged with the row
            self.save_subscription(sub)
            if pending:
                self.send_confirmation(topic, sub)
        if pending and not params.get("ReturnSubscriptionArn"):
            return {"SubscriptionArn": PENDING}
        return {"SubscriptionArn": sub.arn}

    def confirm_subscription(self, ctx: RequestContext, params: dict) -> dict:
        topic = self.topic(ctx, params.get("TopicArn"))
        token = params.get("Token") or ""
        rows = self.store.select(SUBSCRIPTIONS, {"token": token}) if token else []
        rows = [r for r in rows if r["topic"] == topic.arn]
        if not rows:
            return self._restore(topic, token)
        sub = Subscription(rows[0], json.loads(rows[0]["attributes"]))
        if sub.pending:
            sub.row["pending"] = 0
            # ConfirmationWasAuthenticated: a signed confirmation asking for
            # AuthenticateOnUnsubscribe (then unsubscribing needs a signature too).
            authenticate = str(params.get("AuthenticateOnUnsubscribe", "")).lower() == "true"
            sub.row["authenticated"] = int(authenticate and _signed(ctx))
            self.save_subscription(sub)
        return {"SubscriptionArn": sub.arn}

    def _restore(self, topic, token: str) -> dict:
        """An UnsubscribeConfirmation's token: the subscription back, as it was."""
        kept = self.store.get(RESTORABLE, token) if token else None
        if kept is None or kept["topic"] != topic.arn or kept["expires"] < self.now():
            raise invalid_parameter("Invalid token")
        row = json.loads(kept["subscription"])
        with self.store.transaction():
            self.store.delete(RESTORABLE, token)
            self.save_subscription(Subscription(row, json.loads(row["attributes"])))
        return {"SubscriptionArn": row["arn"]}

    def unsubscribe(self, ctx: RequestContext, params: dict) -> dict:
        arn = params["SubscriptionArn"]
        parse_arn(arn, "SubscriptionArn")
        sub = self.subscription(arn)
        if sub is None:
            return {}  # AWS: unsubscribing an unknown subscription succeeds
        if sub.protocol in CONFIRMED_BY_ENDPOINT and sub.row["authenticated"] and not _signed(ctx):
            # Confirmed with AuthenticateOnUnsubscribe: the UnsubscribeURL alone is not enough.
            raise authorization_error(
                "Unsubscribe of this subscription requires an authenticated request "
                "(it was confirmed with AuthenticateOnUnsubscribe)"
            )
        topic = self.topic_by_arn(sub.row["topic"])
        with self.store.transaction():
            self.drop_subscription(sub)
            if sub.protocol in ("http", "https") and not sub.pending and topic is not None:
                # AWS tells the endpoint, with a token that restores the subscription.
                token = secrets.token_hex(64)
                self.store.put(
                    RESTORABLE,
                    {
                        "token": token,
                        "topic": topic.arn,
                        "subscription": json.dumps(
                            {**sub.row, "attributes": json.dumps(sub.attributes)}
                        ),
                        "expires": self.now() + RESTORE_WINDOW_S,
                    },
                )
                sub.row["token"] = token
                self.send_confirmation(topic, sub, "UnsubscribeConfirmation")
        return {}

    def list_subscriptions(self, ctx: RequestContext, params: dict) -> dict:
        return self._page(
            {"owner": ctx.account_id},
            params.get("NextToken"),
            lambda r: r["arn"].split(":")[3] == ctx.region,
        )

    def list_subscriptions_by_topic(self, ctx: RequestContext, params: dict) -> dict:
        topic = self.topic(ctx, params["TopicArn"])
        return self._page({"topic": topic.arn}, params.get("NextToken"), lambda r: True)

    def _page(self, where: dict, token: str | None, keep) -> dict:
        after = None
        if token:
            try:
                after = {"arn": base64.b64decode(token, validate=True).decode()}
            except ValueError:
                raise invalid_parameter("NextToken") from None
        rows = self.store.select(SUBSCRIPTIONS, where, order_by=("arn",), after=after)
        rows = [r for r in rows if keep(r)]
        out: dict = {
            "Subscriptions": [
                {
                    "SubscriptionArn": "PendingConfirmation" if r["pending"] else r["arn"],
                    "Owner": r["owner"],
                    "Protocol": r["protocol"],
                    "Endpoint": r["endpoint"],
                    "TopicArn": r["topic"],
                }
                for r in rows[:PAGE]
            ]
        }
        if len(rows) > PAGE:
            out["NextToken"] = base64.b64encode(rows[PAGE - 1]["arn"].encode()).decode()
        return out

    # -- attributes ---------------------------------------------------------------------

    def _subscription(self, arn: str) -> Subscription:
        parse_arn(arn, "SubscriptionArn")
        sub = self.subscription(arn)
        if sub is None:
            raise subscription_not_found()
        return sub

    def get_subscription_attributes(self, ctx: RequestContext, params: dict) -> dict:
        sub = self._subscription(params["SubscriptionArn"])
        values = {
            "SubscriptionArn": sub.arn,
            "TopicArn": sub.row["topic"],
            "Owner": sub.row["owner"],
            "Protocol": sub.protocol,
            "Endpoint": sub.endpoint,
            "PendingConfirmation": "true" if sub.pending else "false",
            "ConfirmationWasAuthenticated": "true" if sub.row["authenticated"] else "false",
            "RawMessageDelivery": "false",
            "SubscriptionPrincipal": f"arn:aws:iam::{sub.row['owner']}:root",
        }
        values.update({k: v for k, v in sub.attributes.items() if v != ""})
        if "FilterPolicy" in values:
            values.setdefault("FilterPolicyScope", "MessageAttributes")
        if sub.protocol in ("http", "https"):
            values["EffectiveDeliveryPolicy"] = json.dumps(
                self.effective_delivery_policy(sub), separators=(",", ":")
            )
        return {"Attributes": values}

    def set_subscription_attributes(self, ctx: RequestContext, params: dict) -> dict:
        sub = self._subscription(params["SubscriptionArn"])
        name, value = params["AttributeName"], str(params.get("AttributeValue") or "")
        if name not in SETTABLE:
            raise invalid_parameter("AttributeName")
        value = check_attribute(name, value, sub.protocol)
        updated = {**sub.attributes, name: value}
        if name == "FilterPolicy" and value.strip() in ("", "{}"):
            updated.pop("FilterPolicy")  # AWS: an empty policy removes the policy
        filtering.check(updated, subscribe=False)
        sub.attributes = updated
        self.save_subscription(sub)
        return {}

    def effective_delivery_policy(self, sub: Subscription) -> dict:
        """The HTTP/S retry policy that applies: the subscription's (unless the topic
        disables overrides), else the topic's, else AWS's default."""
        from sandlot.services.sns.topics import DEFAULT_DELIVERY_POLICY

        topic = self.topic_by_arn(sub.row["topic"])
        topic_policy = (
            json.loads(topic.attributes["DeliveryPolicy"])
            if topic is not None and topic.attributes.get("DeliveryPolicy")
            else DEFAULT_DELIVERY_POLICY
        ).get("http", {})
        own = (
            json.loads(sub.attributes["DeliveryPolicy"])
            if sub.attributes.get("DeliveryPolicy")
            else {}
        )
        if own and not topic_policy.get("disableSubscriptionOverrides"):
            retry = own.get("healthyRetryPolicy") or topic_policy.get("defaultHealthyRetryPolicy")
            request = own.get("requestPolicy") or topic_policy.get("defaultRequestPolicy")
        else:
            retry = topic_policy.get("defaultHealthyRetryPolicy")
            request = topic_policy.get("defaultRequestPolicy")
        defaults = DEFAULT_DELIVERY_POLICY["http"]
        return {
            "healthyRetryPolicy": {**defaults["defaultHealthyRetryPolicy"], **(retry or {})},
            "requestPolicy": {**defaults["defaultRequestPolicy"], **(request or {})},
            **({"throttlePolicy": own["throttlePolicy"]} if own.get("throttlePolicy") else {}),
        }


def _signed(ctx: RequestContext) -> bool:
    """Whether the request carried a signature (an internal call is a principal's own)."""
    if ctx.request is None:
        return True
    return "authorization" in ctx.request.headers or "X-Amz-Signature" in (ctx.request.query or "")
