"""S3 benchmark: object throughput, listing speed and memory under a large object.

Starts a real server (dev mode, so plain unsigned HTTP requests act as the default
account's root), then measures with a raw-socket asyncio client (no SDK overhead on
the client side, which shares the machine's cores with the server):

1. 1 MB PutObject and GetObject at concurrency 8 (keep-alive connections): MB/s;
   then the same with SSE-KMS (each PUT asks KMS for a data key, each GET asks KMS to
   decrypt it; the bytes are sealed with AES-256-CTR) and with SSE-C (sealed under the
   request's key).
2. ListObjectsV2 over a bucket of 100,000 keys: pages of 1,000 per second, walking
   the whole bucket with continuation tokens (the keys are written through PutObject
   first, 32 at a time).
3. Server RSS growth while uploading and then downloading a 2 GB object (one
   streamed PUT, one streamed GET; sampled every 50 ms).

    python bench/s3.py [--seconds 5] [--keys 100000] [--large-mb 2048]

Targets (2-core machine): >= 150 MB/s for each of PutObject and GetObject,
>= 20 ListObjectsV2 pages/s, RSS growth < 100 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import re
import tempfile
import threading
import time
from urllib.parse import quote

from common import rss_mb, start_server

MB = 1024 * 1024
_LENGTH = re.compile(rb"(?i)content-length: (\d+)")
_TOKEN = re.compile(rb"<NextContinuationToken>([^<]+)</NextContinuationToken>")
_KEYCOUNT = re.compile(rb"<KeyCount>(\d+)</KeyCount>")


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough to replay requests."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict | None = None
    ) -> tuple[bytes, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head += f"Content-Length: {len(body)}\r\n\r\n"
        self.writer.write(head.encode() + body)
        response = await self.reader.readuntil(b"\r\n\r\n")
        length = int(_LENGTH.search(response).group(1))
        if method == "HEAD":
            return response, b""
        return response, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def _ok(head: bytes) -> bool:
    return head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 204"))


async def throughput(
    port: int,
    bucket: str,
    seconds: float,
    concurrency: int = 8,
    put_headers: dict | None = None,
    get_headers: dict | None = None,
) -> dict:
    body = bytes(range(256)) * (MB // 256)
    connections = [await Connection(port).open() for _ in range(concurrency)]
    results = {}
    for name in ("PutObject", "GetObject"):

        async def loop(index: int, until: float, counts: list[int], name: str = name) -> None:
            conn, path = connections[index], f"/{bucket}/obj-{index}"
            while time.perf_counter() < until:
                if name == "PutObject":
                    head, _ = await conn.request("PUT", path, body, put_headers)
                else:
                    head, data = await conn.request("GET", path, b"", get_headers)
                    assert len(data) == MB
                assert _ok(head), head
                counts[index] += 1

        warm = [0] * concurrency
        await asyncio.gather(
            *(loop(i, time.perf_counter() + 0.5, warm) for i in range(concurrency))
        )
        counts = [0] * concurrency
        began = time.perf_counter()
        await asyncio.gather(*(loop(i, began + seconds, counts) for i in range(concurrency)))
        elapsed = time.perf_counter() - began
        results[name] = {"requests": sum(counts), "MB_per_s": round(sum(counts) / elapsed, 1)}
    for conn in connections:
        conn.close()
    return results


async def sse_kms(port: int, seconds: float) -> dict:
    conn = await Connection(port).open()
    await conn.request("PUT", "/bench-sse-kms")
    conn.close()
    kms = {"x-amz-server-side-encryption": "aws:kms"}  # the AWS managed key, aws/s3
    return await throughput(port, "bench-sse-kms", seconds, put_headers=kms)


async def sse_c(port: int, seconds: float) -> dict:
    conn = await Connection(port).open()
    await conn.request("PUT", "/bench-sse-c")
    unblock = (  # new buckets block SSE-C writes, as AWS's have since April 2026
        b"<ServerSideEncryptionConfiguration><Rule><BlockedEncryptionTypes>"
        b"<EncryptionType>NONE</EncryptionType></BlockedEncryptionTypes></Rule>"
        b"</ServerSideEncryptionConfiguration>"
    )
    head, _ = await conn.request("PUT", "/bench-sse-c?encryption", unblock)
    assert _ok(head), head
    conn.close()
    key = bytes(range(32))
    customer = {
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
        "x-amz-server-side-encryption-customer-key": base64.b64encode(key).decode(),
        "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(
            hashlib.md5(key).digest()
        ).decode(),
    }
    return await throughput(
        port, "bench-sse-c", seconds, put_headers=customer, get_headers=customer
    )


async def listing(port: int, keys: int) -> dict:
    bucket = "bench-listing"
    conn = await Connection(port).open()
    await conn.request("PUT", f"/{bucket}")
    writers = [await Connection(port).open() for _ in range(32)]
    began = time.perf_counter()

    async def fill(index: int) -> None:
        for n in range(index, keys, len(writers)):
            head, _ = await writers[index].request("PUT", f"/{bucket}/dir{n % 10}/key-{n:07d}")
            assert _ok(head), head

    await asyncio.gather(*(fill(i) for i in range(len(writers))))
    fill_s = time.perf_counter() - began
    for writer in writers:
        writer.close()
    conn.close()
    conn = await Connection(port).open()  # the first one idled past the keep-alive
    best = 0.0
    for _ in range(2):
        token, pages, seen = None, 0, 0
        began = time.perf_counter()
        while True:
            path = f"/{bucket}?list-type=2&max-keys=1000"
            if token:
                path += "&continuation-token=" + quote(token, safe="")
            head, body = await conn.request("GET", path)
            assert _ok(head), head
            pages += 1
            seen += int(_KEYCOUNT.search(body).group(1))
            match = _TOKEN.search(body)
            if not match:
                break
            token = match.group(1).decode()
        best = max(best, pages / (time.perf_counter() - began))
        assert seen == keys, seen
    conn.close()
    return {"keys": keys, "fill_puts_per_s": round(keys / fill_s), "pages": pages,
            "pages_per_s": round(best, 1)}  # fmt: skip


def large_object(port: int, pid: int, size_mb: int) -> dict:
    """RSS growth of the server while a ``size_mb`` object goes up and comes back."""
    import http.client

    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(rss_mb(pid))
            time.sleep(0.05)

    baseline = rss_mb(pid)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    chunk = bytes(range(256)) * 4096  # 1 MB
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("PUT", "/bench-large")
    conn.getresponse().read()
    began = time.perf_counter()
    conn.putrequest("PUT", "/bench-large/big")
    conn.putheader("Content-Length", str(size_mb * MB))
    conn.endheaders()
    for _ in range(size_mb):
        conn.send(chunk)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    up_s = time.perf_counter() - began
    peak_up = max(samples)
    began = time.perf_counter()
    conn.request("GET", "/bench-large/big")
    response = conn.getresponse()
    received = 0
    while True:
        data = response.read(MB)
        if not data:
            break
        received += len(data)
    assert received == size_mb * MB, received
    down_s = time.perf_counter() - began
    stop.set()
    sampler.join()
    conn.request("DELETE", "/bench-large/big")
    conn.getresponse().read()
    return {
        "size_mb": size_mb,
        "upload_MB_per_s": round(size_mb / up_s),
        "download_MB_per_s": round(size_mb / down_s),
        "rss_baseline_mb": round(baseline, 1),
        "rss_growth_upload_mb": round(peak_up - baseline, 1),
        "rss_growth_total_mb": round(max(samples) - baseline, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--large-mb", type=int, default=2048)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            out: dict = {}

            async def objects() -> dict:
                conn = await Connection(port).open()
                await conn.request("PUT", "/bench-objects")
                conn.close()
                return await throughput(port, "bench-objects", args.seconds)

            out["objects_1mb_concurrency_8"] = asyncio.run(objects())
            out["objects_1mb_sse_kms_concurrency_8"] = asyncio.run(sse_kms(port, args.seconds))
            out["objects_1mb_sse_c_concurrency_8"] = asyncio.run(sse_c(port, args.seconds))
            out["list_objects_v2"] = asyncio.run(listing(port, args.keys))
            out["large_object"] = large_object(port, process.pid, args.large_mb)
            print(json.dumps(out, indent=2))
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
