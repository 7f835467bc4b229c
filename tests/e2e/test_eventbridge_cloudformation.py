"""EventBridge through CloudFormation and the SAM transform: a custom bus with a policy,
a function whose ``EventBridgeRule`` event (SAM: an AWS::Events::Rule with a target and
the function permission for the rule) runs it on a matching event, and a ``Schedule``
event deployed as a scheduled rule."""

from __future__ import annotations

import json
import time

from tests.e2e.functions import unique, wait_for_log_events
from tests.e2e.recorders import HttpRecorder
from tests.e2e.stacks import settled

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Source: {Type: String}
Resources:
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: !Sub "${AWS::StackName}-bus"
  BusPolicy:
    Type: AWS::Events::EventBusPolicy
    Properties:
      EventBusName: !Ref Bus
      StatementId: partner
      Principal: "222222222222"
      Action: events:PutEvents
  Handler:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
        import json
        def handler(event, context):
            print("EVENT " + json.dumps(event))
      Events:
        OnOrder:
          Type: EventBridgeRule
          Properties:
            EventBusName: !Ref Bus
            Pattern:
              source: [!Ref Source]
        Nightly:
          Type: Schedule
          Properties:
            Schedule: cron(0 3 * * ? *)
Outputs:
  Function: {Value: !Ref Handler}
  BusArn: {Value: !GetAtt Bus.Arn}
"""


def test_sam_eventbridge_rule_and_schedule_events(client):
    cfn, events, logs = client("cloudformation"), client("events"), client("logs")
    source = unique("orders")
    stack = unique("eb")
    cfn.create_stack(
        StackName=stack,
        TemplateBody=TEMPLATE,
        Parameters=[{"ParameterKey": "Source", "ParameterValue": source}],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    described = settled(cfn, stack)
    reasons = [
        e.get("ResourceStatusReason")
        for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]
        if "FAILED" in e["ResourceStatus"]
    ]
    assert described["StackStatus"] == "CREATE_COMPLETE", reasons
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    bus = f"{stack}-bus"
    policy = json.loads(events.describe_event_bus(Name=bus)["Policy"])
    assert policy["Statement"][0]["Sid"] == "partner"
    scheduled = [
        r
        for r in events.list_rules()["Rules"]
        if r.get("ScheduleExpression") == "cron(0 3 * * ? *)"
    ]
    assert any(r["Name"].startswith(stack) for r in scheduled)
    event_id = events.put_events(
        Entries=[{"Source": source, "DetailType": "t", "Detail": '{"k": 1}', "EventBusName": bus}]
    )["Entries"][0]["EventId"]
    found = wait_for_log_events(logs, outputs["Function"], f'"{event_id}"')
    assert found, "the function never ran"

    cfn.delete_stack(StackName=stack)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = cfn.describe_stacks(StackName=described["StackId"])["Stacks"][0]["StackStatus"]
        if status == "DELETE_COMPLETE":
            break
        time.sleep(0.2)
    assert status == "DELETE_COMPLETE"
    assert bus not in [b["Name"] for b in events.list_event_buses()["EventBuses"]]


SCHEDULER_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Group:
    Type: AWS::Scheduler::ScheduleGroup
  Queue:
    Type: AWS::SQS::Queue
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Principal: {Service: scheduler.amazonaws.com}, Action: sts:AssumeRole}
      Policies:
        - PolicyName: send
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - {Effect: Allow, Action: sqs:SendMessage, Resource: !GetAtt Queue.Arn}
  Nightly:
    Type: AWS::Scheduler::Schedule
    Properties:
      GroupName: !Ref Group
      ScheduleExpression: cron(0 2 * * ? *)
      ScheduleExpressionTimezone: Europe/Paris
      FlexibleTimeWindow: {Mode: "OFF"}
      Target:
        Arn: !GetAtt Queue.Arn
        RoleArn: !GetAtt Role.Arn
Outputs:
  Group: {Value: !Ref Group}
  Schedule: {Value: !Ref Nightly}
  ScheduleArn: {Value: !GetAtt Nightly.Arn}
"""


def test_scheduler_resource_types(client):
    cfn, scheduler = client("cloudformation"), client("scheduler")
    stack = unique("sched")
    cfn.create_stack(
        StackName=stack, TemplateBody=SCHEDULER_TEMPLATE, Capabilities=["CAPABILITY_IAM"]
    )
    described = settled(cfn, stack)
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    got = scheduler.get_schedule(Name=outputs["Schedule"], GroupName=outputs["Group"])
    assert got["Arn"] == outputs["ScheduleArn"]
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    cfn.delete_stack(StackName=stack)
    deadline = time.monotonic() + 60
    while cfn.describe_stacks(StackName=described["StackId"])["Stacks"][0]["StackStatus"] != (
        "DELETE_COMPLETE"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert outputs["Group"] not in [
        g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]
    ]


CONNECTIONS_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Endpoint: {Type: String}
  Retention: {Type: Number, Default: 3}
Resources:
  Connection:
    Type: AWS::Events::Connection
    Properties:
      AuthorizationType: API_KEY
      AuthParameters:
        ApiKeyAuthParameters: {ApiKeyName: x-api-key, ApiKeyValue: s3cret}
  Destination:
    Type: AWS::Events::ApiDestination
    Properties:
      ConnectionArn: !GetAtt Connection.Arn
      InvocationEndpoint: !Ref Endpoint
      HttpMethod: POST
      InvocationRateLimitPerSecond: 10
  Archive:
    Type: AWS::Events::Archive
    Properties:
      SourceArn: !Sub "arn:aws:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"
      EventPattern: {source: [!Sub "${AWS::StackName}"]}
      RetentionDays: !Ref Retention
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [!Sub "${AWS::StackName}"]}
      Targets: [{Id: api, Arn: !GetAtt Destination.Arn}]
Outputs:
  Connection: {Value: !Ref Connection}
  ConnectionArn: {Value: !GetAtt Connection.Arn}
  Destination: {Value: !Ref Destination}
  DestinationArn: {Value: !GetAtt Destination.Arn}
  DestinationPolicyArn: {Value: !GetAtt Destination.ArnForPolicy}
  Archive: {Value: !Ref Archive}
  ArchiveArn: {Value: !GetAtt Archive.Arn}
"""


def _outputs(described: dict) -> dict:
    return {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}


def test_connection_api_destination_and_archive_resource_types(client):
    cfn, events = client("cloudformation"), client("events")
    receiver = HttpRecorder()
    stack = unique("apidest")
    try:
        parameters = [{"ParameterKey": "Endpoint", "ParameterValue": receiver.url + "/in"}]
        cfn.create_stack(StackName=stack, TemplateBody=CONNECTIONS_TEMPLATE,
                         Parameters=parameters)  # fmt: skip
        described = settled(cfn, stack)
        assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
        outputs = _outputs(described)
        connection = events.describe_connection(Name=outputs["Connection"])
        assert connection["ConnectionArn"] == outputs["ConnectionArn"]
        destination = events.describe_api_destination(Name=outputs["Destination"])
        assert destination["ApiDestinationArn"] == outputs["DestinationArn"]
        assert outputs["DestinationArn"].startswith(outputs["DestinationPolicyArn"] + "/")
        assert destination["InvocationRateLimitPerSecond"] == 10
        archive = events.describe_archive(ArchiveName=outputs["Archive"])
        assert (archive["ArchiveArn"], archive["RetentionDays"]) == (outputs["ArchiveArn"], 3)

        # The rule calls the endpoint with the connection's key; the archive keeps it.
        events.put_events(Entries=[{"Source": stack, "DetailType": "t", "Detail": "{}"}])
        [(method, path, headers, _)] = receiver.wait(1)
        assert (method, path, headers["x-api-key"]) == ("POST", "/in", "s3cret")
        deadline = time.monotonic() + 10
        while events.describe_archive(ArchiveName=outputs["Archive"])["EventCount"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)

        # An update in place: the archive keeps its name, its retention changes.
        cfn.update_stack(StackName=stack, TemplateBody=CONNECTIONS_TEMPLATE, Parameters=[
            *parameters, {"ParameterKey": "Retention", "ParameterValue": "7"}])  # fmt: skip
        updated = settled(cfn, stack)
        assert updated["StackStatus"] == "UPDATE_COMPLETE", updated.get("StackStatusReason")
        assert events.describe_archive(ArchiveName=outputs["Archive"])["RetentionDays"] == 7

        cfn.delete_stack(StackName=stack)
        deadline = time.monotonic() + 60
        while cfn.describe_stacks(StackName=described["StackId"])["Stacks"][0][
            "StackStatus"
        ] != "DELETE_COMPLETE":  # fmt: skip
            assert time.monotonic() < deadline
            time.sleep(0.2)
        names = [c["Name"] for c in events.list_connections()["Connections"]]
        assert outputs["Connection"] not in names
        assert outputs["Archive"] not in [
            a["ArchiveName"] for a in events.list_archives()["Archives"]
        ]
    finally:
        receiver.close()
