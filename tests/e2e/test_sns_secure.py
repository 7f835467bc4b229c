"""SNS's SubscribeURL and UnsubscribeURL in secure mode: opened unsigned, as a
receiver does, they confirm or cancel that one subscription and nothing else."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.recorders import HttpRecorder
from tests.e2e.server import SandlotServer


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("sns-secure")
    with SandlotServer(data_dir, "--secure") as running:
        yield running


def _sns(server):
    return make_client(server.endpoint, "sns", *server.root_keys())


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_capability_urls_work_unsigned_and_only_for_their_subscription(secure):
    sns = _sns(secure)
    topic = sns.create_topic(Name="secure-topic")["TopicArn"]
    endpoint = HttpRecorder(path="/sns")
    try:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
        confirmation = json.loads(endpoint.wait(1)[0].body)
        # Anything else unsigned is still refused.
        status, body = _get(f"{secure.endpoint}/?Action=ListTopics")
        assert status == 403 and "MissingAuthenticationToken" in body
        wrong = confirmation["SubscribeURL"].replace(confirmation["Token"], "0" * 128)
        status, body = _get(wrong)
        assert status == 400 and "Invalid token" in body
        status, body = _get(confirmation["SubscribeURL"])
        assert status == 200, body
        [sub] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        assert sub["SubscriptionArn"].startswith(topic + ":")
        sns.publish(TopicArn=topic, Message="hello")
        notification = json.loads(endpoint.wait(2)[1].body)
        status, _ = _get(notification["UnsubscribeURL"])
        assert status == 200
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
        # Confirmed with AuthenticateOnUnsubscribe: the UnsubscribeURL alone is refused.
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url + "/2")
        endpoint.wait(4)  # the UnsubscribeConfirmation and the new SubscriptionConfirmation
        [token] = [
            json.loads(body)["Token"]
            for _, _, headers, body in endpoint.received
            if headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        ][1:]
        arn = sns.confirm_subscription(
            TopicArn=topic, Token=token, AuthenticateOnUnsubscribe="true"
        )["SubscriptionArn"]
        attrs = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
        assert attrs["ConfirmationWasAuthenticated"] == "true"
        sns.publish(TopicArn=topic, Message="again")
        unsubscribe = json.loads(endpoint.wait(5)[4].body)["UnsubscribeURL"]
        status, body = _get(unsubscribe)
        assert status == 403 and "AuthorizationError" in body
        sns.unsubscribe(SubscriptionArn=arn)  # signed: allowed
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    finally:
        endpoint.close()
