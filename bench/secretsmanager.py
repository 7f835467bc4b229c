"""Secrets Manager benchmark: GetSecretValue (a 1 KiB SecretString) through the gateway
over keep-alive connections.

Starts a real server, creates a secret on the AWS managed key, then replays one
pre-signed GetSecretValue at concurrency 1 and 16, as the account's root (dev key) and
as a role session. Each request is authorized, then KMS decrypts the version's data
key (an internal call, authorized against the managed key's policy) and AES-GCM opens
the value.

    python bench/secretsmanager.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile

from botocore.credentials import Credentials
from common import (
    DEV_KEY,
    bench_role_session,
    client,
    replay,
    signed_request,
    start_server,
)

HEADERS = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"}  # fmt: skip


def role_session(port: int) -> Credentials:
    return bench_role_session(port, "secretsmanager:GetSecretValue")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            sm = client(port, "secretsmanager")
            sm.create_secret(Name="bench/db", SecretString="x" * 1024)
            body = json.dumps({"SecretId": "bench/db"}).encode()
            results = {}
            for label, credentials in (("root", DEV_KEY), ("role", role_session(port))):
                payload = signed_request(port, "secretsmanager", "/", body, HEADERS, credentials)
                for concurrency in (1, 16):
                    results[f"GetSecretValue_{label}_c{concurrency}"] = asyncio.run(
                        replay(port, payload, concurrency, args.seconds)
                    )
        finally:
            process.terminate()
            process.wait(10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
