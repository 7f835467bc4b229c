"""SNS end to end with boto3 and the AWS CLI: topics, subscriptions, publishing, the
signed envelope, fan-out to SQS, Lambda and HTTP, FIFO, and AWS's errors."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.e2e.conftest import aws, cli_env
from tests.e2e.functions import create_function, unique, wait_for_log_events
from tests.e2e.recorders import HttpRecorder
from tests.e2e.roles import ensure_role
from tests.e2e.tools import sns_validator

ACCOUNT = "000000000000"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _queue(
    sqs, name: str, *, allow_topic: str | None = None, fifo: bool = False
) -> tuple[str, str]:
    attributes = {"FifoQueue": "true"} if fifo else {}
    url = sqs.create_queue(QueueName=name + (".fifo" if fifo else ""), Attributes=attributes)[
        "QueueUrl"
    ]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    if allow_topic:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": allow_topic}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


def _receive(sqs, url: str, count: int = 1, timeout: float = 10) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
    return got


def _verify(envelope: dict) -> None:
    """Check an SNS signature as a receiver does: fetch SigningCertURL, rebuild AWS's
    canonical string, verify SHA1withRSA (v1) or SHA256withRSA (v2)."""
    pem = urllib.request.urlopen(envelope["SigningCertURL"], timeout=5).read()
    cert = x509.load_pem_x509_certificate(pem)
    if envelope["Type"] == "Notification":
        keys = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    else:
        keys = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
    text = "".join(f"{k}\n{envelope[k]}\n" for k in keys if k in envelope).encode()
    digest = hashes.SHA256() if envelope["SignatureVersion"] == "2" else hashes.SHA1()
    cert.public_key().verify(
        base64.b64decode(envelope["Signature"]), text, padding.PKCS1v15(), digest
    )


def _code(call, *args, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    error = info.value.response["Error"]
    return (
        error["Code"],
        error["Message"],
        info.value.response["ResponseMetadata"]["HTTPStatusCode"],
    )


# -- topics ----------------------------------------------------------------------------


def test_topic_lifecycle_attributes_tags_and_policy(client):
    sns = client("sns")
    name = _name("orders")
    arn = sns.create_topic(Name=name, Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:{ACCOUNT}:{name}"
    assert sns.create_topic(Name=name)["TopicArn"] == arn  # idempotent
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["Owner"] == ACCOUNT and attrs["SubscriptionsConfirmed"] == "0"
    assert attrs["DisplayName"] == ""
    policy = json.loads(attrs["Policy"])
    statement = policy["Statement"][0]
    assert policy["Id"] == "__default_policy_ID"
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceOwner": ACCOUNT}}
    assert "SNS:Publish" in statement["Action"] and statement["Resource"] == arn
    assert (
        json.loads(attrs["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"][
            "numRetries"
        ]
        == 3
    )
    sns.set_topic_attributes(TopicArn=arn, AttributeName="SignatureVersion", AttributeValue="2")
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Orders")
    sns.set_topic_attributes(
        TopicArn=arn, AttributeName="KmsMasterKeyId", AttributeValue="alias/aws/sns"
    )
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["SignatureVersion"] == "2" and attrs["DisplayName"] == "Orders"
    assert attrs["KmsMasterKeyId"] == "alias/aws/sns"
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    sns.add_permission(
        TopicArn=arn, Label="partner", AWSAccountId=["111122223333"], ActionName=["Publish"]
    )
    statements = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])[
        "Statement"
    ]
    assert statements[-1] == {
        "Sid": "partner",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "SNS:Publish",
        "Resource": arn,
    }
    sns.remove_permission(TopicArn=arn, Label="partner")
    assert (
        len(json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])["Statement"])
        == 1
    )
    sns.delete_topic(TopicArn=arn)
    assert _code(sns.get_topic_attributes, TopicArn=arn)[:1] == ("NotFound",)
    sns.delete_topic(TopicArn=arn)  # deleting a deleted topic succeeds, as in AWS


def test_topic_policy_governs_other_accounts(client):
    sns = client("sns")
    topic = sns.create_topic(Name=_name("shared"))["TopicArn"]
    other = client("sns", key="111122223333")  # dev mode: that account's root
    code, message, status = _code(other.publish, TopicArn=topic, Message="m")
    assert (code, status) == ("AuthorizationError", 403)
    assert message == (
        f"User: arn:aws:iam::111122223333:root is not authorized to perform: sns:Publish on "
        f"resource: {topic} because no resource-based policy allows the sns:Publish action"
    )
    sns.add_permission(
        TopicArn=topic, Label="partner", AWSAccountId=["111122223333"], ActionName=["Publish"]
    )
    assert other.publish(TopicArn=topic, Message="m")["MessageId"]
    code, _, _ = _code(other.delete_topic, TopicArn=topic)  # only Publish was granted
    assert code == "AuthorizationError"
    sns.remove_permission(TopicArn=topic, Label="partner")
    assert _code(other.publish, TopicArn=topic, Message="m")[0] == "AuthorizationError"


def test_list_topics_pages_by_100(client):
    sns = client("sns")
    prefix = _name("page")
    arns = {sns.create_topic(Name=f"{prefix}-{i:03d}")["TopicArn"] for i in range(105)}
    seen, token, pages = set(), None, 0
    while True:
        page = sns.list_topics(**({"NextToken": token} if token else {}))
        pages += 1
        assert len(page["Topics"]) <= 100
        seen |= {t["TopicArn"] for t in page["Topics"]}
        token = page.get("NextToken")
        if not token:
            break
    assert arns <= seen and pages >= 2


def test_fifo_topic_attributes(client):
    sns = client("sns")
    name = _name("fifo") + ".fifo"
    arn = sns.create_topic(
        Name=name, Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"}
    )["TopicArn"]
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["FifoTopic"] == "true" and attrs["ContentBasedDeduplication"] == "true"


# -- bad input -------------------------------------------------------------------------------


def test_bad_input_answers_aws_errors(client):
    sns = client("sns")
    assert _code(sns.create_topic, Name="bad name") == (
        "InvalidParameter",
        "Invalid parameter: Topic Name",
        400,
    )
    code, message, _ = _code(sns.create_topic, Name="x", Attributes={"FifoTopic": "true"})
    assert code == "InvalidParameter" and "Fifo Topic names must end with .fifo" in message
    assert _code(sns.create_topic, Name="t", Attributes={"Nope": "1"})[:2] == (
        "InvalidParameter",
        "Invalid parameter: Attributes Reason: Unknown attribute Nope",
    )
    missing = f"arn:aws:sns:us-east-1:{ACCOUNT}:{_name('missing')}"
    assert _code(sns.publish, TopicArn=missing, Message="m") == (
        "NotFound",
        "Topic does not exist",
        404,
    )
    arn = sns.create_topic(Name=_name("bad"))["TopicArn"]
    assert _code(sns.publish, TopicArn=arn, Message="")[:2] == (
        "InvalidParameter",
        "Invalid parameter: Empty message",
    )
    assert _code(sns.publish, TopicArn=arn, Message="x" * (256 * 1024 + 1))[:2] == (
        "InvalidParameter",
        "Invalid parameter: Message too long",
    )
    assert _code(sns.publish, TopicArn=arn, Message="{}", MessageStructure="json")[:2] == (
        "InvalidParameter",
        "Invalid parameter: Message Structure - No default entry in JSON message body",
    )
    code, message, _ = _code(
        sns.publish,
        TopicArn=arn,
        Message="m",
        MessageAttributes={"n": {"DataType": "Number", "StringValue": "abc"}},
    )
    assert (code, message) == (
        "ParameterValueInvalid",
        "Could not cast message attribute 'n' value to number.",
    )
    code, message, _ = _code(
        sns.publish,
        TopicArn=arn,
        Message="m",
        MessageAttributes={"n": {"DataType": "Date", "StringValue": "x"}},
    )
    assert code == "ParameterValueInvalid" and "supported type prefixes" in message
    assert _code(sns.subscribe, TopicArn=arn, Protocol="carrier-pigeon", Endpoint="x")[:2] == (
        "InvalidParameter",
        "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon",
    )
    assert _code(sns.subscribe, TopicArn=arn, Protocol="sqs", Endpoint="not-an-arn")[:2] == (
        "InvalidParameter",
        "Invalid parameter: SQS endpoint ARN",
    )
    assert _code(
        sns.get_subscription_attributes, SubscriptionArn=arn + ":" + str(uuid.uuid4())
    ) == ("NotFound", "Subscription does not exist", 404)
    fifo = sns.create_topic(Name=_name("badfifo") + ".fifo", Attributes={"FifoTopic": "true"})[
        "TopicArn"
    ]
    assert _code(sns.publish, TopicArn=fifo, Message="m")[:2] == (
        "InvalidParameter",
        "Invalid parameter: The MessageGroupId parameter is required for FIFO topics",
    )
    assert (
        "ContentBasedDeduplication"
        in _code(sns.publish, TopicArn=fifo, Message="m", MessageGroupId="g")[1]
    )
    code, _, _ = _code(
        sns.publish_batch,
        TopicArn=arn,
        PublishBatchRequestEntries=[{"Id": "a", "Message": "1"}, {"Id": "a", "Message": "2"}],
    )
    assert code == "BatchEntryIdsNotDistinct"
    archived = {"FifoTopic": "true", "ArchivePolicy": '{"MessageRetentionPeriod": "7"}'}
    code, _, status = _code(sns.create_topic, Name=_name("a") + ".fifo", Attributes=archived)
    assert (code, status) == ("NotImplemented", 501)  # not served: refused, not ignored
    assert _code(sns.confirm_subscription, TopicArn=arn, Token="nope")[:2] == (
        "InvalidParameter",
        "Invalid parameter: Invalid token",
    )


# -- SQS ---------------------------------------------------------------------------------------


def test_topic_to_sqs_with_a_queue_policy_delivers_a_signed_envelope(client):
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name=_name("to-sqs"))["TopicArn"]
    url, queue = _queue(sqs, _name("q"), allow_topic=topic)
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue)["SubscriptionArn"]
    assert sub.startswith(topic + ":")
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert listed == [
        {
            "SubscriptionArn": sub,
            "Owner": ACCOUNT,
            "Protocol": "sqs",
            "Endpoint": queue,
            "TopicArn": topic,
        }
    ]
    published = sns.publish(
        TopicArn=topic,
        Message="hello",
        Subject="greeting",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "order"},
            "n": {"DataType": "Number", "StringValue": "7"},
            "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    [message] = _receive(sqs, url)
    envelope = json.loads(message["Body"])
    assert envelope["Type"] == "Notification" and envelope["MessageId"] == published["MessageId"]
    assert envelope["TopicArn"] == topic and envelope["Message"] == "hello"
    assert envelope["Subject"] == "greeting"
    assert envelope["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "order"},
        "n": {"Type": "Number", "Value": "7"},
        "b": {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01").decode()},
    }
    assert envelope["SignatureVersion"] == "1"
    assert "SigningCertURL" in envelope and "SigningCertUrl" not in envelope
    assert envelope["UnsubscribeURL"].endswith(
        "Action=Unsubscribe&SubscriptionArn=" + urllib.parse.quote(sub, safe="")
    )
    _verify(envelope)
    # SignatureVersion 2: SHA256withRSA.
    sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
    sns.publish(TopicArn=topic, Message="v2")
    [message] = _receive(sqs, url)
    envelope = json.loads(message["Body"])
    assert envelope["SignatureVersion"] == "2"
    _verify(envelope)
    tampered = {**envelope, "Message": "v3"}
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidSignature
        _verify(tampered)


def test_topic_to_sqs_without_a_queue_policy_is_refused_and_logged(client, server):
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name=_name("no-policy"))["TopicArn"]
    url, queue = _queue(sqs, _name("closed"))
    dlq_url, dlq = _queue(sqs, _name("dlq"), allow_topic=topic)
    sub = sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq})},
    )["SubscriptionArn"]
    message_id = sns.publish(TopicArn=topic, Message="refused")["MessageId"]
    # The subscription's dead-letter queue gets what the queue refused...
    [dead] = _receive(sqs, dlq_url)
    assert json.loads(dead["Body"])["MessageId"] == message_id
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None
    # ...the server's log says why, under the delivery's id <MessageId>.<subscription id>...
    delivery = f"{message_id}.{sub.rsplit(':', 1)[-1]}"
    why = (
        f"delivery {delivery} to {queue} rejected: User: sns.amazonaws.com is not "
        f"authorized to perform: sqs:SendMessage on resource: {queue} because no "
        "resource-based policy allows the sqs:SendMessage action"
    )
    assert any(why in line for line in server.output), "".join(server.output[-20:])
    # ...and so does IAM's decision log.
    assert _denied(server, "sqs:SendMessage", queue) == (
        "because no resource-based policy allows the sqs:SendMessage action"
    )


def _denied(server, action: str, resource: str) -> str | None:
    """The reason IAM's decision log gives for denying SNS ``action`` on ``resource``."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{server.data_dir / 'sandlot.db'}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT reason FROM iam_decisions WHERE principal_arn = 'sns.amazonaws.com' "
                "AND resource = ? AND action = ? AND outcome = 'IMPLICIT_DENY'",
                (resource, action),
            ).fetchall()
        if rows:
            return rows[0][0]
        time.sleep(0.2)
    return None


def test_raw_message_delivery_to_sqs(client):
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name=_name("raw"))["TopicArn"]
    url, queue = _queue(sqs, _name("rawq"), allow_topic=topic)
    sub = sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue, Attributes={"RawMessageDelivery": "true"}
    )["SubscriptionArn"]
    assert (
        sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]["RawMessageDelivery"]
        == "true"
    )
    sns.publish(
        TopicArn=topic,
        Message='{"order": 1}',
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}},
    )
    [message] = _receive(sqs, url)
    assert message["Body"] == '{"order": 1}'
    assert message["MessageAttributes"]["kind"] == {"StringValue": "order", "DataType": "String"}
    # MessageStructure json: the sqs key wins over default.
    sns.publish(
        TopicArn=topic,
        MessageStructure="json",
        Message=json.dumps({"default": "d", "sqs": "for-sqs"}),
    )
    [message] = _receive(sqs, url)
    assert message["Body"] == "for-sqs"
    code, message, _ = _code(
        sns.set_subscription_attributes,
        SubscriptionArn=sub,
        AttributeName="RawMessageDelivery",
        AttributeValue="maybe",
    )
    assert code == "InvalidParameter"


def test_filter_policies_on_attributes_and_body(client):
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name=_name("filtered"))["TopicArn"]
    attr_url, attr_queue = _queue(sqs, _name("by-attr"), allow_topic=topic)
    body_url, body_queue = _queue(sqs, _name("by-body"), allow_topic=topic)
    attr_sub = sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=attr_queue,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"store": ["eu-west"], "price": [{"numeric": [">=", 100]}]}),
        },
    )["SubscriptionArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=body_queue,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicyScope": "MessageBody",
            "FilterPolicy": json.dumps({"order": {"kind": [{"prefix": "pri"}]}}),
        },
    )

    def publish(body: dict, **attrs: tuple[str, str]) -> None:
        sns.publish(
            TopicArn=topic,
            Message=json.dumps(body),
            MessageAttributes={
                k: {"DataType": kind, "StringValue": value} for k, (kind, value) in attrs.items()
            },
        )

    publish({"n": 1}, store=("String", "eu-west"), price=("Number", "150"))  # attr: yes
    publish({"n": 2}, store=("String", "us-east"), price=("Number", "150"))  # attr: no
    publish({"n": 3}, store=("String", "eu-west"), price=("Number", "50"))  # attr: no
    publish({"n": 4, "order": {"kind": "priority"}})  # body: yes
    publish({"n": 5, "order": {"kind": "standard"}})  # body: no
    assert [json.loads(m["Body"])["n"] for m in _receive(sqs, attr_url)] == [1]
    assert [json.loads(m["Body"])["n"] for m in _receive(sqs, body_url)] == [4]
    time.sleep(0.3)  # nothing else arrives late
    assert sqs.receive_message(QueueUrl=attr_url).get("Messages") is None
    assert sqs.receive_message(QueueUrl=body_url).get("Messages") is None
    attrs = sns.get_subscription_attributes(SubscriptionArn=attr_sub)["Attributes"]
    assert attrs["FilterPolicyScope"] == "MessageAttributes"
    # A bad policy: AWS's InvalidParameter, nothing changed.
    code, message, _ = _code(
        sns.set_subscription_attributes,
        SubscriptionArn=attr_sub,
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"price": [{"numeric": [">", "x"]}]}),
    )
    assert code == "InvalidParameter" and message.startswith("Invalid parameter: FilterPolicy:")
    code, message, _ = _code(
        sns.subscribe,
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=attr_queue + "-other",
        Attributes={"FilterPolicy": "{not json"},
    )
    assert code == "InvalidParameter"
    assert message.startswith("Invalid parameter: Attributes Reason: FilterPolicy:")
    # Removing the policy ("{}") lets everything through again.
    sns.set_subscription_attributes(
        SubscriptionArn=attr_sub, AttributeName="FilterPolicy", AttributeValue="{}"
    )
    assert (
        "FilterPolicy"
        not in sns.get_subscription_attributes(SubscriptionArn=attr_sub)["Attributes"]
    )
    publish({"n": 6})
    assert [json.loads(m["Body"])["n"] for m in _receive(sqs, attr_url)] == [6]


def test_s3_upload_to_topic_to_queue(client):
    """S3 → SNS → SQS: S3 publishes as s3.amazonaws.com, allowed by the topic policy;
    SNS delivers the S3 event inside its envelope."""
    s3, sns, sqs = client("s3"), client("sns"), client("sqs")
    bucket = _name("uploads")
    s3.create_bucket(Bucket=bucket)
    topic = sns.create_topic(Name=_name("uploads"))["TopicArn"]
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    policy["Statement"].append(
        {
            "Sid": "s3",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "SNS:Publish",
            "Resource": topic,
            "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
        }
    )
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )
    url, queue = _queue(sqs, _name("uploads"), allow_topic=topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket=bucket, Key="photo.jpg", Body=b"jpeg")
    events = []
    deadline = time.monotonic() + 15
    while not events and time.monotonic() < deadline:
        for message in _receive(sqs, url, timeout=1):
            envelope = json.loads(message["Body"])
            assert envelope["TopicArn"] == topic
            event = json.loads(envelope["Message"])
            if event.get("Event") == "s3:TestEvent":
                continue  # what S3 sends when the configuration is put
            events += event["Records"]
    [record] = events
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == bucket and record["s3"]["object"]["key"] == "photo.jpg"


def test_publish_batch(client):
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name=_name("batch"))["TopicArn"]
    url, queue = _queue(sqs, _name("batchq"), allow_topic=topic)
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue, Attributes={"RawMessageDelivery": "true"}
    )
    result = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "one", "Message": "1"},
            {"Id": "two", "Message": "2"},
            {"Id": "bad", "Message": ""},
        ],
    )
    assert sorted(s["Id"] for s in result["Successful"]) == ["one", "two"]
    assert result["Failed"] == [
        {
            "Id": "bad",
            "Code": "InvalidParameter",
            "Message": "Invalid parameter: Empty message",
            "SenderFault": True,
        }
    ]
    assert sorted(m["Body"] for m in _receive(sqs, url, 2)) == ["1", "2"]


def test_fifo_topic_to_fifo_queue_keeps_order_and_deduplicates(client):
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(
        Name=_name("orders") + ".fifo",
        Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"},
    )["TopicArn"]
    url, queue = _queue(sqs, _name("ordersq"), allow_topic=topic, fifo=True)
    standard_url, standard = _queue(sqs, _name("std"), allow_topic=topic)
    code, message, _ = _code(
        sns.subscribe,
        TopicArn=sns.create_topic(Name=_name("plain"))["TopicArn"],
        Protocol="sqs",
        Endpoint=queue,
    )
    assert code == "InvalidParameter" and "FIFO SQS Queues can not be subscribed" in message
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue, Attributes={"RawMessageDelivery": "true"}
    )
    sequences = []
    for i in range(20):
        out = sns.publish(TopicArn=topic, Message=f"m{i}", MessageGroupId="g")
        sequences.append(int(out["SequenceNumber"]))
    assert sequences == sorted(sequences)
    again = sns.publish(TopicArn=topic, Message="m3", MessageGroupId="g")  # a duplicate
    assert int(again["SequenceNumber"]) == sequences[3]
    explicit = sns.publish(
        TopicArn=topic, Message="other", MessageGroupId="g", MessageDeduplicationId="m3-id"
    )
    assert explicit["MessageId"] != again["MessageId"]
    bodies: list[str] = []
    deadline = time.monotonic() + 15
    while len(bodies) < 21 and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert bodies == [f"m{i}" for i in range(20)] + ["other"]
    assert standard_url and standard  # a FIFO topic may feed a standard queue too (AWS, 2023)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=standard)
    sns.publish(TopicArn=topic, Message="to-standard", MessageGroupId="g")
    [m] = _receive(sqs, standard_url)
    envelope = json.loads(m["Body"])
    assert envelope["Message"] == "to-standard" and envelope["SequenceNumber"]


# The validator fetches the certificate over https from a host matching its pattern;
# sandlot serves it over http, so the script hands it sandlot's host as the pattern and
# routes its https fetch to http (SigningCertURL is not part of what is signed).
VALIDATE_JS = """
const http = require("http"), https = require("https");
const MessageValidator = require("sns-validator");
https.get = (url, cb) => http.get(url.replace(/^https:/, "http:"), cb);
const validator = new MessageValidator(/^127\\.0\\.0\\.1:[0-9]+$/);
const messages = JSON.parse(require("fs").readFileSync(0, "utf8"));
const results = [];
let left = messages.length;
messages.forEach((message, i) => {
  for (const key of ["SigningCertURL", "SigningCertUrl"]) {
    if (message[key]) message[key] = message[key].replace(/^http:/, "https:");
  }
  validator.validate(message, (err) => {
    results[i] = err ? String(err.message) : "valid";
    if (--left === 0) console.log(JSON.stringify(results));
  });
});
"""


def test_npm_sns_validator_accepts_sandlot_messages(client):
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("npm and node are needed (.ci/run installs npm, which brings Node.js)")
    modules = sns_validator()
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name=_name("validated"))["TopicArn"]
    url, queue = _queue(sqs, _name("vq"), allow_topic=topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue)
    sns.publish(TopicArn=topic, Message="v1 message", Subject="s")
    [v1] = _receive(sqs, url)
    sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
    sns.publish(TopicArn=topic, Message="v2 message")
    [v2] = _receive(sqs, url)
    messages = [json.loads(v1["Body"]), json.loads(v2["Body"])]
    messages.append({**messages[1], "Message": "tampered"})
    done = subprocess.run(
        ["node", "-e", VALIDATE_JS],
        input=json.dumps(messages),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NODE_PATH": str(modules)},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["valid", "valid", "The message signature is invalid."]


# -- Lambda -----------------------------------------------------------------------------------

PRINTER = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
"""


def test_lambda_subscription_gets_aws_event_shape(client, server):
    sns, lam, logs = client("sns"), client("lambda"), client("logs")
    name = unique("sns-printer")
    function = create_function(lam, name, {"app.py": PRINTER})["FunctionArn"]
    topic = sns.create_topic(Name=_name("to-lambda"))["TopicArn"]
    lam.add_permission(
        FunctionName=name,
        StatementId="sns",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        SourceArn=topic,
    )
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function)["SubscriptionArn"]
    message_id = sns.publish(
        TopicArn=topic,
        Message="to lambda",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
    )["MessageId"]
    events = wait_for_log_events(logs, name, '"EVENT"', timeout=30)
    assert events, "the function never ran"
    event = json.loads(events[0]["message"].split("EVENT ", 1)[1])
    [record] = event["Records"]
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == sub
    body = record["Sns"]
    assert body["MessageId"] == message_id and body["Message"] == "to lambda"
    assert body["Subject"] is None
    assert body["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}
    assert "SigningCertUrl" in body and "UnsubscribeUrl" in body
    assert "SigningCertURL" not in body
    # Without the function's permission for sns.amazonaws.com, SNS may not invoke it.
    closed = sns.create_topic(Name=_name("no-permission"))["TopicArn"]
    sns.subscribe(TopicArn=closed, Protocol="lambda", Endpoint=function)
    sns.publish(TopicArn=closed, Message="refused")
    assert _denied(server, "lambda:InvokeFunction", function)
    _verify(
        {k: v for k, v in body.items() if v is not None}
        | {"SigningCertURL": body["SigningCertUrl"]}
    )


FAILING = """
def handler(event, context):
    raise RuntimeError("boom")
"""


def test_failing_event_invocation_dead_letters_to_a_topic_fanning_out_to_a_queue(client):
    """The issue's scenario: a failing Event invocation with an SNS topic as its DLQ;
    after Lambda's retries the topic fans the event out to a queue, with Lambda's
    RequestID/ErrorCode/ErrorMessage attributes."""
    sns, sqs, lam, iam = client("sns"), client("sqs"), client("lambda"), client("iam")
    topic = sns.create_topic(Name=_name("dlq-topic"))["TopicArn"]
    url, queue = _queue(sqs, _name("dlq-fanout"), allow_topic=topic)
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue, Attributes={"RawMessageDelivery": "true"}
    )
    role_name = unique("dlq-role")
    role = ensure_role(
        iam,
        role_name,
        managed=("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",),
    )
    iam.put_role_policy(  # the function's role sends to its DLQ, as in AWS
        RoleName=role_name,
        PolicyName="dlq",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}],
            }
        ),
    )
    name = unique("failing")
    create_function(
        lam, name, {"app.py": FAILING}, role=role, DeadLetterConfig={"TargetArn": topic}
    )
    invoked = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 42}')
    request_id = invoked["ResponseMetadata"]["RequestId"]
    [message] = _receive(sqs, url, timeout=60)
    assert json.loads(message["Body"]) == {"n": 42}
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RequestID"] == request_id
    assert len(attributes["ErrorCode"]) == 3 and attributes["ErrorCode"].isdigit()
    assert "boom" in attributes["ErrorMessage"]


# -- HTTP ---------------------------------------------------------------------------------------


def test_http_subscription_handshake_and_signed_notification(client):
    sns = client("sns")
    topic = sns.create_topic(Name=_name("to-http"))["TopicArn"]
    endpoint = HttpRecorder(path="/sns")
    try:
        assert (
            sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)["SubscriptionArn"]
            == "pending confirmation"
        )
        [(_, _, headers, body)] = endpoint.wait(1)
        confirmation = json.loads(body)
        assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        assert confirmation["Type"] == "SubscriptionConfirmation"
        assert confirmation["TopicArn"] == topic and confirmation["Token"]
        _verify(confirmation)
        [pending] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        assert pending["SubscriptionArn"] == "PendingConfirmation"
        sns.publish(TopicArn=topic, Message="before confirmation")  # not delivered
        # Confirming is a GET on the SubscribeURL, as a receiver does it.
        answer = urllib.request.urlopen(confirmation["SubscribeURL"], timeout=5).read().decode()
        assert "<SubscriptionArn>" + topic in answer
        [confirmed] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        sub = confirmed["SubscriptionArn"]
        assert sub.startswith(topic + ":")
        attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        assert attrs["PendingConfirmation"] == "false"
        sns.publish(TopicArn=topic, Message="after confirmation", Subject="s")
        received = endpoint.wait(2)
        _, _, headers, body = received[1]
        notification = json.loads(body)
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-subscription-arn"] == sub
        assert headers["content-type"] == "text/plain; charset=UTF-8"
        assert notification["Message"] == "after confirmation"
        _verify(notification)
        assert len(endpoint.received) == 2
        # Unsubscribing tells the endpoint, with a SubscribeURL that restores it.
        sns.unsubscribe(SubscriptionArn=sub)
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
        _, _, headers, body = endpoint.wait(3)[2]
        goodbye = json.loads(body)
        assert headers["x-amz-sns-message-type"] == "UnsubscribeConfirmation"
        assert goodbye["Type"] == "UnsubscribeConfirmation" and sub in goodbye["Message"]
        _verify(goodbye)
        urllib.request.urlopen(goodbye["SubscribeURL"], timeout=5).read()
        [restored] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        assert restored["SubscriptionArn"] == sub
        sns.publish(TopicArn=topic, Message="restored")
        assert json.loads(endpoint.wait(4)[3].body)["Message"] == "restored"
    finally:
        endpoint.close()


def test_raw_http_delivery(client):
    sns = client("sns")
    topic = sns.create_topic(Name=_name("raw-http"))["TopicArn"]
    endpoint = HttpRecorder(path="/sns")
    try:
        sns.subscribe(
            TopicArn=topic,
            Protocol="http",
            Endpoint=endpoint.url,
            Attributes={"RawMessageDelivery": "true"},
        )
        token = json.loads(endpoint.wait(1)[0].body)["Token"]  # the handshake is never raw
        sub = sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"]
        assert sub in [s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]]
        sns.publish(TopicArn=topic, Message="just the message")
        _, _, headers, body = endpoint.wait(2)[1]
        assert body == b"just the message"
        assert headers["x-amz-sns-rawdelivery"] == "true"
        assert headers["x-amz-sns-message-type"] == "Notification"
    finally:
        endpoint.close()


def test_http_retries_then_dead_letter_queue(client):
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name=_name("flaky"))["TopicArn"]
    dlq_url, dlq = _queue(sqs, _name("http-dlq"), allow_topic=topic)
    endpoint = HttpRecorder(path="/sns")
    try:
        sns.subscribe(
            TopicArn=topic,
            Protocol="http",
            Endpoint=endpoint.url,
            Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq}),
                "DeliveryPolicy": json.dumps(
                    {
                        "healthyRetryPolicy": {
                            "numRetries": 2,
                            "minDelayTarget": 1,
                            "maxDelayTarget": 1,
                        }
                    }
                ),
            },
        )
        token = json.loads(endpoint.wait(1)[0].body)["Token"]
        sub = sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"]
        assert (
            json.loads(
                sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"][
                    "EffectiveDeliveryPolicy"
                ]
            )["healthyRetryPolicy"]["numRetries"]
            == 2
        )
        endpoint.status = 500
        message_id = sns.publish(TopicArn=topic, Message="down")["MessageId"]
        endpoint.wait(4)  # the confirmation, then 1 attempt + 2 retries
        [dead] = _receive(sqs, dlq_url)
        assert json.loads(dead["Body"])["MessageId"] == message_id
    finally:
        endpoint.close()


def test_http_client_error_is_final_without_retries(client):
    """A 4xx answer (but 429) ends the delivery at once: no retry, straight to the
    subscription's dead-letter queue (the delivery path's ``final_statuses``)."""
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name=_name("refusing"))["TopicArn"]
    dlq_url, dlq = _queue(sqs, _name("http-403-dlq"), allow_topic=topic)
    endpoint = HttpRecorder(path="/sns")
    try:
        retry = {"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1}}
        sns.subscribe(
            TopicArn=topic,
            Protocol="http",
            Endpoint=endpoint.url,
            Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq}),
                "DeliveryPolicy": json.dumps(retry),
            },
        )
        token = json.loads(endpoint.wait(1)[0].body)["Token"]
        sns.confirm_subscription(TopicArn=topic, Token=token)
        endpoint.status = 403
        message_id = sns.publish(TopicArn=topic, Message="refused")["MessageId"]
        [dead] = _receive(sqs, dlq_url)
        assert json.loads(dead["Body"])["MessageId"] == message_id
        assert len(endpoint.received) == 2  # the confirmation and one attempt, no retries
    finally:
        endpoint.close()


# -- email / SMS ---------------------------------------------------------------------------------


def test_email_stays_pending_and_is_recorded(client, server):
    sns = client("sns")
    topic = sns.create_topic(Name=_name("mail"))["TopicArn"]
    address = f"{uuid.uuid4().hex[:8]}@example.com"
    assert (
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)["SubscriptionArn"]
        == "pending confirmation"
    )
    json_address = f"{uuid.uuid4().hex[:8]}@example.com"
    sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint=json_address)
    phone = "+15555550100"
    sms = sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint=phone)["SubscriptionArn"]
    assert sms.startswith(topic)  # SMS needs no confirmation
    sns.publish(TopicArn=topic, Message="text me")
    url = f"{server.endpoint}/_sandlot/sns/messages?endpoint="
    mail = json.loads(urllib.request.urlopen(url + urllib.parse.quote(address)).read())
    [confirmation] = mail["messages"]
    assert confirmation["kind"] == "SubscriptionConfirmation"
    assert "Action=ConfirmSubscription" in confirmation["message"]
    [as_json] = json.loads(urllib.request.urlopen(url + urllib.parse.quote(json_address)).read())[
        "messages"
    ]
    envelope = json.loads(as_json["message"])  # email-json: the signed JSON confirmation
    assert envelope["Type"] == "SubscriptionConfirmation"
    _verify(envelope)
    deadline = time.monotonic() + 10
    texts: list = []
    while not texts and time.monotonic() < deadline:
        texts = json.loads(urllib.request.urlopen(url + urllib.parse.quote(phone)).read())[
            "messages"
        ]
    assert [t["message"] for t in texts] == ["text me"]
    # The same through the CLI: sandlot sns messages ADDRESS.
    done = subprocess.run(
        [sys.executable, "-m", "sandlot.cli.main", "sns", "messages", phone,
         "--endpoint", server.endpoint],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(server.endpoint),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"sms {phone} Notification" in done.stdout and "    text me" in done.stdout


# -- the AWS CLI ---------------------------------------------------------------------------------


def test_aws_cli(server, client):
    name = _name("cli")
    arn = aws(server.endpoint, "sns", "create-topic", "--name", name)["TopicArn"]
    assert arn.endswith(":" + name)
    topics = aws(server.endpoint, "sns", "list-topics")["Topics"]
    assert {"TopicArn": arn} in topics
    out = aws(server.endpoint, "sns", "publish", "--topic-arn", arn, "--message", "hi")
    assert out["MessageId"]
    attrs = aws(server.endpoint, "sns", "get-topic-attributes", "--topic-arn", arn)
    assert attrs["Attributes"]["TopicArn"] == arn
    sqs = client("sqs")
    url, queue = _queue(sqs, _name("cliq"), allow_topic=arn)
    sub = aws(
        server.endpoint, "sns", "subscribe", "--topic-arn", arn, "--protocol", "sqs",
        "--notification-endpoint", queue, "--attributes", '{"RawMessageDelivery":"true"}',
    )["SubscriptionArn"]  # fmt: skip
    assert sub.startswith(arn + ":")
    aws(
        server.endpoint, "sns", "publish", "--topic-arn", arn, "--message", "from the cli",
        "--message-attributes", '{"k":{"DataType":"String","StringValue":"v"}}',
    )  # fmt: skip
    [message] = _receive(sqs, url)
    assert message["Body"] == "from the cli"
    assert message["MessageAttributes"]["k"]["StringValue"] == "v"
    listed = aws(server.endpoint, "sns", "list-subscriptions-by-topic", "--topic-arn", arn)
    assert [s["SubscriptionArn"] for s in listed["Subscriptions"]] == [sub]
