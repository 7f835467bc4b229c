"""The one exception type that carries an AWS error back to the client."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An AWS error: ``code`` as AWS names it, an HTTP ``status`` and a message.

    ``fields`` are extra members of the error (keyword arguments): those the modelled
    error shape defines are written where the model puts them (e.g. ``Reason`` of
    ``TooManyRequestsException``, in a header or the body); scalar fields the model does
    not define are written too, as child elements of the XML ``<Error>`` (S3's
    ``BucketName`` for ``NoSuchBucket``, ``Key`` for ``NoSuchKey``, ``Method`` and
    ``ResourceType`` for ``MethodNotAllowed``, in the order given) or as extra keys of a
    JSON error (S3's error documents carry exactly the members AWS sends per code:
    no ``Resource``, which AWS no longer sends).
    ``sender_fault`` selects ``Sender``/``Receiver`` in the query protocol's error type.
    """

    def __init__(
        self,
        code: str,
        message: str = "",
        status: int = 400,
        *,
        sender_fault: bool = True,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault
        self.headers = headers or {}
        self.fields = fields

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message!r}, status={self.status})"


def not_implemented(service: str, operation: str) -> ServiceError:
    """The 501 answer for a modelled operation sandlot does not implement yet."""
    return ServiceError(
        "NotImplemented",
        f"The operation {operation} of service {service} is not implemented by sandlot yet.",
        501,
        sender_fault=False,
    )
