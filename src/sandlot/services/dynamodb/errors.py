"""DynamoDB's errors, with AWS's codes and messages."""

from __future__ import annotations

from sandlot.protocol import ServiceError


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def invalid_parameters(detail: str) -> ServiceError:
    """AWS's "One or more parameter values were invalid: ..." family."""
    return validation(f"One or more parameter values were invalid: {detail}")


def not_found(message: str = "Requested resource not found") -> ServiceError:
    return ServiceError("ResourceNotFoundException", message)


def table_not_found(name: str) -> ServiceError:
    return not_found(f"Requested resource not found: Table: {name} not found")


def in_use(message: str) -> ServiceError:
    return ServiceError("ResourceInUseException", message)


def condition_failed(item: dict | None = None) -> ServiceError:
    """ConditionalCheckFailedException; ``item`` is the old item when the request asked
    for it with ReturnValuesOnConditionCheckFailure=ALL_OLD."""
    fields = {"Item": item} if item is not None else {}
    return ServiceError(
        "ConditionalCheckFailedException", "The conditional request failed", **fields
    )


def unsupported(what: str) -> ServiceError:
    """A parameter or operation sandlot does not implement: refused by name, never
    silently ignored."""
    return validation(f"{what} is not supported by sandlot's DynamoDB yet")
