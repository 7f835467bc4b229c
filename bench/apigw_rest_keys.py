"""REST API with a required API key in a usage plan with a quota: what metering costs.

Each metered request is counted in the store (group commit) before it goes on, so a
quota survives a crash. Peers in the same run, on the same MOCK integration: the method
without ``apiKeyRequired`` and the method with it (plan with a quota large enough never
to refuse). p50/p99 at concurrency 1 and 16.

    python bench/apigw_rest_keys.py [--seconds 10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile

from common import client, replay, start_server


def build(apis) -> tuple[str, str]:
    api_id = apis.create_rest_api(name="keys")["id"]
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    for part, required in (("open", False), ("metered", True)):
        resource = apis.create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        method = dict(restApiId=api_id, resourceId=resource, httpMethod="GET")
        apis.put_method(**method, authorizationType="NONE", apiKeyRequired=required)
        apis.put_integration(**method, type="MOCK",
                             requestTemplates={"application/json": '{"statusCode": 200}'})  # fmt: skip
        apis.put_method_response(**method, statusCode="200")
        apis.put_integration_response(**method, statusCode="200",
                                      responseTemplates={"application/json": '{"ok": true}'})  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")
    key = apis.create_api_key(name="bench", enabled=True)
    plan = apis.create_usage_plan(name="bench", apiStages=[{"apiId": api_id, "stage": "prod"}],
                                  quota={"limit": 100_000_000, "period": "DAY"})  # fmt: skip
    apis.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    return api_id, key["value"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results: dict = {}
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            api_id, value = build(client(port, "apigateway"))
            host = f"{api_id}.execute-api.localhost:{port}"
            peers = {
                "open": f"GET /prod/open HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(),
                "metered": (f"GET /prod/metered HTTP/1.1\r\nHost: {host}\r\n"
                            f"x-api-key: {value}\r\n\r\n").encode(),
            }  # fmt: skip
            for concurrency in (1, 16):
                for _ in range(args.rounds):
                    for label, request in peers.items():
                        result = asyncio.run(
                            replay(port, request, concurrency, args.seconds / args.rounds)
                        )
                        key = f"{label}_c{concurrency}"
                        best = results.get(key)
                        if best is None or result["p50_ms"] < best["p50_ms"]:
                            results[key] = result
            usage = client(port, "apigateway").get_usage(
                usagePlanId=client(port, "apigateway").get_usage_plans()["items"][0]["id"],
                startDate="2000-01-01", endDate="2100-01-01", limit=1,
            )  # fmt: skip
            results["counted"] = sum(day[0] for days in usage["items"].values() for day in days)
        finally:
            process.terminate()
            process.wait(20)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
