"""SNS's errors, with AWS's codes and messages."""

from __future__ import annotations

from sandlot.protocol import ServiceError


def invalid_parameter(what: str) -> ServiceError:
    """AWS's ``InvalidParameter``: its message is always "Invalid parameter: <what>"."""
    return ServiceError("InvalidParameter", f"Invalid parameter: {what}")


def invalid_value(message: str) -> ServiceError:
    """``InvalidParameterValue`` (wire code ``ParameterValueInvalid``), message attributes."""
    return ServiceError("ParameterValueInvalid", message)


def topic_not_found() -> ServiceError:
    return ServiceError("NotFound", "Topic does not exist", 404)


def subscription_not_found() -> ServiceError:
    return ServiceError("NotFound", "Subscription does not exist", 404)


def resource_not_found() -> ServiceError:
    return ServiceError("ResourceNotFound", "Resource does not exist", 404)


def authorization_error(message: str) -> ServiceError:
    return ServiceError("AuthorizationError", message, 403)
