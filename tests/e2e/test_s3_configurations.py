"""Bucket configurations S3 stores and returns (sandlot does not act on them):
acceleration, requester pays, logging, replication, and the id-keyed inventory,
metrics, analytics and intelligent-tiering configurations — validated with S3's
errors, returned as given."""

from __future__ import annotations

import time
import uuid

from tests.e2e.conftest import aws, error_of


def _new_bucket(s3, versioned: bool = False) -> str:
    name = f"cfg-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def test_accelerate_and_request_payment(client, bucket):
    s3 = client("s3")
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket=bucket)
    s3.put_bucket_accelerate_configuration(
        Bucket=bucket, AccelerateConfiguration={"Status": "Enabled"}
    )
    assert s3.get_bucket_accelerate_configuration(Bucket=bucket)["Status"] == "Enabled"
    dotted = f"a.b-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=dotted)
    error = error_of(
        s3.put_bucket_accelerate_configuration,
        Bucket=dotted,
        AccelerateConfiguration={"Status": "Enabled"},
    )
    assert error["Code"] == "InvalidRequest"
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    s3.put_bucket_request_payment(Bucket=bucket, RequestPaymentConfiguration={"Payer": "Requester"})
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "Requester"


def test_logging(client, bucket):
    s3 = client("s3")
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
    error = error_of(
        s3.put_bucket_logging,
        Bucket=bucket,
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "no-such-" + bucket,
                                                "TargetPrefix": "logs/"}},
    )  # fmt: skip
    assert (error["Code"], error["HTTPStatusCode"]) == ("InvalidTargetBucketForLogging", 400)
    target = _new_bucket(s3)
    enabled = {"TargetBucket": target, "TargetPrefix": "logs/"}
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": enabled})
    assert s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"] == enabled
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)


def test_replication(client):
    s3 = client("s3")
    source, target = _new_bucket(s3), _new_bucket(s3)
    configuration = {
        "Role": "arn:aws:iam::000000000000:role/replication",
        "Rules": [
            {
                "ID": "all",
                "Priority": 1,
                "Filter": {},
                "Status": "Enabled",
                "DeleteMarkerReplication": {"Status": "Disabled"},
                "Destination": {"Bucket": f"arn:aws:s3:::{target}"},
            }
        ],
    }
    error = error_of(s3.get_bucket_replication, Bucket=source)
    assert (error["Code"], error["HTTPStatusCode"]) == (
        "ReplicationConfigurationNotFoundError",
        404,
    )
    error = error_of(
        s3.put_bucket_replication, Bucket=source, ReplicationConfiguration=configuration
    )
    assert error["Message"] == (
        "Versioning must be 'Enabled' on the bucket to apply a replication configuration"
    )
    s3.put_bucket_versioning(Bucket=source, VersioningConfiguration={"Status": "Enabled"})
    error = error_of(
        s3.put_bucket_replication, Bucket=source, ReplicationConfiguration=configuration
    )
    assert error["Message"] == "Destination bucket must have versioning enabled."
    s3.put_bucket_versioning(Bucket=target, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_replication(Bucket=source, ReplicationConfiguration=configuration)
    got = s3.get_bucket_replication(Bucket=source)["ReplicationConfiguration"]
    assert got["Role"] == configuration["Role"]
    assert got["Rules"][0]["Destination"]["Bucket"] == f"arn:aws:s3:::{target}"
    s3.delete_bucket_replication(Bucket=source)
    assert error_of(s3.get_bucket_replication, Bucket=source)["HTTPStatusCode"] == 404


def test_id_keyed_configurations(client, bucket):
    s3 = client("s3")
    metrics = {"Id": "docs", "Filter": {"Prefix": "docs/"}}
    error = error_of(s3.get_bucket_metrics_configuration, Bucket=bucket, Id="docs")
    assert (error["Code"], error["HTTPStatusCode"]) == ("NoSuchConfiguration", 404)
    s3.put_bucket_metrics_configuration(Bucket=bucket, Id="docs", MetricsConfiguration=metrics)
    got = s3.get_bucket_metrics_configuration(Bucket=bucket, Id="docs")
    assert got["MetricsConfiguration"] == metrics
    listed = s3.list_bucket_metrics_configurations(Bucket=bucket)
    assert listed["MetricsConfigurationList"] == [metrics] and listed["IsTruncated"] is False
    error = error_of(
        s3.put_bucket_metrics_configuration, Bucket=bucket, Id="other",
        MetricsConfiguration=metrics,
    )  # fmt: skip
    assert error["Code"] == "InvalidArgument"
    target = _new_bucket(s3)
    inventory = {
        "Id": "weekly",
        "IsEnabled": True,
        "IncludedObjectVersions": "Current",
        "Schedule": {"Frequency": "Weekly"},
        "Destination": {"S3BucketDestination": {"Bucket": f"arn:aws:s3:::{target}",
                                                "Format": "CSV"}},
    }  # fmt: skip
    s3.put_bucket_inventory_configuration(
        Bucket=bucket, Id="weekly", InventoryConfiguration=inventory
    )
    got = s3.get_bucket_inventory_configuration(Bucket=bucket, Id="weekly")
    assert got["InventoryConfiguration"]["Schedule"] == {"Frequency": "Weekly"}
    tiering = {
        "Id": "archive",
        "Status": "Enabled",
        "Tierings": [{"Days": 90, "AccessTier": "ARCHIVE_ACCESS"}],
    }
    s3.put_bucket_intelligent_tiering_configuration(
        Bucket=bucket, Id="archive", IntelligentTieringConfiguration=tiering
    )
    listed = s3.list_bucket_intelligent_tiering_configurations(Bucket=bucket)
    assert listed["IntelligentTieringConfigurationList"] == [tiering]
    analytics = {"Id": "a1", "StorageClassAnalysis": {}}
    s3.put_bucket_analytics_configuration(Bucket=bucket, Id="a1", AnalyticsConfiguration=analytics)
    assert (
        s3.get_bucket_analytics_configuration(Bucket=bucket, Id="a1")["AnalyticsConfiguration"][
            "Id"
        ]
        == "a1"
    )
    s3.delete_bucket_analytics_configuration(Bucket=bucket, Id="a1")
    assert (
        error_of(s3.get_bucket_analytics_configuration, Bucket=bucket, Id="a1")["Code"]
        == "NoSuchConfiguration"
    )


def test_aws_cli(server, bucket):
    aws(
        server.endpoint, "s3api", "put-bucket-accelerate-configuration", "--bucket", bucket,
        "--accelerate-configuration", "Status=Suspended",
    )  # fmt: skip
    got = aws(server.endpoint, "s3api", "get-bucket-accelerate-configuration", "--bucket", bucket)
    assert got["Status"] == "Suspended"


def test_replication_copies_new_versions(client):
    """Writes to the source after the configuration reach the destination under the
    same version id (ReplicationStatus PENDING/COMPLETED on the source, REPLICA on the
    copy); a key outside the rule's prefix does not."""
    s3 = client("s3")
    source, target = _new_bucket(s3, versioned=True), _new_bucket(s3, versioned=True)
    s3.put_bucket_replication(
        Bucket=source,
        ReplicationConfiguration={
            "Role": "arn:aws:iam::000000000000:role/replication",
            "Rules": [{"ID": "docs", "Priority": 1, "Filter": {"Prefix": "docs/"},
                       "Status": "Enabled",
                       "DeleteMarkerReplication": {"Status": "Enabled"},
                       "Destination": {"Bucket": f"arn:aws:s3:::{target}"}}],
        },
    )  # fmt: skip
    version = s3.put_object(Bucket=source, Key="docs/a", Body=b"replicate me")["VersionId"]
    s3.put_object(Bucket=source, Key="other/b", Body=b"stay")

    def replicated():
        try:
            return s3.get_object(Bucket=target, Key="docs/a")
        except s3.exceptions.NoSuchKey:
            return None

    copy = _wait(replicated)
    assert copy["Body"].read() == b"replicate me"
    assert copy["VersionId"] == version and copy["ReplicationStatus"] == "REPLICA"
    assert _wait(
        lambda: s3.head_object(Bucket=source, Key="docs/a").get("ReplicationStatus") == "COMPLETED"
    )
    assert "Contents" not in s3.list_objects_v2(Bucket=target, Prefix="other/")
    # A delete marker replicates when the rule says so.
    s3.delete_object(Bucket=source, Key="docs/a")
    assert _wait(lambda: replicated() is None)


def _wait(condition, deadline: float = 15):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("not replicated before the deadline")
