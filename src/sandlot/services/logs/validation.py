"""CloudWatch Logs answers broken model constraints as ``InvalidParameterException``."""

from __future__ import annotations

from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.constraints import summary as validation_message


def invalid_parameter(message: str) -> ServiceError:
    return ServiceError("InvalidParameterException", message)


# Checks lengths, ranges, patterns and enums from the model before an operation runs.
validated = constraints.validated(invalid_parameter)

__all__ = ["invalid_parameter", "validated", "validation_message"]
