"""AWS X-Ray: segment documents in (PutTraceSegments and the daemon's UDP port), traces,
summaries with filter expressions, service and trace graphs out, and the default
sampling rule the SDKs ask for.

Storage is the raw documents (schema.py), kept 30 days as AWS keeps traces and bounded
in count (the oldest go first). The daemon side is daemon.py; Lambda's own segments
for functions with Active tracing come in through PutTraceSegments (awslambda/tracing.py).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import time
from collections import OrderedDict

from sandlot.protocol import ServiceError
from sandlot.services.provider import Provider, RequestContext
from sandlot.services.xray import segments
from sandlot.services.xray.emit import DEFAULT_RATE, DEFAULT_RESERVOIR
from sandlot.services.xray.filters import compile_filter
from sandlot.services.xray.schema import MIGRATIONS, SEGMENTS

log = logging.getLogger(__name__)

RETENTION_S = 30 * 86400  # AWS keeps trace data 30 days
MAX_SEGMENTS = 1_000_000  # all accounts together; past it the oldest documents go
SWEEP_INTERVAL_S = 60.0
PAGE = 100  # trace summaries per GetTraceSummaries page
MAX_RANGE_S = 24 * 3600  # GetTraceSummaries' longest time range
BATCH_TRACES = 5  # BatchGetTraces answers at most this many traces per page
OWNERS_MAX = 100_000  # trace id -> (account, region) remembered for the daemon


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidRequestException", message)


def _epoch(value) -> float:
    return value.timestamp() if isinstance(value, dt.datetime) else float(value)


class XRayProvider(Provider):
    """X-Ray; see the module docstring."""

    service = "xray"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("xray", MIGRATIONS)
        self.store = platform.store
        # Which account and region a trace belongs to, for documents the daemon gets
        # (UDP carries no credentials): learnt from every accepted document.
        self.owners: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self.daemon = None
        self.exporter = None  # OTLP export (otlp.py), when an endpoint is configured

    async def start(self, daemon_port: int | None) -> asyncio.Task:
        """The retention sweep (the task returned) and, given a port, the daemon."""
        if daemon_port is not None:
            from sandlot.services.xray.daemon import Daemon

            daemon = Daemon(self)
            try:
                await daemon.listen(daemon_port)
                self.daemon = daemon
            except OSError as exc:  # taken by another program: X-Ray's API still serves
                log.warning(
                    "X-Ray daemon: cannot listen on UDP 127.0.0.1:%s: %s",
                    daemon_port,
                    exc.strerror or exc,
                )
        endpoint = self.platform.settings.otlp_endpoint
        exporting = None
        if endpoint:
            from sandlot.services.xray.otlp import Exporter  # protobuf only when asked

            self.exporter = Exporter(endpoint)
            exporting = asyncio.create_task(self.exporter.run())
            log.info("X-Ray: exporting completed segments to %s", self.exporter.url)
        return asyncio.create_task(self._sweep(exporting))

    async def _sweep(self, exporting: asyncio.Task | None = None) -> None:
        try:
            while True:
                try:
                    self.sweep(time.time())
                except Exception:
                    log.exception("X-Ray retention sweep failed")
                await asyncio.sleep(SWEEP_INTERVAL_S)
        finally:
            if self.daemon is not None:
                self.daemon.close()
            if exporting is not None:
                exporting.cancel()

    def sweep(self, now: float) -> None:
        """Drop documents past the retention, then the oldest beyond the bound."""
        self.store.delete_where(SEGMENTS, {}, bounds={"received": (None, now - RETENTION_S)})
        self.store.trim(SEGMENTS, "received", MAX_SEGMENTS)

    # -- ingestion ------------------------------------------------------------------------

    def ingest(self, account: str, region: str, documents: list[str]) -> list[dict]:
        """Store the valid documents; AWS's UnprocessedTraceSegments for the others."""
        unprocessed, rows, now = [], [], time.time()
        for text in documents:
            try:
                seg = segments.parse(text)
            except segments.Invalid as bad:
                entry = {"ErrorCode": bad.code, "Message": str(bad)}
                if bad.segment_id is not None:
                    entry["Id"] = bad.segment_id
                unprocessed.append(entry)
                continue
            rows.append({
                "account": account, "region": region, "trace_id": seg.trace_id, "id": seg.id,
                "parent_id": seg.parent_id, "kind": seg.kind, "start": seg.start,
                "trace_time": seg.trace_time, "document": text, "received": now,
            })  # fmt: skip
            self.remember(seg.trace_id, account, region)
            if self.exporter is not None:
                self.exporter.submit(account, region, seg.document)
        if rows:
            self.store.put_many(SEGMENTS, rows)  # a resent id replaces (in_progress → done)
        return unprocessed

    def remember(self, trace_id: str, account: str, region: str) -> None:
        owners = self.owners
        if trace_id not in owners:
            owners[trace_id] = (account, region)
            if len(owners) > OWNERS_MAX:
                owners.popitem(last=False)
            if self.daemon is not None:
                self.daemon.owner_known(trace_id)

    def owner(self, trace_id: str) -> tuple[str, str] | None:
        found = self.owners.get(trace_id)
        if found is None:
            rows = self.store.select(SEGMENTS, {"trace_id": trace_id}, limit=1)
            if rows:
                found = (rows[0]["account"], rows[0]["region"])
        return found

    def put_trace_segments(self, ctx: RequestContext, params: dict) -> dict:
        documents = params["TraceSegmentDocuments"]
        return {"UnprocessedTraceSegments": self.ingest(ctx.account_id, ctx.region, documents)}

    def put_telemetry_records(self, ctx: RequestContext, params: dict) -> dict:
        # The daemons' health counters: X-Ray shows them nowhere a client can read back.
        for record in params["TelemetryRecords"]:
            if "Timestamp" not in record:
                raise invalid("TelemetryRecords[].Timestamp is required")
        return {}

    # -- reading --------------------------------------------------------------------------

    def _rows(self, ctx: RequestContext, trace_id: str) -> list[dict]:
        return self.store.select(
            SEGMENTS, {"account": ctx.account_id, "region": ctx.region, "trace_id": trace_id}
        )

    def _trace(self, ctx: RequestContext, trace_id: str) -> list[dict] | None:
        rows = self._rows(ctx, trace_id)
        return segments.assemble(rows) if rows else None

    def batch_get_traces(self, ctx: RequestContext, params: dict) -> dict:
        ids = list(dict.fromkeys(params["TraceIds"]))
        start = _token(params.get("NextToken"))
        traces, missing = [], []
        for trace_id in ids[start : start + BATCH_TRACES]:
            docs = self._trace(ctx, trace_id) if segments.TRACE_ID.match(trace_id) else None
            if docs is None:
                missing.append(trace_id)
                continue
            info = segments.summary(trace_id, docs)
            traces.append({
                "Id": trace_id, "Duration": info["Duration"], "LimitExceeded": False,
                "Segments": [{"Id": d["id"], "Document": json.dumps(d)} for d in docs],
            })  # fmt: skip
        out: dict = {"Traces": traces, "UnprocessedTraceIds": missing}
        if start + BATCH_TRACES < len(ids):
            out["NextToken"] = _make_token(start + BATCH_TRACES)
        return out

    def get_trace_summaries(self, ctx: RequestContext, params: dict) -> dict:
        begin, end = _epoch(params["StartTime"]), _epoch(params["EndTime"])
        if end < begin:
            raise invalid("EndTime must be after StartTime")
        if end - begin > MAX_RANGE_S:
            raise invalid("Time range cannot be more than 24 hours")
        expression = params.get("FilterExpression")
        matches = compile_filter(expression) if expression else None
        by_event = (params.get("TimeRangeType") or "TraceId") != "TraceId"
        column = "start" if by_event else "trace_time"
        bounds = {column: (begin if by_event else float(int(begin)), end)}
        rows = self.store.select(
            SEGMENTS, {"account": ctx.account_id, "region": ctx.region}, bounds=bounds
        )
        trace_ids = sorted({r["trace_id"] for r in rows}, key=lambda t: (t[2:10], t))
        summaries = []
        for trace_id in trace_ids:
            rows = self._rows(ctx, trace_id)
            if not rows:
                continue
            # The trace's Revision grows as its documents arrive: the SAM CLI's
            # `sam traces --tail` fetches a trace again when it has grown.
            info = segments.summary(trace_id, segments.assemble(rows), revision=len(rows))
            if matches is None or matches(info):
                summaries.append(info)
        start = _token(params.get("NextToken"))
        page = summaries[start : start + PAGE]
        out: dict = {
            "TraceSummaries": page,
            "ApproximateTime": dt.datetime.fromtimestamp(time.time(), dt.UTC),
            "TracesProcessedCount": len(trace_ids),
        }
        if start + PAGE < len(summaries):
            out["NextToken"] = _make_token(start + PAGE)
        return out

    def get_trace_graph(self, ctx: RequestContext, params: dict) -> dict:
        docs = []
        for trace_id in dict.fromkeys(params["TraceIds"]):
            docs += self._trace(ctx, trace_id) or []
        return {"Services": _graph(docs)}

    def get_service_graph(self, ctx: RequestContext, params: dict) -> dict:
        begin, end = _epoch(params["StartTime"]), _epoch(params["EndTime"])
        if end < begin:
            raise invalid("EndTime must be after StartTime")
        rows = self.store.select(
            SEGMENTS,
            {"account": ctx.account_id, "region": ctx.region},
            bounds={"start": (begin, end)},
        )
        docs = []
        for trace_id in sorted({r["trace_id"] for r in rows}):
            docs += self._trace(ctx, trace_id) or []
        return {
            "Services": _graph(docs),
            "StartTime": dt.datetime.fromtimestamp(begin, dt.UTC),
            "EndTime": dt.datetime.fromtimestamp(end, dt.UTC),
            "ContainsOldGroupVersions": False,
        }

    # -- sampling -------------------------------------------------------------------------

    def _default_rule(self, ctx: RequestContext) -> dict:
        return {
            "RuleName": "Default",
            "RuleARN": f"arn:aws:xray:{ctx.region}:{ctx.account_id}:sampling-rule/Default",
            "ResourceARN": "*", "Priority": 10000, "FixedRate": DEFAULT_RATE,
            "ReservoirSize": DEFAULT_RESERVOIR, "ServiceName": "*", "ServiceType": "*",
            "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1, "Attributes": {},
        }  # fmt: skip

    def get_sampling_rules(self, ctx: RequestContext, params: dict) -> dict:
        created = dt.datetime.fromtimestamp(self.platform.started_at, dt.UTC)
        return {"SamplingRuleRecords": [
            {"SamplingRule": self._default_rule(ctx), "CreatedAt": created, "ModifiedAt": created}
        ]}  # fmt: skip

    def get_sampling_targets(self, ctx: RequestContext, params: dict) -> dict:
        targets, unprocessed = [], []
        now = time.time()
        for doc in params["SamplingStatisticsDocuments"]:
            if doc["RuleName"] != "Default":
                unprocessed.append({"RuleName": doc["RuleName"], "ErrorCode": "400",
                                    "Message": "Sampling rule does not exist"})  # fmt: skip
                continue
            targets.append({
                "RuleName": "Default", "FixedRate": DEFAULT_RATE,
                "ReservoirQuota": DEFAULT_RESERVOIR,
                "ReservoirQuotaTTL": dt.datetime.fromtimestamp(now + 10, dt.UTC),
                "Interval": 10,
            })  # fmt: skip
        return {
            "SamplingTargetDocuments": targets,
            "LastRuleModification": dt.datetime.fromtimestamp(self.platform.started_at, dt.UTC),
            "UnprocessedStatistics": unprocessed,
        }


def _token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError:
        raise invalid("Invalid NextToken") from None


def _make_token(position: int) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode()


def _graph(documents: list[dict]) -> list[dict]:
    """The services of ``documents`` as X-Ray's graph nodes, with an edge from a
    segment's service to each service it called: a segment whose parent is in another
    segment, or an inferred node for a downstream call (a subsegment with namespace
    ``aws`` or ``remote``) that no segment continues."""
    nodes: dict[tuple, dict] = {}
    owner_of: dict[str, tuple] = {}  # segment or subsegment id -> its segment's node key
    segs = [d for d in documents if d.get("type") != "subsegment"]

    def node(key: tuple) -> dict:
        if key not in nodes:
            name, kind = key
            entry = {"ReferenceId": len(nodes), "Name": name, "Names": [name],
                     "Root": False, "State": "active", "Edges": {},
                     "Stats": {"ok": 0, "error": 0, "fault": 0, "throttle": 0, "time": 0.0},
                     "Start": None, "End": None}  # fmt: skip
            if kind:
                entry["Type"] = kind
            nodes[key] = entry
        return nodes[key]

    def count(entry: dict, doc: dict) -> None:
        stats = entry["Stats"]
        end = doc.get("end_time", doc["start_time"])
        kind = "fault" if doc.get("fault") else "throttle" if doc.get("throttle") else (
            "error" if doc.get("error") else "ok")  # fmt: skip
        stats[kind] += 1
        stats["time"] += end - doc["start_time"]
        entry["Start"] = min(entry["Start"] or doc["start_time"], doc["start_time"])
        entry["End"] = max(entry["End"] or end, end)

    for doc in segs:
        key = (doc["name"], doc.get("origin"))
        count(node(key), doc)
        for part in segments.walk(doc):
            owner_of[part["id"]] = key
    continued = {d.get("parent_id") for d in segs}
    client = ("", "client")  # AWS's node for the clients that called the root services
    for doc in segs:
        key = (doc["name"], doc.get("origin"))
        parent = owner_of.get(doc.get("parent_id", ""))
        if parent is None:
            nodes[key]["Root"] = True
            count(node(client), doc)
            nodes[client]["Edges"].setdefault(key, []).append(doc)
        elif parent != key:
            nodes[parent]["Edges"].setdefault(key, []).append(doc)
        for part in segments.walk(doc):
            if part is doc or part.get("namespace") not in ("aws", "remote"):
                continue
            if part["id"] in continued:
                continue
            kind = f"AWS::{part['name']}" if part.get("namespace") == "aws" else "remote"
            target = (part["name"], kind)
            count(node(target), part)
            nodes[key]["Edges"].setdefault(target, []).append(part)
    out = []
    for entry in nodes.values():
        stats = entry.pop("Stats")
        start, end = entry.pop("Start"), entry.pop("End")
        edges = entry.pop("Edges")
        entry["StartTime"] = dt.datetime.fromtimestamp(start, dt.UTC)
        entry["EndTime"] = dt.datetime.fromtimestamp(end, dt.UTC)
        entry["SummaryStatistics"] = _statistics(stats)
        entry["Edges"] = []
        if entry.get("Type") == "client":  # nameless, in no state X-Ray can know
            del entry["Name"]
            entry.update(Names=[], State="unknown")
        for target, calls in edges.items():
            edge_stats = {"ok": 0, "error": 0, "fault": 0, "throttle": 0, "time": 0.0}
            for call in calls:
                kind = "fault" if call.get("fault") else "throttle" if call.get("throttle") else (
                    "error" if call.get("error") else "ok")  # fmt: skip
                edge_stats[kind] += 1
                edge_stats["time"] += call.get("end_time", call["start_time"]) - call["start_time"]
            entry["Edges"].append({
                "ReferenceId": nodes[target]["ReferenceId"],
                "StartTime": dt.datetime.fromtimestamp(min(c["start_time"] for c in calls), dt.UTC),
                "EndTime": dt.datetime.fromtimestamp(
                    max(c.get("end_time", c["start_time"]) for c in calls), dt.UTC),
                "SummaryStatistics": _statistics(edge_stats),
                "Aliases": [],
            })  # fmt: skip
        out.append(entry)
    return out


def _statistics(stats: dict) -> dict:
    errors = stats["error"] + stats["throttle"]
    return {
        "OkCount": stats["ok"],
        "ErrorStatistics": {
            "ThrottleCount": stats["throttle"],
            "OtherCount": stats["error"],
            "TotalCount": errors,
        },  # fmt: skip
        "FaultStatistics": {"OtherCount": stats["fault"], "TotalCount": stats["fault"]},
        "TotalCount": stats["ok"] + errors + stats["fault"],
        "TotalResponseTime": round(stats["time"], 3),
    }
