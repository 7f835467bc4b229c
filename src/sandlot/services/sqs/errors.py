"""SQS's errors, with AWS's codes and messages (the serializer adds the legacy
``AWS.SimpleQueueService.*`` code of each in ``x-amzn-query-error``)."""

from __future__ import annotations

from sandlot.protocol import ServiceError


def queue_does_not_exist() -> ServiceError:
    return ServiceError("QueueDoesNotExist", "The specified queue does not exist.")


def invalid_parameter(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValue", message)


def invalid_value(value: object, parameter: str, reason: str) -> ServiceError:
    return invalid_parameter(
        f"Value {value} for parameter {parameter} is invalid. Reason: {reason}"
    )


def missing_parameter(name: str) -> ServiceError:
    return ServiceError("MissingParameter", f"The request must contain the parameter {name}.")


def invalid_attribute_name(name: str) -> ServiceError:
    return ServiceError("InvalidAttributeName", f"Unknown Attribute {name}.")


def invalid_attribute_value(name: str, reason: str = "") -> ServiceError:
    message = f"Invalid value for the parameter {name}."
    return ServiceError(
        "InvalidAttributeValue", f"{message} Reason: {reason}" if reason else message
    )


def receipt_handle_invalid(handle: str) -> ServiceError:
    return ServiceError(
        "ReceiptHandleIsInvalid",
        f'The input receipt handle "{handle}" is not a valid receipt handle.',
    )


def unsupported(message: str) -> ServiceError:
    return ServiceError("UnsupportedOperation", message)
