"""STS and identity end to end: the AWS CLI and boto3 against a real server (dev mode)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import aws
from tests.e2e.roles import ensure_role, trust_policy


def test_aws_cli_get_caller_identity_default_account(server):
    identity = aws(server.endpoint, "sts", "get-caller-identity")
    assert identity == {
        "UserId": "000000000000",
        "Account": "000000000000",
        "Arn": "arn:aws:iam::000000000000:root",
    }


def test_aws_cli_twelve_digit_key_is_that_account(server):
    identity = aws(server.endpoint, "sts", "get-caller-identity", key="111111111111")
    assert identity["Account"] == "111111111111"
    assert identity["Arn"] == "arn:aws:iam::111111111111:root"


def test_assume_role_credentials_act_as_the_role(client):
    sts = client("sts")
    ensure_role(client("iam"), "deployer", path="/app/")
    role_id = client("iam").get_role(RoleName="deployer")["Role"]["RoleId"]
    response = sts.assume_role(
        RoleArn="arn:aws:iam::000000000000:role/app/deployer", RoleSessionName="ci-run"
    )
    creds = response["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert response["AssumedRoleUser"]["Arn"] == (
        "arn:aws:sts::000000000000:assumed-role/deployer/ci-run"
    )
    assumed = client(
        "sts",
        key=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        token=creds["SessionToken"],
    )
    identity = assumed.get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::000000000000:assumed-role/deployer/ci-run"
    assert identity["UserId"] == response["AssumedRoleUser"]["AssumedRoleId"]
    assert identity["UserId"] == f"{role_id}:ci-run"


def test_assume_role_honours_the_trust_policy(client):
    iam, sts = client("iam"), client("sts")
    only_lambda = trust_policy({"Service": "lambda.amazonaws.com"})
    arn = ensure_role(iam, "lambda-only", trust=only_lambda)
    with pytest.raises(ClientError) as denied:
        sts.assume_role(RoleArn=arn, RoleSessionName="s1")
    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert error["Message"] == (
        "User: arn:aws:iam::000000000000:root is not authorized to perform: sts:AssumeRole "
        f"on resource: {arn} because no resource-based policy allows the sts:AssumeRole action"
    )
    with pytest.raises(ClientError) as denied:
        sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/no-such-role", RoleSessionName="s1")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    iam.update_assume_role_policy(
        RoleName="lambda-only",
        PolicyDocument=trust_policy({"Service": "lambda.amazonaws.com"}, {"AWS": "000000000000"}),
    )
    assert sts.assume_role(RoleArn=arn, RoleSessionName="s1")["AssumedRoleUser"]["Arn"].endswith(
        "assumed-role/lambda-only/s1"
    )


def test_assume_role_duration_is_limited_by_the_role(client):
    arn = ensure_role(client("iam"), "short-sessions")
    with pytest.raises(ClientError) as bad:
        client("sts").assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=7200)
    assert bad.value.response["Error"]["Code"] == "ValidationError"
    assert "MaxSessionDuration" in bad.value.response["Error"]["Message"]


def test_role_chaining_is_limited_to_one_hour(client):
    """A role session assuming a role gets at most an hour, whatever the role's
    MaxSessionDuration, in AWS's words."""
    iam = client("iam")
    first = ensure_role(iam, "chain-first")
    second = ensure_role(iam, "chain-second")
    iam.update_role(RoleName="chain-second", MaxSessionDuration=43200)
    iam.put_role_policy(
        RoleName="chain-first",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": second}],
            }
        ),
    )
    # Not chained: the root may have the role's full twelve hours.
    client("sts").assume_role(RoleArn=second, RoleSessionName="direct", DurationSeconds=43200)
    creds = client("sts").assume_role(RoleArn=first, RoleSessionName="s1")["Credentials"]
    chained = client(
        "sts",
        key=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        token=creds["SessionToken"],
    )
    with pytest.raises(ClientError) as bad:
        chained.assume_role(RoleArn=second, RoleSessionName="s2", DurationSeconds=7200)
    assert bad.value.response["Error"] == {
        "Type": "Sender",
        "Code": "ValidationError",
        "Message": "The requested DurationSeconds exceeds the 1 hour session limit for roles "
        "assumed by role chaining.",
    }
    assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    ok = chained.assume_role(RoleArn=second, RoleSessionName="s2", DurationSeconds=3600)
    assert ok["AssumedRoleUser"]["Arn"].endswith("assumed-role/chain-second/s2")


def test_issued_keys_are_always_signature_checked(client):
    ensure_role(client("iam"), "r")
    creds = client("sts").assume_role(
        RoleArn="arn:aws:iam::000000000000:role/r", RoleSessionName="s1"
    )["Credentials"]
    wrong_secret = client(
        "sts", key=creds["AccessKeyId"], secret="not-the-secret", token=creds["SessionToken"]
    )
    with pytest.raises(ClientError) as denied:
        wrong_secret.get_caller_identity()
    assert denied.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    wrong_token = client(
        "sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token="forged"
    )
    with pytest.raises(ClientError) as denied:
        wrong_token.get_caller_identity()
    assert denied.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_assume_role_validation(client):
    sts = client("sts")
    with pytest.raises(ClientError) as bad:
        sts.assume_role(
            RoleArn="arn:aws:iam::000000000000:role/r",
            RoleSessionName="session",
            DurationSeconds=43201,
        )
    assert bad.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as bad:
        sts.assume_role(
            RoleArn="arn:aws:iam::000000000000:user/not-a-role", RoleSessionName="session"
        )
    assert bad.value.response["Error"]["Code"] == "ValidationError"


def test_get_session_token(client):
    sts = client("sts", key="222222222222")
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    session = client(
        "sts",
        key=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        token=creds["SessionToken"],
    )
    assert session.get_caller_identity()["Arn"] == "arn:aws:iam::222222222222:root"
    with pytest.raises(ClientError) as denied:
        session.get_session_token()
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_get_access_key_info(client):
    sts = client("sts")
    assert sts.get_access_key_info(AccessKeyId="AKIANEVERISSUED12345")["Account"] == "000000000000"
    ensure_role(client("iam", key="444444444444"), "r", account="444444444444")
    creds = client("sts", key="444444444444").assume_role(
        RoleArn="arn:aws:iam::444444444444:role/r", RoleSessionName="s2"
    )["Credentials"]
    assert sts.get_access_key_info(AccessKeyId=creds["AccessKeyId"])["Account"] == "444444444444"
