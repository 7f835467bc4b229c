"""AWS::LanguageExtensions' Fn::ForEach, expanded before anything else reads the template."""

from __future__ import annotations

import pytest

from sandlot.services.cloudformation.transform import TransformFailed, expand_language_extensions


def test_for_each_in_resources_and_outputs() -> None:
    template = {
        "Parameters": {"Names": {"Type": "CommaDelimitedList"}},
        "Resources": {
            "Fn::ForEach::Queues": ["Name", {"Ref": "Names"}, {
                "Queue${Name}": {"Type": "AWS::SQS::Queue",
                                 "Properties": {"QueueName": {"Fn::Sub": "app-${Name}"}, "Tag": {"Ref": "Name"}}},
            }],
            "Other": {"Type": "AWS::SQS::Queue"},
        },
        "Outputs": {
            "Fn::ForEach::Urls": ["Id", ["a-1", "b"], {"Url&{Id}": {"Value": {"Ref": "Queue${Id}"}}}],
        },
    }  # fmt: skip
    expanded = expand_language_extensions(template, {"Names": "x, y"})
    assert expanded["Resources"] == {
        "Queuex": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "app-x"}, "Tag": "x"}},
        "Queuey": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "app-y"}, "Tag": "y"}},
        "Other": {"Type": "AWS::SQS::Queue"},
    }  # fmt: skip
    assert expanded["Outputs"] == {
        "Urla1": {"Value": {"Ref": "Queuea-1"}},
        "Urlb": {"Value": {"Ref": "Queueb"}},
    }


@pytest.mark.parametrize(
    "loop",
    [["Id", "not-a-list", {"R${Id}": {}}], ["Id", ["a"]], ["Id", ["a", "a"], {"R${Id}": {}}]],
)
def test_bad_loops(loop) -> None:
    with pytest.raises(TransformFailed, match="AWS::LanguageExtensions failed with"):
        expand_language_extensions({"Resources": {"Fn::ForEach::L": loop}}, {})
