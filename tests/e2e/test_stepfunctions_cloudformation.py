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


ALIASED = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Word: {Type: String, Default: one}
Resources:
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: sam-aliased
      AutoPublishAlias: live
      Definition:
        StartAt: Say
        States:
          Say: {Type: Pass, Result: {word: !Ref Word}, End: true}
Outputs:
  FlowArn: {Value: !Ref Flow}
"""


def test_sam_auto_publish_alias_versions_and_alias(cfn, client):
    """SAM's AutoPublishAlias: an AWS::StepFunctions::StateMachineVersion per revision and
    an AWS::StepFunctions::StateMachineAlias routing all of it to the newest."""
    sfn = client("stepfunctions")
    caps = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    cfn.create_stack(StackName="sam-aliased", TemplateBody=ALIASED, Capabilities=caps)
    stack = settled(cfn, "sam-aliased")
    assert stack["StackStatus"] == "CREATE_COMPLETE", cfn.describe_stack_events(
        StackName="sam-aliased"
    )
    machine = outputs(stack)["FlowArn"]
    alias = f"{machine}:live"

    def routed() -> list[tuple[str, int]]:
        routing = sfn.describe_state_machine_alias(stateMachineAliasArn=alias)[
            "routingConfiguration"
        ]
        return [(r["stateMachineVersionArn"], r["weight"]) for r in routing]

    assert routed() == [(f"{machine}:1", 100)]
    run = sfn.start_execution(stateMachineArn=alias)["executionArn"]
    assert json.loads(wait_done(sfn, run)["output"]) == {"word": "one"}

    # A new definition: a new version, the alias moved to it; SAM retains old versions
    # (UpdateReplacePolicy: Retain), so version 1 stays.
    cfn.update_stack(StackName="sam-aliased", TemplateBody=ALIASED, Capabilities=caps,
                     Parameters=[{"ParameterKey": "Word", "ParameterValue": "two"}])  # fmt: skip
    assert settled(cfn, "sam-aliased")["StackStatus"] == "UPDATE_COMPLETE"
    assert routed() == [(f"{machine}:2", 100)]
    run = sfn.start_execution(stateMachineArn=alias)["executionArn"]
    assert json.loads(wait_done(sfn, run)["output"]) == {"word": "two"}
    versions = sfn.list_state_machine_versions(stateMachineArn=machine)["stateMachineVersions"]
    assert sorted(v["stateMachineVersionArn"] for v in versions) == [f"{machine}:1",
                                                                     f"{machine}:2"]  # fmt: skip

    cfn.delete_stack(StackName="sam-aliased")
    deadline = time.monotonic() + 60
    while machine in [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]:
        assert time.monotonic() < deadline
        time.sleep(0.1)


ROUTED = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Deployment: {Type: String, Default: ALL_AT_ONCE}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Principal: {Service: states.amazonaws.com}, Action: sts:AssumeRole}
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: !GetAtt Role.Arn
      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}
  Version:
    Type: AWS::StepFunctions::StateMachineVersion
    Properties:
      StateMachineArn: !Ref Machine
      StateMachineRevisionId: !GetAtt Machine.StateMachineRevisionId
      Description: first
  Routed:
    Type: AWS::StepFunctions::StateMachineAlias
    Properties:
      Name: routed
      RoutingConfiguration: [{StateMachineVersionArn: !Ref Version, Weight: 100}]
  Deployed:
    Type: AWS::StepFunctions::StateMachineAlias
    Properties:
      Name: deployed
      DeploymentPreference: {StateMachineVersionArn: !Ref Version, Type: !Ref Deployment,
                             Percentage: 10, Interval: 5}
Outputs:
  Version: {Value: !Ref Version}
  Routed: {Value: !Ref Routed}
"""


def test_version_and_alias_resource_types(cfn, client):
    sfn = client("stepfunctions")
    cfn.create_stack(StackName="sfn-routed", TemplateBody=ROUTED, Capabilities=["CAPABILITY_IAM"])
    stack = settled(cfn, "sfn-routed")
    assert stack["StackStatus"] == "CREATE_COMPLETE", cfn.describe_stack_events(
        StackName="sfn-routed"
    )
    out = outputs(stack)
    assert sfn.describe_state_machine(stateMachineArn=out["Version"])["description"] == "first"
    alias = sfn.describe_state_machine_alias(stateMachineAliasArn=out["Routed"])
    assert alias["routingConfiguration"] == [
        {"stateMachineVersionArn": out["Version"], "weight": 100}]  # fmt: skip
    cfn.delete_stack(StackName="sfn-routed")
    settled(cfn, stack["StackId"])

    # A gradual deployment sandlot does not run is refused, not faked.
    cfn.create_stack(StackName="sfn-canary", TemplateBody=ROUTED, Capabilities=["CAPABILITY_IAM"],
                     Parameters=[{"ParameterKey": "Deployment", "ParameterValue": "CANARY"}])  # fmt: skip
    failed = settled(cfn, "sfn-canary")
    assert failed["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [e.get("ResourceStatusReason", "")
               for e in cfn.describe_stack_events(StackName="sfn-canary")["StackEvents"]]  # fmt: skip
    assert any("DeploymentPreference Type CANARY is not supported" in r for r in reasons)
