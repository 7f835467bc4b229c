"""CloudFormation with Kinesis and Firehose: AWS::Kinesis::Stream (create, update of
shards/retention, delete), AWS::Kinesis::StreamConsumer, AWS::KinesisFirehose::
DeliveryStream delivering to S3, and a SAM function with a Kinesis event that really
receives the stream's records."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.stacks import physical_ids, settled, stack_events

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Shards: {Type: Number, Default: 1}
  Hours: {Type: Number, Default: 24}
  Prefix: {Type: String, Default: cfn/}
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Stream:
    Type: AWS::Kinesis::Stream
    Properties:
      ShardCount: !Ref Shards
      RetentionPeriodHours: !Ref Hours
      Tags: [{Key: team, Value: data}]
  Consumer:
    Type: AWS::Kinesis::StreamConsumer
    Properties:
      StreamARN: !GetAtt Stream.Arn
      ConsumerName: reader
  DeliveryRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {Service: firehose.amazonaws.com}, Action: sts:AssumeRole}
      Policies:
        - PolicyName: deliver
          PolicyDocument:
            Statement:
              - {Effect: Allow, Action: "s3:*", Resource: "*"}
  Delivery:
    Type: AWS::KinesisFirehose::DeliveryStream
    Properties:
      DeliveryStreamType: DirectPut
      ExtendedS3DestinationConfiguration:
        BucketARN: !GetAtt Bucket.Arn
        RoleARN: !GetAtt DeliveryRole.Arn
        Prefix: !Ref Prefix
        BufferingHints: {SizeInMBs: 1, IntervalInSeconds: 1}
Outputs:
  StreamArn: {Value: !GetAtt Stream.Arn}
  ConsumerArn: {Value: !Ref Consumer}
  DeliveryArn: {Value: !GetAtt Delivery.Arn}
"""

SAM_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Stream:
    Type: AWS::Kinesis::Stream
    Properties: {ShardCount: 1}
  Seen:
    Type: AWS::SSM::Parameter
    Properties: {Name: /sam/kinesis-seen, Type: String, Value: none}
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Timeout: 10
      Policies:
        - Statement:
            - {Effect: Allow, Action: ssm:PutParameter, Resource: "*"}
      InlineCode: |
        import base64, boto3
        def handler(event, context):
            datas = ",".join(base64.b64decode(r["kinesis"]["data"]).decode()
                             for r in event["Records"])
            boto3.client("ssm").put_parameter(Name="/sam/kinesis-seen", Value=datas,
                                              Type="String", Overwrite=True)
      Events:
        FromStream:
          Type: Kinesis
          Properties:
            Stream: !GetAtt Stream.Arn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
            MaximumBatchingWindowInSeconds: 2
"""


@pytest.fixture(scope="module")
def cfn(server):
    return make_client(server.endpoint, "cloudformation")


def outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_stream_consumer_and_delivery_stream(cfn, client) -> None:
    kinesis, firehose, s3 = client("kinesis"), client("firehose"), client("s3")
    cfn.create_stack(StackName="kin", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_IAM"])
    stack = settled(cfn, "kin")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack_events(cfn, "kin")
    names = physical_ids(cfn, "kin")
    out = outputs(stack)
    summary = kinesis.describe_stream_summary(StreamName=names["Stream"])[
        "StreamDescriptionSummary"
    ]
    assert summary["StreamARN"] == out["StreamArn"] and summary["OpenShardCount"] == 1
    assert kinesis.list_tags_for_stream(StreamName=names["Stream"])["Tags"] == [
        {"Key": "team", "Value": "data"}
    ]
    consumer = kinesis.describe_stream_consumer(ConsumerARN=out["ConsumerArn"])
    assert consumer["ConsumerDescription"]["ConsumerName"] == "reader"
    firehose.put_record(DeliveryStreamName=names["Delivery"], Record={"Data": b"via-cfn"})
    deadline = time.monotonic() + 20
    keys: list[str] = []
    while not keys and time.monotonic() < deadline:
        listed = s3.list_objects_v2(Bucket=names["Bucket"], Prefix="cfn/").get("Contents", [])
        keys = [o["Key"] for o in listed]
        time.sleep(0.1)
    assert keys and s3.get_object(Bucket=names["Bucket"], Key=keys[0])["Body"].read() == b"via-cfn"

    cfn.update_stack(
        StackName="kin",
        TemplateBody=TEMPLATE,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "Shards", "ParameterValue": "2"},
            {"ParameterKey": "Hours", "ParameterValue": "48"},
            {"ParameterKey": "Prefix", "ParameterValue": "cfn2/"},
        ],
    )
    stack = settled(cfn, "kin")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack_events(cfn, "kin")
    summary = kinesis.describe_stream_summary(StreamName=names["Stream"])[
        "StreamDescriptionSummary"
    ]
    assert summary["OpenShardCount"] == 2 and summary["RetentionPeriodHours"] == 48
    described = firehose.describe_delivery_stream(DeliveryStreamName=names["Delivery"])
    description = described["DeliveryStreamDescription"]
    assert description["VersionId"] == "2"
    assert description["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"] == "cfn2/"

    cfn.delete_stack(StackName="kin")
    settled(cfn, "kin")
    assert names["Stream"] not in kinesis.list_streams()["StreamNames"]
    assert names["Delivery"] not in firehose.list_delivery_streams()["DeliveryStreamNames"]


def test_sam_function_with_a_kinesis_event(cfn, client) -> None:
    cfn.create_stack(
        StackName="sam-kinesis",
        TemplateBody=SAM_TEMPLATE,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = settled(cfn, "sam-kinesis")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack_events(cfn, "sam-kinesis")
    names = physical_ids(cfn, "sam-kinesis")
    kinesis, ssm = client("kinesis"), client("ssm")
    for data in ("a", "b"):
        kinesis.put_record(StreamName=names["Stream"], Data=data.encode(), PartitionKey="p")
    deadline = time.monotonic() + 30
    seen = "none"
    while seen != "a,b" and time.monotonic() < deadline:
        seen = ssm.get_parameter(Name="/sam/kinesis-seen")["Parameter"]["Value"]
        time.sleep(0.2)
    assert seen == "a,b"
