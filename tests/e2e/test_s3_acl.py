"""S3 ACLs end to end: refused as AWS refuses them under Object Ownership
BucketOwnerEnforced (the default), stored, returned and evaluated under ObjectWriter /
BucketOwnerPreferred (canned ACLs, x-amz-grant-* headers, AccessControlPolicy bodies),
public ACLs under BlockPublicAcls / IgnorePublicAcls, with boto3 and the AWS CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

from tests.e2e.conftest import aws, cli_env, error_of, make_client

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"


def _grants(acl: dict) -> list[tuple[str, str]]:
    return sorted(
        (g["Grantee"].get("URI") or g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]
    )


def _acl_bucket(s3, ownership: str = "ObjectWriter") -> str:
    name = f"acl-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectOwnership=ownership)
    return name


def test_enforced_bucket_refuses_acls(client, bucket):
    s3 = client("s3")
    owner = s3.get_bucket_acl(Bucket=bucket)
    assert _grants(owner) == [(owner["Owner"]["ID"], "FULL_CONTROL")]
    for call, kwargs in (
        (s3.put_bucket_acl, {"ACL": "log-delivery-write"}),
        (s3.put_bucket_acl, {"GrantRead": f'uri="{ALL_USERS}"'}),
        (s3.put_object, {"Key": "k", "Body": b"x", "ACL": "public-read"}),
    ):
        error = error_of(call, Bucket=bucket, **kwargs)
        assert (error["Code"], error["HTTPStatusCode"], error["Message"]) == (
            "AccessControlListNotSupported",
            400,
            "The bucket does not allow ACLs",
        )
    # The owner's full control is what the bucket has: accepted.
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    error = error_of(
        s3.create_bucket, Bucket=f"acl-{uuid.uuid4().hex[:12]}", ACL="log-delivery-write"
    )
    assert (error["Code"], error["HTTPStatusCode"]) == ("InvalidBucketAclWithObjectOwnership", 400)


def test_object_writer_stores_and_returns_acls(client):
    s3 = client("s3")
    name = _acl_bucket(s3)
    assert s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "ObjectWriter"}
    ]
    s3.put_bucket_acl(Bucket=name, ACL="log-delivery-write")
    acl = s3.get_bucket_acl(Bucket=name)
    me = acl["Owner"]["ID"]
    assert _grants(acl) == sorted(
        [(me, "FULL_CONTROL"), (LOG_DELIVERY, "WRITE"), (LOG_DELIVERY, "READ_ACP")]
    )
    # Header grants, and an AccessControlPolicy body (what GetBucketAcl answered, back).
    s3.put_bucket_acl(
        Bucket=name, GrantFullControl=f'id="{me}"', GrantWrite=f'uri="{LOG_DELIVERY}"'
    )
    assert _grants(s3.get_bucket_acl(Bucket=name)) == sorted(
        [(LOG_DELIVERY, "WRITE"), (me, "FULL_CONTROL")]
    )
    s3.put_bucket_acl(Bucket=name, AccessControlPolicy={k: acl[k] for k in ("Owner", "Grants")})
    assert _grants(s3.get_bucket_acl(Bucket=name)) == _grants(acl)
    # Such a bucket cannot become BucketOwnerEnforced until its ACL is the owner's only.
    enforced = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    error = error_of(s3.put_bucket_ownership_controls, Bucket=name, OwnershipControls=enforced)
    assert error["Code"] == "InvalidBucketAclWithObjectOwnership"
    error = error_of(s3.put_bucket_acl, Bucket=name, ACL="private", GrantRead=f'id="{me}"')
    assert (error["Code"], error["HTTPStatusCode"]) == ("InvalidRequest", 400)
    # Object ACLs: at PutObject, CopyObject (not the source's), multipart and PutObjectAcl.
    s3.put_object(Bucket=name, Key="a", Body=b"a", GrantReadACP=f'uri="{LOG_DELIVERY}"')
    assert (LOG_DELIVERY, "READ_ACP") in _grants(s3.get_object_acl(Bucket=name, Key="a"))
    s3.copy_object(Bucket=name, Key="b", CopySource={"Bucket": name, "Key": "a"})
    assert _grants(s3.get_object_acl(Bucket=name, Key="b")) == [(me, "FULL_CONTROL")]
    upload = s3.create_multipart_upload(Bucket=name, Key="m", ACL="bucket-owner-read")
    part = s3.upload_part(
        Bucket=name, Key="m", UploadId=upload["UploadId"], PartNumber=1, Body=b"m"
    )
    s3.complete_multipart_upload(
        Bucket=name,
        Key="m",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert _grants(s3.get_object_acl(Bucket=name, Key="m")) == [(me, "FULL_CONTROL")]
    s3.put_object_acl(Bucket=name, Key="b", GrantRead=f'uri="{LOG_DELIVERY}"')
    assert _grants(s3.get_object_acl(Bucket=name, Key="b")) == [(LOG_DELIVERY, "READ")]
    s3.put_bucket_acl(Bucket=name, ACL="private")
    s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=enforced)
    assert _grants(s3.get_object_acl(Bucket=name, Key="b")) == [(me, "FULL_CONTROL")]
    # Without ownership controls ACLs stay enabled (ObjectWriter's behaviour).
    s3.delete_bucket_ownership_controls(Bucket=name)
    error = error_of(s3.get_bucket_ownership_controls, Bucket=name)
    assert (error["Code"], error["HTTPStatusCode"]) == ("OwnershipControlsNotFoundError", 404)
    s3.put_bucket_acl(Bucket=name, ACL="log-delivery-write")


def test_public_acls_blocked_ignored_and_granting(server, client):
    s3 = client("s3")
    name = _acl_bucket(s3, "BucketOwnerPreferred")
    s3.put_object(Bucket=name, Key="page", Body=b"hi")
    error = error_of(s3.put_object_acl, Bucket=name, Key="page", ACL="public-read")
    assert (error["Code"], error["HTTPStatusCode"]) == ("AccessDenied", 403)
    s3.put_public_access_block(
        Bucket=name, PublicAccessBlockConfiguration={"IgnorePublicAcls": True}
    )
    s3.put_object_acl(Bucket=name, Key="page", ACL="public-read")
    assert (ALL_USERS, "READ") in _grants(s3.get_object_acl(Bucket=name, Key="page"))
    # Another account: the public grant is ignored while IgnorePublicAcls is on ...
    stranger = make_client(server.endpoint, "s3", key="111111111111")
    assert error_of(stranger.get_object, Bucket=name, Key="page")["Code"] == "AccessDenied"
    # ... and reads through it once off; READ on an object does not list its bucket.
    s3.delete_public_access_block(Bucket=name)
    assert stranger.get_object(Bucket=name, Key="page")["Body"].read() == b"hi"
    assert error_of(stranger.list_objects_v2, Bucket=name)["Code"] == "AccessDenied"
    s3.put_bucket_acl(Bucket=name, ACL="public-read")
    assert [o["Key"] for o in stranger.list_objects_v2(Bucket=name)["Contents"]] == ["page"]
    # authenticated-read: any signed caller of any account.
    s3.put_object(Bucket=name, Key="members", Body=b"m", ACL="authenticated-read")
    assert stranger.get_object(Bucket=name, Key="members")["Body"].read() == b"m"
    s3.put_object_acl(Bucket=name, Key="members", ACL="private")
    assert error_of(stranger.get_object, Bucket=name, Key="members")["Code"] == "AccessDenied"


def test_aws_cli_bucket_acl(server, client):
    s3 = client("s3")
    name = _acl_bucket(s3)
    aws(server.endpoint, "s3api", "put-bucket-acl", "--bucket", name, "--acl", "log-delivery-write")
    got = aws(server.endpoint, "s3api", "get-bucket-acl", "--bucket", name)
    assert (LOG_DELIVERY, "WRITE") in _grants(got)
    enforced = f"acl-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=enforced)
    refused = subprocess.run(
        [sys.executable, "-m", "awscli", "s3api", "put-bucket-acl", "--bucket", enforced,
         "--acl", "public-read"],
        env=cli_env(server.endpoint), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "(AccessControlListNotSupported)" in refused.stderr
    assert "The bucket does not allow ACLs" in refused.stderr


def _settle(cfn, name: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        time.sleep(0.2)
    raise AssertionError(f"{name} still in progress")


def _bucket_template(**properties) -> str:
    return json.dumps(
        {
            "Resources": {"Logs": {"Type": "AWS::S3::Bucket", "Properties": properties}},
            "Outputs": {"Name": {"Value": {"Ref": "Logs"}}},
        }
    )


def test_cloudformation_access_control(client):
    cfn = client("cloudformation")
    s3 = client("s3")
    name = f"acl-{uuid.uuid4().hex[:8]}"
    writer = {"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    cfn.create_stack(
        StackName=name,
        TemplateBody=_bucket_template(AccessControl="LogDeliveryWrite", OwnershipControls=writer),
    )
    stack = _settle(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    bucket = stack["Outputs"][0]["OutputValue"]
    assert (LOG_DELIVERY, "WRITE") in _grants(s3.get_bucket_acl(Bucket=bucket))
    # Back to S3's default: the ACL is dropped before ownership becomes enforced.
    enforced = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    cfn.update_stack(
        StackName=name,
        TemplateBody=_bucket_template(AccessControl="Private", OwnershipControls=enforced),
    )
    assert _settle(cfn, name)["StackStatus"] == "UPDATE_COMPLETE"
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert _grants(acl) == [(acl["Owner"]["ID"], "FULL_CONTROL")]
    cfn.delete_stack(StackName=name)
    # A public ACL on a bucket with S3's defaults (ACLs disabled) fails the resource.
    failing = f"acl-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=failing, TemplateBody=_bucket_template(AccessControl="PublicRead"))
    assert _settle(cfn, failing)["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [
        e.get("ResourceStatusReason") or ""
        for e in cfn.describe_stack_events(StackName=failing)["StackEvents"]
        if e["LogicalResourceId"] == "Logs" and e["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert any("The bucket does not allow ACLs" in r for r in reasons), reasons
