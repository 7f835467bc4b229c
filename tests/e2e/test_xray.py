"""X-Ray with boto3: segment documents in (PutTraceSegments, the daemon's UDP port),
AWS's per-segment refusals, traces assembled from subsegments sent on their own,
summaries with filter expressions and pages, the service and trace graphs, the default
sampling rule."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.server import SandlotServer


def _trace_id(at: float | None = None) -> str:
    return f"1-{int(at or time.time()):08x}-{os.urandom(12).hex()}"


def _id() -> str:
    return os.urandom(8).hex()


def _window() -> dict:
    now = dt.datetime.now(dt.UTC)
    return {"StartTime": now - dt.timedelta(minutes=5), "EndTime": now + dt.timedelta(minutes=1)}


def _segment(trace_id: str, name: str, **fields) -> dict:
    now = time.time()
    return {"trace_id": trace_id, "id": _id(), "name": name, "start_time": now - 0.5,
            "end_time": now, **fields}  # fmt: skip


def test_segments_in_and_traces_out(server) -> None:
    xray = make_client(server.endpoint, "xray")
    trace = _trace_id()
    front = _segment(trace, "front", http={"request": {"method": "GET", "url": "http://x/a"},
                                           "response": {"status": 502}}, fault=True,
                     annotations={"tier": "gold", "n": 3})  # fmt: skip
    back = _segment(trace, "back", parent_id=front["id"], origin="AWS::EC2::Instance")
    front["subsegments"] = [{"id": back["parent_id"][:0] + _id(), "name": "call",
                             "start_time": front["start_time"], "end_time": front["end_time"]}]  # fmt: skip
    back["parent_id"] = front["subsegments"][0]["id"]
    late = {"type": "subsegment", "trace_id": trace, "parent_id": back["id"], "id": _id(),
            "name": "query", "namespace": "aws", "start_time": back["start_time"],
            "end_time": back["end_time"]}  # fmt: skip
    bad = [
        {"name": "x", "trace_id": trace, "start_time": 1.0, "end_time": 2.0},
        {"id": "nothex-nothex-12", "name": "x", "trace_id": trace, "start_time": 1.0, "end_time": 2.0},
        {"id": _id(), "name": "x", "trace_id": "1-abc-def", "start_time": 1.0, "end_time": 2.0},
        {"id": _id(), "name": "x", "trace_id": trace, "start_time": 1.0},
        {"id": _id(), "name": "bad?name", "trace_id": trace, "start_time": 1.0, "end_time": 2.0},
    ]  # fmt: skip
    docs = [json.dumps(d) for d in (front, back, late, *bad)] + ["{not json"]
    answer = xray.put_trace_segments(TraceSegmentDocuments=docs)
    codes = [u["ErrorCode"] for u in answer["UnprocessedTraceSegments"]]
    assert codes == ["MissingId", "InvalidId", "InvalidTraceId", "MissingEndTime", "InvalidName",
                     "ParseError"]  # fmt: skip
    assert (
        answer["UnprocessedTraceSegments"][2]["Message"]
        == "Invalid segment. ErrorCode: InvalidTraceId"
    )

    (got,) = xray.batch_get_traces(TraceIds=[trace])["Traces"]
    docs_by_name = {
        json.loads(s["Document"])["name"]: json.loads(s["Document"]) for s in got["Segments"]
    }
    assert set(docs_by_name) == {"front", "back"}
    assert [s["name"] for s in docs_by_name["back"]["subsegments"]] == ["query"]
    missing = _trace_id()
    assert xray.batch_get_traces(TraceIds=[missing])["UnprocessedTraceIds"] == [missing]

    summaries = xray.get_trace_summaries(**_window())["TraceSummaries"]
    (mine,) = [s for s in summaries if s["Id"] == trace]
    assert mine["HasFault"] and not mine["HasError"]
    assert mine["Http"] == {"HttpURL": "http://x/a", "HttpStatus": 502, "HttpMethod": "GET"}
    assert mine["Annotations"]["tier"] == [{"AnnotationValue": {"StringValue": "gold"}}]
    assert {s["Name"] for s in mine["ServiceIds"]} == {"front", "back"}
    assert mine["EntryPoint"]["Name"] == "front"

    def ids(expression: str) -> set[str]:
        pages = xray.get_paginator("get_trace_summaries").paginate(
            FilterExpression=expression, **_window()
        )
        return {s["Id"] for page in pages for s in page["TraceSummaries"]}

    assert trace in ids('service("back")')
    assert trace not in ids('service("elsewhere")')
    assert trace in ids("http.status = 502 AND fault")
    assert trace not in ids("http.status >= 200 AND http.status < 300")
    assert trace in ids('annotation.tier = "gold" && annotation.n > 2')
    assert trace not in ids("responsetime > 100 OR error")
    assert trace in ids('!(ok) AND http.url CONTAINS "/a"')
    with pytest.raises(ClientError) as excinfo:
        xray.get_trace_summaries(FilterExpression="service(", **_window())
    assert excinfo.value.response["Error"]["Code"] == "InvalidRequestException"

    graph = xray.get_trace_graph(TraceIds=[trace])["Services"]
    by_name = {s.get("Name"): s for s in graph}  # the client node has none
    assert by_name["front"]["Root"] is True
    assert [e["ReferenceId"] for e in by_name["front"]["Edges"]] == [by_name["back"]["ReferenceId"]]
    assert by_name["query"]["Type"] == "AWS::query"
    assert by_name["front"]["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1
    service_graph = xray.get_service_graph(**_window())["Services"]
    assert {"front", "back"} <= {s.get("Name") for s in service_graph}


def test_summary_pages(server) -> None:
    xray = make_client(server.endpoint, "xray", region="eu-west-1")
    made = set()
    for _ in range(105):
        trace = _trace_id()
        made.add(trace)
        xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(_segment(trace, "paged"))])
    first = xray.get_trace_summaries(**_window())
    assert len(first["TraceSummaries"]) == 100 and first["NextToken"]
    pages = xray.get_paginator("get_trace_summaries").paginate(**_window())
    assert {s["Id"] for p in pages for s in p["TraceSummaries"]} == made
    other = make_client(server.endpoint, "xray", region="eu-central-1")
    assert other.get_trace_summaries(**_window())["TraceSummaries"] == []
    with pytest.raises(ClientError) as excinfo:
        now = dt.datetime.now(dt.UTC)
        xray.get_trace_summaries(StartTime=now - dt.timedelta(days=2), EndTime=now)
    assert excinfo.value.response["Error"]["Code"] == "InvalidRequestException"


def test_sampling_rules(server) -> None:
    xray = make_client(server.endpoint, "xray")
    (record,) = xray.get_sampling_rules()["SamplingRuleRecords"]
    rule = record["SamplingRule"]
    assert (rule["RuleName"], rule["FixedRate"], rule["ReservoirSize"], rule["Priority"]) == (
        "Default", 0.05, 1, 10000)  # fmt: skip
    targets = xray.get_sampling_targets(SamplingStatisticsDocuments=[{
        "RuleName": "Default", "ClientID": "0" * 24, "Timestamp": dt.datetime.now(dt.UTC),
        "RequestCount": 10, "SampledCount": 1, "BorrowCount": 0}])  # fmt: skip
    assert targets["SamplingTargetDocuments"][0]["FixedRate"] == 0.05
    xray.put_telemetry_records(TelemetryRecords=[{"Timestamp": dt.datetime.now(dt.UTC)}])


def test_daemon_udp(server) -> None:
    """A document sent as the SDKs send it to the daemon is stored; an unknown trace's
    full segment goes to the default account and region."""
    xray = make_client(server.endpoint, "xray")
    with urllib.request.urlopen(f"{server.endpoint}/_sandlot/health", timeout=10) as answer:
        port = int(json.load(answer)["function_endpoint"].rsplit(":", 1)[1])
    trace = _trace_id()
    seg = _segment(trace, "udp-sender")
    sub = {"type": "subsegment", "trace_id": trace, "parent_id": seg["id"], "id": _id(),
           "name": "work", "start_time": seg["start_time"], "end_time": seg["end_time"]}  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for doc in (seg, sub):
            sock.sendto(b'{"format": "json", "version": 1}\n' + json.dumps(doc).encode(),
                        ("127.0.0.1", port))  # fmt: skip
        sock.sendto(b"garbage", ("127.0.0.1", port))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        traces = xray.batch_get_traces(TraceIds=[trace])["Traces"]
        if traces:
            (document,) = [json.loads(s["Document"]) for s in traces[0]["Segments"]]
            if document.get("subsegments"):
                assert document["subsegments"][0]["name"] == "work"
                return
        time.sleep(0.05)
    raise AssertionError("the daemon's documents never arrived")


def test_traces_survive_a_kill(tmp_path) -> None:
    """Accepted documents are durable: a kill -9 right after PutTraceSegments loses none."""
    trace = _trace_id()
    first = SandlotServer(tmp_path, lambda_role=False).start()
    try:
        xray = make_client(first.endpoint, "xray")
        answer = xray.put_trace_segments(
            TraceSegmentDocuments=[json.dumps(_segment(trace, "kept"))]
        )
        assert answer["UnprocessedTraceSegments"] == []
    finally:
        first.kill()
    with SandlotServer(tmp_path, lambda_role=False) as restarted:
        xray = make_client(restarted.endpoint, "xray")
        (got,) = xray.batch_get_traces(TraceIds=[trace])["Traces"]
        assert json.loads(got["Segments"][0]["Document"])["name"] == "kept"
