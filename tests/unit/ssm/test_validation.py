"""Parameter Store's validation table: names, labels, values, tiers, data types and
allowed patterns, each with AWS's error code."""

from __future__ import annotations

import pytest

from sandlot.protocol import ServiceError
from sandlot.services.ssm.base import check_characters, check_name, label_problem
from sandlot.services.ssm.parameters import check_pattern, check_value, choose_tier

NAMES = [
    ("plain", None),
    ("/app/db/url", None),
    ("/a.b-c_d/E9", None),
    ("/" + "/".join(["l"] * 15), None),  # 15 levels: the maximum
    ("/" + "/".join(["l"] * 16), "HierarchyLevelLimitExceededException"),
    ("app/db", "ValidationException"),  # a path must be fully qualified
    ("/app/db url", "ValidationException"),
    ("/app/a@b", "ValidationException"),
    ("/app//b", "ValidationException"),
    ("aws-thing", "ValidationException"),
    ("/AWS/x", "ValidationException"),
    ("SsmConfig", "ValidationException"),
    ("/ssm/x", "ValidationException"),
]


@pytest.mark.parametrize(("name", "code"), NAMES)
def test_parameter_names(name: str, code: str | None) -> None:
    if code is None:
        check_name(name)
        return
    with pytest.raises(ServiceError) as caught:
        check_name(name)
    assert caught.value.code == code


def test_reads_accept_the_public_aws_namespace() -> None:
    check_characters("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")
    with pytest.raises(ServiceError):
        check_characters("app/db")


@pytest.mark.parametrize(
    ("label", "bad"),
    [("prod", False), ("v1.2-rc_3", False), ("1st", True), ("awsLabel", True),
     ("SSM", True), ("has space", True), ("x" * 100, False), ("x" * 101, True)],
)  # fmt: skip
def test_labels(label: str, bad: bool) -> None:
    assert label_problem(label) is bad


@pytest.mark.parametrize(
    ("pattern", "value", "code"),
    [(None, "x", None), ("^[0-9]+$", "123", None), ("^[0-9]+$", "12a", "ParameterPatternMismatchException"),
     ("[0-9]", "1", None), ("[0-9]", "12", "ParameterPatternMismatchException"),
     ("(", "x", "InvalidAllowedPatternException")],
)  # fmt: skip
def test_allowed_patterns(pattern, value, code) -> None:
    if code is None:
        check_pattern(pattern, value)
        return
    with pytest.raises(ServiceError) as caught:
        check_pattern(pattern, value)
    assert caught.value.code == code


def _tier(asked, value, current_tier=None):
    current = {"tier": current_tier} if current_tier else None
    return choose_tier(asked, value, current)


def test_tiers() -> None:
    assert _tier(None, "x") == "Standard"
    assert _tier("Advanced", "x") == "Advanced"
    assert _tier("Intelligent-Tiering", "x" * 4096) == "Standard"
    assert _tier("Intelligent-Tiering", "x" * 4097) == "Advanced"
    assert _tier("Intelligent-Tiering", "x", "Advanced") == "Advanced"
    assert _tier(None, "x", "Advanced") == "Advanced"  # an update keeps the tier
    with pytest.raises(ServiceError) as caught:
        _tier("Standard", "x", "Advanced")
    assert "downgrade" in caught.value.message


@pytest.mark.parametrize(
    ("value", "kind", "data_type", "ok"),
    [("x" * 8192, "String", "text", True), ("x" * 8193, "String", "text", False),
     ("ami-12345678", "String", "aws:ec2:image", True),
     ("ami-0123456789abcdef0", "String", "aws:ec2:image", True),
     ("ami-123", "String", "aws:ec2:image", False),
     ("ami-12345678", "SecureString", "aws:ec2:image", False),
     ("x", "String", "Text", False), ("x", "String", "aws:ssm:integration", True)],
)  # fmt: skip
def test_values_and_data_types(value, kind, data_type, ok) -> None:
    if ok:
        check_value(value, kind, data_type)
        return
    with pytest.raises(ServiceError) as caught:
        check_value(value, kind, data_type)
    assert caught.value.code == "ValidationException"
