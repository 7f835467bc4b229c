"""Segment documents: AWS's validation of what PutTraceSegments and the daemon take,
and traces assembled from the stored documents (subsegments sent on their own joined
to their parents, the summary GetTraceSummaries answers with).

AWS refuses a document per segment, not per request: the bad ones come back as
``UnprocessedTraceSegments`` with an ErrorCode such as ``MissingId`` or
``InvalidTraceId`` and the message "Invalid segment. ErrorCode: <code>"."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from sandlot.protocol import json_loads

TRACE_ID = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}\Z")
SEGMENT_ID = re.compile(r"[0-9a-f]{16}\Z")
# Names: Unicode letters, digits, whitespace and _ . : / % & # = + \ - @ (AWS's list).
NAME = re.compile(r"[\w\s.:/%&#=+\\\-@]{1,200}\Z")
DOCUMENT_MAX = 64 * 1024  # bytes, AWS's limit on one segment document


@dataclass(frozen=True, slots=True)
class Segment:
    """One accepted document and what is indexed of it."""

    trace_id: str
    id: str
    parent_id: str | None
    kind: str  # "segment" | "subsegment"
    start: float
    trace_time: float
    document: dict


class Invalid(Exception):
    def __init__(self, code: str, segment_id: str | None, subsegment: bool = False) -> None:
        self.code = code
        self.segment_id = segment_id
        kind = "subsegment" if subsegment else "segment"
        super().__init__(f"Invalid {kind}. ErrorCode: {code}")


def parse(text: str) -> Segment:
    """The document ``text`` as a Segment, or ``Invalid`` with AWS's ErrorCode."""
    if len(text.encode()) > DOCUMENT_MAX:
        raise Invalid("SegmentTooLarge", None)
    try:
        doc = json_loads(text)
    except ValueError:
        raise Invalid("ParseError", None) from None
    if not isinstance(doc, dict):
        raise Invalid("MissingId", None)
    sub = doc.get("type") == "subsegment"
    seg_id = doc.get("id")
    if seg_id is None:
        raise Invalid("MissingId", None, sub)
    if not isinstance(seg_id, str) or not SEGMENT_ID.match(seg_id):
        raise Invalid("InvalidId", str(seg_id), sub)
    trace_id = doc.get("trace_id")
    if trace_id is None:
        raise Invalid("MissingTraceId", seg_id, sub)
    if not isinstance(trace_id, str) or not TRACE_ID.match(trace_id):
        raise Invalid("InvalidTraceId", seg_id, sub)
    _check_body(doc, seg_id, sub, top=True)
    parent = doc.get("parent_id")
    if parent is not None and (not isinstance(parent, str) or not SEGMENT_ID.match(parent)):
        raise Invalid("InvalidParentId", seg_id, sub)
    if sub and parent is None:  # a subsegment sent on its own must say where it goes
        raise Invalid("MissingParentId", seg_id, sub)
    return Segment(
        trace_id, seg_id, parent, "subsegment" if sub else "segment",
        float(doc["start_time"]), float(int(trace_id[2:10], 16)), doc,
    )  # fmt: skip


def _check_body(doc: dict, seg_id: str, sub: bool, *, top: bool) -> None:
    """name, start/end time or in_progress, and the nested subsegments, recursively."""
    name = doc.get("name")
    if name is None:
        raise Invalid("MissingName", seg_id, sub)
    if not isinstance(name, str) or not NAME.match(name):
        raise Invalid("InvalidName", seg_id, sub)
    start = doc.get("start_time")
    if start is None:
        raise Invalid("MissingStartTime", seg_id, sub)
    if not _number(start):
        raise Invalid("InvalidStartTime", seg_id, sub)
    end = doc.get("end_time")
    if end is None and doc.get("in_progress") is not True:
        raise Invalid("MissingEndTime", seg_id, sub)
    if end is not None and (not _number(end) or end < start):
        raise Invalid("InvalidEndTime", seg_id, sub)
    children = doc.get("subsegments", [])
    if not isinstance(children, list):
        raise Invalid("InvalidSubsegments", seg_id, sub)
    for child in children:
        if not isinstance(child, dict):
            raise Invalid("InvalidSubsegments", seg_id, sub)
        child_id = child.get("id")
        if child_id is None:
            raise Invalid("MissingId", seg_id, True)
        if not isinstance(child_id, str) or not SEGMENT_ID.match(child_id):
            raise Invalid("InvalidId", str(child_id), True)
        _check_body(child, child_id, True, top=False)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- assembly ---------------------------------------------------------------------------


def assemble(rows: list[dict]) -> list[dict]:
    """The trace's segment documents, each subsegment sent on its own placed into its
    parent (segment or subsegment) as X-Ray shows it; a subsegment whose parent never
    arrived stays a document of its own."""
    docs = {r["id"]: json.loads(r["document"]) for r in rows}
    segments = {i: d for i, d in docs.items() if d.get("type") != "subsegment"}
    by_id: dict[str, dict] = {}

    def index(doc: dict) -> None:
        by_id[doc["id"]] = doc
        for child in doc.get("subsegments", ()):
            index(child)

    for doc in segments.values():
        index(doc)
    pending = [d for d in docs.values() if d.get("type") == "subsegment"]
    pending.sort(key=lambda d: d.get("start_time", 0))
    progress = True
    while pending and progress:  # a subsegment's parent may itself be a separate one
        progress = False
        for doc in list(pending):
            parent = by_id.get(doc.get("parent_id", ""))
            if parent is not None:
                child = {k: v for k, v in doc.items() if k not in ("type", "trace_id", "parent_id")}
                parent.setdefault("subsegments", []).append(child)
                index(child)
                pending.remove(doc)
                progress = True
    return list(segments.values()) + pending


def walk(doc: dict):
    """``doc`` and all its subsegments, depth first."""
    yield doc
    for child in doc.get("subsegments", ()):
        yield from walk(child)


def service_type(doc: dict) -> str | None:
    return doc.get("origin")


def summary(trace_id: str, documents: list[dict], revision: int = 0) -> dict:
    """GetTraceSummaries' TraceSummary of one assembled trace (``revision``: how many
    documents it has been sent)."""
    segments = [d for d in documents if d.get("type") != "subsegment"]
    starts = [d["start_time"] for d in documents]
    ends = [d.get("end_time", d["start_time"]) for d in documents]
    ids = {d["id"] for d in segments}
    roots = [d for d in segments if d.get("parent_id") not in ids] or segments or documents
    root = min(roots, key=lambda d: d["start_time"])
    everything = [n for d in documents for n in walk(d)]
    annotations: dict[str, list] = {}
    services: dict[tuple, dict] = {}
    for doc in segments:
        key = (doc["name"], doc.get("origin"))
        entry = {"Name": doc["name"], "Names": [doc["name"]]}
        account = (doc.get("aws") or {}).get("account_id")
        if account:
            entry["AccountId"] = account
        if doc.get("origin"):
            entry["Type"] = doc["origin"]
        services.setdefault(key, entry)
    for node in everything:
        for key, value in (node.get("annotations") or {}).items():
            annotations.setdefault(key, [])
            typed = _annotation_value(value)
            if typed is not None and all(a["AnnotationValue"] != typed for a in annotations[key]):
                annotations[key].append({"AnnotationValue": typed})
    http = root.get("http") or {}
    request, response = http.get("request") or {}, http.get("response") or {}
    out = {
        "Id": trace_id,
        "Revision": revision,
        "StartTime": min(starts),
        "Duration": round(max(ends) - min(starts), 3),
        "ResponseTime": round(root.get("end_time", root["start_time"]) - root["start_time"], 3),
        "HasFault": any(n.get("fault") for n in segments),
        "HasError": any(n.get("error") for n in segments),
        "HasThrottle": any(n.get("throttle") for n in segments),
        "IsPartial": any(n.get("in_progress") for n in everything),
        "Annotations": annotations,
        "ServiceIds": list(services.values()),
        "Users": [{"UserName": u} for u in {d["user"] for d in segments if d.get("user")}],
        "ResourceARNs": [
            {"ARN": a} for a in {(d.get("aws") or {}).get("function_arn") for d in segments} if a
        ],
    }
    entry = {"Name": root["name"], "Names": [root["name"]]}
    if root.get("origin"):
        entry["Type"] = root["origin"]
    out["EntryPoint"] = entry
    if request or response:
        out["Http"] = {
            k: v
            for k, v in (
                ("HttpURL", request.get("url")),
                ("HttpStatus", response.get("status")),
                ("HttpMethod", request.get("method")),
                ("UserAgent", request.get("user_agent")),
                ("ClientIp", request.get("client_ip")),
            )
            if v is not None
        }
    return out


def _annotation_value(value: object) -> dict | None:
    if isinstance(value, bool):
        return {"BooleanValue": value}
    if isinstance(value, int | float):
        return {"NumberValue": value}
    if isinstance(value, str):
        return {"StringValue": value}
    return None
