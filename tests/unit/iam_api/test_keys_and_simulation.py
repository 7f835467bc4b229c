"""Access keys (through the platform's credential store) and SimulatePrincipalPolicy."""

from __future__ import annotations

from sandlot.iam.principal import Principal
from sandlot.services.iam.simulate import statement_spans
from tests.unit.iam_api.conftest import ACCOUNT, TRUST, allow, deny, document

S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def test_access_keys(iam, fails, platform):
    user = iam("CreateUser", {"UserName": "u"})["User"]
    key = iam("CreateAccessKey", {"UserName": "u"})["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and key["Status"] == "Active"
    credential = platform.credentials.lookup(key["AccessKeyId"])
    assert (
        credential.principal.arn == user["Arn"] and credential.principal.user_id == user["UserId"]
    )
    assert credential.secret_access_key == key["SecretAccessKey"]
    iam("CreateAccessKey", {"UserName": "u"})
    assert fails("CreateAccessKey", {"UserName": "u"}).code == "LimitExceeded"
    listed = iam("ListAccessKeys", {"UserName": "u"})["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed][0] == key["AccessKeyId"]
    assert "SecretAccessKey" not in listed[0]
    iam(
        "UpdateAccessKey",
        {"UserName": "u", "AccessKeyId": key["AccessKeyId"], "Status": "Inactive"},
    )
    assert platform.credentials.lookup(key["AccessKeyId"]).status == "Inactive"
    last = iam("GetAccessKeyLastUsed", {"AccessKeyId": key["AccessKeyId"]})
    assert last == {"UserName": "u", "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}
    assert fails("DeleteUser", {"UserName": "u"}).code == "DeleteConflict"
    for k in listed:
        iam("DeleteAccessKey", {"UserName": "u", "AccessKeyId": k["AccessKeyId"]})
    assert platform.credentials.lookup(key["AccessKeyId"]).status == "Deleted"
    error = fails("DeleteAccessKey", {"UserName": "u", "AccessKeyId": key["AccessKeyId"]})
    assert (error.code, error.status) == ("NoSuchEntity", 404)
    iam("DeleteUser", {"UserName": "u"})


def test_own_keys_without_user_name(iam):
    user = iam("CreateUser", {"UserName": "u"})["User"]
    me = Principal(ACCOUNT, user["Arn"], user["UserId"], "user")
    key = iam("CreateAccessKey", {}, principal=me)["AccessKey"]
    assert key["UserName"] == "u"
    assert [
        k["AccessKeyId"] for k in iam("ListAccessKeys", {"UserName": "u"})["AccessKeyMetadata"]
    ] == [key["AccessKeyId"]]


def test_renamed_user_keeps_keys(iam, platform):
    iam("CreateUser", {"UserName": "u"})
    key = iam("CreateAccessKey", {"UserName": "u"})["AccessKey"]["AccessKeyId"]
    iam("UpdateUser", {"UserName": "u", "NewUserName": "v"})
    assert platform.credentials.lookup(key).principal.arn == f"arn:aws:iam::{ACCOUNT}:user/v"
    assert len(iam("ListAccessKeys", {"UserName": "v"})["AccessKeyMetadata"]) == 1


def _simulate(iam, arn: str, actions: list[str], resources: list[str] | None = None, **extra):
    params = {"PolicySourceArn": arn, "ActionNames": actions, **extra}
    if resources:
        params["ResourceArns"] = resources
    return iam("SimulatePrincipalPolicy", params)["EvaluationResults"]


def test_simulate_user_with_groups(iam):
    user = iam("CreateUser", {"UserName": "u"})["User"]["Arn"]
    iam(
        "PutUserPolicy",
        {
            "UserName": "u",
            "PolicyName": "own",
            "PolicyDocument": document(allow("s3:PutObject", "arn:aws:s3:::a/*")),
        },
    )
    iam("CreateGroup", {"GroupName": "g"})
    iam("AddUserToGroup", {"GroupName": "g", "UserName": "u"})
    iam("AttachGroupPolicy", {"GroupName": "g", "PolicyArn": S3_READ})
    iam(
        "PutGroupPolicy",
        {
            "GroupName": "g",
            "PolicyName": "no-b",
            "PolicyDocument": document(deny("s3:*", "arn:aws:s3:::b/*")),
        },
    )
    results = _simulate(
        iam,
        user,
        ["s3:PutObject", "s3:GetObject", "sqs:SendMessage"],
        ["arn:aws:s3:::a/k", "arn:aws:s3:::b/k"],
    )
    decisions = {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in results}
    assert decisions == {
        ("s3:PutObject", "arn:aws:s3:::a/k"): "allowed",
        ("s3:PutObject", "arn:aws:s3:::b/k"): "explicitDeny",
        ("s3:GetObject", "arn:aws:s3:::a/k"): "allowed",
        ("s3:GetObject", "arn:aws:s3:::b/k"): "explicitDeny",
        ("sqs:SendMessage", "arn:aws:s3:::a/k"): "implicitDeny",
        ("sqs:SendMessage", "arn:aws:s3:::b/k"): "implicitDeny",
    }
    sources = [
        [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in r["MatchedStatements"]]
        for r in results[:3]
    ]
    assert sources == [[("own", "user")], [("no-b", "group")], [(S3_READ, "aws-managed")]]
    assert results[0]["MatchedStatements"][0]["StartPosition"] == {"Line": 1, "Column": 41}


def test_simulate_role_with_context_and_inputs(iam, fails):
    role = iam("CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": TRUST})["Role"]["Arn"]
    conditional = {
        **allow("sqs:SendMessage"),
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    }
    iam(
        "PutRolePolicy",
        {"RoleName": "r", "PolicyName": "ip", "PolicyDocument": document(conditional)},
    )
    entry = {"ContextKeyName": "aws:SourceIp", "ContextKeyType": "ip"}
    inside = _simulate(
        iam, role, ["sqs:SendMessage"], ContextEntries=[{**entry, "ContextKeyValues": ["10.1.2.3"]}]
    )
    outside = _simulate(
        iam,
        role,
        ["sqs:SendMessage"],
        ContextEntries=[{**entry, "ContextKeyValues": ["192.168.0.1"]}],
    )
    assert (inside[0]["EvalDecision"], outside[0]["EvalDecision"]) == ("allowed", "implicitDeny")
    extra = _simulate(iam, role, ["sns:Publish"], PolicyInputList=[document(allow("sns:*"))])
    assert extra[0]["EvalDecision"] == "allowed"
    assert (
        fails(
            "SimulatePrincipalPolicy",
            {"PolicySourceArn": "arn:aws:iam::000000000000:role/none", "ActionNames": ["s3:*"]},
        ).code
        == "NoSuchEntity"
    )
    assert (
        fails(
            "SimulatePrincipalPolicy",
            {"PolicySourceArn": "arn:aws:iam::000000000000:policy/x", "ActionNames": ["s3:*"]},
        ).code
        == "InvalidInput"
    )


def test_statement_positions():
    text = '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Sid": "A}", "Effect": "Allow",\n     "Action": "s3:*", "Resource": "*"},\n    {"Effect": "Deny", "Action": "s3:Get*", "Resource": "*"}\n  ]\n}'
    assert statement_spans(text) == [((4, 5), (5, 39)), ((6, 5), (6, 60))]
    single = '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}'
    assert statement_spans(single) == [((1, 15), (1, 65))]


def test_simulate_boundary_and_resource_policy(iam):
    user = iam("CreateUser", {"UserName": "u"})["User"]["Arn"]
    iam(
        "AttachUserPolicy",
        {"UserName": "u", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    iam("PutUserPermissionsBoundary", {"UserName": "u", "PermissionsBoundary": S3_READ})
    results = _simulate(iam, user, ["s3:GetObject", "sqs:SendMessage"])
    assert [r["EvalDecision"] for r in results] == ["allowed", "implicitDeny"]
    iam("DeleteUserPermissionsBoundary", {"UserName": "u"})
    assert _simulate(iam, user, ["sqs:SendMessage"])[0]["EvalDecision"] == "allowed"
    role = iam("CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": TRUST})["Role"]["Arn"]
    bucket_policy = document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": role},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*",
        }
    )
    results = _simulate(
        iam, role, ["s3:GetObject"], ["arn:aws:s3:::b/k"], ResourcePolicy=bucket_policy
    )
    assert results[0]["EvalDecision"] == "allowed"
    assert results[0]["MatchedStatements"][0]["SourcePolicyType"] == "resource"
