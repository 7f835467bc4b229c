"""SQS end to end with boto3 and the AWS CLI: queues, messages, FIFO, dead-letter queues."""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import aws, code_and_status

ACCOUNT = "000000000000"


def _name(prefix: str = "q") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def sqs(client):
    return client("sqs")


def _attrs_md5(attributes: dict) -> str:
    """The digest as the Java and .NET SDKs compute it, written from the developer guide."""
    digest = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        for text in (name, value["DataType"]):
            digest.update(struct.pack(">I", len(text.encode())) + text.encode())
        if "BinaryValue" in value:
            digest.update(
                b"\x02" + struct.pack(">I", len(value["BinaryValue"])) + value["BinaryValue"]
            )
        else:
            data = value["StringValue"].encode()
            digest.update(b"\x01" + struct.pack(">I", len(data)) + data)
    return digest.hexdigest()


# == queues ===============================================================================


def test_queue_lifecycle_and_attributes(server, sqs):
    name = _name()
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
    assert url == f"{server.endpoint}/{ACCOUNT}/{name}"
    # Same attributes: the same queue; a different value: QueueAlreadyExists.
    assert (
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == url
    )
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    with pytest.raises(ClientError) as excinfo:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "46"})
    assert code_and_status(excinfo) == ("QueueAlreadyExists", 400)
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "45"
    assert attributes["MaximumMessageSize"] == "1048576"
    assert attributes["MessageRetentionPeriod"] == "345600"
    assert attributes["DelaySeconds"] == "0"
    assert attributes["ReceiveMessageWaitTimeSeconds"] == "0"
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert "FifoQueue" not in attributes
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "5"})
    only = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])["Attributes"]
    assert only == {"DelaySeconds": "5"}
    for bad in (
        {"VisibilityTimeout": "43201"},
        {"MessageRetentionPeriod": "59"},
        {"DelaySeconds": "x"},
    ):
        with pytest.raises(ClientError) as excinfo:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=bad)
        assert code_and_status(excinfo)[0] == "InvalidAttributeValue"
    with pytest.raises(ClientError) as excinfo:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Colour": "blue"})
    assert code_and_status(excinfo)[0] == "InvalidAttributeName"
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as excinfo:
        sqs.get_queue_url(QueueName=name)
    assert code_and_status(excinfo) == ("AWS.SimpleQueueService.NonExistentQueue", 400)
    with pytest.raises(ClientError) as excinfo:
        sqs.create_queue(QueueName=name)
    assert code_and_status(excinfo)[0] == "AWS.SimpleQueueService.QueueDeletedRecently"


def test_queue_names_are_checked(sqs):
    for bad, attributes in (("has space", {}), ("x" * 81, {}), ("plain", {"FifoQueue": "true"})):
        with pytest.raises(ClientError) as excinfo:
            sqs.create_queue(QueueName=bad, Attributes=attributes)
        assert code_and_status(excinfo)[0] == "InvalidParameterValue"


def test_list_queues_prefix_and_paging(sqs):
    prefix = _name("list")
    urls = [sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5)]
    assert sorted(sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"]) == sorted(urls)
    seen, token = [], None
    while True:
        page = sqs.list_queues(
            QueueNamePrefix=prefix, MaxResults=2, **({"NextToken": token} if token else {})
        )
        seen += page["QueueUrls"]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == sorted(urls)


def test_tags_and_permissions(sqs):
    url = sqs.create_queue(QueueName=_name(), tags={"team": "a"})["QueueUrl"]
    sqs.tag_queue(QueueUrl=url, Tags={"env": "dev"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "dev"}
    sqs.add_permission(
        QueueUrl=url, Label="share", AWSAccountIds=["111122223333"], Actions=["SendMessage"]
    )
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    statement = policy["Statement"][0]
    assert statement["Sid"] == "share" and statement["Action"] == "SQS:SendMessage"
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    with pytest.raises(ClientError) as excinfo:
        sqs.add_permission(
            QueueUrl=url, Label="share", AWSAccountIds=["111122223333"], Actions=["SendMessage"]
        )
    assert code_and_status(excinfo)[0] == "InvalidParameterValue"
    sqs.remove_permission(QueueUrl=url, Label="share")
    assert (
        "Policy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    )


# == messages =============================================================================


def test_send_receive_delete_with_digests_and_attributes(sqs):
    url = sqs.create_queue(QueueName=_name())["QueueUrl"]
    attributes = {
        "colour": {"DataType": "String", "StringValue": "blue"},
        "size": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "other.kind": {"DataType": "String.custom", "StringValue": "x"},
    }
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="héllo",
        MessageAttributes=attributes,
        MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}
        },
    )
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == _attrs_md5(attributes)
    trace = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}}
    assert sent["MD5OfMessageSystemAttributes"] == _attrs_md5(trace)
    received = sqs.receive_message(
        QueueUrl=url, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]
    (message,) = received
    assert message["MessageId"] == sent["MessageId"] and message["Body"] == "héllo"
    assert message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == _attrs_md5(attributes)
    system = message["Attributes"]
    assert system["ApproximateReceiveCount"] == "1" and system["AWSTraceHeader"] == "Root=1-abc"
    assert abs(int(system["SentTimestamp"]) / 1000 - time.time()) < 60
    assert int(system["ApproximateFirstReceiveTimestamp"]) >= int(system["SentTimestamp"])
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert counts["ApproximateNumberOfMessages"] == "0"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])  # again: fine
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_message_attribute_name_filters(sqs):
    url = sqs.create_queue(QueueName=_name())["QueueUrl"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="m",
        MessageAttributes={
            "app.a": {"DataType": "String", "StringValue": "1"},
            "app.b": {"DataType": "String", "StringValue": "2"},
            "z": {"DataType": "String", "StringValue": "3"},
        },
    )
    (message,) = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["app.*"], VisibilityTimeout=0
    )["Messages"]
    assert set(message["MessageAttributes"]) == {"app.a", "app.b"}
    (message,) = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["z"], AttributeNames=["SentTimestamp"]
    )["Messages"]
    assert set(message["MessageAttributes"]) == {"z"}
    assert set(message["Attributes"]) == {"SentTimestamp"}


def test_bad_messages(sqs):
    url = sqs.create_queue(QueueName=_name(), Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)
    assert code_and_status(excinfo)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="bad \x01 char")
    assert code_and_status(excinfo)[0] == "InvalidMessageContents"
    with pytest.raises(ClientError) as excinfo:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert code_and_status(excinfo)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as excinfo:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert code_and_status(excinfo)[0] == "ReceiptHandleIsInvalid"
    other = sqs.create_queue(QueueName=_name())["QueueUrl"]
    sqs.send_message(QueueUrl=other, MessageBody="b")
    handle = sqs.receive_message(QueueUrl=other)["Messages"][0]["ReceiptHandle"]
    result = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": handle}])
    assert result["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    # In a batch, an entry over the queue's limit fails alone; the batch's own limit is 1 MiB.
    result = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "big", "MessageBody": "x" * 1025}, {"Id": "ok", "MessageBody": "fine"}],
    )
    assert [e["Id"] for e in result["Successful"]] == ["ok"]
    assert result["Failed"][0]["Id"] == "big" and result["Failed"][0]["SenderFault"] is True
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": "y" * 300_000} for i in range(4)]
        )
    assert code_and_status(excinfo)[0] == "AWS.SimpleQueueService.BatchRequestTooLong"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "1"}] * 2)
    assert code_and_status(excinfo)[0] == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": "1"} for i in range(11)]
        )
    assert code_and_status(excinfo)[0] == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


def test_batches_visibility_and_stale_handles(sqs):
    url = sqs.create_queue(QueueName=_name())["QueueUrl"]
    entries = [{"Id": f"m{i}", "MessageBody": f"body {i}"} for i in range(10)]
    sent = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert len(sent["Successful"]) == 10 and not sent.get("Failed")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)[
        "Messages"
    ]
    assert sorted(m["Body"] for m in got) == sorted(e["MessageBody"] for e in entries)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    first = got[0]
    # Back to visible at once, received again: the new handle and the old one both work.
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )
    (again,) = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])[
        "Messages"
    ]
    assert (
        again["MessageId"] == first["MessageId"]
        and again["ReceiptHandle"] != first["ReceiptHandle"]
    )
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    result = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": f"x{i}", "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 60}
            for i, m in enumerate(got[1:])
        ],
    )
    assert len(result["Successful"]) == 9
    with pytest.raises(ClientError) as excinfo:  # at most 12 hours from the first receive
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=got[1]["ReceiptHandle"], VisibilityTimeout=43_200
        )
    assert "Total VisibilityTimeout" in excinfo.value.response["Error"]["Message"]
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
    )
    assert len(deleted["Successful"]) == 10
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attributes["ApproximateNumberOfMessages"]
        == attributes["ApproximateNumberOfMessagesNotVisible"]
        == "0"
    )
    with pytest.raises(ClientError) as excinfo:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=5
        )
    assert code_and_status(excinfo)[0] == "InvalidParameterValue"


def test_delays_and_counters(sqs):
    url = sqs.create_queue(QueueName=_name())["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    began = time.monotonic()
    (message,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert message["Body"] == "later" and time.monotonic() - began < 2.5


def test_concurrent_receivers_never_share_a_message(sqs, client):
    """Receives that share a commit (each picks its rows inside it) hand every message
    to exactly one receiver, while sends and deletes run alongside."""
    url = sqs.create_queue(QueueName=_name(), Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    total = 120
    for start in range(0, total, 10):
        entries = [{"Id": f"m{i}", "MessageBody": str(i)} for i in range(start, start + 10)]
        assert len(sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]) == 10
    got: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def receiver() -> None:
        own = client("sqs")
        try:
            while True:
                messages = own.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
                ).get("Messages", [])
                if not messages:
                    return
                got.extend(
                    (m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in messages
                )
                handles = [
                    {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ]
                assert not own.delete_message_batch(QueueUrl=url, Entries=handles).get("Failed")
        except BaseException as error:  # reported by the test's thread
            errors.append(error)

    threads = [threading.Thread(target=receiver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(int(body) for body, _ in got) == list(range(total))  # each exactly once
    assert {count for _, count in got} == {"1"}
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_long_poll_returns_as_soon_as_a_message_arrives(sqs, client):
    url = sqs.create_queue(QueueName=_name())["QueueUrl"]
    result: dict = {}
    poller = client("sqs")  # made first: a client's creation is not the wait being timed

    def poll():
        began = time.monotonic()
        result["response"] = poller.receive_message(QueueUrl=url, WaitTimeSeconds=10)
        result["waited"] = time.monotonic() - began

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="wake")
    thread.join(15)
    assert result["response"]["Messages"][0]["Body"] == "wake"
    assert result["waited"] < 2


def test_long_poll_wakes_when_a_visibility_timeout_ends(sqs):
    url = sqs.create_queue(QueueName=_name())["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="retry me")
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]
    began = time.monotonic()
    (again,) = sqs.receive_message(
        QueueUrl=url, WaitTimeSeconds=10, AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert again["MessageId"] == first["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert time.monotonic() - began < 3  # woken by the due time, not the 10 s deadline


def test_purge_queue(sqs):
    url = sqs.create_queue(QueueName=_name())["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(ClientError) as excinfo:
        sqs.purge_queue(QueueUrl=url)
    assert code_and_status(excinfo)[0] == "AWS.SimpleQueueService.PurgeQueueInProgress"


# == FIFO =================================================================================


def test_fifo_order_group_lock_and_deduplication(sqs):
    url = sqs.create_queue(QueueName=_name("f") + ".fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert code_and_status(excinfo)[0] == "MissingParameter"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert code_and_status(excinfo)[0] == "InvalidParameterValue"
    first = sqs.send_message(
        QueueUrl=url, MessageBody="a1", MessageGroupId="a", MessageDeduplicationId="1"
    )
    again = sqs.send_message(
        QueueUrl=url, MessageBody="a1", MessageGroupId="a", MessageDeduplicationId="1"
    )
    assert (
        again["MessageId"] == first["MessageId"]
        and again["SequenceNumber"] == first["SequenceNumber"]
    )
    sqs.send_message(QueueUrl=url, MessageBody="a2", MessageGroupId="a", MessageDeduplicationId="2")
    sqs.send_message(QueueUrl=url, MessageBody="b1", MessageGroupId="b", MessageDeduplicationId="3")
    (m1,) = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    assert m1["Body"] == "a1" and m1["Attributes"]["MessageGroupId"] == "a"
    assert m1["Attributes"]["SequenceNumber"] == first["SequenceNumber"]
    # Group a is locked while a1 is in flight: b1 comes next, then nothing.
    bodies = [
        m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    ]
    assert bodies == ["b1"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m1["ReceiptHandle"])
    bodies = [
        m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    ]
    assert bodies == ["a2"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true" and attributes["DeduplicationScope"] == "queue"


def test_fifo_content_based_dedup_and_attempt_ids(sqs):
    url = sqs.create_queue(
        QueueName=_name("f") + ".fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true",
            "VisibilityTimeout": "30",
        },
    )["QueueUrl"]
    one = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    two = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    assert one["MessageId"] == two["MessageId"]
    sqs.send_message(QueueUrl=url, MessageBody="other", MessageGroupId="g")
    first = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-1"
    )
    retry = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-1"
    )
    assert [m["Body"] for m in first["Messages"]] == ["same", "other"]
    assert [m["ReceiptHandle"] for m in retry["Messages"]] == [
        m["ReceiptHandle"] for m in first["Messages"]
    ]


# == dead-letter queues ===================================================================


def test_redrive_to_dead_letter_queue_and_back(sqs):
    dlq = sqs.create_queue(QueueName=_name("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    with pytest.raises(ClientError) as excinfo:
        sqs.create_queue(
            QueueName=_name(),
            Attributes={
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn + "x", "maxReceiveCount": 2}
                )
            },
        )
    assert code_and_status(excinfo)[0] == "InvalidParameterValue"
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    source = sqs.create_queue(QueueName=_name("src"), Attributes={"RedrivePolicy": policy})[
        "QueueUrl"
    ]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [source]
    sent = sqs.send_message(QueueUrl=source, MessageBody="poison")
    for _ in range(2):
        (message,) = sqs.receive_message(QueueUrl=source, VisibilityTimeout=0)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=source)  # the third receive moves it
    (dead,) = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"], VisibilityTimeout=0)[
        "Messages"
    ]
    assert dead["MessageId"] == sent["MessageId"] and dead["Body"] == "poison"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"].endswith(source.rsplit("/", 1)[1])
    source_arn = dead["Attributes"]["DeadLetterQueueSourceArn"]
    with pytest.raises(ClientError) as excinfo:
        sqs.start_message_move_task(SourceArn=source_arn)
    assert code_and_status(excinfo)[0] == "InvalidParameterValue"  # the source is no DLQ
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        if tasks[0]["Status"] == "COMPLETED":
            break
        time.sleep(0.05)
    assert tasks[0]["Status"] == "COMPLETED" and tasks[0]["ApproximateNumberOfMessagesMoved"] == 1
    (back,) = sqs.receive_message(QueueUrl=source)["Messages"]
    assert back["MessageId"] == sent["MessageId"]
    with pytest.raises(ClientError) as excinfo:
        sqs.cancel_message_move_task(TaskHandle=handle)
    assert code_and_status(excinfo)[0] == "AWS.SimpleQueueService.UnsupportedOperation"


def test_cancel_a_running_move_task(sqs):
    dlq = sqs.create_queue(QueueName=_name("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    source = sqs.create_queue(QueueName=_name("src"), Attributes={"RedrivePolicy": policy})[
        "QueueUrl"
    ]
    for i in range(5):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"m{i}")
    destination = sqs.create_queue(QueueName=_name("dest"))["QueueUrl"]
    destination_arn = sqs.get_queue_attributes(QueueUrl=destination, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    handle = sqs.start_message_move_task(
        SourceArn=dlq_arn, DestinationArn=destination_arn, MaxNumberOfMessagesPerSecond=1
    )["TaskHandle"]
    (running,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert running["Status"] == "RUNNING" and running["TaskHandle"] == handle
    assert running["ApproximateNumberOfMessagesToMove"] == 5
    moved = sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]
    assert moved < 5
    (cancelled,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert cancelled["Status"] == "CANCELLED" and "TaskHandle" not in cancelled
    assert source  # the queue that makes dlq a dead-letter queue


# == the AWS CLI ==========================================================================


def test_aws_cli(server):
    """The AWS CLI v1 ignores AWS_ENDPOINT_URL for SQS (queue.amazonaws.com): it needs
    --endpoint-url, as the README says."""
    endpoint = ("--endpoint-url", server.endpoint)
    name = _name("cli")
    url = aws(server.endpoint, "sqs", "create-queue", "--queue-name", name, *endpoint)["QueueUrl"]
    assert url == f"{server.endpoint}/{ACCOUNT}/{name}"
    sent = aws(
        server.endpoint, "sqs", "send-message", "--queue-url", url,
        "--message-body", "from the cli", "--delay-seconds", "0",
        "--message-attributes", '{"k": {"DataType": "String", "StringValue": "v"}}', *endpoint,
    )  # fmt: skip
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"from the cli").hexdigest()
    got = aws(
        server.endpoint, "sqs", "receive-message", "--queue-url", url,
        "--message-attribute-names", "All", "--attribute-names", "All", *endpoint,
    )  # fmt: skip
    (message,) = got["Messages"]
    assert (
        message["Body"] == "from the cli"
        and message["MessageAttributes"]["k"]["StringValue"] == "v"
    )
    attributes = aws(
        server.endpoint, "sqs", "get-queue-attributes", "--queue-url", url,
        "--attribute-names", "ApproximateNumberOfMessagesNotVisible", *endpoint,
    )  # fmt: skip
    assert attributes["Attributes"] == {"ApproximateNumberOfMessagesNotVisible": "1"}
    aws(server.endpoint, "sqs", "delete-message", "--queue-url", url,
        "--receipt-handle", message["ReceiptHandle"], *endpoint)  # fmt: skip
    listed = aws(server.endpoint, "sqs", "list-queues", "--queue-name-prefix", name, *endpoint)
    assert listed["QueueUrls"] == [url]
    aws(server.endpoint, "sqs", "delete-queue", "--queue-url", url, *endpoint)


# == IAM ==================================================================================


def test_other_accounts_need_the_queue_policy(server, sqs):
    from tests.e2e.conftest import make_client

    other_account = "111111111111"
    url = sqs.create_queue(QueueName=_name("shared"))["QueueUrl"]
    other = make_client(server.endpoint, "sqs", key=other_account)
    with pytest.raises(ClientError) as excinfo:
        other.send_message(QueueUrl=url, MessageBody="hi")
    code, status = code_and_status(excinfo)
    assert (code, status) == ("AccessDenied", 403)
    assert (
        "no resource-based policy allows the sqs:SendMessage action"
        in excinfo.value.response["Error"]["Message"]
    )
    sqs.add_permission(
        QueueUrl=url, Label="other", AWSAccountIds=[other_account], Actions=["SendMessage"]
    )
    other.send_message(QueueUrl=url, MessageBody="hi")
    other.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "batched"}])
    with pytest.raises(ClientError) as excinfo:
        other.receive_message(QueueUrl=url)
    assert code_and_status(excinfo)[0] == "AccessDenied"
    bodies = sorted(
        m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    )
    assert bodies == ["batched", "hi"]
