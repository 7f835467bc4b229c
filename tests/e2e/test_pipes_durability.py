"""Pipes are durable: after sandlot is killed (-9) and started again, a running pipe
resumes reading its stream after its checkpoint (what it delivered is not sent again),
and a stopped pipe stays stopped until started."""

from __future__ import annotations

import json

from tests.e2e.conftest import make_client
from tests.e2e.pipes_support import pipe_role, wait_state
from tests.e2e.queues import queue, received
from tests.e2e.server import SandlotServer
from tests.e2e.sfn_support import wait_for


def _bodies(messages: list[dict]) -> list[str]:
    return [json.loads(m["Body"])["data"] for m in messages]


def test_pipes_resume_after_kill_9(tmp_path):
    server = SandlotServer(tmp_path).start()
    try:
        client = lambda service: make_client(server.endpoint, service)  # noqa: E731
        pipes, sqs, kinesis = client("pipes"), client("sqs"), client("kinesis")
        role = pipe_role(client("iam"))
        kinesis.create_stream(StreamName="s", ShardCount=1)
        summary = lambda: kinesis.describe_stream_summary(StreamName="s")[  # noqa: E731
            "StreamDescriptionSummary"
        ]
        wait_for(lambda: summary()["StreamStatus"] == "ACTIVE")
        target_url, target = queue(sqs, "dst")
        pipes.create_pipe(
            Name="streamed", RoleArn=role, Source=summary()["StreamARN"], Target=target,
            SourceParameters={"KinesisStreamParameters": {"StartingPosition": "TRIM_HORIZON"}},
            TargetParameters={"InputTemplate": '{"data": "<$.data>"}'},
        )  # fmt: skip
        held_url, held = queue(sqs, "held")
        later_url, later = queue(sqs, "later")
        pipes.create_pipe(
            Name="held", RoleArn=role, Source=held, Target=later, DesiredState="STOPPED"
        )
        wait_state(pipes, "streamed", "RUNNING")
        wait_state(pipes, "held", "STOPPED")
        for word in ("one", "two"):
            kinesis.put_record(StreamName="s", Data=word.encode(), PartitionKey="k")
        assert sorted(_bodies(received(sqs, target_url, 2))) == ["b25l", "dHdv"]
    finally:
        server.kill()

    with SandlotServer(tmp_path) as again:
        client = lambda service: make_client(again.endpoint, service)  # noqa: E731
        pipes, sqs, kinesis = client("pipes"), client("sqs"), client("kinesis")
        assert pipes.describe_pipe(Name="streamed")["CurrentState"] == "RUNNING"
        assert pipes.describe_pipe(Name="held")["CurrentState"] == "STOPPED"
        kinesis.put_record(StreamName="s", Data=b"three", PartitionKey="k")
        assert _bodies(received(sqs, target_url, 1)) == ["dGhyZWU="]
        # Nothing read before the kill comes again.
        assert not sqs.receive_message(QueueUrl=target_url, WaitTimeSeconds=1).get("Messages")

        sqs.send_message(QueueUrl=held_url, MessageBody="waited")
        assert not sqs.receive_message(QueueUrl=later_url, WaitTimeSeconds=1).get("Messages")
        pipes.start_pipe(Name="held")
        (message,) = received(sqs, later_url, 1)
        assert json.loads(message["Body"])["body"] == "waited"
