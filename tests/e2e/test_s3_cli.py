"""The AWS CLI's high-level S3 commands against sandlot: mb, cp (both directions,
--recursive, a 20 MB file that goes multipart), sync, ls, rm, presign, rb."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from tests.e2e.conftest import cli_env


@pytest.fixture
def s3cli(server):
    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "awscli", "s3", *args],
            env=cli_env(server.endpoint),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr + result.stdout
        return result.stdout

    return run


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_high_level_commands(s3cli, tmp_path, client):
    bucket = f"cli-{uuid.uuid4().hex[:12]}"
    assert f"make_bucket: {bucket}" in s3cli("mb", f"s3://{bucket}")
    assert bucket in s3cli("ls")

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024))
    s3cli("cp", str(big), f"s3://{bucket}/big.bin")
    head = client("s3").head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 20 * 1024 * 1024
    assert head["ETag"].endswith('-3"')  # 8 MB parts: the CLI went multipart
    back = tmp_path / "back.bin"
    s3cli("cp", f"s3://{bucket}/big.bin", str(back))
    assert _digest(back) == _digest(big)

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    hour_ago = time.time() - 3600  # older than any upload: sync compares mtimes
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        (tree / name).write_text(f"content of {name}\n")
        os.utime(tree / name, (hour_ago, hour_ago))
    s3cli("cp", "--recursive", str(tree), f"s3://{bucket}/tree/")
    listing = s3cli("ls", "--recursive", f"s3://{bucket}/tree/")
    assert all(f"tree/{n}" in listing for n in ("a.txt", "b.txt", "sub/c.txt"))
    top = s3cli("ls", f"s3://{bucket}/tree/")
    assert "PRE sub/" in top and "a.txt" in top

    down = tmp_path / "down"
    s3cli("cp", "--recursive", f"s3://{bucket}/tree/", str(down))
    assert (down / "sub" / "c.txt").read_text() == "content of sub/c.txt\n"

    (tree / "a.txt").write_text("changed, and longer than before\n")
    (tree / "new.txt").write_text("new\n")
    synced = s3cli("sync", str(tree), f"s3://{bucket}/tree/")
    assert "new.txt" in synced and "a.txt" in synced and "sub/c.txt" not in synced
    s3 = client("s3")
    assert s3.get_object(Bucket=bucket, Key="tree/a.txt")["Body"].read() == (
        b"changed, and longer than before\n"
    )
    (tree / "b.txt").unlink()
    s3cli("sync", "--delete", str(tree), f"s3://{bucket}/tree/")
    keys = [c["Key"] for c in s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["Contents"]]
    assert "tree/b.txt" not in keys and "tree/new.txt" in keys

    url = s3cli("presign", f"s3://{bucket}/tree/new.txt", "--expires-in", "60").strip()
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"new\n"

    s3cli("rm", f"s3://{bucket}/big.bin")
    s3cli("rm", "--recursive", f"s3://{bucket}/tree/")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert f"remove_bucket: {bucket}" in s3cli("rb", f"s3://{bucket}")
