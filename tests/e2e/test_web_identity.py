"""OpenID Connect federation: IAM OIDC providers and STS AssumeRoleWithWebIdentity,
against a real HTTPS issuer (self-signed, trusted by thumbprint), driven by boto3, the
AWS CLI and the SDK's web-identity credential provider (AWS_WEB_IDENTITY_TOKEN_FILE)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.conftest import aws, cli_env, error_of, make_client, session_client, unsigned_client
from tests.e2e.functions import unique
from tests.e2e.oidc_issuer import OidcIssuer

ACCOUNT = "000000000000"
CLIENT_ID = "sts.amazonaws.com"


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    with OidcIssuer(tmp_path_factory.mktemp("oidc")) as running:
        yield running


@pytest.fixture(scope="module")
def provider(server, issuer):
    iam = make_client(server.endpoint, "iam")
    arn = iam.create_open_id_connect_provider(
        Url=issuer.url, ClientIDList=[CLIENT_ID], ThumbprintList=[issuer.thumbprint]
    )["OpenIDConnectProviderArn"]
    yield arn
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def _role(server, provider: str, issuer: OidcIssuer, subject: str) -> str:
    name = issuer.url.removeprefix("https://")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{name}:aud": CLIENT_ID},
                    "StringLike": {f"{name}:sub": subject},
                },
            }
        ],
    }
    iam = make_client(server.endpoint, "iam")
    role = iam.create_role(RoleName=unique("oidc"), AssumeRolePolicyDocument=json.dumps(trust))
    return role["Role"]["Arn"]


def test_provider_crud(server, issuer, provider):
    iam = make_client(server.endpoint, "iam")
    assert provider == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer.url[8:]}"
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    assert got["Url"] == issuer.url[8:]
    assert got["ClientIDList"] == [CLIENT_ID]
    assert got["ThumbprintList"] == [issuer.thumbprint]
    listed = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert {"Arn": provider} in listed
    err = error_of(
        iam.create_open_id_connect_provider, Url=issuer.url, ThumbprintList=[issuer.thumbprint]
    )
    assert err["Code"] == "EntityAlreadyExists"
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=provider, ClientID="x")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=provider, ClientID="x")
    ids = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)["ClientIDList"]
    assert ids == [CLIENT_ID, "x"]
    iam.remove_client_id_from_open_id_connect_provider(
        OpenIDConnectProviderArn=provider, ClientID="x"
    )
    iam.tag_open_id_connect_provider(
        OpenIDConnectProviderArn=provider, Tags=[{"Key": "team", "Value": "ci"}]
    )
    tags = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=provider)["Tags"]
    assert tags == [{"Key": "team", "Value": "ci"}]
    err = error_of(iam.create_open_id_connect_provider, Url="http://insecure.example")
    assert err["Code"] == "InvalidInput"
    missing = f"arn:aws:iam::{ACCOUNT}:oidc-provider/nobody.example"
    err = error_of(iam.get_open_id_connect_provider, OpenIDConnectProviderArn=missing)
    assert err["Code"] == "NoSuchEntity"
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=missing)  # idempotent


def test_assume_role_with_web_identity(server, issuer, provider):
    role = _role(server, provider, issuer, "repo:acme/app:*")
    token = issuer.token(sub="repo:acme/app:ref:refs/heads/main", aud=CLIENT_ID)
    answer = unsigned_client(server.endpoint, "sts").assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="deploy", WebIdentityToken=token, DurationSeconds=900
    )
    assert answer["SubjectFromWebIdentityToken"] == "repo:acme/app:ref:refs/heads/main"
    assert answer["Audience"] == CLIENT_ID
    assert answer["Provider"] == provider
    role_name = role.rsplit("/", 1)[1]
    assert answer["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/deploy"
    )
    session = session_client(server.endpoint, "sts", answer)
    assert session.get_caller_identity()["Arn"] == answer["AssumedRoleUser"]["Arn"]


def test_trust_policy_conditions_decide(server, issuer, provider):
    role = _role(server, provider, issuer, "repo:acme/app:*")
    token = issuer.token(sub="repo:evil/fork:ref:refs/heads/main", aud=CLIENT_ID)
    err = error_of(
        unsigned_client(server.endpoint, "sts").assume_role_with_web_identity,
        RoleArn=role,
        RoleSessionName="deploy",
        WebIdentityToken=token,
    )
    assert err["Code"] == "AccessDenied"
    assert err["Message"] == "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    assert err["HTTPStatusCode"] == 403


def test_tokens_that_do_not_verify(server, issuer, provider):
    role = _role(server, provider, issuer, "*")
    sts = unsigned_client(server.endpoint, "sts")

    def failure(token: str) -> dict:
        return error_of(
            sts.assume_role_with_web_identity,
            RoleArn=role,
            RoleSessionName="s1",
            WebIdentityToken=token,
        )

    err = failure(issuer.token(sub="u", aud="someone-else"))
    assert (err["Code"], err["Message"]) == ("InvalidIdentityToken", "Incorrect token audience")
    err = failure(issuer.token(sub="u", aud=CLIENT_ID, ttl=-120))
    assert err["Code"] == "ExpiredTokenException"
    assert err["Message"].startswith("Token expired: current date/time")
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    err = failure(issuer.token(sub="u", aud=CLIENT_ID, key=forger))
    assert err["Code"] == "InvalidIdentityToken"
    err = failure(issuer.token(sub="u", aud=CLIENT_ID, iss="https://elsewhere.example"))
    assert err["Code"] == "InvalidIdentityToken"
    assert err["Message"] == (
        "No OpenIDConnect provider found in your account for https://elsewhere.example"
    )
    err = failure("not-a-jwt")
    assert err["Code"] == "InvalidIdentityToken"


def test_thumbprint_must_match(server, tmp_path):
    """An issuer whose certificate no trusted CA signed is trusted only by thumbprint."""
    iam = make_client(server.endpoint, "iam")
    with OidcIssuer(tmp_path) as other:
        arn = iam.create_open_id_connect_provider(
            Url=other.url, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40]
        )["OpenIDConnectProviderArn"]
        role = _role(server, arn, other, "*")
        err = error_of(
            unsigned_client(server.endpoint, "sts").assume_role_with_web_identity,
            RoleArn=role,
            RoleSessionName="s1",
            WebIdentityToken=other.token(sub="u", aud=CLIENT_ID),
        )
        assert (err["Code"], err["Message"]) == (
            "InvalidIdentityToken",
            "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint",
        )
        assert other.requests == []  # nothing was asked of an untrusted server
        iam.update_open_id_connect_provider_thumbprint(
            OpenIDConnectProviderArn=arn, ThumbprintList=[other.thumbprint]
        )
        answer = unsigned_client(server.endpoint, "sts").assume_role_with_web_identity(
            RoleArn=role, RoleSessionName="s1", WebIdentityToken=other.token(sub="u", aud=CLIENT_ID)
        )
        assert answer["Provider"] == arn


def test_sdk_web_identity_credentials_and_cli(server, issuer, provider, tmp_path):
    """What a CI pipeline does: a token file and a role ARN in the environment; the
    SDK (here the AWS CLI's botocore) assumes the role by itself."""
    role = _role(server, provider, issuer, "pipeline")
    token_file = tmp_path / "token"
    token_file.write_text(issuer.token(sub="pipeline", aud=CLIENT_ID))
    env = cli_env(server.endpoint)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name)
    env.update(
        AWS_ROLE_ARN=role,
        AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
        AWS_ROLE_SESSION_NAME="ci-run",
    )
    result = subprocess.run(
        [sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"].endswith(f"/{role.rsplit('/', 1)[1]}/ci-run")
    answer = aws(
        server.endpoint,
        "sts",
        "assume-role-with-web-identity",
        "--role-arn",
        role,
        "--role-session-name",
        "cli",
        "--web-identity-token",
        token_file.read_text(),
    )
    assert answer["SubjectFromWebIdentityToken"] == "pipeline"


def test_token_session_tags(server, issuer, provider):
    """Tags in the token's https://aws.amazon.com/tags claim become session tags; the
    trust policy must allow sts:TagSession for them."""
    role = _role(server, provider, issuer, "*")
    tags = {"principal_tags": {"team": ["blue"]}, "transitive_tag_keys": ["team"]}
    token = issuer.token(sub="u", aud=CLIENT_ID, **{"https://aws.amazon.com/tags": tags})
    err = error_of(
        unsigned_client(server.endpoint, "sts").assume_role_with_web_identity,
        RoleArn=role,
        RoleSessionName="s1",
        WebIdentityToken=token,
    )
    assert err["Code"] == "AccessDenied"
    iam = make_client(server.endpoint, "iam")
    name = role.rsplit("/", 1)[1]
    trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    trust["Statement"][0]["Action"] = ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
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
    iam.put_role_policy(RoleName=name, PolicyName="team", PolicyDocument=json.dumps(policy))
    answer = unsigned_client(server.endpoint, "sts").assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="s1", WebIdentityToken=token
    )
    sqs = session_client(server.endpoint, "sqs", answer)
    sqs.create_queue(QueueName=unique("tagged"))
