"""Task resources: what a Task state's ``Resource`` calls, through ``Platform.call`` as
the state machine's role (so IAM decides, as in AWS).

- a Lambda function ARN (the "bare" form): Invoke, the result is the function's output;
- ``arn:aws:states:::lambda:invoke``: Invoke with AWS's output shape (``Payload``,
  ``StatusCode``, ``ExecutedVersion``…);
- ``arn:aws:states:::sqs:sendMessage``, ``sns:publish``, ``dynamodb:putItem|getItem|
  updateItem|deleteItem``, ``events:putEvents``, ``states:startExecution`` (``.sync``
  waits and answers DescribeExecution's output as a string, ``.sync:2`` as JSON);
- ``arn:aws:states:::aws-sdk:<service>:<apiAction>``: any operation of a service
  sandlot serves (PascalCase parameters mapped onto the model's member names);
- ``arn:aws:states:::http:invoke``: the HTTP task (``http_task.py``);
- ``arn:aws:states:::apigateway:invoke``: an API sandlot serves (``apigateway_task.py``);
- an activity ARN: an activity task (``tasks.py``).

Errors: a function error is the ``errorType`` it reported (``Lambda.Unknown`` without
one); a service error is ``<Service>.<Code>`` with AWS's ``Exception`` suffix
(``S3.NoSuchBucketException``, ``StepFunctions.ExecutionAlreadyExistsException``).
"""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.protocol.http import FileBody
from sandlot.protocol.models import service_model

# The Resource's service name (states:::<name>:… and aws-sdk:<name>:…) → botocore's.
SDK_SERVICES = {
    "sfn": "stepfunctions",
    "states": "stepfunctions",
    "eventbridge": "events",
    "events": "events",
    "cloudwatchlogs": "logs",
    "apigatewaymanagementapi": "apigatewaymanagementapi",
}
# Error name prefixes of the optimized integrations (AWS's spelling).
PREFIXES = {
    "lambda": "Lambda",
    "sqs": "SQS",
    "sns": "SNS",
    "dynamodb": "DynamoDB",
    "events": "EventBridge",
    "stepfunctions": "StepFunctions",
}
OPTIMIZED = {
    ("sqs", "sendMessage"),
    ("sns", "publish"),
    ("dynamodb", "putItem"),
    ("dynamodb", "getItem"),
    ("dynamodb", "updateItem"),
    ("dynamodb", "deleteItem"),
    ("events", "putEvents"),
    ("states", "startExecution"),
    ("lambda", "invoke"),
}


@dataclass(frozen=True)
class Target:
    """A parsed Task resource."""

    kind: str  # "function" | "activity" | "optimized" | "sdk" | "http" | "apigateway"
    resource: str  # the Resource as written
    service: str = ""  # botocore's service name
    operation: str = ""  # botocore's operation name
    pattern: str = ""  # "" | "sync" | "sync:2" | "waitForTaskToken"
    type_name: str = ""  # the history's resourceType ("lambda", "sqs", "aws-sdk:s3")
    short: str = ""  # the history's resource ("invoke.waitForTaskToken")


class UnsupportedResource(Exception):
    pass


def parse_resource(resource: str) -> Target:
    if resource.startswith("arn:aws:lambda:") and ":function:" in resource:
        return Target("function", resource, "lambda", "Invoke", type_name="lambda")
    if resource.startswith("arn:aws:states:") and ":activity:" in resource:
        return Target("activity", resource)
    prefix = "arn:aws:states:::"
    if not resource.startswith(prefix):
        raise UnsupportedResource(resource)
    rest = resource[len(prefix) :]
    short = rest
    pattern = ""
    for suffix in (".waitForTaskToken", ".sync:2", ".sync"):
        if rest.endswith(suffix):
            rest, pattern = rest[: -len(suffix)], suffix[1:]
            break
    parts = rest.split(":")
    if parts[0] == "aws-sdk" and len(parts) == 3:
        service = SDK_SERVICES.get(parts[1], parts[1])
        operation = parts[2][:1].upper() + parts[2][1:]
        try:
            service_model(service).operation_model(operation)
        except Exception:
            raise UnsupportedResource(resource) from None
        return Target("sdk", resource, service, operation, pattern, f"aws-sdk:{parts[1]}",
                      short.split(":", 2)[2])  # fmt: skip
    if parts == ["http", "invoke"] and not pattern:  # the HTTP task (``http_task.py``)
        return Target("http", resource, "http", "invoke", "", "http", "invoke")
    if parts == ["apigateway", "invoke"] and pattern in ("", "waitForTaskToken"):
        # The API Gateway integration (``apigateway_task.py``)
        return Target("apigateway", resource, "apigateway", "invoke", pattern, "apigateway",
                      short.split(":", 1)[1])  # fmt: skip
    if len(parts) == 2 and (parts[0], parts[1]) in OPTIMIZED:
        service = SDK_SERVICES.get(parts[0], parts[0])
        operation = parts[1][:1].upper() + parts[1][1:]
        if pattern.startswith("sync") and parts != ["states", "startExecution"]:
            raise UnsupportedResource(resource)
        return Target("optimized", resource, service, operation, pattern, parts[0],
                      short.split(":", 1)[1])  # fmt: skip
    raise UnsupportedResource(resource)


def error_name(service: str, code: str, *, sdk: bool) -> str:
    """``<Service>.<Code>Exception`` as Step Functions names a service's error."""
    if sdk:
        prefix = service_model(service).metadata.get("serviceId", service).replace(" ", "")
    else:
        prefix = PREFIXES.get(service, service)
    if not code.endswith("Exception"):
        code += "Exception"
    return f"{prefix}.{code}"


def cause_of(error: ServiceError, service: str, request_id: str) -> str:
    """The cause AWS writes for a service error (the SDK exception's message)."""
    return (
        f"{error.message} (Service: {service}, Status Code: {error.status}, Error Code: "
        f"{error.code}, Request ID: {request_id})"
    )


# -- parameters and results between ASL's JSON and botocore's shapes ---------------------


def to_model(shape: Any, value: Any) -> Any:
    """``value`` (JSON from the state) as the provider expects the shape: PascalCase
    names matched to the model's members, objects given for string members serialized
    (AWS does this for MessageBody, Message, Input, Detail…), blobs as bytes."""
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = {name.lower(): name for name in shape.members}
        out = {}
        for key, item in value.items():
            name = members.get(key.lower(), key)
            member = shape.members.get(name)
            out[name] = to_model(member, item)
        return out
    if kind == "list" and isinstance(value, list):
        return [to_model(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: to_model(shape.value, v) for k, v in value.items()}
    if kind == "string" and not isinstance(value, str):
        return json.dumps(value, separators=(",", ":"))
    if kind == "blob":
        if isinstance(value, str):
            return value.encode()
        return json.dumps(value, separators=(",", ":")).encode()
    if kind in ("integer", "long") and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if kind == "timestamp" and isinstance(value, str):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return value


def from_model(value: Any, *, pascal: bool) -> Any:
    """A provider's result as Step Functions hands it to the state: JSON values, member
    names in PascalCase for aws-sdk integrations, blobs as text, times as ISO strings."""
    if isinstance(value, dict):
        return {
            (k[:1].upper() + k[1:] if pascal else k): from_model(v, pascal=pascal)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [from_model(v, pascal=pascal) for v in value]
    if isinstance(value, FileBody):  # S3's GetObject streams its body from a file
        with value.file as f:
            f.seek(value.offset)
            value = f.read(value.length)
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def input_shape(service: str, operation: str) -> Any:
    return service_model(service).operation_model(operation).input_shape
