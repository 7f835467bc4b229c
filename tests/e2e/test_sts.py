"""STS and identity end to end: the AWS CLI and boto3 against a real server (dev mode)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import aws


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
    assert identity["UserId"].startswith("AROA") and identity["UserId"].endswith(":ci-run")


def test_issued_keys_are_always_signature_checked(client):
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
    creds = client("sts", key="444444444444").assume_role(
        RoleArn="arn:aws:iam::444444444444:role/r", RoleSessionName="s2"
    )["Credentials"]
    assert sts.get_access_key_info(AccessKeyId=creds["AccessKeyId"])["Account"] == "444444444444"
