"""SQS under kill -9: every acknowledged message is there after a restart, FIFO order
and deduplication hold, and in-flight messages come back when their timeout ends."""

from __future__ import annotations

import threading
import time

from botocore.exceptions import BotoCoreError, ClientError

from tests.e2e.conftest import make_client
from tests.e2e.server import SandlotServer


def test_acknowledged_messages_survive_kill_9(tmp_path):
    server = SandlotServer(tmp_path, lambda_role=False).start()
    sqs = make_client(server.endpoint, "sqs")
    url = sqs.create_queue(QueueName="durable")["QueueUrl"]
    fifo = sqs.create_queue(QueueName="durable.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    first = sqs.send_message(
        QueueUrl=fifo, MessageBody="f0", MessageGroupId="g", MessageDeduplicationId="0"
    )
    for i in range(1, 5):
        sqs.send_message(
            QueueUrl=fifo, MessageBody=f"f{i}", MessageGroupId="g", MessageDeduplicationId=str(i)
        )
    sqs.send_message(QueueUrl=url, MessageBody="in flight")
    in_flight = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]
    acknowledged: set[str] = {in_flight["MessageId"]}
    stop = threading.Event()

    def writer(worker: int) -> None:
        client = make_client(server.endpoint, "sqs")
        n = 0
        while not stop.is_set():
            n += 1
            try:
                sent = client.send_message(QueueUrl=url, MessageBody=f"w{worker}-{n}")
            except (BotoCoreError, ClientError):
                return  # the server died under us: never acknowledged
            acknowledged.add(sent["MessageId"])

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < 300:
        time.sleep(0.01)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(30)

    with SandlotServer(tmp_path, lambda_role=False) as restarted:
        sqs = make_client(restarted.endpoint, "sqs")
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        fifo = sqs.get_queue_url(QueueName="durable.fifo")["QueueUrl"]
        seen: set[str] = set()
        deadline = time.monotonic() + 30
        while not acknowledged <= seen and time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in got.get("Messages", []):
                seen.add(message["MessageId"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        assert acknowledged <= seen, f"{len(acknowledged - seen)} acknowledged messages lost"
        again = sqs.send_message(
            QueueUrl=fifo, MessageBody="f0", MessageGroupId="g", MessageDeduplicationId="0"
        )
        assert again["MessageId"] == first["MessageId"]  # deduplicated across the restart
        bodies = [
            m["Body"]
            for m in sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]
        ]
        assert bodies == [f"f{i}" for i in range(5)]
