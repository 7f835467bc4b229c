"""S3 Block Public Access (bucket level) and Object Ownership end to end: the default of
every new bucket (all four settings on), Put/Get/DeletePublicAccessBlock, a public
bucket policy refused under BlockPublicPolicy and its grants ignored under
RestrictPublicBuckets, ownership controls, and the CloudFormation properties."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import aws, error_of, make_client

ALL_ON = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def _public_read(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


def test_new_bucket_blocks_public_access_by_default(client, bucket):
    s3 = client("s3")
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == ALL_ON
    error = error_of(s3.put_bucket_policy, Bucket=bucket, Policy=_public_read(bucket))
    assert (error["Code"], error["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert error["Message"] == (
        "User: arn:aws:iam::000000000000:root is not authorized to perform: "
        f's3:PutBucketPolicy on resource: "arn:aws:s3:::{bucket}" because public policies '
        "are blocked by the BlockPublicPolicy block public access setting."
    )
    # A policy naming fixed principals, or fixed by a condition, is not public.
    fixed = json.loads(_public_read(bucket))
    fixed["Statement"][0]["Condition"] = {"StringEquals": {"aws:SourceAccount": "111122223333"}}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(fixed))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"] == {"IsPublic": False}
    fixed["Statement"][0]["Principal"] = {"AWS": "arn:aws:iam::111122223333:root"}
    del fixed["Statement"][0]["Condition"]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(fixed))


def test_put_get_delete_public_access_block(client, bucket):
    s3 = client("s3")
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={"BlockPublicPolicy": False, "BlockPublicAcls": True},
    )
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": False,
        "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False,
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=_public_read(bucket))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"] == {"IsPublic": True}
    s3.delete_public_access_block(Bucket=bucket)
    error = error_of(s3.get_public_access_block, Bucket=bucket)
    assert (error["Code"], error["HTTPStatusCode"]) == (
        "NoSuchPublicAccessBlockConfiguration",
        404,
    )
    assert error["Message"] == "The public access block configuration was not found"


def test_restrict_public_buckets_ignores_a_public_policy(server, client, bucket):
    s3 = client("s3")
    s3.put_object(Bucket=bucket, Key="page.html", Body=b"<p>hi</p>")
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=_public_read(bucket))
    # Another account reads through the public grant (no identity policy needed for a
    # root; in dev mode an unsigned request is the default account's root, not stranger).
    stranger = make_client(server.endpoint, "s3", key="111111111111")
    assert stranger.get_object(Bucket=bucket, Key="page.html")["Body"].read() == b"<p>hi</p>"
    # Turning RestrictPublicBuckets on takes the public grant away, the policy staying.
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration={"RestrictPublicBuckets": True}
    )
    with pytest.raises(ClientError) as caught:
        stranger.get_object(Bucket=bucket, Key="page.html")
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(
        _public_read(bucket)
    )
    # The owner's account keeps its access.
    assert s3.get_object(Bucket=bucket, Key="page.html")["Body"].read() == b"<p>hi</p>"


def test_ownership_controls(client, bucket):
    s3 = client("s3")
    s3.put_bucket_ownership_controls(
        Bucket=bucket,
        OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    )
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "ObjectWriter"}]


def test_aws_cli_public_access_block(server, bucket):
    aws(
        server.endpoint, "s3api", "put-public-access-block", "--bucket", bucket,
        "--public-access-block-configuration",
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=false,"
        "RestrictPublicBuckets=false",
    )  # fmt: skip
    got = aws(server.endpoint, "s3api", "get-public-access-block", "--bucket", bucket)
    assert got["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is False
    assert got["PublicAccessBlockConfiguration"]["IgnorePublicAcls"] is True


def test_cloudformation_public_access_block(server, client):
    cfn = make_client(server.endpoint, "cloudformation")
    name = f"pab-{uuid.uuid4().hex[:8]}"
    template = {
        "Resources": {
            "Site": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": "true",
                        "BlockPublicPolicy": "false",
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": False,
                    },
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                },
            },
            "Policy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "Site"},
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": "*",
                                "Action": "s3:GetObject",
                                "Resource": {"Fn::Sub": "${Site.Arn}/*"},
                            }
                        ]
                    },
                },
            },
        },
        "Outputs": {"Name": {"Value": {"Ref": "Site"}}},
    }
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            break
        time.sleep(0.2)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    bucket = stack["Outputs"][0]["OutputValue"]
    got = client("s3").get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got["BlockPublicPolicy"] is False and got["IgnorePublicAcls"] is True
    cfn.delete_stack(StackName=name)
