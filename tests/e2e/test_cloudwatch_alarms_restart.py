"""Metric alarms are evaluated on a durable schedule: an alarm that came due while
sandlot was down is evaluated right after it starts again, even when nothing uses
CloudWatch (service metrics off), and notifies its SNS topic."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import make_client
from tests.e2e.server import SandlotServer
from tests.e2e.test_cloudwatch_alarms import subscribed_queue


def test_an_alarm_due_while_down_is_evaluated_after_start_up(tmp_path):
    server = SandlotServer(tmp_path, lambda_role=False).start()
    try:
        cw, sns, sqs = (make_client(server.endpoint, s) for s in ("cloudwatch", "sns", "sqs"))
        topic = sns.create_topic(Name="alarms")["TopicArn"]
        subscribed_queue(sqs, sns, topic)
        # No data, missing data breaching: ALARM at its first evaluation.
        cw.put_metric_alarm(
            AlarmName="quiet", Namespace="App", MetricName="Heartbeats", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=1,
            ComparisonOperator="LessThanThreshold", TreatMissingData="breaching",
            AlarmActions=[topic],
        )  # fmt: skip
        [alarm] = cw.describe_alarms(AlarmNames=["quiet"])["MetricAlarms"]
        # Not evaluated yet (the first round is ten seconds after the put).
        assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    finally:
        server.kill()

    # Back up with service metrics off: nothing but the alarm schedule loads CloudWatch.
    with SandlotServer(tmp_path, lambda_role=False, env={"SANDLOT_SERVICE_METRICS": "false"}) as up:
        began = time.monotonic()
        sqs = make_client(up.endpoint, "sqs")
        [queue] = sqs.list_queues()["QueueUrls"]
        messages: list = []
        while not messages and time.monotonic() - began < 30:
            messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
        assert messages, "the alarm was not evaluated after start-up"
        note = json.loads(json.loads(messages[0]["Body"])["Message"])
        assert (note["AlarmName"], note["OldStateValue"], note["NewStateValue"]) == (
            "quiet", "INSUFFICIENT_DATA", "ALARM"
        )  # fmt: skip
        # Due while down: evaluated at start-up, not a round later.
        assert time.monotonic() - began < 10
        cw = make_client(up.endpoint, "cloudwatch")
        [alarm] = cw.describe_alarms(AlarmNames=["quiet"])["MetricAlarms"]
        assert alarm["StateValue"] == "ALARM"
