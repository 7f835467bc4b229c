"""Gateway benchmark: STS GetCallerIdentity over keep-alive connections.

Starts a real server, then reports time to ready, idle RSS, and requests/s with
p50/p99 latency at concurrency 1 and 16. The load generator is a separate process
(asyncio on raw sockets, one pre-signed request replayed), so its cost is not counted
in the server's latencies beyond sharing the machine's cores.

    python bench/gateway.py [--server uvicorn|granian] [--seconds 5]

Targets (2-core machine): >= 3,000 req/s at concurrency 16, p50 < 1 ms at
concurrency 1, ready < 1 s, idle RSS < 80 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(kind: str, data_dir: str) -> tuple[subprocess.Popen, int, float, float]:
    """Start the server; returns (process, port, wall seconds to ready, reported ms)."""
    port = free_port()
    env = {**os.environ, "SANDLOT_DATA_DIR": data_dir}
    began = time.perf_counter()
    if kind == "uvicorn":
        command = [
            sys.executable,
            "-m",
            "sandlot.cli.main",
            "up",
            "--port",
            str(port),
            "--data-dir",
            data_dir,
        ]
    else:
        command = [
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-ws",
            "--factory",
            "sandlot.gateway.server:create_app",
        ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    reported = float("nan")
    if kind == "uvicorn":
        for line in process.stdout:
            match = re.match(r"ready in (\d+) ms", line)
            if match:
                reported = float(match.group(1))
                break
    wait_health(port, began + 30)
    return process, port, time.perf_counter() - began, reported


def wait_health(port: int, deadline: float) -> None:
    while time.perf_counter() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandlot/health", timeout=1).read()
            return
        except OSError:
            time.sleep(0.002)
    raise SystemExit("server did not become healthy")


def issued_session(port: int) -> Credentials:
    sts = boto3.client(
        "sts",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="benchkey",
        aws_secret_access_key="benchsecret",
    )
    creds = sts.assume_role(
        RoleArn="arn:aws:iam::000000000000:role/bench", RoleSessionName="bench"
    )["Credentials"]
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def signed_request(port: int, credentials: Credentials) -> bytes:
    request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:{port}/",
        data=BODY,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(credentials, "sts", "us-east-1").add_auth(request)
    lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(BODY)}"]
    lines += [f"{k}: {v}" for k, v in request.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + BODY


async def connection(port: int, payload: bytes, until: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    while time.perf_counter() < until:
        started = time.perf_counter()
        writer.write(payload)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        if not head.startswith(b"HTTP/1.1 200"):
            errors += 1
    writer.close()
    return errors


async def load(port: int, concurrency: int, seconds: float, credentials: Credentials) -> dict:
    payload = signed_request(port, credentials)
    latencies: list[float] = []
    # warm-up
    await asyncio.gather(
        *(connection(port, payload, time.perf_counter() + 0.5, []) for _ in range(concurrency))
    )
    began = time.perf_counter()
    errors = await asyncio.gather(
        *(connection(port, payload, began + seconds, latencies) for _ in range(concurrency))
    )
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": sum(errors),
        "req_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, wall, reported = start_server(args.server, data_dir)
        try:
            idle = rss_mb(process.pid)
            results = {
                "server": args.server,
                "ready_wall_s": round(wall, 3),
                "ready_reported_ms": reported,
                "idle_rss_mb": round(idle, 1),
            }
            dev_key = Credentials("benchkey", "benchsecret")  # dev mode: not verified
            for concurrency in (1, 16):
                results[f"c{concurrency}"] = asyncio.run(
                    load(port, concurrency, args.seconds, dev_key)
                )
            # A key sandlot issued: every request's signature is verified.
            session = issued_session(port)
            for concurrency in (1, 16):
                results[f"c{concurrency}_verified"] = asyncio.run(
                    load(port, concurrency, args.seconds, session)
                )
            results["rss_after_load_mb"] = round(rss_mb(process.pid), 1)
        finally:
            process.terminate()
            process.wait(10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
