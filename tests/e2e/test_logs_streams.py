"""CloudWatch Logs subscription filters to Kinesis and Firehose: the filter's role puts
AWS's CONTROL_MESSAGE first, then each matching batch as a gzipped DATA_MESSAGE record;
a role that cannot put answers AWS's error."""

from __future__ import annotations

import gzip
import json
import time
import uuid
import zlib

from tests.e2e.conftest import error_of
from tests.e2e.functions import unique
from tests.e2e.roles import ensure_role, trust_policy

ACCOUNT = "000000000000"


def logs_role(iam, actions: list[str]) -> str:
    name = unique("cwl-role")
    arn = ensure_role(iam, name, trust=trust_policy({"Service": "logs.amazonaws.com"}))
    policy = {"Effect": "Allow", "Action": actions, "Resource": "*"}
    iam.put_role_policy(RoleName=name, PolicyName="put", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [policy]}))  # fmt: skip
    return arn


def read_all(kinesis, name: str, want: int, timeout: float = 20) -> list[dict]:
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    found: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(found) < want and time.monotonic() < deadline:
        got = kinesis.get_records(ShardIterator=iterator)
        found += [json.loads(gzip.decompress(r["Data"])) for r in got["Records"]]
        iterator = got["NextShardIterator"]
        time.sleep(0.1)
    assert len(found) >= want, found
    return found


def test_subscription_to_kinesis(client):
    logs, kinesis = client("logs"), client("kinesis")
    stream = unique("cwl")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    arn = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{stream}"
    group = unique("/app/to-kinesis")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    weak = logs_role(client("iam"), ["kinesis:DescribeStream"])
    error = error_of(logs.put_subscription_filter, logGroupName=group, filterName="f",
                     filterPattern="ERROR", destinationArn=arn, roleArn=weak)  # fmt: skip
    assert error["Code"] == "InvalidParameterException"
    assert error["Message"].startswith("Could not deliver test message to specified Kinesis")
    role = logs_role(client("iam"), ["kinesis:PutRecord"])
    logs.put_subscription_filter(logGroupName=group, filterName="f", filterPattern="ERROR",
                                 destinationArn=arn, roleArn=role)  # fmt: skip
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[
        {"timestamp": now, "message": "ERROR one"}, {"timestamp": now, "message": "fine"}])  # fmt: skip
    control, data = read_all(kinesis, stream, 2)
    assert control["messageType"] == "CONTROL_MESSAGE"
    assert control["logEvents"][0]["message"].startswith("CWL CONTROL MESSAGE")
    assert data["messageType"] == "DATA_MESSAGE"
    assert (data["logGroup"], data["logStream"], data["subscriptionFilters"]) == (
        group,
        "s1",
        ["f"],
    )
    assert [e["message"] for e in data["logEvents"]] == ["ERROR one"]


def test_subscription_to_firehose(client):
    logs, firehose, s3 = client("logs"), client("firehose"), client("s3")
    bucket = f"cwl-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    delivery_role = logs_role(client("iam"), ["s3:*"])
    name = unique("cwl-fh")
    arn = firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "RoleARN": delivery_role, "BucketARN": f"arn:aws:s3:::{bucket}",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1}},
    )["DeliveryStreamARN"]  # fmt: skip
    group = unique("/app/to-firehose")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    role = logs_role(client("iam"), ["firehose:PutRecord"])
    logs.put_subscription_filter(logGroupName=group, filterName="f", filterPattern="",
                                 destinationArn=arn, roleArn=role)  # fmt: skip
    logs.put_log_events(logGroupName=group, logStreamName="s1",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "hello"}])  # fmt: skip
    deadline = time.monotonic() + 20
    messages: list[dict] = []
    while len(messages) < 2 and time.monotonic() < deadline:
        messages = []
        for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            # Each record is one gzip member: the object is their concatenation.
            while body:
                decompressor = zlib.decompressobj(31)
                messages.append(json.loads(decompressor.decompress(body)))
                body = decompressor.unused_data
        time.sleep(0.2)
    kinds = sorted(m["messageType"] for m in messages)
    assert kinds == ["CONTROL_MESSAGE", "DATA_MESSAGE"], messages
    data = next(m for m in messages if m["messageType"] == "DATA_MESSAGE")
    assert [e["message"] for e in data["logEvents"]] == ["hello"]
