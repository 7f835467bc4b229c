"""SNS fan-out latency: a message published to a topic with 10 SQS subscriptions,
until each queue's waiting long-poll receiver has it.

    python bench/sns.py --samples 200

Receivers long-poll all 10 queues (SQS JSON protocol, keep-alive connections); the
publisher sends ``Publish`` (SNS query protocol). Reported, in milliseconds from issuing
the Publish: each delivery's latency (p50 target <= 10 ms) and the time until the last
of the 10 queues has the message. Both the signed JSON envelope (the default) and raw
delivery are measured. The queues' policies allow the topic, as AWS requires.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
from urllib.parse import urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from common import DEV_KEY, client, percentiles, start_server
from sqs import Connection

SUBSCRIPTIONS = 10


class QueryConnection(Connection):
    """A keep-alive connection sending SNS query-protocol requests."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        request = AWSRequest(method="POST", url=f"http://{host}:{port}/", data=b"")
        SigV4Auth(DEV_KEY, "sns", "us-east-1").add_auth(request)
        self.auth = request.headers["Authorization"]
        self.date = request.headers["X-Amz-Date"]

    async def query(self, params: dict) -> bytes:
        body = urlencode({**params, "Version": "2010-03-31"}).encode()
        head = (
            f"POST / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
            f"X-Amz-Date: {self.date}\r\nAuthorization: {self.auth}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        response = await self.reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", response).group(1))
        data = await self.reader.readexactly(length)
        if not response.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{params['Action']}: {data[:300]!r}")
        return data


def setup(port: int, raw: bool) -> tuple[str, list[str]]:
    sns, sqs = client(port, "sns"), client(port, "sqs")
    suffix = "raw" if raw else "envelope"
    topic = sns.create_topic(Name=f"bench-{suffix}")["TopicArn"]
    urls = []
    for i in range(SUBSCRIPTIONS):
        url = sqs.create_queue(QueueName=f"bench-{suffix}-{i}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        attributes = {"RawMessageDelivery": "true"} if raw else {}
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
        urls.append(url)
    return topic, urls


async def fan_out(port: int, topic: str, urls: list[str], samples: int) -> dict:
    receivers = [await Connection("127.0.0.1", port).open() for _ in urls]
    publisher = await QueryConnection("127.0.0.1", port).open()
    each: list[float] = []
    last: list[float] = []
    for n in range(samples):
        arrived: list[float] = []

        async def receive(conn: Connection, url: str, arrived: list[float] = arrived) -> None:
            got = await conn.call(
                "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20, "MaxNumberOfMessages": 1}
            )
            arrived.append(time.perf_counter())
            (message,) = got["Messages"]
            await conn.call(
                "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]}
            )

        polls = [asyncio.create_task(receive(c, u)) for c, u in zip(receivers, urls, strict=True)]
        await asyncio.sleep(0.01)  # the receives are waiting in the server
        issued = time.perf_counter()
        await publisher.query({"Action": "Publish", "TopicArn": topic, "Message": f"m{n}"})
        await asyncio.gather(*polls)
        each += [t - issued for t in arrived]
        last.append(max(arrived) - issued)
    for conn in [*receivers, publisher]:
        conn.close()
    return {"each_delivery": percentiles(each), "all_10_queues": percentiles(last)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            result = {}
            for raw in (False, True):
                topic, urls = setup(port, raw)
                asyncio.run(fan_out(port, topic, urls, 10))  # warm-up
                result["raw" if raw else "envelope"] = asyncio.run(
                    fan_out(port, topic, urls, args.samples)
                )
            print(json.dumps({"sandlot": {"publish_to_receive_ms": result}}, indent=2))
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
