"""Shared pieces of the benchmarks: start a server, sign a request, replay it under load."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

DEV_KEY = Credentials("benchkey", "benchsecret")  # dev mode: an unverifiable key


def client(
    port: int | str, service: str, credentials: Credentials = DEV_KEY, *, retries: bool = True
):
    """A boto3 client of ``service`` for the server on ``port`` (or an endpoint URL);
    ``retries=False``: one attempt per call, so a measurement never hides a failure."""
    import boto3
    from botocore.config import Config

    endpoint = port if isinstance(port, str) else f"http://127.0.0.1:{port}"
    config = None if retries else Config(retries={"max_attempts": 1})
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=credentials.access_key, aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token, config=config,
    )  # fmt: skip


def code_zip(files: dict[str, str]) -> bytes:
    """A function's zip holding ``files`` (name → source)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in files.items():
            archive.writestr(name, source)
    return buffer.getvalue()


def served(run: Callable[[int], dict], sandbox: str | None = None) -> dict:
    """``run(port)`` against a fresh server on a temporary data dir (``sandbox``: the
    ``SANDLOT_SANDBOX`` to start it with), stopped afterwards."""
    import tempfile

    if sandbox:
        os.environ["SANDLOT_SANDBOX"] = sandbox
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            return run(port)
        finally:
            process.terminate()
            process.wait(20)


def create_bench_role(port: int) -> str:
    """Role ``bench``: Lambda and the account itself may assume it (IAM is enforced)."""
    import json

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "lambda.amazonaws.com", "AWS": "000000000000"},
            }
        ],
    }
    iam = client(port, "iam")
    return iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]


def bench_role_session(port: int, actions: str | list[str]) -> Credentials:
    """A session of role ``bench`` (created here) allowed ``actions`` on every resource."""
    import json

    arn = create_bench_role(port)
    allow = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}  # fmt: skip
    client(port, "iam").put_role_policy(
        RoleName="bench", PolicyName="bench", PolicyDocument=json.dumps(allow)
    )
    creds = client(port, "sts").assume_role(RoleArn=arn, RoleSessionName="bench")["Credentials"]
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    kind: str,
    data_dir: str,
    extra: tuple[str, ...] = (),
    entry: tuple[str, ...] = ("-m", "sandlot.cli.main"),
) -> tuple[subprocess.Popen, int, float, float]:
    """Start the server (``extra``: more ``sandlot up`` flags; ``entry``: what runs
    ``sandlot``'s command line, for uvicorn); returns (process, port, wall seconds to
    ready, reported ms).

    The port is free when chosen but may be taken before the server binds it (an
    outgoing connection's ephemeral port, under a previous measurement's load): a
    server that exits before it is ready is started again on another port."""
    # Lambda's calendar pinned as the tests pin it (tests/e2e/server.py): the benches'
    # python3.11 and nodejs20.x functions stay creatable after AWS's block dates.
    env = {"SANDLOT_LAMBDA_RUNTIME_DATE": "2026-01-15", **os.environ, "SANDLOT_DATA_DIR": data_dir}
    for attempt in range(3):
        port = free_port()
        began = time.perf_counter()
        if kind == "uvicorn":
            command = [sys.executable, *entry, "up", "--port", str(port),
                       "--data-dir", data_dir, *extra]  # fmt: skip
        else:
            command = ["granian", "--interface", "asgi", "--host", "127.0.0.1", "--port",
                       str(port), "--loop", "uvloop", "--workers", "1", "--log-level", "warning",
                       "--no-ws", "--factory", "sandlot.gateway.server:create_app"]  # fmt: skip
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        reported = float("nan")
        output = []
        if kind == "uvicorn":
            for line in process.stdout:
                output.append(line)
                match = re.match(r"ready in (\d+) ms", line)
                if match:
                    reported = float(match.group(1))
                    break
        if process.poll() is not None:  # it exited: the port was taken meanwhile, or worse
            if attempt < 2 and "address already in use" in "".join(output).lower():
                continue
            raise SystemExit("server exited before it was ready:\n" + "".join(output)[-2000:])
        wait_health(port, began + 30)
        return process, port, time.perf_counter() - began, reported
    raise AssertionError("unreachable")


def wait_health(port: int, deadline: float) -> None:
    while time.perf_counter() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandlot/health", timeout=1).read()
            return
        except OSError:
            time.sleep(0.002)
    raise SystemExit("server did not become healthy")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def signed_request(
    port: int,
    service: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    credentials: Credentials = DEV_KEY,
) -> bytes:
    """The raw bytes of a SigV4-signed POST, ready to replay (valid for 15 minutes)."""
    request = AWSRequest(
        method="POST", url=f"http://127.0.0.1:{port}{path}", data=body, headers=headers
    )
    SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in request.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


Check = Callable[[bytes, bytes], bool]  # (response head, body) -> success


def _ok_200(head: bytes, body: bytes) -> bool:
    return head.startswith(b"HTTP/1.1 200")


async def _connection(
    port: int, payload: bytes, until: float, latencies: list[float], ok: Check, tls=None
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
    errors = 0
    while time.perf_counter() < until:
        started = time.perf_counter()
        writer.write(payload)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        body = await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        if not ok(head, body):
            errors += 1
    writer.close()
    return errors


async def replay(
    port: int, payload: bytes, concurrency: int, seconds: float, ok: Check = _ok_200, tls=None
) -> dict:
    """Replay ``payload`` on ``concurrency`` keep-alive connections for ``seconds``
    (over TLS with ``tls``, an ``ssl.SSLContext``)."""
    warm_until = time.perf_counter() + 0.5
    warm: list[float] = []
    await asyncio.gather(
        *(_connection(port, payload, warm_until, warm, ok, tls) for _ in range(concurrency))
    )
    latencies: list[float] = []
    began = time.perf_counter()
    errors = await asyncio.gather(
        *(
            _connection(port, payload, began + seconds, latencies, ok, tls)
            for _ in range(concurrency)
        )
    )
    elapsed = time.perf_counter() - began
    return {"concurrency": concurrency, "requests": len(latencies), "warmup": len(warm),
            "errors": sum(errors),
            "per_s": round(len(latencies) / elapsed), **percentiles(latencies)}  # fmt: skip


def percentiles(latencies: list[float]) -> dict:
    """p50 and p99 of latencies in seconds, as milliseconds."""
    ordered = sorted(latencies)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


class JsonConnection:
    """One keep-alive HTTP/1.1 connection sending AWS JSON-protocol requests of one
    service (signed once with the dev key: sandlot accepts the reused signature)."""

    service = ""
    target = ""  # the X-Amz-Target prefix: "AmazonSQS", "DynamoDB_20120810"
    content_type = "application/x-amz-json-1.0"  # 1.1 for EventBridge and Kinesis

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        request = AWSRequest(method="POST", url=f"http://{host}:{port}/", data=b"{}")
        SigV4Auth(DEV_KEY, self.service, "us-east-1").add_auth(request)
        self.auth = request.headers["Authorization"]
        self.date = request.headers["X-Amz-Date"]

    async def open(self) -> JsonConnection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def call(self, operation: str, params: dict) -> dict:
        body = json.dumps(params).encode()
        head = (
            f"POST / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {self.content_type}\r\nX-Amz-Target: {self.target}.{operation}\r\n"
            f"X-Amz-Date: {self.date}\r\nAuthorization: {self.auth}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        response = await self.reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", response).group(1))
        data = await self.reader.readexactly(length)
        if re.search(rb"(?i)\r\nconnection: close", response):  # e.g. moto's Werkzeug server
            self.writer.close()
            await self.open()
        if not response.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{operation}: {response[:60]!r} {data[:300]!r}")
        return json.loads(data) if data else {}

    def close(self) -> None:
        self.writer.close()
