"""Active tracing with the X-Ray SDK for Python inside a function: Lambda's own segments
(AWS::Lambda, AWS::Lambda::Function with Initialization, Invocation, Overhead) and the
SDK's subsegments, sent to the daemon at AWS_XRAY_DAEMON_ADDRESS, are one trace that
continues the caller's header; read back with boto3."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.functions import ROLE, create_function, unique
from tests.e2e.http_clients import invoke_url, send
from tests.e2e.mappings import poller_role, wait_state
from tests.e2e.sfn_support import definition, states_role, wait_done
from tests.e2e.traces import tracing_role, wait_trace

APP = """
import os
from aws_xray_sdk.core import xray_recorder

def handler(event, context):
    with xray_recorder.in_subsegment("work") as sub:
        sub.put_annotation("order", event.get("order", "none"))
    return {
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "daemon": os.environ.get("AWS_XRAY_DAEMON_ADDRESS"),
        "missing": os.environ.get("AWS_XRAY_CONTEXT_MISSING"),
    }
"""


def _pinned(package: str) -> str:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    for requirement in project["project"]["optional-dependencies"]["test"]:
        if requirement.split("==")[0] == package:
            return requirement
    raise AssertionError(f"{package} is not pinned in pyproject.toml's test extras")


@pytest.fixture(scope="module")
def sdk_files(tmp_path_factory) -> dict[str, bytes]:
    """The X-Ray SDK packaged as a user does (``pip install --target``); botocore is
    the runtime's own, as in Lambda."""
    target = tmp_path_factory.mktemp("xray-sdk")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--target", str(target), _pinned("aws-xray-sdk"), _pinned("wrapt")],
        check=True, timeout=300,
    )  # fmt: skip
    return {
        str(path.relative_to(target)): path.read_bytes()
        for path in target.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.parts[0] != "bin"
    }


@pytest.fixture(scope="module")
def traced_role(server) -> str:
    """An execution role that may upload trace data (Lambda uploads with the role)."""
    return tracing_role(server.endpoint, "traced-role")


def _with_header(client, header: str):
    def add(request, **_):
        request.headers["X-Amzn-Trace-Id"] = header

    client.meta.events.register("before-sign.lambda.Invoke", add)
    return client


def test_active_tracing_joins_the_sdk_subsegments(server, sdk_files, traced_role) -> None:
    lam = make_client(server.endpoint, "lambda")
    xray = make_client(server.endpoint, "xray")
    name = unique("traced")
    create_function(
        lam, name, {**sdk_files, "app.py": APP}, role=traced_role, TracingConfig={"Mode": "Active"}
    )
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    parent = os.urandom(8).hex()
    caller = _with_header(
        make_client(server.endpoint, "lambda"), f"Root={root};Parent={parent};Sampled=1"
    )
    answer = caller.invoke(FunctionName=name, Payload=json.dumps({"order": "42"}), LogType="Tail")
    assert "FunctionError" not in answer
    out = json.loads(answer["Payload"].read())
    assert out["daemon"].startswith("127.0.0.1:") and out["missing"] == "LOG_ERROR"
    header = dict(part.split("=", 1) for part in out["trace"].split(";"))
    assert header["Root"] == root and header["Sampled"] == "1"

    docs = wait_trace(xray, root, {"AWS::Lambda", "AWS::Lambda::Function", "work"})
    service, function = docs["AWS::Lambda"], docs["AWS::Lambda::Function"]
    assert service["parent_id"] == parent and service["name"] == name
    assert function["parent_id"] == service["id"] == docs["AWS::Lambda"]["id"]
    assert header["Parent"] == function["id"]
    # The REPORT names the sampled trace and the function's segment, as Lambda's does.
    tail = base64.b64decode(answer["LogResult"]).decode()
    assert f"\nXRAY TraceId: {root}\tSegmentId: {function['id']}\tSampled: true\t\n" in tail
    phases = [s["name"] for s in function["subsegments"]]
    assert phases[:3] == ["Initialization", "Invocation", "Overhead"]  # a cold start
    (work,) = [s for s in function["subsegments"] if s["name"] == "work"]
    assert work["annotations"] == {"order": "42"}
    assert service["start_time"] <= function["start_time"] <= work["start_time"]
    assert work["end_time"] <= function["end_time"] <= service["end_time"]

    now = dt.datetime.now(dt.UTC)
    window = {"StartTime": now - dt.timedelta(minutes=5), "EndTime": now + dt.timedelta(minutes=1)}
    summaries = xray.get_trace_summaries(FilterExpression='annotation.order = "42"', **window)
    assert [s["Id"] for s in summaries["TraceSummaries"]] == [root]
    graph = {
        s.get("Name", "") + "/" + s.get("Type", ""): s
        for s in xray.get_trace_graph(TraceIds=[root])["Services"]
    }
    edges = graph[f"{name}/AWS::Lambda"]["Edges"]
    assert [e["ReferenceId"] for e in edges] == [
        graph[f"{name}/AWS::Lambda::Function"]["ReferenceId"]
    ]

    # Warm, with no header: Lambda starts the trace and samples it (the default rule's
    # reservoir takes the first request of a second), with no Initialization.
    time.sleep(max(0.0, 1.05 - (time.time() % 1)))  # a fresh second
    out = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    header = dict(part.split("=", 1) for part in out["trace"].split(";"))
    assert header["Sampled"] == "1" and int(header["Root"][2:10], 16) >= int(time.time()) - 5
    docs = wait_trace(xray, header["Root"], {"AWS::Lambda", "Invocation", "work"})
    assert "parent_id" not in docs["AWS::Lambda"]
    phases = [s["name"] for s in docs["AWS::Lambda::Function"]["subsegments"]]
    assert "Initialization" not in phases


def test_passthrough_records_nothing(server, sdk_files) -> None:
    lam = make_client(server.endpoint, "lambda")
    xray = make_client(server.endpoint, "xray")
    name = unique("untraced")
    create_function(lam, name, {**sdk_files, "app.py": APP})
    out = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    header = dict(part.split("=", 1) for part in out["trace"].split(";"))
    assert header["Sampled"] == "0"
    time.sleep(0.5)  # what would have been sent has arrived by now (loopback UDP)
    assert xray.batch_get_traces(TraceIds=[header["Root"]])["Traces"] == []


HELLO = "def handler(event, context):\n    return {}\n"


def test_lambda_uploads_its_segments_as_the_functions_role(server, traced_role) -> None:
    """A role without xray:PutTraceSegments (the tests' basic execution role) loses
    Lambda's segments, as in AWS; the function whose role may upload, invoked after it,
    shows that the uploads were made."""
    lam = make_client(server.endpoint, "lambda")
    xray = make_client(server.endpoint, "xray")
    roots = {}
    for role in (ROLE, traced_role):
        name = unique("uploader")
        create_function(lam, name, {"app.py": HELLO}, role=role, TracingConfig={"Mode": "Active"})
        roots[role] = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
        caller = _with_header(
            make_client(server.endpoint, "lambda"), f"Root={roots[role]};Sampled=1"
        )
        assert "FunctionError" not in caller.invoke(FunctionName=name, Payload=b"{}")
    wait_trace(xray, roots[traced_role], {"AWS::Lambda", "AWS::Lambda::Function"})
    assert xray.batch_get_traces(TraceIds=[roots[ROLE]])["Traces"] == []


FRONT = """
import os
import boto3
from aws_xray_sdk.core import xray_recorder

sqs = boto3.client("sqs")

def handler(event, context):
    with xray_recorder.in_subsegment("front-work"):
        sqs.send_message(QueueUrl=os.environ["QUEUE"], MessageBody="hi")
    return {"statusCode": 200, "body": os.environ["_X_AMZN_TRACE_ID"]}
"""

BACK = """
from aws_xray_sdk.core import xray_recorder

def handler(event, context):
    with xray_recorder.in_subsegment("back-work"):
        pass
    return {}
"""


def test_api_function_queue_function_is_one_trace(server, sdk_files) -> None:
    """An HTTP API → function → SQS → function chain with Active tracing: the client's
    header travels through API Gateway, the function's SDK call (botocore sends
    _X_AMZN_TRACE_ID), the message's AWSTraceHeader and the queue's poller."""
    lam, iam = make_client(server.endpoint, "lambda"), make_client(server.endpoint, "iam")
    sqs, xray = make_client(server.endpoint, "sqs"), make_client(server.endpoint, "xray")
    apis = make_client(server.endpoint, "apigatewayv2")
    role = poller_role(iam)
    iam.attach_role_policy(
        RoleName=role.rsplit("/", 1)[1],
        PolicyArn="arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
    )
    queue = sqs.create_queue(QueueName=unique("traced"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    front, back = unique("front"), unique("back")
    active = {"TracingConfig": {"Mode": "Active"}, "role": role}
    create_function(
        lam,
        front,
        {**sdk_files, "app.py": FRONT},
        Environment={"Variables": {"QUEUE": queue}},
        **active,
    )
    create_function(lam, back, {**sdk_files, "app.py": BACK}, **active)
    mapping = lam.create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName=back, BatchSize=1
    )["UUID"]
    wait_state(lam, mapping, "Enabled")
    front_arn = lam.get_function(FunctionName=front)["Configuration"]["FunctionArn"]
    api_id = apis.create_api(Name="traced", ProtocolType="HTTP", Target=front_arn)["ApiId"]
    lam.add_permission(
        FunctionName=front, StatementId="api", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/*",
    )  # fmt: skip

    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    answer = send(
        server.endpoint, "GET", invoke_url(server, api_id, "/"),
        headers={"X-Amzn-Trace-Id": f"Root={root};Sampled=1"},
    )  # fmt: skip
    assert answer.status == 200, answer.body
    assert answer.body.decode().startswith(f"Root={root};Parent=")

    wanted = {(front, "AWS::Lambda::Function"), (back, "AWS::Lambda::Function")}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        traces = xray.batch_get_traces(TraceIds=[root])["Traces"]
        docs = [json.loads(s["Document"]) for t in traces for s in t["Segments"]]
        by_key = {(d["name"], d.get("origin")): d for d in docs}
        subs = {s["name"] for d in docs for s in d.get("subsegments", ())}
        if wanted <= set(by_key) and {"front-work", "back-work"} <= subs:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the chain's trace is incomplete: {sorted(by_key)} {sorted(subs)}")
    front_fn = by_key[(front, "AWS::Lambda::Function")]
    back_service = by_key[(back, "AWS::Lambda")]
    assert back_service["parent_id"] == front_fn["id"]  # continued from the message
    graph = xray.get_trace_graph(TraceIds=[root])["Services"]
    refs = {(s.get("Name"), s.get("Type")): s for s in graph}
    edges = [e["ReferenceId"] for e in refs[(front, "AWS::Lambda::Function")]["Edges"]]
    assert refs[(back, "AWS::Lambda")]["ReferenceId"] in edges


def test_eventbridge_carries_the_trace_to_its_lambda_target(server, sdk_files, traced_role) -> None:
    """PutEvents' TraceHeader travels with the event to the rule's function target."""
    lam, events = make_client(server.endpoint, "lambda"), make_client(server.endpoint, "events")
    xray = make_client(server.endpoint, "xray")
    name = unique("on-event")
    arn = create_function(
        lam, name, {**sdk_files, "app.py": APP}, role=traced_role, TracingConfig={"Mode": "Active"}
    )["FunctionArn"]
    rule = events.put_rule(Name=unique("traced"), EventPattern=json.dumps({"source": ["shop"]}))
    lam.add_permission(
        FunctionName=name, StatementId="events", Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com", SourceArn=rule["RuleArn"],
    )  # fmt: skip
    events.put_targets(Rule=rule["RuleArn"].rsplit("/", 1)[1], Targets=[{"Id": "f", "Arn": arn}])
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    parent = os.urandom(8).hex()
    answer = events.put_events(
        Entries=[{"Source": "shop", "DetailType": "order", "Detail": json.dumps({"order": 7}),
                  "TraceHeader": f"Root={root};Parent={parent};Sampled=1"}]
    )  # fmt: skip
    assert answer["FailedEntryCount"] == 0
    docs = wait_trace(xray, root, {"AWS::Lambda", "AWS::Lambda::Function", "work"}, timeout=30)
    assert docs["AWS::Lambda"]["parent_id"] == parent


def test_sns_carries_the_trace_to_its_lambda_subscriber(server, sdk_files, traced_role) -> None:
    """Publish's X-Amzn-Trace-Id travels with the message to a Lambda subscription."""
    lam, sns = make_client(server.endpoint, "lambda"), make_client(server.endpoint, "sns")
    xray = make_client(server.endpoint, "xray")
    name = unique("on-message")
    arn = create_function(
        lam, name, {**sdk_files, "app.py": APP}, role=traced_role, TracingConfig={"Mode": "Active"}
    )["FunctionArn"]
    topic = sns.create_topic(Name=unique("traced"))["TopicArn"]
    lam.add_permission(
        FunctionName=name, StatementId="sns", Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com", SourceArn=topic,
    )  # fmt: skip
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    parent = os.urandom(8).hex()
    publisher = make_client(server.endpoint, "sns")

    def add(request, **_):
        request.headers["X-Amzn-Trace-Id"] = f"Root={root};Parent={parent};Sampled=1"

    publisher.meta.events.register("before-sign.sns.Publish", add)
    publisher.publish(TopicArn=topic, Message="hello")
    docs = wait_trace(xray, root, {"AWS::Lambda", "AWS::Lambda::Function", "work"}, timeout=30)
    assert docs["AWS::Lambda"]["parent_id"] == parent


def test_step_functions_carries_the_trace_to_a_lambda_task(server, sdk_files, traced_role) -> None:
    """StartExecution's traceHeader travels to the function a Task state invokes."""
    lam, iam = make_client(server.endpoint, "lambda"), make_client(server.endpoint, "iam")
    sfn, xray = make_client(server.endpoint, "stepfunctions"), make_client(server.endpoint, "xray")
    name = unique("in-state")
    arn = create_function(
        lam, name, {**sdk_files, "app.py": APP}, role=traced_role, TracingConfig={"Mode": "Active"}
    )["FunctionArn"]
    machine = sfn.create_state_machine(
        name=unique("traced"),
        roleArn=states_role(iam, ("lambda:InvokeFunction",)),
        definition=definition({"Call": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": arn, "Payload": {"order": "sfn"}}, "End": True,
        }}),
    )["stateMachineArn"]  # fmt: skip
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    parent = os.urandom(8).hex()
    started = sfn.start_execution(
        stateMachineArn=machine, traceHeader=f"Root={root};Parent={parent};Sampled=1"
    )
    assert wait_done(sfn, started["executionArn"])["status"] == "SUCCEEDED"
    docs = wait_trace(xray, root, {"AWS::Lambda", "AWS::Lambda::Function", "work"})
    assert docs["AWS::Lambda"]["parent_id"] == parent
