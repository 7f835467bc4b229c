"""Kinesis across kill -9: every acknowledged record is there after a restart, in
order, and sequence numbers go on increasing (also past a reshard's numbers)."""

from __future__ import annotations

import threading
import time

from tests.e2e.conftest import make_client
from tests.e2e.server import SandlotServer


def test_acknowledged_records_survive_kill_9(tmp_path):
    server = SandlotServer(tmp_path).start()
    acknowledged: list[str] = []
    try:
        kinesis = make_client(server.endpoint, "kinesis")
        kinesis.create_stream(StreamName="durable", ShardCount=2)
        kinesis.split_shard(StreamName="durable", ShardToSplit="shardId-000000000001",
                            NewStartingHashKey=str(2**127 + 2**126))  # fmt: skip
        stop = threading.Event()

        def writer() -> None:
            client = make_client(server.endpoint, "kinesis")
            i = 0
            while not stop.is_set():
                try:
                    got = client.put_records(
                        StreamName="durable",
                        Records=[
                            {"Data": f"{i}-{j}".encode(), "PartitionKey": f"k{j}"}
                            for j in range(50)
                        ],
                    )
                except Exception:
                    return  # the server is gone: what was acknowledged is counted
                acknowledged.extend(r["SequenceNumber"] for r in got["Records"]
                                    if "SequenceNumber" in r)  # fmt: skip
                i += 1

        thread = threading.Thread(target=writer)
        thread.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 1000 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()  # SIGKILL while the writer is mid-request
        stop.set()
        thread.join()
    finally:
        server.kill()
    with SandlotServer(tmp_path) as restarted:
        kinesis = make_client(restarted.endpoint, "kinesis")
        found: list[str] = []
        for shard in kinesis.list_shards(StreamName="durable")["Shards"]:
            iterator = kinesis.get_shard_iterator(
                StreamName="durable", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                got = kinesis.get_records(ShardIterator=iterator)
                numbers = [r["SequenceNumber"] for r in got["Records"]]
                assert numbers == sorted(numbers, key=int)
                found += numbers
                if not got["Records"]:
                    break
                iterator = got.get("NextShardIterator")
        assert set(acknowledged) <= set(found)
        after = kinesis.put_record(StreamName="durable", Data=b"after", PartitionKey="k0")
        assert int(after["SequenceNumber"]) > max(int(n) for n in found)
