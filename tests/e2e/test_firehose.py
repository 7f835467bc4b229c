"""Firehose end to end with boto3: DirectPut and Kinesis-sourced delivery streams write
buffered records to S3 under AWS's key format (default and custom prefixes, GZIP), a
Lambda transformation processor's Ok/Dropped/ProcessingFailed results are honoured,
and what sandlot does not serve answers AWS-shaped errors."""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
import uuid

import pytest

from tests.e2e.conftest import error_of
from tests.e2e.firehose_support import destination, firehose_role, objects
from tests.e2e.functions import create_function, unique


def default_key(name: str) -> str:
    """AWS's default key: YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>."""
    return (
        r"\d{4}/\d{2}/\d{2}/\d{2}/"
        + re.escape(name)
        + r"-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}"
    )


TRANSFORM = """
import base64, json

def handler(event, context):
    out = []
    for r in event["records"]:
        text = base64.b64decode(r["data"]).decode()
        if text.startswith("drop"):
            out.append({"recordId": r["recordId"], "result": "Dropped", "data": r["data"]})
        elif text.startswith("bad"):
            out.append({"recordId": r["recordId"], "result": "ProcessingFailed", "data": r["data"]})
        else:
            data = base64.b64encode(text.upper().encode()).decode()
            out.append({"recordId": r["recordId"], "result": "Ok", "data": data})
    return {"records": out}
"""


@pytest.fixture
def env(client):
    s3 = client("s3")
    bucket = f"fh-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    return client("firehose"), s3, bucket, firehose_role(client("iam"))


def test_direct_put_lands_in_s3_under_the_default_key(env):
    firehose, s3, bucket, role = env
    name = unique("fh")
    arn = firehose.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration=destination(bucket, role),
    )["DeliveryStreamARN"]
    assert arn == f"arn:aws:firehose:us-east-1:000000000000:deliverystream/{name}"
    description = firehose.describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"
    ]
    assert description["DeliveryStreamStatus"] == "ACTIVE" and description["VersionId"] == "1"
    s3_description = description["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert s3_description["CompressionFormat"] == "UNCOMPRESSED"
    assert s3_description["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 1}
    record = firehose.put_record(DeliveryStreamName=name, Record={"Data": b"one\n"})
    assert record["RecordId"] and record["Encrypted"] is False
    batch = firehose.put_record_batch(
        DeliveryStreamName=name, Records=[{"Data": b"two\n"}, {"Data": b"three\n"}]
    )
    assert batch["FailedPutCount"] == 0 and len(batch["RequestResponses"]) == 2
    (key,) = objects(s3, bucket)
    assert re.fullmatch(default_key(name), key), key
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == b"one\ntwo\nthree\n"
    assert name in firehose.list_delivery_streams()["DeliveryStreamNames"]
    # UpdateDestination: a new version; its objects carry it in their names.
    firehose.update_destination(
        DeliveryStreamName=name,
        CurrentDeliveryStreamVersionId="1",
        DestinationId=description["Destinations"][0]["DestinationId"],
        ExtendedS3DestinationUpdate={"Prefix": "v2/"},
    )
    error = error_of(lambda: firehose.update_destination(
        DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
        DestinationId="destinationId-000000000001", ExtendedS3DestinationUpdate={}))  # fmt: skip
    assert error["Code"] == "ConcurrentModificationException"
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"four\n"})
    (key,) = objects(s3, bucket, prefix="v2/")
    assert f"/{name}-2-" in key
    firehose.delete_delivery_stream(DeliveryStreamName=name)
    error = error_of(lambda: firehose.describe_delivery_stream(DeliveryStreamName=name))
    assert error["Code"] == "ResourceNotFoundException"


def test_gzip_and_custom_prefixes(env):
    firehose, s3, bucket, role = env
    name = unique("fh")
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration=destination(
            bucket,
            role,
            Prefix="logs/year=!{timestamp:yyyy}/",
            ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
            CompressionFormat="GZIP",
        ),
    )
    firehose.put_record(DeliveryStreamName=name, Record={"Data": b"zipped"})
    (key,) = objects(s3, bucket, prefix="logs/")
    assert re.fullmatch(
        rf"logs/year=\d{{4}}/{re.escape(name)}-1-[-0-9]{{19}}-[0-9a-f-]{{36}}\.gz", key
    )
    assert gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == b"zipped"
    plain = unique("fh")
    firehose.create_delivery_stream(
        DeliveryStreamName=plain,
        ExtendedS3DestinationConfiguration=destination(bucket, role, Prefix="plain/"),
    )
    firehose.put_record(DeliveryStreamName=plain, Record={"Data": b"x"})
    (key,) = objects(s3, bucket, prefix="plain/")
    # A prefix without expressions gets the YYYY/MM/DD/HH/ namespace appended.
    assert re.fullmatch("plain/" + default_key(plain), key), key


def test_lambda_transformation(env, client):
    firehose, s3, bucket, role = env
    lam = client("lambda")
    function = unique("transform")
    created = create_function(lam, function, {"app.py": TRANSFORM}, role=role, Timeout=30)
    name = unique("fh")
    processing = {
        "Enabled": True,
        "Processors": [
            {
                "Type": "Lambda",
                "Parameters": [
                    {"ParameterName": "LambdaArn", "ParameterValue": created["FunctionArn"]}
                ],
            }
        ],
    }
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration=destination(
            bucket,
            role,
            Prefix="ok/",
            ErrorOutputPrefix="failed/",
            ProcessingConfiguration=processing,
        ),
    )
    firehose.put_record_batch(
        DeliveryStreamName=name,
        Records=[{"Data": b"keep;"}, {"Data": b"drop;"}, {"Data": b"bad;"}, {"Data": b"also;"}],
    )
    (ok,) = objects(s3, bucket, prefix="ok/")
    assert s3.get_object(Bucket=bucket, Key=ok)["Body"].read() == b"KEEP;ALSO;"
    (failed,) = objects(s3, bucket, prefix="failed/")
    assert failed.startswith("failed/processing-failed/")
    (error,) = [
        json.loads(line)
        for line in s3.get_object(Bucket=bucket, Key=failed)["Body"].read().splitlines()
    ]
    assert base64.b64decode(error["rawData"]) == b"bad;"
    assert error["errorCode"] == "Lambda.ProcessingFailed"
    assert error["lambdaArn"] == created["FunctionArn"]


def test_dynamic_partitioning_by_query(env):
    firehose, s3, bucket, role = env
    name = unique("fh")
    extraction = {
        "Type": "MetadataExtraction",
        "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{customer: .who.id}"},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
        ],
    }
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration=destination(
            bucket,
            role,
            Prefix="by/customer=!{partitionKeyFromQuery:customer}/",
            ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
            DynamicPartitioningConfiguration={"Enabled": True},
            ProcessingConfiguration={"Enabled": True, "Processors": [extraction]},
        ),
    )
    records = [
        {"who": {"id": "a"}, "n": 1},
        {"who": {"id": "b"}, "n": 2},
        {"who": {"id": "a"}, "n": 3},
    ]
    firehose.put_record_batch(
        DeliveryStreamName=name,
        Records=[{"Data": json.dumps(r).encode() + b"\n"} for r in records]
        + [{"Data": b"not json"}],
    )
    keys = objects(s3, bucket, 3)
    by = {k.split("/")[1]: k for k in keys if k.startswith("by/")}
    assert set(by) == {"customer=a", "customer=b"}
    body = s3.get_object(Bucket=bucket, Key=by["customer=a"])["Body"].read()
    assert [json.loads(line)["n"] for line in body.splitlines()] == [1, 3]
    (failed,) = [k for k in keys if k.startswith("errors/")]
    assert failed.startswith("errors/partitioning-failed/")
    # A prefix naming a key the query does not give is refused on create.
    error = error_of(
        lambda: firehose.create_delivery_stream(
            DeliveryStreamName=unique("fh"),
            ExtendedS3DestinationConfiguration=destination(
                bucket, role, Prefix="!{partitionKeyFromQuery:other}/", ErrorOutputPrefix="e/",
                DynamicPartitioningConfiguration={"Enabled": True},
                ProcessingConfiguration={"Enabled": True, "Processors": [extraction]},
            ),
        )
    )  # fmt: skip
    assert error["Code"] == "InvalidArgumentException"


PARTITIONER = """
import base64

def handler(event, context):
    out = []
    for r in event["records"]:
        text = base64.b64decode(r["data"]).decode()
        out.append({"recordId": r["recordId"], "result": "Ok", "data": r["data"],
                    "metadata": {"partitionKeys": {"kind": text.split(":")[0]}}})
    return {"records": out}
"""


def test_dynamic_partitioning_by_lambda(env, client):
    firehose, s3, bucket, role = env
    created = create_function(client("lambda"), unique("part"), {"app.py": PARTITIONER},
                              role=role, Timeout=30)  # fmt: skip
    name = unique("fh")
    processor = {"Type": "Lambda", "Parameters": [
        {"ParameterName": "LambdaArn", "ParameterValue": created["FunctionArn"]}]}  # fmt: skip
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration=destination(
            bucket, role, Prefix="kind=!{partitionKeyFromLambda:kind}/", ErrorOutputPrefix="e/",
            DynamicPartitioningConfiguration={"Enabled": True},
            ProcessingConfiguration={"Enabled": True, "Processors": [processor]},
        ),
    )  # fmt: skip
    firehose.put_record_batch(DeliveryStreamName=name, Records=[
        {"Data": b"x:1;"}, {"Data": b"y:2;"}, {"Data": b"x:3;"}])  # fmt: skip
    keys = objects(s3, bucket, 2, prefix="kind=")
    assert [k.split("/")[0] for k in keys] == ["kind=x", "kind=y"]
    assert s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read() == b"x:1;x:3;"


def test_kinesis_stream_as_source(env, client):
    firehose, s3, bucket, role = env
    kinesis = client("kinesis")
    stream = unique("src")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    kinesis.put_record(StreamName=stream, Data=b"before;", PartitionKey="a")
    time.sleep(1.05)  # the delivery stream reads from its creation on
    name = unique("fh")
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": role},
        ExtendedS3DestinationConfiguration=destination(bucket, role),
    )
    described = firehose.describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"
    ]
    assert described["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"] == stream_arn
    for i in range(4):
        kinesis.put_record(StreamName=stream, Data=f"r{i};".encode(), PartitionKey=f"k{i}")
    seen = b""
    deadline = time.monotonic() + 20
    while seen.count(b";") < 4 and time.monotonic() < deadline:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        seen = b"".join(s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys)
        time.sleep(0.2)
    assert sorted(seen.decode().split(";")[:-1]) == ["r0", "r1", "r2", "r3"]
    error = error_of(lambda: firehose.put_record(DeliveryStreamName=name, Record={"Data": b"x"}))
    assert error["Code"] == "InvalidArgumentException"


def test_unsupported_destinations_and_errors(env):
    firehose, _, bucket, role = env
    error = error_of(
        lambda: firehose.create_delivery_stream(
            DeliveryStreamName=unique("fh"),
            HttpEndpointDestinationConfiguration={
                "EndpointConfiguration": {"Url": "https://example.com"},
                "S3Configuration": {"RoleARN": role, "BucketARN": f"arn:aws:s3:::{bucket}"},
            },
        )
    )
    assert error["Code"] == "InvalidArgumentException" and "HTTP endpoint" in error["Message"]
    error = error_of(
        lambda: firehose.create_delivery_stream(
            DeliveryStreamName=unique("fh"),
            ExtendedS3DestinationConfiguration=destination(
                bucket, role, Prefix="!{timestamp:yyyy}/"
            ),
        )
    )
    assert error["Code"] == "InvalidArgumentException"
    error = error_of(lambda: firehose.put_record(DeliveryStreamName="nope", Record={"Data": b"x"}))
    assert error["Code"] == "ResourceNotFoundException"
