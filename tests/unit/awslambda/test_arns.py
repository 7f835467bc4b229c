"""Function and layer names and ARNs, as AWS formats and accepts them."""

from __future__ import annotations

import pytest

from sandlot.services.awslambda.arns import (
    FunctionRef,
    function_arn,
    layer_arn,
    parse_function_name,
    parse_layer_name,
    parse_layer_version_arn,
    timestamp,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my-fn", FunctionRef("my-fn")),
        ("my-fn:live", FunctionRef("my-fn", "live")),
        ("my-fn:$LATEST", FunctionRef("my-fn", "$LATEST")),
        ("123456789012:function:my-fn", FunctionRef("my-fn", None, "123456789012")),
        ("123456789012:function:my-fn:3", FunctionRef("my-fn", "3", "123456789012")),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:my_fn",
            FunctionRef("my_fn", None, "123456789012", "eu-west-1"),
        ),
        (
            "arn:aws:lambda:us-gov-west-1:123456789012:function:f:7",
            FunctionRef("f", "7", "123456789012", "us-gov-west-1"),
        ),
    ],
)
def test_function_names(value, expected):
    assert parse_function_name(value) == expected


@pytest.mark.parametrize(
    "value", ["", "bad name", "a:b:c", "arn:aws:lambda:us-east-1:12:function:f", "f:"]
)
def test_not_function_names(value):
    assert parse_function_name(value) is None


def test_arns():
    assert function_arn("us-east-1", "000000000000", "f") == (
        "arn:aws:lambda:us-east-1:000000000000:function:f"
    )
    assert function_arn("us-east-1", "000000000000", "f", "$LATEST").endswith("function:f:$LATEST")
    assert layer_arn("eu-west-1", "111111111111", "deps", 3) == (
        "arn:aws:lambda:eu-west-1:111111111111:layer:deps:3"
    )
    ref = parse_layer_version_arn("arn:aws:lambda:eu-west-1:111111111111:layer:deps:3")
    assert (ref.name, ref.version, ref.account, ref.region) == (
        "deps",
        3,
        "111111111111",
        "eu-west-1",
    )
    assert parse_layer_version_arn("arn:aws:lambda:eu-west-1:111111111111:layer:deps") is None
    assert parse_layer_name("deps").name == "deps"
    assert parse_layer_name("arn:aws:lambda:eu-west-1:111111111111:layer:deps").account == (
        "111111111111"
    )


def test_timestamp_format():
    assert timestamp(0) == "1970-01-01T00:00:00.000+0000"
    assert timestamp(1704067200.5) == "2024-01-01T00:00:00.500+0000"
