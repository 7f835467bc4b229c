"""CloudFormation with DynamoDB: AWS::DynamoDB::Table created (GSI, stream, TTL, tags),
updated in place (billing switched, a GSI added, TTL and tags changed), wired by
!GetAtt StreamArn to a function through AWS::Lambda::EventSourceMapping that really gets
the stream's records, deletion protection refusing the delete, a property sandlot cannot
serve failing by name, and a SAM AWS::Serverless::SimpleTable with a DynamoDB event."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.stacks import physical_ids, settled, stack_events

TABLE_V1 = """
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: owner, AttributeType: S}
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: byOwner
          KeySchema: [{AttributeName: owner, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
      Tags: [{Key: team, Value: data}]
"""

TABLE_V2 = """
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PROVISIONED
      ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: 3}
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: owner, AttributeType: S}
        - {AttributeName: state, AttributeType: S}
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: byOwner
          KeySchema: [{AttributeName: owner, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
          ProvisionedThroughput: {ReadCapacityUnits: 2, WriteCapacityUnits: 2}
        - IndexName: byState
          KeySchema: [{AttributeName: state, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
          ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
      Tags: [{Key: stage, Value: two}]
"""

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Table:
{table}
  Seen:
    Type: AWS::SSM::Parameter
    Properties: {{Name: /cfn/ddb-seen, Type: String, Value: none}}
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {{Effect: Allow, Principal: {{Service: lambda.amazonaws.com}}, Action: sts:AssumeRole}}
      Policies:
        - PolicyName: stream
          PolicyDocument:
            Statement:
              - {{Effect: Allow, Action: ["dynamodb:*", "ssm:PutParameter", "logs:*"], Resource: "*"}}
  Reader:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Timeout: 10
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: |
          import boto3
          def handler(event, context):
              keys = ",".join(r["eventName"] + ":" + r["dynamodb"]["Keys"]["pk"]["S"]
                              for r in event["Records"])
              boto3.client("ssm").put_parameter(Name="/cfn/ddb-seen", Value=keys,
                                                Type="String", Overwrite=True)
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref Reader
      EventSourceArn: !GetAtt Table.StreamArn
      StartingPosition: TRIM_HORIZON
      BatchSize: 10
      MaximumBatchingWindowInSeconds: 1
Outputs:
  Name: {{Value: !Ref Table}}
  Arn: {{Value: !GetAtt Table.Arn}}
  StreamArn: {{Value: !GetAtt Table.StreamArn}}
"""


def template(table: str) -> str:
    return TEMPLATE.format(table=table.rstrip("\n"))


@pytest.fixture(scope="module")
def cfn(server):
    return make_client(server.endpoint, "cloudformation")


def outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def wait_parameter(ssm, name: str, wanted: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    value = ""
    while value != wanted and time.monotonic() < deadline:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        time.sleep(0.2)
    return value


def test_table_create_update_stream_mapping_delete(cfn, client) -> None:
    ddb, ssm = client("dynamodb"), client("ssm")
    cfn.create_stack(StackName="ddb", TemplateBody=template(TABLE_V1),
                     Capabilities=["CAPABILITY_IAM"])  # fmt: skip
    stack = settled(cfn, "ddb")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack_events(cfn, "ddb")
    out = outputs(stack)
    name = physical_ids(cfn, "ddb")["Table"]
    assert out["Name"] == name and name.startswith("ddb-Table-")
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["TableArn"] == out["Arn"] and table["LatestStreamArn"] == out["StreamArn"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["byOwner"]
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    assert ddb.list_tags_of_resource(ResourceArn=out["Arn"])["Tags"] == [
        {"Key": "team", "Value": "data"}
    ]

    # The mapping made from !GetAtt Table.StreamArn delivers the table's changes.
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "owner": {"S": "ann"}})
    assert wait_parameter(ssm, "/cfn/ddb-seen", "INSERT:a") == "INSERT:a"

    cfn.update_stack(StackName="ddb", TemplateBody=template(TABLE_V2),
                     Capabilities=["CAPABILITY_IAM"])  # fmt: skip
    stack = settled(cfn, "ddb")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack_events(cfn, "ddb")
    assert physical_ids(cfn, "ddb")["Table"] == name  # updated in place, not replaced
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
    indexes = {g["IndexName"]: g for g in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"byOwner", "byState"}
    assert all(g["IndexStatus"] == "ACTIVE" for g in indexes.values())
    assert indexes["byState"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert indexes["byOwner"]["ProvisionedThroughput"]["ReadCapacityUnits"] == 2
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "ttl",
    }
    assert ddb.list_tags_of_resource(ResourceArn=out["Arn"])["Tags"] == [
        {"Key": "stage", "Value": "two"}
    ]
    # The new index serves queries (the stream and its mapping kept working).
    ddb.put_item(TableName=name, Item={"pk": {"S": "b"}, "state": {"S": "new"}})
    found = ddb.query(TableName=name, IndexName="byState",
                      KeyConditionExpression="#s = :s", ExpressionAttributeNames={"#s": "state"},
                      ExpressionAttributeValues={":s": {"S": "new"}})["Items"]  # fmt: skip
    assert found == [{"pk": {"S": "b"}, "state": {"S": "new"}}]
    assert wait_parameter(ssm, "/cfn/ddb-seen", "INSERT:b") == "INSERT:b"

    # Back to V1: on demand again (the kept index's throughput dropped), byState removed
    # and TTL moved back.
    cfn.update_stack(StackName="ddb", TemplateBody=template(TABLE_V1),
                     Capabilities=["CAPABILITY_IAM"])  # fmt: skip
    stack = settled(cfn, "ddb")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack_events(cfn, "ddb")
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["byOwner"]
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires",
    }

    cfn.delete_stack(StackName="ddb")
    assert settled(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    assert name not in ddb.list_tables()["TableNames"]


PROTECTED = """
Parameters:
  Protect: {{Type: String, Default: "true"}}
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: {name}
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{{AttributeName: id, AttributeType: S}}]
      KeySchema: [{{AttributeName: id, KeyType: HASH}}]
      DeletionProtectionEnabled: !Ref Protect
      {extra}
"""


def test_deletion_protection_fails_the_delete(cfn, client) -> None:
    ddb = client("dynamodb")
    stack_id = cfn.create_stack(
        StackName="guarded", TemplateBody=PROTECTED.format(name="guarded", extra="")
    )["StackId"]
    assert settled(cfn, "guarded")["StackStatus"] == "CREATE_COMPLETE", stack_events(cfn, "guarded")
    assert ddb.describe_table(TableName="guarded")["Table"]["DeletionProtectionEnabled"] is True
    for protect in ("false", "true"):  # toggled in place by stack updates
        cfn.update_stack(StackName="guarded",
                         TemplateBody=PROTECTED.format(name="guarded", extra=""),
                         Parameters=[{"ParameterKey": "Protect", "ParameterValue": protect}])  # fmt: skip
        assert settled(cfn, "guarded")["StackStatus"] == "UPDATE_COMPLETE"
        table = ddb.describe_table(TableName="guarded")["Table"]
        assert table["DeletionProtectionEnabled"] is (protect == "true")
    cfn.delete_stack(StackName="guarded")
    assert settled(cfn, "guarded")["StackStatus"] == "DELETE_FAILED"
    reasons = [r for lid, s, r in stack_events(cfn, "guarded") if s == "DELETE_FAILED"]
    assert any("protected against deletion" in r for r in reasons), reasons
    assert "guarded" in ddb.list_tables()["TableNames"]

    # As on AWS, a DELETE_FAILED stack cannot be updated: lift the protection on the
    # table itself, then delete again.
    ddb.update_table(TableName="guarded", DeletionProtectionEnabled=False)
    cfn.delete_stack(StackName="guarded")
    assert settled(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert "guarded" not in ddb.list_tables()["TableNames"]


def test_point_in_time_recovery_fails_by_name(cfn, client) -> None:
    extra = "PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}"
    cfn.create_stack(StackName="pitr", TemplateBody=PROTECTED.format(name="pitr", extra=extra),
                     Parameters=[{"ParameterKey": "Protect", "ParameterValue": "false"}])  # fmt: skip
    assert settled(cfn, "pitr")["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [r for lid, s, r in stack_events(cfn, "pitr") if s == "CREATE_FAILED"]
    assert any("PointInTimeRecoverySpecification" in r for r in reasons), reasons
    assert "pitr" not in client("dynamodb").list_tables()["TableNames"]


SAM_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Notes:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey: {Name: id, Type: String}
      Tags: {app: notes}
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: order, AttributeType: S}]
      KeySchema: [{AttributeName: order, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  OnOrder:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Timeout: 10
      Environment:
        Variables: {NOTES: !Ref Notes}
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Notes}
      InlineCode: |
        import os, boto3
        notes = boto3.resource("dynamodb").Table(os.environ["NOTES"])
        def handler(event, context):
            for r in event["Records"]:
                order = r["dynamodb"]["NewImage"]["order"]["S"]
                notes.put_item(Item={"id": order, "event": r["eventName"]})
      Events:
        FromOrders:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Orders.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
            MaximumBatchingWindowInSeconds: 1
"""


def test_sam_simple_table_and_a_dynamodb_event(cfn, client) -> None:
    stack_id = cfn.create_stack(
        StackName="sam-ddb",
        TemplateBody=SAM_TEMPLATE,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )["StackId"]
    stack = settled(cfn, "sam-ddb")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack_events(cfn, "sam-ddb")
    ddb, names = client("dynamodb"), physical_ids(cfn, "sam-ddb")
    notes = ddb.describe_table(TableName=names["Notes"])["Table"]
    assert notes["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert notes["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert notes["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {"Key": "app", "Value": "notes"} in ddb.list_tags_of_resource(
        ResourceArn=notes["TableArn"]
    )["Tags"]

    # The function the stream triggers writes into the SimpleTable its policy grants.
    ddb.put_item(TableName=names["Orders"], Item={"order": {"S": "o-1"}})
    deadline = time.monotonic() + 30
    item = None
    while item is None and time.monotonic() < deadline:
        item = ddb.get_item(TableName=names["Notes"], Key={"id": {"S": "o-1"}}).get("Item")
        time.sleep(0.2)
    assert item == {"id": {"S": "o-1"}, "event": {"S": "INSERT"}}

    cfn.delete_stack(StackName="sam-ddb")
    assert settled(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    tables = ddb.list_tables()["TableNames"]
    assert names["Notes"] not in tables and names["Orders"] not in tables


KEYED = """
Parameters:
  Key: {Type: String, Default: id}
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: !Ref Key, AttributeType: S}]
      KeySchema: [{AttributeName: !Ref Key, KeyType: HASH}]
"""


def test_a_key_schema_change_replaces_the_table(cfn, client) -> None:
    ddb = client("dynamodb")
    stack_id = cfn.create_stack(StackName="rekey", TemplateBody=KEYED)["StackId"]
    assert settled(cfn, "rekey")["StackStatus"] == "CREATE_COMPLETE", stack_events(cfn, "rekey")
    first = physical_ids(cfn, "rekey")["Table"]
    cfn.update_stack(StackName="rekey", TemplateBody=KEYED,
                     Parameters=[{"ParameterKey": "Key", "ParameterValue": "pk"}])  # fmt: skip
    assert settled(cfn, "rekey")["StackStatus"] == "UPDATE_COMPLETE", stack_events(cfn, "rekey")
    second = physical_ids(cfn, "rekey")["Table"]
    assert second != first  # a new table under a new generated name; the old one deleted
    tables = ddb.list_tables()["TableNames"]
    assert second in tables and first not in tables
    assert ddb.describe_table(TableName=second)["Table"]["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"}
    ]
    cfn.delete_stack(StackName="rekey")
    assert settled(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE"
