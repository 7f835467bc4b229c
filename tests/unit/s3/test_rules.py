"""Pure rules: ranges, conditions, copy sources, bucket names, checksums, CORS matching
and notification configuration."""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib

import pytest

from sandlot.events.delivery import DELIVERIES
from sandlot.protocol import ServiceError, checksums
from sandlot.services.s3.buckets import valid_bucket_name
from sandlot.services.s3.notifications import validate
from sandlot.services.s3.objects import check_conditions, parse_copy_source, parse_range
from sandlot.services.s3.schema import BUCKETS


def test_ranges():
    assert parse_range("bytes=0-0", 10) == (0, 0)
    assert parse_range("bytes=5-", 10) == (5, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=-30", 10) == (0, 9)
    assert parse_range("bytes=2-100", 10) == (2, 9)
    assert parse_range("bytes=5-2", 10) is None  # invalid: whole object
    assert parse_range("items=0-1", 10) is None
    assert parse_range("bytes=0-1,3-4", 10) is None  # multiple ranges: whole object
    with pytest.raises(ServiceError) as excinfo:
        parse_range("bytes=10-", 10)
    assert (excinfo.value.code, excinfo.value.status) == ("InvalidRange", 416)


ROW = {"etag": '"abc"', "modified": 1_700_000_000.0}
BEFORE = dt.datetime.fromtimestamp(1_699_999_000, dt.UTC)
AFTER = dt.datetime.fromtimestamp(1_700_001_000, dt.UTC)


@pytest.mark.parametrize(
    "params, outcome",
    [
        ({"IfMatch": '"abc"'}, None),
        ({"IfMatch": "*"}, None),
        ({"IfMatch": '"x", "abc"'}, None),
        ({"IfMatch": '"x"'}, 412),
        ({"IfUnmodifiedSince": BEFORE}, 412),
        ({"IfUnmodifiedSince": AFTER}, None),
        ({"IfMatch": '"abc"', "IfUnmodifiedSince": BEFORE}, None),
        ({"IfNoneMatch": '"abc"'}, 304),
        ({"IfNoneMatch": '"x"'}, None),
        ({"IfModifiedSince": AFTER}, 304),
        ({"IfModifiedSince": BEFORE}, None),
        ({"IfNoneMatch": '"abc"', "IfModifiedSince": BEFORE}, 304),
        ({"IfNoneMatch": '"x"', "IfModifiedSince": AFTER}, None),
        ({"IfMatch": '"x"', "IfNoneMatch": '"abc"'}, 412),
    ],
)
def test_condition_precedence(params, outcome):
    if outcome is None:
        check_conditions(ROW, params)
        return
    with pytest.raises(ServiceError) as excinfo:
        check_conditions(ROW, params)
    assert excinfo.value.status == outcome


def test_copy_source_conditions_fail_with_412():
    with pytest.raises(ServiceError) as excinfo:
        check_conditions(ROW, {"CopySourceIfNoneMatch": '"abc"'}, "CopySourceIf", copy=True)
    assert excinfo.value.status == 412
    assert excinfo.value.fields["Condition"] == "x-amz-copy-source-If-None-Match"


def test_copy_source():
    assert parse_copy_source("b/a%20b/c%3Fd") == ("b", "a b/c?d", None)
    assert parse_copy_source("/b/k?versionId=v1") == ("b", "k", "v1")
    with pytest.raises(ServiceError):
        parse_copy_source("bucket-only")


@pytest.mark.parametrize("name", ["abc", "a.b-c", "my-bucket-1", "a" * 63, "1bucket"])
def test_valid_bucket_names(name):
    assert valid_bucket_name(name)


@pytest.mark.parametrize(
    "name", ["ab", "a" * 64, "ABC", "a_b", ".ab", "ab-", "a..b", "a.-b", "10.0.0.1",
             "xn--ab", "sthree-ab", "amzn-s3-demo-x", "ab-s3alias", "ab--ol-s3", "a.mrap",
             "ab--x-s3", "ab--table-s3"],
)  # fmt: skip
def test_invalid_bucket_names(name):
    assert not valid_bucket_name(name)


def test_checksums():
    data = b"123456789"
    assert base64.b64decode(checksums.of_bytes("crc32c", data)).hex() == "e3069283"
    assert base64.b64decode(checksums.of_bytes("crc64nvme", data)).hex() == "ae8b14860a799888"
    assert (
        checksums.of_bytes("crc32", data)
        == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    )
    parts = [checksums.of_bytes("sha256", b"a"), checksums.of_bytes("sha256", b"b")]
    assert checksums.composite("sha256", parts).endswith("-2")
    assert checksums.decode_md5("not base64") is None


def test_cors_matching(platform, s3):
    s3("CreateBucket", {"Bucket": "web"})
    provider = platform.provider("s3")
    with pytest.raises(ServiceError) as excinfo:
        provider.cors_preflight("web", "https://a.example", "GET", [])
    assert excinfo.value.status == 403
    s3("PutBucketCors", {"Bucket": "web", "CORSConfiguration": {"CORSRules": [
        {"AllowedOrigins": ["https://*.example"], "AllowedMethods": ["GET"],
         "AllowedHeaders": ["x-amz-*"], "MaxAgeSeconds": 10},
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
    ]}})  # fmt: skip
    first = provider.cors_preflight("web", "https://a.example", "GET", ["x-amz-date"])
    assert first["Access-Control-Allow-Origin"] == "https://a.example"
    assert first["Access-Control-Max-Age"] == "10"
    # The first rule refuses the header; the wildcard rule has no headers: refused.
    with pytest.raises(ServiceError):
        provider.cors_preflight("web", "https://a.example", "GET", ["authorization"])
    anyone = provider.cors_preflight("web", "http://other.test", "HEAD", [])
    assert anyone["Access-Control-Allow-Origin"] == "*"
    assert (
        provider.cors_headers("web", "http://other.test", "GET")["Access-Control-Allow-Methods"]
        == "GET, HEAD"
    )
    assert provider.cors_headers("web", "http://other.test", "PUT") == {}
    assert provider.cors_headers("missing", "http://other.test", "GET") == {}


ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"


def test_notification_validation_and_matching(platform, s3):
    s3("CreateBucket", {"Bucket": "events"})
    config = {
        "LambdaFunctionConfigurations": [
            {"LambdaFunctionArn": ARN, "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"},
                                                {"Name": "suffix", "Value": ".jpg"}]}}},
            {"LambdaFunctionArn": ARN, "Events": ["s3:ObjectRemoved:Delete"]},
        ],
        "QueueConfigurations": [
            {"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q",
             "Events": ["s3:ObjectCreated:Put"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "other/"}]}}},
        ],
    }  # fmt: skip
    provider = platform.provider("s3")
    # Stored as validated (the destination check needs real functions: see the e2e tests).
    bucket = platform.store.get(BUCKETS, "events")
    platform.store.put(BUCKETS, {**bucket, "notification": json.dumps(validate(config))})
    hits = provider.notification_targets("events", "s3:ObjectCreated:Put", "in/cat.jpg")
    assert [(kind, c["LambdaFunctionArn"]) for kind, c in hits] == [("Lambda", ARN)]
    assert provider.notification_targets("events", "s3:ObjectCreated:Put", "in/cat.png") == []
    assert provider.notification_targets("events", "s3:ObjectCreated:Copy", "other/x") == []
    queue = provider.notification_targets("events", "s3:ObjectCreated:Put", "other/x")
    assert [kind for kind, _ in queue] == ["Queue"]
    removed = provider.notification_targets("events", "s3:ObjectRemoved:Delete", "any")
    assert [kind for kind, _ in removed] == ["Lambda"]
    stored = s3("GetBucketNotificationConfiguration", {"Bucket": "events"})
    assert all(c["Id"] for c in stored["LambdaFunctionConfigurations"])


@pytest.mark.parametrize(
    "config",
    [
        {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": "not-an-arn",
                                           "Events": ["s3:ObjectCreated:*"]}]},
        {"QueueConfigurations": [{"QueueArn": ARN, "Events": ["s3:ObjectCreated:*"]}]},
        {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": ARN,
                                           "Events": ["s3:ObjectCreated:Get"]}]},
        {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": ARN,
            "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": [
                {"Name": "prefix", "Value": "a"}, {"Name": "prefix", "Value": "b"}]}}}]},
        {"LambdaFunctionConfigurations": [
            {"LambdaFunctionArn": ARN, "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "img/"}]}}},
            {"LambdaFunctionArn": ARN, "Events": ["s3:ObjectCreated:Put"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "img/raw/"}]}}}]},
    ],
)  # fmt: skip
def test_invalid_notification_configurations(config):
    with pytest.raises(ServiceError) as excinfo:
        validate(config)
    assert excinfo.value.code == "InvalidArgument"


def test_disjoint_filters_do_not_overlap():
    validate({"LambdaFunctionConfigurations": [
        {"LambdaFunctionArn": ARN, "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}}},
        {"LambdaFunctionArn": ARN, "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".png"}]}}}]})  # fmt: skip


def test_object_changes_stage_notifications_with_the_write(platform, s3):
    s3("CreateBucket", {"Bucket": "staged"})
    s3("PutBucketVersioning", {"Bucket": "staged",
                               "VersioningConfiguration": {"Status": "Enabled"}})  # fmt: skip
    config = {"LambdaFunctionConfigurations": [
        {"Id": "all", "LambdaFunctionArn": ARN, "Events": ["s3:ObjectCreated:*",
                                                           "s3:ObjectRemoved:*"]}]}  # fmt: skip
    bucket = platform.store.get(BUCKETS, "staged")
    platform.store.put(BUCKETS, {**bucket, "notification": json.dumps(validate(config))})
    outbox = platform.deliveries
    s3("PutObject", {"Bucket": "staged", "Key": "a b", "Body": b"12345"})
    with pytest.raises(ServiceError):  # refused: nothing written, nothing staged
        s3("PutObject", {"Bucket": "staged", "Key": "a b", "Body": b"x", "IfNoneMatch": "*"})
    s3("DeleteObject", {"Bucket": "staged", "Key": "a b"})
    rows = platform.store.select(DELIVERIES, order_by=("seq",))
    assert outbox.pending() == len(rows) == 2
    assert {r["target"] for r in rows} == {ARN}
    created, removed = (json.loads(r["payload"])["Records"][0] for r in rows)
    assert created["eventName"] == "ObjectCreated:Put"
    assert created["s3"]["object"]["key"] == "a+b" and created["s3"]["object"]["size"] == 5
    assert removed["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
    assert "size" not in removed["s3"]["object"]
    assert created["s3"]["object"]["sequencer"] < removed["s3"]["object"]["sequencer"]
