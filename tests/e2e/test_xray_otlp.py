"""X-Ray → OpenTelemetry export (`sandlot up --otlp-endpoint`): a traced Lambda invoke's
segments arrive as OTLP/HTTP protobuf spans at a real receiver (decoding with
opentelemetry-proto, as a collector does), one trace with X-Ray's parentage; a failed
post is retried."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.server import SandlotServer
from tests.e2e.traces import tracing_role

APP = "def handler(event, context):\n    return {'ok': True}\n"


class Receiver:
    """A tiny OTLP/HTTP trace receiver: the spans of every accepted request, by trace
    id (hex), with their resource's attributes; ``refuse`` answers 503 that many times."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict, Span]] = []
        self.posts: list[int] = []  # the status answered to each POST
        self.refuse = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    if self.path != "/v1/traces" or (
                        self.headers["Content-Type"] != "application/x-protobuf"
                    ):
                        status = 400
                    elif receiver.refuse:
                        receiver.refuse -= 1
                        status = 503
                    else:
                        status = 200
                        request = ExportTraceServiceRequest.FromString(body)
                        for resource in request.resource_spans:
                            attrs = {
                                a.key: a.value.string_value for a in resource.resource.attributes
                            }
                            for scope in resource.scope_spans:
                                receiver.spans.extend((attrs, s) for s in scope.spans)
                    receiver.posts.append(status)
                answer = ExportTraceServiceResponse().SerializeToString() if status == 200 else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def trace(self, trace_hex: str, names: set[str], timeout: float = 15) -> dict[str, tuple]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [(a, s) for a, s in self.spans if s.trace_id.hex() == trace_hex]
            by_name: dict[str, tuple] = {}
            for attrs, span in found:
                by_name.setdefault(span.name, []).append((attrs, span))
            if names <= set(by_name):
                return by_name
            time.sleep(0.05)
        raise AssertionError(f"no spans {names} of {trace_hex}: {self.spans}")


@pytest.fixture(scope="module")
def receiver():
    found = Receiver()
    yield found
    found.http.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, receiver):
    """This module's sandlot, exporting to the receiver (the one server of the module)."""
    data = tmp_path_factory.mktemp("sandlot-otlp")
    with SandlotServer(data, "--otlp-endpoint", receiver.url) as running:
        yield running


def _attrs(span: Span) -> dict:
    return {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in span.attributes}


def test_traced_invoke_arrives_as_spans(server, receiver) -> None:
    lam = make_client(server.endpoint, "lambda")
    role = tracing_role(server.endpoint, "otlp-role")
    name = unique("otlp")
    create_function(lam, name, {"app.py": APP}, role=role, TracingConfig={"Mode": "Active"})
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    caller = os.urandom(8).hex()

    def add(request, **_):
        request.headers["X-Amzn-Trace-Id"] = f"Root={root};Parent={caller};Sampled=1"

    lam.meta.events.register("before-sign.lambda.Invoke", add)
    receiver.refuse = 1  # the collector's first answer fails: the exporter retries
    assert json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()) == {
        "ok": True
    }
    trace_hex = root[2:10] + root[11:]
    spans = receiver.trace(trace_hex, {name, "Initialization", "Invocation", "Overhead"})
    assert receiver.posts[0] == 503 and 200 in receiver.posts
    by_origin = {_attrs(s)["aws.xray.origin"]: (a, s) for a, s in spans[name]}
    (service_attrs, service), (_, function) = (
        by_origin["AWS::Lambda"],
        by_origin["AWS::Lambda::Function"],
    )
    assert service_attrs["service.name"] == name and service_attrs["cloud.region"] == "us-east-1"
    assert service_attrs["cloud.account.id"] == "000000000000"
    assert service.parent_span_id.hex() == caller
    assert function.parent_span_id == service.span_id
    assert service.kind == Span.SPAN_KIND_SERVER
    assert _attrs(service)["http.response.status_code"] == 200
    (invocation,) = [s for _, s in spans["Invocation"]]
    assert invocation.parent_span_id == function.span_id
    assert function.start_time_unix_nano <= invocation.start_time_unix_nano
    assert invocation.end_time_unix_nano <= function.end_time_unix_nano
