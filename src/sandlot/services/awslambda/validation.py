"""Lambda's input validation, in AWS's words.

Two layers, as in AWS: the model's constraints (length, range, pattern, enum), checked
for every operation and reported as ``ValidationException`` ("1 validation error
detected: …"); then Lambda's own rules (memory and timeout limits, environment size and
reserved keys, runtimes, layers, alias routing), mostly ``InvalidParameterValueException``.
"""

from __future__ import annotations

import json
from datetime import date
from functools import cache

from sandlot.protocol import ServiceError
from sandlot.protocol.constraints import constraint_error, summary
from sandlot.protocol.models import service_model
from sandlot.services.awslambda import lifecycle

MEMORY_MAX = 10240
TIMEOUT_MAX = 900
ENVIRONMENT_MAX_BYTES = 4096
MAX_LAYERS = 5
MAX_TAGS = 50
ZIPPED_MAX = 52428800  # direct upload, after base64 decoding
UNZIPPED_MAX = 262144000  # function and all its layers, extracted
NO_SUCH_RESOURCE = "The resource you requested does not exist."
UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."
# What AWS quotes as the limit of the whole CreateFunction request (base64 of 50 MB).
REQUEST_MAX = 69905067

# Variables the runtime environment sets itself; AWS refuses them in Environment.
RESERVED_VARIABLES = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})  # fmt: skip


@cache
def offered_runtimes() -> tuple[str, ...]:
    """Every runtime identifier AWS knows (the model's enum, in its order)."""
    return tuple(service_model("lambda").shape_for("Runtime").enum)


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValueException", message, 400, Type="User")


def not_found(message: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", message, 404, Type="User")


def conflict(message: str) -> ServiceError:
    return ServiceError("ResourceConflictException", message, 409, Type="User")


def precondition_failed() -> ServiceError:
    return ServiceError(
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. "
        "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        412,
        Type="User",
    )


def validation_exception(message: str) -> ServiceError:
    return ServiceError("ValidationException", message, 400)


def validation_errors(errors: list[str]) -> ServiceError:
    return validation_exception(summary(errors))


# -- Lambda's own rules ----------------------------------------------------------------


def check_memory(memory: int | None) -> None:
    if memory is not None and memory > MEMORY_MAX:
        raise ServiceError(
            "ValidationException",
            "'MemorySize' value failed to satisfy constraint: Member must have value less "
            f"than or equal to {MEMORY_MAX}",
            400,
        )


def check_timeout(timeout: int | None) -> None:
    if timeout is not None and timeout > TIMEOUT_MAX:
        raise validation_errors(
            [
                constraint_error(
                    timeout,
                    "timeout",
                    f"Member must have value less than or equal to {TIMEOUT_MAX}",
                )
            ]
        )


def check_runtime(runtime: str | None, action: str | None = None, on: date | None = None) -> None:
    """CreateFunction/UpdateFunctionConfiguration's Runtime: Lambda checks it itself
    (InvalidParameterValueException, not the model's ValidationException). ``action``
    ("create" or "update") on date ``on`` also checks AWS's deprecation calendar."""
    if runtime is None:
        return
    if action is not None and lifecycle.blocked(runtime, action, on or lifecycle.today()):
        raise invalid(lifecycle.refusal_message(runtime))
    if runtime not in offered_runtimes():
        raise invalid(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must "
            f"satisfy enum value set: [{', '.join(offered_runtimes())}] or be a valid ARN"
        )


def check_environment(variables: dict[str, str] | None) -> None:
    """Reserved keys and the 4 KB limit (measured on the variables as JSON, as AWS does)."""
    if not variables:
        return
    reserved = sorted(k for k in variables if k in RESERVED_VARIABLES)
    if reserved:
        raise invalid(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided contains reserved keys that are "
            "currently not supported for modification. Reserved keys used in this request: "
            + ", ".join(reserved)
        )
    measured = json.dumps(variables, separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > ENVIRONMENT_MAX_BYTES:
        raise invalid(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided exceeded the 4KB limit. "
            f"String measured: {measured}"
        )


def check_layer_count(layers: list[str]) -> None:
    if len(layers) > MAX_LAYERS:
        raise invalid(f"Cannot reference more than {MAX_LAYERS} layers.")


def check_tags(tags: dict[str, str] | None, existing: int = 0) -> None:
    if tags is None:
        return
    if any(key.lower().startswith("aws:") for key in tags):
        raise invalid("Tag keys starting with 'aws:' are reserved for AWS use.")
    if existing + len(tags) > MAX_TAGS:
        raise invalid(f"Number of tags exceeds resource tag limit of {MAX_TAGS}.")


def check_routing(primary: str, weights: dict[str, float]) -> None:
    """AWS's rules for an alias's RoutingConfig (the model already checked key and
    weight formats): one additional version, not the primary, never $LATEST."""
    if not weights:
        return
    if len(weights) > 1:
        raise invalid("Number of items in AdditionalVersionWeights cannot be greater than 1")
    if primary == "$LATEST":
        raise invalid("$LATEST is not supported for an alias pointing to more than 1 version")
    (version,) = weights
    if version == primary:
        raise invalid(
            f"Invalid function version {version}. Function version {version} is already "
            "included in routing configuration."
        )
