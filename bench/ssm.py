"""Parameter Store benchmark: GetParameter through the gateway over keep-alive
connections.

Starts a real server, writes a String parameter and a SecureString (under the AWS
managed key alias/aws/ssm), then replays one pre-signed GetParameter request at
concurrency 1 and 16: the String, and the SecureString WithDecryption (each request a
KMS Decrypt through the internal client, IAM evaluated for both), as the account's
root (dev key) and as a role session allowed ssm:GetParameter and kms:Decrypt.

    python bench/ssm.py [--seconds 5]
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

HEADERS = {"Content-Type": "application/x-amz-json-1.1"}


def role_session(port: int) -> Credentials:
    return bench_role_session(port, ["ssm:GetParameter", "kms:Decrypt"])


def request(port: int, body: dict, credentials: Credentials) -> bytes:
    headers = {**HEADERS, "X-Amz-Target": "AmazonSSM.GetParameter"}
    return signed_request(port, "ssm", "/", json.dumps(body).encode(), headers, credentials)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            ssm = client(port, "ssm")
            ssm.put_parameter(Name="/bench/plain", Value="x" * 100, Type="String")
            ssm.put_parameter(Name="/bench/secret", Value="x" * 100, Type="SecureString")
            results = {}
            for label, credentials in (("root", DEV_KEY), ("role", role_session(port))):
                for kind, body in (
                    ("String", {"Name": "/bench/plain"}),
                    ("SecureString", {"Name": "/bench/secret", "WithDecryption": True}),
                ):
                    payload = request(port, body, credentials)
                    for concurrency in (1, 16):
                        results[f"{kind}_{label}_c{concurrency}"] = asyncio.run(
                            replay(port, payload, concurrency, args.seconds)
                        )
        finally:
            process.terminate()
            process.wait(10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
