"""CloudFormation with the fidelity resource types: AWS::Lambda::LayerVersion (from S3)
shared by AWS::Lambda::LayerVersionPermission, AWS::Lambda::CodeSigningConfig attached
to a function that runs on the layer, and AWS::IAM::ServiceLinkedRole; deleting the
stack removes them all."""

from __future__ import annotations

import json

from tests.e2e.conftest import error_of
from tests.e2e.functions import ROLE, unique, zip_of
from tests.e2e.stacks import physical_ids, settled, stack_events

ACCOUNT = "000000000000"
PROFILE = f"arn:aws:signer:us-east-1:{ACCOUNT}:/signing-profiles/release/a1b2c3d4e5"

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Bucket: {Type: String}
Resources:
  Shared:
    Type: AWS::Lambda::LayerVersion
    Properties:
      Content: {S3Bucket: !Ref Bucket, S3Key: layer.zip}
      CompatibleRuntimes: [python3.12]
      Description: helpers
  SharedWithOther:
    Type: AWS::Lambda::LayerVersionPermission
    Properties:
      LayerVersionArn: !Ref Shared
      Action: lambda:GetLayerVersion
      Principal: "111111111111"
  Signing:
    Type: AWS::Lambda::CodeSigningConfig
    Properties:
      Description: release builds
      AllowedPublishers: {SigningProfileVersionArns: [PROFILE_ARN]}
      CodeSigningPolicies: {UntrustedArtifactOnDeployment: Warn}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: ROLE_ARN
      Layers: [!Ref Shared]
      CodeSigningConfigArn: !Ref Signing
      Code:
        ZipFile: |
          import helper
          def handler(event, context):
              return helper.WORD
  # Not ECS: test_iam_service_linked_roles.py makes ECS's in the same account, and a
  # worker's modules share one server.
  Beanstalk:
    Type: AWS::IAM::ServiceLinkedRole
    Properties: {AWSServiceName: elasticbeanstalk.amazonaws.com}
Outputs:
  Layer: {Value: !Ref Shared}
  SigningId: {Value: !GetAtt Signing.CodeSigningConfigId}
  Fn: {Value: !Ref Fn}
  RoleName: {Value: !Ref Beanstalk}
""".replace("PROFILE_ARN", PROFILE).replace("ROLE_ARN", ROLE)


def test_layer_permission_signing_and_service_linked_role_stack(client):
    cfn, s3, lam, iam = client("cloudformation"), client("s3"), client("lambda"), client("iam")
    bucket = unique("layers")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(
        Bucket=bucket, Key="layer.zip", Body=zip_of({"python/helper.py": "WORD = 'hi'\n"})
    )
    stack_id = cfn.create_stack(
        StackName="fidelity",
        TemplateBody=TEMPLATE,
        Parameters=[{"ParameterKey": "Bucket", "ParameterValue": bucket}],
    )["StackId"]
    stack = settled(cfn, "fidelity")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack_events(cfn, "fidelity")
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    layer, version = out["Layer"].rsplit(":", 1)
    assert out["Layer"].startswith(f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:fidelity-Shared-")
    policy = json.loads(
        lam.get_layer_version_policy(LayerName=layer, VersionNumber=int(version))["Policy"]
    )
    assert [s["Principal"] for s in policy["Statement"]] == [
        {"AWS": "arn:aws:iam::111111111111:root"}
    ]
    signing = lam.get_function_code_signing_config(FunctionName=out["Fn"])
    assert signing["CodeSigningConfigArn"].endswith(out["SigningId"])
    assert lam.invoke(FunctionName=out["Fn"])["Payload"].read() == b'"hi"'
    role = iam.get_role(RoleName=out["RoleName"])["Role"]
    assert (role["RoleName"], role["Path"]) == (
        "AWSServiceRoleForElasticBeanstalk",
        "/aws-service-role/elasticbeanstalk.amazonaws.com/",
    )
    ids = physical_ids(cfn, "fidelity")
    assert ids["SharedWithOther"].startswith(out["Layer"] + "#")

    cfn.delete_stack(StackName="fidelity")
    deleted = settled(cfn, stack_id)  # a deleted stack is found by its id only
    assert deleted["StackStatus"] == "DELETE_COMPLETE", stack_events(cfn, stack_id)
    err = error_of(lam.get_layer_version, LayerName=layer, VersionNumber=int(version))
    assert err["Code"] == "ResourceNotFoundException"
    arn = signing["CodeSigningConfigArn"]
    assert error_of(lam.get_code_signing_config, CodeSigningConfigArn=arn)["Code"] == (
        "ResourceNotFoundException"
    )
    assert (
        error_of(iam.get_role, RoleName="AWSServiceRoleForElasticBeanstalk")["Code"]
        == "NoSuchEntity"
    )
