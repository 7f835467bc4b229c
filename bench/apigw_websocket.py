"""WebSocket API echo benchmark: the round trip of one message through an API Gateway
WebSocket API to a Python function and back (the ``$default`` route with a ``$default``
route response: the function's ``body`` is sent back), with a direct Lambda ``Invoke``
of the same function as the peer measured in the same run.

    python bench/apigw_websocket.py [--seconds 10] [--rounds 5]

One connection, one message at a time (``websockets``' synchronous client). Target
(issue 13): a WebSocket echo round trip p50 <= 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time

from apigw_http import ACCOUNT, create_function
from common import client, create_bench_role, percentiles, replay, signed_request, start_server
from websockets.sync.client import connect


def websocket_api(apis, function_arn: str) -> str:
    api_id = apis.create_api(
        Name="echo", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )["ApiId"]
    integration = apis.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn
    )["IntegrationId"]
    route = apis.create_route(
        ApiId=api_id, RouteKey="$default", Target=f"integrations/{integration}",
        RouteResponseSelectionExpression="$default",
    )  # fmt: skip
    apis.create_route_response(ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$default")
    apis.create_stage(ApiId=api_id, StageName="bench", AutoDeploy=True)
    return api_id


def echo_round(port: int, api_id: str, seconds: float) -> dict:
    with connect(f"ws://127.0.0.1:{port}/_aws/execute-api/{api_id}/bench") as ws:
        for _ in range(20):  # warm-up: the function's environment is up
            ws.send("warm")
            ws.recv(timeout=30)
        latencies = []
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            began = time.perf_counter()
            ws.send('{"n": 1}')
            answer = ws.recv(timeout=30)
            latencies.append(time.perf_counter() - began)
            assert answer.startswith("hello"), answer
    return {"requests": len(latencies), **percentiles(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            create_bench_role(port)
            lam, apis = client(port, "lambda"), client(port, "apigatewayv2")
            arn = create_function(lam, "hello")
            assert ACCOUNT in arn
            api_id = websocket_api(apis, arn)
            invoke = signed_request(
                port, "lambda", "/2015-03-31/functions/hello/invocations", b"{}", {}
            )
            results: dict = {}
            for _ in range(args.rounds):
                rounds = {
                    "invoke": asyncio.run(replay(port, invoke, 1, args.seconds / args.rounds)),
                    "websocket_echo": echo_round(port, api_id, args.seconds / args.rounds),
                }
                for label, result in rounds.items():
                    best = results.get(label)
                    if best is None or result["p50_ms"] < best["p50_ms"]:
                        results[label] = result
            results["added_p50_ms"] = round(
                results["websocket_echo"]["p50_ms"] - results["invoke"]["p50_ms"], 3
            )
        finally:
            process.terminate()
            process.wait(20)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
