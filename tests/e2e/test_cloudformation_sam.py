"""The SAM transform, expanded server-side: a template with an AWS::Serverless::Function
consuming an SQS queue deploys through a change set (as `sam deploy` does), and the
function really receives the queue's messages."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client

SAM_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 10
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Seen:
    Type: AWS::SSM::Parameter
    Properties: {Name: /sam/seen, Type: String, Value: none}
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Policies:
        - SSMParameterWithSlashPrefixReadPolicy: {ParameterName: /sam/seen}
        - Statement:
            - {Effect: Allow, Action: ssm:PutParameter, Resource: "*"}
      InlineCode: |
        import boto3
        def handler(event, context):
            bodies = ",".join(r["body"] for r in event["Records"])
            boto3.client("ssm").put_parameter(Name="/sam/seen", Value=bodies, Type="String", Overwrite=True)
      Events:
        FromQueue:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 1
Outputs:
  ConsumerArn:
    Value: !GetAtt Consumer.Arn
"""


def test_sam_function_with_an_sqs_event_deploys_and_consumes(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    created = cfn.create_change_set(
        StackName="sam-app", ChangeSetName="deploy1", ChangeSetType="CREATE",
        TemplateBody=SAM_TEMPLATE, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )  # fmt: skip
    cfn.get_waiter("change_set_create_complete").wait(
        ChangeSetName=created["Id"], WaiterConfig={"Delay": 1}
    )
    changes = cfn.describe_change_set(ChangeSetName=created["Id"])["Changes"]
    added = {
        c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]["ResourceType"]
        for c in changes
    }
    assert added == {
        "Queue": "AWS::SQS::Queue", "Seen": "AWS::SSM::Parameter",
        "Consumer": "AWS::Lambda::Function", "ConsumerRole": "AWS::IAM::Role",
        "ConsumerFromQueue": "AWS::Lambda::EventSourceMapping",
    }  # fmt: skip
    cfn.execute_change_set(ChangeSetName=created["Id"])
    cfn.get_waiter("stack_create_complete").wait(
        StackName="sam-app", WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )

    # botocore decodes a JSON TemplateBody into a dict (the processed one is JSON).
    processed = cfn.get_template(StackName="sam-app", TemplateStage="Processed")["TemplateBody"]
    assert (
        "Transform" not in processed
        and processed["Resources"]["Consumer"]["Type"] == "AWS::Lambda::Function"
    )
    assert "AWS::Serverless::Function" in cfn.get_template(StackName="sam-app")["TemplateBody"]

    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                 for r in cfn.list_stack_resources(StackName="sam-app")["StackResourceSummaries"]}  # fmt: skip
    sqs, ssm = make_client(server.endpoint, "sqs"), make_client(server.endpoint, "ssm")
    lam = make_client(server.endpoint, "lambda")
    assert lam.get_function_configuration(FunctionName=resources["Consumer"])["Timeout"] == 10
    sqs.send_message(QueueUrl=resources["Queue"], MessageBody="hello-sam")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ssm.get_parameter(Name="/sam/seen")["Parameter"]["Value"] == "hello-sam":
            break
        time.sleep(0.2)
    assert ssm.get_parameter(Name="/sam/seen")["Parameter"]["Value"] == "hello-sam"

    # The same template again: no changes (what `sam deploy` reports as "No changes to deploy").
    cfn.create_change_set(StackName="sam-app", ChangeSetName="deploy2", TemplateBody=SAM_TEMPLATE,
                          Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])  # fmt: skip
    again = cfn.describe_change_set(ChangeSetName="deploy2", StackName="sam-app")
    assert again["Status"] == "FAILED" and again["StatusReason"].startswith(
        "The submitted information didn't contain changes."
    )

    cfn.delete_stack(StackName="sam-app")
    cfn.get_waiter("stack_delete_complete").wait(StackName="sam-app", WaiterConfig={"Delay": 1})
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=resources["Consumer"])


def test_transform_errors_and_capabilities(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    with pytest.raises(ClientError) as raised:
        cfn.create_stack(
            StackName="sam-bad", TemplateBody=SAM_TEMPLATE, Capabilities=["CAPABILITY_IAM"]
        )
    assert raised.value.response["Error"]["Code"] == "InsufficientCapabilitiesException"
    assert (
        raised.value.response["Error"]["Message"]
        == "Requires capabilities : [CAPABILITY_AUTO_EXPAND]"
    )
    broken = "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {Runtime: python3.12}\n"
    with pytest.raises(ClientError) as raised:
        cfn.validate_template(TemplateBody=broken)
    message = raised.value.response["Error"]["Message"]
    assert message.startswith(
        "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application Specification document."
    )
