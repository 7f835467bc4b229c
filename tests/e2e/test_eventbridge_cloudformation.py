"""EventBridge through CloudFormation and the SAM transform: a custom bus with a policy,
a function whose ``EventBridgeRule`` event (SAM: an AWS::Events::Rule with a target and
the function permission for the rule) runs it on a matching event, and a ``Schedule``
event deployed as a scheduled rule."""

from __future__ import annotations

import json
import time

from tests.e2e.functions import unique, wait_for_log_events
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
