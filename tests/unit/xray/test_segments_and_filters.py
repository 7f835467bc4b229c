"""X-Ray's segment validation, trace assembly and filter expressions, without a server."""

from __future__ import annotations

import json

import pytest

from sandlot.protocol import ServiceError
from sandlot.services.xray import segments
from sandlot.services.xray.filters import compile_filter

TRACE = "1-5759e988-bd862e3fe1be46a994272793"


def _doc(**fields) -> str:
    base = {"trace_id": TRACE, "id": "70de5b6f19ff9a0a", "name": "svc", "start_time": 1.0,
            "end_time": 2.0}  # fmt: skip
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"id": None}, "MissingId"),
        ({"id": "70DE5B6F19FF9A0A"}, "InvalidId"),
        ({"trace_id": None}, "MissingTraceId"),
        ({"trace_id": "1-5759e988-bd862e3fe1be46a99427279"}, "InvalidTraceId"),
        ({"name": None}, "MissingName"),
        ({"name": "x" * 201}, "InvalidName"),
        ({"start_time": None}, "MissingStartTime"),
        ({"start_time": "1"}, "InvalidStartTime"),
        ({"end_time": None}, "MissingEndTime"),
        ({"end_time": 0.5}, "InvalidEndTime"),
        ({"type": "subsegment"}, "MissingParentId"),
        ({"subsegments": [{"id": "0000000000000001", "name": "s", "start_time": 1.0}]},
         "MissingEndTime"),
    ],
)  # fmt: skip
def test_invalid_documents(fields, code) -> None:
    with pytest.raises(segments.Invalid) as excinfo:
        segments.parse(_doc(**fields))
    assert excinfo.value.code == code


def test_valid_documents() -> None:
    seg = segments.parse(_doc(end_time=None, in_progress=True))
    assert (seg.trace_id, seg.kind, seg.trace_time) == (TRACE, "segment", 0x5759E988)
    with pytest.raises(segments.Invalid) as excinfo:
        segments.parse("[]")
    assert excinfo.value.code == "MissingId"
    with pytest.raises(segments.Invalid) as excinfo:
        segments.parse(_doc(annotations={"big": "x" * 70_000}))
    assert excinfo.value.code == "SegmentTooLarge"


def test_assembly_nests_separate_subsegments() -> None:
    rows = [
        {"id": "a" * 16, "document": _doc(id="a" * 16, subsegments=[
            {"id": "b" * 16, "name": "inner", "start_time": 1.0, "end_time": 1.5}])},
        {"id": "c" * 16, "document": _doc(id="c" * 16, type="subsegment", parent_id="d" * 16,
                                           name="deeper")},
        {"id": "d" * 16, "document": _doc(id="d" * 16, type="subsegment", parent_id="b" * 16,
                                           name="late")},
        {"id": "e" * 16, "document": _doc(id="e" * 16, type="subsegment", parent_id="f" * 16,
                                           name="orphan")},
    ]  # fmt: skip
    docs = segments.assemble(rows)
    assert [d["id"] for d in docs] == ["a" * 16, "e" * 16]
    inner = docs[0]["subsegments"][0]
    assert [s["name"] for s in inner["subsegments"]] == ["late"]
    assert [s["name"] for s in inner["subsegments"][0]["subsegments"]] == ["deeper"]


SUMMARY = {
    "HasFault": False, "HasError": True, "HasThrottle": False, "IsPartial": False,
    "ResponseTime": 1.5, "Duration": 2.0, "Http": {"HttpStatus": 404, "HttpURL": "http://h/p"},
    "Users": [{"UserName": "ann"}], "ServiceIds": [{"Name": "api"}],
    "Annotations": {"n": [{"AnnotationValue": {"NumberValue": 3}}],
                    "ok": [{"AnnotationValue": {"BooleanValue": True}}]},
}  # fmt: skip


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        ("error", True), ("fault", False), ("ok", False), ("!ok", True),
        ("error = true", True), ("error = false", False),
        ("responsetime > 1", True), ("responsetime >= 1.5 AND duration < 2", False),
        ("http.status = 404", True), ("http.status != 404 || fault", False),
        ('http.url BEGINSWITH "http://h"', True), ('http.url ENDSWITH "x"', False),
        ('user = "ann"', True), ('service("api")', True), ('service("other")', False),
        ("service()", True), ("annotation.n > 2", True), ("annotation[n] = 3", True),
        ("annotation.ok = true", True), ('annotation.n = "3"', False),
        ("(fault OR error) AND NOT_A_KEY", None), ("responsetime >", None),
        ('service("a"', None), ("error AND", None), ("@", None),
    ],
)  # fmt: skip
def test_filter_expressions(expression, matches) -> None:
    if matches is None:
        with pytest.raises(ServiceError) as excinfo:
            compile_filter(expression)
        assert excinfo.value.code == "InvalidRequestException"
    else:
        assert compile_filter(expression)(SUMMARY) is matches
