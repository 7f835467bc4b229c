"""S3's errors, with the codes, statuses and messages S3 answers."""

from __future__ import annotations

from sandlot.protocol import ServiceError


def no_such_bucket(bucket: str) -> ServiceError:
    return ServiceError(
        "NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket
    )


def no_such_key(key: str, headers: dict[str, str] | None = None) -> ServiceError:
    return ServiceError(
        "NoSuchKey", "The specified key does not exist.", 404, Key=key, headers=headers
    )


def no_such_version(key: str, version_id: str) -> ServiceError:
    return ServiceError(
        "NoSuchVersion",
        "The specified version does not exist.",
        404,
        Key=key,
        VersionId=version_id,
    )


def no_such_upload(upload_id: str) -> ServiceError:
    return ServiceError(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed.",
        404,
        UploadId=upload_id,
    )


def invalid_argument(message: str, name: str | None = None, value: str | None = None):
    fields = {}
    if name is not None:
        fields = {"ArgumentName": name, "ArgumentValue": value if value is not None else ""}
    return ServiceError("InvalidArgument", message, 400, **fields)


def invalid_request(message: str) -> ServiceError:
    return ServiceError("InvalidRequest", message, 400)


def malformed_xml() -> ServiceError:
    return ServiceError(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
        400,
    )


def bad_digest_md5() -> ServiceError:
    return ServiceError(
        "BadDigest", "The Content-MD5 you specified did not match what we received.", 400
    )


def bad_digest_checksum(algorithm: str) -> ServiceError:
    return ServiceError(
        "BadDigest",
        f"The {algorithm.upper()} you specified did not match the calculated checksum.",
        400,
    )


def invalid_digest() -> ServiceError:
    return ServiceError("InvalidDigest", "The Content-MD5 you specified is not valid.", 400)


def precondition_failed(condition: str) -> ServiceError:
    return ServiceError(
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        412,
        Condition=condition,
    )


def not_modified(headers: dict[str, str]) -> ServiceError:
    return ServiceError("NotModified", "Not Modified", 304, headers=headers)


def method_not_allowed(
    headers: dict[str, str] | None = None,
    *,
    method: str | None = None,
    resource_type: str | None = None,
) -> ServiceError:
    fields = {}
    if method is not None:  # AWS names the method and what it was refused on
        fields = {"Method": method, "ResourceType": resource_type or "OBJECT"}
    return ServiceError(
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
        405,
        headers=headers,
        **fields,
    )


def key_too_long() -> ServiceError:
    return ServiceError("KeyTooLongError", "Your key is too long", 400)


def entity_too_large(size: int, limit: int) -> ServiceError:
    return ServiceError(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        400,
        ProposedSize=size,
        MaxSizeAllowed=limit,
    )
