"""DynamoDB throughput and Query latency, against sandlot and optionally a peer.

    python bench/dynamodb.py --seconds 5 --items 100000 \
        [--peer-endpoint http://127.0.0.1:5000 --peer-items 10000]

Measures, over keep-alive connections from an asyncio client speaking DynamoDB's JSON
protocol (dev-mode credentials: signed once, not verifiable):
  - PutItem/s at concurrency 16 (each answered write is committed; target >= 3,000);
  - GetItem/s at concurrency 16 (target >= 5,000);
  - Query returning 100 items, p50, on a table of ``--items`` items loaded with
    BatchWriteItem (target <= 2 ms on 1,000,000 items).
The peer (e.g. moto's server mode, ``moto_server -p 5000``) gets the same requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid

from common import JsonConnection, cpu_seconds, percentiles, start_server

PARTITION_ITEMS = 100  # a Query returns one partition of this many items


class Connection(JsonConnection):
    """DynamoDB JSON requests over one keep-alive connection."""

    service, target = "dynamodb", "DynamoDB_20120810"


def _item(pk: str, sk: int) -> dict:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}, "payload": {"S": "x" * 100}}


async def create_table(conn: Connection) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    await conn.call(
        "CreateTable",
        {
            "TableName": name,
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    return name


def server_cpu_us(pid: int | None, cpu_before: float, requests: int) -> dict:
    """The server's CPU per request since ``cpu_before`` (its CPU seconds then): the
    figure to compare builds by on a busy machine, where rates swing with other load."""
    if pid is None or not requests:
        return {}
    return {"server_cpu_us": round((cpu_seconds(pid) - cpu_before) / requests * 1e6, 1)}


async def rate(host, port, seconds, concurrency, request, pid=None) -> dict:
    """Requests/s of ``request(conn, worker, n)`` over ``seconds`` after a warm-up (and
    the server's CPU per request when its ``pid`` is given)."""
    done = [0]

    async def worker(index: int, until: float, count: bool) -> None:
        conn = await Connection(host, port).open()
        n = 0
        while time.perf_counter() < until:
            await request(conn, index, n)
            n += 1
            if count:
                done[0] += 1
        conn.close()

    await asyncio.gather(*(worker(i, time.perf_counter() + 0.5, False) for i in range(concurrency)))
    cpu, began = cpu_seconds(pid) if pid else 0.0, time.perf_counter()
    await asyncio.gather(*(worker(i, began + seconds, True) for i in range(concurrency)))
    per_s = round(done[0] / (time.perf_counter() - began))
    return {"per_s": per_s, **server_cpu_us(pid, cpu, done[0])}


async def load(host: str, port: int, table: str, items: int, concurrency: int) -> float:
    """``items`` items in partitions of PARTITION_ITEMS, by BatchWriteItem; seconds taken."""
    total = [0]
    began = time.perf_counter()

    async def worker(index: int) -> None:
        conn = await Connection(host, port).open()
        for start in range(index * 25, items, 25 * concurrency):
            batch = [
                {"PutRequest": {"Item": _item(f"p{i // PARTITION_ITEMS}", i % PARTITION_ITEMS)}}
                for i in range(start, min(start + 25, items))
            ]
            out = await conn.call("BatchWriteItem", {"RequestItems": {table: batch}})
            assert not out.get("UnprocessedItems"), out
            total[0] += len(batch)
        conn.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return time.perf_counter() - began


async def query_latency(host, port, table, items, samples, pid=None) -> dict:
    conn = await Connection(host, port).open()
    cpu = cpu_seconds(pid) if pid else 0.0
    partitions = max(1, items // PARTITION_ITEMS)
    latencies = []
    for _ in range(samples):
        pk = f"p{random.randrange(partitions)}"
        began = time.perf_counter()
        out = await conn.call(
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": pk}},
            },
        )
        latencies.append(time.perf_counter() - began)
        assert out["Count"] == PARTITION_ITEMS, out["Count"]
    conn.close()
    return {**percentiles(latencies), **server_cpu_us(pid, cpu, samples)}


async def measure(host, port, seconds, concurrency, items, samples, pid=None) -> dict:
    conn = await Connection(host, port).open()
    writes = await create_table(conn)
    reads = await create_table(conn)
    conn.close()

    async def put(c: Connection, worker: int, n: int) -> None:
        await c.call("PutItem", {"TableName": writes, "Item": _item(f"w{worker}", n)})

    async def get(c: Connection, worker: int, n: int) -> None:
        i = random.randrange(items)
        key = {"pk": {"S": f"p{i // PARTITION_ITEMS}"}, "sk": {"N": str(i % PARTITION_ITEMS)}}
        out = await c.call("GetItem", {"TableName": reads, "Key": key})
        assert "Item" in out

    put_rate = await rate(host, port, seconds, concurrency, put, pid)
    load_s = await load(host, port, reads, items, concurrency)
    get_rate = await rate(host, port, seconds, concurrency, get, pid)
    queries = await query_latency(host, port, reads, items, samples, pid)
    return {
        "put_item": put_rate,
        "load": {
            "items": items,
            "seconds": round(load_s, 1),
            "items_per_s": round(items / load_s),
        },  # fmt: skip
        "get_item": get_rate,
        "query_100_items": queries,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--items", type=int, default=100_000, help="items in the Query table")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--peer-endpoint", help="also measure this DynamoDB endpoint (moto)")
    parser.add_argument("--peer-items", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            result = asyncio.run(
                measure(
                    "127.0.0.1",
                    port,
                    args.seconds,
                    args.concurrency,
                    args.items,
                    args.samples,
                    process.pid,
                )  # fmt: skip
            )
            print(json.dumps({"sandlot": result}, indent=2), flush=True)
        finally:
            process.terminate()
            process.wait(10)
    if args.peer_endpoint:
        host, _, peer_port = args.peer_endpoint.split("//", 1)[1].partition(":")
        result = asyncio.run(
            measure(
                host,
                int(peer_port),
                args.seconds,
                args.concurrency,
                args.peer_items,
                min(args.samples, 100),
            )  # fmt: skip
        )
        print(json.dumps({"peer": {"endpoint": args.peer_endpoint, **result}}, indent=2))


if __name__ == "__main__":
    main()
