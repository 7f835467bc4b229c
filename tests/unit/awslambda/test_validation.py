"""Lambda's validation in AWS's words: the model's constraints and Lambda's own rules."""

from __future__ import annotations

import pytest

from sandlot.protocol import ServiceError
from sandlot.protocol.constraints import violations
from sandlot.protocol.models import service_model
from sandlot.services.awslambda import validation as v


def check_model_constraints(operation: str, params: dict) -> None:
    """What the ``validated`` decorator does before every Lambda operation."""
    errors = violations(service_model("lambda").operation_model(operation).input_shape, params)
    if errors:
        raise v.validation_errors(errors)


def error_of(call, *args) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call(*args)
    return caught.value


def test_model_range_and_pattern_messages():
    error = error_of(
        check_model_constraints,
        "CreateFunction",
        {"FunctionName": "bad name!", "MemorySize": 64, "Role": "r", "Code": {}},
    )
    assert error.code == "ValidationException" and error.status == 400
    assert error.message.startswith("3 validation errors detected: ")
    assert (
        "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value "
        "greater than or equal to 128" in error.message
    )
    assert (
        "Value 'bad name!' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern"
        in error.message
    )
    assert "at 'role'" in error.message


def test_nested_members_enums_and_map_keys():
    error = error_of(
        check_model_constraints,
        "UpdateFunctionConfiguration",
        {
            "FunctionName": "f",
            "Runtime": "cobol85",
            "EphemeralStorage": {"Size": 100},
            "Environment": {"Variables": {"1BAD": "x"}},
        },
    )
    assert (
        "at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: ["
        in error.message
    )
    assert "at 'ephemeralStorage.size'" in error.message
    assert (
        "at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
        in error.message
    )


def test_valid_input_passes():
    check_model_constraints(
        "CreateFunction",
        {
            "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:ok-name",
            "Role": "arn:aws:iam::123456789012:role/service-role/r",
            "Code": {"ZipFile": b"..."},
            "MemorySize": 10240,
            "Layers": ["arn:aws:lambda:us-east-1:123456789012:layer:l:1"],
            "Architectures": ["arm64"],
        },
    )


def test_memory_and_timeout_limits():
    error = error_of(v.check_memory, 10241)
    assert error.code == "ValidationException"
    assert error.message == (
        "'MemorySize' value failed to satisfy constraint: Member must have value less than "
        "or equal to 10240"
    )
    v.check_memory(10240)
    error = error_of(v.check_timeout, 901)
    assert error.message == (
        "1 validation error detected: Value '901' at 'timeout' failed to satisfy "
        "constraint: Member must have value less than or equal to 900"
    )
    v.check_timeout(900)


def test_environment_reserved_keys_and_size():
    error = error_of(v.check_environment, {"AWS_REGION": "x", "OK": "y"})
    assert error.code == "InvalidParameterValueException"
    assert error.message.endswith("Reserved keys used in this request: AWS_REGION")
    error = error_of(v.check_environment, {"BIG": "x" * 4096})
    assert 'exceeded the 4KB limit. String measured: {"BIG":"xxx' in error.message
    v.check_environment({"BIG": "x" * 4000})


def test_lifecycle_rows_aws_rescheduled():
    from datetime import date

    from sandlot.services.awslambda import lifecycle

    # AWS extended the Amazon Linux 2 runtimes past AL2's end of life (2026-06-30).
    for runtime in ("python3.11", "java17", "java11", "java8.al2"):
        assert not lifecycle.blocked(runtime, "create", date(2027, 7, 30))
        assert lifecycle.blocked(runtime, "create", date(2027, 7, 31))
        assert not lifecycle.blocked(runtime, "update", date(2027, 8, 30))
        assert lifecycle.blocked(runtime, "update", date(2027, 8, 31))
    # python3.10 follows Python 3.10's own end of life instead.
    assert lifecycle.CALENDAR["python3.10"] == lifecycle.Lifecycle(
        date(2026, 10, 31), date(2026, 11, 30), date(2027, 1, 15)
    )
    # dotnet8: deprecated 2026-11-10, yet creatable until 2027-02-01.
    assert lifecycle.CALENDAR["dotnet8"].deprecation == date(2026, 11, 10)
    assert not lifecycle.blocked("dotnet8", "create", date(2026, 12, 4))
    assert lifecycle.blocked("dotnet8", "create", date(2027, 2, 1))
    assert not lifecycle.blocked("dotnet8", "update", date(2027, 3, 2))
    assert lifecycle.blocked("dotnet8", "update", date(2027, 3, 3))
    # ruby4.0 has published dates now.
    assert lifecycle.CALENDAR["ruby4.0"] == lifecycle.Lifecycle(
        date(2029, 3, 31), date(2029, 4, 30), date(2029, 5, 31)
    )
    assert not lifecycle.blocked("ruby4.0", "update", date(2029, 5, 30))
    assert lifecycle.blocked("ruby4.0", "update", date(2029, 5, 31))
    # The successor AWS's refusal recommends is itself supported.
    assert "the new runtime (dotnet10)" in lifecycle.refusal_message("dotnet6")
    assert not lifecycle.blocked("dotnet10", "create", date(2028, 12, 13))


def test_blocked_runtimes():
    from datetime import date

    today = date(2026, 1, 15)
    error = error_of(v.check_runtime, "python3.7", "create", today)
    assert error.code == "InvalidParameterValueException"
    assert error.message.startswith("The runtime parameter of python3.7 is no longer supported")
    v.check_runtime("python3.12", "create", today)
    v.check_runtime("provided.al2", "create", today)
    v.check_runtime("java21", "create", today)  # AWS offers it: accepted
    v.check_runtime("python3.7")  # no action: only the enum is checked
    error = error_of(v.check_runtime, "java8", "update", today)
    assert error.message.endswith(
        "We recommend you use a supported runtime while creating or updating functions."
    )
    error = error_of(v.check_runtime, "provided", "create", today)
    assert "the new runtime (provided.al2023)" in error.message


def test_block_dates_are_awss_per_action():
    from datetime import date

    from sandlot.services.awslambda import lifecycle

    # nodejs18.x: create blocked from 2026-02-03, update from 2026-03-09 (inclusive).
    assert not lifecycle.blocked("nodejs18.x", "create", date(2026, 2, 2))
    assert lifecycle.blocked("nodejs18.x", "create", date(2026, 2, 3))
    assert not lifecycle.blocked("nodejs18.x", "update", date(2026, 3, 8))
    assert lifecycle.blocked("nodejs18.x", "update", date(2026, 3, 9))
    assert not lifecycle.blocked("nodejs99.x", "create", date(2040, 1, 1))  # no row: never
    assert lifecycle.today("2026-02-03") == date(2026, 2, 3)
    # Every runtime in the calendar is one AWS's model knows.
    assert set(lifecycle.CALENDAR) <= set(v.offered_runtimes())


def test_runtimes_aws_does_not_offer():
    error = error_of(v.check_runtime, "cobol85")
    assert error.code == "InvalidParameterValueException"
    assert error.message.startswith(
        "Value cobol85 at 'runtime' failed to satisfy constraint: Member must satisfy enum "
        "value set: [nodejs, nodejs4.3, "
    )
    assert error.message.endswith(" or be a valid ARN")


def test_routing_rules():
    v.check_routing("1", {"2": 0.3})
    v.check_routing("$LATEST", {})
    assert (
        "cannot be greater than 1" in error_of(v.check_routing, "1", {"2": 0.1, "3": 0.1}).message
    )
    assert "$LATEST is not supported" in error_of(v.check_routing, "$LATEST", {"2": 0.1}).message
    assert "already included" in error_of(v.check_routing, "2", {"2": 0.5}).message


def test_layer_count_and_tags():
    v.check_layer_count(["a"] * 5)
    assert (
        error_of(v.check_layer_count, ["a"] * 6).message == "Cannot reference more than 5 layers."
    )
    assert error_of(v.check_tags, {f"k{i}": "v" for i in range(51)}).code == (
        "InvalidParameterValueException"
    )
    error_of(v.check_tags, {"aws:reserved": "v"})
