"""EventBridge end to end: buses and their policies, rules matching with the shared
pattern engine, targets reached through the delivery path as AWS reaches them (the
function's or queue's resource policy must allow events.amazonaws.com for the rule),
input transformation, dead-letter queues with AWS's attributes, and PutEvents' limits."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

from tests.e2e.conftest import aws, error_of, make_client
from tests.e2e.firehose_support import destination, firehose_role, objects
from tests.e2e.functions import create_function, unique, wait_for_log_events
from tests.e2e.queues import allow_service, queue_arn, receive
from tests.e2e.recorders import HttpRecorder
from tests.e2e.roles import ensure_role, trust_policy

ACCOUNT = "000000000000"


def _queue(sqs, name: str, rule_arn: str | None = None, *, fifo: bool = False) -> tuple[str, str]:
    """(URL, ARN) of a new queue whose policy lets EventBridge send for ``rule_arn``."""
    attributes = {"FifoQueue": "true"} if fifo else {}
    url = sqs.create_queue(QueueName=name + (".fifo" if fifo else ""), Attributes=attributes)[
        "QueueUrl"
    ]
    if rule_arn:
        allow_service(sqs, url, "events.amazonaws.com", rule_arn)
    return url, queue_arn(sqs, url)


def _rule_to_queue(events, sqs, pattern: dict, **target) -> tuple[str, str]:
    """A rule on the default bus sending to a new queue; (rule name, queue URL)."""
    name = unique("rule")
    rule_arn = events.put_rule(Name=name, EventPattern=json.dumps(pattern))["RuleArn"]
    url, arn = _queue(sqs, unique("q"), rule_arn)
    answer = events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn, **target}])
    assert answer["FailedEntryCount"] == 0, answer
    return name, url


def test_put_events_reaches_a_queue_with_the_exact_envelope(client):
    events, sqs = client("events"), client("sqs")
    source = unique("app.orders")
    _, url = _rule_to_queue(
        events, sqs, {"source": [source], "detail": {"total": [{"numeric": [">", 10]}]}}
    )
    answer = events.put_events(
        Entries=[
            {"Source": source, "DetailType": "Order Placed", "Detail": '{"total": 5}'},
            {
                "Source": source,
                "DetailType": "Order Placed",
                "Detail": json.dumps({"total": 42, "items": ["a"]}),
                "Resources": ["arn:aws:s3:::bucket"],
            },
        ]
    )
    assert answer["FailedEntryCount"] == 0
    event_id = answer["Entries"][1]["EventId"]
    [message] = receive(sqs, url)
    event = json.loads(message["Body"])
    assert list(event) == [
        "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail",
    ]  # fmt: skip
    assert event["version"] == "0" and event["id"] == event_id
    assert event["detail-type"] == "Order Placed" and event["source"] == source
    assert event["account"] == ACCOUNT and event["region"] == "us-east-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    assert event["resources"] == ["arn:aws:s3:::bucket"]
    assert event["detail"] == {"total": 42, "items": ["a"]}
    assert receive(sqs, url, timeout=1.5) == []  # the first event did not match


def test_a_queue_whose_policy_does_not_allow_the_rule_gets_nothing(client):
    events, sqs = client("events"), client("sqs")
    source = unique("app")
    name = unique("rule")
    events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
    url, arn = _queue(sqs, unique("q"))  # no policy: EventBridge may not send
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": "{}"}])
    assert receive(sqs, url, timeout=2) == []


def test_input_transformer_input_path_and_constant_input(client):
    events, sqs = client("events"), client("sqs")
    source = unique("app")
    rule = unique("rule")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))["RuleArn"]
    queues = {}
    for key in ("json", "text", "path", "const"):
        queues[key] = _queue(sqs, unique(f"q-{key}"), rule_arn)
    template = (
        '{"instance": <instance>, "state": "<state> now", "count": <count>, '
        '"missing": <missing>, "rule": "<aws.events.rule-name>", "event": <aws.events.event.json>}'
    )
    paths = {
        "instance": "$.detail.instance-id",
        "state": "$.detail.state",
        "count": "$.detail.counts[1]",
        "missing": "$.detail.nothing",
    }
    events.put_targets(
        Rule=rule,
        Targets=[
            {
                "Id": "json",
                "Arn": queues["json"][1],
                "InputTransformer": {"InputPathsMap": paths, "InputTemplate": template},
            },
            {
                "Id": "text",
                "Arn": queues["text"][1],
                "InputTransformer": {
                    "InputPathsMap": {
                        "instance": "$.detail.instance-id",
                        "state": "$.detail.state",
                    },
                    "InputTemplate": '"instance <instance> is in <state>"',
                },
            },
            {"Id": "path", "Arn": queues["path"][1], "InputPath": "$.detail.counts"},
            {"Id": "const", "Arn": queues["const"][1], "Input": '{"fixed": true}'},
        ],
    )
    detail = {"instance-id": "i-123", "state": 'say "hi"', "counts": [1, 2]}
    event_id = events.put_events(
        Entries=[{"Source": source, "DetailType": "t", "Detail": json.dumps(detail)}]
    )["Entries"][0]["EventId"]
    body = json.loads(receive(sqs, queues["json"][0])[0]["Body"])
    assert body["instance"] == "i-123"  # outside quotes: the JSON value
    assert body["state"] == 'say "hi" now'  # inside quotes: the raw text
    assert body["count"] == 2 and body["missing"] is None and body["rule"] == rule
    assert body["event"]["id"] == event_id and body["event"]["detail"] == detail
    assert receive(sqs, queues["text"][0])[0]["Body"] == '"instance i-123 is in say \\"hi\\""'
    assert json.loads(receive(sqs, queues["path"][0])[0]["Body"]) == [1, 2]
    assert json.loads(receive(sqs, queues["const"][0])[0]["Body"]) == {"fixed": True}


def test_input_transformer_validation(client):
    events = client("events")
    rule = unique("rule")
    events.put_rule(Name=rule, EventPattern='{"source": ["x"]}')
    target = {"Id": "t", "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"}
    error = error_of(
        events.put_targets,
        Rule=rule,
        Targets=[{**target, "InputTransformer": {"InputPathsMap": {}, "InputTemplate": "<nope>"}}],
    )
    assert error["Code"] == "ValidationException" and "nope" in error["Message"]
    error = error_of(
        events.put_targets, Rule=rule, Targets=[{**target, "Input": "{}", "InputPath": "$.detail"}]
    )
    assert error["Code"] == "ValidationException"


def test_a_lambda_target_runs_with_the_event(client):
    events, lam, logs = client("events"), client("lambda"), client("logs")
    source = unique("app")
    function = unique("fn")
    code = "import json\ndef handler(event, context):\n    print('GOT ' + json.dumps(event))\n"
    arn = create_function(lam, function, {"app.py": code})["FunctionArn"]
    rule = unique("rule")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))["RuleArn"]
    lam.add_permission(
        FunctionName=function,
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": arn}])
    event_id = events.put_events(
        Entries=[{"Source": source, "DetailType": "t", "Detail": '{"n": 1}'}]
    )["Entries"][0]["EventId"]
    found = wait_for_log_events(logs, function, f'"{event_id}"')
    assert found, "the function never ran"
    event = json.loads(found[0]["message"].split("GOT ", 1)[1])
    assert event["id"] == event_id and event["detail"] == {"n": 1}


def test_a_target_that_refuses_the_rule_goes_to_the_dead_letter_queue(client):
    events, lam, sqs = client("events"), client("lambda"), client("sqs")
    source = unique("app")
    function = unique("fn")
    code = "def handler(event, context):\n    return 1\n"
    arn = create_function(lam, function, {"app.py": code})["FunctionArn"]  # no permission
    rule = unique("rule")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))["RuleArn"]
    dlq_url, dlq_arn = _queue(sqs, unique("dlq"), rule_arn)
    events.put_targets(
        Rule=rule,
        Targets=[
            {
                "Id": "fn",
                "Arn": arn,
                "Input": '{"transformed": true}',
                "DeadLetterConfig": {"Arn": dlq_arn},
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
            }
        ],
    )
    event_id = events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": "{}"}])[
        "Entries"
    ][0]["EventId"]
    [message] = receive(sqs, dlq_url)
    assert json.loads(message["Body"])["id"] == event_id  # the event, not the target's input
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == rule_arn
    assert attributes["TARGET_ARN"] == arn
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS"
    assert attributes["ERROR_MESSAGE"]


def test_test_event_pattern(client):
    events = client("events")
    event = {
        "id": "1", "account": ACCOUNT, "source": "app", "time": "2024-01-01T00:00:00Z",
        "region": "us-east-1", "detail-type": "t", "resources": [], "detail": {"price": 150},
    }  # fmt: skip
    numeric = json.dumps({"detail": {"price": [{"numeric": [">", 100]}]}})
    assert events.test_event_pattern(EventPattern=numeric, Event=json.dumps(event))["Result"]
    as_string = {**event, "detail": {"price": "150"}}
    assert not events.test_event_pattern(EventPattern=numeric, Event=json.dumps(as_string))[
        "Result"
    ]
    error = error_of(events.test_event_pattern, EventPattern='{"a": 1}', Event=json.dumps(event))
    assert error["Code"] == "InvalidEventPatternException"
    assert error["Message"].startswith("Event pattern is not valid. Reason: ")


def test_put_events_limits_and_entry_errors(client):
    events = client("events")
    entry = {"Source": "app", "DetailType": "t", "Detail": "{}"}
    error = error_of(events.put_events, Entries=[entry] * 11)
    assert error["Code"] == "ValidationException"
    big = {**entry, "Detail": json.dumps({"x": "y" * 200_000})}
    error = error_of(events.put_events, Entries=[big, big])
    assert error["Code"] == "ValidationException"
    answer = events.put_events(
        Entries=[
            entry,
            {"Source": "app", "DetailType": "t"},
            {**entry, "Detail": "not json"},
            {**entry, "Source": "aws.s3"},
            {**entry, "EventBusName": "no-such-bus"},
        ]
    )
    assert answer["FailedEntryCount"] == 4
    codes = [e.get("ErrorCode") for e in answer["Entries"]]
    assert codes == [
        None, "InvalidArgument", "MalformedDetail", "NotAuthorizedForSourceException",
        "ResourceNotFoundException",
    ]  # fmt: skip
    assert "EventId" in answer["Entries"][0]


def test_rules_lifecycle(client):
    events = client("events")
    bus = unique("bus")
    events.create_event_bus(Name=bus)
    error = error_of(events.create_event_bus, Name=bus)
    assert error["Code"] == "ResourceAlreadyExistsException"
    name = unique("rule")
    arn = events.put_rule(Name=name, EventBusName=bus, EventPattern='{"source": ["a"]}')["RuleArn"]
    assert arn == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{bus}/{name}"
    described = events.describe_rule(Name=name, EventBusName=bus)
    assert described["State"] == "ENABLED" and described["EventBusName"] == bus
    events.disable_rule(Name=name, EventBusName=bus)
    assert events.describe_rule(Name=name, EventBusName=bus)["State"] == "DISABLED"
    assert [r["Name"] for r in events.list_rules(EventBusName=bus)["Rules"]] == [name]
    target = {"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"}
    events.put_targets(Rule=name, EventBusName=bus, Targets=[target])
    assert events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"] == [target]
    assert events.list_rule_names_by_target(TargetArn=target["Arn"], EventBusName=bus)[
        "RuleNames"
    ] == [name]
    error = error_of(events.delete_rule, Name=name, EventBusName=bus)
    assert (error["Code"], error["Message"]) == (
        "ValidationException",
        "Rule can't be deleted since it has targets.",
    )
    events.remove_targets(Rule=name, EventBusName=bus, Ids=["q"])
    events.delete_rule(Name=name, EventBusName=bus)
    error = error_of(events.describe_rule, Name=name, EventBusName=bus)
    assert error["Code"] == "ResourceNotFoundException"
    error = error_of(
        events.put_rule, Name=name, EventBusName=bus, ScheduleExpression="rate(1 minute)"
    )
    assert error["Code"] == "ValidationException"
    error = error_of(events.put_rule, Name=name, ScheduleExpression="rate(1 minutes)")
    assert (error["Code"], error["Message"]) == (
        "ValidationException",
        "Parameter ScheduleExpression is not valid.",
    )
    events.delete_event_bus(Name=bus)
    assert bus not in [b["Name"] for b in events.list_event_buses()["EventBuses"]]


def test_fifo_queue_target_gets_the_message_group(client):
    events, sqs = client("events"), client("sqs")
    source = unique("app")
    rule = unique("rule")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))["RuleArn"]
    url, arn = _queue(sqs, unique("q"), rule_arn, fifo=True)
    error = error_of(events.put_targets, Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    assert error["Message"] == "Parameter(s) SqsParameters must be specified for target: q."
    events.put_targets(
        Rule=rule, Targets=[{"Id": "q", "Arn": arn, "SqsParameters": {"MessageGroupId": "g1"}}]
    )
    event_id = events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": "{}"}])[
        "Entries"
    ][0]["EventId"]
    deadline = time.monotonic() + 15
    got: list = []
    while not got and time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url,
            WaitTimeSeconds=1,
            AttributeNames=["MessageGroupId", "MessageDeduplicationId"],
        ).get("Messages", [])
    [message] = got
    assert json.loads(message["Body"])["id"] == event_id
    assert message["Attributes"]["MessageGroupId"] == "g1"
    assert message["Attributes"]["MessageDeduplicationId"] == event_id


def test_cross_account_put_events_needs_the_bus_policy(client, server):
    events, sqs = client("events"), client("sqs")
    other = make_client(server.endpoint, "events", key="222222222222")
    bus = unique("shared")
    bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
    rule = unique("rule")
    rule_arn = events.put_rule(Name=rule, EventBusName=bus, EventPattern='{"source": ["partner"]}')[
        "RuleArn"
    ]
    url, arn = _queue(sqs, unique("q"), rule_arn)
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    entry = {"Source": "partner", "DetailType": "t", "Detail": "{}", "EventBusName": bus_arn}
    error = error_of(other.put_events, Entries=[entry])
    assert error["Code"] == "AccessDeniedException"
    events.put_permission(
        EventBusName=bus, Action="events:PutEvents", Principal="222222222222", StatementId="partner"
    )
    policy = json.loads(events.describe_event_bus(Name=bus)["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}
    assert other.put_events(Entries=[entry])["FailedEntryCount"] == 0
    [message] = receive(sqs, url)
    assert json.loads(message["Body"])["account"] == "222222222222"
    events.remove_permission(EventBusName=bus, StatementId="partner")
    assert error_of(other.put_events, Entries=[entry])["Code"] == "AccessDeniedException"


def test_another_bus_as_a_target_with_a_role(client):
    events, sqs, iam = client("events"), client("sqs"), client("iam")
    source = unique("app")
    inner = unique("inner")
    inner_arn = events.create_event_bus(Name=inner)["EventBusArn"]
    role_name = unique("events-role")
    role = ensure_role(iam, role_name, trust=trust_policy({"Service": "events.amazonaws.com"}))
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="put",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "events:PutEvents", "Resource": inner_arn}
                ],
            }
        ),
    )
    outer_rule = unique("rule")
    events.put_rule(Name=outer_rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=outer_rule, Targets=[{"Id": "bus", "Arn": inner_arn, "RoleArn": role}])
    inner_rule = unique("rule")
    inner_rule_arn = events.put_rule(
        Name=inner_rule, EventBusName=inner, EventPattern=json.dumps({"source": [source]})
    )["RuleArn"]
    url, arn = _queue(sqs, unique("q"), inner_rule_arn)
    events.put_targets(Rule=inner_rule, EventBusName=inner, Targets=[{"Id": "q", "Arn": arn}])
    events.put_events(Entries=[{"Source": source, "DetailType": "hop", "Detail": '{"a": 1}'}])
    [message] = receive(sqs, url)
    event = json.loads(message["Body"])
    assert (event["source"], event["detail-type"], event["detail"]) == (source, "hop", {"a": 1})


def test_the_aws_cli_drives_rules_and_put_events(server, client):
    sqs = client("sqs")
    source = unique("cli")
    rule = unique("rule")
    rule_arn = aws(
        server.endpoint, "events", "put-rule", "--name", rule,
        "--event-pattern", json.dumps({"source": [source]}),
    )["RuleArn"]  # fmt: skip
    url, arn = _queue(sqs, unique("q"), rule_arn)
    aws(server.endpoint, "events", "put-targets", "--rule", rule, "--targets", f"Id=q,Arn={arn}")
    entries = json.dumps([{"Source": source, "DetailType": "cli", "Detail": '{"via": "cli"}'}])
    answer = aws(server.endpoint, "events", "put-events", "--entries", entries)
    assert answer["FailedEntryCount"] == 0
    [message] = receive(sqs, url)
    assert json.loads(message["Body"])["detail"] == {"via": "cli"}


@pytest.mark.parametrize(
    "expression", ["rate(0 minutes)", "cron(0 12 * * * *)", "cron(0 25 * * ? *)"]
)
def test_invalid_schedule_expressions_are_refused(client, expression):
    error = error_of(client("events").put_rule, Name=unique("r"), ScheduleExpression=expression)
    assert (error["Code"], error["Message"]) == (
        "ValidationException",
        "Parameter ScheduleExpression is not valid.",
    )


def test_lambda_destination_to_a_bus(client):
    events, lam, sqs, iam = client("events"), client("lambda"), client("sqs"), client("iam")
    role_name = unique("dest-role")
    role = ensure_role(
        iam,
        role_name,
        managed=("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",),
    )
    bus_arn = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="put",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "events:PutEvents", "Resource": bus_arn}
                ],
            }
        ),
    )
    function = unique("fn")
    code = "def handler(event, context):\n    return {'echo': event}\n"
    create_function(lam, function, {"app.py": code}, role=role)
    lam.put_function_event_invoke_config(
        FunctionName=function, DestinationConfig={"OnSuccess": {"Destination": bus_arn}}
    )
    rule = unique("rule")
    pattern = {
        "source": ["lambda"],
        "detail-type": ["Lambda Function Invocation Result - Success"],
        "detail": {"requestPayload": {"marker": [function]}},
    }
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps(pattern))["RuleArn"]
    url, arn = _queue(sqs, unique("q"), rule_arn)
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    lam.invoke(
        FunctionName=function, InvocationType="Event", Payload=json.dumps({"marker": function})
    )
    [message] = receive(sqs, url, timeout=30)
    event = json.loads(message["Body"])
    assert event["source"] == "lambda"
    assert event["resources"][0] == bus_arn
    assert event["resources"][1].endswith(f":function:{function}:$LATEST")
    assert event["detail"]["requestContext"]["condition"] == "Success"
    assert event["detail"]["responsePayload"] == {"echo": {"marker": function}}


def test_a_log_group_target_needs_the_logs_resource_policy(client):
    events, logs, sqs = client("events"), client("logs"), client("sqs")
    source = unique("app")
    group = f"/aws/events/{unique('g')}"
    logs.create_log_group(logGroupName=group)
    group_arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}"
    rule = unique("rule")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))["RuleArn"]
    dlq_url, dlq_arn = _queue(sqs, unique("dlq"), rule_arn)
    events.put_targets(
        Rule=rule,
        Targets=[{"Id": "logs", "Arn": group_arn, "DeadLetterConfig": {"Arn": dlq_arn}}],
    )
    entry = {"Source": source, "DetailType": "t", "Detail": '{"n": 1}'}
    refused = events.put_events(Entries=[entry])["Entries"][0]["EventId"]
    [dead] = receive(sqs, dlq_url)  # no logs resource policy: EventBridge may not write
    assert json.loads(dead["Body"])["id"] == refused
    assert dead["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "NO_PERMISSIONS"
    logs.put_resource_policy(
        policyName=unique("events-to-logs"),
        policyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/events/*:*",
                    }
                ],
            }
        ),
    )
    event_id = events.put_events(Entries=[entry])["Entries"][0]["EventId"]
    deadline = time.monotonic() + 15
    found: list = []
    while not found and time.monotonic() < deadline:
        try:  # one stream per event, named by the event's id
            found = logs.get_log_events(logGroupName=group, logStreamName=event_id)["events"]
        except logs.exceptions.ResourceNotFoundException:
            time.sleep(0.1)
    assert found and json.loads(found[0]["message"])["id"] == event_id


def test_archive_and_replay(client):
    events, sqs = client("events"), client("sqs")
    source = unique("app")
    bus = unique("bus")
    bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
    archive = unique("arch")
    archive_arn = events.create_archive(
        ArchiveName=archive,
        EventSourceArn=bus_arn,
        EventPattern=json.dumps({"source": [source], "detail": {"keep": [True]}}),
    )["ArchiveArn"]
    error = error_of(events.create_archive, ArchiveName=archive, EventSourceArn=bus_arn)
    assert error["Code"] == "ResourceAlreadyExistsException"
    began = time.time() - 1
    entries = [
        {"Source": source, "DetailType": "t", "Detail": json.dumps({"keep": keep, "n": n}),
         "EventBusName": bus}
        for n, keep in enumerate([True, False, True])
    ]  # fmt: skip
    ids = [e["EventId"] for e in events.put_events(Entries=entries)["Entries"]]
    described = events.describe_archive(ArchiveName=archive)
    assert described["EventCount"] == 2 and described["State"] == "ENABLED"
    # Rules made after the events: only a replay can bring them the archived ones.
    rule = unique("rule")
    rule_arn = events.put_rule(
        Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": [source]})
    )["RuleArn"]
    url, arn = _queue(sqs, unique("q"), rule_arn)
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    error = error_of(
        events.start_replay,
        ReplayName=unique("rp"),
        EventSourceArn=archive_arn,
        EventStartTime=began,
        EventEndTime=time.time() + 1,
        Destination={"Arn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"},
    )
    assert "Cross event bus replay is not permitted" in error["Message"]
    replay = unique("rp")
    started = events.start_replay(
        ReplayName=replay,
        EventSourceArn=archive_arn,
        EventStartTime=began,
        EventEndTime=time.time() + 1,
        Destination={"Arn": bus_arn, "FilterArns": [rule_arn]},
    )
    assert started["State"] == "STARTING"
    messages = receive(sqs, url, count=2)
    replayed = sorted((json.loads(m["Body"]) for m in messages), key=lambda e: e["detail"]["n"])
    assert [e["id"] for e in replayed] == [ids[0], ids[2]]
    assert all(e["replay-name"] == replay for e in replayed)
    deadline = time.monotonic() + 10
    while events.describe_replay(ReplayName=replay)["State"] != "COMPLETED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert events.describe_archive(ArchiveName=archive)["EventCount"] == 2  # not re-archived
    assert [r["ReplayName"] for r in events.list_replays(NamePrefix=replay)["Replays"]] == [replay]
    events.delete_archive(ArchiveName=archive)
    assert error_of(events.describe_archive, ArchiveName=archive)["Code"] == (
        "ResourceNotFoundException"
    )


def test_a_rule_forwards_to_another_accounts_bus_its_policy_allows(client, server):
    events = client("events")
    other_events = make_client(server.endpoint, "events", key="333333333333")
    other_sqs = make_client(server.endpoint, "sqs", key="333333333333")
    source = unique("fwd")
    receiver = unique("receiver")
    receiver_arn = other_events.create_event_bus(Name=receiver)["EventBusArn"]
    other_events.put_permission(
        EventBusName=receiver, Action="events:PutEvents", Principal=ACCOUNT, StatementId="sender"
    )
    inner = unique("rule")
    inner_arn = other_events.put_rule(
        Name=inner, EventBusName=receiver, EventPattern=json.dumps({"source": [source]})
    )["RuleArn"]
    url, arn = _queue(other_sqs, unique("q"), inner_arn)
    other_events.put_targets(Rule=inner, EventBusName=receiver, Targets=[{"Id": "q", "Arn": arn}])
    outer = unique("rule")
    events.put_rule(Name=outer, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=outer, Targets=[{"Id": "bus", "Arn": receiver_arn}])
    events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": '{"x": 1}'}])
    [message] = receive(other_sqs, url)
    event = json.loads(message["Body"])
    assert event["account"] == ACCOUNT and event["detail"] == {"x": 1}


def test_s3_sends_object_events_to_the_default_bus_when_enabled(client, bucket):
    events, sqs, s3 = client("events"), client("sqs"), client("s3")
    rule = unique("rule")
    pattern = {"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}}}
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps(pattern))["RuleArn"]
    url, arn = _queue(sqs, unique("q"), rule_arn)
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    s3.put_object(Bucket=bucket, Key="before.txt", Body=b"not sent")  # not enabled yet
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
    s3.delete_object(Bucket=bucket, Key="a/b.txt")
    messages = [json.loads(m["Body"]) for m in receive(sqs, url, count=2)]
    created, deleted = sorted(messages, key=lambda e: e["detail-type"])
    assert (created["source"], created["detail-type"]) == ("aws.s3", "Object Created")
    assert created["resources"] == [f"arn:aws:s3:::{bucket}"]
    assert created["detail"]["object"]["key"] == "a/b.txt"
    assert created["detail"]["object"]["size"] == 5
    assert created["detail"]["reason"] == "PutObject"
    assert deleted["detail-type"] == "Object Deleted"
    assert deleted["detail"]["deletion-type"] == "Permanently Deleted"
    assert receive(sqs, url, timeout=1) == []  # nothing for the object put before


def test_api_destination_target_calls_the_endpoint_with_the_connection(client):
    events, sqs = client("events"), client("sqs")
    receiver = HttpRecorder()
    refusing = HttpRecorder(status=404)
    try:
        connection = events.create_connection(
            Name=unique("conn"),
            AuthorizationType="API_KEY",
            AuthParameters={
                "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "s3cret"},
                "InvocationHttpParameters": {
                    "QueryStringParameters": [{"Key": "from", "Value": "sandlot"}]
                },
            },
        )["ConnectionArn"]
        name = connection.split("/")[1]
        described = events.describe_connection(Name=name)
        assert described["ConnectionState"] == "AUTHORIZED"
        assert "ApiKeyValue" not in described["AuthParameters"]["ApiKeyAuthParameters"]
        destination = events.create_api_destination(
            Name=unique("dest"), ConnectionArn=connection,
            InvocationEndpoint=receiver.url + "/orders/*", HttpMethod="PUT",
        )["ApiDestinationArn"]  # fmt: skip
        gone = events.create_api_destination(
            Name=unique("dest"), ConnectionArn=connection,
            InvocationEndpoint=refusing.url + "/nope", HttpMethod="POST",
        )["ApiDestinationArn"]  # fmt: skip
        source = unique("app")
        rule = unique("rule")
        rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))[
            "RuleArn"
        ]
        dlq_url, dlq_arn = _queue(sqs, unique("dlq"), rule_arn)
        answer = events.put_targets(
            Rule=rule,
            Targets=[
                {
                    "Id": "api",
                    "Arn": destination,
                    "HttpParameters": {
                        "PathParameterValues": ["o-1"],
                        "HeaderParameters": {"X-Extra": "yes"},
                    },
                },
                {"Id": "refused", "Arn": gone, "DeadLetterConfig": {"Arn": dlq_arn}},
                {"Id": "missing", "Arn": destination + "-no"},
            ],
        )
        assert answer["FailedEntryCount"] == 1
        assert answer["FailedEntries"][0]["TargetId"] == "missing"
        event_id = events.put_events(
            Entries=[{"Source": source, "DetailType": "t", "Detail": '{"o": 1}'}]
        )["Entries"][0]["EventId"]
        [(method, path, headers, body)] = receiver.wait(1)
        assert (method, path) == ("PUT", "/orders/o-1?from=sandlot")
        assert headers["x-api-key"] == "s3cret" and headers["x-extra"] == "yes"
        assert headers["user-agent"] == "Amazon/EventBridge/ApiDestinations"
        assert json.loads(body)["id"] == event_id
        [dead] = receive(sqs, dlq_url)  # a 404 is final: no retries, then the DLQ
        assert len(refusing.wait(1)) == 1
        assert dead["MessageAttributes"]["TARGET_ARN"]["StringValue"] == gone
    finally:
        receiver.close()
        refusing.close()


def test_oauth_client_credentials_connection(client):
    import http.server
    import threading

    token_requests: list[tuple[dict, bytes]] = []

    class Token(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            token_requests.append((dict(self.headers), body))
            answer = json.dumps({"access_token": "tok-1", "expires_in": 3600}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    token_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Token)
    threading.Thread(target=token_server.serve_forever, daemon=True).start()
    receiver = HttpRecorder()
    events = client("events")
    try:
        connection = events.create_connection(
            Name=unique("oauth"),
            AuthorizationType="OAUTH_CLIENT_CREDENTIALS",
            AuthParameters={
                "OAuthParameters": {
                    "ClientParameters": {"ClientID": "app", "ClientSecret": "shh"},
                    "AuthorizationEndpoint": f"http://127.0.0.1:{token_server.server_address[1]}/token",
                    "HttpMethod": "POST",
                    "OAuthHttpParameters": {
                        "BodyParameters": [{"Key": "grant_type", "Value": "client_credentials"}]
                    },
                }
            },
        )["ConnectionArn"]
        described = events.describe_connection(Name=connection.split("/")[1])
        assert (
            "ClientSecret" not in described["AuthParameters"]["OAuthParameters"]["ClientParameters"]
        )
        destination = events.create_api_destination(
            Name=unique("dest"), ConnectionArn=connection,
            InvocationEndpoint=receiver.url + "/hook", HttpMethod="POST",
        )["ApiDestinationArn"]  # fmt: skip
        source = unique("app")
        rule = unique("rule")
        events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
        events.put_targets(Rule=rule, Targets=[{"Id": "api", "Arn": destination}])
        entry = {"Source": source, "DetailType": "t", "Detail": "{}"}
        events.put_events(Entries=[entry, entry])
        received = receiver.wait(2)
        assert [r.headers["authorization"] for r in received] == ["Bearer tok-1", "Bearer tok-1"]
        assert len(token_requests) == 1  # the token is kept until it expires
        headers, body = token_requests[0]
        assert headers["Authorization"] == "Basic " + base64.b64encode(b"app:shh").decode()
        assert body == b"grant_type=client_credentials"
    finally:
        receiver.close()
        token_server.shutdown()
        token_server.server_close()


def test_an_entry_time_is_the_event_time(client):
    import datetime as dt

    events, sqs = client("events"), client("sqs")
    source = unique("app")
    _, url = _rule_to_queue(events, sqs, {"source": [source]})
    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": "{}", "Time": when}])
    [message] = receive(sqs, url)
    assert json.loads(message["Body"])["time"] == "2024-05-06T07:08:09Z"


def test_a_kinesis_stream_target_with_and_without_a_partition_key_path(client):
    """PutRecord as the target's role; the partition key is the value at
    KinesisParameters.PartitionKeyPath, else the event id (AWS's default)."""
    events, kinesis, iam = client("events"), client("kinesis"), client("iam")
    stream = unique("stream")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    role_name = unique("events-kinesis")
    role = ensure_role(iam, role_name, trust=trust_policy({"Service": "events.amazonaws.com"}))
    iam.put_role_policy(RoleName=role_name, PolicyName="put", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kinesis:PutRecord", "Resource": stream_arn}]}))  # fmt: skip
    source, rule = unique("app"), unique("rule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    bad = {"Id": "x", "Arn": stream_arn, "RoleArn": role,
           "KinesisParameters": {"PartitionKeyPath": "detail.customer"}}  # fmt: skip
    assert error_of(events.put_targets, Rule=rule, Targets=[bad])["Code"] == "ValidationException"
    answer = events.put_targets(Rule=rule, Targets=[
        {"Id": "keyed", "Arn": stream_arn, "RoleArn": role,
         "KinesisParameters": {"PartitionKeyPath": "$.detail.customer"}},
        {"Id": "default", "Arn": stream_arn, "RoleArn": role}])  # fmt: skip
    assert answer["FailedEntryCount"] == 0, answer
    detail = json.dumps({"customer": "cust-7"})
    event_id = events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": detail}])[
        "Entries"
    ][0]["EventId"]
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
    records: list = []
    deadline = time.monotonic() + 15
    while len(records) < 2 and time.monotonic() < deadline:
        page = kinesis.get_records(ShardIterator=iterator)
        records += page["Records"]
        iterator = page["NextShardIterator"]
        time.sleep(0.1)
    assert sorted(r["PartitionKey"] for r in records) == sorted(["cust-7", event_id])
    assert {json.loads(r["Data"])["id"] for r in records} == {event_id}


def test_a_firehose_delivery_stream_target(client):
    """PutRecord on the delivery stream as the target's role: the event lands in S3."""
    events, firehose, s3, iam = client("events"), client("firehose"), client("s3"), client("iam")
    bucket = unique("events-fh")
    s3.create_bucket(Bucket=bucket)
    stream_arn = firehose.create_delivery_stream(
        DeliveryStreamName=unique("fh"), DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration=destination(bucket, firehose_role(iam)),
    )["DeliveryStreamARN"]  # fmt: skip
    role_name = unique("events-firehose")
    role = ensure_role(iam, role_name, trust=trust_policy({"Service": "events.amazonaws.com"}))
    iam.put_role_policy(RoleName=role_name, PolicyName="put", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "firehose:PutRecord", "Resource": stream_arn}]}))  # fmt: skip
    source, rule = unique("app"), unique("rule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    answer = events.put_targets(Rule=rule, Targets=[
        {"Id": "fh", "Arn": stream_arn, "RoleArn": role, "InputPath": "$.detail"}])  # fmt: skip
    assert answer["FailedEntryCount"] == 0, answer
    events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": '{"n": 1}'}])
    (key,) = objects(s3, bucket)
    assert json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == {"n": 1}


def test_an_api_destination_keeps_to_its_invocation_rate(client):
    """InvocationRateLimitPerSecond 1: three events sent together reach the endpoint one
    a second (the excess waits and goes out later, none is lost)."""
    events = client("events")
    receiver = HttpRecorder()
    try:
        connection = events.create_connection(
            Name=unique("conn"), AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}},
        )["ConnectionArn"]  # fmt: skip
        destination = events.create_api_destination(
            Name=unique("dest"), ConnectionArn=connection, InvocationEndpoint=receiver.url,
            HttpMethod="POST", InvocationRateLimitPerSecond=1,
        )["ApiDestinationArn"]  # fmt: skip
        source, rule = unique("app"), unique("rule")
        events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
        events.put_targets(Rule=rule, Targets=[{"Id": "api", "Arn": destination}])
        started = time.monotonic()
        entry = {"Source": source, "DetailType": "t", "Detail": "{}"}
        ids = [e["EventId"] for e in events.put_events(Entries=[entry] * 3)["Entries"]]
        received = receiver.wait(3, timeout=20)
        assert time.monotonic() - started >= 1.8  # the 2nd after ≥ 1 s, the 3rd ≥ 2 s
        assert sorted(json.loads(r.body)["id"] for r in received) == sorted(ids)
    finally:
        receiver.close()
