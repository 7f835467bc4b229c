"""S3 Object Lock end to end: lock-enabled buckets, the default retention, retention
modes and legal holds on versions, and the deletes S3 refuses while a version is
locked (GOVERNANCE bypassed only with the header and the permission)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from tests.e2e.conftest import aws, error_of, make_client


@pytest.fixture
def locked(client):
    s3 = client("s3")
    name = f"lock-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return s3, name


def _later(days: float = 1) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


def test_lock_bucket_configuration(locked, client, bucket):
    s3, name = locked
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"
    }
    error = error_of(
        s3.put_bucket_versioning, Bucket=name, VersioningConfiguration={"Status": "Suspended"}
    )
    assert (error["Code"], error["HTTPStatusCode"]) == ("InvalidBucketState", 409)
    error = error_of(s3.get_object_lock_configuration, Bucket=bucket)
    assert (error["Code"], error["HTTPStatusCode"]) == (
        "ObjectLockConfigurationNotFoundError",
        404,
    )
    # An existing bucket gets Object Lock once versioning is on.
    config = {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
    }
    error = error_of(
        s3.put_object_lock_configuration, Bucket=bucket, ObjectLockConfiguration=config
    )
    assert (error["Code"], error["HTTPStatusCode"]) == ("InvalidBucketState", 409)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=config)
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == config
    bad = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE",
                                                                          "Days": 0}}}  # fmt: skip
    error = error_of(s3.put_object_lock_configuration, Bucket=bucket, ObjectLockConfiguration=bad)
    assert error["Code"] == "InvalidArgument"
    # The default retention applies to new versions.
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] > dt.datetime.now(dt.UTC)
    error = error_of(s3.delete_object, Bucket=bucket, Key="k", VersionId=put["VersionId"])
    assert (error["Code"], error["HTTPStatusCode"]) == ("AccessDenied", 403)


def test_lock_parameters_need_a_lock_bucket(client, bucket):
    s3 = client("s3")
    error = error_of(
        s3.put_object, Bucket=bucket, Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON"
    )
    assert (error["Code"], error["Message"]) == (
        "InvalidRequest",
        "Bucket is missing Object Lock Configuration",
    )


def test_compliance_version_cannot_be_deleted_or_shortened(locked):
    s3, name = locked
    put = s3.put_object(
        Bucket=name, Key="ledger", Body=b"v1", ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=_later(),
    )  # fmt: skip
    version = put["VersionId"]
    retention = s3.get_object_retention(Bucket=name, Key="ledger")["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    error = error_of(s3.delete_object, Bucket=name, Key="ledger", VersionId=version)
    assert (error["Code"], error["HTTPStatusCode"], error["Message"]) == (
        "AccessDenied",
        403,
        "Access Denied",
    )
    error = error_of(
        s3.delete_object, Bucket=name, Key="ledger", VersionId=version,
        BypassGovernanceRetention=True,
    )  # fmt: skip
    assert error["Code"] == "AccessDenied"
    error = error_of(
        s3.put_object_retention, Bucket=name, Key="ledger",
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _later(0.5)},
    )  # fmt: skip
    assert error["Code"] == "AccessDenied"
    # Extending is allowed; a plain delete only adds a marker; the version stays.
    s3.put_object_retention(
        Bucket=name, Key="ledger", Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _later(2)}
    )
    assert s3.delete_object(Bucket=name, Key="ledger")["DeleteMarker"] is True
    old = s3.get_object(Bucket=name, Key="ledger", VersionId=version)
    assert old["Body"].read() == b"v1"
    batch = s3.delete_objects(
        Bucket=name, Delete={"Objects": [{"Key": "ledger", "VersionId": version}]}
    )
    assert batch["Errors"][0]["Code"] == "AccessDenied"


def test_governance_is_bypassed_with_the_header(locked):
    s3, name = locked
    version = s3.put_object(
        Bucket=name, Key="draft", Body=b"x", ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=_later(),
    )["VersionId"]  # fmt: skip
    assert error_of(s3.delete_object, Bucket=name, Key="draft", VersionId=version)["Code"] == (
        "AccessDenied"
    )
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": _later(0.5)}
    error = error_of(s3.put_object_retention, Bucket=name, Key="draft", Retention=shorter)
    assert error["Code"] == "AccessDenied"
    s3.put_object_retention(
        Bucket=name, Key="draft", Retention=shorter, BypassGovernanceRetention=True
    )
    s3.delete_object(Bucket=name, Key="draft", VersionId=version, BypassGovernanceRetention=True)
    assert "Versions" not in s3.list_object_versions(Bucket=name, Prefix="draft")


def test_legal_hold(locked):
    s3, name = locked
    version = s3.put_object(Bucket=name, Key="evidence", Body=b"x")["VersionId"]
    error = error_of(s3.get_object_legal_hold, Bucket=name, Key="evidence")
    assert (error["Code"], error["HTTPStatusCode"]) == ("NoSuchObjectLockConfiguration", 404)
    s3.put_object_legal_hold(Bucket=name, Key="evidence", LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=name, Key="evidence")["LegalHold"] == {"Status": "ON"}
    assert s3.head_object(Bucket=name, Key="evidence")["ObjectLockLegalHoldStatus"] == "ON"
    error = error_of(
        s3.delete_object, Bucket=name, Key="evidence", VersionId=version,
        BypassGovernanceRetention=True,
    )  # fmt: skip
    assert error["Code"] == "AccessDenied"
    s3.put_object_legal_hold(Bucket=name, Key="evidence", LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=name, Key="evidence", VersionId=version)


def test_bypass_needs_the_permission(server, locked):
    """An IAM user allowed to delete versions but not s3:BypassGovernanceRetention."""
    s3, name = locked
    version = s3.put_object(
        Bucket=name, Key="g", Body=b"x", ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=_later(),
    )["VersionId"]  # fmt: skip
    iam = make_client(server.endpoint, "iam")
    user = f"locker-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:DeleteObjectVersion", "Resource": "*"}],
    }
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = make_client(
        server.endpoint, "s3", key=key["AccessKeyId"], secret=key["SecretAccessKey"]
    )
    error = error_of(
        as_user.delete_object, Bucket=name, Key="g", VersionId=version,
        BypassGovernanceRetention=True,
    )  # fmt: skip
    assert error["Code"] == "AccessDenied"
    assert "s3:BypassGovernanceRetention" in error["Message"]


def test_aws_cli_retention_and_legal_hold(server, locked):
    s3, name = locked
    s3.put_object(Bucket=name, Key="cli", Body=b"x")
    until = _later().strftime("%Y-%m-%dT%H:%M:%SZ")
    aws(
        server.endpoint, "s3api", "put-object-retention", "--bucket", name, "--key", "cli",
        "--retention", f"Mode=GOVERNANCE,RetainUntilDate={until}",
    )  # fmt: skip
    got = aws(server.endpoint, "s3api", "get-object-retention", "--bucket", name, "--key", "cli")
    assert got["Retention"]["Mode"] == "GOVERNANCE"
    aws(
        server.endpoint, "s3api", "put-object-legal-hold", "--bucket", name, "--key", "cli",
        "--legal-hold", "Status=ON",
    )  # fmt: skip
    got = aws(server.endpoint, "s3api", "get-object-legal-hold", "--bucket", name, "--key", "cli")
    assert got["LegalHold"]["Status"] == "ON"


def test_copies_and_uploads_get_the_destination_default(client, locked):
    s3, name = locked
    s3.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    source = client("s3")
    plain = f"plain-{uuid.uuid4().hex[:8]}"
    source.create_bucket(Bucket=plain)
    source.put_object(Bucket=plain, Key="src", Body=b"x")
    copied = s3.copy_object(Bucket=name, Key="copy", CopySource=f"{plain}/src")
    assert s3.head_object(Bucket=name, Key="copy")["ObjectLockMode"] == "COMPLIANCE"
    error = error_of(s3.delete_object, Bucket=name, Key="copy", VersionId=copied["VersionId"])
    assert error["Code"] == "AccessDenied"
    upload = s3.create_multipart_upload(Bucket=name, Key="big")["UploadId"]
    part = s3.upload_part(Bucket=name, Key="big", UploadId=upload, PartNumber=1, Body=b"y")
    s3.complete_multipart_upload(
        Bucket=name, Key="big", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )  # fmt: skip
    assert s3.head_object(Bucket=name, Key="big")["ObjectLockMode"] == "COMPLIANCE"
