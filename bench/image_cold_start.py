"""Cold and warm starts of a function from a container image, through the Invoke API.

The image is the Go hello world tests/e2e/test_lambda_images.py builds (aws-lambda-go,
into pytest's cache: run that module once first) as ENTRYPOINT of a one-layer OCI image
written here, pushed to sandlot's ECR through the registry API (raw HTTP, as skopeo
does). A cold start is the first invoke of a freshly created function whose image root
is already unpacked (cached by manifest digest: the functions share one image); the
first function's activation (the unpack) is reported apart. Warm: p50/p99 at
concurrency 1 on one function.

    python bench/image_cold_start.py [--cold 30] [--seconds 5] [--binary PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from common import create_bench_role, percentiles, replay, signed_request, start_server

BINARY = Path(__file__).resolve().parent.parent / ".pytest_cache/d/native-builds/go-image/main"
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def layer(binary: bytes) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name in ("var", "var/task"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("var/task/main")
        info.size, info.mode = len(binary), 0o755
        tar.addfile(info, io.BytesIO(binary))
    return gzip.compress(raw.getvalue(), mtime=0)


def push(port: int, password: str, binary: bytes) -> None:
    auth = "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()

    def send(method: str, path: str, body: bytes = b"", kind: str = "") -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", body or None,
                                         method=method)  # fmt: skip
        request.add_header("Authorization", auth)
        if kind:
            request.add_header("Content-Type", kind)
        urllib.request.urlopen(request, timeout=60).read()

    def blob(data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        send("POST", f"/v2/bench/blobs/uploads/?digest={digest}", data)
        return {"digest": digest, "size": len(data)}

    data = layer(binary)
    config = json.dumps({
        "architecture": ARCH[os.uname().machine], "os": "linux",
        "config": {"Entrypoint": ["/var/task/main"], "Cmd": ["hello"], "WorkingDir": "/var/task"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest()]},
    }).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(data)}],
    }).encode()  # fmt: skip
    send("PUT", "/v2/bench/manifests/v1", manifest, "application/vnd.oci.image.manifest.v1+json")


def create(lam, name: str) -> float:
    began = time.perf_counter()
    lam.create_function(
        FunctionName=name, PackageType="Image", Role="arn:aws:iam::000000000000:role/bench",
        Code={"ImageUri": "000000000000.dkr.ecr.us-east-1.amazonaws.com/bench:v1"},
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 400}
    )
    return time.perf_counter() - began


def invoked_ok(head: bytes, body: bytes) -> bool:
    return head.startswith(b"HTTP/1.1 200") and b"x-amz-function-error" not in head.lower()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--cold", type=int, default=30, help="cold starts to measure")
    parser.add_argument("--binary", type=Path, default=BINARY)
    args = parser.parse_args()
    if not args.binary.is_file():
        sys.exit(f"not built: {args.binary}; run tests/e2e/test_lambda_images.py first")
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            session = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="benchkey", aws_secret_access_key="benchsecret",
                           config=Config(retries={"max_attempts": 1}))  # fmt: skip
            lam, ecr = boto3.client("lambda", **session), boto3.client("ecr", **session)
            create_bench_role(port)
            ecr.create_repository(repositoryName="bench")
            token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
            push(port, base64.b64decode(token).decode().partition(":")[2], args.binary.read_bytes())
            first_activation = create(lam, "image-first")
            cold = []
            for i in range(args.cold):
                create(lam, f"image-cold-{i}")
                began = time.perf_counter()
                response = lam.invoke(FunctionName=f"image-cold-{i}", Payload=b"{}")
                response["Payload"].read()
                cold.append(time.perf_counter() - began)
                assert "FunctionError" not in response, response
            path = "/2015-03-31/functions/image-first/invocations"
            request = signed_request(port, "lambda", path, b"{}", {})
            results = {
                "first_create_to_active_ms": round(first_activation * 1000, 1),
                "cold_start": {"samples": len(cold), **percentiles(cold)},
                "warm_c1": asyncio.run(replay(port, request, 1, args.seconds, invoked_ok)),
            }
        finally:
            process.terminate()
            process.wait(20)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
