"""KMS benchmark: Encrypt and Decrypt (symmetric, AES-256-GCM, 1 KiB, with an
encryption context) through the gateway over keep-alive connections.

Starts a real server, creates a key, then replays one pre-signed Encrypt and one
pre-signed Decrypt request at concurrency 1 and 16: as the account's root (dev key;
IAM skips its own account's root) and as a role session, where IAM evaluates the
role's policy through the key policy's delegation to the account.

    python bench/kms.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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
CONTEXT = {"purpose": "bench"}


def role_session(port: int) -> Credentials:
    return bench_role_session(port, "kms:*")


def request(port: int, operation: str, body: dict, credentials: Credentials) -> bytes:
    headers = {**HEADERS, "X-Amz-Target": f"TrentService.{operation}"}
    return signed_request(port, "kms", "/", json.dumps(body).encode(), headers, credentials)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            kms = client(port, "kms")
            key = kms.create_key()["KeyMetadata"]["Arn"]
            plaintext = bytes(1024)
            blob = kms.encrypt(KeyId=key, Plaintext=plaintext, EncryptionContext=CONTEXT)
            encoded = base64.b64encode(plaintext).decode()
            ciphertext = base64.b64encode(blob["CiphertextBlob"]).decode()
            results = {}
            for label, credentials in (("root", DEV_KEY), ("role", role_session(port))):
                for operation, body in (
                    ("Encrypt", {"KeyId": key, "Plaintext": encoded, "EncryptionContext": CONTEXT}),
                    ("Decrypt", {"CiphertextBlob": ciphertext, "EncryptionContext": CONTEXT}),
                ):
                    payload = request(port, operation, body, credentials)
                    for concurrency in (1, 16):
                        results[f"{operation}_{label}_c{concurrency}"] = asyncio.run(
                            replay(port, payload, concurrency, args.seconds)
                        )
        finally:
            process.terminate()
            process.wait(10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
