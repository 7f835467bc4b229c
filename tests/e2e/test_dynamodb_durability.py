"""DynamoDB under kill -9: every acknowledged write (puts, updates, transactions) is
there after a restart, with its index rows; nothing of a refused transaction is."""

from __future__ import annotations

import threading
import time

from botocore.exceptions import BotoCoreError, ClientError

from tests.e2e.conftest import make_client
from tests.e2e.server import SandlotServer


def test_acknowledged_writes_survive_kill_9(tmp_path):
    server = SandlotServer(tmp_path, lambda_role=False).start()
    ddb = make_client(server.endpoint, "dynamodb")
    ddb.create_table(
        TableName="durable",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "w", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-writer",
                                 "KeySchema": [{"AttributeName": "w", "KeyType": "HASH"},
                                               {"AttributeName": "sk", "KeyType": "RANGE"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    ddb.put_item(TableName="durable", Item={"pk": {"S": "counter"}, "sk": {"N": "0"}})
    acknowledged: dict[str, set[int]] = {}
    counted = [0]
    stop = threading.Event()

    def writer(worker: int) -> None:
        client = make_client(server.endpoint, "dynamodb")
        mine = acknowledged.setdefault(f"w{worker}", set())
        n = 0
        while not stop.is_set():
            n += 1
            try:
                if n % 5 == 0:  # a transaction: an item and a counter increment together
                    client.transact_write_items(TransactItems=[
                        {"Put": {"TableName": "durable", "Item": {
                            "pk": {"S": f"w{worker}"}, "sk": {"N": str(n)},
                            "w": {"S": f"w{worker}"}}}},
                        {"Update": {"TableName": "durable",
                                    "Key": {"pk": {"S": "counter"}, "sk": {"N": "0"}},
                                    "UpdateExpression": "ADD c :one",
                                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                    ])  # fmt: skip
                    counted[0] += 1
                else:
                    client.put_item(TableName="durable", Item={
                        "pk": {"S": f"w{worker}"}, "sk": {"N": str(n)}, "w": {"S": f"w{worker}"}})  # fmt: skip
            except (BotoCoreError, ClientError):
                return  # the server died under us: never acknowledged
            mine.add(n)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    while sum(len(v) for v in acknowledged.values()) < 400:
        time.sleep(0.01)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(30)

    with SandlotServer(tmp_path, lambda_role=False) as restarted:
        ddb = make_client(restarted.endpoint, "dynamodb")
        for writer_name, numbers in acknowledged.items():
            for index in (None, "by-writer"):
                found, start = set(), None
                key = "w" if index else "pk"
                while True:
                    kwargs = {"IndexName": index} if index else {}
                    if start:
                        kwargs["ExclusiveStartKey"] = start
                    page = ddb.query(TableName="durable", KeyConditionExpression=f"{key} = :w",
                                     ExpressionAttributeValues={":w": {"S": writer_name}},
                                     **kwargs)  # fmt: skip
                    found |= {int(i["sk"]["N"]) for i in page["Items"]}
                    start = page.get("LastEvaluatedKey")
                    if not start:
                        break
                lost = numbers - found
                assert not lost, f"{len(lost)} acknowledged writes of {writer_name} lost ({index})"
        counter = ddb.get_item(TableName="durable",
                               Key={"pk": {"S": "counter"}, "sk": {"N": "0"}})["Item"]  # fmt: skip
        # Every acknowledged transaction counted; at most the in-flight ones more.
        assert counted[0] <= int(counter["c"]["N"]) <= counted[0] + 4
