"""A 2xx is durable: kill -9 the server mid-stream and every acknowledged write is there."""

from __future__ import annotations

import threading
import time

from botocore.exceptions import BotoCoreError, ClientError

from tests.e2e.conftest import make_client
from tests.e2e.roles import ensure_role
from tests.e2e.server import SandlotServer


def test_acknowledged_sessions_survive_kill_9(tmp_path):
    server = SandlotServer(tmp_path).start()
    ensure_role(make_client(server.endpoint, "iam"), "durable")
    acknowledged: list[dict] = []
    stop = threading.Event()

    def writer(worker: int) -> None:
        sts = make_client(server.endpoint, "sts")
        n = 0
        while not stop.is_set():
            n += 1
            try:
                creds = sts.assume_role(
                    RoleArn="arn:aws:iam::000000000000:role/durable",
                    RoleSessionName=f"w{worker}-{n}",
                )["Credentials"]
            except (BotoCoreError, ClientError):
                return  # the server died under us: this write was never acknowledged
            acknowledged.append(creds)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < 200:
        time.sleep(0.01)
    server.kill()  # SIGKILL while the writers are mid-request
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(acknowledged) >= 200

    with SandlotServer(tmp_path) as restarted:
        for creds in acknowledged:
            sts = make_client(
                restarted.endpoint,
                "sts",
                creds["AccessKeyId"],
                creds["SecretAccessKey"],
                creds["SessionToken"],
            )
            assert sts.get_caller_identity()["Arn"].startswith(
                "arn:aws:sts::000000000000:assumed-role/durable/"
            )
