"""X-Ray active tracing of a REST API stage (``tracingEnabled``): the stage's own
``AWS::ApiGateway::Stage`` segment, its ``Lambda`` call subsegment, and the function's
Active-tracing segments under it, one trace read back with boto3 (BatchGetTraces,
GetTraceSummaries, GetServiceGraph)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import invoke_url, send
from tests.e2e.traces import tracing_role, wait_trace

ACCOUNT = "000000000000"

APP = """
import json, os

def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({
        "env": os.environ.get("_X_AMZN_TRACE_ID"),
        "header": (event.get("headers") or {}).get("X-Amzn-Trace-Id"),
    })}
"""


@pytest.fixture(scope="module")
def traced_api(server):
    """A REST API on a traced stage ``prod`` (UpdateStage ``/tracingEnabled``) and an
    untraced stage ``dev``, proxying to a function with Active tracing."""
    lam, apis = make_client(server.endpoint, "lambda"), make_client(server.endpoint, "apigateway")
    role = tracing_role(server.endpoint, "traced-api-role")
    name = unique("traced-api-fn")
    arn = create_function(lam, name, {"app.py": APP}, role=role, TracingConfig={"Mode": "Active"})[
        "FunctionArn"
    ]
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    definition = {
        "swagger": "2.0",
        "info": {"title": unique("traced-api"), "version": "1"},
        "paths": {"/items": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "httpMethod": "POST", "uri": uri}}}},
    }  # fmt: skip
    api = apis.import_rest_api(body=json.dumps(definition).encode())
    lam.add_permission(
        FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api['id']}/*/GET/items",
    )  # fmt: skip
    deployment = apis.create_deployment(restApiId=api["id"], stageName="dev")
    assert apis.get_stage(restApiId=api["id"], stageName="dev")["tracingEnabled"] is False
    apis.create_stage(restApiId=api["id"], stageName="prod", deploymentId=deployment["id"])
    apis.update_stage(
        restApiId=api["id"], stageName="prod",
        patchOperations=[{"op": "replace", "path": "/tracingEnabled", "value": "true"}],
    )  # fmt: skip
    assert apis.get_stage(restApiId=api["id"], stageName="prod")["tracingEnabled"] is True
    return {"id": api["id"], "name": api["name"], "function": name}


def _fields(header: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in header.split(";"))


def test_traced_stage_is_the_functions_parent(server, traced_api) -> None:
    xray = make_client(server.endpoint, "xray")
    api_id, api_name = traced_api["id"], traced_api["name"]
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    client_parent = os.urandom(8).hex()
    url = invoke_url(server, api_id, "/prod/items?q=1")
    answer = send(server.endpoint, "GET", url,
                  headers={"X-Amzn-Trace-Id": f"Root={root};Parent={client_parent};Sampled=1"})  # fmt: skip
    assert answer.status == 200, answer.body
    returned = _fields(answer.header("X-Amzn-Trace-Id"))
    assert returned["Root"] == root and returned["Sampled"] == "1"
    seen = answer.json()
    passed = _fields(seen["header"])  # what API Gateway handed the function
    assert passed["Root"] == root and passed["Sampled"] == "1"

    docs = wait_trace(
        xray, root, {"AWS::ApiGateway::Stage", "AWS::Lambda", "AWS::Lambda::Function"}
    )
    stage = docs["AWS::ApiGateway::Stage"]
    assert stage["name"] == f"{api_name}/prod"
    assert stage["parent_id"] == client_parent
    assert stage["resource_arn"] == f"arn:aws:apigateway:us-east-1::/restapis/{api_id}/stages/prod"
    assert stage["annotations"] == {"aws:api_id": api_id, "aws:api_stage": "prod"}
    gateway = stage["aws"]["api_gateway"]
    assert gateway["rest_api_id"] == api_id and gateway["stage"] == "prod"
    assert gateway["account_id"] == ACCOUNT
    assert stage["http"]["request"]["method"] == "GET"
    assert stage["http"]["request"]["url"].endswith("/prod/items?q=1")
    assert stage["http"]["response"]["status"] == 200
    (call,) = stage["subsegments"]
    assert call["name"] == "Lambda" and call["namespace"] == "aws"
    assert call["aws"]["operation"] == "Invoke"
    assert call["aws"]["function_name"] == traced_api["function"]
    assert call["id"] == passed["Parent"]
    service, function = docs["AWS::Lambda"], docs["AWS::Lambda::Function"]
    assert service["parent_id"] == call["id"]
    assert function["parent_id"] == service["id"]
    assert _fields(seen["env"])["Parent"] == function["id"]
    assert stage["start_time"] <= call["start_time"] <= service["start_time"]
    assert service["end_time"] <= stage["end_time"]

    now = dt.datetime.now(dt.UTC)
    window = {"StartTime": now - dt.timedelta(minutes=5), "EndTime": now + dt.timedelta(minutes=1)}
    summaries = xray.get_trace_summaries(
        FilterExpression=f'annotation.aws:api_id = "{api_id}"', **window
    )["TraceSummaries"]
    (summary,) = [s for s in summaries if s["Id"] == root]
    assert summary["EntryPoint"] == {
        "Name": f"{api_name}/prod", "Names": [f"{api_name}/prod"],
        "Type": "AWS::ApiGateway::Stage",
    }  # fmt: skip
    assert summary["Http"]["HttpStatus"] == 200 and summary["Http"]["HttpMethod"] == "GET"

    graph = xray.get_service_graph(**window)["Services"]
    nodes = {(s.get("Name"), s.get("Type")): s for s in graph}
    stage_node = nodes[(f"{api_name}/prod", "AWS::ApiGateway::Stage")]
    lambda_node = nodes[(traced_api["function"], "AWS::Lambda")]
    assert stage_node["Root"] is True
    # The client → stage → function edges: AWS's nameless client node calls the root.
    client = nodes[(None, "client")]
    assert client["Names"] == [] and client["Root"] is False and client["State"] == "unknown"
    assert stage_node["ReferenceId"] in [e["ReferenceId"] for e in client["Edges"]]
    assert lambda_node["ReferenceId"] in [e["ReferenceId"] for e in stage_node["Edges"]]


def test_stage_samples_and_starts_traces(server, traced_api) -> None:
    xray = make_client(server.endpoint, "xray")
    url = invoke_url(server, traced_api["id"], "/prod/items")
    # Upstream said not sampled: passed on, nothing recorded.
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    answer = send(
        server.endpoint, "GET", url,
        headers={"X-Amzn-Trace-Id": f"Root={root};Sampled=0;Lineage=0badcafe:1"},
    )  # fmt: skip
    assert answer.status == 200
    assert _fields(answer.header("X-Amzn-Trace-Id")) == {"Root": root, "Sampled": "0"}
    # The function's header keeps the client's other fields (loop detection's Lineage).
    assert _fields(answer.json()["header"]) == {
        "Root": root, "Sampled": "0", "Lineage": "0badcafe:1"}  # fmt: skip
    # No header: the stage starts the trace; the default rule's reservoir takes the
    # first request of a second.
    time.sleep(max(0.0, 1.05 - (time.time() % 1)))  # a fresh second
    answer = send(server.endpoint, "GET", url)
    header = _fields(answer.header("X-Amzn-Trace-Id"))
    assert header["Sampled"] == "1"
    docs = wait_trace(xray, header["Root"], {"AWS::ApiGateway::Stage", "AWS::Lambda::Function"})
    assert "parent_id" not in docs["AWS::ApiGateway::Stage"]
    assert xray.batch_get_traces(TraceIds=[root])["Traces"] == []
    # An untraced stage records no segment of its own: the function's (Active) still
    # join the client's sampled trace, as the client's header reaches them.
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    answer = send(server.endpoint, "GET", invoke_url(server, traced_api["id"], "/dev/items"),
                  headers={"X-Amzn-Trace-Id": f"Root={root};Sampled=1"})  # fmt: skip
    assert answer.status == 200
    docs = wait_trace(xray, root, {"AWS::Lambda", "AWS::Lambda::Function"})
    assert "AWS::ApiGateway::Stage" not in docs


AUTHORIZER = """
def handler(event, context):
    return {"principalId": "me", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}]}}
"""


def test_lambda_authorizer_is_a_call_of_the_stage(server, traced_api) -> None:
    """A TOKEN authorizer on a stage created traced (CreateStage ``tracingEnabled``): its
    invocation is a ``Lambda`` subsegment before the integration's, and its own Active
    segments join the trace under it."""
    lam, apis = make_client(server.endpoint, "lambda"), make_client(server.endpoint, "apigateway")
    xray = make_client(server.endpoint, "xray")
    role = lam.get_function_configuration(FunctionName=traced_api["function"])["Role"]
    auth_name = unique("traced-auth")
    auth_arn = create_function(
        lam, auth_name, {"app.py": AUTHORIZER}, role=role, TracingConfig={"Mode": "Active"}
    )["FunctionArn"]
    echo_arn = lam.get_function_configuration(FunctionName=traced_api["function"])["FunctionArn"]
    for name in (auth_name, traced_api["function"]):
        lam.add_permission(
            FunctionName=name, StatementId=unique("any-api"), Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:*",
        )  # fmt: skip

    def uri(arn: str) -> str:
        return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"

    api_id = apis.create_rest_api(name=unique("traced-auth-api"))["id"]
    authorizer = apis.create_authorizer(
        restApiId=api_id, name="auth", type="TOKEN", authorizerUri=uri(auth_arn),
        identitySource="method.request.header.Authorization", authorizerResultTtlInSeconds=0,
    )  # fmt: skip
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    items = apis.create_resource(restApiId=api_id, parentId=root, pathPart="items")["id"]
    apis.put_method(restApiId=api_id, resourceId=items, httpMethod="GET",
                    authorizationType="CUSTOM", authorizerId=authorizer["id"])  # fmt: skip
    apis.put_integration(restApiId=api_id, resourceId=items, httpMethod="GET", type="AWS_PROXY",
                         integrationHttpMethod="POST", uri=uri(echo_arn))  # fmt: skip
    deployment = apis.create_deployment(restApiId=api_id)["id"]
    apis.create_stage(restApiId=api_id, stageName="live", deploymentId=deployment,
                      tracingEnabled=True)  # fmt: skip
    assert apis.get_stage(restApiId=api_id, stageName="live")["tracingEnabled"] is True

    root_id = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    answer = send(server.endpoint, "GET", invoke_url(server, api_id, "/live/items"),
                  headers={"X-Amzn-Trace-Id": f"Root={root_id};Sampled=1",
                           "Authorization": "token"})  # fmt: skip
    assert answer.status == 200, answer.body
    deadline = time.monotonic() + 15
    docs: list[dict] = []
    while time.monotonic() < deadline:
        traces = xray.batch_get_traces(TraceIds=[root_id])["Traces"]
        docs = [json.loads(s["Document"]) for s in traces[0]["Segments"]] if traces else []
        if len([d for d in docs if d.get("origin") == "AWS::Lambda"]) == 2 and any(
            d.get("origin") == "AWS::ApiGateway::Stage" for d in docs
        ):
            break
        time.sleep(0.1)
    (stage,) = [d for d in docs if d.get("origin") == "AWS::ApiGateway::Stage"]
    calls = stage["subsegments"]
    assert [c["aws"]["function_name"] for c in calls] == [auth_name, traced_api["function"]]
    assert calls[0]["end_time"] <= calls[1]["start_time"]
    services = {d["name"]: d for d in docs if d.get("origin") == "AWS::Lambda"}
    assert services[auth_name]["parent_id"] == calls[0]["id"]
    assert services[traced_api["function"]]["parent_id"] == calls[1]["id"]


def test_service_integration_carries_the_trace(server) -> None:
    """An SQS SendMessage integration on a traced stage: an ``SQS`` call subsegment
    (an inferred AWS::SQS node of the graph) whose id is the message's AWSTraceHeader
    Parent, so a consumer continues the same trace."""
    apis, sqs = make_client(server.endpoint, "apigateway"), make_client(server.endpoint, "sqs")
    iam, xray = make_client(server.endpoint, "iam"), make_client(server.endpoint, "xray")
    queue = unique("traced-q")
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    role_name = unique("traced-apigw")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "apigateway.amazonaws.com"}}]}  # fmt: skip
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=role_name, PolicyName="send", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}))  # fmt: skip
    api_id = apis.create_rest_api(name=unique("traced-sqs"))["id"]
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    resource = apis.create_resource(restApiId=api_id, parentId=root, pathPart="send")["id"]
    key = {"restApiId": api_id, "resourceId": resource, "httpMethod": "POST"}
    apis.put_method(**key, authorizationType="NONE")
    apis.put_integration(
        **key, type="AWS", integrationHttpMethod="POST", credentials=role["Role"]["Arn"],
        uri=f"arn:aws:apigateway:us-east-1:sqs:path/{ACCOUNT}/{queue}",
        requestParameters={"integration.request.header.Content-Type":
                           "'application/x-www-form-urlencoded'"},
        requestTemplates={"application/json": "Action=SendMessage&MessageBody=hi"},
    )  # fmt: skip
    apis.put_integration_response(**key, statusCode="200")
    deployment = apis.create_deployment(restApiId=api_id)["id"]
    apis.create_stage(restApiId=api_id, stageName="prod", deploymentId=deployment,
                      tracingEnabled=True)  # fmt: skip
    root_id = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    sent = send(server.endpoint, "POST", invoke_url(server, api_id, "/prod/send"), body=b"{}",
                headers={"Content-Type": "application/json",
                         "X-Amzn-Trace-Id": f"Root={root_id};Sampled=1"})  # fmt: skip
    assert sent.status == 200, sent.body
    (message,) = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2,
                                     MessageSystemAttributeNames=["AWSTraceHeader"])["Messages"]  # fmt: skip
    carried = _fields(message["Attributes"]["AWSTraceHeader"])
    assert carried["Root"] == root_id and carried["Sampled"] == "1"
    docs = wait_trace(xray, root_id, {"AWS::ApiGateway::Stage"})
    (call,) = docs["AWS::ApiGateway::Stage"]["subsegments"]
    assert (call["name"], call["namespace"], call["aws"]["operation"]) == (
        "SQS", "aws", "SendMessage")  # fmt: skip
    assert call["id"] == carried["Parent"]
    graph = xray.get_trace_graph(TraceIds=[root_id])["Services"]
    assert ("SQS", "AWS::SQS") in {(s.get("Name"), s.get("Type")) for s in graph}


def test_http_proxy_backend_gets_the_trace(server) -> None:
    """An HTTP_PROXY integration on a traced stage: a ``remote`` subsegment named by the
    backend's host, whose id the backend's X-Amzn-Trace-Id names as Parent."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Backend(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            seen.append(self.headers.get("X-Amzn-Trace-Id") or "")
            self.send_response(201)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    backend = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        apis, xray = (
            make_client(server.endpoint, "apigateway"),
            make_client(server.endpoint, "xray"),
        )
        api_id = apis.create_rest_api(name=unique("traced-http"))["id"]
        root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
        resource = apis.create_resource(restApiId=api_id, parentId=root, pathPart="up")["id"]
        key = {"restApiId": api_id, "resourceId": resource, "httpMethod": "GET"}
        apis.put_method(**key, authorizationType="NONE")
        url = f"http://127.0.0.1:{backend.server_address[1]}/backend"
        apis.put_integration(**key, type="HTTP_PROXY", integrationHttpMethod="GET", uri=url)
        deployment = apis.create_deployment(restApiId=api_id)["id"]
        apis.create_stage(restApiId=api_id, stageName="prod", deploymentId=deployment,
                          tracingEnabled=True)  # fmt: skip
        root_id = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
        answer = send(server.endpoint, "GET", invoke_url(server, api_id, "/prod/up"),
                      headers={"X-Amzn-Trace-Id": f"Root={root_id};Sampled=1"})  # fmt: skip
        assert (answer.status, answer.body) == (201, b"ok")
    finally:
        backend.shutdown()
    carried = _fields(seen[0])
    assert carried["Root"] == root_id and carried["Sampled"] == "1"
    docs = wait_trace(xray, root_id, {"AWS::ApiGateway::Stage"})
    (call,) = docs["AWS::ApiGateway::Stage"]["subsegments"]
    assert (call["name"], call["namespace"]) == ("127.0.0.1", "remote")
    assert call["id"] == carried["Parent"]
    assert call["http"] == {"request": {"url": url, "method": "GET"},
                            "response": {"status": 201, "content_length": 2}}  # fmt: skip
