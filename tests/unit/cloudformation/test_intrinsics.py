"""The intrinsic functions as a pure engine: tables of (value, expected)."""

from __future__ import annotations

import pytest

from sandlot.services.cloudformation.intrinsics import (
    IntrinsicError,
    Scope,
    evaluate_conditions,
    references,
    resolve,
)


def scope() -> Scope:
    values = {"Bucket": {"Ref": "b-1", "Arn": "arn:aws:s3:::b-1", "DomainName": "b-1.s3"}}
    return Scope(
        parameters={"Env": "prod", "Subnets": ["s-1", "s-2"], "AWS::Region": "eu-west-1",
                    "AWS::AccountId": "123456789012", "AWS::StackName": "app", "Count": "3"},
        mappings={"Sizes": {"prod": {"Memory": 256}, "dev": {"Memory": 128}}},
        conditions={"IsProd": True, "IsDev": False},
        resources=frozenset(values),
        ref=lambda name: values[name]["Ref"],
        get_att=lambda name, attribute: values[name][attribute],
        import_value=lambda name: {"shared-vpc": "vpc-1"}[name],
        region="eu-west-1",
    )  # fmt: skip


CASES = [
    ({"Ref": "Env"}, "prod"),
    ({"Ref": "Bucket"}, "b-1"),
    ({"Ref": "AWS::Region"}, "eu-west-1"),
    ({"Fn::GetAtt": ["Bucket", "Arn"]}, "arn:aws:s3:::b-1"),
    ({"Fn::GetAtt": "Bucket.DomainName"}, "b-1.s3"),
    ({"Fn::Join": ["-", ["a", {"Ref": "Env"}, 3]]}, "a-prod-3"),
    ({"Fn::Join": [",", {"Ref": "Subnets"}]}, "s-1,s-2"),
    ({"Fn::Split": [",", "a,b,,c"]}, ["a", "b", "", "c"]),
    ({"Fn::Select": [1, {"Ref": "Subnets"}]}, "s-2"),
    ({"Fn::Select": ["0", ["x", "y"]]}, "x"),
    ({"Fn::Sub": "${AWS::StackName}-${Env}-${Bucket}"}, "app-prod-b-1"),
    ({"Fn::Sub": "${Bucket.Arn}/*"}, "arn:aws:s3:::b-1/*"),
    ({"Fn::Sub": "${!Literal}-${Env}"}, "${Literal}-prod"),
    ({"Fn::Sub": ["${A}-${Env}", {"A": {"Ref": "Bucket"}}]}, "b-1-prod"),
    ({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]}, 256),
    ({"Fn::FindInMap": ["Sizes", "test", "Memory", {"DefaultValue": 64}]}, 64),
    ({"Fn::Base64": "hi"}, "aGk="),
    ({"Fn::GetAZs": ""}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ({"Fn::GetAZs": {"Ref": "AWS::Region"}}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ({"Fn::ImportValue": "shared-vpc"}, "vpc-1"),
    ({"Fn::Cidr": ["10.0.0.0/16", 3, 8]}, ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]),
    ({"Fn::Cidr": ["192.168.0.0/24", 2, 5]}, ["192.168.0.0/27", "192.168.0.32/27"]),
    ({"Fn::If": ["IsProd", "big", "small"]}, "big"),
    ({"Fn::If": ["IsDev", "big", {"Ref": "AWS::NoValue"}]}, None),
    ({"A": {"Fn::If": ["IsDev", 1, {"Ref": "AWS::NoValue"}]}, "B": 2}, {"B": 2}),
    ([1, {"Ref": "AWS::NoValue"}, 3], [1, 3]),
    ({"Fn::Equals": [{"Ref": "Env"}, "prod"]}, True),
    ({"Fn::Equals": [1, "1"]}, True),
    ({"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": ["a", "a"]}]}, True),
    ({"Fn::Or": [{"Condition": "IsDev"}, {"Fn::Equals": ["a", "b"]}]}, False),
    ({"Fn::Not": [{"Condition": "IsDev"}]}, True),
    ({"Fn::Length": {"Ref": "Subnets"}}, 2),
    ({"Fn::ToJsonString": {"a": [1, {"Ref": "Env"}]}}, '{"a":[1,"prod"]}'),
    ({"Nested": [{"Fn::Sub": "x-${Env}"}]}, {"Nested": ["x-prod"]}),
]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_resolves(value, expected) -> None:
    result = resolve(value, scope())
    assert (None if repr(result) == "NO_VALUE" else result) == expected


ERRORS = [
    ({"Ref": "Nope"}, "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"),
    ({"Fn::GetAtt": ["Nope", "Arn"]}, "Template error: instance of Fn::GetAtt references undefined resource Nope"),
    ({"Fn::Join": ["-"]}, "Template error: every Fn::Join object requires two parameters"),
    ({"Fn::Select": [5, ["a"]]}, "Template error: Fn::Select cannot select nonexistent value at index 5"),
    ({"Fn::FindInMap": ["Sizes", "qa", "Memory"]}, "Template error: Unable to get mapping for Sizes::qa::Memory"),
    ({"Fn::If": ["Unknown", 1, 2]}, "Template error: unresolved condition dependency Unknown in Fn::If"),
    ({"Fn::Sub": 5}, "Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments"),
    ({"Fn::Cidr": ["10.0.0.0/24", 300, 8]}, "Template error: every Fn::Cidr object requires three parameters"),
]  # fmt: skip


@pytest.mark.parametrize(("value", "message"), ERRORS)
def test_errors(value, message) -> None:
    with pytest.raises(IntrinsicError) as raised:
        resolve(value, scope())
    assert str(raised.value).startswith(message)


def test_conditions_refer_to_each_other_and_parameters() -> None:
    definitions = {
        "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        "ProdInEu": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}]},
        "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
    }  # fmt: skip
    assert evaluate_conditions(definitions, scope()) == {
        "IsProd": True,
        "ProdInEu": True,
        "NotProd": False,
    }
    with pytest.raises(IntrinsicError, match="Circular dependency between conditions"):
        evaluate_conditions({"A": {"Fn::Not": [{"Condition": "A"}]}}, scope())


REFERENCES = [
    ({"Ref": "A"}, {"A"}),
    ({"Fn::GetAtt": "B.Arn"}, {"B"}),
    ({"Fn::Sub": "${C}-${D.Arn}-${!E}-${AWS::Region}"}, {"C", "D", "AWS::Region"}),
    ({"Fn::Sub": ["${X}-${F}", {"X": {"Ref": "G"}}]}, {"F", "G"}),
    ({"k": [{"Fn::Join": ["", [{"Ref": "H"}]]}]}, {"H"}),
]


@pytest.mark.parametrize(("value", "expected"), REFERENCES)
def test_references(value, expected) -> None:
    assert references(value) == expected
