"""API Gateway WebSocket APIs end to end: the control plane with boto3, a real WebSocket
client (the ``websockets`` package) at the host-based and path-based URLs, a Python
function behind $connect/$disconnect/$default and a custom route that posts back with
boto3's ``apigatewaymanagementapi`` from inside the sandbox, route responses, and the
@connections management API (GetConnection, DeleteConnection, GoneException)."""

from __future__ import annotations

import json
import socket
import ssl
import time
from urllib.parse import quote, urlsplit

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.e2e.conftest import error_of, make_client, unsigned_client
from tests.e2e.functions import create_function, unique, wait_for_log_events
from tests.e2e.http_clients import send, signed_headers
from tests.e2e.roles import ensure_role
from tests.e2e.server import SandlotServer

ACCOUNT = "000000000000"
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# The handshake waits for the $connect route's function, which may start cold (a new
# environment importing boto3 takes seconds on a loaded CI machine); API Gateway's own
# integration timeout for WebSocket routes is 29 s, so a client allowing 30 s asks for
# no more than AWS would.
OPEN_TIMEOUT = 30

HANDLER = """
import json, os
import boto3

def handler(event, context):
    ctx = event["requestContext"]
    print("EVENT " + ctx["eventType"] + " " + json.dumps(event))
    key = ctx["routeKey"]
    if key == "$connect":
        query = event.get("queryStringParameters") or {}
        return {"statusCode": 403 if query.get("deny") else 200}
    if key == "$disconnect":
        return {"statusCode": 200}
    if key == "echo":
        endpoint = os.environ["AWS_ENDPOINT_URL"] + "/_aws/execute-api/%s/%s" % (
            ctx["apiId"], ctx["stage"])
        api = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
        reply = {"echo": json.loads(event["body"]), "context": ctx}
        api.post_to_connection(ConnectionId=ctx["connectionId"], Data=json.dumps(reply))
        return {"statusCode": 200}
    return {"statusCode": 200, "body": json.dumps({"default": event["body"], "routeKey": key})}
"""


@pytest.fixture(scope="module")
def ws_api(server):
    lam = make_client(server.endpoint, "lambda")
    apis = make_client(server.endpoint, "apigatewayv2")
    name = unique("ws")
    # Posting back needs execute-api:ManageConnections, as in AWS.
    iam = make_client(server.endpoint, "iam")
    role = ensure_role(iam, name, managed=(BASIC_EXECUTION,))
    iam.put_role_policy(RoleName=name, PolicyName="manage", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "execute-api:ManageConnections",
                       "Resource": "arn:aws:execute-api:*:*:*/*/POST/@connections/*"}],
    }))  # fmt: skip
    create_function(lam, name, {"app.py": HANDLER}, role=role)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    api = apis.create_api(
        Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )
    api_id = api["ApiId"]
    lam.add_permission(
        FunctionName=name,
        StatementId="ws",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*",
    )
    integration = apis.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn
    )["IntegrationId"]
    for key in ("$connect", "$disconnect", "echo", "$default"):
        route = apis.create_route(
            ApiId=api_id,
            RouteKey=key,
            Target=f"integrations/{integration}",
            **({"RouteResponseSelectionExpression": "$default"} if key == "$default" else {}),
        )
        if key == "$default":
            apis.create_route_response(
                ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$default"
            )
    apis.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    return {"id": api_id, "endpoint": api["ApiEndpoint"], "function": name}


def _path_url(server, api_id: str, query: str = "") -> str:
    base = server.endpoint.replace("http://", "ws://")
    return f"{base}/_aws/execute-api/{api_id}/prod{query}"


def _management(server, api_id: str):
    return make_client(server.endpoint + f"/_aws/execute-api/{api_id}/prod",
                       "apigatewaymanagementapi")  # fmt: skip


def test_control_plane(server, ws_api):
    apis = make_client(server.endpoint, "apigatewayv2")
    api = apis.get_api(ApiId=ws_api["id"])
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"
    assert api["ApiEndpoint"].startswith(f"ws://{ws_api['id']}.execute-api.")
    missing = error_of(apis.create_api, Name="x", ProtocolType="WEBSOCKET")
    assert (missing["Code"], missing["HTTPStatusCode"]) == ("BadRequestException", 400)
    routes = {r["RouteKey"]: r for r in apis.get_routes(ApiId=ws_api["id"])["Items"]}
    assert set(routes) == {"$connect", "$disconnect", "echo", "$default"}
    default = routes["$default"]
    assert default["RouteResponseSelectionExpression"] == "$default"
    responses = apis.get_route_responses(ApiId=ws_api["id"], RouteId=default["RouteId"])
    assert [r["RouteResponseKey"] for r in responses["Items"]] == ["$default"]


def test_custom_route_posts_back_through_the_management_api(server, ws_api):
    with connect(_path_url(server, ws_api["id"]), open_timeout=OPEN_TIMEOUT) as ws:
        ws.send(json.dumps({"action": "echo", "text": "hi"}))
        reply = json.loads(ws.recv(timeout=20))
    assert reply.get("echo") == {"action": "echo", "text": "hi"}, reply
    context = reply["context"]
    assert context["routeKey"] == "echo" and context["eventType"] == "MESSAGE"
    assert context["apiId"] == ws_api["id"] and context["stage"] == "prod"
    assert context["messageId"] and context["connectionId"] and context["requestId"]
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["connectedAt"] <= context["requestTimeEpoch"]


def test_default_route_with_route_response_at_the_host_url(server, ws_api):
    port = urlsplit(server.endpoint).port
    host = f"{ws_api['id']}.execute-api.localhost:{port}"
    sock = socket.create_connection(("127.0.0.1", port))
    with connect(f"ws://{host}/prod", sock=sock, open_timeout=OPEN_TIMEOUT) as ws:
        ws.send("not json at all")
        assert json.loads(ws.recv(timeout=20)) == {
            "default": "not json at all",
            "routeKey": "$default",
        }
        ws.send(json.dumps({"action": "no-such-route"}))
        assert json.loads(ws.recv(timeout=20))["routeKey"] == "$default"


def test_connect_refused_by_the_connect_route(server, ws_api):
    with pytest.raises(InvalidStatus) as refused:
        connect(_path_url(server, ws_api["id"], "?deny=1"), open_timeout=OPEN_TIMEOUT)
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as no_stage:
        connect(
            server.endpoint.replace("http://", "ws://") + f"/_aws/execute-api/{ws_api['id']}/nope"
        )
    assert no_stage.value.response.status_code == 403


def test_management_api_and_disconnect(server, ws_api):
    manage = _management(server, ws_api["id"])
    with connect(_path_url(server, ws_api["id"], "?user=ann"), open_timeout=OPEN_TIMEOUT) as ws:
        ws.send(json.dumps({"action": "echo"}))
        connection_id = json.loads(ws.recv(timeout=20))["context"]["connectionId"]
        got = manage.get_connection(ConnectionId=connection_id)
        assert got["Identity"]["SourceIp"] == "127.0.0.1"
        assert got["ConnectedAt"] <= got["LastActiveAt"]
        manage.post_to_connection(ConnectionId=connection_id, Data=b"from outside")
        assert ws.recv(timeout=10) == "from outside"
        unsigned = unsigned_client(
            server.endpoint + f"/_aws/execute-api/{ws_api['id']}/prod", "apigatewaymanagementapi"
        )
        forbidden = error_of(unsigned.post_to_connection, ConnectionId=connection_id, Data=b"x")
        assert (forbidden["Code"], forbidden["HTTPStatusCode"]) == ("ForbiddenException", 403)
        manage.delete_connection(ConnectionId=connection_id)
        gone = error_of(manage.get_connection, ConnectionId=connection_id)
        assert (gone["Code"], gone["HTTPStatusCode"]) == ("GoneException", 410)
        deadline = time.monotonic() + 10
        while ws.state.name != "CLOSED" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ws.state.name == "CLOSED"
    gone = error_of(manage.post_to_connection, ConnectionId=connection_id, Data=b"late")
    assert (gone["Code"], gone["HTTPStatusCode"]) == ("GoneException", 410)
    # The function logged its CONNECT and DISCONNECT events (the latter once the close
    # reached sandlot).
    logs = make_client(server.endpoint, "logs")
    by_type: dict[str, dict] = {}
    deadline = time.monotonic() + 20
    while "DISCONNECT" not in by_type and time.monotonic() < deadline:
        for line in wait_for_log_events(logs, ws_api["function"], f'"{connection_id}"'):
            if line["message"].startswith("EVENT "):
                kind, _, body = line["message"][6:].partition(" ")
                by_type.setdefault(kind, json.loads(body))
        time.sleep(0.1)
    connect_event = by_type["CONNECT"]
    assert connect_event["requestContext"]["routeKey"] == "$connect"
    assert connect_event["queryStringParameters"] == {"user": "ann"}
    assert connect_event["headers"]["host"].startswith("127.0.0.1")
    disconnect = by_type["DISCONNECT"]
    assert disconnect["requestContext"]["routeKey"] == "$disconnect"
    assert disconnect["requestContext"]["connectionId"] == connection_id


STACK_CODE = """
import json

def handler(event, context):
    key = event["requestContext"]["routeKey"]
    return {"statusCode": 200, "body": json.dumps({"route": key, "got": event.get("body")})}
"""

STACK_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: arn:aws:iam::000000000000:role/lambda-role
      Code:
        ZipFile: |
%(code)s
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: stack-chat
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: $request.body.action
  Permission:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !Ref Fn
      Action: lambda:InvokeFunction
      Principal: apigateway.amazonaws.com
      SourceArn: !Sub arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations
  PingRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: ping
      Target: !Sub integrations/${Integration}
      RouteResponseSelectionExpression: $default
  PingResponse:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties:
      ApiId: !Ref Api
      RouteId: !Ref PingRoute
      RouteResponseKey: $default
  Deployment:
    Type: AWS::ApiGatewayV2::Deployment
    DependsOn: [PingRoute, PingResponse]
    Properties:
      ApiId: !Ref Api
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Api
      StageName: live
      DeploymentId: !Ref Deployment
"""


def test_cloudformation_websocket_api(server):
    cfn = make_client(server.endpoint, "cloudformation")
    code = "\n".join(" " * 10 + line for line in STACK_CODE.strip("\n").splitlines())
    name = unique("ws-stack")
    cfn.create_stack(StackName=name, TemplateBody=STACK_TEMPLATE % {"code": code})
    cfn.get_waiter("stack_create_complete").wait(
        StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    }
    url = server.endpoint.replace("http://", "ws://")
    with connect(
        f"{url}/_aws/execute-api/{resources['Api']}/live", open_timeout=OPEN_TIMEOUT
    ) as ws:
        ws.send(json.dumps({"action": "ping"}))
        assert json.loads(ws.recv(timeout=20)) == {"route": "ping", "got": '{"action": "ping"}'}
        ws.send(json.dumps({"action": "other"}))  # no such route and no $default
        assert json.loads(ws.recv(timeout=20))["message"] == "Forbidden"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(
        StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    apis = make_client(server.endpoint, "apigatewayv2")
    assert error_of(apis.get_api, ApiId=resources["Api"])["Code"] == "NotFoundException"


def test_management_api_at_the_host_url(server, ws_api):
    """PostToConnection to the API's own host and stage (as on AWS:
    https://<domain>/<stage>), SigV4-signed as an SDK signs it, sent raw to sandlot's
    address with that Host."""
    port = urlsplit(server.endpoint).port
    with connect(_path_url(server, ws_api["id"]), open_timeout=OPEN_TIMEOUT) as ws:
        ws.send(json.dumps({"action": "echo"}))
        connection_id = json.loads(ws.recv(timeout=20))["context"]["connectionId"]
        url = (f"http://{ws_api['id']}.execute-api.localhost:{port}/prod/@connections/"
               f"{quote(connection_id, safe='')}")  # fmt: skip
        headers = signed_headers("POST", url, b"via host", "test", "test", "execute-api")
        answer = send(server.endpoint, "POST", url, b"via host", headers)
        assert answer.status == 200, answer.body
        assert ws.recv(timeout=10) == "via host"
        unsigned = send(server.endpoint, "GET", url)
        assert (
            unsigned.status == 403 and unsigned.header("x-amzn-ErrorType") == "ForbiddenException"
        )


def test_idle_connections_are_closed(tmp_path):
    """SANDLOT_WEBSOCKET_IDLE_TIMEOUT_SECONDS: an idle connection is closed with 1001
    (going away), as API Gateway closes idle connections after 10 minutes."""
    env = {"SANDLOT_WEBSOCKET_IDLE_TIMEOUT_SECONDS": "1"}
    with SandlotServer(tmp_path, env=env) as quick:
        apis = make_client(quick.endpoint, "apigatewayv2")
        lam = make_client(quick.endpoint, "lambda")
        name = unique("idle")
        create_function(lam, name, {"app.py": HANDLER})
        lam.add_permission(FunctionName=name, StatementId="ws", Action="lambda:InvokeFunction",
                           Principal="apigateway.amazonaws.com")  # fmt: skip
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        api_id = apis.create_api(Name="idle", ProtocolType="WEBSOCKET",
                                 RouteSelectionExpression="$request.body.action")["ApiId"]  # fmt: skip
        integration = apis.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY",
                                              IntegrationUri=arn)["IntegrationId"]  # fmt: skip
        apis.create_route(ApiId=api_id, RouteKey="$default",
                          Target=f"integrations/{integration}")  # fmt: skip
        apis.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
        url = quick.endpoint.replace("http://", "ws://") + f"/_aws/execute-api/{api_id}/prod"
        with connect(url, open_timeout=OPEN_TIMEOUT) as ws:
            began = time.monotonic()
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=20)
            assert 0.9 <= time.monotonic() - began < 10
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


def test_connect_route_with_iam_authorization(server, ws_api):
    apis = make_client(server.endpoint, "apigatewayv2")
    lam = make_client(server.endpoint, "lambda")
    api_id = apis.create_api(Name="iam", ProtocolType="WEBSOCKET",
                             RouteSelectionExpression="$request.body.action")["ApiId"]  # fmt: skip
    lam.add_permission(FunctionName=ws_api["function"], StatementId=f"ws-{api_id}",
                       Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*")  # fmt: skip
    arn = lam.get_function(FunctionName=ws_api["function"])["Configuration"]["FunctionArn"]
    integration = apis.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY",
                                          IntegrationUri=arn)["IntegrationId"]  # fmt: skip
    target = f"integrations/{integration}"
    not_connect = error_of(apis.create_route, ApiId=api_id, RouteKey="echo", Target=target,
                           AuthorizationType="AWS_IAM")  # fmt: skip
    assert not_connect["Code"] == "BadRequestException"
    apis.create_route(ApiId=api_id, RouteKey="$connect", Target=target, AuthorizationType="AWS_IAM")
    apis.create_route(ApiId=api_id, RouteKey="echo", Target=target)
    apis.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    url = _path_url(server, api_id)
    with pytest.raises(InvalidStatus) as unsigned:
        connect(url, open_timeout=OPEN_TIMEOUT)
    assert unsigned.value.response.status_code == 403
    headers = signed_headers("GET", url.replace("ws://", "http://"), b"", "test", "test",
                             "execute-api")  # fmt: skip
    with connect(url, additional_headers=headers, open_timeout=OPEN_TIMEOUT) as ws:
        ws.send(json.dumps({"action": "echo"}))
        assert json.loads(ws.recv(timeout=20))["context"]["routeKey"] == "echo"


def test_wss_on_the_https_listener(server, ws_api):
    context = ssl.create_default_context(cafile=server.ca_path)
    url = server.https_endpoint.replace("https://", "wss://")
    with connect(f"{url}/_aws/execute-api/{ws_api['id']}/prod", ssl=context,
                 open_timeout=OPEN_TIMEOUT) as ws:  # fmt: skip
        ws.send("over tls")
        assert json.loads(ws.recv(timeout=20))["default"] == "over tls"
