"""DynamoDB's per-request CPU inside the server process, without HTTP or a client.

    python bench/dynamodb_inprocess.py [--items 20000] [--rounds 7] [--count 300]

Signed DynamoDB requests (dev-mode key, as bench/dynamodb.py sends) go through
``Gateway.handle`` of an in-process platform on a temporary data dir: routing, SigV4
parsing, IAM admission, the protocol's parse and serialize and the provider — what a
request costs the server's event loop minus uvicorn and the socket. Prints the best of
``--rounds`` rounds of ``--count`` requests, in CPU microseconds per request
(``time.process_time``, so the write path's commit thread counts too), for GetItem,
a Query returning 100 items, and PutItem one at a time (each its own commit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

sys.path.insert(0, str(Path(__file__).parent))
from common import DEV_KEY  # noqa: E402

from sandlot.config import Settings  # noqa: E402
from sandlot.gateway.app import Gateway  # noqa: E402
from sandlot.platform import Platform  # noqa: E402
from sandlot.protocol import HttpRequest  # noqa: E402

PARTITION_ITEMS = 100
TABLE = "bench"


def request(operation: str, params: dict) -> HttpRequest:
    body = json.dumps(params).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{operation}",
    }
    aws = AWSRequest("POST", "http://127.0.0.1:4566/", data=body, headers=headers)
    SigV4Auth(DEV_KEY, "dynamodb", "us-east-1").add_auth(aws)
    lowered = {k.lower(): v for k, v in aws.headers.items()} | {"host": "127.0.0.1:4566"}
    return HttpRequest("POST", "/", "", lowered, body)


def item(pk: str, sk: int) -> dict:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}, "payload": {"S": "x" * 100}}


async def call(gateway: Gateway, operation: str, params: dict) -> dict:
    response = await gateway.handle(request(operation, params))
    out = json.loads(response.body or b"{}")
    assert response.status == 200, out
    return out


async def main_async(items: int, rounds: int, count: int) -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        platform = Platform(Settings(), Path(data_dir))
        try:
            gateway = Gateway(platform)
            await call(gateway, "CreateTable", {
                "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                              {"AttributeName": "sk", "KeyType": "RANGE"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                         {"AttributeName": "sk", "AttributeType": "N"}],
            })  # fmt: skip
            for start in range(0, items, 25):
                batch = [
                    {"PutRequest": {"Item": item(f"p{i // PARTITION_ITEMS}", i % PARTITION_ITEMS)}}
                    for i in range(start, min(start + 25, items))
                ]
                await call(gateway, "BatchWriteItem", {"RequestItems": {TABLE: batch}})
            partitions = max(1, items // PARTITION_ITEMS)

            def get(n: int) -> HttpRequest:
                i = random.randrange(items)
                key = {"pk": {"S": f"p{i // PARTITION_ITEMS}"}, "sk": {"N": str(i % 100)}}
                return request("GetItem", {"TableName": TABLE, "Key": key})

            def query(n: int) -> HttpRequest:
                return request("Query", {
                    "TableName": TABLE, "KeyConditionExpression": "pk = :p",
                    "ExpressionAttributeValues": {":p": {"S": f"p{random.randrange(partitions)}"}},
                })  # fmt: skip

            def put(n: int) -> HttpRequest:
                return request("PutItem", {"TableName": TABLE, "Item": item("w", n)})

            results = {}
            for name, make in (("get_item", get), ("query_100_items", query), ("put_item", put)):
                best = float("inf")
                for r in range(rounds):
                    batch = [make(r * count + n) for n in range(count)]
                    began = time.process_time()
                    for one in batch:
                        response = await gateway.handle(one)
                        assert response.status == 200, response.body
                    best = min(best, time.process_time() - began)
                results[name] = round(best / count * 1e6, 1)
            return {"cpu_us_per_request": results, "items": items}
        finally:
            platform.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args.items, args.rounds, args.count)), indent=2))


if __name__ == "__main__":
    main()
