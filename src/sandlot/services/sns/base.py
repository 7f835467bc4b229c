"""What every SNS operation area shares: storage of topics and subscriptions (rows
cached in memory, since every publish reads them), the topic a request names, and the
URLs SNS puts in messages (all pointing at sandlot)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import quote

from sandlot.services.provider import Provider, RequestContext
from sandlot.services.sns.errors import invalid_parameter, topic_not_found
from sandlot.services.sns.schema import MIGRATIONS, SUBSCRIPTIONS, TOPICS
from sandlot.services.sns.signing import CERT_PATH, Signer


@dataclass
class Topic:
    row: dict
    attributes: dict[str, str]

    @property
    def arn(self) -> str:
        return self.row["arn"]

    @property
    def account(self) -> str:
        return self.row["account"]

    @property
    def region(self) -> str:
        return self.row["region"]

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoTopic") == "true"


@dataclass
class Subscription:
    row: dict
    attributes: dict[str, str]

    @property
    def arn(self) -> str:
        return self.row["arn"]

    @property
    def protocol(self) -> str:
        return self.row["protocol"]

    @property
    def endpoint(self) -> str:
        return self.row["endpoint"]

    @property
    def pending(self) -> bool:
        return bool(self.row["pending"])

    @property
    def raw(self) -> bool:
        return self.attributes.get("RawMessageDelivery", "false").lower() == "true"


def parse_arn(arn: str, what: str = "TopicArn") -> tuple[str, str, str]:
    """(region, account, name) of an SNS ARN; AWS's InvalidParameter if it is not one."""
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) < 6:
        raise invalid_parameter(
            f"{what} Reason: An ARN must have at least 6 elements, not {len(parts)}"
        )
    if parts[0] != "arn" or parts[2] != "sns":
        raise invalid_parameter(what)
    return parts[3], parts[4], parts[5]


class SnsBase(Provider):
    service = "sns"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.store = platform.store
        self.store.migrate("sns", MIGRATIONS)
        self.signer = Signer(platform.data_dir)
        self._topics: dict[str, Topic | None] = {}  # by ARN
        self._subscriptions: dict[str, list[Subscription]] = {}  # by topic ARN

    # -- topics -------------------------------------------------------------------------

    def topic_by_arn(self, arn: str) -> Topic | None:
        if arn not in self._topics:
            parts = arn.split(":")
            row = (
                self.store.get(TOPICS, parts[4], parts[3], parts[5])
                if len(parts) == 6 and parts[2] == "sns"
                else None
            )
            self._topics[arn] = Topic(row, json.loads(row["attributes"])) if row else None
        found = self._topics[arn]
        return Topic(dict(found.row), dict(found.attributes)) if found is not None else None

    def topic(self, ctx: RequestContext, arn: str | None, what: str = "TopicArn") -> Topic:
        """The topic ``arn`` names, or AWS's InvalidParameter/NotFound."""
        if not arn:
            raise invalid_parameter(what)
        parse_arn(arn, what)
        found = self.topic_by_arn(arn)
        if found is None:
            raise topic_not_found()
        return found

    def save_topic(self, row: dict, attributes: dict[str, str], *, replace: bool = True) -> bool:
        self._topics.pop(row["arn"], None)
        return self.store.put(
            TOPICS, {**row, "attributes": json.dumps(attributes)}, replace=replace
        )

    def forget_topic(self, arn: str) -> None:
        self._topics.pop(arn, None)
        self._subscriptions.pop(arn, None)

    # -- subscriptions ------------------------------------------------------------------

    def subscriptions_of(self, topic_arn: str) -> list[Subscription]:
        """Every subscription of the topic (pending ones too), oldest first."""
        if topic_arn not in self._subscriptions:
            rows = self.store.select(SUBSCRIPTIONS, {"topic": topic_arn}, order_by=("created",))
            self._subscriptions[topic_arn] = [
                Subscription(r, json.loads(r["attributes"])) for r in rows
            ]
        return [
            Subscription(dict(s.row), dict(s.attributes)) for s in self._subscriptions[topic_arn]
        ]

    def subscription(self, arn: str) -> Subscription | None:
        row = self.store.get(SUBSCRIPTIONS, arn)
        return Subscription(row, json.loads(row["attributes"])) if row else None

    def save_subscription(self, sub: Subscription) -> None:
        self._subscriptions.pop(sub.row["topic"], None)
        self.store.put(SUBSCRIPTIONS, {**sub.row, "attributes": json.dumps(sub.attributes)})

    def drop_subscription(self, sub: Subscription) -> None:
        self._subscriptions.pop(sub.row["topic"], None)
        self.store.delete(SUBSCRIPTIONS, sub.arn)

    # -- URLs in messages ------------------------------------------------------------------

    def endpoint(self) -> str:
        return self.platform.endpoint_url

    def signing_cert_url(self) -> str:
        return self.endpoint() + CERT_PATH

    def unsubscribe_url(self, subscription_arn: str) -> str:
        return f"{self.endpoint()}/?Action=Unsubscribe&SubscriptionArn={quote(subscription_arn, safe='')}"

    def subscribe_url(self, topic_arn: str, token: str) -> str:
        return (
            f"{self.endpoint()}/?Action=ConfirmSubscription&TopicArn="
            f"{quote(topic_arn, safe='')}&Token={token}"
        )

    @staticmethod
    def now() -> float:
        return time.time()
