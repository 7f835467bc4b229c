"""The messaging issue's chain, deployed with CloudFormation: an S3 upload → an SNS topic
→ an SQS queue → a Lambda function through an event source mapping, each hop allowed by
the resource policy AWS requires (topic policy for S3, queue policy for SNS)."""

from __future__ import annotations

import json

from tests.e2e.functions import unique, wait_for_log_events
from tests.e2e.stacks import settled

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Uploads:
    Type: AWS::SNS::Topic
  UploadsPolicy:
    Type: AWS::SNS::TopicPolicy
    Properties:
      Topics: [!Ref Uploads]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: s3.amazonaws.com}
            Action: sns:Publish
            Resource: !Ref Uploads
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
  WorkPolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Work]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: sns.amazonaws.com}
            Action: sqs:SendMessage
            Resource: !GetAtt Work.Arn
            Condition: {ArnEquals: {"aws:SourceArn": !Ref Uploads}}
  WorkSubscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Uploads
      Protocol: sqs
      Endpoint: !GetAtt Work.Arn
      RawMessageDelivery: true
  WorkerRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
      ManagedPolicyArns:
        - arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole
  Worker:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt WorkerRole.Arn
      Code:
        ZipFile: |
          import json
          def handler(event, context):
              for record in event["Records"]:
                  s3 = json.loads(record["body"])["Records"][0]["s3"]
                  print("GOT " + s3["bucket"]["name"] + "/" + s3["object"]["key"])
  WorkerAsync:
    Type: AWS::Lambda::EventInvokeConfig
    Properties:
      FunctionName: !Ref Worker
      Qualifier: $LATEST
      MaximumRetryAttempts: 0
  WorkerMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref Worker
      EventSourceArn: !GetAtt Work.Arn
      BatchSize: 1
Outputs:
  Topic: {Value: !Ref Uploads}
  Worker: {Value: !Ref Worker}
"""


def test_s3_to_sns_to_sqs_to_lambda(client):
    cfn, s3, lam, logs = client("cloudformation"), client("s3"), client("lambda"), client("logs")
    stack_name = unique("chain")
    stack_id = cfn.create_stack(
        StackName=stack_name, TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_IAM"]
    )["StackId"]
    stack = settled(cfn, stack_id)
    reasons = [
        e.get("ResourceStatusReason")
        for e in cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
        if "FAILED" in e["ResourceStatus"]
    ]
    assert stack["StackStatus"] == "CREATE_COMPLETE", reasons
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    config = lam.get_function_event_invoke_config(FunctionName=outputs["Worker"])
    assert config["MaximumRetryAttempts"] == 0

    bucket = unique("uploads").lower()
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "TopicConfigurations": [
                {"TopicArn": outputs["Topic"], "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    s3.put_object(Bucket=bucket, Key="photos/cat.jpg", Body=b"meow")
    found = wait_for_log_events(logs, outputs["Worker"], '"GOT"', timeout=60)
    assert [e["message"].strip() for e in found] == [f"GOT {bucket}/photos/cat.jpg"]

    cfn.delete_stack(StackName=stack_name)
    deleted = settled(cfn, stack_id)  # a deleted stack is found by its id only
    reasons = [
        (e["LogicalResourceId"], e.get("ResourceStatusReason"))
        for e in cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        if e["ResourceStatus"] == "DELETE_FAILED"
    ]
    assert deleted["StackStatus"] == "DELETE_COMPLETE", reasons
    assert json.dumps(lam.list_functions()["Functions"]).count(outputs["Worker"]) == 0


TOPIC_ONLY = """
Resources:
  Alerts:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: %s
      Subscription:
        - Protocol: sqs
          Endpoint: %s
      Tags: [{Key: team, Value: ops}]
Outputs:
  Topic: {Value: !Ref Alerts}
"""


def test_topic_updates_in_place(client):
    cfn, sns, sqs = client("cloudformation"), client("sns"), client("sqs")
    queues = [
        sqs.get_queue_attributes(
            QueueUrl=sqs.create_queue(QueueName=unique("alerts"))["QueueUrl"],
            AttributeNames=["QueueArn"],
        )["Attributes"]["QueueArn"]
        for _ in range(2)
    ]
    name = unique("topic")
    stack_id = cfn.create_stack(StackName=name, TemplateBody=TOPIC_ONLY % ("One", queues[0]))[
        "StackId"
    ]
    stack = settled(cfn, stack_id)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    topic = stack["Outputs"][0]["OutputValue"]
    cfn.update_stack(StackName=name, TemplateBody=TOPIC_ONLY % ("Two", queues[1]))
    stack = settled(cfn, stack_id)
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert stack["Outputs"][0]["OutputValue"] == topic  # updated in place
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "Two"
    endpoints = [
        s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    ]
    assert endpoints == [queues[1]]
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [
        {"Key": "team", "Value": "ops"}
    ]
    cfn.delete_stack(StackName=name)
    assert settled(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE"
