"""Reading templates (JSON, YAML short forms), the graph's errors, parameters."""

from __future__ import annotations

import pytest

from sandlot.services.cloudformation import graph, parameters, schemas
from sandlot.services.cloudformation.template import TemplateError, check_sections, parse

YAML = """
AWSTemplateFormatVersion: 2010-09-09
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      A: !Ref P
      B: !GetAtt R.Arn
      C: !Sub "${AWS::StackName}-x"
      D: !Join [",", [a, b]]
      E: !If [Cond, !Base64 x, !Ref "AWS::NoValue"]
      F: !Select [0, !GetAZs ""]
      G: !GetAtt [R, Arn]
"""


def test_yaml_short_forms_become_long_forms() -> None:
    template = parse(YAML)
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"  # not a date
    properties = template["Resources"]["Q"]["Properties"]
    assert properties["A"] == {"Ref": "P"}
    assert properties["B"] == {"Fn::GetAtt": ["R", "Arn"]}
    assert properties["C"] == {"Fn::Sub": "${AWS::StackName}-x"}
    assert properties["D"] == {"Fn::Join": [",", ["a", "b"]]}
    assert properties["E"] == {"Fn::If": ["Cond", {"Fn::Base64": "x"}, {"Ref": "AWS::NoValue"}]}
    assert properties["F"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    assert properties["G"] == {"Fn::GetAtt": ["R", "Arn"]}


FORMAT_ERRORS = [
    ('{"Resources": ', "Template format error: JSON not well-formed."),
    ("Resources: [a\n", "Template format error: YAML not well-formed."),
    ("Foo: 1\nResources: {A: {Type: AWS::SQS::Queue}}", "Template format error: Invalid template property or properties [Foo]"),
    ("Description: x", "Template format error: At least one Resources member must be defined."),
    ("Resources: {A: {Properties: {}}}", "Template format error: [/Resources/A] Every Resources object must contain a Type member."),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), FORMAT_ERRORS)
def test_format_errors(body, message) -> None:
    with pytest.raises(TemplateError) as raised:
        check_sections(parse(body))
    assert str(raised.value).startswith(message)


def _resources(**deps) -> dict:
    return {
        "Resources": {
            name: {"Type": "AWS::SQS::Queue", "Properties": {"X": {"Ref": d}} if d else {}}
            for name, d in deps.items()
        }
    }


def test_graph_unresolved_and_cycles() -> None:
    assert graph.dependencies(_resources(A=None, B="A")) == {"A": set(), "B": {"A"}}
    with pytest.raises(TemplateError) as raised:
        graph.dependencies(_resources(A="Missing"))
    assert str(raised.value) == (
        "Template format error: Unresolved resource dependencies [Missing] in the Resources "
        "block of the template"
    )
    with pytest.raises(TemplateError) as raised:
        graph.dependencies(_resources(A="B", B="A", C=None))
    assert str(raised.value) == "Circular dependency between resources: [A, B]"
    depends = {"Resources": {"A": {"Type": "T", "DependsOn": "B"}, "B": {"Type": "T"}}}
    assert graph.dependencies(depends) == {"A": {"B"}, "B": set()}


DEFINITIONS = {
    "Env": {"Type": "String", "AllowedValues": ["dev", "prod"], "Default": "dev"},
    "Size": {"Type": "Number", "MinValue": 1, "MaxValue": 10},
    "Ids": {"Type": "CommaDelimitedList"},
    "Secret": {"Type": "String", "NoEcho": True, "MinLength": 3,
               "ConstraintDescription": "at least 3 characters"},
}  # fmt: skip

PARAMETER_ERRORS = [
    ([], "Parameters: [Size, Ids, Secret] must have values"),
    ([{"ParameterKey": "Nope", "ParameterValue": "1"}], "Parameters: [Nope] do not exist in the template"),
    ([{"ParameterKey": "Env", "ParameterValue": "qa"}], "Parameter 'Env' must be one of AllowedValues"),
    ([{"ParameterKey": "Size", "ParameterValue": "x"}], "Parameter 'Size' must be a number."),
    ([{"ParameterKey": "Size", "ParameterValue": "11"}], "Parameter 'Size' must be a number not greater than 10"),
    ([{"ParameterKey": "Secret", "ParameterValue": "ab"}], "Parameter 'Secret' failed to satisfy constraint: at least 3 characters"),
]  # fmt: skip


@pytest.mark.parametrize(("given", "message"), PARAMETER_ERRORS)
def test_parameter_errors(given, message) -> None:
    with pytest.raises(TemplateError) as raised:
        parameters.choose(DEFINITIONS, given)
    assert str(raised.value) == message


def test_parameters_defaults_lists_previous_and_no_echo() -> None:
    given = [
        {"ParameterKey": "Size", "ParameterValue": "5"},
        {"ParameterKey": "Ids", "ParameterValue": "a, b"},
        {"ParameterKey": "Secret", "UsePreviousValue": True},
    ]
    chosen = parameters.choose(DEFINITIONS, given, {"Secret": "hunter2"})
    assert chosen == {"Env": "dev", "Size": "5", "Ids": "a, b", "Secret": "hunter2"}
    assert parameters.typed(DEFINITIONS["Ids"], chosen["Ids"]) == ["a", "b"]
    shown = {p["ParameterKey"]: p["ParameterValue"] for p in parameters.shown(DEFINITIONS, chosen)}
    assert shown["Secret"] == "****" and shown["Env"] == "dev"


def test_resource_schemas_come_from_aws_published_data() -> None:
    assert schemas.create_only("AWS::SQS::Queue") == {"FifoQueue", "QueueName"}
    assert "Arn" in schemas.attributes("AWS::Lambda::Function")
    assert schemas.primary_identifier("AWS::IAM::Role") == ["RoleName"]
    assert schemas.schema("AWS::Nope::Nope") is None


def test_yaml_boolean_allowed_values_compare_as_text() -> None:
    """`AllowedValues: [true, false]` with `Default: false` (sam pipeline bootstrap's
    template): YAML reads booleans, CloudFormation compares "true"/"false"."""
    flag = {"Flag": {"Type": "String", "AllowedValues": [True, False], "Default": False}}
    assert parameters.choose(flag, []) == {"Flag": "false"}
    given = [{"ParameterKey": "Flag", "ParameterValue": "true"}]
    assert parameters.choose(flag, given) == {"Flag": "true"}
    with pytest.raises(TemplateError):
        parameters.choose(flag, [{"ParameterKey": "Flag", "ParameterValue": "True"}])
