"""SnapStart for Python: cold starts of a published version restored from its snapshot,
against the same function's cold starts on $LATEST (a full INIT), through the Invoke API.

The function's INIT imports boto3, makes an S3 client and sleeps until 0.6 s have
passed (a heavy-library init). Each cold start is the first invoke after the previous
environment exited (an invoke that makes the handler exit its runtime), so
every sample gets a new environment: restored from the snapshot for the version, a
fresh INIT for $LATEST. "restore" is the REPORT line's Restore Duration.

    python bench/snapstart.py [--cold 30] [--latest 5] [--sandbox linux|process]
                              [--cold-gap 0.3]

Target: restore p50 <= 20 ms (on the linux sandbox, the default).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import tempfile
import time
import zipfile

import boto3
from botocore.config import Config
from common import create_bench_role, percentiles, start_server

APP = """
import os, time
began = time.monotonic()
import boto3
s3 = boto3.client("s3")
time.sleep(max(0.0, 0.6 - (time.monotonic() - began)))


ENVIRONMENT = []  # filled at the first invoke: each environment's own (os.urandom)


def handler(event, context):
    if event.get("exit"):  # end this environment: the next invoke is a cold start
        os._exit(0)
    ENVIRONMENT[:] = ENVIRONMENT or [os.urandom(8).hex()]
    return {"environment": ENVIRONMENT[0]}
"""
RESTORE = re.compile(r"Restore Duration: ([\d.]+) ms")
INIT = re.compile(r"Init Duration: ([\d.]+) ms")


def zip_of(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def cold_starts(
    lam, name: str, qualifier: str, count: int, gap: float = 0.0
) -> tuple[list[float], list[float]]:
    """(client-seen latencies, REPORT restore or init durations) of ``count`` cold starts,
    ``gap`` seconds apart."""
    latencies, reported = [], []
    pattern = RESTORE if qualifier != "$LATEST" else INIT
    previous = None
    for _ in range(count):
        began = time.perf_counter()
        answer = lam.invoke(FunctionName=name, Qualifier=qualifier, LogType="Tail")
        latencies.append(time.perf_counter() - began)
        result = json.loads(answer["Payload"].read())
        tail = base64.b64decode(answer["LogResult"]).decode()
        assert "FunctionError" not in answer, (result, tail)
        assert result["environment"] != previous  # a new environment each time
        previous = result["environment"]
        match = pattern.search(tail)
        assert match, f"no restore/init duration in the REPORT line: {tail}"
        reported.append(float(match.group(1)) / 1000)
        # The environment exits in this invoke (Runtime.ExitError): the next is cold.
        lam.invoke(FunctionName=name, Qualifier=qualifier, Payload=b'{"exit": true}')
        time.sleep(gap)
    return latencies, reported


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", type=int, default=30, help="restores to measure")
    parser.add_argument("--latest", type=int, default=5, help="$LATEST cold starts")
    parser.add_argument("--sandbox", choices=("linux", "process"), default="linux")
    parser.add_argument(
        "--cold-gap", type=float, default=0.0, help="seconds between cold starts (0: back to back)"
    )
    args = parser.parse_args()
    os.environ["SANDLOT_SANDBOX"] = args.sandbox
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            lam = boto3.client(
                "lambda", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                aws_access_key_id="benchkey", aws_secret_access_key="benchsecret",
                config=Config(retries={"max_attempts": 1}, read_timeout=60),
            )  # fmt: skip
            create_bench_role(port)
            lam.create_function(
                FunctionName="snap", Runtime="python3.12", Handler="app.handler",
                Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": zip_of(APP)},
                SnapStart={"ApplyOn": "PublishedVersions"},
            )  # fmt: skip
            lam.get_waiter("function_active_v2").wait(
                FunctionName="snap", WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
            )
            began = time.perf_counter()
            version = lam.publish_version(FunctionName="snap")["Version"]
            while lam.get_function_configuration(FunctionName="snap", Qualifier=version)[
                "State"
            ] == "Pending":  # fmt: skip
                time.sleep(0.01)
            snapshot_s = time.perf_counter() - began
            restored, restore = cold_starts(lam, "snap", version, args.cold, args.cold_gap)
            fresh, init = cold_starts(lam, "snap", "$LATEST", args.latest)
        finally:
            process.terminate()
            process.wait(20)
    results = {
        "sandbox": args.sandbox,
        "cold_gap_s": args.cold_gap,
        "snapshot_made_s": round(snapshot_s, 3),
        "snapstart_cold_start": {"samples": len(restored), **percentiles(restored)},
        "restore_duration": percentiles(restore),
        "latest_cold_start": {"samples": len(fresh), **percentiles(fresh)},
        "latest_init_duration": percentiles(init),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
