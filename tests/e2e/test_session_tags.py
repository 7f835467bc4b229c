"""Session tags, transitive tags and source identity: passed to AssumeRole (or in an
OIDC token), checked by sts:TagSession in the trust policy, and evaluated afterwards
as aws:PrincipalTag — through a role chain."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import error_of, make_client, session_client
from tests.e2e.functions import unique

ACCOUNT = "000000000000"


def _role(iam, *, tag_session: bool = True, extra_actions: tuple[str, ...] = ()) -> str:
    actions = ["sts:AssumeRole", *(["sts:TagSession"] if tag_session else []), *extra_actions]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": actions}],
    }
    name = unique("tagged")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    # The role may create buckets only for its session's team, and assume other roles.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:CreateBucket",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
            },
            {
                "Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                "Resource": "*",
            },
        ],
    }
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def _as(server, answer: dict, service: str):
    return session_client(server.endpoint, service, answer)


@pytest.fixture
def iam(server):
    return make_client(server.endpoint, "iam")


@pytest.fixture
def sts(server):
    return make_client(server.endpoint, "sts")


def test_session_tags_are_principal_tags(server, iam, sts):
    role = _role(iam)
    blue = sts.assume_role(
        RoleArn=role, RoleSessionName="s-b", Tags=[{"Key": "team", "Value": "blue"}]
    )
    assert 0 < blue["PackedPolicySize"] <= 100
    _as(server, blue, "s3").create_bucket(Bucket=unique("blue").lower())
    red = sts.assume_role(
        RoleArn=role, RoleSessionName="s-r", Tags=[{"Key": "team", "Value": "red"}]
    )
    err = error_of(_as(server, red, "s3").create_bucket, Bucket=unique("red").lower())
    assert err["Code"] == "AccessDenied"


def test_session_tags_override_role_tags(server, iam, sts):
    role = _role(iam)
    iam.tag_role(RoleName=role.rsplit("/", 1)[1], Tags=[{"Key": "Team", "Value": "red"}])
    untagged = sts.assume_role(RoleArn=role, RoleSessionName="s-u")
    err = error_of(_as(server, untagged, "s3").create_bucket, Bucket=unique("u").lower())
    assert err["Code"] == "AccessDenied"
    tagged = sts.assume_role(
        RoleArn=role, RoleSessionName="s-t", Tags=[{"Key": "team", "Value": "blue"}]
    )
    _as(server, tagged, "s3").create_bucket(Bucket=unique("t").lower())


def test_trust_policy_must_allow_tag_session(iam, sts):
    role = _role(iam, tag_session=False)
    sts.assume_role(RoleArn=role, RoleSessionName="plain")
    err = error_of(
        sts.assume_role, RoleArn=role, RoleSessionName="s-t", Tags=[{"Key": "team", "Value": "x"}]
    )
    assert err["Code"] == "AccessDenied"
    assert "sts:TagSession" in err["Message"]


def test_transitive_tags_follow_the_role_chain(server, iam, sts):
    first, second = _role(iam), _role(iam)
    session = sts.assume_role(
        RoleArn=first,
        RoleSessionName="one",
        Tags=[{"Key": "team", "Value": "blue"}, {"Key": "temp", "Value": "1"}],
        TransitiveTagKeys=["team"],
    )
    chained_sts = _as(server, session, "sts")
    chained = chained_sts.assume_role(RoleArn=second, RoleSessionName="two")
    _as(server, chained, "s3").create_bucket(Bucket=unique("chain").lower())
    err = error_of(
        chained_sts.assume_role,
        RoleArn=second,
        RoleSessionName="three",
        Tags=[{"Key": "Team", "Value": "red"}],
    )
    assert err["Code"] == "InvalidParameterValue"


def test_bad_session_tags(iam, sts):
    role = _role(iam)
    err = error_of(
        sts.assume_role,
        RoleArn=role,
        RoleSessionName="s-t",
        Tags=[{"Key": "a", "Value": "1"}],
        TransitiveTagKeys=["b"],
    )
    assert err["Code"] == "InvalidParameterValue"
    err = error_of(
        sts.assume_role,
        RoleArn=role,
        RoleSessionName="s-t",
        Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}],
    )
    assert err["Code"] == "InvalidParameterValue"
    big = [{"Key": f"k{i}", "Value": "v" * 250} for i in range(20)]
    err = error_of(sts.assume_role, RoleArn=role, RoleSessionName="s-t", Tags=big)
    assert err["Code"] == "PackedPolicyTooLarge"
    assert err["Message"].startswith("Packed size of session tags consumes")


def test_source_identity_is_kept_through_the_chain(server, iam, sts):
    first = _role(iam, extra_actions=("sts:SetSourceIdentity",))
    second = _role(iam, extra_actions=("sts:SetSourceIdentity",))
    session = sts.assume_role(RoleArn=first, RoleSessionName="one", SourceIdentity="alice")
    assert session["SourceIdentity"] == "alice"
    chained = _as(server, session, "sts").assume_role(RoleArn=second, RoleSessionName="two")
    assert chained["SourceIdentity"] == "alice"
    err = error_of(
        _as(server, session, "sts").assume_role,
        RoleArn=second,
        RoleSessionName="three",
        SourceIdentity="mallory",
    )
    assert err["Code"] == "InvalidParameterValue"
