"""An acknowledged PutObject survives kill -9, and a crash mid-upload exposes nothing
partial and leaks no blob: 100 concurrent uploaders, SIGKILL, restart, check."""

from __future__ import annotations

import hashlib
import threading
import time

from botocore.exceptions import BotoCoreError, ClientError

from tests.e2e.conftest import make_client
from tests.e2e.server import SandlotServer

UPLOADERS = 100
BUCKET = "durable-objects"


def _body(key: str) -> bytes:
    size = 64 * 1024 + (int(hashlib.md5(key.encode()).hexdigest()[:4], 16) * 16)  # 64 KB–1 MB
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def test_acknowledged_objects_survive_kill_9(tmp_path):
    server = SandlotServer(tmp_path).start()
    make_client(server.endpoint, "s3").create_bucket(Bucket=BUCKET)
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()

    clients = [make_client(server.endpoint, "s3") for _ in range(UPLOADERS)]

    def uploader(worker: int) -> None:
        s3 = clients[worker]
        n = 0
        while not stop.is_set():
            n += 1
            key = f"w{worker}/{n}"
            try:
                etag = s3.put_object(Bucket=BUCKET, Key=key, Body=_body(key))["ETag"]
            except (BotoCoreError, ClientError):
                return  # the server died under us: never acknowledged
            with lock:
                acknowledged[key] = etag

    threads = [threading.Thread(target=uploader, args=(i,)) for i in range(UPLOADERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # SIGKILL with uploads in flight
    stop.set()
    for thread in threads:
        thread.join(60)
    assert len(acknowledged) >= 300

    with SandlotServer(tmp_path) as restarted:
        s3 = make_client(restarted.endpoint, "s3")
        listed = {
            item["Key"]: item
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            for item in page.get("Contents", [])
        }
        for key, etag in acknowledged.items():
            assert key in listed, key
            got = s3.get_object(Bucket=BUCKET, Key=key)
            assert got["ETag"] == etag
            assert got["Body"].read() == _body(key)
        for key, item in listed.items():  # whatever is listed is whole
            body = _body(key)
            assert item["Size"] == len(body), key
            assert item["ETag"] == f'"{hashlib.md5(body).hexdigest()}"', key
        # Blobs of uploads the crash interrupted were collected at start-up.
        blobs = [p for p in (tmp_path / "blobs").glob("??/*") if p.is_file()]
        assert len(blobs) == len(listed)
