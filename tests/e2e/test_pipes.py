"""EventBridge Pipes end to end with boto3: the API and its states; SQS → filter →
Lambda enrichment → SQS with input templates; FIFO order; Kinesis → Step Functions; a
DynamoDB stream → the default bus → a rule → a queue; a stopped pipe delivers nothing;
the pipe's role is what IAM evaluates; a Lambda target's batch and item failures; a
stream's dead-letter record; an Express enrichment; HTTP enrichments and targets; SNS,
Kinesis, Logs and Firehose targets; execution logs; AWS::Pipes::Pipe."""

from __future__ import annotations

import base64
import json

import pytest

from tests.e2e.conftest import aws, error_of
from tests.e2e.firehose_support import destination, firehose_role, objects
from tests.e2e.functions import create_function, unique
from tests.e2e.pipes_support import pipe_role, wait_state
from tests.e2e.queues import queue, received
from tests.e2e.recorders import HttpRecorder
from tests.e2e.roles import ensure_role
from tests.e2e.sfn_support import definition, states_role, wait_for
from tests.e2e.stacks import settled

ACCOUNT = "000000000000"
REGION = "us-east-1"

# Enrichment: each event gets the function's mark; an event whose kind is "drop" is left out.
ENRICHER = """
def handler(event, context):
    return [{**e, "enriched": True} for e in event if e.get("kind") != "drop"]
"""


@pytest.fixture
def setup(client):
    return client("pipes"), client("sqs"), client("iam")


def test_api_states_tags_and_errors(setup, server):
    pipes, sqs, iam = setup
    role = pipe_role(iam)
    _, source = queue(sqs, "src")
    _, target = queue(sqs, "dst")
    name = unique("pipe")
    created = pipes.create_pipe(
        Name=name, RoleArn=role, Source=source, Target=target, Description="d",
        Tags={"team": "a"},
    )  # fmt: skip
    arn = f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/{name}"
    assert created["Arn"] == arn and created["Name"] == name
    assert created["CurrentState"] == "CREATING" and created["DesiredState"] == "RUNNING"
    running = wait_state(pipes, name, "RUNNING")
    assert running["Source"] == source and running["Target"] == target
    assert running["RoleArn"] == role and running["Description"] == "d"
    assert running["Tags"] == {"team": "a"}

    # The AWS CLI too.
    described = aws(server.endpoint, "pipes", "describe-pipe", "--name", name)
    assert (described["Arn"], described["CurrentState"]) == (arn, "RUNNING")
    listed = pipes.list_pipes(NamePrefix=name)["Pipes"]
    assert [(p["Name"], p["CurrentState"], p["Source"]) for p in listed] == [
        (name, "RUNNING", source)
    ]
    pipes.tag_resource(resourceArn=arn, tags={"env": "dev"})
    pipes.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert pipes.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "dev"}

    stopping = pipes.stop_pipe(Name=name)
    assert (stopping["CurrentState"], stopping["DesiredState"]) == ("STOPPING", "STOPPED")
    wait_state(pipes, name, "STOPPED")
    assert pipes.start_pipe(Name=name)["CurrentState"] == "STARTING"
    wait_state(pipes, name, "RUNNING")
    updated = pipes.update_pipe(
        Name=name, RoleArn=role, DesiredState="STOPPED",
        TargetParameters={"InputTemplate": '{"v": 1}'},
    )  # fmt: skip
    assert updated["CurrentState"] == "UPDATING"
    stopped = wait_state(pipes, name, "STOPPED")
    # UpdatePipe changes what it is given; the rest stays.
    assert stopped["Description"] == "d" and stopped["Target"] == target
    assert stopped["TargetParameters"] == {"InputTemplate": '{"v": 1}'}
    pipes.update_pipe(Name=name, RoleArn=role, TargetParameters={"InputTemplate": ""})
    assert wait_state(pipes, name, "STOPPED")["TargetParameters"] == {}

    err = error_of(pipes.create_pipe, Name=name, RoleArn=role, Source=source, Target=target)
    assert err["Code"] == "ConflictException"
    assert err["HTTPStatusCode"] == 409
    err = error_of(pipes.describe_pipe, Name="nope")
    assert err["Code"] == "NotFoundException"
    assert err["Message"] == "Pipe nope does not exist."
    assert err["HTTPStatusCode"] == 404
    err = error_of(
        pipes.create_pipe, Name=unique("p"), RoleArn=role, Source=source, Target=target,
        SourceParameters={"FilterCriteria": {"Filters": [{"Pattern": "{not json"}]}},
    )  # fmt: skip
    assert err["Code"] == "ValidationException"
    err = error_of(
        pipes.create_pipe, Name=unique("p"), RoleArn=role, Source=source, Target=target,
        SourceParameters={"SqsQueueParameters": {"BatchSize": 11}},
    )  # fmt: skip
    assert err["Code"] == "ValidationException"

    deleting = pipes.delete_pipe(Name=name)
    assert deleting["CurrentState"] == "DELETING"
    wait_for(lambda: not pipes.list_pipes(NamePrefix=name)["Pipes"])
    assert error_of(pipes.describe_pipe, Name=name)["Code"] == "NotFoundException"


def test_sqs_filter_lambda_enrichment_sqs_target(setup, client):
    pipes, sqs, iam = setup
    lam = client("lambda")
    role = pipe_role(iam)
    enricher = unique("enricher")
    create_function(lam, enricher, {"app.py": ENRICHER})
    enricher_arn = lam.get_function(FunctionName=enricher)["Configuration"]["FunctionArn"]
    source_url, source = queue(sqs, "src")
    target_url, target = queue(sqs, "dst")
    name = unique("pipe")
    pipes.create_pipe(
        Name=name,
        RoleArn=role,
        Source=source,
        SourceParameters={
            "SqsQueueParameters": {"BatchSize": 5},
            "FilterCriteria": {"Filters": [{"Pattern": '{"body": {"kind": ["keep", "drop"]}}'}]},
        },
        Enrichment=enricher_arn,
        EnrichmentParameters={
            "InputTemplate": '{"id": "<$.messageId>", "kind": <$.body.kind>, "n": <$.body.n>}'
        },
        Target=target,
        TargetParameters={
            "InputTemplate": '{"pipe": "<aws.pipes.pipe-name>", "got": <aws.pipes.event.json>, '
            '"text": "n=<$.n>"}'
        },
    )
    wait_state(pipes, name, "RUNNING")
    sent = {}
    for n, kind in enumerate(["keep", "skip", "drop", "keep"]):
        body = json.dumps({"kind": kind, "n": n})
        sent[n] = sqs.send_message(QueueUrl=source_url, MessageBody=body)["MessageId"]
    sqs.send_message(QueueUrl=source_url, MessageBody="not json")

    found = [json.loads(m["Body"]) for m in received(sqs, target_url, 2)]
    found.sort(key=lambda b: b["got"]["n"])
    assert [b["got"]["n"] for b in found] == [0, 3]
    assert all(b["pipe"] == name and b["got"]["enriched"] is True for b in found)
    assert found[0]["got"]["id"] == sent[0] and found[0]["text"] == "n=0"
    # Filtered and enriched-away messages are gone from the source, as are the sent ones.
    wait_for(lambda: _counts(sqs, source_url) == (0, 0))
    assert not sqs.receive_message(QueueUrl=target_url, WaitTimeSeconds=1).get("Messages")


def _counts(sqs, url: str) -> tuple[int, int]:
    got = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(got["ApproximateNumberOfMessages"]), int(
        got["ApproximateNumberOfMessagesNotVisible"]
    )


def test_fifo_source_keeps_order_and_target_group(setup):
    pipes, sqs, iam = setup
    role = pipe_role(iam)
    source_url, source = queue(sqs, "src", FifoQueue="true", ContentBasedDeduplication="true")
    target_url, target = queue(sqs, "dst", FifoQueue="true", ContentBasedDeduplication="true")
    name = unique("pipe")
    pipes.create_pipe(
        Name=name, RoleArn=role, Source=source, Target=target,
        # A dynamic path parameter: each message's group comes from its body.
        TargetParameters={"SqsQueueParameters": {"MessageGroupId": "$.body.team"}},
    )  # fmt: skip
    wait_state(pipes, name, "RUNNING")
    for n in range(6):
        body = json.dumps({"n": n, "team": f"t{n % 2}"})
        sqs.send_message(QueueUrl=source_url, MessageBody=body, MessageGroupId="a")
    found = received(sqs, target_url, 6)
    events = [json.loads(m["Body"]) for m in found]
    by_group: dict[str, list[int]] = {}
    for message, event in zip(found, events, strict=True):
        by_group.setdefault(message["Attributes"]["MessageGroupId"], []).append(
            json.loads(event["body"])["n"]
        )
    assert by_group == {"t0": [0, 2, 4], "t1": [1, 3, 5]}  # in order within each group
    assert events[0]["attributes"]["MessageGroupId"] == "a"


def test_stopped_pipe_delivers_nothing(setup):
    pipes, sqs, iam = setup
    role = pipe_role(iam)
    source_url, source = queue(sqs, "src")
    target_url, target = queue(sqs, "dst")
    name = unique("pipe")
    created = pipes.create_pipe(
        Name=name, RoleArn=role, Source=source, Target=target, DesiredState="STOPPED"
    )
    assert created["DesiredState"] == "STOPPED"
    wait_state(pipes, name, "STOPPED")
    sqs.send_message(QueueUrl=source_url, MessageBody="wait")
    assert not sqs.receive_message(QueueUrl=target_url, WaitTimeSeconds=2).get("Messages")
    assert _counts(sqs, source_url) == (1, 0)  # never received by the pipe
    pipes.start_pipe(Name=name)
    (message,) = received(sqs, target_url, 1)
    assert json.loads(message["Body"])["body"] == "wait"


def test_the_pipe_role_is_what_iam_evaluates(setup):
    pipes, sqs, iam = setup
    role = pipe_role(iam, actions=("sqs:ReceiveMessage", "sqs:DeleteMessage",
                                   "sqs:GetQueueAttributes"))  # fmt: skip
    source_url, source = queue(sqs, "src")
    target_url, target = queue(sqs, "dst")
    name = unique("pipe")
    pipes.create_pipe(Name=name, RoleArn=role, Source=source, Target=target)
    wait_state(pipes, name, "RUNNING")
    sqs.send_message(QueueUrl=source_url, MessageBody="denied")
    reason = wait_for(lambda: pipes.describe_pipe(Name=name).get("StateReason"))
    assert "AccessDenied" in reason
    assert not sqs.receive_message(QueueUrl=target_url, WaitTimeSeconds=1).get("Messages")
    # The message failed: it stays in the source queue (in flight until its timeout).
    assert sum(_counts(sqs, source_url)) == 1


def test_kinesis_to_step_functions(setup, client):
    pipes, _, iam = setup
    kinesis, sfn = client("kinesis"), client("stepfunctions")
    stream = unique("stream")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    wait_for(
        lambda: (
            kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
                "StreamStatus"
            ]
            == "ACTIVE"
        )
    )
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    machine = sfn.create_state_machine(
        name=unique("m"),
        definition=definition({"Done": {"Type": "Pass", "End": True}}),
        roleArn=states_role(iam),
    )["stateMachineArn"]
    role = pipe_role(iam)
    name = unique("pipe")
    pipes.create_pipe(
        Name=name, RoleArn=role, Source=stream_arn,
        SourceParameters={"KinesisStreamParameters": {
            "StartingPosition": "TRIM_HORIZON", "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 1}},
        Target=machine,
        TargetParameters={"StepFunctionStateMachineParameters": {
            "InvocationType": "FIRE_AND_FORGET"}},
    )  # fmt: skip
    wait_state(pipes, name, "RUNNING")
    for n in range(3):
        kinesis.put_record(StreamName=stream, Data=json.dumps({"n": n}).encode(), PartitionKey="k")
    batch = wait_for(lambda: (found := _inputs(sfn, machine)) and len(found) >= 3 and found)
    record = batch[0]
    assert record["eventSource"] == "aws:kinesis" and record["eventSourceARN"] == stream_arn
    assert record["partitionKey"] == "k" and record["invokeIdentityArn"] == role
    assert sorted(json.loads(base64.b64decode(r["data"]))["n"] for r in batch) == [0, 1, 2]


def _inputs(sfn, machine: str) -> list:
    """Every record the state machine's executions were started with."""
    found: list = []
    for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
        found += json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    return found


def test_dynamodb_stream_to_bus_rule_queue(setup, client):
    pipes, sqs, iam = setup
    dynamodb, events = client("dynamodb"), client("events")
    table = unique("table")
    created = dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    stream_arn = created["TableDescription"]["LatestStreamArn"]
    name = unique("pipe")
    rule = unique("rule")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [f"Pipe {name}"]}))[
        "RuleArn"
    ]
    url, arn = queue(sqs, "out")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]}  # fmt: skip
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    pipes.create_pipe(
        Name=name, RoleArn=pipe_role(iam), Source=stream_arn, Target=bus,
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "LATEST",
                                                       "BatchSize": 1}},
    )  # fmt: skip
    wait_state(pipes, name, "RUNNING")
    # LATEST is taken when the poller first reads: write until an event comes through.
    found = wait_for(lambda: _put_and_receive(dynamodb, sqs, table, url), timeout=30, interval=0)
    event = json.loads(found[0]["Body"])
    assert event["source"] == f"Pipe {name}"
    assert event["detail-type"] == "Event from aws:dynamodb"
    detail = event["detail"]
    assert detail["eventSource"] == "aws:dynamodb" and detail["eventName"] == "INSERT"
    assert detail["dynamodb"]["NewImage"]["id"]["S"].startswith("item")
    assert detail["eventSourceARN"] == stream_arn


def _put_and_receive(dynamodb, sqs, table: str, url: str) -> list:
    dynamodb.put_item(TableName=table, Item={"id": {"S": unique("item")}})
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
    return got.get("Messages") or []


# A target that reports each batch to the queue named by OUT; it fails every record whose
# body says "bad" (batchItemFailures), or the whole batch when MODE is "fail".
TARGET = """
import json, os
import boto3

sqs = boto3.client("sqs")
out = sqs.get_queue_url(QueueName=os.environ["OUT"])["QueueUrl"]

def handler(event, context):
    sqs.send_message(QueueUrl=out, MessageBody=json.dumps(event))
    if os.environ.get("MODE") == "fail":
        raise RuntimeError("boom")
    return {"batchItemFailures": [
        {"itemIdentifier": r["messageId"]} for r in event if "bad" in r.get("body", "")
    ]}
"""


def _target_function(lam, sqs, iam, mode: str = "ok") -> tuple[str, str]:
    """(function ARN, the URL of the queue it reports to)."""
    out_url, _ = queue(sqs, "reports")
    name = unique("target")
    role = ensure_role(iam, unique("target-role"))  # trusted by Lambda
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}  # fmt: skip
    iam.put_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="p",
                        PolicyDocument=json.dumps(policy))  # fmt: skip
    create_function(
        lam, name, {"app.py": TARGET}, role=role, Timeout=30,
        Environment={"Variables": {"OUT": out_url.rsplit("/", 1)[1], "MODE": mode}},
    )  # fmt: skip
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"], out_url


def test_lambda_target_gets_the_batch_and_its_failures_go_to_the_dlq(setup, client):
    pipes, sqs, iam = setup
    function, out_url = _target_function(client("lambda"), sqs, iam)
    dlq_url, dlq = queue(sqs, "dlq")
    redrive = json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": 1})
    source_url, source = queue(sqs, "src", VisibilityTimeout="1", RedrivePolicy=redrive)
    name = unique("pipe")
    pipes.create_pipe(
        Name=name, RoleArn=pipe_role(iam), Source=source, Target=function,
        SourceParameters={"SqsQueueParameters": {"BatchSize": 10,
                                                 "MaximumBatchingWindowInSeconds": 1}},
    )  # fmt: skip
    wait_state(pipes, name, "RUNNING")
    sqs.send_message_batch(
        QueueUrl=source_url,
        Entries=[{"Id": str(n), "MessageBody": body} for n, body in enumerate(["a", "bad", "c"])],
    )
    batches = [json.loads(m["Body"]) for m in received(sqs, out_url, 1)]
    assert isinstance(batches[0], list)  # a Lambda target gets the batch as one array
    assert batches[0][0]["eventSource"] == "aws:sqs" and "receiptHandle" in batches[0][0]
    (dead,) = received(sqs, dlq_url, 1)
    assert dead["Body"] == "bad"
    wait_for(lambda: _counts(sqs, source_url) == (0, 0))
    assert not sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages")


def test_stream_failures_go_to_the_pipe_dead_letter_queue(setup, client):
    pipes, sqs, iam = setup
    dynamodb = client("dynamodb")
    function, out_url = _target_function(client("lambda"), sqs, iam, mode="fail")
    table = unique("table")
    stream_arn = dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    dynamodb.put_item(TableName=table, Item={"id": {"S": "a"}})
    dlq_url, dlq = queue(sqs, "dlq")
    name = unique("pipe")
    pipes.create_pipe(
        Name=name, RoleArn=pipe_role(iam), Source=stream_arn, Target=function,
        SourceParameters={"DynamoDBStreamParameters": {
            "StartingPosition": "TRIM_HORIZON", "MaximumRetryAttempts": 1,
            "DeadLetterConfig": {"Arn": dlq}}},
    )  # fmt: skip
    (dead,) = received(sqs, dlq_url, 1)
    record = json.loads(dead["Body"])
    assert record["context"] == {
        "partnerResourceArn": f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/{name}",
        "condition": "RetryAttemptsExhausted",
    }
    assert record["version"] == "1.0"
    info = record["DDBStreamBatchInfo"]
    assert info["streamArn"] == stream_arn and info["batchSize"] == 1
    assert len(received(sqs, out_url, 2)) == 2  # the first try and one retry


def test_express_enrichment_reshapes_the_batch(setup, client):
    pipes, sqs, iam = setup
    sfn = client("stepfunctions")
    machine = sfn.create_state_machine(
        name=unique("m"),
        type="EXPRESS",
        definition=definition(
            {"Wrap": {"Type": "Pass", "Parameters": {"count.$": "States.ArrayLength($)",
                                                     "ids.$": "$[*].id"}, "End": True}}
        ),
        roleArn=states_role(iam),
    )["stateMachineArn"]  # fmt: skip
    source_url, source = queue(sqs, "src")
    target_url, target = queue(sqs, "dst")
    name = unique("pipe")
    pipes.create_pipe(
        Name=name, RoleArn=pipe_role(iam), Source=source, Target=target, Enrichment=machine,
        EnrichmentParameters={"InputTemplate": '{"id": <$.body.id>}'},
        SourceParameters={"SqsQueueParameters": {"BatchSize": 10,
                                                 "MaximumBatchingWindowInSeconds": 1}},
    )  # fmt: skip
    wait_state(pipes, name, "RUNNING")
    sqs.send_message_batch(
        QueueUrl=source_url,
        Entries=[{"Id": str(n), "MessageBody": json.dumps({"id": n})} for n in range(3)],
    )
    got = [json.loads(m["Body"]) for m in received(sqs, target_url, 1)]
    # One object back is one event for the target (however the batch was cut).
    assert sum(g["count"] for g in got) <= 3 and all(g["ids"] for g in got)
    while sum(g["count"] for g in got) < 3:
        got += [json.loads(m["Body"]) for m in received(sqs, target_url, 1)]
    assert sorted(i for g in got for i in g["ids"]) == [0, 1, 2]


STACK = """
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Source: {Type: AWS::SQS::Queue}
  Target: {Type: AWS::SQS::Queue}
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Principal: {Service: pipes.amazonaws.com}, Action: sts:AssumeRole}
      Policies:
        - PolicyName: p
          PolicyDocument:
            Version: "2012-10-17"
            Statement: [{Effect: Allow, Action: "sqs:*", Resource: "*"}]
  Pipe:
    Type: AWS::Pipes::Pipe
    Properties:
      RoleArn: !GetAtt Role.Arn
      Source: !GetAtt Source.Arn
      Target: !GetAtt Target.Arn
      TargetParameters:
        InputTemplate: '{"from": "<aws.pipes.source-arn>", "body": <$.body>}'
      Tags: {team: a}
Outputs:
  Name: {Value: !Ref Pipe}
  Arn: {Value: !GetAtt Pipe.Arn}
  State: {Value: !GetAtt Pipe.CurrentState}
  SourceUrl: {Value: !Ref Source}
  TargetUrl: {Value: !Ref Target}
"""


def test_cloudformation_pipe(setup, client):
    pipes, sqs, _ = setup
    cfn = client("cloudformation")
    stack = unique("pipes")
    cfn.create_stack(StackName=stack, TemplateBody=STACK, Capabilities=["CAPABILITY_IAM"])
    described = settled(cfn, stack)
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    name = outputs["Name"]
    assert outputs["Arn"] == f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/{name}"
    assert outputs["State"] == "RUNNING"
    assert pipes.describe_pipe(Name=name)["Tags"]["team"] == "a"
    sqs.send_message(QueueUrl=outputs["SourceUrl"], MessageBody='{"n": 1}')
    (message,) = received(sqs, outputs["TargetUrl"], 1)
    assert json.loads(message["Body"])["body"] == {"n": 1}
    cfn.delete_stack(StackName=stack)
    wait_for(lambda: not pipes.list_pipes(NamePrefix=name)["Pipes"], timeout=30)


def test_api_gateway_enrichment_and_api_destination_target(setup, client):
    pipes, sqs, iam = setup
    apis, events = client("apigateway"), client("events")
    api = apis.create_rest_api(name=unique("enrich"))["id"]
    root = apis.get_resources(restApiId=api)["items"][0]["id"]
    resource = apis.create_resource(restApiId=api, parentId=root, pathPart="enrich")["id"]
    key = dict(restApiId=api, resourceId=resource, httpMethod="POST")
    apis.put_method(**key, authorizationType="NONE")
    apis.put_integration(**key, type="MOCK",
                         requestTemplates={"application/json": '{"statusCode": 200}'})  # fmt: skip
    apis.put_method_response(**key, statusCode="200")
    apis.put_integration_response(**key, statusCode="200", responseTemplates={
        "application/json": '{"via": "apigw", "kind": "$input.params(\'kind\')"}'})  # fmt: skip
    apis.create_deployment(restApiId=api, stageName="dev")
    endpoint = HttpRecorder(answer=lambda request: {"seen": json.loads(request.body)})
    try:
        connection = events.create_connection(
            Name=unique("c"), AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-key", "ApiKeyValue": "s3"}},
        )["ConnectionArn"]  # fmt: skip
        destination = events.create_api_destination(
            Name=unique("d"), ConnectionArn=connection, HttpMethod="POST",
            InvocationEndpoint=endpoint.url + "/in/*",
        )["ApiDestinationArn"]  # fmt: skip
        source_url, source = queue(sqs, "src")
        name = unique("pipe")
        enrichment = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api}/dev/POST/enrich"
        pipes.create_pipe(
            Name=name, RoleArn=pipe_role(iam), Source=source, Enrichment=enrichment,
            EnrichmentParameters={"HttpParameters": {"QueryStringParameters": {"kind": "k1"}}},
            Target=destination,
            TargetParameters={"HttpParameters": {"PathParameterValues": ["p1"],
                                                 "HeaderParameters": {"x-extra": "e"}}},
        )  # fmt: skip
        assert pipes.describe_pipe(Name=name)["Enrichment"] == enrichment
        wait_state(pipes, name, "RUNNING")
        sqs.send_message(QueueUrl=source_url, MessageBody="hi")
        wait_for(lambda: endpoint.received)
        _, path, headers, body = endpoint.received[0]
        assert path == "/in/p1"
        assert headers["x-key"] == "s3" and headers["x-extra"] == "e"
        assert json.loads(body) == {"via": "apigw", "kind": "k1"}
        wait_for(lambda: _counts(sqs, source_url) == (0, 0))
    finally:
        endpoint.close()

    err = error_of(
        pipes.create_pipe, Name=unique("p"), RoleArn=pipe_role(iam), Source=source,
        Target=destination, SourceParameters={"SqsQueueParameters": {"BatchSize": 2}},
    )  # fmt: skip
    assert err["Code"] == "ValidationException"  # an API destination takes no batches


def test_sns_kinesis_and_logs_targets(setup, client):
    pipes, sqs, iam = setup
    sns, kinesis, logs = client("sns"), client("kinesis"), client("logs")
    role = pipe_role(iam, actions=("sqs:*", "sns:*", "kinesis:*", "logs:*"))
    topic = sns.create_topic(Name=unique("t"))["TopicArn"]
    subscriber_url, subscriber = queue(sqs, "sub")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": subscriber,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]}  # fmt: skip
    sqs.set_queue_attributes(QueueUrl=subscriber_url, Attributes={"Policy": json.dumps(policy)})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=subscriber,
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    stream = unique("out")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    summary = lambda: kinesis.describe_stream_summary(StreamName=stream)[  # noqa: E731
        "StreamDescriptionSummary"
    ]
    wait_for(lambda: summary()["StreamStatus"] == "ACTIVE")
    group = f"/pipes/{unique('g')}"
    logs.create_log_group(logGroupName=group)
    targets = {
        "sns": (topic, {}),
        "kinesis": (summary()["StreamARN"],
                    {"KinesisStreamParameters": {"PartitionKey": "$.body.key"}}),
        "logs": (f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}",
                 {"CloudWatchLogsParameters": {"LogStreamName": "from-pipe"}}),
    }  # fmt: skip
    sources = {}
    for kind, (arn, parameters) in targets.items():
        url, source = queue(sqs, "src")
        name = unique(f"pipe-{kind}")
        pipes.create_pipe(Name=name, RoleArn=role, Source=source, Target=arn,
                          TargetParameters={**parameters, "InputTemplate": "<$.body>"})  # fmt: skip
        wait_state(pipes, name, "RUNNING")
        sources[kind] = url
    for kind, url in sources.items():
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"key": "k1", "to": kind}))

    (message,) = received(sqs, subscriber_url, 1)
    assert json.loads(message["Body"]) == {"key": "k1", "to": "sns"}
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = wait_for(lambda: kinesis.get_records(ShardIterator=iterator)["Records"])
    assert json.loads(records[0]["Data"]) == {"key": "k1", "to": "kinesis"}
    assert records[0]["PartitionKey"] == "k1"
    events = wait_for(lambda: logs.filter_log_events(logGroupName=group).get("events"), timeout=20)
    assert events[0]["logStreamName"] == "from-pipe"
    assert json.loads(events[0]["message"]) == {"key": "k1", "to": "logs"}


def _log_steps(logs, group: str, count: int) -> list[dict]:
    def found():
        events = logs.filter_log_events(logGroupName=group).get("events") or []
        return len(events) >= count and [json.loads(e["message"]) for e in events]

    return wait_for(found)


def test_execution_logs_go_to_the_log_group(setup, client):
    pipes, sqs, iam = setup
    logs = client("logs")
    role = pipe_role(iam, actions=("sqs:ReceiveMessage", "sqs:DeleteMessage",
                                   "sqs:GetQueueAttributes", "logs:*"))  # fmt: skip
    allowed_url, allowed = queue(sqs, "allowed")
    _, denied = queue(sqs, "denied")  # the role may not send here
    iam.put_role_policy(
        RoleName=role.rsplit("/", 1)[1], PolicyName="send",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": allowed}]}),
    )  # fmt: skip
    runs = {}
    for name, target, level in (("ok", allowed, "INFO"), ("bad", denied, "ERROR")):
        group = f"/pipes/{unique(name)}"
        logs.create_log_group(logGroupName=group)
        source_url, source = queue(sqs, "src")
        pipe = unique(name)
        pipes.create_pipe(
            Name=pipe, RoleArn=role, Source=source, Target=target,
            LogConfiguration={"Level": level, "IncludeExecutionData": ["ALL"],
                              "CloudwatchLogsLogDestination": {
                                  "LogGroupArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"}},
        )  # fmt: skip
        wait_state(pipes, pipe, "RUNNING")
        sqs.send_message(QueueUrl=source_url, MessageBody=name)
        runs[name] = (group, pipe)

    group, pipe = runs["ok"]
    steps = _log_steps(logs, group, 4)
    assert [s["messageType"] for s in steps] == [
        "ExecutionStarted", "TargetStageEntered", "TargetStageSucceeded", "ExecutionSucceeded",
    ]  # fmt: skip
    first = steps[0]
    assert first["resourceArn"] == f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/{pipe}"
    assert first["logLevel"] == "INFO" and len({s["executionId"] for s in steps}) == 1
    assert json.loads(first["payload"])[0]["body"] == "ok"
    assert received(sqs, allowed_url, 1)

    group, _ = runs["bad"]
    steps = _log_steps(logs, group, 3)
    assert [s["messageType"] for s in steps[:3]] == [
        "TargetInvocationFailed", "TargetStageFailed", "ExecutionFailed",
    ]  # fmt: skip
    assert "AccessDenied" in steps[0]["error"]["details"]


def test_firehose_target(setup, client):
    pipes, sqs, iam = setup
    firehose, s3 = client("firehose"), client("s3")
    bucket = unique("pipes-fh")
    s3.create_bucket(Bucket=bucket)
    stream = unique("fh")
    arn = firehose.create_delivery_stream(
        DeliveryStreamName=stream, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration=destination(bucket, firehose_role(iam)),
    )["DeliveryStreamARN"]  # fmt: skip
    source_url, source = queue(sqs, "src")
    name = unique("pipe")
    pipes.create_pipe(
        Name=name, RoleArn=pipe_role(iam, actions=("sqs:*", "firehose:*")), Source=source,
        Target=arn, TargetParameters={"InputTemplate": '"<$.body>\\n"'},
    )  # fmt: skip
    wait_state(pipes, name, "RUNNING")
    sqs.send_message(QueueUrl=source_url, MessageBody="line")
    (key,) = objects(s3, bucket)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b'"line\\n"'
