"""Lambda response streaming: time to first byte of a streamed response against a
buffered one, through the API (``InvokeWithResponseStream`` vs ``Invoke``) and through
function URLs (``RESPONSE_STREAM`` vs ``BUFFERED``), for functions that write their first
bytes at once and the rest ``--delay`` ms later (and with no delay: what streaming costs
a small answer).

    python bench/streaming.py [--samples 50] [--delay 100] [--sandbox process|linux]

Each sample is one request on a fresh connection (``Connection: close``), read raw:
TTFB is when the first byte of the answer's body arrives (for
``InvokeWithResponseStream``, the first event-stream message, a ``PayloadChunk``),
"total" when the response has ended. Node.js functions on both sides (the same runtime).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import time

from common import client, code_zip, create_bench_role, signed_request, start_server

STREAMED = """
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
exports.handler = awslambda.streamifyResponse(async (event, stream) => {
  stream.setContentType('text/plain');
  stream.write('first');
  await sleep(event.delay || Number(event.queryStringParameters?.delay || 0));
  stream.write(' rest');
  stream.end();
});
"""
BUFFERED = """
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
exports.handler = async (event) => {
  await sleep(event.delay || Number(event.queryStringParameters?.delay || 0));
  return 'first rest';
};
"""
ACCOUNT = "000000000000"


def create(lam, name: str, source: str, mode: str) -> str:
    lam.create_function(
        FunctionName=name, Runtime="nodejs20.x", Role=f"arn:aws:iam::{ACCOUNT}:role/bench",
        Handler="index.handler", Code={"ZipFile": code_zip({"index.js": source})},
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode=mode)
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")  # fmt: skip
    return url["FunctionUrl"].split("//", 1)[1].split("/", 1)[0]  # the URL's host


def timed(port: int, request: bytes) -> tuple[float, float, bytes]:
    """(TTFB, total) in seconds and the raw body of one request on a new connection."""
    sock = socket.create_connection(("127.0.0.1", port))
    began = time.perf_counter()
    sock.sendall(request)
    data, first = b"", None
    head_end = -1
    while True:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
        if head_end < 0:
            head_end = data.find(b"\r\n\r\n")
        if first is None and head_end >= 0 and len(data) > head_end + 4:
            first = time.perf_counter()
    total = time.perf_counter()
    sock.close()
    head = data[:head_end]
    assert head.startswith(b"HTTP/1.1 200"), head
    return first - began, total - began, data[head_end + 4 :]


def stats(samples: list[tuple[float, float]]) -> dict:
    return {
        "ttfb_p50_ms": round(statistics.median(s[0] for s in samples) * 1000, 2),
        "total_p50_ms": round(statistics.median(s[1] for s in samples) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--delay", type=int, default=100, help="ms between the two writes")
    parser.add_argument("--sandbox", choices=("process", "linux"), help="SANDLOT_SANDBOX")
    args = parser.parse_args()
    if args.sandbox:
        os.environ["SANDLOT_SANDBOX"] = args.sandbox
    results: dict = {"sandbox": os.environ.get("SANDLOT_SANDBOX", "default")}
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            create_bench_role(port)
            lam = client(port, "lambda")
            stream_host = create(lam, "streamed", STREAMED, "RESPONSE_STREAM")
            buffered_host = create(lam, "buffered", BUFFERED, "BUFFERED")
            for delay in (0, args.delay):
                payload = json.dumps({"delay": delay}).encode()
                close = {"Connection": "close"}
                peers = {
                    "Invoke (buffered)": signed_request(
                        port, "lambda", "/2015-03-31/functions/buffered/invocations",
                        payload, close),
                    "InvokeWithResponseStream": signed_request(
                        port, "lambda",
                        "/2021-11-15/functions/streamed/response-streaming-invocations",
                        payload, close),
                    "function URL BUFFERED": (
                        f"GET /?delay={delay} HTTP/1.1\r\nHost: {buffered_host}\r\n"
                        "Connection: close\r\n\r\n").encode(),
                    "function URL RESPONSE_STREAM": (
                        f"GET /?delay={delay} HTTP/1.1\r\nHost: {stream_host}\r\n"
                        "Connection: close\r\n\r\n").encode(),
                }  # fmt: skip
                for label, request in peers.items():
                    for _ in range(3):  # warm: environments started
                        timed(port, request)
                    samples = []
                    for _ in range(args.samples):
                        ttfb, total, body = timed(port, request)
                        assert b"first" in body and b"rest" in body, body[:200]
                        samples.append((ttfb, total))
                    results[f"{label}, delay {delay} ms"] = stats(samples)
        finally:
            process.terminate()
            process.wait(20)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
