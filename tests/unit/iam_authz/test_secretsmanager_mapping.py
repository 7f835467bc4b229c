"""Secrets Manager requests map to the secret's full ARN (with its random suffix, which
only the service knows) and to the condition keys AWS documents."""

from __future__ import annotations

from sandlot.iam.actions import authorizations

ACCOUNT, REGION = "111122223333", "us-east-1"
FULL = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db/pass-AbCdEf"


def lookup(ref: str) -> str | None:
    return FULL if ref in ("db/pass", FULL, FULL[: -len("-AbCdEf")]) else None


def only(operation: str, params: dict, **kw):
    [auth] = authorizations("secretsmanager", operation, params, ACCOUNT, REGION, **kw)
    return auth


def test_a_name_or_partial_arn_is_authorized_on_the_full_arn() -> None:
    for ref in ("db/pass", FULL[: -len("-AbCdEf")], FULL):
        auth = only("GetSecretValue", {"SecretId": ref, "VersionStage": "AWSPREVIOUS"},
                    secret_arn=lookup)  # fmt: skip
        assert auth.action == "secretsmanager:GetSecretValue"
        assert auth.resources == (FULL,)
        assert auth.context["secretsmanager:SecretId"] == FULL
        assert auth.context["secretsmanager:VersionStage"] == "AWSPREVIOUS"


def test_an_unknown_name_is_filled_and_create_uses_the_suffix_wildcard() -> None:
    auth = only("DescribeSecret", {"SecretId": "other"}, secret_arn=lookup)
    assert auth.resources == (f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:other",)
    created = only(
        "CreateSecret",
        {"Name": "app", "KmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/k",
         "Tags": [{"Key": "team", "Value": "core"}]},
    )  # fmt: skip
    assert created.resources == (f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:app-??????",)
    assert created.context["secretsmanager:Name"] == "app"
    assert created.context["secretsmanager:KmsKeyArn"].endswith(":key/k")
    assert created.context["aws:RequestTag/team"] == "core"


def test_delete_and_password_operations() -> None:
    deleted = only("DeleteSecret", {"SecretId": FULL, "RecoveryWindowInDays": 7})
    assert deleted.context["secretsmanager:RecoveryWindowInDays"] == "7"
    assert only("GetRandomPassword", {}).resources == ("*",)
    assert only("ListSecrets", {}).resources == ("*",)
