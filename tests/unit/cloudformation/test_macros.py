"""Fn::Transform expansion order and scope (macros.expand_snippets), with a recording
runner in place of the macros' Lambda functions."""

from __future__ import annotations

import asyncio

import pytest

from sandlot.services.cloudformation import macros


def test_deepest_first_then_serially_in_list_order() -> None:
    calls: list[tuple[str, object, dict]] = []

    async def run_one(name: str, fragment, params: dict):
        calls.append((name, fragment, params))
        return {**fragment, name: True}

    template = {"Resources": {"B": {"Type": "T", "Properties": {
        "Keep": 1,
        "Inner": {"X": 2, "Fn::Transform": {"Name": "Deep", "Parameters": {"p": "v"}}},
        "Fn::Transform": [{"Name": "First"}, {"Name": "Second"}]}}}}  # fmt: skip
    assert macros.snippet_names(template) == ["Deep", "First", "Second"]
    assert macros.uses_snippets(template) and not macros.uses_snippets({"a": ["Fn::Transform"]})
    out = asyncio.run(macros.expand_snippets(template, run_one))
    assert [c[0] for c in calls] == ["Deep", "First", "Second"]
    assert calls[0][1:] == ({"X": 2}, {"p": "v"})
    # The outer macro sees its siblings with the inner one already applied.
    assert calls[1][1] == {"Keep": 1, "Inner": {"X": 2, "Deep": True}}
    assert out["Resources"]["B"]["Properties"] == {
        "Keep": 1, "Inner": {"X": 2, "Deep": True}, "First": True, "Second": True,
    }  # fmt: skip


def test_a_call_without_a_name_is_a_template_error() -> None:
    with pytest.raises(macros.MacroFailed, match="requires a Name"):
        macros.snippet_names({"P": {"Fn::Transform": {"Parameters": {}}}})
