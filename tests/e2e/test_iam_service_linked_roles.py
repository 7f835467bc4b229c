"""IAM service-linked roles end to end (boto3 and the AWS CLI): AWS's names, path,
trust policy and managed policy per service, custom suffixes, the protection of the
role, and deletion as a task whose status is asked for."""

from __future__ import annotations

import json
import re
import urllib.parse

from tests.e2e.conftest import aws, error_of

ACCOUNT = "000000000000"


def test_create_service_linked_role_as_aws_names_it(client):
    iam = client("iam")
    role = iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForECS"
    assert role["Path"] == "/aws-service-role/ecs.amazonaws.com/"
    assert role["Arn"] == (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
    )
    assert role["RoleId"].startswith("AROA")
    assert "MaxSessionDuration" not in role  # as CreateRole's answer
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(urllib.parse.unquote(trust)) if isinstance(trust, str) else trust
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    attached = iam.list_attached_role_policies(RoleName="AWSServiceRoleForECS")
    assert attached["AttachedPolicies"] == [
        {
            "PolicyName": "AmazonECSServiceRolePolicy",
            "PolicyArn": "arn:aws:iam::aws:policy/aws-service-role/AmazonECSServiceRolePolicy",
        }
    ]
    got = iam.get_role(RoleName="AWSServiceRoleForECS")["Role"]
    assert got["MaxSessionDuration"] == 3600 and got["Path"] == role["Path"]
    listed = iam.list_roles(PathPrefix="/aws-service-role/")["Roles"]
    assert "AWSServiceRoleForECS" in [r["RoleName"] for r in listed]

    # A second one is refused as AWS refuses it.
    err = error_of(iam.create_service_linked_role, AWSServiceName="ecs.amazonaws.com")
    assert err["Code"] == "InvalidInput"
    assert err["Message"] == (
        "Service role name AWSServiceRoleForECS has been taken in this account, "
        "please try a different suffix."
    )
    err = error_of(
        iam.create_service_linked_role, AWSServiceName="ecs.amazonaws.com", CustomSuffix="x"
    )
    assert (err["Code"], err["Message"]) == (
        "InvalidInput",
        "Custom suffix is not allowed for ecs.amazonaws.com",
    )
    err = error_of(iam.create_service_linked_role, AWSServiceName="nothing.amazonaws.com")
    assert err["Code"] == "InvalidInput"


def test_custom_suffix_protection_and_deletion(client):
    iam = client("iam")
    role = iam.create_service_linked_role(
        AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="web", Description="for web"
    )["Role"]
    name = role["RoleName"]
    assert name == "AWSServiceRoleForAutoScaling_web"
    assert role["Description"] == "for web"

    # Only the service changes it.
    for call, params in (
        (iam.delete_role, {}),
        (iam.attach_role_policy, {"PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
        (iam.put_role_policy, {"PolicyName": "p", "PolicyDocument": json.dumps(
            {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})}),
        (iam.update_assume_role_policy, {"PolicyDocument": json.dumps(
            {"Version": "2012-10-17", "Statement": []})}),
        (iam.detach_role_policy, {
            "PolicyArn": "arn:aws:iam::aws:policy/aws-service-role/AutoScalingServiceRolePolicy"}),
    ):  # fmt: skip
        err = error_of(call, RoleName=name, **params)
        assert err["Code"] == "UnmodifiableEntity", (call, err)
        assert err["Message"] == (
            f"Cannot perform the operation on the protected role '{name}' - "
            "this role is only modifiable by AWS"
        )
    iam.update_role_description(RoleName=name, Description="changed")  # allowed

    # A service's policy is for its role only.
    iam.create_role(
        RoleName="plain",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
             "Action": "sts:AssumeRole"}]}),
    )  # fmt: skip
    err = error_of(
        iam.attach_role_policy,
        RoleName="plain",
        PolicyArn="arn:aws:iam::aws:policy/aws-service-role/AutoScalingServiceRolePolicy",
    )
    assert err["Code"] == "PolicyNotAttachable"
    err = error_of(iam.delete_service_linked_role, RoleName="plain")
    assert err["Code"] == "InvalidInput"

    task = iam.delete_service_linked_role(RoleName=name)["DeletionTaskId"]
    assert re.fullmatch(
        rf"task/aws-service-role/autoscaling\.amazonaws\.com/{name}/[0-9a-f-]{{36}}", task
    )
    status = iam.get_service_linked_role_deletion_status(DeletionTaskId=task)
    assert status["Status"] == "SUCCEEDED"
    assert error_of(iam.get_role, RoleName=name)["Code"] == "NoSuchEntity"
    err = error_of(
        iam.get_service_linked_role_deletion_status,
        DeletionTaskId=task.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000",
    )
    assert err["Code"] == "NoSuchEntity"
    err = error_of(iam.get_service_linked_role_deletion_status, DeletionTaskId="nonsense")
    assert err["Code"] == "InvalidInput"
    assert error_of(iam.delete_service_linked_role, RoleName=name)["Code"] == "NoSuchEntity"
    # Deleted, the name is free again.
    again = iam.create_service_linked_role(
        AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="web"
    )
    assert again["Role"]["RoleName"] == name


def test_aws_cli_service_linked_role(server):
    created = aws(
        server.endpoint,
        "iam",
        "create-service-linked-role",
        "--aws-service-name",
        "elasticloadbalancing.amazonaws.com",
    )
    assert created["Role"]["RoleName"] == "AWSServiceRoleForElasticLoadBalancing"
    assert created["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "elasticloadbalancing.amazonaws.com"
    }
    task = aws(
        server.endpoint,
        "iam",
        "delete-service-linked-role",
        "--role-name",
        "AWSServiceRoleForElasticLoadBalancing",
    )["DeletionTaskId"]
    status = aws(
        server.endpoint,
        "iam",
        "get-service-linked-role-deletion-status",
        "--deletion-task-id",
        task,
    )
    assert status == {"Status": "SUCCEEDED"}
