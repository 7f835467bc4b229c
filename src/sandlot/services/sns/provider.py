"""Amazon SNS's API: the provider class, assembled from one mixin per area (topics,
subscriptions, publishing) over ``SnsBase``."""

from __future__ import annotations

from sandlot.services.sns.publish import PublishOperations
from sandlot.services.sns.subscriptions import SubscriptionOperations
from sandlot.services.sns.topics import TopicOperations


class SnsProvider(TopicOperations, SubscriptionOperations, PublishOperations):
    service = "sns"
