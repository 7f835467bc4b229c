"""X-Ray documents as OTLP spans (services/xray/otlp.py), decoded back with
opentelemetry-proto as a collector would."""

from __future__ import annotations

import json

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from sandlot.services.xray import otlp

ROOT = "1-5759e988-bd862e3fe1be46a994272793"

SEGMENT = {
    "trace_id": ROOT, "id": "70de5b6f19ff9a0a", "parent_id": "53995c3f42cd8ad8",
    "name": "orders/prod", "origin": "AWS::ApiGateway::Stage",
    "start_time": 1478293361.271, "end_time": 1478293361.449, "fault": True,
    "http": {"request": {"method": "GET", "url": "https://x/prod/items", "client_ip": "1.2.3.4"},
             "response": {"status": 502, "content_length": 36}},
    "aws": {"api_gateway": {"rest_api_id": "abc", "stage": "prod"}},
    "annotations": {"aws:api_id": "abc", "n": 3, "ok": False},
    "metadata": {"default": {"request_id": "r-1"}},
    "subsegments": [
        {"id": "0a4b5c6d7e8f9a0b", "name": "Lambda", "namespace": "aws",
         "start_time": 1478293361.3, "end_time": 1478293361.4,
         "aws": {"operation": "Invoke", "resource_names": ["fn"]},
         "subsegments": [{"id": "1a4b5c6d7e8f9a0b", "name": "inner",
                          "start_time": 1478293361.31, "end_time": 1478293361.32}]},
        {"id": "2a4b5c6d7e8f9a0b", "name": "open", "start_time": 1478293361.3,
         "in_progress": True},
    ],
}  # fmt: skip


def _attrs(span) -> dict:
    out = {}
    for kv in span.attributes:
        out[kv.key] = getattr(kv.value, kv.value.WhichOneof("value"))
    return out


def test_trace_and_span_ids() -> None:
    assert otlp.trace_id(ROOT).hex() == "5759e988bd862e3fe1be46a994272793"
    spans = {s.name: s for s in otlp.spans(SEGMENT)}
    assert set(spans) == {"orders/prod", "Lambda", "inner"}  # the in-progress one waits
    top, call, inner = spans["orders/prod"], spans["Lambda"], spans["inner"]
    assert {s.trace_id.hex() for s in spans.values()} == {"5759e988bd862e3fe1be46a994272793"}
    assert top.span_id.hex() == "70de5b6f19ff9a0a"
    assert top.parent_span_id.hex() == "53995c3f42cd8ad8"
    assert call.parent_span_id == top.span_id and inner.parent_span_id == call.span_id
    assert top.start_time_unix_nano == int(1478293361.271 * 1e9)
    assert top.end_time_unix_nano == int(1478293361.449 * 1e9)
    assert (top.kind, call.kind, inner.kind) == (
        Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_INTERNAL)  # fmt: skip


def test_attributes_and_status() -> None:
    spans = {s.name: s for s in otlp.spans(SEGMENT)}
    attrs = _attrs(spans["orders/prod"])
    assert attrs["http.request.method"] == "GET"
    assert attrs["url.full"] == "https://x/prod/items"
    assert attrs["client.address"] == "1.2.3.4"
    assert attrs["http.response.status_code"] == 502
    assert attrs["aws.api_gateway.rest_api_id"] == "abc"
    assert attrs["aws.xray.origin"] == "AWS::ApiGateway::Stage"
    assert attrs["aws.xray.annotations.aws:api_id"] == "abc"
    assert attrs["aws.xray.annotations.n"] == 3 and attrs["aws.xray.annotations.ok"] is False
    assert json.loads(attrs["aws.xray.metadata.default"]) == {"request_id": "r-1"}
    assert spans["orders/prod"].status.code == Status.STATUS_CODE_ERROR
    assert spans["Lambda"].status.code == Status.STATUS_CODE_UNSET
    call = _attrs(spans["Lambda"])
    assert call["aws.operation"] == "Invoke"
    assert [v.string_value for v in call["aws.resource_names"].values] == ["fn"]


def test_a_subsegment_sent_alone_and_an_in_progress_segment() -> None:
    alone = {"trace_id": ROOT, "id": "3a4b5c6d7e8f9a0b", "type": "subsegment",
             "parent_id": "70de5b6f19ff9a0a", "name": "work", "start_time": 1.0,
             "end_time": 2.0, "error": True}  # fmt: skip
    (span,) = otlp.spans(alone)
    assert span.kind == Span.SPAN_KIND_INTERNAL
    assert span.parent_span_id.hex() == "70de5b6f19ff9a0a"
    assert span.status.code == Status.STATUS_CODE_ERROR and span.status.message == "error"
    assert otlp.spans({**SEGMENT, "end_time": None, "in_progress": True}) == []


def test_request_groups_spans_by_service() -> None:
    other = {"trace_id": ROOT, "id": "4a4b5c6d7e8f9a0b", "parent_id": "0a4b5c6d7e8f9a0b",
             "name": "fn", "origin": "AWS::Lambda", "start_time": 1.0, "end_time": 2.0}  # fmt: skip
    body = otlp.request_of(
        [("111122223333", "eu-west-1", SEGMENT), ("111122223333", "eu-west-1", other)]
    ).SerializeToString()
    decoded = ExportTraceServiceRequest.FromString(body)
    services = {}
    for resource in decoded.resource_spans:
        attrs = _attrs(resource.resource)
        assert attrs["cloud.account.id"] == "111122223333"
        assert attrs["cloud.region"] == "eu-west-1" and attrs["cloud.provider"] == "aws"
        names = [s.name for scope in resource.scope_spans for s in scope.spans]
        assert [scope.scope.name for scope in resource.scope_spans] == ["sandlot.xray"]
        services[attrs["service.name"]] = names
    assert services == {"orders/prod": ["orders/prod", "Lambda", "inner"], "fn": ["fn"]}


def test_exporter_drops_when_the_collector_is_down(monkeypatch, caplog) -> None:
    """A refused post is dropped with a log line after the retries; a full queue drops
    at once; neither blocks the caller."""
    import asyncio
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(otlp, "ATTEMPTS", 2)
    monkeypatch.setattr(otlp, "BATCH_WAIT_S", 0.01)
    monkeypatch.setattr(otlp, "QUEUE_MAX", 1)

    async def scenario() -> otlp.Exporter:
        exporter = otlp.Exporter(f"http://127.0.0.1:{port}")
        exporter.submit("1", "us-east-1", SEGMENT)
        exporter.submit("1", "us-east-1", SEGMENT)  # the queue holds one: dropped
        assert exporter.dropped == 1
        task = asyncio.create_task(exporter.run())
        while exporter.dropped < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        return exporter

    with caplog.at_level("WARNING", logger=otlp.log.name):
        exporter = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert exporter.dropped == 2
    assert "dropped 1 segment(s) so far (the export queue is full)" in caplog.text


def test_the_endpoint_setting() -> None:
    from sandlot.config import Settings

    assert Settings.from_env({}).otlp_endpoint == ""
    found = Settings.from_env({"SANDLOT_OTLP_ENDPOINT": "http://localhost:4318"})
    assert found.otlp_endpoint == "http://localhost:4318"
    assert otlp.Exporter(found.otlp_endpoint + "/").url == "http://localhost:4318/v1/traces"
