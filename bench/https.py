"""HTTPS benchmark: what TLS costs on sandlot's HTTPS listener, next to plain HTTP in
the same run (STS GetCallerIdentity with the dev key, as bench/gateway.py).

Reports a new connection's TLS handshake alone and handshake + one request (p50/p99 of
sequential fresh connections, the cost a client without keep-alive pays each time), and
warm keep-alive requests over HTTPS and HTTP at concurrency 1 and 16.

    python bench/https.py [--seconds 5] [--connections 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import tempfile
import time

from common import free_port, percentiles, replay, signed_request, start_server

BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


async def fresh_connections(port: int, payload: bytes, tls: ssl.SSLContext, count: int) -> dict:
    """``count`` sequential connections: handshake, one request, close."""
    handshakes, totals = [], []
    for _ in range(count):
        began = time.perf_counter()
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=tls, server_hostname="localhost"
        )
        handshakes.append(time.perf_counter() - began)
        writer.write(payload)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        totals.append(time.perf_counter() - began)
        writer.close()
        await writer.wait_closed()
    return {
        "connections": count,
        "handshake": percentiles(handshakes),
        "handshake_and_request": percentiles(totals),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        https_port = free_port()
        process, port, _, _ = start_server("uvicorn", data_dir, ("--https-port", str(https_port)))
        try:
            tls = ssl.create_default_context(cafile=os.path.join(data_dir, "tls", "ca.pem"))
            payload = signed_request(port, "sts", "/", BODY, FORM)
            results: dict = {
                "fresh_https": asyncio.run(
                    fresh_connections(https_port, payload, tls, args.connections)
                )
            }
            for concurrency in (1, 16):
                for label, target, context in (("http", port, None), ("https", https_port, tls)):
                    run = asyncio.run(
                        replay(target, payload, concurrency, args.seconds, tls=context)
                    )
                    run.pop("warmup")
                    results[f"c{concurrency}_{label}"] = run
        finally:
            process.terminate()
            process.wait(10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
