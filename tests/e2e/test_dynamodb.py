"""DynamoDB end to end with boto3 (client and resource API) and the AWS CLI: tables,
items with conditions and updates, queries, scans, indexes, errors as AWS words them."""

from __future__ import annotations

import uuid
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.conftest import aws, code_and_status


def _name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def ddb(client):
    return client("dynamodb")


@pytest.fixture
def resource(server):
    return boto3.session.Session().resource(
        "dynamodb",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def _table(ddb, *, range_type: str | None = "S", **extra) -> str:
    name = _name()
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_type:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": range_type})
    attrs += extra.pop("more_attrs", [])
    ddb.create_table(
        TableName=name,
        KeySchema=schema,
        AttributeDefinitions=attrs,
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    return name


def _error(excinfo) -> tuple[str, str]:
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


# == control plane =====================================================================


def test_table_lifecycle(ddb):
    name = _name()
    created = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 3},
        Tags=[{"Key": "team", "Value": "a"}],
        DeletionProtectionEnabled=True,
        SSESpecification={"Enabled": True},
    )["TableDescription"]
    assert created["TableStatus"] == "CREATING"
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["TableArn"] == f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"] == [
        {"Key": "team", "Value": "a"}
    ]
    with pytest.raises(ClientError) as excinfo:
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    assert _error(excinfo) == ("ResourceInUseException", f"Table already exists: {name}")
    with pytest.raises(ClientError) as excinfo:
        ddb.delete_table(TableName=name)
    assert code_and_status(excinfo) == ("ValidationException", 400)
    ddb.update_table(TableName=name, DeletionProtectionEnabled=False,
                     BillingMode="PAY_PER_REQUEST")  # fmt: skip
    described = ddb.describe_table(TableName=name)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert ddb.delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"
    with pytest.raises(ClientError) as excinfo:
        ddb.describe_table(TableName=name)
    assert _error(excinfo) == (
        "ResourceNotFoundException",
        f"Requested resource not found: Table: {name} not found",
    )


def test_create_table_validation(ddb):
    with pytest.raises(ClientError) as excinfo:
        ddb.create_table(
            TableName=_name(),
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PROVISIONED",
        )
    assert _error(excinfo)[1].startswith("One or more parameter values were invalid: ")
    with pytest.raises(ClientError) as excinfo:
        ddb.create_table(
            TableName=_name(),
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    assert "Some index key attributes are not defined" in _error(excinfo)[1]


def test_list_tables_pages(ddb):
    names = sorted(_table(ddb) for _ in range(3))
    seen, start = [], None
    while True:
        kwargs = {"Limit": 2, **({"ExclusiveStartTableName": start} if start else {})}
        page = ddb.list_tables(**kwargs)
        seen += page["TableNames"]
        start = page.get("LastEvaluatedTableName")
        if not start:
            break
    assert set(names) <= set(seen) and seen == sorted(seen)


def test_stream_specification_is_recorded(ddb):
    name = _table(ddb, StreamSpecification={"StreamEnabled": True,
                                            "StreamViewType": "NEW_AND_OLD_IMAGES"})  # fmt: skip
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True,
                                            "StreamViewType": "NEW_AND_OLD_IMAGES"}  # fmt: skip
    assert table["LatestStreamArn"] == f"{table['TableArn']}/stream/{table['LatestStreamLabel']}"
    with pytest.raises(ClientError) as excinfo:
        ddb.update_table(TableName=name, StreamSpecification={
            "StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})  # fmt: skip
    assert code_and_status(excinfo) == ("ResourceInUseException", 400)
    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})


def test_tags_ttl_and_account_answers(ddb):
    name = _table(ddb)
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    ddb.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"
    }
    ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
    )
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "exp",
    }
    with pytest.raises(ClientError) as excinfo:
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
        )
    assert _error(excinfo) == ("ValidationException", "TimeToLive is already enabled")
    backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["ContinuousBackupsStatus"] == "ENABLED"
    assert ddb.describe_limits()["TableMaxReadCapacityUnits"] == 40000
    assert ddb.describe_endpoints()["Endpoints"][0]["CachePeriodInMinutes"] == 1440


def test_gsi_created_later_is_backfilled(ddb, server):
    name = _table(ddb)
    for i in range(30):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"p{i}"}, "sk": {"S": "x"},
                                           "color": {"S": "red" if i % 3 else "blue"}})  # fmt: skip
    ddb.update_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "color", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {"Create": {"IndexName": "by-color",
                        "KeySchema": [{"AttributeName": "color", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"}}}
        ],
    )  # fmt: skip
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        table = ddb.describe_table(TableName=name)["Table"]
        if table["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE":
            break
        time.sleep(0.05)
    assert table["TableStatus"] == "ACTIVE"
    assert table["ItemCount"] == 30 and table["GlobalSecondaryIndexes"][0]["ItemCount"] == 30
    found = ddb.query(TableName=name, IndexName="by-color", KeyConditionExpression="color = :c",
                      ExpressionAttributeValues={":c": {"S": "blue"}})  # fmt: skip
    assert found["Count"] == 10
    assert set(found["Items"][0]) == {"pk", "sk", "color"}
    ddb.update_table(TableName=name,
                     GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-color"}}])  # fmt: skip
    assert "GlobalSecondaryIndexes" not in ddb.describe_table(TableName=name)["Table"]


# == items =============================================================================


def test_put_get_delete_with_conditions_and_return_values(ddb):
    name = _table(ddb)
    key = {"pk": {"S": "a"}, "sk": {"S": "1"}}
    item = {**key, "n": {"N": "1.50"}, "b": {"B": b"\x00\xff"}, "l": {"L": [{"S": "x"}]},
            "m": {"M": {"k": {"BOOL": True}}}, "ns": {"NS": ["1", "2"]}, "z": {"NULL": True}}  # fmt: skip
    assert "Attributes" not in ddb.put_item(TableName=name, Item=item, ReturnValues="ALL_OLD")
    got = ddb.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]
    assert got["n"] == {"N": "1.5"} and got["b"] == {"B": b"\x00\xff"}
    assert got["m"] == {"M": {"k": {"BOOL": True}}}
    with pytest.raises(ClientError) as excinfo:
        ddb.put_item(TableName=name, Item=item, ConditionExpression="attribute_not_exists(pk)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")  # fmt: skip
    assert _error(excinfo) == ("ConditionalCheckFailedException", "The conditional request failed")
    assert excinfo.value.response["Item"]["n"] == {"N": "1.5"}
    old = ddb.put_item(TableName=name, Item={**key, "n": {"N": "2"}}, ReturnValues="ALL_OLD",
                       ConditionExpression="n = :old", ExpressionAttributeValues={
                           ":old": {"N": "1.5"}})  # fmt: skip
    assert old["Attributes"]["n"] == {"N": "1.5"}
    projected = ddb.get_item(TableName=name, Key=key, ProjectionExpression="n, #p",
                             ExpressionAttributeNames={"#p": "pk"})["Item"]  # fmt: skip
    assert projected == {"n": {"N": "2"}, "pk": {"S": "a"}}
    deleted = ddb.delete_item(TableName=name, Key=key, ReturnValues="ALL_OLD",
                              ReturnConsumedCapacity="TOTAL")  # fmt: skip
    assert deleted["Attributes"]["n"] == {"N": "2"}
    assert deleted["ConsumedCapacity"]["CapacityUnits"] == 1.0
    assert "Item" not in ddb.get_item(TableName=name, Key=key)


def test_update_expressions(ddb):
    name = _table(ddb)
    key = {"pk": {"S": "u"}, "sk": {"S": "1"}}
    out = ddb.update_item(
        TableName=name, Key=key,
        UpdateExpression="SET #c = if_not_exists(#c, :zero) + :one, tags = :tags, spare = :tags, "
                         "doc = :doc ADD visits :one, colors :red",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"},
                                   ":tags": {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}]},
                                   ":doc": {"M": {"deep": {"M": {"v": {"N": "1"}}}}},
                                   ":red": {"SS": ["red"]}},
        ReturnValues="ALL_NEW",
    )["Attributes"]  # fmt: skip
    assert out["count"] == {"N": "1"} and out["visits"] == {"N": "1"}
    out = ddb.update_item(
        TableName=name, Key=key,
        UpdateExpression="SET doc.deep.v = doc.deep.v - :one, tags = list_append(tags, :more) "
                         "REMOVE spare[0] DELETE colors :red",
        ExpressionAttributeValues={":one": {"N": "1"}, ":more": {"L": [{"S": "d"}]},
                                   ":red": {"SS": ["red"]}},
        ReturnValues="UPDATED_NEW",
    )["Attributes"]  # fmt: skip
    assert out["doc"] == {"M": {"deep": {"M": {"v": {"N": "0"}}}}}
    assert out["tags"] == {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}, {"S": "d"}]}
    item = ddb.get_item(TableName=name, Key=key)["Item"]
    assert item["spare"] == {"L": [{"S": "b"}, {"S": "c"}]}
    assert "colors" not in item  # the last element deleted: the set goes
    with pytest.raises(ClientError) as excinfo:
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET status = :v",
                        ExpressionAttributeValues={":v": {"S": "x"}})  # fmt: skip
    assert _error(excinfo) == (
        "ValidationException",
        "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: status",
    )
    with pytest.raises(ClientError) as excinfo:
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET a = :v",
                        ExpressionAttributeValues={":v": {"S": "x"}, ":x": {"S": "y"}})  # fmt: skip
    assert _error(excinfo)[1] == (
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}"
    )
    with pytest.raises(ClientError) as excinfo:
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET a = b + :v",
                        ExpressionAttributeValues={":v": {"N": "1"}})  # fmt: skip
    assert "refers to an attribute that does not exist" in _error(excinfo)[1]
    with pytest.raises(ClientError) as excinfo:
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET pk = :v",
                        ExpressionAttributeValues={":v": {"S": "x"}})  # fmt: skip
    assert _error(excinfo)[1] == (
        "One or more parameter values were invalid: Cannot update attribute pk. This attribute "
        "is part of the key"
    )
    with pytest.raises(ClientError) as excinfo:
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET a = ")
    assert _error(excinfo)[1].startswith('Invalid UpdateExpression: Syntax error; token: "<EOF>"')


def test_type_system_errors(ddb):
    name = _table(ddb, range_type="N")
    cases = [
        ({"pk": {"S": "a"}}, "One or more parameter values were invalid: Missing the key sk in "
                             "the item"),
        ({"pk": {"S": "a"}, "sk": {"S": "1"}}, "One or more parameter values were invalid: Type "
                                               "mismatch for key sk expected: N actual: S"),
        ({"pk": {"S": ""}, "sk": {"N": "1"}}, "One or more parameter values are not valid. The "
         "AttributeValue for a key attribute cannot contain an empty string value. Key: pk"),
        ({"pk": {"S": "a"}, "sk": {"N": "1"}, "s": {"SS": []}},
         "One or more parameter values were invalid: An string set  may not be empty"),
        ({"pk": {"S": "a"}, "sk": {"N": "1" * 39}},
         "Attempting to store more than 38 significant digits in a Number"),
        ({"pk": {"S": "a"}, "sk": {"N": "1"}, "big": {"S": "x" * 410_000}},
         "Item size has exceeded the maximum allowed size"),
        ({"pk": {"S": "é" * 1025}, "sk": {"N": "1"}}, "One or more parameter values were "
         "invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"),
    ]  # fmt: skip
    for item, message in cases:
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=name, Item=item)
        assert _error(excinfo) == ("ValidationException", message)
    # 38 digits are kept exactly; an empty string is fine outside keys.
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": "1" * 38}, "e": {"S": ""}})
    got = ddb.get_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1" * 38}})["Item"]
    assert got["sk"] == {"N": "1" * 38} and got["e"] == {"S": ""}
    with pytest.raises(ClientError) as excinfo:
        ddb.get_item(TableName=name, Key={"pk": {"S": "a"}})
    assert _error(excinfo)[1] == "The provided key element does not match the schema"


# == queries and scans ===================================================================


def test_query_orders_numbers_and_pages(ddb):
    name = _table(ddb, range_type="N")
    numbers = ["-1E+5", "-10", "-2.5", "-2", "0", "0.001", "1", "1.5", "9", "10", "100", "1E+20"]
    for n in numbers:
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"N": n}, "v": {"S": n}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "other"}, "sk": {"N": "5"}})
    out = ddb.query(TableName=name, KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "p"}})  # fmt: skip
    assert [i["v"]["S"] for i in out["Items"]] == numbers
    # Pages of 5 backwards, resumed from LastEvaluatedKey.
    seen, start = [], None
    while True:
        kwargs = {"ExclusiveStartKey": start} if start else {}
        page = ddb.query(TableName=name, KeyConditionExpression="pk = :p AND sk >= :low",
                         ExpressionAttributeValues={":p": {"S": "p"}, ":low": {"N": "-2"}},
                         ScanIndexForward=False, Limit=5, **kwargs)  # fmt: skip
        seen += [i["v"]["S"] for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    assert seen == list(reversed(numbers[3:]))
    between = ddb.query(TableName=name, KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                        ExpressionAttributeValues={":p": {"S": "p"}, ":a": {"N": "-2.5"},
                                                   ":b": {"N": "1"}, ":z": {"S": "0"}},
                        FilterExpression="v <> :z", Select="COUNT")  # fmt: skip
    assert between["ScannedCount"] == 5 and between["Count"] == 4 and "Items" not in between
    with pytest.raises(ClientError) as excinfo:
        ddb.query(TableName=name, KeyConditionExpression="sk = :s",
                  ExpressionAttributeValues={":s": {"N": "1"}})  # fmt: skip
    assert _error(excinfo)[1] == "Query condition missed key schema element: pk"


def test_query_strings_begins_with_and_filter(resource, ddb):
    name = _table(ddb)
    table = resource.Table(name)
    with table.batch_writer() as batch:
        for sk in ["a", "ab", "abc", "b", "é", "z"]:
            batch.put_item(Item={"pk": "p", "sk": sk, "n": Decimal(len(sk))})
    got = table.query(KeyConditionExpression=Key("pk").eq("p") & Key("sk").begins_with("ab"))
    assert [i["sk"] for i in got["Items"]] == ["ab", "abc"]
    got = table.query(KeyConditionExpression=Key("pk").eq("p"))
    assert [i["sk"] for i in got["Items"]] == ["a", "ab", "abc", "b", "z", "é"]  # UTF-8 bytes
    got = table.query(KeyConditionExpression=Key("pk").eq("p"),
                      FilterExpression=Attr("n").gt(1) | Attr("n").is_in([7]))  # fmt: skip
    assert [i["sk"] for i in got["Items"]] == ["ab", "abc"]
    assert got["ScannedCount"] == 6
    with pytest.raises(ClientError) as excinfo:
        table.query(KeyConditionExpression=Key("pk").eq("p"), FilterExpression=Attr("sk").eq("a"))
    assert _error(excinfo)[1] == (
        "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"
    )
    table.put_item(Item={"pk": "q", "sk": "1", "things": [1, 2], "nested": {"x": {"y": "deep"}}})
    item = table.get_item(Key={"pk": "q", "sk": "1"}, ProjectionExpression="nested.x.y, things[1]")
    assert item["Item"] == {"nested": {"x": {"y": "deep"}}, "things": [Decimal(2)]}
    with pytest.raises(ClientError) as excinfo:
        table.put_item(Item={"pk": "q", "sk": "1"}, ConditionExpression=Attr("things").size().eq(3))
    assert code_and_status(excinfo) == ("ConditionalCheckFailedException", 400)


def test_every_type_reads_back_as_written(ddb):
    # Reads answer the stored item JSON as it is where nothing is projected or filtered:
    # every type, binary and awkward strings must come back exactly as written.
    name = _table(ddb, range_type="N")
    item = {
        "pk": {"S": "p"}, "sk": {"N": "1"}, "bin": {"B": b"\x00\xff raw"},
        "bins": {"BS": [b"a", b"\x01"]}, "nums": {"NS": ["1.5", "-2"]}, "strs": {"SS": ["x"]},
        "text": {"S": 'quote " backslash \\ tab \t newline \n é 😀 \u2028 \x7f'},
        "null": {"NULL": True}, "flag": {"BOOL": True},
        "doc": {"M": {"l": {"L": [{"B": b"\x10"}, {"N": "0.001"}, {"M": {}}, {"L": []}]}}},
    }  # fmt: skip
    ddb.put_item(TableName=name, Item=item)
    ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"N": "2"}})
    key = {"pk": {"S": "p"}, "sk": {"N": "1"}}
    assert ddb.get_item(TableName=name, Key=key)["Item"] == item
    query = ddb.query(TableName=name, KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": "p"}})  # fmt: skip
    assert query["Items"] == [item, {"pk": {"S": "p"}, "sk": {"N": "2"}}]
    page = ddb.scan(TableName=name, Limit=1)
    assert page["Items"] == [item] and page["LastEvaluatedKey"] == key
    assert ddb.query(TableName=name, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "p"}, ":b": {"B": b"\x00\xff raw"}},
                     FilterExpression="bin = :b")["Items"] == [item]  # fmt: skip
    assert ddb.batch_get_item(RequestItems={name: {"Keys": [key]}})["Responses"][name] == [item]
    got = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": name, "Key": key}}])
    assert got["Responses"][0]["Item"] == item
    assert ddb.execute_statement(Statement=f'SELECT * FROM "{name}" WHERE pk = ? AND sk = 1',
                                 Parameters=[{"S": "p"}])["Items"] == [item]  # fmt: skip
    assert ddb.get_item(TableName=name, Key=key, ProjectionExpression="bin")["Item"] == {
        "bin": item["bin"]
    }


def test_scan_segments_cover_the_table_once(ddb):
    name = _table(ddb, range_type=None)
    for i in range(200):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "n": {"N": str(i)}})
    seen = []
    for segment in range(4):
        start = None
        while True:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            page = ddb.scan(TableName=name, Segment=segment, TotalSegments=4, Limit=17, **kwargs)
            seen += [i["pk"]["S"] for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
    assert sorted(seen) == sorted(f"k{i}" for i in range(200))
    odd = ddb.scan(TableName=name, FilterExpression="n BETWEEN :a AND :b AND NOT contains(pk, :s)",
                   ExpressionAttributeValues={":a": {"N": "10"}, ":b": {"N": "19"},
                                              ":s": {"S": "5"}})  # fmt: skip
    assert odd["Count"] == 9 and odd["ScannedCount"] == 200


def test_lsi_and_gsi_queries(ddb):
    name = _table(
        ddb,
        more_attrs=[{"AttributeName": "rank", "AttributeType": "N"},
                    {"AttributeName": "g", "AttributeType": "S"}],
        LocalSecondaryIndexes=[{"IndexName": "by-rank", "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "rank", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [
            {"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["extra"]}}],
    )  # fmt: skip
    for i, rank in enumerate([30, 10, 20]):
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": str(i)},
                                           "rank": {"N": str(rank)}, "g": {"S": "G"},
                                           "extra": {"S": "e"}, "hidden": {"S": "h"}})  # fmt: skip
    ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": "sparse"}})
    metrics = ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": "sparse"}},
                           ReturnItemCollectionMetrics="SIZE")["ItemCollectionMetrics"]  # fmt: skip
    assert metrics == {"ItemCollectionKey": {"pk": {"S": "p"}}, "SizeEstimateRangeGB": [0.0, 1.0]}
    used = ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": "0"}, "g": {"S": "H"},
                                              "rank": {"N": "30"}},
                        ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]  # fmt: skip
    assert used["CapacityUnits"] == 3.0 and used["Table"]["WriteCapacityUnits"] == 1.0
    assert used["GlobalSecondaryIndexes"] == {"by-g": {"CapacityUnits": 1.0,
                                                       "WriteCapacityUnits": 1.0}}  # fmt: skip
    ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": "0"}, "rank": {"N": "30"},
                                       "g": {"S": "G"}, "extra": {"S": "e"},
                                       "hidden": {"S": "h"}})  # fmt: skip
    by_rank = ddb.query(TableName=name, IndexName="by-rank", KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": "p"}})["Items"]  # fmt: skip
    assert [i["rank"]["N"] for i in by_rank] == ["10", "20", "30"]
    assert "hidden" not in by_rank[0]
    full = ddb.query(TableName=name, IndexName="by-rank", KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "p"}},
                     Select="ALL_ATTRIBUTES")["Items"]  # fmt: skip
    assert full[0]["hidden"] == {"S": "h"}
    by_g = ddb.query(TableName=name, IndexName="by-g", KeyConditionExpression="g = :g",
                     ExpressionAttributeValues={":g": {"S": "G"}})["Items"]  # fmt: skip
    assert len(by_g) == 3 and set(by_g[0]) == {"pk", "sk", "g", "extra"}
    for index, condition, values in (
        ("by-rank", "pk = :p", {":p": {"S": "p"}}),
        ("by-g", "g = :g", {":g": {"S": "G"}}),
    ):  # pages of one item, through both indexes, and a paged scan of each index
        seen, start = [], None
        while True:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            page = ddb.query(TableName=name, IndexName=index, KeyConditionExpression=condition,
                             ExpressionAttributeValues=values, Limit=1, **kwargs)  # fmt: skip
            seen += [i["sk"]["S"] for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        assert sorted(seen) == ["0", "1", "2"]
        seen, start = [], None
        while True:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            page = ddb.scan(TableName=name, IndexName=index, Limit=2, **kwargs)
            seen += [i["sk"]["S"] for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        assert sorted(seen) == ["0", "1", "2"]  # the sparse item is in neither index
    with pytest.raises(ClientError) as excinfo:
        ddb.query(TableName=name, IndexName="by-g", KeyConditionExpression="g = :g",
                  ExpressionAttributeValues={":g": {"S": "G"}}, ConsistentRead=True)  # fmt: skip
    assert _error(excinfo)[1] == "Consistent reads are not supported on global secondary indexes"


def test_one_megabyte_page_rule(ddb):
    name = _table(ddb)
    blob = "x" * 100_000
    for i in range(15):
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": f"{i:02}"},
                                           "v": {"S": blob}})  # fmt: skip
    page = ddb.query(TableName=name, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "p"}})  # fmt: skip
    assert 9 <= page["Count"] < 15 and "LastEvaluatedKey" in page


def test_aws_cli(server):
    name = _name()
    aws(server.endpoint, "dynamodb", "create-table", "--table-name", name,
        "--attribute-definitions", "AttributeName=id,AttributeType=S",
        "--key-schema", "AttributeName=id,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")  # fmt: skip
    aws(server.endpoint, "dynamodb", "put-item", "--table-name", name,
        "--item", '{"id": {"S": "1"}, "v": {"N": "42"}}')  # fmt: skip
    got = aws(server.endpoint, "dynamodb", "get-item", "--table-name", name,
              "--key", '{"id": {"S": "1"}}')  # fmt: skip
    assert got["Item"]["v"] == {"N": "42"}
    scanned = aws(server.endpoint, "dynamodb", "scan", "--table-name", name)
    assert scanned["Count"] == 1
    assert name in aws(server.endpoint, "dynamodb", "list-tables")["TableNames"]


# == batches and transactions ===========================================================


def test_batch_write_and_get(ddb):
    name = _table(ddb)
    puts = [{"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"S": f"{i:02}"}}}} for i in range(25)]
    assert ddb.batch_write_item(RequestItems={name: puts})["UnprocessedItems"] == {}
    with pytest.raises(ClientError) as excinfo:
        ddb.batch_write_item(RequestItems={name: puts + puts[:1]})
    assert code_and_status(excinfo) == ("ValidationException", 400)
    with pytest.raises(ClientError) as excinfo:
        ddb.batch_write_item(RequestItems={name: puts[:2] + puts[:1]})
    assert _error(excinfo)[1] == "Provided list of item keys contains duplicates"
    keys = [{"pk": {"S": "b"}, "sk": {"S": f"{i:02}"}} for i in range(0, 25, 5)]
    got = ddb.batch_get_item(RequestItems={name: {"Keys": keys + [
        {"pk": {"S": "b"}, "sk": {"S": "missing"}}]}})  # fmt: skip
    assert len(got["Responses"][name]) == 5 and got["UnprocessedKeys"] == {}
    deletes = [{"DeleteRequest": {"Key": k}} for k in keys]
    ddb.batch_write_item(RequestItems={name: deletes})
    assert ddb.scan(TableName=name)["Count"] == 20
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["ItemCount"] == 20 and table["TableSizeBytes"] == 20 * len(
        "pk" + "b" + "sk" + "00"
    )


def test_transactions_all_or_nothing(ddb):
    name = _table(ddb)
    a = {"pk": {"S": "acct"}, "sk": {"S": "a"}}
    b = {"pk": {"S": "acct"}, "sk": {"S": "b"}}
    ddb.put_item(TableName=name, Item={**a, "balance": {"N": "100"}})
    ddb.put_item(TableName=name, Item={**b, "balance": {"N": "0"}})

    def transfer(amount: str, token: str | None = None):
        extra = {"ClientRequestToken": token} if token else {}
        return ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": name, "Key": a, "UpdateExpression": "SET balance = balance - :x",
                        "ConditionExpression": "balance >= :x",
                        "ExpressionAttributeValues": {":x": {"N": amount}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Update": {"TableName": name, "Key": b, "UpdateExpression": "SET balance = balance + :x",
                        "ExpressionAttributeValues": {":x": {"N": amount}}}},
        ], **extra)  # fmt: skip

    transfer("30", token="t-1")
    transfer("30", token="t-1")  # the same token: answered again, not applied again
    with pytest.raises(ClientError) as excinfo:
        transfer("200")
    error = excinfo.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert error["Error"]["Message"] == (
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[ConditionalCheckFailed, None]"
    )
    reasons = error["CancellationReasons"]
    assert reasons[0]["Code"] == "ConditionalCheckFailed" and reasons[1]["Code"] == "None"
    assert reasons[0]["Item"]["balance"] == {"N": "70"}
    got = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": name, "Key": k}}
                                                for k in (a, b)])["Responses"]  # fmt: skip
    assert [r["Item"]["balance"]["N"] for r in got] == ["70", "30"]
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=[
            {"ConditionCheck": {"TableName": name, "Key": a,
                                "ConditionExpression": "attribute_exists(pk)"}},
            {"Delete": {"TableName": name, "Key": a}},
        ])  # fmt: skip
    assert _error(excinfo)[1] == (
        "Transaction request cannot include multiple operations on one item"
    )
    with pytest.raises(ClientError) as excinfo:
        transfer("1", token="t-1")
    assert code_and_status(excinfo) == ("IdempotentParameterMismatchException", 400)


def test_legacy_parameters(ddb):
    name = _table(ddb, range_type="N")
    key = {"pk": {"S": "l"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=name, Item={**key, "v": {"N": "1"}},
                 Expected={"pk": {"Exists": False}})  # fmt: skip
    with pytest.raises(ClientError) as excinfo:
        ddb.put_item(TableName=name, Item=key, Expected={"pk": {"Exists": False}})
    assert code_and_status(excinfo) == ("ConditionalCheckFailedException", 400)
    out = ddb.update_item(
        TableName=name, Key=key, ReturnValues="ALL_NEW",
        AttributeUpdates={"v": {"Action": "ADD", "Value": {"N": "4"}},
                          "l": {"Action": "ADD", "Value": {"L": [{"S": "x"}]}},
                          "gone": {"Action": "DELETE"}},
        Expected={"v": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "3"}]}},
    )["Attributes"]  # fmt: skip
    assert out["v"] == {"N": "5"} and out["l"] == {"L": [{"S": "x"}]}
    for sk in range(2, 6):
        ddb.put_item(TableName=name, Item={"pk": {"S": "l"}, "sk": {"N": str(sk)},
                                           "v": {"N": str(sk * 10)}})  # fmt: skip
    found = ddb.query(
        TableName=name,
        KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "l"}]},
                       "sk": {"ComparisonOperator": "BETWEEN",
                              "AttributeValueList": [{"N": "2"}, {"N": "5"}]}},
        QueryFilter={"v": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "40"}]},
                     "missing": {"ComparisonOperator": "NULL"}},
        ConditionalOperator="AND", AttributesToGet=["sk"],
    )  # fmt: skip
    assert found["Items"] == [{"sk": {"N": "4"}}, {"sk": {"N": "5"}}]
    scanned = ddb.scan(TableName=name, ConditionalOperator="OR", ScanFilter={
        "v": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "20"}]},
        "l": {"ComparisonOperator": "NOT_NULL"}})  # fmt: skip
    assert scanned["Count"] == 2
    with pytest.raises(ClientError) as excinfo:
        ddb.put_item(TableName=name, Item=key, Expected={"pk": {"Exists": False}},
                     ConditionExpression="attribute_not_exists(pk)")  # fmt: skip
    assert _error(excinfo)[1] == (
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"
    )


# == PartiQL ============================================================================


def test_partiql_statements(ddb):
    name = _table(ddb, range_type="N")
    ddb.execute_statement(Statement=f"INSERT INTO \"{name}\" VALUE {{'pk': 'a', 'sk': 1, "
                                    "'tags': <<'x', 'y'>>, 'doc': {'n': [1, 'two']}}")  # fmt: skip
    with pytest.raises(ClientError) as excinfo:
        ddb.execute_statement(Statement=f"INSERT INTO \"{name}\" VALUE {{'pk': 'a', 'sk': 1}}")
    assert _error(excinfo) == ("DuplicateItemException", "Duplicate primary key exists in table")
    for sk in range(2, 6):
        ddb.execute_statement(Statement=f'INSERT INTO "{name}" VALUE {{\'pk\': ?, \'sk\': ?}}',
                              Parameters=[{"S": "a"}, {"N": str(sk)}])  # fmt: skip
    got = ddb.execute_statement(Statement=f'SELECT * FROM "{name}" WHERE pk = ? AND sk = 1',
                                Parameters=[{"S": "a"}])["Items"]  # fmt: skip
    assert got[0]["doc"] == {"M": {"n": {"L": [{"N": "1"}, {"S": "two"}]}}}
    ddb.execute_statement(
        Statement=f"UPDATE \"{name}\" SET n = 10, doc.n = list_append(doc.n, ['three']) "
                  "REMOVE tags WHERE pk = 'a' AND sk = 1")  # fmt: skip
    got = ddb.get_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"]
    assert got["n"] == {"N": "10"} and "tags" not in got and len(got["doc"]["M"]["n"]["L"]) == 3
    with pytest.raises(ClientError) as excinfo:  # UPDATE changes existing items only
        ddb.execute_statement(Statement=f"UPDATE \"{name}\" SET n = 1 WHERE pk = 'b' AND sk = 1")
    assert code_and_status(excinfo) == ("ConditionalCheckFailedException", 400)
    page = ddb.execute_statement(
        Statement=f"SELECT sk FROM \"{name}\" WHERE pk = 'a' AND sk BETWEEN 2 AND 5", Limit=3
    )
    assert [i["sk"]["N"] for i in page["Items"]] == ["2", "3", "4"]
    rest = ddb.execute_statement(
        Statement=f"SELECT sk FROM \"{name}\" WHERE pk = 'a' AND sk BETWEEN 2 AND 5",
        NextToken=page["NextToken"])  # fmt: skip
    assert [i["sk"]["N"] for i in rest["Items"]] == ["5"]
    scanned = ddb.execute_statement(Statement=f'SELECT * FROM "{name}" WHERE n IS MISSING OR n > 5')
    assert len(scanned["Items"]) == 5
    ddb.execute_statement(Statement=f"DELETE FROM \"{name}\" WHERE pk = 'a' AND sk = 5")
    batch = ddb.batch_execute_statement(Statements=[
        {"Statement": f"UPDATE \"{name}\" SET v = 1 WHERE pk = 'a' AND sk = 2"},
        {"Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': 'a', 'sk': 3}}"},
    ])["Responses"]  # fmt: skip
    assert "Error" not in batch[0] and batch[1]["Error"]["Code"] == "DuplicateItem"
    with pytest.raises(ClientError) as excinfo:
        ddb.execute_transaction(TransactStatements=[
            {"Statement": f"UPDATE \"{name}\" SET v = 2 WHERE pk = 'a' AND sk = 2"},
            {"Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': 'a', 'sk': 3}}"},
        ])  # fmt: skip
    assert [r["Code"] for r in excinfo.value.response["CancellationReasons"]] == [
        "None", "DuplicateItem"]  # fmt: skip
    ddb.execute_transaction(TransactStatements=[
        {"Statement": f"UPDATE \"{name}\" SET v = 2 WHERE pk = 'a' AND sk = 2"},
        {"Statement": f"DELETE FROM \"{name}\" WHERE pk = 'a' AND sk = 3"},
    ])  # fmt: skip
    reads = ddb.execute_transaction(TransactStatements=[
        {"Statement": f"SELECT v FROM \"{name}\" WHERE pk = 'a' AND sk = 2"},
        {"Statement": f"SELECT v FROM \"{name}\" WHERE pk = 'a' AND sk = 3"},
    ])["Responses"]  # fmt: skip
    assert reads == [{"Item": {"v": {"N": "2"}}}, {}]
    with pytest.raises(ClientError) as excinfo:
        ddb.execute_statement(Statement=f'SELEKT * FROM "{name}"')
    assert _error(excinfo)[1].startswith("Statement wasn't well formed")


# == IAM ================================================================================


def test_fine_grained_access_with_leading_keys(server, client, ddb):
    import json

    from tests.e2e.conftest import make_client

    name = _table(ddb)
    arn = f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}"
    iam = client("iam")
    user = _name("u")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
        "Resource": arn,
        "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}},
    }]}  # fmt: skip
    iam.put_user_policy(UserName=user, PolicyName="own-rows", PolicyDocument=json.dumps(policy))
    mine = make_client(server.endpoint, "dynamodb", key["AccessKeyId"], key["SecretAccessKey"])
    mine.put_item(TableName=name, Item={"pk": {"S": user}, "sk": {"S": "1"}})
    assert mine.get_item(TableName=name, Key={"pk": {"S": user}, "sk": {"S": "1"}})["Item"]
    got = mine.query(TableName=name, KeyConditionExpression="pk = :me",
                     ExpressionAttributeValues={":me": {"S": user}})  # fmt: skip
    assert got["Count"] == 1
    for call in (
        lambda: mine.put_item(TableName=name, Item={"pk": {"S": "someone"}, "sk": {"S": "1"}}),
        lambda: mine.query(
            TableName=name,
            KeyConditionExpression="pk = :x",
            ExpressionAttributeValues={":x": {"S": "someone"}},
        ),  # fmt: skip
        lambda: mine.scan(TableName=name),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert code_and_status(excinfo) == ("AccessDeniedException", 400)
