"""ECR's repository control plane with boto3 and the AWS CLI: create, describe (with
pages), policies, lifecycle, tag mutability, tags, delete, AWS's errors;
``AWS::ECR::Repository`` through CloudFormation."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import aws, make_client
from tests.e2e.stacks import settled

LIFECYCLE = json.dumps({"rules": [{"rulePriority": 1, "description": "old", "selection": {
    "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
    "countNumber": 365}, "action": {"type": "expire"}}]})  # fmt: skip
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "Pull", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]})  # fmt: skip


def _code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_repository_lifecycle(server) -> None:
    ecr = make_client(server.endpoint, "ecr")
    made = ecr.create_repository(
        repositoryName="team/app", imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True}, tags=[{"Key": "env", "Value": "dev"}],
    )["repository"]  # fmt: skip
    assert made["repositoryArn"] == "arn:aws:ecr:us-east-1:000000000000:repository/team/app"
    assert made["repositoryUri"] == "000000000000.dkr.ecr.us-east-1.amazonaws.com/team/app"
    assert made["registryId"] == "000000000000"
    assert made["imageTagMutability"] == "IMMUTABLE"
    assert made["imageScanningConfiguration"] == {"scanOnPush": True}
    assert made["encryptionConfiguration"] == {"encryptionType": "AES256"}

    with pytest.raises(ClientError) as excinfo:
        ecr.create_repository(repositoryName="team/app")
    assert _code(excinfo) == "RepositoryAlreadyExistsException"
    assert excinfo.value.response["Error"]["Message"] == (
        "The repository with name 'team/app' already exists in the registry with id '000000000000'"
    )
    with pytest.raises(ClientError) as excinfo:
        ecr.create_repository(repositoryName="Upper")
    assert _code(excinfo) == "ValidationException"

    for i in range(3):
        ecr.create_repository(repositoryName=f"page-{i}")
    names = [
        r["repositoryName"]
        for page in ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 2})
        for r in page["repositories"]
    ]  # fmt: skip
    assert names == ["page-0", "page-1", "page-2", "team/app"]
    (found,) = ecr.describe_repositories(repositoryNames=["team/app"])["repositories"]
    assert found["repositoryArn"] == made["repositoryArn"]
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_repositories(repositoryNames=["missing"])
    assert _code(excinfo) == "RepositoryNotFoundException"

    with pytest.raises(ClientError) as excinfo:
        ecr.get_repository_policy(repositoryName="team/app")
    assert _code(excinfo) == "RepositoryPolicyNotFoundException"
    ecr.set_repository_policy(repositoryName="team/app", policyText=POLICY)
    assert json.loads(
        ecr.get_repository_policy(repositoryName="team/app")["policyText"]
    ) == json.loads(POLICY)
    ecr.delete_repository_policy(repositoryName="team/app")
    with pytest.raises(ClientError) as excinfo:
        ecr.get_lifecycle_policy(repositoryName="team/app")
    assert _code(excinfo) == "LifecyclePolicyNotFoundException"
    ecr.put_lifecycle_policy(repositoryName="team/app", lifecyclePolicyText=LIFECYCLE)
    assert ecr.get_lifecycle_policy(repositoryName="team/app")["lifecyclePolicyText"] == LIFECYCLE
    with pytest.raises(ClientError) as excinfo:
        ecr.put_lifecycle_policy(
            repositoryName="team/app", lifecyclePolicyText=json.dumps({"x": "y" * 100})
        )
    assert _code(excinfo) == "InvalidParameterException"

    ecr.put_image_tag_mutability(repositoryName="team/app", imageTagMutability="MUTABLE")
    arn = made["repositoryArn"]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "team", "Value": "a"}])
    ecr.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "team", "Value": "a"}]

    # Images: none yet (test_ecr_images.py pushes some).
    assert ecr.list_images(repositoryName="team/app")["imageIds"] == []

    # The AWS CLI, unchanged.
    listed = aws(server.endpoint, "ecr", "describe-repositories", "--repository-names", "team/app")
    assert listed["repositories"][0]["imageTagMutability"] == "MUTABLE"
    deleted = ecr.delete_repository(repositoryName="team/app")["repository"]
    assert deleted["repositoryName"] == "team/app"
    with pytest.raises(ClientError) as excinfo:
        ecr.delete_repository(repositoryName="team/app")
    assert _code(excinfo) == "RepositoryNotFoundException"


def test_repository_through_cloudformation(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    ecr = make_client(server.endpoint, "ecr")
    template = {
        "Resources": {"Repo": {"Type": "AWS::ECR::Repository", "Properties": {
            "ImageTagMutability": "IMMUTABLE", "LifecyclePolicy": {"LifecyclePolicyText": LIFECYCLE},
            "RepositoryPolicyText": json.loads(POLICY)}}},
        "Outputs": {"Uri": {"Value": {"Fn::GetAtt": ["Repo", "RepositoryUri"]}},
                    "Arn": {"Value": {"Fn::GetAtt": ["Repo", "Arn"]}}, "Name": {"Value": {"Ref": "Repo"}}},
    }  # fmt: skip
    cfn.create_stack(StackName="ecr-stack", TemplateBody=json.dumps(template))
    stack = settled(cfn, "ecr-stack")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    name = outputs["Name"]
    assert name.startswith("ecr-stack-repo-") and name == name.lower()
    assert outputs["Uri"] == f"000000000000.dkr.ecr.us-east-1.amazonaws.com/{name}"
    (repo,) = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert repo["imageTagMutability"] == "IMMUTABLE" and repo["repositoryArn"] == outputs["Arn"]
    assert ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"] == LIFECYCLE
    assert json.loads(ecr.get_repository_policy(repositoryName=name)["policyText"])["Statement"]
    cfn.delete_stack(StackName="ecr-stack")
    assert settled(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ClientError):
        ecr.describe_repositories(repositoryNames=[name])
