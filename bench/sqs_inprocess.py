"""SQS's own CPU per message, without HTTP: the batch cycle in process.

    python bench/sqs_inprocess.py [--cycles 50] [--rounds 5] [--concurrency 16]

Workers call SendMessageBatch (10) + ReceiveMessage (10) + DeleteMessageBatch through
``Platform.call`` (provider validation, IAM admission as the account root, the
operation, its durable commits) on a fresh data directory, all on one event loop as
the server runs them. Prints the best round's process CPU per message (the commit
thread's included): the figure to compare builds by on a busy machine, where rates
swing with the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from sandlot.config import Settings
from sandlot.iam.principal import Principal
from sandlot.platform import Platform


async def measure(cycles: int, rounds: int, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        platform = Platform(Settings(), Path(data_dir))
        root = Principal.root("000000000000")

        async def call(operation: str, params: dict) -> dict:
            return await platform.call("sqs", operation, params, principal=root, region="us-east-1")

        url = (await call("CreateQueue", {"QueueName": "bench"}))["QueueUrl"]
        done = [0]

        async def worker() -> None:
            for _ in range(cycles):
                entries = [{"Id": f"m{i}", "MessageBody": "y" * 100} for i in range(10)]
                await call("SendMessageBatch", {"QueueUrl": url, "Entries": entries})
                got = await call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10})
                messages = got.get("Messages", [])
                if messages:
                    handles = [
                        {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ]
                    await call("DeleteMessageBatch", {"QueueUrl": url, "Entries": handles})
                    done[0] += len(messages)

        per_message = []
        for _ in range(rounds):
            done[0] = 0
            began = time.process_time()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            per_message.append((time.process_time() - began) / done[0] * 1e6)
        return {"cpu_us_per_message_best": round(min(per_message), 1),
                "rounds": [round(x, 1) for x in per_message]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=50, help="cycles per worker per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.cycles, args.rounds, args.concurrency))))


if __name__ == "__main__":
    main()
