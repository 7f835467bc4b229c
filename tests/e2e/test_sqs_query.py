"""SQS over the query protocol, as SDKs released before SQS moved to JSON send it:
raw form requests spelled as AWS's query API reference spells them, and a botocore
client built on the query-era shape of the model."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from sandlot.protocol.models import query_view


@dataclass
class _Response:
    status_code: int
    text: str


def _post(endpoint: str, path: str, fields: list[tuple[str, str]]) -> _Response:
    body = urlencode([("Version", "2012-11-05"), *fields])
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    request = AWSRequest(method="POST", url=endpoint + path, data=body, headers=headers)
    SigV4Auth(Credentials("test", "test"), "sqs", "us-east-1").add_auth(request)
    raw = urllib.request.Request(
        endpoint + path, data=body.encode(), headers=dict(request.headers), method="POST"
    )
    try:
        with urllib.request.urlopen(raw, timeout=30) as response:
            return _Response(response.status, response.read().decode())
    except urllib.error.HTTPError as error:
        return _Response(error.code, error.read().decode())


def test_raw_query_requests_as_the_api_reference_spells_them(server):
    name = f"query-{uuid.uuid4().hex[:8]}"
    created = _post(
        server.endpoint,
        "/",
        [("Action", "CreateQueue"), ("QueueName", name),
         ("Attribute.1.Name", "VisibilityTimeout"), ("Attribute.1.Value", "40"),
         ("Tag.1.Key", "team"), ("Tag.1.Value", "a")],
    )  # fmt: skip
    assert created.status_code == 200, created.text
    url = re.search(r"<QueueUrl>(.*?)</QueueUrl>", created.text).group(1)
    assert "<CreateQueueResponse" in created.text and "<CreateQueueResult>" in created.text
    # Older SDKs post to the queue URL itself.
    path = "/" + url.split("/", 3)[3]
    sent = _post(
        server.endpoint,
        path,
        [("Action", "SendMessage"), ("QueueUrl", url), ("MessageBody", "hello"),
         ("MessageAttribute.1.Name", "colour"),
         ("MessageAttribute.1.Value.DataType", "String"),
         ("MessageAttribute.1.Value.StringValue", "blue")],
    )  # fmt: skip
    assert sent.status_code == 200, sent.text
    assert "<MD5OfMessageBody>5d41402abc4b2a76b9719d911017c592</MD5OfMessageBody>" in sent.text
    received = _post(
        server.endpoint,
        path,
        [("Action", "ReceiveMessage"), ("QueueUrl", url), ("AttributeName.1", "All"),
         ("MessageAttributeName.1", "All")],
    )  # fmt: skip
    text = received.text
    assert "<ReceiveMessageResult><Message>" in text
    assert "<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>" in text
    assert "<MessageAttribute><Name>colour</Name><Value>" in text
    attributes = _post(
        server.endpoint,
        path,
        [
            ("Action", "GetQueueAttributes"),  # no QueueUrl: the AWS SDK for Java 1.x
            ("AttributeName.1", "VisibilityTimeout"),  # posts to the queue URL instead
        ],
    )
    assert (
        "<Attribute><Name>VisibilityTimeout</Name><Value>40</Value></Attribute>" in attributes.text
    )
    missing = _post(
        server.endpoint, "/", [("Action", "GetQueueUrl"), ("QueueName", "nope-" + name)]
    )
    assert missing.status_code == 400
    assert "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in missing.text


@pytest.fixture
def query_sqs(server, tmp_path):
    """A boto3 client speaking query: the model as it was before SQS moved to JSON."""
    model_dir = tmp_path / "models" / "sqs" / "2012-11-05"
    model_dir.mkdir(parents=True)
    (model_dir / "service-2.json").write_text(json.dumps(query_view("sqs")._service_description))
    session = boto3.session.Session()
    session._session.get_component("data_loader").search_paths.insert(0, str(tmp_path / "models"))
    return session.client(
        "sqs",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def test_boto3_query_client(query_sqs):
    assert query_sqs.meta.service_model.protocol == "query"
    url = query_sqs.create_queue(QueueName=f"qc-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    query_sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {
                "Id": "a",
                "MessageBody": "one",
                "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1"}},
            },
            {"Id": "b", "MessageBody": "two"},
        ],
    )
    got = query_sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]
    assert sorted(m["Body"] for m in got) == ["one", "two"]
    one = next(m for m in got if m["Body"] == "one")
    assert one["MessageAttributes"] == {"n": {"DataType": "Number", "StringValue": "1"}}
    assert one["Attributes"]["ApproximateReceiveCount"] == "1"
    deleted = query_sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in got],
    )
    assert len(deleted["Successful"]) == 2
    assert url in query_sqs.list_queues()["QueueUrls"]
    with pytest.raises(ClientError) as excinfo:
        query_sqs.get_queue_url(QueueName="does-not-exist-" + uuid.uuid4().hex)
    assert excinfo.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
