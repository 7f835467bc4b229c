"""IAM end to end: boto3 and the AWS CLI against a real server (dev mode)."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import aws, make_client

BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _error(call, *args, **kwargs) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_users_groups_and_errors(client):
    iam = client("iam")
    name, group = _name("user"), _name("group")
    user = iam.create_user(UserName=name, Path="/team/")["User"]
    assert user["Arn"] == f"arn:aws:iam::000000000000:user/team/{name}"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert iam.get_user(UserName=name)["User"]["UserId"] == user["UserId"]
    assert name in [u["UserName"] for u in iam.list_users(PathPrefix="/team/")["Users"]]
    assert _error(iam.create_user, UserName=name) == ("EntityAlreadyExists", 409)
    assert _error(iam.get_user, UserName=_name("missing")) == ("NoSuchEntity", 404)
    assert _error(iam.create_user, UserName="bad name") == ("ValidationError", 400)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=name)
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [name]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]] == [group]
    assert _error(iam.delete_user, UserName=name) == ("DeleteConflict", 409)
    iam.remove_user_from_group(GroupName=group, UserName=name)
    iam.delete_group(GroupName=group)
    iam.delete_user(UserName=name)


def test_roles_inline_policies_and_managed_policies(client):
    iam = client("iam")
    role = _name("role")
    created = iam.create_role(
        RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST), MaxSessionDuration=7200
    )
    assert created["Role"]["AssumeRolePolicyDocument"] == TRUST  # botocore decodes it
    assert "MaxSessionDuration" not in created["Role"]  # as AWS answers CreateRole
    got = iam.get_role(RoleName=role)["Role"]
    assert got["MaxSessionDuration"] == 7200 and got["RoleLastUsed"] == {}
    document = _policy(
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::a/*"}
    )
    iam.put_role_policy(RoleName=role, PolicyName="put", PolicyDocument=json.dumps(document))
    assert iam.get_role_policy(RoleName=role, PolicyName="put")["PolicyDocument"] == document
    assert _error(iam.put_role_policy, RoleName=role, PolicyName="bad", PolicyDocument="{") == (
        "MalformedPolicyDocument",
        400,
    )
    iam.attach_role_policy(RoleName=role, PolicyArn=BASIC)
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert attached == [{"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC}]
    aws_policy = iam.get_policy(PolicyArn=BASIC)["Policy"]
    assert aws_policy["AttachmentCount"] >= 1
    scoped = iam.list_policies(Scope="AWS", MaxItems=100)["Policies"]
    assert "AdministratorAccess" in {p["PolicyName"] for p in scoped}

    arn = iam.create_policy(PolicyName=_name("p"), PolicyDocument=json.dumps(document))["Policy"][
        "Arn"
    ]
    second = _policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(second), SetAsDefault=True)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    assert (
        iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"] == second
    )
    for _ in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(second))
    assert _error(iam.create_policy_version, PolicyArn=arn, PolicyDocument=json.dumps(second)) == (
        "LimitExceeded",
        409,
    )
    assert _error(iam.delete_policy_version, PolicyArn=arn, VersionId="v2") == (
        "DeleteConflict",
        409,
    )
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    assert _error(iam.delete_role, RoleName=role) == ("DeleteConflict", 409)
    for policy_arn in (BASIC, arn):
        iam.detach_role_policy(RoleName=role, PolicyArn=policy_arn)
    iam.delete_role_policy(RoleName=role, PolicyName="put")
    iam.delete_role(RoleName=role)
    for version in ("v1", "v3", "v4", "v5"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=version)
    iam.delete_policy(PolicyArn=arn)


def test_access_keys_authenticate_through_the_gateway(server, client):
    iam = client("iam")
    name = _name("keyed")
    user = iam.create_user(UserName=name)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    as_user = make_client(server.endpoint, "sts", key["AccessKeyId"], key["SecretAccessKey"])
    assert as_user.get_caller_identity()["Arn"] == user["Arn"]
    assert as_user.get_caller_identity()["UserId"] == user["UserId"]
    own = make_client(server.endpoint, "iam", key["AccessKeyId"], key["SecretAccessKey"])
    assert _error(own.get_user) == ("AccessDenied", 403)  # a new user may do nothing
    self_only = _policy(
        {
            "Effect": "Allow",
            "Action": "iam:GetUser",
            "Resource": "arn:aws:iam::000000000000:user/${aws:username}",
        }
    )
    iam.put_user_policy(UserName=name, PolicyName="self", PolicyDocument=json.dumps(self_only))
    assert own.get_user()["User"]["UserName"] == name
    assert _error(lambda: own.get_user(UserName="someone-else")) == ("AccessDenied", 403)
    wrong = make_client(server.endpoint, "sts", key["AccessKeyId"], "wrong-secret")
    assert _error(wrong.get_caller_identity) == ("SignatureDoesNotMatch", 403)
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert _error(as_user.get_caller_identity) == ("InvalidClientTokenId", 403)
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert as_user.get_caller_identity()["Arn"] == user["Arn"]
    last = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert last["AccessKeyLastUsed"]["ServiceName"] == "N/A"
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    assert _error(as_user.get_caller_identity) == ("InvalidClientTokenId", 403)
    iam.delete_user_policy(UserName=name, PolicyName="self")
    iam.delete_user(UserName=name)


def test_simulate_principal_policy(client):
    iam = client("iam")
    name = _name("sim")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    iam.attach_user_policy(
        UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    deny = _policy(
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::secret/*"}
    )
    iam.put_user_policy(UserName=name, PolicyName="deny", PolicyDocument=json.dumps(deny))
    results = iam.simulate_principal_policy(
        PolicySourceArn=arn,
        ActionNames=["s3:GetObject", "s3:PutObject"],
        ResourceArns=["arn:aws:s3:::public/k", "arn:aws:s3:::secret/k"],
    )["EvaluationResults"]
    decisions = [(r["EvalActionName"], r["EvalResourceName"], r["EvalDecision"]) for r in results]
    assert decisions == [
        ("s3:GetObject", "arn:aws:s3:::public/k", "allowed"),
        ("s3:GetObject", "arn:aws:s3:::secret/k", "explicitDeny"),
        ("s3:PutObject", "arn:aws:s3:::public/k", "implicitDeny"),
        ("s3:PutObject", "arn:aws:s3:::secret/k", "implicitDeny"),
    ]
    assert results[1]["MatchedStatements"][0]["SourcePolicyId"] == "deny"


def test_aws_cli_and_account_isolation(server):
    name = _name("cli")
    created = aws(server.endpoint, "iam", "create-user", "--user-name", name, key="111111111111")
    assert created["User"]["Arn"] == f"arn:aws:iam::111111111111:user/{name}"
    listed = aws(server.endpoint, "iam", "list-users", key="111111111111")
    assert name in [u["UserName"] for u in listed["Users"]]
    default = aws(server.endpoint, "iam", "list-users")
    assert name not in [u["UserName"] for u in default["Users"]]
    policy = aws(
        server.endpoint,
        "iam",
        "get-policy",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AmazonSQSFullAccess",
        key="111111111111",
    )
    assert policy["Policy"]["PolicyName"] == "AmazonSQSFullAccess"


def test_tags_boundaries_and_entities_for_policy(client):
    iam = client("iam")
    role = _name("tagged")
    iam.create_role(
        RoleName=role,
        AssumeRolePolicyDocument=json.dumps(TRUST),
        Tags=[{"Key": "team", "Value": "a"}],
    )
    iam.tag_role(RoleName=role, Tags=[{"Key": "env", "Value": "dev"}])
    iam.untag_role(RoleName=role, TagKeys=["team"])
    assert iam.list_role_tags(RoleName=role)["Tags"] == [{"Key": "env", "Value": "dev"}]
    iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=BASIC)
    boundary = iam.get_role(RoleName=role)["Role"]["PermissionsBoundary"]
    assert boundary == {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": BASIC}
    iam.delete_role_permissions_boundary(RoleName=role)
    iam.attach_role_policy(RoleName=role, PolicyArn=BASIC)
    entities = iam.list_entities_for_policy(PolicyArn=BASIC, EntityFilter="Role")
    assert role in [r["RoleName"] for r in entities["PolicyRoles"]]
    iam.detach_role_policy(RoleName=role, PolicyArn=BASIC)
    iam.delete_role(RoleName=role)


def test_every_aws_managed_policy_exists(server, client):
    """Templates attach AWS managed policies beyond the common few: all of AWS's exist,
    with their paths, versions and documents; an unknown one stays NoSuchEntity."""
    iam = client("iam")
    got = aws(
        server.endpoint,
        "iam",
        "get-policy",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AWSLambda_FullAccess",
    )["Policy"]
    assert got["Arn"] == "arn:aws:iam::aws:policy/AWSLambda_FullAccess" and got["Path"] == "/"
    assert got["CreateDate"].startswith("2020-11-17T21:14:08")
    document = aws(
        server.endpoint,
        "iam",
        "get-policy-version",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AWSLambda_FullAccess",
        "--version-id",
        got["DefaultVersionId"],
    )["PolicyVersion"]["Document"]
    actions = [a for s in document["Statement"] for a in _list(s.get("Action"))]
    assert "lambda:*" in actions

    role = _name("vpc-fn")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))
    attached = [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
        "arn:aws:iam::aws:policy/AmazonEventBridgeFullAccess",
        "arn:aws:iam::aws:policy/AWSLambda_FullAccess",
    ]
    for arn in attached:
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    listed = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert sorted(p["PolicyArn"] for p in listed) == sorted(attached)
    vpc = iam.get_policy(PolicyArn=attached[0])["Policy"]
    assert vpc["Path"] == "/service-role/" and vpc["AttachmentCount"] == 1
    version = iam.get_policy_version(PolicyArn=attached[0], VersionId=vpc["DefaultVersionId"])
    statement = version["PolicyVersion"]["Document"]["Statement"][0]
    assert "ec2:CreateNetworkInterface" in statement["Action"]

    pages = iam.get_paginator("list_policies").paginate(
        Scope="AWS", PaginationConfig={"PageSize": 300}
    )
    names = [p["PolicyName"] for page in pages for p in page["Policies"]]
    assert len(names) == len(set(names)) > 1000
    only = iam.list_policies(Scope="AWS", OnlyAttached=True, PathPrefix="/service-role/")
    assert attached[0] in [p["Arn"] for p in only["Policies"]]
    assert all(p["Path"] == "/service-role/" for p in only["Policies"])

    missing = "arn:aws:iam::aws:policy/NotARealPolicy"
    assert _error(iam.attach_role_policy, RoleName=role, PolicyArn=missing) == (
        "NoSuchEntity",
        404,
    )
    assert _error(iam.get_policy, PolicyArn=missing) == ("NoSuchEntity", 404)
    for arn in attached:
        iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    iam.delete_role(RoleName=role)


def _list(value) -> list:
    return value if isinstance(value, list) else [value]
