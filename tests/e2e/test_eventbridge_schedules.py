"""Scheduled rules fire from the durable timers: a rate() rule sends AWS's Scheduled
Event on time, and a firing that came due while the server was down is sent after the
restart. ``SANDLOT_SCHEDULE_SPEEDUP=60`` makes a minute last a second (no fixed sleeps:
every wait polls with a deadline)."""

from __future__ import annotations

import calendar
import json
import time

from tests.e2e.conftest import make_client
from tests.e2e.queues import allow_service, queue, receive
from tests.e2e.server import SandlotServer

SPEEDUP = {"SANDLOT_SCHEDULE_SPEEDUP": "60"}


def _scheduled_rule(endpoint: str, name: str, expression: str) -> tuple[str, str]:
    """A schedule rule sending to a new queue: (rule ARN, queue URL)."""
    events, sqs = make_client(endpoint, "events"), make_client(endpoint, "sqs")
    rule_arn = events.put_rule(Name=name, ScheduleExpression=expression)["RuleArn"]
    url, arn = queue(sqs, f"{name}-q")
    allow_service(sqs, url, "events.amazonaws.com", rule_arn)
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    return rule_arn, url


def test_a_rate_rule_fires_with_the_scheduled_event(tmp_path):
    with SandlotServer(tmp_path, env=SPEEDUP, lambda_role=False) as server:
        rule_arn, url = _scheduled_rule(server.endpoint, "every-minute", "rate(1 minute)")
        sqs = make_client(server.endpoint, "sqs")
        messages = receive(sqs, url, count=2, timeout=10)
        assert len(messages) >= 2
        event = json.loads(messages[0]["Body"])
        assert event["source"] == "aws.events"
        assert event["detail-type"] == "Scheduled Event"
        assert event["resources"] == [rule_arn]
        assert event["detail"] == {} and event["version"] == "0"
        events = make_client(server.endpoint, "events")
        events.disable_rule(Name="every-minute")
        receive(sqs, url, count=10, timeout=1.5)  # what was already on its way
        assert receive(sqs, url, timeout=2.5) == []  # disabled: no more firings


def test_a_firing_due_during_a_restart_is_sent_after_it(tmp_path):
    server = SandlotServer(tmp_path, env=SPEEDUP, lambda_role=False).start()
    try:
        # rate(5 minutes) at 60x: due 5 s after the rule's creation; the server is down.
        rule_arn, url = _scheduled_rule(server.endpoint, "while-down", "rate(5 minutes)")
        created = time.time()
    finally:
        server.kill()
    while time.time() < created + 6:  # past the due time, with the server down
        time.sleep(0.2)
    with SandlotServer(tmp_path, env=SPEEDUP, lambda_role=False) as again:
        sqs = make_client(again.endpoint, "sqs")
        message = receive(sqs, url, timeout=10)[0]
        event = json.loads(message["Body"])
        assert event["resources"] == [rule_arn]
        # The firing that was due while down (its time is when it was due), not a later one.
        due = calendar.timegm(time.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ"))
        assert created + 3 <= due <= created + 6
