"""Step Functions through CloudFormation: AWS::StepFunctions::StateMachine (Definition
with DefinitionSubstitutions, DefinitionS3Location), AWS::StepFunctions::Activity, and
SAM's AWS::Serverless::StateMachine through the transform."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.sfn_support import wait_done
from tests.e2e.stacks import settled

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Greeting: {Type: String, Default: hello}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Principal: {Service: states.amazonaws.com}, Action: sts:AssumeRole}
  Approval:
    Type: AWS::StepFunctions::Activity
    Properties: {Name: cfn-approval}
  Inline:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: !GetAtt Role.Arn
      Definition:
        StartAt: Say
        States:
          Say:
            Type: Pass
            Result: {greeting: "${Word}", activity: "${ActivityArn}"}
            End: true
      DefinitionSubstitutions:
        Word: !Ref Greeting
        ActivityArn: !Ref Approval
      Tags: [{Key: team, Value: a}]
  FromS3:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineName: cfn-from-s3
      StateMachineType: EXPRESS
      RoleArn: !GetAtt Role.Arn
      DefinitionS3Location: {Bucket: sfn-definitions, Key: flow.json}
Outputs:
  InlineArn: {Value: !Ref Inline}
  InlineName: {Value: !GetAtt Inline.Name}
  ActivityArn: {Value: !GetAtt Approval.Arn}
  S3Arn: {Value: !Ref FromS3}
"""

SAM = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: sam-flow
      Definition:
        StartAt: Double
        States:
          Double:
            Type: Pass
            Parameters: {"value.$": "States.MathAdd($.n, $.n)"}
            End: true
      Policies:
        - Statement:
            - {Effect: Allow, Action: lambda:InvokeFunction, Resource: "*"}
Outputs:
  FlowArn: {Value: !Ref Flow}
"""


@pytest.fixture(scope="module")
def cfn(server):
    return make_client(server.endpoint, "cloudformation")


def outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_state_machines_and_activities_as_a_stack(cfn, client):
    s3 = client("s3")
    s3.create_bucket(Bucket="sfn-definitions")
    flow = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "from s3", "End": True}}}
    s3.put_object(Bucket="sfn-definitions", Key="flow.json", Body=json.dumps(flow).encode())
    cfn.create_stack(StackName="sfn", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_IAM"])
    stack = settled(cfn, "sfn")
    assert stack["StackStatus"] == "CREATE_COMPLETE", cfn.describe_stack_events(StackName="sfn")
    out = outputs(stack)
    sfn = client("stepfunctions")
    assert out["ActivityArn"].endswith(":activity:cfn-approval")
    assert out["InlineArn"].endswith(f":stateMachine:{out['InlineName']}")
    assert sfn.list_tags_for_resource(resourceArn=out["InlineArn"])["tags"] == [
        {"key": "team", "value": "a"}
    ]
    run = sfn.start_execution(stateMachineArn=out["InlineArn"])["executionArn"]
    done = wait_done(sfn, run)
    assert json.loads(done["output"]) == {"greeting": "hello", "activity": out["ActivityArn"]}
    sfn.meta.config.inject_host_prefix = False  # StartSyncExecution's "sync-" host prefix
    synced = sfn.start_sync_execution(stateMachineArn=out["S3Arn"])
    assert json.loads(synced["output"]) == "from s3"

    cfn.update_stack(
        StackName="sfn", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "bonjour"}],
    )  # fmt: skip
    assert settled(cfn, "sfn")["StackStatus"] == "UPDATE_COMPLETE"
    definition = json.loads(
        sfn.describe_state_machine(stateMachineArn=out["InlineArn"])["definition"]
    )
    assert definition["States"]["Say"]["Result"]["greeting"] == "bonjour"

    cfn.delete_stack(StackName="sfn")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not [
            m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == "cfn-from-s3"
        ]:
            break
        time.sleep(0.1)
    names = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]
    assert out["InlineArn"] not in names and out["S3Arn"] not in names
    assert out["ActivityArn"] not in [a["activityArn"] for a in sfn.list_activities()["activities"]]


def test_sam_state_machine_deploys_and_runs(cfn, client):
    cfn.create_stack(
        StackName="sam-sfn", TemplateBody=SAM,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )  # fmt: skip
    stack = settled(cfn, "sam-sfn")
    assert stack["StackStatus"] == "CREATE_COMPLETE", cfn.describe_stack_events(StackName="sam-sfn")
    arn = outputs(stack)["FlowArn"]
    assert arn.endswith(":stateMachine:sam-flow")
    sfn = client("stepfunctions")
    run = sfn.start_execution(stateMachineArn=arn, input='{"n": 21}')["executionArn"]
    done = wait_done(sfn, run)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"value": 42}
