"""SAML 2.0 federation: IAM SAML providers and STS AssumeRoleWithSAML with assertions
signed by a real IdP key (signxml), driven by boto3 and the AWS CLI."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.conftest import aws, error_of, make_client, session_client, unsigned_client
from tests.e2e.functions import unique
from tests.e2e.saml_idp import ATTRIBUTE, SamlIdp

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def idp():
    return SamlIdp()


@pytest.fixture(scope="module")
def provider(server, idp):
    iam = make_client(server.endpoint, "iam")
    arn = iam.create_saml_provider(Name=unique("corp"), SAMLMetadataDocument=idp.metadata())[
        "SAMLProviderArn"
    ]
    return arn


def _role(server, provider: str, *, tag_session: bool = False) -> str:
    actions = ["sts:AssumeRoleWithSAML"] + (["sts:TagSession"] if tag_session else [])
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": actions,
                "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
            }
        ],
    }
    iam = make_client(server.endpoint, "iam")
    role = iam.create_role(RoleName=unique("saml"), AssumeRolePolicyDocument=json.dumps(trust))
    return role["Role"]["Arn"]


def _attributes(role: str, provider: str, **extra) -> dict[str, list[str]]:
    return {
        ATTRIBUTE + "Role": [f"{role},{provider}"],
        ATTRIBUTE + "RoleSessionName": ["alice@example.test"],
        **extra,
    }


def test_provider_api(server, idp, provider):
    iam = make_client(server.endpoint, "iam")
    got = iam.get_saml_provider(SAMLProviderArn=provider)
    assert got["SAMLMetadataDocument"] == idp.metadata()
    assert got["ValidUntil"] > got["CreateDate"]
    listed = [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]]
    assert provider in listed
    err = error_of(iam.create_saml_provider, Name="bad", SAMLMetadataDocument="<x/>" * 400)
    assert err["Code"] == "InvalidInput"
    err = error_of(
        iam.get_saml_provider, SAMLProviderArn=f"arn:aws:iam::{ACCOUNT}:saml-provider/none"
    )
    assert err["Code"] == "NoSuchEntity"


def test_assume_role_with_saml(server, idp, provider):
    role = _role(server, provider)
    assertion = idp.response(subject="alice", attributes=_attributes(role, provider))
    answer = unsigned_client(server.endpoint, "sts").assume_role_with_saml(
        RoleArn=role, PrincipalArn=provider, SAMLAssertion=assertion
    )
    assert answer["Subject"] == "alice"
    assert answer["SubjectType"] == "persistent"
    assert answer["Issuer"] == idp.entity_id
    assert answer["Audience"] == "https://signin.aws.amazon.com/saml"
    assert answer["NameQualifier"]
    arn = answer["AssumedRoleUser"]["Arn"]
    assert arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/alice@example.test"
    session = session_client(server.endpoint, "sts", answer)
    assert session.get_caller_identity()["Arn"] == arn
    cli = aws(
        server.endpoint,
        "sts",
        "assume-role-with-saml",
        "--role-arn",
        role,
        "--principal-arn",
        provider,
        "--saml-assertion",
        assertion,
    )
    assert cli["Subject"] == "alice"


def test_assertions_that_do_not_verify(server, idp, provider):
    role = _role(server, provider)
    sts = unsigned_client(server.endpoint, "sts")

    def failure(assertion: str, principal: str = provider) -> dict:
        return error_of(
            sts.assume_role_with_saml, RoleArn=role, PrincipalArn=principal, SAMLAssertion=assertion
        )

    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    err = failure(idp.response(subject="a", attributes=_attributes(role, provider), key=forger))
    assert (err["Code"], err["Message"]) == ("InvalidIdentityToken", "Response signature invalid")
    expired = idp.response(
        subject="a", attributes=_attributes(role, provider), lifetime=-dt.timedelta(minutes=10)
    )
    assert failure(expired)["Code"] == "ExpiredTokenException"
    elsewhere = idp.response(
        subject="a", attributes=_attributes(role, provider), recipient="https://sp.example/acs"
    )
    assert failure(elsewhere)["Code"] == "InvalidIdentityToken"
    other_role = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
    err = failure(idp.response(subject="a", attributes=_attributes(other_role, provider)))
    assert (err["Code"], err["HTTPStatusCode"]) == ("AccessDenied", 403)
    missing = f"arn:aws:iam::{ACCOUNT}:saml-provider/missing"
    err = failure(idp.response(subject="a", attributes=_attributes(role, missing)), missing)
    assert err["Code"] == "InvalidIdentityToken"
    assert failure("bm90IHhtbA==")["Code"] == "InvalidIdentityToken"


def test_saml_session_tags(server, idp, provider):
    tagged = {ATTRIBUTE + "PrincipalTag:team": ["blue"]}
    plain_role = _role(server, provider)
    err = error_of(
        unsigned_client(server.endpoint, "sts").assume_role_with_saml,
        RoleArn=plain_role,
        PrincipalArn=provider,
        SAMLAssertion=idp.response(
            subject="a", attributes=_attributes(plain_role, provider, **tagged)
        ),
    )
    assert err["Code"] == "AccessDenied"
    role = _role(server, provider, tag_session=True)
    iam = make_client(server.endpoint, "iam")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sqs:CreateQueue",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
            }
        ],
    }
    iam.put_role_policy(
        RoleName=role.rsplit("/", 1)[1], PolicyName="team", PolicyDocument=json.dumps(policy)
    )
    answer = unsigned_client(server.endpoint, "sts").assume_role_with_saml(
        RoleArn=role,
        PrincipalArn=provider,
        SAMLAssertion=idp.response(subject="a", attributes=_attributes(role, provider, **tagged)),
    )
    sqs = session_client(server.endpoint, "sqs", answer)
    sqs.create_queue(QueueName=unique("saml"))
