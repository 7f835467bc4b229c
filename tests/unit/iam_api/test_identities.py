"""Users, groups, roles and tags through the provider."""

from __future__ import annotations

import json
from urllib.parse import unquote

from tests.unit.iam_api.conftest import ACCOUNT, TRUST, allow, document


def test_user_crud_and_shapes(iam, fails):
    user = iam(
        "CreateUser",
        {"UserName": "alice", "Path": "/dev/", "Tags": [{"Key": "team", "Value": "a"}]},
    )["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/dev/alice"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert user["Tags"] == [{"Key": "team", "Value": "a"}]
    got = iam("GetUser", {"UserName": "ALICE"})["User"]  # names are case-insensitive
    assert got["UserId"] == user["UserId"] and got["Path"] == "/dev/"
    error = fails("CreateUser", {"UserName": "Alice"})
    assert (error.code, error.status) == ("EntityAlreadyExists", 409)
    iam("CreateUser", {"UserName": "bob"})
    assert [u["UserName"] for u in iam("ListUsers")["Users"]] == ["alice", "bob"]
    assert [u["UserName"] for u in iam("ListUsers", {"PathPrefix": "/dev/"})["Users"]] == ["alice"]
    iam("UpdateUser", {"UserName": "bob", "NewUserName": "carol", "NewPath": "/ops/"})
    assert iam("GetUser", {"UserName": "carol"})["User"]["Arn"].endswith(":user/ops/carol")
    iam("DeleteUser", {"UserName": "carol"})
    error = fails("GetUser", {"UserName": "carol"})
    assert (error.code, error.status) == ("NoSuchEntity", 404)
    assert error.message == "The user with name carol cannot be found."


def test_paging(iam):
    for i in range(5):
        iam("CreateUser", {"UserName": f"u{i}"})
    first = iam("ListUsers", {"MaxItems": 2})
    assert first["IsTruncated"] and len(first["Users"]) == 2
    rest = iam("ListUsers", {"Marker": first["Marker"], "MaxItems": 10})
    assert [u["UserName"] for u in rest["Users"]] == ["u2", "u3", "u4"]
    assert rest["IsTruncated"] is False


def test_validation_error(fails):
    error = fails("CreateUser", {"UserName": "bad name!"})
    assert (error.code, error.status) == ("ValidationError", 400)
    assert "userName" in error.message


def test_get_user_without_name_is_the_caller(iam, platform):
    from sandlot.iam.principal import Principal

    user = iam("CreateUser", {"UserName": "me"})["User"]
    caller = Principal(ACCOUNT, user["Arn"], user["UserId"], "user")
    assert iam("GetUser", {}, principal=caller)["User"]["UserName"] == "me"
    assert iam("GetUser")["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"


def test_groups_and_membership(iam, fails):
    group = iam("CreateGroup", {"GroupName": "devs"})["Group"]
    assert group["GroupId"].startswith("AGPA") and group["Arn"].endswith(":group/devs")
    iam("CreateUser", {"UserName": "alice"})
    iam("AddUserToGroup", {"GroupName": "devs", "UserName": "alice"})
    got = iam("GetGroup", {"GroupName": "devs"})
    assert [u["UserName"] for u in got["Users"]] == ["alice"]
    assert [g["GroupName"] for g in iam("ListGroupsForUser", {"UserName": "alice"})["Groups"]] == [
        "devs"
    ]
    error = fails("DeleteGroup", {"GroupName": "devs"})
    assert (error.code, error.status) == ("DeleteConflict", 409)
    assert fails("DeleteUser", {"UserName": "alice"}).code == "DeleteConflict"
    iam("RemoveUserFromGroup", {"GroupName": "devs", "UserName": "alice"})
    iam("DeleteGroup", {"GroupName": "devs"})
    iam("DeleteUser", {"UserName": "alice"})
    assert iam("ListGroups")["Groups"] == []


def test_roles(iam, fails):
    role = iam(
        "CreateRole", {"RoleName": "fn", "AssumeRolePolicyDocument": TRUST, "Description": "d"}
    )["Role"]
    assert role["RoleId"].startswith("AROA") and "MaxSessionDuration" not in role  # as AWS
    assert json.loads(unquote(role["AssumeRolePolicyDocument"])) == json.loads(TRUST)
    got = iam("GetRole", {"RoleName": "fn"})["Role"]
    assert got["RoleLastUsed"] == {} and got["Description"] == "d"
    assert got["MaxSessionDuration"] == 3600
    iam("UpdateRole", {"RoleName": "fn", "MaxSessionDuration": 7200})
    assert iam("GetRole", {"RoleName": "fn"})["Role"]["MaxSessionDuration"] == 7200
    error = fails("UpdateRole", {"RoleName": "fn", "MaxSessionDuration": 100})
    assert error.code == "ValidationError"
    new_trust = document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    )
    iam("UpdateAssumeRolePolicy", {"RoleName": "fn", "PolicyDocument": new_trust})
    got = iam("GetRole", {"RoleName": "fn"})["Role"]
    assert unquote(got["AssumeRolePolicyDocument"]) == new_trust
    assert fails("UpdateAssumeRolePolicy", {"RoleName": "fn", "PolicyDocument": "{"}).code == (
        "MalformedPolicyDocument"
    )
    error = fails(
        "CreateRole", {"RoleName": "x", "AssumeRolePolicyDocument": document(allow("s3:*"))}
    )
    assert error.code == "MalformedPolicyDocument"
    assert [r["RoleName"] for r in iam("ListRoles")["Roles"]] == ["fn"]
    iam(
        "PutRolePolicy",
        {"RoleName": "fn", "PolicyName": "p", "PolicyDocument": document(allow("s3:*"))},
    )
    assert fails("DeleteRole", {"RoleName": "fn"}).code == "DeleteConflict"
    iam("DeleteRolePolicy", {"RoleName": "fn", "PolicyName": "p"})
    iam("DeleteRole", {"RoleName": "fn"})
    assert fails("GetRole", {"RoleName": "fn"}).message == "The role with name fn cannot be found."


def test_tags(iam, fails):
    iam("CreateUser", {"UserName": "alice"})
    iam(
        "TagUser",
        {"UserName": "alice", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]},
    )
    iam("TagUser", {"UserName": "alice", "Tags": [{"Key": "A", "Value": "3"}]})
    assert iam("ListUserTags", {"UserName": "alice"})["Tags"] == [
        {"Key": "A", "Value": "3"},
        {"Key": "b", "Value": "2"},
    ]
    iam("UntagUser", {"UserName": "alice", "TagKeys": ["b"]})
    assert iam("ListUserTags", {"UserName": "alice"})["Tags"] == [{"Key": "A", "Value": "3"}]
    iam("CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": TRUST})
    iam("TagRole", {"RoleName": "r", "Tags": [{"Key": "k", "Value": "v"}]})
    assert iam("GetRole", {"RoleName": "r"})["Role"]["Tags"] == [{"Key": "k", "Value": "v"}]
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert fails("TagRole", {"RoleName": "r", "Tags": many}).code == "LimitExceeded"


def test_accounts_are_isolated(iam, fails):
    from sandlot.iam.principal import Principal

    other = Principal.root("111111111111")
    iam("CreateUser", {"UserName": "alice"})
    assert fails("GetUser", {"UserName": "alice"}, principal=other).code == "NoSuchEntity"
    created = iam("CreateUser", {"UserName": "alice"}, principal=other)["User"]
    assert created["Arn"] == "arn:aws:iam::111111111111:user/alice"


def test_a_functions_session_names_its_roles_unique_id(platform, iam):
    """Lambda acts for a function as a session of its role: the principal carries the
    role's id (AROA…), found from the exact ARN (path included), or none for a role that
    does not exist (it was deleted, or the ARN's path is not the role's)."""
    role = iam(
        "CreateRole", {"RoleName": "fn-role", "Path": "/app/", "AssumeRolePolicyDocument": TRUST}
    )
    arn, role_id = role["Role"]["Arn"], role["Role"]["RoleId"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:role/app/fn-role"
    iam("CreateRole", {"RoleName": "other", "AssumeRolePolicyDocument": TRUST})
    principal = platform.function_principal(arn, "orders")
    assert principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/fn-role/orders"
    assert principal.user_id == f"{role_id}:orders"
    provider = platform.provider("iam")
    assert provider.role_id(arn) == provider.role(arn).entity_id == role_id
    assert provider.role_id(f"arn:aws:iam::{ACCOUNT}:role/fn-role") is None  # not its path
    assert provider.role_id(f"arn:aws:iam::{ACCOUNT}:role/app/missing") is None
    assert provider.role_id(f"arn:aws:iam::{ACCOUNT}:user/app/fn-role") is None
