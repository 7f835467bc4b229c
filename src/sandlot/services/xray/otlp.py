"""Export to OpenTelemetry (``sandlot up --otlp-endpoint URL``, ``SANDLOT_OTLP_ENDPOINT``):
every completed segment X-Ray accepts also goes, as OTLP spans, to a collector (Jaeger,
Grafana Tempo, the OpenTelemetry Collector) at ``<endpoint>/v1/traces`` over OTLP/HTTP
in protobuf (``application/x-protobuf``).

A segment and each subsegment in it become one span: the trace id is the X-Ray root's
hex digits (``1-5759e988-bd86…`` → ``5759e988bd86…``, 16 bytes), the span id the
(sub)segment id, the parent its ``parent_id`` or the (sub)segment holding it; times in
nanoseconds; ``http`` as OpenTelemetry's HTTP attributes; ``aws`` flattened under
``aws.``; annotations under ``aws.xray.annotations.``, metadata as JSON under
``aws.xray.metadata.<namespace>``; ``fault``/``error``/``throttle`` as an error status.
A segment's name is the span's ``service.name`` resource attribute, as X-Ray names
services by it.

The exporter never slows the traced requests: documents wait in a bounded queue, a
background task posts them in batches, retries a failed post a few times and then
drops the batch with a log line (also when the queue is full: the collector is down).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import time
from urllib.parse import urlsplit

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

log = logging.getLogger(__name__)

QUEUE_MAX = 10_000  # documents waiting; more are dropped
BATCH_MAX = 512  # documents per export request
BATCH_WAIT_S = 0.2  # how long the first document of a batch waits for others
ATTEMPTS = 3
TIMEOUT_S = 5.0
SCOPE = InstrumentationScope(name="sandlot.xray")


def trace_id(root: str) -> bytes:
    """The 16-byte OpenTelemetry trace id of an X-Ray trace id ``1-<8 hex>-<24 hex>``."""
    return bytes.fromhex(root[2:10] + root[11:])


def _value(value: object) -> AnyValue | None:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return AnyValue(array_value={"values": [_value(v) for v in value]})
    if value is None:
        return None
    return AnyValue(string_value=json.dumps(value, default=str))


def _attributes(doc: dict) -> list[KeyValue]:
    out: dict[str, object] = {}
    http = doc.get("http") or {}
    request, response = http.get("request") or {}, http.get("response") or {}
    for key, name in (("method", "http.request.method"), ("url", "url.full"),
                      ("client_ip", "client.address"), ("user_agent", "user_agent.original")):  # fmt: skip
        if key in request:
            out[name] = request[key]
    if "status" in response:
        out["http.response.status_code"] = response["status"]
    if "content_length" in response:
        out["http.response.body.size"] = response["content_length"]

    def flatten(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                flatten(f"{prefix}.{key}", inner)
        else:
            out[prefix] = value

    flatten("aws", doc.get("aws") or {})
    for key in ("origin", "resource_arn", "namespace", "user"):
        if doc.get(key) is not None:
            out[f"aws.xray.{key}"] = doc[key]
    for key, value in (doc.get("annotations") or {}).items():
        out[f"aws.xray.annotations.{key}"] = value
    for namespace, value in (doc.get("metadata") or {}).items():
        out[f"aws.xray.metadata.{namespace}"] = json.dumps(value, default=str)
    pairs = []
    for key, value in out.items():
        converted = _value(value)
        if converted is not None:
            pairs.append(KeyValue(key=key, value=converted))
    return pairs


def _kind(doc: dict, top: bool) -> int:
    if top:
        return Span.SPAN_KIND_SERVER
    if doc.get("namespace") in ("aws", "remote"):
        return Span.SPAN_KIND_CLIENT
    return Span.SPAN_KIND_INTERNAL


def _status(doc: dict) -> Status:
    for flag in ("fault", "throttle", "error"):
        if doc.get(flag):
            cause = doc.get("cause") or {}
            exceptions = cause.get("exceptions") if isinstance(cause, dict) else None
            message = flag
            if exceptions and isinstance(exceptions[0], dict):
                message = str(exceptions[0].get("message") or flag)
            return Status(code=Status.STATUS_CODE_ERROR, message=message)
    return Status(code=Status.STATUS_CODE_UNSET)


def spans(doc: dict) -> list[Span]:
    """The spans of one X-Ray document (a segment, or a subsegment sent on its own) and
    of the subsegments nested in it; in-progress parts have no span yet."""
    out: list[Span] = []
    if doc.get("end_time") is None:  # sent again when done: exported then, once
        return out
    trace = trace_id(doc["trace_id"])

    def add(part: dict, parent: str | None, top: bool) -> None:
        if part.get("end_time") is not None:
            span = Span(
                trace_id=trace,
                span_id=bytes.fromhex(part["id"]),
                name=str(part["name"]),
                kind=_kind(part, top),
                start_time_unix_nano=int(part["start_time"] * 1e9),
                end_time_unix_nano=int(part["end_time"] * 1e9),
                attributes=_attributes(part),
                status=_status(part),
            )
            if parent:
                span.parent_span_id = bytes.fromhex(parent)
            out.append(span)
        for child in part.get("subsegments") or ():
            add(child, part["id"], False)

    add(doc, doc.get("parent_id"), doc.get("type") != "subsegment")
    return out


def request_of(documents: list[tuple[str, str, dict]]) -> ExportTraceServiceRequest:
    """One export request for ``(account, region, document)`` triples: a resource per
    service (the segment's name) and account."""
    resources: dict[tuple[str, str, str], list[Span]] = {}
    for account, region, doc in documents:
        key = (account, region, str(doc.get("name")))
        resources.setdefault(key, []).extend(spans(doc))
    out = ExportTraceServiceRequest()
    for (account, region, service), found in resources.items():
        if not found:
            continue
        attributes = [
            KeyValue(key="service.name", value=AnyValue(string_value=service)),
            KeyValue(key="cloud.provider", value=AnyValue(string_value="aws")),
            KeyValue(key="cloud.account.id", value=AnyValue(string_value=account)),
            KeyValue(key="cloud.region", value=AnyValue(string_value=region)),
        ]
        out.resource_spans.append(
            ResourceSpans(
                resource=Resource(attributes=attributes),
                scope_spans=[ScopeSpans(scope=SCOPE, spans=found)],
            )
        )
    return out


class Exporter:
    """The background exporter: ``submit`` never blocks, ``run`` posts batches."""

    def __init__(self, endpoint: str) -> None:
        self.url = endpoint.rstrip("/") + "/v1/traces"
        self.queue: asyncio.Queue[tuple[str, str, dict]] = asyncio.Queue(QUEUE_MAX)
        self.dropped = 0
        self._last_drop_log = 0.0

    def submit(self, account: str, region: str, doc: dict) -> None:
        try:
            self.queue.put_nowait((account, region, doc))
        except asyncio.QueueFull:
            self._drop(1, "the export queue is full")

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        now = time.monotonic()
        if now - self._last_drop_log >= 10:  # one line per 10 s, not one per segment
            self._last_drop_log = now
            log.warning("OTLP export to %s: dropped %d segment(s) so far (%s)",
                        self.url, self.dropped, why)  # fmt: skip

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            deadline = time.monotonic() + BATCH_WAIT_S
            while len(batch) < BATCH_MAX:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), left))
                except TimeoutError:
                    break
            body = request_of(batch).SerializeToString()
            await self._post(body, len(batch))

    async def _post(self, body: bytes, count: int) -> None:
        delay = 0.5
        for attempt in range(ATTEMPTS):
            try:
                status = await asyncio.to_thread(self._send, body)
            except OSError as error:
                problem = str(error)
            else:
                if 200 <= status < 300:
                    return
                problem = f"HTTP {status}"
                if status < 500 and status != 429:  # the collector refuses it: no retry
                    break
            if attempt + 1 < ATTEMPTS:
                await asyncio.sleep(delay)
                delay *= 2
        self._drop(count, problem)

    def _send(self, body: bytes) -> int:
        parts = urlsplit(self.url)
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = kind(parts.hostname, parts.port, timeout=TIMEOUT_S)
        try:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", path, body, {"Content-Type": "application/x-protobuf"})
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()
