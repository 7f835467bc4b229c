"""S3 buckets end to end with boto3: naming, location, uniqueness, tagging, policy,
CORS configuration and preflight, notification configuration, versioning status."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import code_and_status
from tests.e2e.functions import create_function, unique
from tests.e2e.roles import ensure_role


def _name(prefix: str = "bkt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_create_list_head_location_delete(client):
    s3 = client("s3")
    name = _name()
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.head_bucket(Bucket=name)["BucketRegion"] == "us-east-1"
    assert s3.get_bucket_location(Bucket=name).get("LocationConstraint") is None
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as excinfo:
        s3.head_bucket(Bucket=name)
    assert code_and_status(excinfo) == ("404", 404)
    with pytest.raises(ClientError) as excinfo:
        s3.delete_bucket(Bucket=name)
    assert code_and_status(excinfo) == ("NoSuchBucket", 404)


def test_location_constraint_rules(client):
    east = client("s3")
    west = client("s3", region="eu-west-1")
    name = _name()
    west.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert west.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError) as excinfo:  # us-east-1 is never a constraint
        east.create_bucket(
            Bucket=_name(), CreateBucketConfiguration={"LocationConstraint": "us-east-1"}
        )
    assert code_and_status(excinfo) == ("InvalidLocationConstraint", 400)
    with pytest.raises(ClientError) as excinfo:  # constraint and endpoint region differ
        east.create_bucket(
            Bucket=_name(), CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
    assert code_and_status(excinfo) == ("IllegalLocationConstraintException", 400)
    with pytest.raises(ClientError) as excinfo:  # another region needs a constraint
        west.create_bucket(Bucket=_name())
    assert code_and_status(excinfo) == ("IllegalLocationConstraintException", 400)


@pytest.mark.parametrize(
    "bad",
    ["ab", "a" * 64, "UpperCase", "under_score", "-leading", "trailing-", "two..dots",
     "192.168.5.4", "xn--punycode", "name-s3alias", "sthree-x"],
)  # fmt: skip
def test_invalid_bucket_names(client, bad):
    with pytest.raises(ClientError) as excinfo:
        client("s3").create_bucket(Bucket=bad)
    assert code_and_status(excinfo) == ("InvalidBucketName", 400)


def test_names_are_global(client):
    mine, theirs = client("s3"), client("s3", key="111122223333")
    name = _name()
    mine.create_bucket(Bucket=name)
    mine.create_bucket(Bucket=name)  # us-east-1: re-creating your own bucket answers 200
    with pytest.raises(ClientError) as excinfo:
        theirs.create_bucket(Bucket=name)
    assert code_and_status(excinfo) == ("BucketAlreadyExists", 409)
    assert name not in [b["Name"] for b in theirs.list_buckets()["Buckets"]]
    west = client("s3", region="eu-west-1")
    other = _name()
    west.create_bucket(Bucket=other, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with pytest.raises(ClientError) as excinfo:
        west.create_bucket(
            Bucket=other, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
    assert code_and_status(excinfo) == ("BucketAlreadyOwnedByYou", 409)


def test_bucket_not_empty(client):
    s3 = client("s3")
    name = _name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as excinfo:
        s3.delete_bucket(Bucket=name)
    assert code_and_status(excinfo) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)


def test_tagging(client):
    s3 = client("s3")
    name = _name()
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as excinfo:
        s3.get_bucket_tagging(Bucket=name)
    assert code_and_status(excinfo) == ("NoSuchTagSet", 404)
    tags = [{"Key": "team", "Value": "core"}, {"Key": "env", "Value": "dev"}]
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == tags
    with pytest.raises(ClientError) as excinfo:
        s3.put_bucket_tagging(
            Bucket=name,
            Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]},
        )
    assert code_and_status(excinfo) == ("InvalidTag", 400)
    s3.delete_bucket_tagging(Bucket=name)
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=name)


def test_policy(client):
    s3 = client("s3")
    name = _name()
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as excinfo:
        s3.get_bucket_policy(Bucket=name)
    assert code_and_status(excinfo) == ("NoSuchBucketPolicy", 404)
    with pytest.raises(ClientError) as excinfo:
        s3.put_bucket_policy(Bucket=name, Policy="not json")
    assert code_and_status(excinfo) == ("MalformedPolicy", 400)
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{name}/*"}],
        }
    )  # fmt: skip
    s3.delete_public_access_block(Bucket=name)  # a public policy; new buckets block them
    s3.put_bucket_policy(Bucket=name, Policy=policy)
    assert json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]) == json.loads(policy)
    s3.delete_bucket_policy(Bucket=name)
    with pytest.raises(ClientError):
        s3.get_bucket_policy(Bucket=name)


def _statement(bucket: str, **changes) -> dict:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    statement.update(changes)
    return {k: v for k, v in statement.items() if v is not None}


def test_bucket_policy_validation(client, bucket):
    """PutBucketPolicy refuses what S3 refuses, with S3's MalformedPolicy messages."""
    s3 = client("s3")

    def refused(policy) -> str:
        text = policy if isinstance(policy, str) else json.dumps(policy)
        with pytest.raises(ClientError) as excinfo:
            s3.put_bucket_policy(Bucket=bucket, Policy=text)
        assert code_and_status(excinfo) == ("MalformedPolicy", 400)
        return excinfo.value.response["Error"]["Message"]

    def policy(**changes) -> dict:
        return {"Version": "2012-10-17", "Statement": [_statement(bucket, **changes)]}

    assert refused("[1]") == "Policies must be valid JSON and the first byte must be '{'"
    assert refused('{"Statement": [') == "This policy contains invalid Json"
    assert refused({"Version": "2012-10-17"}) == "Missing required field Statement"
    assert refused({"Statement": []}) == "Could not parse the policy: Statement is empty!"
    assert refused(policy(Principal=None)) == "Missing required field Principal"
    assert refused(policy(Effect=None)) == "Missing required field Effect"
    assert refused(policy(Resource="*")) == "Policy has invalid resource"
    assert refused(policy(Resource="arn:aws:s3:::another-bucket/*")) == (
        "Policy has invalid resource"
    )
    assert refused(policy(Action="s3:NoSuchAction")) == "Policy has invalid action"
    assert refused(policy(Action="lambda:InvokeFunction")) == "Policy has invalid action"
    assert refused(policy(Action="s3:PutObject", Resource=f"arn:aws:s3:::{bucket}")) == (
        "Action does not apply to any resource(s) in statement"
    )
    assert refused(policy(Principal={"AWS": "not-a-principal"})) == "Invalid principal in policy"
    assert refused(policy(Condition={"StringEquals": {"s3:x-acl": "private"}})) == (
        "Policy has an invalid condition key"
    )
    with pytest.raises(ClientError):
        s3.get_bucket_policy(Bucket=bucket)  # nothing was stored
    accepted = {
        "Version": "2012-10-17",
        "Statement": [
            _statement(bucket, Action=["s3:Get*", "s3:ListBucket"], Resource=[
                f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]),
            _statement(bucket, Effect="Deny", Action="s3:*", Resource=f"arn:aws:s3:::{bucket[:4]}*"),
            _statement(bucket, Principal={"AWS": "arn:aws:iam::111111111111:root"},
                       Action=None, NotAction="s3:DeleteObject"),
            _statement(bucket, Condition={
                "StringEquals": {"s3:ExistingObjectTag/team": "web", "aws:PrincipalAccount": "1"},
                "Bool": {"aws:SecureTransport": "false"}}),
        ],
    }  # fmt: skip
    s3.delete_public_access_block(Bucket=bucket)  # its first statement is public
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(accepted))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == accepted


def test_cors_configuration_and_preflight(client, server):
    s3 = client("s3")
    name = _name()
    s3.create_bucket(Bucket=name)
    url = f"{server.endpoint}/{name}/some/key"

    def preflight(origin: str, method: str, headers: str = "") -> tuple[int, dict]:
        request = urllib.request.Request(url, method="OPTIONS")
        request.add_header("Origin", origin)
        request.add_header("Access-Control-Request-Method", method)
        if headers:
            request.add_header("Access-Control-Request-Headers", headers)
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}
        except urllib.error.HTTPError as error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}

    assert preflight("https://app.example", "GET")[0] == 403  # no CORS configuration
    with pytest.raises(ClientError) as excinfo:
        s3.get_bucket_cors(Bucket=name)
    assert code_and_status(excinfo) == ("NoSuchCORSConfiguration", 404)
    rules = [
        {
            "AllowedOrigins": ["https://*.example"],
            "AllowedMethods": ["GET", "PUT"],
            "AllowedHeaders": ["content-type", "x-amz-*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 300,
        }
    ]
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket=name)["CORSRules"] == rules
    status, headers = preflight("https://app.example", "PUT", "Content-Type, x-amz-meta-a")
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["access-control-allow-methods"] == "GET, PUT"
    assert headers["access-control-allow-headers"] == "content-type, x-amz-meta-a"
    assert headers["access-control-max-age"] == "300"
    assert preflight("https://evil.test", "GET")[0] == 403
    assert preflight("https://app.example", "DELETE")[0] == 403
    assert preflight("https://app.example", "GET", "authorization")[0] == 403
    with pytest.raises(ClientError) as excinfo:
        s3.put_bucket_cors(
            Bucket=name,
            CORSConfiguration={
                "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]
            },
        )
    assert code_and_status(excinfo) == ("InvalidRequest", 400)
    s3.delete_bucket_cors(Bucket=name)
    assert preflight("https://app.example", "GET")[0] == 403


def test_notification_configuration(client):
    s3, lam = client("s3"), client("lambda")
    name = _name()
    s3.create_bucket(Bucket=name)
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(
        Bucket=name
    )
    role = ensure_role(client("iam"), "lambda-role")
    function = unique("thumbs")
    arn = create_function(
        lam, function, {"app.py": "def handler(e, c):\n    return 1\n"}, role=role
    )["FunctionArn"]
    configuration = {
        "LambdaFunctionConfigurations": [
            {
                "Id": "thumbs",
                "LambdaFunctionArn": arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}},
            }
        ]
    }
    with pytest.raises(ClientError) as excinfo:  # S3 may not invoke the function yet
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration=configuration
        )
    assert code_and_status(excinfo) == ("InvalidArgument", 400)
    assert excinfo.value.response["Error"]["Message"] == (
        "Unable to validate the following destination configurations"
    )
    lam.add_permission(
        FunctionName=function,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{name}",
    )
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=configuration)
    got = s3.get_bucket_notification_configuration(Bucket=name)
    assert got["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"] == arn
    assert got["LambdaFunctionConfigurations"][0]["Events"] == ["s3:ObjectCreated:*"]
    bad_event = {"LambdaFunctionConfigurations": [
        {"LambdaFunctionArn": arn, "Events": ["s3:ObjectEaten:*"]}]}  # fmt: skip
    with pytest.raises(ClientError) as excinfo:
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=bad_event)
    assert code_and_status(excinfo) == ("InvalidArgument", 400)
    overlapping = {
        "LambdaFunctionConfigurations": [
            {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:Put"]},
            {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]},
        ]
    }
    with pytest.raises(ClientError) as excinfo:
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=overlapping)
    assert code_and_status(excinfo) == ("InvalidArgument", 400)


def test_versioning_status(client):
    s3 = client("s3")
    name = _name()
    s3.create_bucket(Bucket=name)
    assert "Status" not in s3.get_bucket_versioning(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Suspended"


def test_acls_are_disabled_as_by_default_in_s3(client):
    s3 = client("s3")
    name = _name()
    s3.create_bucket(Bucket=name)
    acl = s3.get_bucket_acl(Bucket=name)
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
    assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]
    controls = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]
    assert controls["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    s3.put_object(Bucket=name, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    assert s3.get_object_acl(Bucket=name, Key="k")["Grants"][0]["Permission"] == "FULL_CONTROL"
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=name, Key="public", Body=b"x", ACL="public-read")
    assert code_and_status(excinfo) == ("AccessControlListNotSupported", 400)
    with pytest.raises(ClientError) as excinfo:
        s3.put_bucket_acl(Bucket=name, ACL="public-read")
    assert code_and_status(excinfo) == ("AccessControlListNotSupported", 400)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=name, Key="public")
