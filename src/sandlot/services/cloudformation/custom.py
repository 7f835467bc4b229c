"""CloudFormation's resource types that wait to be called back: custom resources
(``AWS::CloudFormation::CustomResource`` and ``Custom::<Name>``) and wait conditions
(``AWS::CloudFormation::WaitConditionHandle``, ``AWS::CloudFormation::WaitCondition``).

A custom resource request goes to its ``ServiceToken`` — a Lambda function, invoked
asynchronously (``InvocationType: Event``), or an SNS topic — as the stack's principal
(the caller or the stack's service role, which therefore needs ``lambda:InvokeFunction``
or ``sns:Publish``, as on AWS), carrying a ``ResponseURL`` (``callbacks.py``) the
provider PUTs its answer to. Each request is a row written before it is sent; a resource
operation resumed after a restart finds its row and waits on, until the same deadline
(``ServiceTimeout``, default 3600 s or ``SANDLOT_CUSTOM_RESOURCE_TIMEOUT_SECONDS``).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sandlot.services.cloudformation.callbacks import Callbacks
from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
)

MAX_SERVICE_TIMEOUT_S = 3600
MAX_WAIT_TIMEOUT_S = 43200  # a WaitCondition's Timeout: at most 12 hours
MAX_DATA_BYTES = 4096  # AWS: "The size of the response ... is limited to 4096 bytes"
SNS_SUBJECT = "AWS CloudFormation custom resource request"


def _callbacks(ctx: ResourceContext) -> Callbacks:
    return ctx.platform.provider("cloudformation").callbacks  # type: ignore[union-attr]


def _as_strings(value: Any) -> Any:
    """Resource properties reach a custom resource's provider with every scalar a
    string, as CloudFormation sends them (``true``, ``5``)."""
    if isinstance(value, dict):
        return {k: _as_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_strings(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if value is None or isinstance(value, str) else str(value)


class CustomResourceFailed(ResourceFailed):
    """A provider's FAILED answer; its PhysicalResourceId (if any) is what a rollback
    then sends Delete for, as AWS does."""

    def __init__(self, message: str, physical_id: str | None) -> None:
        super().__init__(message)
        self.physical_id = physical_id


class CustomResource(ResourceType):
    type_name = "AWS::CloudFormation::CustomResource"
    resumable = True  # an operation a restart interrupted waits on for its answer
    delete_after_failed_create = True  # AWS sends Delete for a create answered FAILED

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        return await self._request(ctx, "Create", properties)

    async def update(
        self, ctx: ResourceContext, current: Outcome, properties: dict, previous: dict
    ) -> Outcome:
        if previous.get("ServiceToken") != properties.get("ServiceToken"):
            raise ResourceFailed("Modifying service token is not allowed.")
        return await self._request(ctx, "Update", properties, current.physical_id, previous)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await self._request(ctx, "Delete", properties, physical_id)

    async def _request(
        self, ctx: ResourceContext, kind: str, properties: dict,
        physical_id: str | None = None, old: dict | None = None,
    ) -> Outcome:  # fmt: skip
        callbacks = _callbacks(ctx)
        row = callbacks.find("custom", ctx.stack_id, ctx.logical_id, kind)
        if row is None:
            # A request of another kind still open was abandoned (its operation was
            # rolled back after a restart): its URL stops working.
            for stale in ("Create", "Update", "Delete"):
                found = callbacks.find("custom", ctx.stack_id, ctx.logical_id, stale)
                if found is not None:
                    callbacks.close(found["token"])
            row = self._open(ctx, callbacks, kind, properties, physical_id, old)
        request = json.loads(row["request"])
        if not row["sent"]:
            try:
                await _send(ctx, request)
            except ResourceFailed:
                callbacks.close(row["token"])
                raise
            row = callbacks.update(row, sent=1)
        while True:
            row = callbacks.get(row["token"]) or row
            if row["response"] is not None or time.time() >= row["deadline"]:
                break
            await callbacks.changed(row["token"], row["deadline"])
        callbacks.close(row["token"])
        if row["response"] is None:
            raise ResourceFailed(
                "CloudFormation did not receive a response from your Custom Resource. Please "
                f"check your logs for requestId [{request['RequestId']}]. If you are using the "
                "Python cfn-response module, you may need to update your Lambda function code "
                "so that CloudFormation can attach the updated version."
            )
        return _outcome(row["response"], request, physical_id)

    def _open(self, ctx, callbacks: Callbacks, kind, properties, physical_id, old) -> dict:
        timeout = properties.get("ServiceTimeout")
        if timeout is None:
            timeout = ctx.platform.settings.custom_resource_timeout_seconds
        else:
            try:
                timeout = int(timeout)
            except (TypeError, ValueError):
                timeout = 0
            if not 1 <= timeout <= MAX_SERVICE_TIMEOUT_S:
                raise ResourceFailed(
                    "Properties validation failed for resource "
                    f"{ctx.logical_id} with message: #/ServiceTimeout: "
                    f"ServiceTimeout must be between 1 and {MAX_SERVICE_TIMEOUT_S}"
                )
        token = properties.get("ServiceToken")
        if not isinstance(token, str) or not token:
            raise ResourceFailed(
                f"Properties validation failed for resource {ctx.logical_id} with message: "
                "#: required key [ServiceToken] not found"
            )
        row = callbacks.open(
            "custom", ctx.stack_id, ctx.logical_id, request_type=kind,
            deadline=time.time() + float(timeout),
        )  # fmt: skip
        # The request names its own row's URL, so the row is written first.
        request = {
            "RequestType": kind, "ServiceToken": token, "ResponseURL": callbacks.url(row["token"]),
            "StackId": ctx.stack_id, "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": ctx.logical_id, "ResourceType": self.type_name,
            "ResourceProperties": _as_strings(properties),
        }  # fmt: skip
        if physical_id is not None:
            request["PhysicalResourceId"] = physical_id
        if old is not None:
            request["OldResourceProperties"] = _as_strings(old)
        return callbacks.update(row, request=json.dumps(request))


async def _send(ctx: ResourceContext, request: dict) -> None:
    """To the ServiceToken: a Lambda function (asynchronous invoke) or an SNS topic."""
    token = request["ServiceToken"]
    parts = token.split(":")
    body = json.dumps(request)
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "lambda":
        await ctx.call(
            "lambda", "Invoke", {"FunctionName": token, "InvocationType": "Event", "Payload": body}
        )
    elif len(parts) == 6 and parts[0] == "arn" and parts[2] == "sns":
        await ctx.call(
            "sns", "Publish", {"TopicArn": token, "Message": body, "Subject": SNS_SUBJECT}
        )
    else:
        raise ResourceFailed(f"Invalid service token: {token}")


def _outcome(text: str, request: dict, physical_id: str | None) -> Outcome:
    """A provider's answer as the resource's outcome, or its failure."""
    suffix = f" (RequestId: {request['RequestId']})"
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ResourceFailed(f"Invalid response object: the response is not a JSON object{suffix}")
    status = answer.get("Status")
    physical = answer.get("PhysicalResourceId") or physical_id
    if status == "FAILED":
        raise CustomResourceFailed(
            "Received response status [FAILED] from custom resource. Message returned: "
            f"{answer.get('Reason') or ''}{suffix}",
            physical if isinstance(physical, str) else None,
        )
    if status != "SUCCESS":
        raise ResourceFailed(f"Invalid response object: Status must be SUCCESS or FAILED{suffix}")
    if not isinstance(physical, str) or not physical:
        raise ResourceFailed(f"Invalid PhysicalResourceId{suffix}")
    data = answer.get("Data") or {}
    if not isinstance(data, dict):
        raise ResourceFailed(f"Invalid response object: Data must be an object{suffix}")
    if len(json.dumps(data).encode()) > MAX_DATA_BYTES:
        raise ResourceFailed(f"Response object is too long.{suffix}")
    return Outcome(physical, physical, dict(data))


class WaitConditionHandle(ResourceType):
    """Ref: the URL to signal (``callbacks.py``); its signals are kept on its row."""

    type_name = "AWS::CloudFormation::WaitConditionHandle"
    resumable = True

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        callbacks = _callbacks(ctx)
        row = callbacks.find("handle", ctx.stack_id, ctx.logical_id)
        if row is None:
            row = callbacks.open("handle", ctx.stack_id, ctx.logical_id)
        url = callbacks.url(row["token"])
        return Outcome(url, url, {"Id": url})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        token = Callbacks.token_of(physical_id)
        if token:
            _callbacks(ctx).close(token)


class WaitCondition(ResourceType):
    """Complete once ``Count`` SUCCESS signals reached its ``Handle``; a FAILURE signal
    or the ``Timeout`` (seconds, stored as a deadline) fails it. GetAtt Data: the
    signals' Data by UniqueId, as a JSON string."""

    type_name = "AWS::CloudFormation::WaitCondition"
    resumable = True

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        callbacks = _callbacks(ctx)
        token = Callbacks.token_of(str(properties.get("Handle") or ""))
        if token is None or callbacks.get(token) is None:
            raise ResourceFailed(f"Invalid Handle: {properties.get('Handle')}")
        count = _number(ctx, properties, "Count", 1, 1)
        timeout = _number(ctx, properties, "Timeout", None, 0, MAX_WAIT_TIMEOUT_S)
        wait = callbacks.find("wait", ctx.stack_id, ctx.logical_id)
        if wait is None:
            wait = callbacks.open(
                "wait", ctx.stack_id, ctx.logical_id, deadline=time.time() + timeout
            )
        physical = f"{ctx.stack_id}/{ctx.logical_id}"
        while True:
            handle = callbacks.get(token)
            signals = json.loads(handle["response"] or "{}") if handle else {}
            for unique_id, signal in signals.items():
                if str(signal.get("Status")) != "SUCCESS":
                    callbacks.close(wait["token"])
                    raise ResourceFailed(
                        f"WaitCondition received failed message: '{signal.get('Reason', '')}' "
                        f"for uniqueId: {unique_id}"
                    )
            if len(signals) >= count:
                callbacks.close(wait["token"])
                data = {k: s.get("Data") for k, s in signals.items()}
                return Outcome(physical, physical, {"Data": json.dumps(data), "Id": physical})
            if time.time() >= wait["deadline"]:
                callbacks.close(wait["token"])
                raise ResourceFailed(
                    f"WaitCondition timed out. Received {len(signals)} conditions when "
                    f"expecting {count}"
                )
            await callbacks.changed(token, wait["deadline"])

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return current  # AWS: a WaitCondition is not waited for again on an update

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        wait = _callbacks(ctx).find("wait", ctx.stack_id, ctx.logical_id)
        if wait is not None:
            _callbacks(ctx).close(wait["token"])


def _number(ctx, properties: dict, key: str, default, low: int, high: int | None = None) -> int:
    value = properties.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < low or (high is not None and number > high):
        raise ResourceFailed(
            f"Properties validation failed for resource {ctx.logical_id} with message: "
            f"#/{key}: expected an integer between {low} and {high or 'any'}, got {value!r}"
        )
    return number
