"""Managed policies and versions, AWS managed policies, inline policies, attachments."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import unquote

from sandlot.iam.policy import compile_policy
from sandlot.services.iam import managed_policies
from tests.unit.iam_api.conftest import ACCOUNT, TRUST, allow, document

BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def test_managed_policy_versions(iam, fails):
    policy = iam(
        "CreatePolicy", {"PolicyName": "p", "PolicyDocument": document(allow("s3:GetObject"))}
    )["Policy"]
    arn = policy["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/p"
    assert policy["PolicyId"].startswith("ANPA") and len(policy["PolicyId"]) == 21
    assert (policy["DefaultVersionId"], policy["AttachmentCount"]) == ("v1", 0)
    assert fails(
        "CreatePolicy", {"PolicyName": "P", "PolicyDocument": document(allow("s3:*"))}
    ).code == ("EntityAlreadyExists")
    for i in range(2, 6):
        version = iam(
            "CreatePolicyVersion", {"PolicyArn": arn, "PolicyDocument": document(allow(f"s3:A{i}"))}
        )
        assert version["PolicyVersion"] == {
            **version["PolicyVersion"],
            "VersionId": f"v{i}",
            "IsDefaultVersion": False,
        }
    error = fails(
        "CreatePolicyVersion", {"PolicyArn": arn, "PolicyDocument": document(allow("s3:*"))}
    )
    assert (error.code, error.status) == ("LimitExceeded", 409)
    iam("SetDefaultPolicyVersion", {"PolicyArn": arn, "VersionId": "v3"})
    assert iam("GetPolicy", {"PolicyArn": arn})["Policy"]["DefaultVersionId"] == "v3"
    got = iam("GetPolicyVersion", {"PolicyArn": arn, "VersionId": "v3"})["PolicyVersion"]
    assert json.loads(unquote(got["Document"])) == json.loads(document(allow("s3:A3")))
    listed = iam("ListPolicyVersions", {"PolicyArn": arn})["Versions"]
    assert [v["VersionId"] for v in listed] == ["v5", "v4", "v3", "v2", "v1"]
    assert (
        fails("DeletePolicyVersion", {"PolicyArn": arn, "VersionId": "v3"}).code == "DeleteConflict"
    )
    assert fails("DeletePolicy", {"PolicyArn": arn}).code == "DeleteConflict"
    for v in ("v1", "v2", "v4", "v5"):
        iam("DeletePolicyVersion", {"PolicyArn": arn, "VersionId": v})
    assert fails("GetPolicyVersion", {"PolicyArn": arn, "VersionId": "v1"}).code == "NoSuchEntity"
    # Version numbers are never reused.
    iam("CreatePolicyVersion", {"PolicyArn": arn, "PolicyDocument": document(allow("s3:*"))})
    assert [v["VersionId"] for v in iam("ListPolicyVersions", {"PolicyArn": arn})["Versions"]] == [
        "v6",
        "v3",
    ]
    iam("DeletePolicyVersion", {"PolicyArn": arn, "VersionId": "v6"})
    iam("DeletePolicy", {"PolicyArn": arn})
    assert fails("GetPolicy", {"PolicyArn": arn}).code == "NoSuchEntity"


def test_malformed_and_invalid(fails):
    error = fails("CreatePolicy", {"PolicyName": "p", "PolicyDocument": "not json"})
    assert (error.code, error.status) == ("MalformedPolicyDocument", 400)
    error = fails("GetPolicy", {"PolicyArn": "arn:aws:iam::000000000000:nope"})
    assert (error.code, error.status) == ("InvalidInput", 400)
    big = document(*[allow(f"s3:Action{i:04d}", f"arn:aws:s3:::bucket-{i}/*") for i in range(200)])
    assert (
        fails("CreatePolicy", {"PolicyName": "big", "PolicyDocument": big}).code == "LimitExceeded"
    )


def test_aws_managed_policies(iam, fails):
    """All of AWS's managed policies (from the pinned data package), with their paths,
    versions and dates; every default document compiles."""
    listed, marker = [], None
    while True:
        params = {"Scope": "AWS", "MaxItems": 500, **({"Marker": marker} if marker else {})}
        response = iam("ListPolicies", params)
        listed += response["Policies"]
        if not response["IsTruncated"]:
            break
        marker = response["Marker"]
    names = [p["PolicyName"] for p in listed]
    assert len(names) == len(set(names)) > 1000
    assert {"AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole"} <= set(names)
    assert {"AWSLambda_FullAccess", "AmazonEventBridgeFullAccess"} <= set(names)
    assert names == sorted(names, key=str.lower)
    got = iam("GetPolicy", {"PolicyArn": BASIC})["Policy"]
    assert got["Path"] == "/service-role/" and got["IsAttachable"]
    assert got["CreateDate"] == dt.datetime(2015, 4, 9, 15, 3, 43, tzinfo=dt.UTC)
    version = iam("GetPolicyVersion", {"PolicyArn": BASIC, "VersionId": "v1"})["PolicyVersion"]
    assert "logs:PutLogEvents" in unquote(version["Document"])
    full = "arn:aws:iam::aws:policy/AWSLambda_FullAccess"
    policy = iam("GetPolicy", {"PolicyArn": full})["Policy"]
    default = policy["DefaultVersionId"]
    assert int(default[1:]) >= 7 and policy["UpdateDate"] > policy["CreateDate"]
    versions = iam("ListPolicyVersions", {"PolicyArn": full})["Versions"]
    assert versions[0]["VersionId"] == default and versions[0]["IsDefaultVersion"]
    assert versions[-1]["VersionId"] == "v1" and not versions[-1]["IsDefaultVersion"]
    old = iam("GetPolicyVersion", {"PolicyArn": full, "VersionId": "v1"})["PolicyVersion"]
    assert "lambda:" in unquote(old["Document"])
    error = fails("GetPolicyVersion", {"PolicyArn": full, "VersionId": "v99"})
    assert error.code == "NoSuchEntity"
    error = fails("GetPolicy", {"PolicyArn": "arn:aws:iam::aws:policy/NoSuchPolicy"})
    assert (error.code, error.status) == ("NoSuchEntity", 404)
    assert fails("DeletePolicy", {"PolicyArn": BASIC}).code == "AccessDenied"
    only_service_roles = iam("ListPolicies", {"Scope": "AWS", "PathPrefix": "/service-role/"})
    assert all(p["Path"] == "/service-role/" for p in only_service_roles["Policies"])
    for policy in managed_policies.all_policies():  # every default document compiles
        compile_policy(policy.document, "identity", policy.arn)


def test_inline_policies(iam, fails):
    doc = document(allow("s3:GetObject", "arn:aws:s3:::b/*"))
    iam("CreateUser", {"UserName": "u"})
    iam("CreateGroup", {"GroupName": "g"})
    iam("CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": TRUST})
    for kind, name in (("User", "u"), ("Group", "g"), ("Role", "r")):
        iam(f"Put{kind}Policy", {f"{kind}Name": name, "PolicyName": "p", "PolicyDocument": doc})
        got = iam(f"Get{kind}Policy", {f"{kind}Name": name, "PolicyName": "p"})
        assert unquote(got["PolicyDocument"]) == doc and got[f"{kind}Name"] == name
        assert iam(f"List{kind}Policies", {f"{kind}Name": name})["PolicyNames"] == ["p"]
        iam(f"Delete{kind}Policy", {f"{kind}Name": name, "PolicyName": "p"})
        error = fails(f"Get{kind}Policy", {f"{kind}Name": name, "PolicyName": "p"})
        assert (
            error.code == "NoSuchEntity"
            and error.message == f"The {kind.lower()} policy with name p cannot be found."
        )
    error = fails("PutUserPolicy", {"UserName": "u", "PolicyName": "p", "PolicyDocument": "{}"})
    assert error.code == "MalformedPolicyDocument"


def test_attachments(iam, fails):
    iam("CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": TRUST})
    iam("AttachRolePolicy", {"RoleName": "r", "PolicyArn": BASIC})
    attached = iam("ListAttachedRolePolicies", {"RoleName": "r"})["AttachedPolicies"]
    assert attached == [{"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC}]
    assert iam("GetPolicy", {"PolicyArn": BASIC})["Policy"]["AttachmentCount"] == 1
    entities = iam("ListEntitiesForPolicy", {"PolicyArn": BASIC})
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == ["r"]
    only = iam("ListPolicies", {"OnlyAttached": True})["Policies"]
    assert [p["Arn"] for p in only] == [BASIC]
    assert fails("DeleteRole", {"RoleName": "r"}).code == "DeleteConflict"
    missing = "arn:aws:iam::aws:policy/NoSuchPolicy"
    error = fails("AttachRolePolicy", {"RoleName": "r", "PolicyArn": missing})
    assert error.message == f"Policy {missing} does not exist or is not attachable."
    iam("DetachRolePolicy", {"RoleName": "r", "PolicyArn": BASIC})
    assert fails("DetachRolePolicy", {"RoleName": "r", "PolicyArn": BASIC}).code == "NoSuchEntity"
    own = iam("CreatePolicy", {"PolicyName": "p", "PolicyDocument": document(allow("s3:*"))})[
        "Policy"
    ]["Arn"]
    iam("CreateUser", {"UserName": "u"})
    iam("AttachUserPolicy", {"UserName": "u", "PolicyArn": own})
    assert fails("DeletePolicy", {"PolicyArn": own}).code == "DeleteConflict"
    assert fails("DeleteUser", {"UserName": "u"}).code == "DeleteConflict"
    # (a service-linked role's policy, under /aws-service-role/, attaches to nothing else)
    usable = [p for p in managed_policies.all_policies() if p.path != "/aws-service-role/"]
    for p in usable[:9]:
        iam("AttachUserPolicy", {"UserName": "u", "PolicyArn": p.arn})
    tenth = usable[9].arn
    error = fails("AttachUserPolicy", {"UserName": "u", "PolicyArn": tenth})
    assert (error.code, error.message) == (
        "LimitExceeded",
        "Cannot exceed quota for PoliciesPerUser: 10",
    )


def test_policy_tags(iam):
    arn = iam("CreatePolicy", {"PolicyName": "p", "PolicyDocument": document(allow("s3:*"))})[
        "Policy"
    ]["Arn"]
    iam("TagPolicy", {"PolicyArn": arn, "Tags": [{"Key": "k", "Value": "v"}]})
    assert iam("ListPolicyTags", {"PolicyArn": arn})["Tags"] == [{"Key": "k", "Value": "v"}]
    iam("UntagPolicy", {"PolicyArn": arn, "TagKeys": ["k"]})
    assert iam("ListPolicyTags", {"PolicyArn": arn})["Tags"] == []
