"""REST API with a cached Lambda TOKEN authorizer vs the same method without one,
measured in the same run.

Two GET methods on one deployed REST API, both AWS_PROXY to the same function:
``/open`` (authorization NONE) and ``/secured`` (CUSTOM: a TOKEN authorizer with the
default 300 s result cache, so after the first request the authorizer function is not
invoked again and what is measured is sandlot's authorization work: identity source,
cache lookup, IAM evaluation of the cached policy against the method ARN). The p50
difference at concurrency 1 is what a cached authorizer adds: reported as the
difference of the best rounds and as the median of back-to-back rounds' differences
(steadier on a shared machine). Then, in-process, the CPU time of one authorization
served from the cache (load-independent: what the path costs, without the network).

    python bench/apigw_rest_authorizer.py [--seconds 10] [--rounds 5]
                                          [--sandbox process|linux]

Target (issue 13): a cached Lambda authorizer adds <= 0.3 ms p50.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import tempfile
import time
import zipfile

from common import client, cpu_seconds, create_bench_role, replay, start_server

ACCOUNT = "000000000000"
HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'hello'}\n"
AUTHORIZER = (
    "def handler(event, context):\n"
    "    return {'principalId': 'bench', 'policyDocument': {'Version': '2012-10-17',\n"
    "        'Statement': [{'Action': 'execute-api:Invoke', 'Effect': 'Allow',\n"
    "                       'Resource': event['methodArn'].split('/')[0] + '/*'}]}}\n"
)


def create_function(lam, name: str, code: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", code)
    arn = lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=f"arn:aws:iam::{ACCOUNT}:role/bench",
        Handler="app.handler", Code={"ZipFile": buffer.getvalue()},
    )["FunctionArn"]  # fmt: skip
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    lam.add_permission(
        FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:*",
    )  # fmt: skip
    return arn


def uri(arn: str) -> str:
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


def build_api(apis, hello: str, authorizer: str) -> str:
    api_id = apis.create_rest_api(name="bench")["id"]
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    created = apis.create_authorizer(
        restApiId=api_id, name="token", type="TOKEN", authorizerUri=uri(authorizer),
        identitySource="method.request.header.Authorization",
    )  # fmt: skip
    for part, kind in (("open", "NONE"), ("secured", "CUSTOM")):
        resource = apis.create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        extra = {"authorizerId": created["id"]} if kind == "CUSTOM" else {}
        apis.put_method(restApiId=api_id, resourceId=resource, httpMethod="GET",
                        authorizationType=kind, **extra)  # fmt: skip
        apis.put_integration(restApiId=api_id, resourceId=resource, httpMethod="GET",
                             type="AWS_PROXY", integrationHttpMethod="POST", uri=uri(hello))  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")
    return api_id


class _AnsweringPlatform:
    """Stands in for the platform in the in-process measurement: answers the one
    authorizer invocation (the cache serves every later request)."""

    async def call(self, service, operation, params, **kwargs):
        event = json.loads(params["Payload"])
        answer = {"principalId": "bench", "policyDocument": {"Version": "2012-10-17",
                  "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow",
                                 "Resource": event["methodArn"].split("/")[0] + "/*"}]}}  # fmt: skip
        return {"Payload": json.dumps(answer).encode()}


def cached_authorization_us(samples: int = 20000) -> float:
    """CPU microseconds of one authorization served from the cache, in-process: the
    identity source read, the cache lookup and the cached policy's decision for the
    method ARN (what ``/secured`` does beyond ``/open``, without the network)."""
    from sandlot.protocol.dataplane import DataPlaneRequest
    from sandlot.services.apigateway.authorization import Grant, LambdaAuthorizers

    authorizers = LambdaAuthorizers(_AnsweringPlatform())
    authorizer = {"id": "a1", "name": "token", "type": "TOKEN",
                  "authorizerUri": uri(f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:authorizer"),
                  "identitySource": "method.request.header.Authorization",
                  "authorizerResultTtlInSeconds": 300}  # fmt: skip
    authorizer["_fingerprint"] = json.dumps(authorizer, sort_keys=True)
    headers = [("host", "x"), ("user-agent", "bench"), ("authorization", "bench-token")]
    request = DataPlaneRequest("api", "GET", "/prod/secured", "", headers, b"", "127.0.0.1",
                               False, "api.execute-api.localhost", "us-east-1")  # fmt: skip
    arn = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:api/prod/GET/secured"

    async def run() -> float:
        async def once():
            return await authorizers.authorize(
                authorizer, request, api_id="api", stage="prod", account=ACCOUNT, region="us-east-1",
                method_arn=arn, base_event={}, stage_variables={},
            )  # fmt: skip

        assert isinstance(await once(), Grant)
        began = time.process_time()
        for _ in range(samples):
            await once()
        return (time.process_time() - began) * 1e6 / samples

    return round(asyncio.run(run()), 2)


def request(port: int, api_id: str, path: str) -> bytes:
    host = f"{api_id}.execute-api.localhost:{port}"
    return (f"GET /prod{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: bench-token\r\n"
            "Content-Length: 0\r\n\r\n").encode()  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per peer")
    parser.add_argument("--sandbox", choices=("process", "linux"), help="SANDLOT_SANDBOX")
    args = parser.parse_args()
    if args.sandbox:
        os.environ["SANDLOT_SANDBOX"] = args.sandbox
    with tempfile.TemporaryDirectory() as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            create_bench_role(port)
            lam, apis = client(port, "lambda"), client(port, "apigateway")
            hello = create_function(lam, "hello", HANDLER)
            authorizer = create_function(lam, "authorizer", AUTHORIZER)
            api_id = build_api(apis, hello, authorizer)
            results: dict = {"sandbox": os.environ.get("SANDLOT_SANDBOX", "default")}
            peers = (("no_authorizer", request(port, api_id, "/open")),
                     ("cached_authorizer", request(port, api_id, "/secured")))  # fmt: skip
            differences: dict[int, list[float]] = {1: [], 16: []}
            for concurrency in (1, 16):
                for _ in range(args.rounds):
                    p50s = {}
                    for label, raw in peers:
                        cpu = cpu_seconds(process.pid)
                        result = asyncio.run(
                            replay(port, raw, concurrency, args.seconds / args.rounds)
                        )
                        used = cpu_seconds(process.pid) - cpu
                        result["server_cpu_us"] = round(
                            used * 1e6 / (result["requests"] + result["warmup"])
                        )
                        key = f"{label}_c{concurrency}"
                        best = results.get(key)
                        if best is None or result["p50_ms"] < best["p50_ms"]:
                            results[key] = result
                        p50s[label] = result["p50_ms"]
                    differences[concurrency].append(
                        p50s["cached_authorizer"] - p50s["no_authorizer"]
                    )
            for concurrency in (1, 16):
                results[f"added_p50_ms_c{concurrency}"] = round(
                    results[f"cached_authorizer_c{concurrency}"]["p50_ms"]
                    - results[f"no_authorizer_c{concurrency}"]["p50_ms"],
                    3,
                )
                # Back-to-back rounds share the machine's load: the median of their
                # differences is steadier than the difference of the best rounds.
                results[f"added_p50_ms_c{concurrency}_median_of_rounds"] = round(
                    statistics.median(differences[concurrency]), 3
                )
        finally:
            process.terminate()
            process.wait(20)
    results["cached_authorization_cpu_us_in_process"] = cached_authorization_us()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
