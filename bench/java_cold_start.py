"""Java Lambda benchmark: a POJO hello world on ``java17`` through the Invoke API.

Reports cold starts (the first invoke of a freshly created function: a new JVM running
AWS's Runtime Interface Client), warm p50/p99 at concurrency 1, and the PSS of an idle
warm environment's JVM. The handler is compiled here with ``javac``.

Cold starts are measured with the RIC's class-data sharing archive (sandlot's default,
execution/runtimes/java_cds.py) and without, alternately in the same run: the bench waits
until the first function's start has built the archive (a probe function reports its
JVM's flags), and the functions measured without it set ``JAVA_TOOL_OPTIONS=-Xshare:auto``
(the JVM's default: a function's own CDS option keeps sandlot's archive out).

    python bench/java_cold_start.py [--cold 20] [--seconds 5] [--runtime java17]
                                    [--sandbox process|linux] [--memory 512]
                                    [--java-options=-Xshare:off] [--no-cds]

``--memory`` is the functions' MemorySize: the linux sandbox gives an environment a CPU
weight in proportion to it (1769 MB = one vCPU's share, as on Lambda), which decides a
cold start's speed when the machine is busy.

``--java-options`` sets JAVA_TOOL_OPTIONS of the functions (to try JVM flags, e.g. a
class-data sharing archive).

Targets (2-core machine): cold start p50 <= 300 ms; warm p50 <= 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config
from common import create_bench_role, percentiles, replay, signed_request, start_server

PROBE = """
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Map;

public class Probe {
  public List<String> handle(Map<String, Object> event) {
    return ManagementFactory.getRuntimeMXBean().getInputArguments();
  }
}
"""
SOURCE = """
import java.util.Map;

public class Hello {
  public Map<String, Object> handle(Map<String, Object> event) {
    return Map.of("ok", true, "size", String.valueOf(event.get("data")).length());
  }
}
"""
PAYLOAD = json.dumps({"data": "x" * 1000}).encode()  # ~1 KB


def hello_zip() -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "Hello.java").write_text(SOURCE)
        (Path(scratch) / "Probe.java").write_text(PROBE)
        subprocess.run(
            ["javac", "--release", "11", "Hello.java", "Probe.java"], cwd=scratch, check=True
        )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.write(Path(scratch) / "Hello.class", "Hello.class")
            archive.write(Path(scratch) / "Probe.class", "Probe.class")
        return buffer.getvalue()


def wait_for_archive(lam, code: bytes, runtime: str, memory: int, deadline_s: float) -> float:
    """Seconds until a new function's JVM starts with the CDS archive (its build began
    with the first Java environment); raises TimeoutError."""
    began = time.perf_counter()
    for i in range(10_000):
        name = f"probe-{i}"
        create(lam, name, code, runtime, None, memory, handler="Probe::handle")
        arguments = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
        lam.delete_function(FunctionName=name)
        if any(a.startswith("-XX:SharedArchiveFile=") for a in arguments):
            return time.perf_counter() - began
        if time.perf_counter() - began > deadline_s:
            raise TimeoutError(f"no CDS archive in use after {deadline_s} s: {arguments}")
    raise TimeoutError


def create(
    lam, name: str, code: bytes, runtime: str, options: str | None, memory: int,
    handler: str = "Hello::handle",
) -> None:  # fmt: skip
    environment = {"Variables": {"JAVA_TOOL_OPTIONS": options}} if options else {}
    lam.create_function(
        FunctionName=name, Runtime=runtime, Role="arn:aws:iam::000000000000:role/bench",
        Handler=handler, Code={"ZipFile": code}, MemorySize=memory,
        Environment=environment,
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )


def invoked_ok(head: bytes, body: bytes) -> bool:
    return head.startswith(b"HTTP/1.1 200") and b"x-amz-function-error" not in head.lower()


def jvm_pss_mb(server_pid: int) -> list[float]:
    """The PSS of each RIC JVM under the server (the idle warm environments)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if not any(part.endswith(b".AWSLambda") for part in argv):
                continue
            for line in (entry / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    found.append(round(int(line.split()[1]) / 1024, 1))
        except OSError:
            continue
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--cold", type=int, default=20, help="cold starts to measure")
    parser.add_argument("--runtime", default="java17")
    parser.add_argument("--sandbox", choices=("process", "linux"), help="SANDLOT_SANDBOX")
    parser.add_argument("--java-options", help="JAVA_TOOL_OPTIONS of the functions")
    parser.add_argument("--memory", type=int, default=512, help="the functions' MemorySize")
    parser.add_argument("--no-cds", action="store_true", help="only cold starts without CDS")
    args = parser.parse_args()
    if args.sandbox:
        os.environ["SANDLOT_SANDBOX"] = args.sandbox
    code = hello_zip()
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            lam = boto3.client(
                "lambda", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                aws_access_key_id="benchkey", aws_secret_access_key="benchsecret",
                config=Config(retries={"max_attempts": 1}, read_timeout=600),
            )  # fmt: skip
            create_bench_role(port)
            # The first Java function fetches the RIC's jars (once per cache): not measured.
            create(lam, "fetch", code, args.runtime, args.java_options, args.memory)
            lam.invoke(FunctionName="fetch", Payload=PAYLOAD)["Payload"].read()
            lam.delete_function(FunctionName="fetch")
            archive_s = None
            if not args.no_cds:
                archive_s = wait_for_archive(lam, code, args.runtime, args.memory, 300)
            cold: dict[str, list[float]] = {"cds": [], "no_cds": []}
            for i in range(args.cold):
                for kind in ("no_cds",) if args.no_cds else ("cds", "no_cds"):
                    options = args.java_options
                    if kind == "no_cds":
                        options = f"{options} -Xshare:auto" if options else "-Xshare:auto"
                    name = f"cold-{kind}-{i}"
                    create(lam, name, code, args.runtime, options, args.memory)
                    began = time.perf_counter()
                    response = lam.invoke(FunctionName=name, Payload=PAYLOAD)
                    response["Payload"].read()
                    cold[kind].append(time.perf_counter() - began)
                    assert "FunctionError" not in response, response
                    lam.delete_function(FunctionName=name)  # its JVM is not left idle
            create(lam, "warm", code, args.runtime, args.java_options, args.memory)
            path = "/2015-03-31/functions/warm/invocations"
            request = signed_request(port, "lambda", path, PAYLOAD, {})
            results = {
                "sandbox": os.environ.get("SANDLOT_SANDBOX", "default"),
                "runtime": args.runtime,
                "java_options": args.java_options,
                "memory_mb": args.memory,
                "cds_archive_built_s": archive_s and round(archive_s, 1),
                "load_average": os.getloadavg(),
                **{
                    f"cold_start_{kind}": {"samples": len(times), **percentiles(times)}
                    for kind, times in cold.items()
                    if times
                },
                "warm_c1": asyncio.run(replay(port, request, 1, args.seconds, invoked_ok)),
            }
            time.sleep(1)  # idle: whatever the JIT and GC still do after the load settles
            results["idle_jvm_pss_mb"] = jvm_pss_mb(process.pid)
        finally:
            process.terminate()
            process.wait(20)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
