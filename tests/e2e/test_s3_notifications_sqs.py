"""S3 event notifications to SQS: validated at configuration as S3 does, an s3:TestEvent
first, then each object event, sent as s3.amazonaws.com so the queue policy decides."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
import uuid

from tests.e2e.conftest import error_of

ACCOUNT = "000000000000"


def _queue(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def _allow_s3(sqs, url: str, queue_arn: str, bucket: str) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {
                    "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
                    "StringEquals": {"aws:SourceAccount": ACCOUNT},
                },
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})


def _config(queue_arn: str) -> dict:
    return {
        "QueueConfigurations": [
            {"Id": "to-queue", "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}
        ]
    }


def _next_body(sqs, url: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")
        if messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
            return json.loads(messages[0]["Body"])
    raise AssertionError(f"nothing arrived in {url}")


def test_configuration_needs_an_existing_queue_that_allows_s3(client, bucket):
    s3, sqs = client("s3"), client("sqs")
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:missing-{uuid.uuid4().hex[:8]}"
    error = error_of(
        s3.put_bucket_notification_configuration,
        Bucket=bucket,
        NotificationConfiguration=_config(missing),
    )
    assert error["Code"] == "InvalidArgument" and error["HTTPStatusCode"] == 400
    assert error["Message"] == "Unable to validate the following destination configurations"
    assert error["ArgumentName1"] == missing
    assert error["ArgumentValue1"] == "The destination queue does not exist"

    _, arn = _queue(sqs, f"nopolicy-{uuid.uuid4().hex[:8]}")
    error = error_of(
        s3.put_bucket_notification_configuration,
        Bucket=bucket,
        NotificationConfiguration=_config(arn),
    )
    assert error["ArgumentValue1"] == (
        "Permissions on the destination queue do not allow S3 to publish notifications "
        "from this bucket"
    )
    assert (
        s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations") is None
    )


def test_upload_sends_the_event_to_the_queue(client, bucket):
    s3, sqs = client("s3"), client("sqs")
    url, arn = _queue(sqs, f"events-{uuid.uuid4().hex[:8]}")
    _allow_s3(sqs, url, arn, bucket)
    put = s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=_config(arn)
    )
    test_event = _next_body(sqs, url)
    assert test_event["Service"] == "Amazon S3" and test_event["Event"] == "s3:TestEvent"
    assert test_event["Bucket"] == bucket
    assert test_event["RequestId"] == put["ResponseMetadata"]["RequestId"]

    uploaded = s3.put_object(Bucket=bucket, Key="in/a b.txt", Body=b"hello")
    [record] = _next_body(sqs, url)["Records"]
    assert record["eventSource"] == "aws:s3" and record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["configurationId"] == "to-queue"
    assert record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert record["s3"]["object"]["key"] == "in/a+b.txt"
    assert record["s3"]["object"]["size"] == 5
    assert record["s3"]["object"]["eTag"] == uploaded["ETag"].strip('"')
    assert (
        record["responseElements"]["x-amz-request-id"] == uploaded["ResponseMetadata"]["RequestId"]
    )


def test_a_queue_policy_removed_later_stops_delivery_and_says_why(server, client, bucket):
    s3, sqs = client("s3"), client("sqs")
    url, arn = _queue(sqs, f"revoked-{uuid.uuid4().hex[:8]}")
    _allow_s3(sqs, url, arn, bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=_config(arn))
    assert _next_body(sqs, url)["Event"] == "s3:TestEvent"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    s3.put_object(Bucket=bucket, Key="after", Body=b"x")

    # The denial is in IAM's decision log (what `sandlot iam explain` reads).
    db = sqlite3.connect(server.data_dir / "sandlot.db")
    query = (
        "SELECT request_id, outcome, reason FROM iam_decisions WHERE principal_arn = ? "
        "AND action = 'sqs:SendMessage' AND resource = ? AND outcome != 'ALLOW'"
    )
    deadline = time.monotonic() + 20
    rows = []
    while not rows and time.monotonic() < deadline:
        rows = db.execute(query, ("s3.amazonaws.com", arn)).fetchall()
        time.sleep(0.1)
    assert rows, "no denial was recorded"
    request_id, outcome, reason = rows[-1]
    assert outcome == "IMPLICIT_DENY"
    assert "no resource-based policy allows" in reason
    # A denied delivery is final: nothing arrives.
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")
    with urllib.request.urlopen(f"{server.endpoint}/_sandlot/iam/explain/{request_id}") as answer:
        explained = json.load(answer)
    assert explained["decisions"][0]["operation"] == "SendMessage"
