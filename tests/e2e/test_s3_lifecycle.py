"""S3 lifecycle configuration end to end: AWS's validation, the stored rules, the
``x-amz-expiration`` header, and the rules executed on time by the timer facility.

``SANDLOT_S3_LIFECYCLE_DAY_SECONDS=2`` makes a lifecycle "day" two seconds: rules run
at every even second, and ``Days: 1`` expires an object at the first even second at
least two seconds after its write (AWS: the next midnight UTC after a day). Expiry is
polled with a deadline, never slept for.
"""

from __future__ import annotations

import email.utils
import json
import time
import uuid

import pytest

from tests.e2e.conftest import aws, error_of, make_client
from tests.e2e.server import SandlotServer

DAY = 2.0
DEADLINE = 8 * DAY


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"SANDLOT_S3_LIFECYCLE_DAY_SECONDS": str(DAY)}
    with SandlotServer(tmp_path_factory.mktemp("lifecycle"), env=env) as running:
        yield running


@pytest.fixture
def s3(server):
    return make_client(server.endpoint, "s3")


@pytest.fixture
def bucket(s3):
    name = f"lc-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _put_rules(s3, bucket, *rules):
    return s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)}
    )


def _wait_for(condition, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met before the deadline")


def _exists(s3, bucket, key) -> bool:
    return s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) > 0


# -- configuration ------------------------------------------------------------------------


def test_configuration_round_trip_and_delete(s3, bucket):
    error = error_of(s3.get_bucket_lifecycle_configuration, Bucket=bucket)
    assert (error["Code"], error["HTTPStatusCode"]) == ("NoSuchLifecycleConfiguration", 404)
    assert error["BucketName"] == bucket
    answer = _put_rules(
        s3,
        bucket,
        {
            "ID": "archive",
            "Filter": {"And": {"Prefix": "logs/", "Tags": [{"Key": "k", "Value": "v"}]}},
            "Status": "Enabled",
            "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}],
            "Expiration": {"Days": 365},
        },
        {
            "Filter": {"ObjectSizeGreaterThan": 1024},
            "Status": "Disabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 3},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
        },
    )
    assert answer["TransitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    first, second = got["Rules"]
    assert first["ID"] == "archive" and first["Expiration"] == {"Days": 365}
    assert first["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER"}]
    assert first["Filter"]["And"]["Tags"] == [{"Key": "k", "Value": "v"}]
    assert second["ID"]  # S3 names a rule given without an ID
    assert second["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": 7,
        "NewerNoncurrentVersions": 3,
    }
    assert second["Filter"] == {"ObjectSizeGreaterThan": 1024}
    s3.delete_bucket_lifecycle(Bucket=bucket)
    error = error_of(s3.get_bucket_lifecycle_configuration, Bucket=bucket)
    assert error["Code"] == "NoSuchLifecycleConfiguration"


@pytest.mark.parametrize(
    ("rule", "code", "message"),
    [
        (
            {"Filter": {"Prefix": ""}, "Status": "Enabled"},
            "InvalidRequest",
            "At least one action needs to be specified in a rule",
        ),
        (
            {"Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 0}},
            "InvalidArgument",
            "'Days' for Expiration action must be a positive integer",
        ),
        (
            {
                "Filter": {"Prefix": ""},
                "Status": "Enabled",
                "Expiration": {"Date": "2030-01-01T10:00:00Z"},
            },
            "InvalidArgument",
            "'Date' must be at midnight GMT",
        ),
        (
            {"ID": "x" * 256, "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}},
            "InvalidArgument",
            "ID length should not exceed allowed limit of 255",
        ),
        (
            {
                "Filter": {"Tag": {"Key": "a", "Value": "b"}},
                "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            },
            "InvalidRequest",
            "AbortIncompleteMultipartUpload cannot be specified with Tags.",
        ),
        (
            {
                "Filter": {},
                "Status": "Enabled",
                "Expiration": {"Days": 1, "ExpiredObjectDeleteMarker": True},
            },
            "MalformedXML",
            None,
        ),
    ],
)
def test_invalid_rules_are_refused(s3, bucket, rule, code, message):
    error = error_of(_put_rules, s3, bucket, rule)
    assert (error["Code"], error["HTTPStatusCode"]) == (code, 400)
    if message:
        assert error["Message"] == message


def test_rule_ids_must_be_unique(s3, bucket):
    rule = {"ID": "same", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}}
    error = error_of(_put_rules, s3, bucket, rule, rule)
    assert error["Code"] == "InvalidArgument"
    assert error["Message"] == "Rule ID must be unique. Found same ID for more than one rule"


def test_aws_cli_round_trip(server, bucket, tmp_path):
    document = {
        "Rules": [
            {
                "ID": "cli",
                "Filter": {"Prefix": "tmp/"},
                "Status": "Enabled",
                "Expiration": {"Date": "2031-01-01T00:00:00Z"},
            }
        ]
    }
    path = tmp_path / "lifecycle.json"
    path.write_text(json.dumps(document))
    aws(
        server.endpoint, "s3api", "put-bucket-lifecycle-configuration",
        "--bucket", bucket, "--lifecycle-configuration", f"file://{path}",
    )  # fmt: skip
    got = aws(server.endpoint, "s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket)
    assert got["Rules"][0]["Expiration"]["Date"].startswith("2031-01-01T00:00:00")
    assert got["Rules"][0]["Filter"] == {"Prefix": "tmp/"}


# -- execution ----------------------------------------------------------------------------


def test_expiration_header_and_expiry_on_time(s3, bucket):
    _put_rules(
        s3, bucket, {"ID": "tmp-1d", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled",
                     "Expiration": {"Days": 1}},
    )  # fmt: skip
    put = s3.put_object(Bucket=bucket, Key="tmp/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="keep/b", Body=b"b")
    header = put["Expiration"]
    assert header.startswith('expiry-date="') and header.endswith('", rule-id="tmp-1d"')
    expiry = email.utils.parsedate_to_datetime(header.split('"')[1]).timestamp()
    assert s3.head_object(Bucket=bucket, Key="tmp/a")["Expiration"] == header
    assert s3.get_object(Bucket=bucket, Key="tmp/a")["Expiration"] == header
    copied = s3.copy_object(Bucket=bucket, Key="tmp/copy", CopySource=f"{bucket}/keep/b")
    assert copied["Expiration"].endswith('rule-id="tmp-1d"')
    upload = s3.create_multipart_upload(Bucket=bucket, Key="tmp/mpu")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="tmp/mpu", UploadId=upload, PartNumber=1, Body=b"m")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="tmp/mpu", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )  # fmt: skip
    assert done["Expiration"].endswith('rule-id="tmp-1d"')
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="keep/b")
    # The due time is the first "midnight" at least a day after the write.
    assert expiry % DAY == 0 and expiry - time.time() > 0
    _wait_for(lambda: not _exists(s3, bucket, "tmp/a"))
    assert time.time() >= expiry - 0.5  # not before it was due (clock granularity aside)
    assert _exists(s3, bucket, "keep/b")


def test_tag_and_size_filters_select_objects(s3, bucket):
    _put_rules(
        s3,
        bucket,
        {
            "ID": "tagged",
            "Filter": {"And": {"Tags": [{"Key": "temp", "Value": "yes"}],
                               "ObjectSizeLessThan": 100}},
            "Status": "Enabled",
            "Expiration": {"Days": 1},
        },
    )  # fmt: skip
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="temp=yes")
    s3.put_object(Bucket=bucket, Key="big", Body=b"x" * 200, Tagging="temp=yes")
    s3.put_object(Bucket=bucket, Key="untagged", Body=b"x")
    _wait_for(lambda: not _exists(s3, bucket, "t"))
    assert _exists(s3, bucket, "big") and _exists(s3, bucket, "untagged")


def test_versioned_bucket_gets_markers_then_versions_go(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    _put_rules(
        s3,
        bucket,
        {
            "ID": "expire",
            "Filter": {"Prefix": "v/"},
            "Status": "Enabled",
            "Expiration": {"Days": 1},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
        {
            "ID": "markers",
            "Filter": {"Prefix": "v/"},
            "Status": "Enabled",
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
    )
    version = s3.put_object(Bucket=bucket, Key="v/doc", Body=b"one")["VersionId"]

    def versions():
        listed = s3.list_object_versions(Bucket=bucket, Prefix="v/")
        return listed.get("Versions", []), listed.get("DeleteMarkers", [])

    # First the current version gets a delete marker; the data stays as a version.
    _wait_for(lambda: versions()[1])
    kept, markers = versions()
    assert [v["VersionId"] for v in kept] in ([version], [])
    assert markers[0]["IsLatest"] is True
    # Then the noncurrent version is removed, and the marker left alone goes too.
    _wait_for(lambda: versions() == ([], []), deadline=3 * DEADLINE)


def test_incomplete_multipart_uploads_are_aborted(s3, bucket):
    _put_rules(
        s3, bucket, {"ID": "mpu", "Filter": {"Prefix": "up/"}, "Status": "Enabled",
                     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
    )  # fmt: skip
    s3.create_multipart_upload(Bucket=bucket, Key="up/big")
    s3.create_multipart_upload(Bucket=bucket, Key="other/big")
    _wait_for(
        lambda: (
            [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
            == ["other/big"]
        )
    )


def test_deleting_the_configuration_stops_expiry(s3, bucket):
    _put_rules(
        s3, bucket, {"ID": "all", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}}
    )
    s3.put_object(Bucket=bucket, Key="stays", Body=b"x")
    s3.delete_bucket_lifecycle(Bucket=bucket)
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="stays")
    # A marker object in another bucket expiring proves the sweeps ran meanwhile.
    other = f"lc-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=other)
    _put_rules(s3, other, {"ID": "all", "Filter": {}, "Status": "Enabled",
                           "Expiration": {"Days": 1}})  # fmt: skip
    s3.put_object(Bucket=other, Key="goes", Body=b"x")
    _wait_for(lambda: not _exists(s3, other, "goes"))
    assert _exists(s3, bucket, "stays")


def test_cloudformation_bucket_lifecycle_configuration(server, s3):
    """AWS::S3::Bucket's LifecycleConfiguration (CloudFormation's flattened rule shape)."""
    cfn = make_client(server.endpoint, "cloudformation")
    template = {
        "Resources": {
            "Logs": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "LifecycleConfiguration": {
                        "Rules": [
                            {
                                "Id": "old-logs",
                                "Status": "Enabled",
                                "Prefix": "logs/",
                                "TagFilters": [{"Key": "temp", "Value": "yes"}],
                                "ExpirationInDays": "30",
                                "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
                                "Transitions": [
                                    {"StorageClass": "GLACIER", "TransitionInDays": 10}
                                ],
                            },
                            {
                                "Status": "Enabled",
                                "ExpirationDate": "2031-01-01T00:00:00Z",
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                            },
                        ]
                    }
                },
            }
        },
        "Outputs": {"Name": {"Value": {"Ref": "Logs"}}},
    }
    name = f"lc-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))

    def settled():
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        return None if stack["StackStatus"].endswith("_IN_PROGRESS") else stack

    stack = _wait_for(settled, deadline=60)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    bucket = stack["Outputs"][0]["OutputValue"]
    first, second = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert first["ID"] == "old-logs"
    assert first["Filter"] == {
        "And": {"Prefix": "logs/", "Tags": [{"Key": "temp", "Value": "yes"}]}
    }
    assert first["Expiration"] == {"Days": 30}
    assert first["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert first["Transitions"] == [{"Days": 10, "StorageClass": "GLACIER"}]
    assert second["Expiration"]["Date"].year == 2031
    assert second["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    cfn.delete_stack(StackName=name)


def test_expirations_are_notified(server, s3, bucket):
    """s3:LifecycleExpiration:* events, from s3.amazonaws.com, through the queue policy."""
    sqs = make_client(server.endpoint, "sqs")
    url = sqs.create_queue(QueueName=f"lc-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                       "Action": "sqs:SendMessage", "Resource": arn,
                       "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}}}]
    }  # fmt: skip
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": arn, "Events": ["s3:LifecycleExpiration:*"]}]},
    )  # fmt: skip
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
    _put_rules(s3, bucket, {"ID": "all", "Filter": {}, "Status": "Enabled",
                            "Expiration": {"Days": 1}})  # fmt: skip

    def expiry_event():
        for message in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []):
            body = json.loads(message["Body"])
            for record in body.get("Records", []):
                if record["eventName"].startswith("LifecycleExpiration"):
                    return record
        return None

    record = _wait_for(expiry_event, deadline=3 * DEADLINE)
    assert record["eventName"] == "LifecycleExpiration:Delete"
    assert record["s3"]["object"]["key"] == "gone"
    assert record["userIdentity"]["principalId"] == "s3.amazonaws.com"


def test_expiry_due_while_down_happens_after_a_restart(tmp_path):
    """The bucket's lifecycle timer is durable: what came due while sandlot was down is
    applied when it is back."""
    env = {"SANDLOT_S3_LIFECYCLE_DAY_SECONDS": str(DAY)}
    with SandlotServer(tmp_path, env=env, lambda_role=False) as first:
        s3 = make_client(first.endpoint, "s3")
        s3.create_bucket(Bucket="restart-lc")
        _put_rules(s3, "restart-lc", {"ID": "all", "Filter": {}, "Status": "Enabled",
                                      "Expiration": {"Days": 1}})  # fmt: skip
        header = s3.put_object(Bucket="restart-lc", Key="k", Body=b"x")["Expiration"]
    expiry = email.utils.parsedate_to_datetime(header.split('"')[1]).timestamp()
    _wait_for(lambda: time.time() > expiry + DAY, deadline=4 * DAY)  # due while down
    with SandlotServer(tmp_path, env=env, lambda_role=False) as second:
        s3 = make_client(second.endpoint, "s3")
        _wait_for(lambda: not _exists(s3, "restart-lc", "k"))
