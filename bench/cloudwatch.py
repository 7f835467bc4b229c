"""CloudWatch benchmark: GetMetricData over 24 hours of one-minute data for 100
functions, through the gateway on a keep-alive connection.

Starts a real server, publishes 24 h of one-minute datapoints for 100 metrics (one per
"function": namespace Bench, dimension FunctionName; 144,000 datapoints in
PutMetricData calls of 1,000, gzip as botocore sends them), then replays one
pre-signed GetMetricData request (100 MetricStat queries, Period 60, Sum) for
``--seconds``: one page of all 144,000 points (MaxDatapoints 144000), and AWS's
default first page (100,800). Also: one query of one function over 24 h, and a
``SUM(METRICS())`` expression over the 100.

    python bench/cloudwatch.py [--seconds 5]

Target (2-core machine): ≤ 50 ms for the 100 functions × 24 h.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import tempfile
import time

from common import client, replay, signed_request, start_server

HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricData",
}
FUNCTIONS = 100
MINUTES = 24 * 60


def publish(port: int, end: int) -> float:
    cw = client(port, "cloudwatch")
    began = time.perf_counter()
    start = end - MINUTES * 60
    batch: list[dict] = []
    for f in range(FUNCTIONS):
        for m in range(MINUTES):
            batch.append({
                "MetricName": "Invocations",
                "Dimensions": [{"Name": "FunctionName", "Value": f"fn-{f:03d}"}],
                "Timestamp": dt.datetime.fromtimestamp(start + m * 60, dt.UTC),
                "Value": float(m % 7),
                "Unit": "Count",
            })  # fmt: skip
            if len(batch) == 1000:
                cw.put_metric_data(Namespace="Bench", MetricData=batch)
                batch = []
    if batch:
        cw.put_metric_data(Namespace="Bench", MetricData=batch)
    return time.perf_counter() - began


def query(f: int) -> dict:
    return {
        "Id": f"m{f}",
        "MetricStat": {
            "Period": 60,
            "Stat": "Sum",
            "Metric": {
                "Namespace": "Bench",
                "MetricName": "Invocations",
                "Dimensions": [{"Name": "FunctionName", "Value": f"fn-{f:03d}"}],
            },
        },
    }


def request(port: int, queries: list[dict], end: int, **extra) -> bytes:
    body = {"MetricDataQueries": queries, "StartTime": end - MINUTES * 60, "EndTime": end}
    body.update(extra)
    return signed_request(port, "monitoring", "/", json.dumps(body).encode(), HEADERS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    end = int(time.time()) // 60 * 60
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            results: dict = {"publish_s": round(publish(port, end), 2)}
            every = [query(f) for f in range(FUNCTIONS)]
            cases = {
                "100_functions_one_page": request(port, every, end, MaxDatapoints=144_000),
                "100_functions_first_page": request(port, every, end),
                "1_function": request(port, every[:1], end),
                "sum_of_100": request(
                    port,
                    [
                        *({**q, "ReturnData": False} for q in every),
                        {"Id": "total", "Expression": "SUM(METRICS())"},
                    ],
                    end,
                ),  # fmt: skip
            }
            for name, payload in cases.items():
                results[name] = asyncio.run(replay(port, payload, 1, args.seconds))
        finally:
            process.terminate()
            process.wait(20)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
