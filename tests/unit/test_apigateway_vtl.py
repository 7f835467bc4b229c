"""API Gateway's Velocity variables on airspeed (``services/apigateway/vtl.py``): what
templates print, JSONPath, ``$util``, overrides, and templates refused at parse."""

from __future__ import annotations

import pytest

from sandlot.services.apigateway import vtl

BODY = '{"a": {"b": [1, 2, {"c": true}]}, "s": "x\\"y", "n": null}'
PARAMS = {"path": {"id": "7"}, "querystring": {"q": "1"}, "header": {"X-Up": "h"}}


def render(template: str, body: str = BODY, context: dict | None = None) -> str:
    return vtl.render(template, body=body, params=PARAMS, context=context or {},
                      stage_variables={"v": "s"})[0]  # fmt: skip


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$input.json('$.a.b')", '[1,2,{"c":true}]'),
        ("$input.json('$.a.b[2].c')", "true"),
        ("$input.json('$..c')", "[true]"),
        ("$input.json('$.a.b[*]')", '[1,2,{"c":true}]'),
        ("$input.json(\"$['s']\")", '"x\\"y"'),
        ("$input.path('$.a.b').size()", "3"),
        ("$input.path('$.a.b[2]')", "{c=true}"),  # a Java map's toString
        ("$input.path('$.a')", "{b=[1, 2, {c=true}]}"),
        ("#if($input.path('$.a.b[2].c'))yes#end", "yes"),
        ("$input.json('$.missing')", "null"),
        ("$input.params('id')$input.params('q')$input.params('x-up')", "71h"),
        ("$input.params().path.id", "7"),
        ('$util.escapeJavaScript("it\'s \\"q\\"")', 'it\\\'s \\"q\\"'),
        ("$util.escapeJavaScript('a/b é')", "a\\/b \\u00E9"),
        ("$util.urlEncode('a b&c')", "a+b%26c"),
        ("$util.urlDecode('a+b%26c')", "a b&c"),
        ("$util.base64Encode('hi')|$util.base64Decode('aGk=')", "aGk=|hi"),
        ("$util.parseJson('{\"k\": [1]}').k.get(0)", "1"),
        ("$stageVariables.v", "s"),
        ("#foreach($k in $input.path('$.a').keySet())$k#end", "b"),
    ],
)
def test_rendering(template: str, expected: str):
    assert render(template) == expected


def test_context_and_overrides():
    out, context = vtl.render(
        "$context.identity.sourceIp #set($context.responseOverride.status = 404)"
        "#set($context.responseOverride.header.X = 'y')",
        body="", params={}, context={"identity": {"sourceIp": "1.2.3.4"}},
        stage_variables={},
    )  # fmt: skip
    assert out.strip() == "1.2.3.4"
    assert context["responseOverride"]["status"] == 404
    assert context["responseOverride"]["header"]["X"] == "y"


@pytest.mark.parametrize(
    "template", ["#if($x) no end", "#foreach($i in $l)", "#end", "$x.__class__",
                 "#set($_x = 1)", "$input._params"],
)  # fmt: skip
def test_refused_templates(template: str):
    assert vtl.check(template) is not None


def test_runtime_errors_are_template_errors():
    with pytest.raises(vtl.TemplateError):
        render("$input.json('$.a')", body="not json")
    with pytest.raises(vtl.TemplateError):
        render("$input.json('a.b')")  # a JSONPath must start at $


def test_loops_are_bounded():
    assert render("#foreach($i in [1..1000])#end") == ""
    with pytest.raises(vtl.TemplateError, match="limit is 1000"):
        render("#foreach($i in [1..1001])#end")
    with pytest.raises(vtl.TemplateError, match="iterations"):  # nested: bounded as a whole
        render("#foreach($i in [1..1000])#foreach($j in [1..1000])#end#end")
