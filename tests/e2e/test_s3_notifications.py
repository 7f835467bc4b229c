"""S3 event notifications trigger functions: the thumbnail workflow end to end."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.e2e.functions import create_function, unique
from tests.e2e.roles import ensure_role

ACCOUNT = "000000000000"

THUMBNAILER = """
import json
from urllib.parse import unquote_plus

import boto3

s3 = boto3.client("s3")

def handler(event, context):
    for record in event["Records"]:
        source = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        body = s3.get_object(Bucket=source, Key=key)["Body"].read()
        target = __import__("os").environ["TARGET"]
        s3.put_object(Bucket=target, Key=key + ".thumb", Body=body[::-1])
        s3.put_object(Bucket=target, Key="events/" + key + ".json", Body=json.dumps(record))
"""


def _wait_for(s3, bucket: str, key: str, timeout: float = 30) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchKey":
                raise
        time.sleep(0.1)
    raise AssertionError(f"s3://{bucket}/{key} never appeared")


def test_thumbnail_workflow(client):
    s3, lam, iam = client("s3"), client("lambda"), client("iam")
    uploads, thumbs = f"uploads-{uuid.uuid4().hex[:8]}", f"thumbs-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=uploads)
    s3.create_bucket(Bucket=thumbs)
    role_name = unique("thumbnailer")
    role = ensure_role(
        iam,
        role_name,
        managed=("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",),
    )
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="buckets",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{uploads}/*",
                    },
                    {
                        "Effect": "Allow",
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{thumbs}/*",
                    },
                ],
            }
        ),
    )
    name = unique("thumbs")
    arn = create_function(
        lam, name, {"app.py": THUMBNAILER}, role=role, Environment={"Variables": {"TARGET": thumbs}}
    )["FunctionArn"]
    configuration = {
        "LambdaFunctionConfigurations": [
            {
                "Id": "make-thumbnails",
                "LambdaFunctionArn": arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}},
            }
        ]
    }
    # S3 checks that it may invoke the function before it accepts the configuration.
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_notification_configuration(
            Bucket=uploads, NotificationConfiguration=configuration
        )
    assert refused.value.response["Error"]["Code"] == "InvalidArgument"
    assert (
        "Unable to validate the following destination configurations"
        in (refused.value.response["Error"]["Message"])
    )
    lam.add_permission(
        FunctionName=name,
        StatementId="s3-invoke",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{uploads}",
        SourceAccount=ACCOUNT,
    )
    s3.put_bucket_notification_configuration(
        Bucket=uploads, NotificationConfiguration=configuration
    )
    stored = s3.get_bucket_notification_configuration(Bucket=uploads)
    assert stored["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"] == arn

    s3.put_object(Bucket=uploads, Key="notes.txt", Body=b"not a picture")
    put = s3.put_object(Bucket=uploads, Key="holiday/sea side.jpg", Body=b"JPEGDATA")
    assert _wait_for(s3, thumbs, "holiday/sea side.jpg.thumb") == b"ATADGEPJ"
    record = json.loads(_wait_for(s3, thumbs, "events/holiday/sea side.jpg.json"))
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["configurationId"] == "make-thumbnails"
    assert record["s3"]["bucket"]["name"] == uploads
    assert record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{uploads}"
    assert record["s3"]["object"]["key"] == "holiday/sea+side.jpg"
    assert record["s3"]["object"]["size"] == 8
    assert record["s3"]["object"]["eTag"] == put["ETag"].strip('"')
    assert record["s3"]["object"]["sequencer"]
    # The suffix filter skipped the text file.
    time.sleep(1.0)
    listed = s3.list_objects_v2(Bucket=thumbs)["Contents"]
    assert "notes.txt.thumb" not in {o["Key"] for o in listed}

    # A copy is ObjectCreated:Copy.
    s3.copy_object(
        Bucket=uploads,
        Key="copy.jpg",
        CopySource={"Bucket": uploads, "Key": "holiday/sea side.jpg"},
    )
    copied = json.loads(_wait_for(s3, thumbs, "events/copy.jpg.json"))
    assert copied["eventName"] == "ObjectCreated:Copy"


def test_removals_notify_and_permissions_are_enforced_at_delivery(client):
    s3, lam = client("s3"), client("lambda")
    bucket, log_bucket = f"rm-{uuid.uuid4().hex[:8]}", f"rmlog-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=log_bucket)
    recorder = (
        "import boto3, json, os\n"
        "def handler(event, context):\n"
        "    r = event['Records'][0]\n"
        "    key = r['eventName'] + '/' + r['s3']['object']['key']\n"
        "    boto3.client('s3').put_object(Bucket=os.environ['LOG'], Key=key, "
        "Body=json.dumps(r))\n"
    )
    role_name = unique("recorder")
    role = ensure_role(client("iam"), role_name)
    client("iam").attach_role_policy(
        RoleName=role_name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess"
    )
    name = unique("removals")
    arn = create_function(
        lam, name, {"app.py": recorder}, role=role, Environment={"Variables": {"LOG": log_bucket}}
    )["FunctionArn"]
    lam.add_permission(
        FunctionName=name,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{bucket}",
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": arn, "Events": ["s3:ObjectRemoved:*"]}
            ]
        },
    )
    version = s3.put_object(Bucket=bucket, Key="a", Body=b"1")["VersionId"]
    s3.delete_object(Bucket=bucket, Key="a")  # versioned: a delete marker
    marker = json.loads(_wait_for(s3, log_bucket, "ObjectRemoved:DeleteMarkerCreated/a"))
    assert "size" not in marker["s3"]["object"] and marker["s3"]["object"]["versionId"]
    s3.delete_object(Bucket=bucket, Key="a", VersionId=version)
    deleted = json.loads(_wait_for(s3, log_bucket, "ObjectRemoved:Delete/a"))
    assert deleted["s3"]["object"]["versionId"] == version
