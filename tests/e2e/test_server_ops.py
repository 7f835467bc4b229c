"""Running sandlot as an operator does: what its data dir holds and who may read it,
one server per data dir, start-up and shutdown messages, and `sandlot iam` asking the
running server (whatever its data dir)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import cli_env, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.server import SandlotServer

HELLO = {"app.py": "def handler(event, context):\n    return {'ok': True}\n"}


def sandlot(*args: str, env: dict | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "sandlot.cli.main", *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


def modes(root: Path) -> dict[str, int]:
    """Every file and directory under ``root`` (itself included) → its permission bits
    (symbolic links have none of their own)."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        if not path.is_symlink():
            found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_data_dir_and_everything_in_it_are_private(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.chmod(data_dir, 0o755)  # as an older sandlot left it, with its database
    (data_dir / "sandlot.db").touch()
    os.chmod(data_dir / "sandlot.db", 0o644)
    with SandlotServer(data_dir) as server:
        assert any(
            f"data dir {data_dir} was mode 0755; made it 0700" in line for line in server.output
        ), server.output
        s3 = make_client(server.endpoint, "s3")
        bucket = unique("private")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"x" * 100_000)
        lam = make_client(server.endpoint, "lambda")
        name = unique("private")
        create_function(lam, name, HELLO)
        assert json.load(lam.invoke(FunctionName=name)["Payload"]) == {"ok": True}
        found = modes(data_dir)
    assert found["."] == 0o700
    for name in ("sandlot.db", "sandlot.db-wal", "sandlot.db-shm", "sandlot.lock"):
        assert found[name] == 0o600, name
    blobs = [p for p in found if p.startswith("blobs/") and "/tmp" not in p]
    assert blobs and found["code"] == 0o700
    # Nothing anyone else could read or list; a function's code keeps its read-only
    # modes (Lambda's /var/task), unreachable to others behind the 0700 directories.
    exposed = {
        path: oct(mode)
        for path, mode in found.items()
        if mode & 0o077 and not path.startswith("code/")
    }
    assert exposed == {}


def test_second_server_on_a_data_dir_is_refused_until_the_first_is_gone(tmp_path):
    data_dir = tmp_path / "data"
    first = SandlotServer(data_dir).start()
    try:
        s3 = make_client(first.endpoint, "s3")
        bucket = unique("locked")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"kept")
        # Stands for the first server's upload in flight: a second start-up must not
        # clean it away.
        in_flight = data_dir / "blobs" / "tmp" / "upload-in-flight"
        in_flight.write_bytes(b"partial")
        second = sandlot("up", "--port", "0", "--data-dir", str(data_dir), timeout=30)
        assert second.returncode != 0
        assert second.stderr == (
            f"sandlot: data dir {data_dir} is in use by another sandlot server "
            f"(pid {first.process.pid}, {first.endpoint}); stop it first, or give this one "
            "its own --data-dir\n"
        )
        assert "endpoint:" not in second.stdout
        assert in_flight.exists()
        first.kill()  # kill -9: the kernel drops the lock with the process
        with SandlotServer(data_dir, lambda_role=False) as third:
            body = make_client(third.endpoint, "s3").get_object(Bucket=bucket, Key="k")["Body"]
            assert body.read() == b"kept"
    finally:
        first.stop()


def test_port_in_use_is_one_line_and_a_failure(server):
    port = server.endpoint.rsplit(":", 1)[1]
    taken = sandlot("up", "--ephemeral", "--port", port, timeout=30)
    assert taken.returncode == 1
    assert taken.stderr == (
        f"sandlot: cannot listen on 127.0.0.1:{port}: Address already in use (another "
        "server is using it: stop it or choose another --port)\n"
    )


def test_sigterm_stops_cleanly_with_environments_starting(tmp_path):
    server = SandlotServer(None, lambda_role=True).start()
    lam = make_client(server.endpoint, "lambda")
    names = [unique("term") for _ in range(3)]
    for name in names:
        create_function(lam, name, HELLO)
    lam.invoke(FunctionName=names[0])  # a warm environment, and a spare sandbox made

    def invoke(name: str) -> None:
        with contextlib.suppress(Exception):  # the server is stopping under it
            make_client(server.endpoint, "lambda").invoke(FunctionName=name)

    callers = [threading.Thread(target=invoke, args=(n,), daemon=True) for n in names]
    for caller in callers:
        caller.start()
    time.sleep(0.05)  # cold starts under way
    assert server.stop() == 0
    time.sleep(0.5)  # what the zygote may still print as it exits
    after_ready = "".join(server.output).split("ready in", 1)[1].split("\n", 1)[1]
    assert after_ready == ""


def test_secure_start_up_says_where_the_root_credentials_are(tmp_path):
    data_dir = tmp_path / "data"
    with SandlotServer(data_dir, "--secure") as server:
        path = data_dir / "root-credentials.json"
        keys = json.loads(path.read_text())
        shown = "".join(server.output)
        assert f"root credentials: {path}\n" in shown
        assert keys["aws_secret_access_key"] not in shown
        assert keys["aws_access_key_id"] not in shown

        # The admin endpoints answer the account root only.
        iam = make_client(
            server.endpoint, "iam", keys["aws_access_key_id"], keys["aws_secret_access_key"]
        )
        user = unique("dev")
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        with pytest.raises(ClientError) as denied:
            make_client(
                server.endpoint, "lambda", key["AccessKeyId"], key["SecretAccessKey"]
            ).list_functions()
        request_id = denied.value.response["ResponseMetadata"]["RequestId"]

        def explain(env: dict) -> subprocess.CompletedProcess:
            return sandlot("iam", "explain", request_id, "--endpoint", server.endpoint, env=env)

        as_root = explain(cli_env(server.endpoint, keys["aws_access_key_id"],
                                  keys["aws_secret_access_key"]))  # fmt: skip
        assert as_root.returncode == 0, as_root.stderr
        assert "lambda:ListFunctions on *: DENIED (implicit deny)" in as_root.stdout
        as_user = explain(cli_env(server.endpoint, key["AccessKeyId"], key["SecretAccessKey"]))
        assert as_user.returncode == 2
        assert as_user.stderr == (
            f"sandlot: arn:aws:iam::000000000000:user/{user} is not the account root: sign "
            "admin requests with the account root's key, from root-credentials.json\n"
        )
        forged = explain(cli_env(server.endpoint, keys["aws_access_key_id"], "not-the-secret"))
        assert forged.returncode == 2 and "signature we calculated does not match" in (
            forged.stderr
        )
        unknown = explain(cli_env(server.endpoint))  # dev mode's keys: not known here
        assert unknown.returncode == 2
        assert unknown.stderr == (
            "sandlot: The security token included in the request is invalid: sign admin "
            "requests with the account root's key, from root-credentials.json\n"
        )


def test_iam_explain_asks_the_running_ephemeral_server():
    with SandlotServer(None) as server:  # --ephemeral: no data dir the CLI could read
        iam = make_client(server.endpoint, "iam")
        user = unique("dev")
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        s3 = make_client(server.endpoint, "s3", key["AccessKeyId"], key["SecretAccessKey"])
        with pytest.raises(ClientError) as denied:
            s3.list_buckets()
        request_id = denied.value.response["ResponseMetadata"]["RequestId"]
        env = {**cli_env(server.endpoint), "SANDLOT_DATA_DIR": "/nonexistent"}
        explained = sandlot("iam", "explain", request_id, env=env)  # AWS_ENDPOINT_URL
        assert explained.returncode == 0, explained.stderr
        lines = explained.stdout.splitlines()
        assert lines[0] == f"request {request_id}: s3 ListBuckets"
        assert f"  principal arn:aws:iam::000000000000:user/{user}" in lines
        assert "s3:ListAllMyBuckets on *: DENIED (implicit deny)" in lines
        unknown = sandlot("iam", "explain", "no-such-request", env=env)
        assert unknown.returncode == 1
        assert unknown.stderr.startswith(
            "sandlot: no IAM decision recorded for request no-such-request"
        )
    gone = sandlot("iam", "explain", request_id, env=env)
    assert gone.returncode == 2
    assert gone.stderr.startswith(f"sandlot: no sandlot server at {server.endpoint} (")
