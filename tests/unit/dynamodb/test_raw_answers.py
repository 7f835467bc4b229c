"""Stored item JSON handed to the wire as it is (``RawJson``): the answer a client gets
is the same JSON the model-driven serializer writes from the parsed items, and an
internal caller (``Platform.call``) still gets dicts."""

from __future__ import annotations

import asyncio
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sandlot.config import Settings
from sandlot.gateway.app import Gateway
from sandlot.iam.principal import Principal
from sandlot.platform import Platform
from sandlot.protocol import HttpRequest, RawJson
from sandlot.protocol._serial_json import dumps
from sandlot.protocol._serial_raw import body_with_raw
from sandlot.services.provider import RequestContext

ITEM = {
    "pk": {"S": "p"},
    "sk": {"N": "1"},
    "bin": {"B": b"\x00\xff binary"},
    "bins": {"BS": [b"a", b"\x01"]},
    "text": {"S": 'quote " backslash \\ tab \t newline \n é 😀 \u2028'},
    "nums": {"NS": ["1.5", "-2", "100"]},
    "strs": {"SS": ["x", "y"]},
    "null": {"NULL": True},
    "flag": {"BOOL": False},
    "doc": {"M": {"deep": {"L": [{"B": b"\x10"}, {"N": "0.001"}, {"M": {}}]}, "e": {"L": []}}},
}


def test_raw_members_are_spliced_as_they_are() -> None:
    def convert(value):
        return {k: v for k, v in value.items() if k in ("Count", "Other")}

    names = {"Items": "Items", "Count": "Count"}
    body = body_with_raw(
        {"Items": RawJson('[{"a":{"S":"b"}}]'), "Count": 1, "Unknown": RawJson("[]")},
        names,
        convert,
        dumps,
    )
    assert json.loads(body) == {"Items": [{"a": {"S": "b"}}], "Count": 1}
    only = body_with_raw({"Items": RawJson("[]")}, names, lambda v: {}, dumps)
    assert json.loads(only) == {"Items": []}


@pytest.fixture
def platform(tmp_path):
    platform = Platform(Settings(), tmp_path)
    yield platform
    platform.close()


def _request(operation: str, params: dict) -> HttpRequest:
    body = json.dumps(params).encode()
    aws = AWSRequest("POST", "http://127.0.0.1:4566/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{operation}",
    })  # fmt: skip
    SigV4Auth(Credentials("test", "test"), "dynamodb", "us-east-1").add_auth(aws)
    headers = {k.lower(): v for k, v in aws.headers.items()} | {"host": "127.0.0.1:4566"}
    return HttpRequest("POST", "/", "", headers, body)


def test_wire_answers_equal_the_model_serialized_ones(platform) -> None:
    gateway = Gateway(platform)
    root = Principal.root("000000000000")
    serializer = gateway._serializer("dynamodb", "json")
    provider = platform.provider("dynamodb")

    async def internal(operation: str, params: dict) -> dict:
        return await platform.call("dynamodb", operation, params, principal=root,
                                   region="us-east-1")  # fmt: skip

    async def main() -> None:
        await internal("CreateTable", {
            "TableName": "t", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "N"}],
        })  # fmt: skip
        await internal("PutItem", {"TableName": "t", "Item": ITEM})
        await internal("PutItem", {"TableName": "t", "Item": {"pk": {"S": "p"}, "sk": {"N": "2"}}})
        wire = {
            "GetItem": {"TableName": "t", "Key": {"pk": {"S": "p"}, "sk": {"N": "1"}}},
            "Query": {"TableName": "t", "KeyConditionExpression": "pk = :p",
                      "ExpressionAttributeValues": {":p": {"S": "p"}}},
            "Scan": {"TableName": "t", "Limit": 1},
        }  # fmt: skip
        for operation, params in wire.items():
            got = await internal(operation, json.loads(json.dumps(params)))
            # An internal caller reads dicts (binary as bytes), never RawJson.
            items = [got["Item"]] if operation == "GetItem" else got["Items"]
            assert items[0] == ITEM and all(type(i) is dict for i in items)
            response = await gateway.handle(_request(operation, params))
            assert response.status == 200, response.body
            expected = serializer.serialize(
                serializer.model.operation_model(operation), got, "rid"
            ).body
            assert json.loads(response.body) == json.loads(expected)
            # ... and the client's answer was the stored JSON, not a re-serialisation.
            ctx = RequestContext("rid", "000000000000", "us-east-1", root, "dynamodb",
                                 operation, _request(operation, params))  # fmt: skip
            method = {"GetItem": provider.get_item, "Query": provider.query,
                      "Scan": provider.scan}[operation]  # fmt: skip
            answer = method(ctx, json.loads(json.dumps(params)))
            assert type(answer.get("Item") or answer.get("Items")) is RawJson

    asyncio.run(main())
