"""Secrets Manager end to end with boto3 and the AWS CLI: secrets, versions and staging
labels, values encrypted through KMS, deletion and restore, tags, GetRandomPassword,
IAM denial (of the secret and of its KMS key) and cross-account reads through a
resource policy."""

from __future__ import annotations

import json
import sqlite3
import string
import time

from tests.e2e.conftest import aws, error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.roles import ensure_role, role_client
from tests.e2e.server import SandlotServer

ACCOUNT = "000000000000"
OTHER = "111111111111"
MARKED = "You can't perform this operation on the secret because it was marked for deletion."


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def sm_client(server, iam, identity_policy: str | None = None):
    """A Secrets Manager client of a new role of the default account."""
    return role_client(server.endpoint, iam, "secretsmanager", identity_policy, "sm-user")[1]


def test_create_get_describe_and_ciphertext_only_at_rest(server, client):
    sm = client("secretsmanager")
    name = unique("app/db")
    created = sm.create_secret(
        Name=name,
        Description="db password",
        SecretString="hunter2-plaintext-marker",
        Tags=[{"Key": "team", "Value": "core"}],
    )
    arn = created["ARN"]
    assert arn.startswith(f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}-")
    assert len(arn.rsplit("-", 1)[1]) == 6 and created["Name"] == name
    got = sm.get_secret_value(SecretId=name)
    assert got["SecretString"] == "hunter2-plaintext-marker"
    assert got["VersionStages"] == ["AWSCURRENT"] and got["VersionId"] == created["VersionId"]
    assert got["ARN"] == arn and "CreatedDate" in got
    # Partial ARN (no suffix) and full ARN find it too.
    partial = arn.rsplit("-", 1)[0]
    assert sm.get_secret_value(SecretId=partial)["ARN"] == arn
    described = sm.describe_secret(SecretId=arn)
    assert described["Description"] == "db password"
    assert described["Tags"] == [{"Key": "team", "Value": "core"}]
    assert described["VersionIdsToStages"] == {created["VersionId"]: ["AWSCURRENT"]}
    assert "KmsKeyId" not in described  # the AWS managed key
    assert {"LastChangedDate", "CreatedDate", "LastAccessedDate"} <= set(described)
    # Only ciphertext on disk.
    con = sqlite3.connect(server.data_dir / "sandlot.db")
    raw = b"".join(bytes(r[0]) for r in con.execute("SELECT sealed FROM secretsmanager_versions"))
    con.close()
    assert raw and b"hunter2-plaintext-marker" not in raw
    # The value's data key came from the AWS managed key alias/aws/secretsmanager.
    kms = client("kms")
    managed = kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    versions = sm.list_secret_version_ids(SecretId=name)["Versions"]
    assert versions[0]["KmsKeyIds"] == [managed["Arn"]]


def test_binary_exists_and_idempotent_token(client):
    sm = client("secretsmanager")
    name = unique("bin")
    token = "a" * 32
    first = sm.create_secret(Name=name, SecretBinary=b"\x00\x01", ClientRequestToken=token)
    again = sm.create_secret(Name=name, SecretBinary=b"\x00\x01", ClientRequestToken=token)
    assert again["ARN"] == first["ARN"] and again["VersionId"] == token
    assert sm.get_secret_value(SecretId=name)["SecretBinary"] == b"\x00\x01"
    exists = error_of(sm.create_secret, Name=name, SecretString="x")
    assert (exists["Code"], exists["Message"]) == (
        "ResourceExistsException",
        f"The operation failed because the secret {name} already exists.",
    )
    assert error_of(sm.create_secret, Name="bad name")["Code"] == "InvalidParameterException"
    replicated = error_of(
        sm.create_secret, Name=unique("r"), SecretString="x",
        AddReplicaRegions=[{"Region": "eu-west-1"}],
    )  # fmt: skip
    assert replicated["HTTPStatusCode"] == 501
    missing = error_of(sm.get_secret_value, SecretId=unique("nope"))
    assert (missing["Code"], missing["Message"]) == (
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    )


def test_staging_labels_move_and_version_stage_updates(client):
    sm = client("secretsmanager")
    name = unique("rot")
    v1 = sm.create_secret(Name=name, SecretString="one")["VersionId"]
    put = sm.put_secret_value(SecretId=name, SecretString="two", ClientRequestToken="b" * 36)
    v2 = put["VersionId"]
    assert v2 == "b" * 36 and put["VersionStages"] == ["AWSCURRENT"]
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert stages == {v1: ["AWSPREVIOUS"], v2: ["AWSCURRENT"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "two"
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == "one"
    assert sm.get_secret_value(SecretId=name, VersionId=v1)["SecretString"] == "one"
    # The same token again is a retry; with another value, a conflict.
    assert (
        sm.put_secret_value(SecretId=name, SecretString="two", ClientRequestToken=v2)["VersionId"]
        == v2
    )
    conflict = error_of(sm.put_secret_value, SecretId=name, SecretString="3", ClientRequestToken=v2)
    assert (conflict["Code"], conflict["Message"]) == (
        "ResourceExistsException",
        "You can't modify an existing version, you can only create a new version.",
    )
    # Moving AWSCURRENT back: the old current becomes AWSPREVIOUS.
    wrong = error_of(
        sm.update_secret_version_stage, SecretId=name, VersionStage="AWSCURRENT",
        MoveToVersionId=v1,
    )  # fmt: skip
    assert wrong["Code"] == "InvalidParameterException"
    sm.update_secret_version_stage(
        SecretId=name, VersionStage="AWSCURRENT", RemoveFromVersionId=v2, MoveToVersionId=v1
    )
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert stages == {v1: ["AWSCURRENT"], v2: ["AWSPREVIOUS"]}
    # A custom label on a new version leaves AWSCURRENT where it is.
    v3 = sm.put_secret_value(SecretId=name, SecretString="three", VersionStages=["blue"])[
        "VersionId"
    ]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "one"
    assert sm.get_secret_value(SecretId=name, VersionStage="blue")["VersionId"] == v3
    missing = error_of(sm.get_secret_value, SecretId=name, VersionStage="green")
    assert missing["Message"] == (
        "Secrets Manager can't find the specified secret value for staging label: green"
    )
    updated = sm.update_secret(SecretId=name, SecretString="four", Description="d2")
    assert sm.get_secret_value(SecretId=name)["VersionId"] == updated["VersionId"]
    ids = {v["VersionId"] for v in sm.list_secret_version_ids(SecretId=name)["Versions"]}
    assert ids == {v1, v3, updated["VersionId"]}  # v2 lost its labels: deprecated
    every = sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
    assert v2 in {v["VersionId"] for v in every}


def test_delete_window_reads_refused_then_restore(client):
    sm = client("secretsmanager")
    name = unique("del")
    sm.create_secret(Name=name, SecretString="s")
    bad = error_of(sm.delete_secret, SecretId=name, RecoveryWindowInDays=3)
    assert bad["Message"] == (
        "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
    )
    both = error_of(
        sm.delete_secret, SecretId=name, RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True
    )
    assert both["Code"] == "InvalidParameterException"
    deleted = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    window = deleted["DeletionDate"] - sm.describe_secret(SecretId=name)["DeletedDate"]
    assert round(window.total_seconds()) == 7 * 86400
    refused = error_of(sm.get_secret_value, SecretId=name)
    assert (refused["Code"], refused["Message"]) == ("InvalidRequestException", MARKED)
    listed = {s["Name"] for s in sm.list_secrets()["SecretList"]}
    assert name not in listed
    planned = sm.list_secrets(
        IncludePlannedDeletion=True, Filters=[{"Key": "name", "Values": [name]}]
    )
    assert [s["Name"] for s in planned["SecretList"]] == [name]
    assert error_of(sm.create_secret, Name=name, SecretString="x")["Code"] == (
        "InvalidRequestException"
    )
    sm.restore_secret(SecretId=name)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "s"
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    assert error_of(sm.describe_secret, SecretId=name)["Code"] == "ResourceNotFoundException"


def test_list_filters_paging_tags_and_batch(client):
    sm = client("secretsmanager")
    prefix = unique("list")
    for i in range(3):
        sm.create_secret(Name=f"{prefix}/{i}", SecretString=f"v{i}")
    sm.tag_resource(SecretId=f"{prefix}/1", Tags=[{"Key": "env", "Value": "prod"}])
    page = sm.list_secrets(MaxResults=2, Filters=[{"Key": "name", "Values": [prefix]}])
    assert len(page["SecretList"]) == 2 and page["NextToken"]
    rest = sm.list_secrets(
        MaxResults=2, NextToken=page["NextToken"], Filters=[{"Key": "name", "Values": [prefix]}]
    )
    names = [s["Name"] for s in page["SecretList"] + rest["SecretList"]]
    assert names == [f"{prefix}/{i}" for i in range(3)] and "NextToken" not in rest
    tagged = sm.list_secrets(
        Filters=[{"Key": "name", "Values": [prefix]}, {"Key": "tag-value", "Values": ["prod"]}]
    )
    assert [s["Name"] for s in tagged["SecretList"]] == [f"{prefix}/1"]
    negated = sm.list_secrets(
        Filters=[{"Key": "name", "Values": [prefix]}, {"Key": "tag-key", "Values": ["!env"]}]
    )
    assert [s["Name"] for s in negated["SecretList"]] == [f"{prefix}/0", f"{prefix}/2"]
    # Name is a case-sensitive prefix; "all" matches words anywhere, not case-sensitive.
    upper = sm.list_secrets(Filters=[{"Key": "name", "Values": [prefix.upper()]}])
    assert upper["SecretList"] == []
    sm.update_secret(SecretId=f"{prefix}/2", Description="Primary Database credentials")
    by_words = sm.list_secrets(
        Filters=[{"Key": "name", "Values": [prefix]}, {"Key": "all", "Values": ["DATABASE"]}]
    )
    assert [s["Name"] for s in by_words["SecretList"]] == [f"{prefix}/2"]
    described = sm.list_secrets(Filters=[{"Key": "description", "Values": ["database primary"]}])
    assert f"{prefix}/2" in [s["Name"] for s in described["SecretList"]]
    sm.untag_resource(SecretId=f"{prefix}/1", TagKeys=["env"])
    assert "Tags" not in sm.describe_secret(SecretId=f"{prefix}/1")
    batch = sm.batch_get_secret_value(SecretIdList=[f"{prefix}/0", f"{prefix}/2", "missing-x"])
    assert [v["SecretString"] for v in batch["SecretValues"]] == ["v0", "v2"]
    assert batch["Errors"][0]["ErrorCode"] == "ResourceNotFoundException"
    by_filter = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": [prefix]}])
    assert len(by_filter["SecretValues"]) == 3


def test_get_random_password_options(client):
    sm = client("secretsmanager")
    default = sm.get_random_password()["RandomPassword"]
    assert len(default) == 32
    punctuation = set(string.punctuation)
    for _ in range(5):
        p = sm.get_random_password(PasswordLength=8)["RandomPassword"]
        assert any(c.islower() for c in p) and any(c.isupper() for c in p)
        assert any(c.isdigit() for c in p) and any(c in punctuation for c in p)
    p = sm.get_random_password(
        PasswordLength=50, ExcludePunctuation=True, ExcludeNumbers=True, ExcludeCharacters="abc"
    )["RandomPassword"]
    assert p.isalpha() and not set(p) & set("abc")
    assert " " in sm.get_random_password(
        PasswordLength=4, IncludeSpace=True, ExcludeUppercase=True, ExcludeLowercase=True,
        ExcludeNumbers=True, ExcludePunctuation=True,
    )["RandomPassword"]  # fmt: skip
    assert sm.get_random_password(
        PasswordLength=20, ExcludeLowercase=True, ExcludeUppercase=True,
        ExcludePunctuation=True,
    )["RandomPassword"].isdigit()  # fmt: skip
    too_long = error_of(sm.get_random_password, PasswordLength=4097)
    assert too_long["Code"] == "ValidationException"


def test_iam_denial_and_kms_permission(server, client):
    sm, iam, kms = client("secretsmanager"), client("iam"), client("kms")
    name = unique("iam")
    sm.create_secret(Name=name, SecretString="managed")
    key = kms.create_key()["KeyMetadata"]
    custom = unique("iam-cmk")
    sm.create_secret(Name=custom, SecretString="customer", KmsKeyId=key["Arn"])
    assert sm.describe_secret(SecretId=custom)["KmsKeyId"] == key["Arn"]
    nothing = sm_client(server, iam)
    denied = error_of(nothing.get_secret_value, SecretId=name)
    assert denied["Code"] == "AccessDeniedException"
    assert "secretsmanager:GetSecretValue" in denied["Message"]
    reader = sm_client(
        server,
        iam,
        policy({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}),
    )
    # The AWS managed key is usable through Secrets Manager by the account's principals.
    assert reader.get_secret_value(SecretId=name)["SecretString"] == "managed"
    # A customer key's default policy leaves its use to IAM: no kms:Decrypt, no value.
    refused = error_of(reader.get_secret_value, SecretId=custom)
    assert (refused["Code"], refused["Message"]) == (
        "AccessDeniedException",
        "Access to KMS is not allowed",
    )
    with_kms = sm_client(
        server,
        iam,
        policy(
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key["Arn"]},
        ),
    )
    assert with_kms.get_secret_value(SecretId=custom)["SecretString"] == "customer"
    # The secret's own policy can deny what the identity policy allows.
    sm.put_resource_policy(
        SecretId=name,
        ResourcePolicy=policy(
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "secretsmanager:*",
             "Resource": "*", "Condition": {"StringLike": {"aws:PrincipalArn": "*sm-user*"}}}
        ),
    )  # fmt: skip
    assert error_of(reader.get_secret_value, SecretId=name)["Code"] == "AccessDeniedException"
    versions = sm.list_secret_version_ids(SecretId=name)["Versions"]
    assert "LastAccessedDate" in versions[0]


def test_cross_account_read_needs_the_resource_policy(server, client):
    sm, kms = client("secretsmanager"), client("kms")
    key = kms.create_key()["KeyMetadata"]
    shared = json.loads(kms.get_key_policy(KeyId=key["KeyId"])["Policy"])
    shared["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    kms.put_key_policy(KeyId=key["KeyId"], Policy=json.dumps(shared))
    arn = sm.create_secret(Name=unique("shared"), SecretString="across", KmsKeyId=key["Arn"])["ARN"]
    other = make_client(server.endpoint, "secretsmanager", key=OTHER)
    denied = error_of(other.get_secret_value, SecretId=arn)
    assert denied["Code"] == "AccessDeniedException"
    document = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
        }
    )
    assert sm.validate_resource_policy(ResourcePolicy=document)["PolicyValidationPassed"]
    bad = sm.validate_resource_policy(ResourcePolicy='{"Statement": 1}')
    assert bad["PolicyValidationPassed"] is False and bad["ValidationErrors"]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=document)
    assert json.loads(sm.get_resource_policy(SecretId=arn)["ResourcePolicy"]) == json.loads(
        document
    )
    assert other.get_secret_value(SecretId=arn)["SecretString"] == "across"
    # Secrets on the AWS managed key cannot be read from another account (its key
    # policy allows the owning account only), even with the secret's policy.
    managed = sm.create_secret(Name=unique("managed"), SecretString="x")["ARN"]
    sm.put_resource_policy(SecretId=managed, ResourcePolicy=document)
    refused = error_of(other.get_secret_value, SecretId=managed)
    assert refused["Message"] == "Access to KMS is not allowed"
    public = policy(
        {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue",
         "Resource": "*"}
    )  # fmt: skip
    blocked = error_of(
        sm.put_resource_policy, SecretId=arn, ResourcePolicy=public, BlockPublicPolicy=True
    )
    assert blocked["Code"] == "PublicPolicyException"
    sm.delete_resource_policy(SecretId=arn)
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=arn)
    assert error_of(other.get_secret_value, SecretId=arn)["Code"] == "AccessDeniedException"


def test_aws_cli(server):
    name = unique("cli")
    created = aws(
        server.endpoint, "secretsmanager", "create-secret", "--name", name, "--secret-string", "c1"
    )
    assert created["Name"] == name
    aws(server.endpoint, "secretsmanager", "put-secret-value", "--secret-id", name,
        "--secret-string", "c2")  # fmt: skip
    got = aws(server.endpoint, "secretsmanager", "get-secret-value", "--secret-id", name)
    assert got["SecretString"] == "c2" and got["VersionStages"] == ["AWSCURRENT"]
    previous = aws(server.endpoint, "secretsmanager", "get-secret-value", "--secret-id", name,
                   "--version-stage", "AWSPREVIOUS")  # fmt: skip
    assert previous["SecretString"] == "c1"
    deleted = aws(server.endpoint, "secretsmanager", "delete-secret", "--secret-id", name,
                  "--recovery-window-in-days", "7")  # fmt: skip
    assert deleted["Name"] == name and "DeletionDate" in deleted
    aws(server.endpoint, "secretsmanager", "restore-secret", "--secret-id", name)
    got = aws(server.endpoint, "secretsmanager", "get-secret-value", "--secret-id", name)
    assert got["SecretString"] == "c2"
    password = aws(server.endpoint, "secretsmanager", "get-random-password",
                   "--password-length", "20", "--exclude-punctuation")  # fmt: skip
    assert len(password["RandomPassword"]) == 20 and password["RandomPassword"].isalnum()


def test_raw_writes_need_a_token(client):
    sm = client("secretsmanager")
    name = unique("raw")
    sm.create_secret(Name=name, SecretString="v")

    # boto3 injects a ClientRequestToken; drop it from the body, as a raw request would.
    def without_token(params, **_):
        body = json.loads(params["body"])
        body.pop("ClientRequestToken", None)
        params["body"] = json.dumps(body).encode()

    sm.meta.events.register("before-call.secrets-manager.PutSecretValue", without_token)
    missing = error_of(sm.put_secret_value, SecretId=name, SecretString="w")
    assert (missing["Code"], missing["Message"]) == (
        "InvalidRequestException",
        "You must provide a ClientRequestToken value. We recommend a UUID-type value.",
    )
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v"


def test_secrets_survive_kill_9(tmp_path):
    server = SandlotServer(tmp_path, lambda_role=False).start()
    try:
        sm = make_client(server.endpoint, "secretsmanager")
        first = sm.create_secret(Name="durable", SecretString="v1")["VersionId"]
        second = sm.put_secret_value(SecretId="durable", SecretString="v2")["VersionId"]
        sm.create_secret(Name="going", SecretString="g")
        sm.delete_secret(SecretId="going", RecoveryWindowInDays=7)
        server.kill()
        server.start()
        sm = make_client(server.endpoint, "secretsmanager")
        assert sm.get_secret_value(SecretId="durable")["SecretString"] == "v2"
        assert sm.describe_secret(SecretId="durable")["VersionIdsToStages"] == {
            first: ["AWSPREVIOUS"],
            second: ["AWSCURRENT"],
        }
        assert error_of(sm.get_secret_value, SecretId="going")["Message"] == MARKED
        sm.restore_secret(SecretId="going")
        assert sm.get_secret_value(SecretId="going")["SecretString"] == "g"
    finally:
        server.stop()


ROTATOR = """
import boto3

sm = boto3.client("secretsmanager")


def handler(event, context):
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    print("STEP", step, token)
    if step == "createSecret":
        try:
            sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        except sm.exceptions.ResourceNotFoundException:
            password = sm.get_random_password(ExcludePunctuation=True)["RandomPassword"]
            sm.put_secret_value(SecretId=arn, ClientRequestToken=token,
                                SecretString="rotated-" + password, VersionStages=["AWSPENDING"])
    elif step == "testSecret":
        value = sm.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")["SecretString"]
        assert value.startswith("rotated-")
    elif step == "finishSecret":
        stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
        current = next(v for v, labels in stages.items() if "AWSCURRENT" in labels)
        if current != token:
            sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                           MoveToVersionId=token, RemoveFromVersionId=current)
"""


def test_rotation_by_a_lambda_function(server, client):
    sm, iam, lam = client("secretsmanager"), client("iam"), client("lambda")
    role = unique("rotator-role")
    role_arn = ensure_role(iam, role)
    iam.put_role_policy(
        RoleName=role,
        PolicyName="rotate",
        PolicyDocument=policy(
            {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
            {"Effect": "Allow", "Action": "logs:*", "Resource": "*"},
        ),
    )
    name = unique("rotator")
    function = create_function(lam, name, {"app.py": ROTATOR}, role=role_arn)["FunctionArn"]
    secret = unique("rotated")
    first = sm.create_secret(Name=secret, SecretString="initial")["VersionId"]
    # Without the function's permission, AWS refuses at once.
    refused = error_of(
        sm.rotate_secret, SecretId=secret, RotationLambdaARN=function,
        RotationRules={"AutomaticallyAfterDays": 30},
    )  # fmt: skip
    assert (refused["Code"], refused["Message"]) == (
        "AccessDeniedException",
        "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function "
        "policy grants access to the principal secretsmanager.amazonaws.com.",
    )
    lam.add_permission(
        FunctionName=name,
        StatementId="secretsmanager",
        Action="lambda:InvokeFunction",
        Principal="secretsmanager.amazonaws.com",
    )
    bad = error_of(
        sm.rotate_secret, SecretId=secret, RotationLambdaARN=function,
        RotationRules={"ScheduleExpression": "rate(2 hours)"},
    )  # fmt: skip
    assert bad["Code"] == "InvalidParameterException"
    started = time.time()
    token = sm.rotate_secret(
        SecretId=secret, RotationLambdaARN=function, RotationRules={"AutomaticallyAfterDays": 30}
    )["VersionId"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        # Done once finishSecret returned and the service recorded the rotation.
        if "LastRotatedDate" in sm.describe_secret(SecretId=secret):
            break
        time.sleep(0.2)
    described = sm.describe_secret(SecretId=secret)
    assert set(described["VersionIdsToStages"][token]) == {"AWSCURRENT", "AWSPENDING"}
    assert described["VersionIdsToStages"][first] == ["AWSPREVIOUS"]
    assert sm.get_secret_value(SecretId=secret)["SecretString"].startswith("rotated-")
    assert described["RotationEnabled"] is True
    assert described["RotationLambdaARN"] == function
    assert described["RotationRules"] == {"AutomaticallyAfterDays": 30}
    next_in = described["NextRotationDate"].timestamp() - started
    assert 30 * 86400 - 120 < next_in < 30 * 86400 + 120
    # A schedule expression, without rotating now.
    sm.rotate_secret(
        SecretId=secret, RotationRules={"ScheduleExpression": "cron(0 16 1,15 * ? *)"},
        RotateImmediately=False,
    )  # fmt: skip
    due = sm.describe_secret(SecretId=secret)["NextRotationDate"]
    assert (due.hour, due.minute, due.day in (1, 15)) == (16, 0, True)
    cancelled = sm.cancel_rotate_secret(SecretId=secret)
    assert cancelled["ARN"] == described["ARN"]
    after = sm.describe_secret(SecretId=secret)
    assert after["RotationEnabled"] is False and "NextRotationDate" not in after


def rotation_function(server, unique_name: str) -> str:
    """A rotation function (ROTATOR) Secrets Manager may invoke; its ARN."""
    iam, lam = make_client(server.endpoint, "iam"), make_client(server.endpoint, "lambda")
    role_arn = ensure_role(iam, unique_name)
    iam.put_role_policy(
        RoleName=unique_name,
        PolicyName="rotate",
        PolicyDocument=policy(
            {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
        ),
    )
    arn = create_function(lam, unique_name, {"app.py": ROTATOR}, role=role_arn)["FunctionArn"]
    lam.add_permission(
        FunctionName=unique_name,
        StatementId="secretsmanager",
        Action="lambda:InvokeFunction",
        Principal="secretsmanager.amazonaws.com",
    )
    return arn


def test_a_rotation_due_while_down_runs_after_restart(tmp_path):
    server = SandlotServer(tmp_path).start()
    try:
        sm = make_client(server.endpoint, "secretsmanager")
        function = rotation_function(server, "rotator")
        sm.create_secret(Name="scheduled", SecretString="before")
        sm.rotate_secret(
            SecretId="scheduled", RotationLambdaARN=function,
            RotationRules={"AutomaticallyAfterDays": 1}, RotateImmediately=False,
        )  # fmt: skip
        assert "LastRotatedDate" not in sm.describe_secret(SecretId="scheduled")
        server.stop()
        # A day passes while the server is down: the stored due time is now in the past.
        con = sqlite3.connect(tmp_path / "sandlot.db")
        with con:
            con.execute("UPDATE secretsmanager_rotations SET next_rotation = ?", (time.time() - 5,))
        con.close()
        server.start()
        sm = make_client(server.endpoint, "secretsmanager")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if "LastRotatedDate" in sm.describe_secret(SecretId="scheduled"):
                break
            time.sleep(0.2)
        described = sm.describe_secret(SecretId="scheduled")
        assert "LastRotatedDate" in described
        assert sm.get_secret_value(SecretId="scheduled")["SecretString"].startswith("rotated-")
        assert described["NextRotationDate"].timestamp() > time.time() + 86400 - 300
    finally:
        server.stop()


def test_changing_the_key_re_encrypts_labelled_versions(client):
    sm, kms = client("secretsmanager"), client("kms")
    name = unique("rekey")
    sm.create_secret(Name=name, SecretString="old")
    sm.put_secret_value(SecretId=name, SecretString="new")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    updated = sm.update_secret(SecretId=name, KmsKeyId=key)
    assert "VersionId" not in updated
    versions = sm.list_secret_version_ids(SecretId=name)["Versions"]
    assert [v["KmsKeyIds"] for v in versions] == [[key], [key]]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "new"
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == "old"
    assert sm.describe_secret(SecretId=name)["KmsKeyId"] == key
