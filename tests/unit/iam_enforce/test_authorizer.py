"""Enforcement through the internal client: who may do what, what is logged."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json

import pytest

from sandlot.cli.iam import explain
from sandlot.config import Settings
from sandlot.iam.principal import Principal
from sandlot.iam.suggest import least_privilege
from sandlot.platform import Platform
from sandlot.protocol import ServiceError

ACCOUNT = "000000000000"
ROOT = Principal.root(ACCOUNT)
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com", "AWS": ACCOUNT},
            "Action": "sts:AssumeRole",
        }
    ],
}


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def make_platform(tmp_path, mode: str = "enforce") -> Platform:
    return Platform(Settings(iam=mode), tmp_path / "data")


@pytest.fixture
def platform(tmp_path):
    running = make_platform(tmp_path)
    yield running
    running.close()


def call(platform, service, operation, params=None, principal=ROOT, request_id=None, **kw):
    return asyncio.run(
        platform.call(
            service,
            operation,
            params or {},
            principal=principal,
            region="us-east-1",
            request_id=request_id,
            **kw,
        )
    )


def denied(platform, service, operation, params=None, principal=ROOT, **kw) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call(platform, service, operation, params, principal, **kw)
    return caught.value


def user(platform, name: str) -> Principal:
    created = call(platform, "iam", "CreateUser", {"UserName": name})["User"]
    return Principal(ACCOUNT, created["Arn"], created["UserId"], "user")


def session(platform, role: str, session_policy: str | None = None) -> Principal:
    params = {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "RoleSessionName": "s1"}
    if session_policy:
        params["Policy"] = session_policy
    out = call(platform, "sts", "AssumeRole", params)
    creds = platform.credentials.lookup(out["Credentials"]["AccessKeyId"])
    return creds.principal


def test_root_may_do_anything_in_its_account_and_is_not_logged(platform):
    call(platform, "iam", "ListUsers", request_id="root-1")
    call(platform, "lambda", "ListFunctions", request_id="root-2")
    assert platform.authorizer.decisions.for_request("root-1") == []


def test_a_user_without_policies_is_denied_in_each_protocols_words(platform):
    alice = user(platform, "alice")
    error = denied(platform, "iam", "ListUsers", principal=alice)
    assert (error.code, error.status) == ("AccessDenied", 403)
    assert error.message.startswith(
        f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: iam:ListUsers"
    )
    assert error.message.endswith(
        "because no identity-based policy allows the iam:ListUsers action"
    )
    error = denied(platform, "lambda", "ListFunctions", principal=alice)
    assert (error.code, error.status) == ("AccessDeniedException", 403)
    assert "lambda:ListFunctions because" in error.message  # resource "*" is not named


def test_group_policies_allow_explicit_deny_wins_and_changes_apply_at_once(platform):
    bob = user(platform, "bob")
    call(platform, "iam", "CreateGroup", {"GroupName": "readers"})
    call(platform, "iam", "AddUserToGroup", {"GroupName": "readers", "UserName": "bob"})
    call(
        platform,
        "iam",
        "PutGroupPolicy",
        {
            "GroupName": "readers",
            "PolicyName": "list",
            "PolicyDocument": policy({"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}),
        },
    )
    call(platform, "iam", "ListUsers", principal=bob)
    call(
        platform,
        "iam",
        "PutUserPolicy",
        {
            "UserName": "bob",
            "PolicyName": "no-roles",
            "PolicyDocument": policy(
                {"Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*"}
            ),
        },
    )
    error = denied(platform, "iam", "ListRoles", principal=bob)
    assert error.message.endswith("with an explicit deny in an identity-based policy")
    call(platform, "iam", "ListUsers", principal=bob)


def test_assume_role_needs_the_trust_policy_and_sessions_are_limited_by_session_policy(
    platform,
):
    assert (
        denied(
            platform,
            "sts",
            "AssumeRole",
            {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/worker", "RoleSessionName": "s1"},
        ).code
        == "AccessDenied"
    )
    call(
        platform,
        "iam",
        "CreateRole",
        {"RoleName": "worker", "AssumeRolePolicyDocument": json.dumps(LAMBDA_TRUST)},
    )
    call(
        platform,
        "iam",
        "AttachRolePolicy",
        {"RoleName": "worker", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    full = session(platform, "worker")
    call(platform, "iam", "ListUsers", principal=full)
    narrow = session(
        platform, "worker", policy({"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"})
    )
    call(platform, "iam", "ListRoles", principal=narrow)
    error = denied(platform, "iam", "ListUsers", principal=narrow)
    assert error.message.endswith("because no session policy allows the iam:ListUsers action")
    assert platform.authorizer.can_assume(
        f"arn:aws:iam::{ACCOUNT}:role/worker", "lambda.amazonaws.com", ACCOUNT
    )
    assert not platform.authorizer.can_assume(
        f"arn:aws:iam::{ACCOUNT}:role/worker", "states.amazonaws.com", ACCOUNT
    )
    assert not platform.authorizer.can_assume(
        f"arn:aws:iam::{ACCOUNT}:role/missing", "lambda.amazonaws.com", ACCOUNT
    )


def test_soft_mode_logs_and_allows(tmp_path):
    soft = make_platform(tmp_path, "soft")
    try:
        carol = user(soft, "carol")
        call(soft, "iam", "ListUsers", principal=carol, request_id="soft-1")
        [record] = soft.authorizer.decisions.for_request("soft-1")
        assert record.outcome == "IMPLICIT_DENY" and not record.enforced
    finally:
        soft.close()


def test_decisions_explain_and_suggest(platform):
    call(
        platform,
        "iam",
        "CreateRole",
        {"RoleName": "fn-role", "AssumeRolePolicyDocument": json.dumps(LAMBDA_TRUST)},
    )
    call(
        platform,
        "iam",
        "PutRolePolicy",
        {
            "RoleName": "fn-role",
            "PolicyName": "users",
            "PolicyDocument": policy(
                {"Sid": "ReadUsers", "Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}
            ),
        },
    )
    fn = session(platform, "fn-role")
    call(platform, "iam", "CreateUser", {"UserName": "dave"})
    call(platform, "iam", "GetUser", {"UserName": "dave"}, principal=fn, request_id="ok-1")
    denied(platform, "iam", "GetRole", {"RoleName": "fn-role"}, principal=fn, request_id="no-1")
    log = platform.authorizer.decisions
    [allowed] = log.for_request("ok-1")
    assert allowed.allowed and allowed.statements == [
        {"statement": "identity-based policy role:fn-role:users: ReadUsers (Allow)"}
    ]
    [refused] = log.for_request("no-1")
    assert refused.outcome == "IMPLICIT_DENY"
    assert {
        "statement": "identity-based policy role:fn-role:users: ReadUsers (Allow)",
        "applied": False,
        "ruled_out_by": "Action",
    } in refused.statements

    # The console's log: newest first, denials only on request, one account's.
    assert [r.request_id for r in log.recent(ACCOUNT, 10)][:2] == ["no-1", "ok-1"]
    assert [r.request_id for r in log.recent(ACCOUNT, 10, denied_only=True)] == ["no-1"]
    assert [r.request_id for r in log.recent(ACCOUNT, 1)] == ["no-1"]
    assert log.recent("111122223333", 10) == []

    out = io.StringIO()
    explain({"request_id": "no-1", "decisions": [dataclasses.asdict(refused)]}, out)
    text = out.getvalue()
    assert f"iam:GetRole on arn:aws:iam::{ACCOUNT}:role/fn-role: DENIED (implicit deny)" in text
    assert "does not apply (Action)" in text

    assert least_privilege(log.for_role(f"arn:aws:iam::{ACCOUNT}:role/fn-role")) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:GetRole",
                "Resource": f"arn:aws:iam::{ACCOUNT}:role/fn-role",
            },
            {
                "Effect": "Allow",
                "Action": "iam:GetUser",
                "Resource": f"arn:aws:iam::{ACCOUNT}:user/dave",
            },
        ],
    }


def test_least_privilege_groups_actions_sharing_resources(platform):
    from sandlot.iam.decisions import Record

    def record(action, resource):
        return Record(
            "r", 0.0, ACCOUNT, "p", "role", "s3", "Op", action, resource, "ALLOW", True, "", {}, []
        )

    policy_doc = least_privilege(
        [
            record("s3:GetObject", "arn:aws:s3:::a/k"),
            record("s3:PutObject", "arn:aws:s3:::a/k"),
            record("s3:ListBucket", "arn:aws:s3:::a"),
            record("s3:ListBucket", "arn:aws:s3:::b"),
        ]
    )
    assert policy_doc["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": "arn:aws:s3:::a/k",
        },
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": ["arn:aws:s3:::a", "arn:aws:s3:::b"],
        },
    ]


def test_aws_resource_account_is_the_resource_owners(platform):
    """The global key aws:ResourceAccount (CDK's bootstrap policies condition on it):
    the owner of the bucket (S3 ARNs name no account) or of the ARN's resource."""
    call(platform, "s3", "CreateBucket", {"Bucket": "owned"})
    call(platform, "sqs", "CreateQueue", {"QueueName": "q"})
    carol = user(platform, "carol")
    same = {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}
    other = {"StringEquals": {"aws:ResourceAccount": "111111111111"}}
    call(platform, "iam", "PutUserPolicy", {"UserName": "carol", "PolicyName": "p",
         "PolicyDocument": policy(
             {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*", "Condition": same},
             {"Effect": "Allow", "Action": "sqs:GetQueueUrl", "Resource": "*", "Condition": other},
         )})  # fmt: skip
    call(platform, "s3", "ListObjectsV2", {"Bucket": "owned"}, principal=carol)
    denied(platform, "sqs", "GetQueueUrl", {"QueueName": "q"}, principal=carol)
