"""SQS throughput and long-poll latency, against sandlot and optionally a peer.

    python bench/sqs.py --seconds 5 [--peer-endpoint http://127.0.0.1:5000]

Measures, over keep-alive connections from an asyncio client speaking SQS's JSON
protocol (dev-mode credentials: signed once, not verifiable, so the client spends no
time signing):
  - SendMessage/s at concurrency 16 (target >= 3,000);
  - messages/s through SendMessageBatch + ReceiveMessage + DeleteMessageBatch in
    batches of 10 at concurrency 16 (target >= 10,000);
  - how long a long-polling ReceiveMessage (WaitTimeSeconds=20) takes to return after
    a SendMessage is answered, p50 (target <= 5 ms).
The peer (e.g. moto's server mode, ``moto_server -p 5000``) gets the same requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid

from common import JsonConnection, cpu_seconds, percentiles, start_server


class Connection(JsonConnection):
    """SQS JSON requests over one keep-alive connection."""

    service, target = "sqs", "AmazonSQS"


async def send_rate(host: str, port: int, url: str, seconds: float, concurrency: int) -> dict:
    latencies: list[float] = []

    async def worker(until: float, record: bool) -> None:
        conn = await Connection(host, port).open()
        while time.perf_counter() < until:
            began = time.perf_counter()
            await conn.call("SendMessage", {"QueueUrl": url, "MessageBody": "x" * 100})
            if record:
                latencies.append(time.perf_counter() - began)
        conn.close()

    await asyncio.gather(*(worker(time.perf_counter() + 0.5, False) for _ in range(concurrency)))
    began = time.perf_counter()
    await asyncio.gather(*(worker(began + seconds, True) for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {"sends_per_s": round(len(latencies) / elapsed), **percentiles(latencies)}


async def batch_rate(host: str, port: int, url: str, seconds: float, concurrency: int) -> dict:
    done = [0]

    async def worker(until: float) -> None:
        conn = await Connection(host, port).open()
        while time.perf_counter() < until:
            entries = [{"Id": f"m{i}", "MessageBody": "y" * 100} for i in range(10)]
            await conn.call("SendMessageBatch", {"QueueUrl": url, "Entries": entries})
            got = await conn.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10})
            messages = got.get("Messages", [])
            if messages:
                handles = [
                    {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ]
                await conn.call("DeleteMessageBatch", {"QueueUrl": url, "Entries": handles})
                done[0] += len(messages)
        conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker(began + seconds) for _ in range(concurrency)))
    return {"messages_per_s": round(done[0] / (time.perf_counter() - began))}


async def long_poll_latency(host: str, port: int, url: str, samples: int) -> dict:
    """From issuing a SendMessage to a waiting ReceiveMessage's answer (the send's own
    round trip included), and from the send's answer to the receive's."""
    receiver = await Connection(host, port).open()
    sender = await Connection(host, port).open()
    from_issue: list[float] = []
    from_answer: list[float] = []
    for _ in range(samples):
        poll = asyncio.create_task(
            receiver.call("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20})
        )
        await asyncio.sleep(0.01)  # the receive is waiting in the server
        issued = time.perf_counter()
        await sender.call("SendMessage", {"QueueUrl": url, "MessageBody": "ping"})
        answered = time.perf_counter()
        got = await poll
        done = time.perf_counter()
        from_issue.append(done - issued)
        from_answer.append(done - answered)
        (message,) = got["Messages"]
        await sender.call(
            "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]}
        )
    receiver.close()
    sender.close()
    return {
        "from_send_issued": percentiles(from_issue),
        "from_send_answered": percentiles(from_answer),
    }


async def measure(
    host: str,
    port: int,
    seconds: float,
    concurrency: int,
    samples: int,
    pid: int | None = None,
    only: str | None = None,
) -> dict:
    conn = await Connection(host, port).open()
    urls = {}
    for kind in ("send", "batch", "poll"):
        name = f"bench-{kind}-{uuid.uuid4().hex[:6]}"
        urls[kind] = (await conn.call("CreateQueue", {"QueueName": name}))["QueueUrl"]
    conn.close()
    result = {}
    if only in (None, "send"):
        run = send_rate(host, port, urls["send"], seconds, concurrency)
        result["send"] = await _with_cpu(pid, run)
    if only in (None, "batch"):
        run = batch_rate(host, port, urls["batch"], seconds, concurrency)
        result["send_receive_delete_batches"] = await _with_cpu(pid, run)
    if only in (None, "poll"):
        result["long_poll"] = await long_poll_latency(host, port, urls["poll"], samples)
    return result


async def _with_cpu(pid: int | None, run) -> dict:
    """The run's result plus the server's CPU per message (``server_cpu_us_per_message``):
    the figure to compare on a busy machine, where rates swing with the load."""
    if pid is None:
        return await run
    cpu, began = cpu_seconds(pid), time.perf_counter()
    result = await run
    spent, elapsed = cpu_seconds(pid) - cpu, time.perf_counter() - began
    rate = result.get("sends_per_s") or result.get("messages_per_s")
    if rate:
        result["server_cpu_us_per_message"] = round(spent / (rate * elapsed) * 1e6, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--peer-endpoint", help="also measure this SQS endpoint (e.g. moto_server)")
    parser.add_argument("--peer-samples", type=int, default=20, help="long polls on the peer")
    parser.add_argument(
        "--only", choices=("send", "batch", "poll"), help="one measure (e.g. to profile it)"
    )
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
                    args.samples,
                    process.pid,
                    args.only,
                )
            )
            print(json.dumps({"sandlot": result}, indent=2))
        finally:
            process.terminate()
            process.wait(10)
    if args.peer_endpoint:
        host, _, peer_port = args.peer_endpoint.split("//", 1)[1].partition(":")
        result = asyncio.run(
            measure(
                host, int(peer_port), args.seconds, args.concurrency, args.samples, only=args.only
            )
        )
        print(json.dumps({"peer": {"endpoint": args.peer_endpoint, **result}}, indent=2))


if __name__ == "__main__":
    main()
