"""Lambda's Invoke and InvokeWithResponseStream: payload limits, invocation types, and
the call into the engine.

``InvokeWithResponseStream`` answers 200 once a runtime has taken the invocation (so a
throttle or a missing function is still an ordinary error), then streams
``PayloadChunk`` events as the function writes its response (``ResponseStream``: the
Runtime API hands the streamed body over as it arrives) and ends with
``InvokeComplete`` (``ErrorCode``/``ErrorDetails`` from the error's type and message
when the function failed, even mid-stream; ``LogResult`` with ``LogType=Tail``). A
function that answers buffered (no ``streamifyResponse``) arrives as one chunk.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandlot.events import lineage
from sandlot.execution.api import InvokeRequest, InvokeResult, ResponseStream, Throttled
from sandlot.protocol import ServiceError
from sandlot.services.awslambda.arns import parse_function_name
from sandlot.services.awslambda.tracing import Tracer

if TYPE_CHECKING:
    from sandlot.events.async_invoke import AsyncSettings
    from sandlot.execution.api import FunctionSpec
    from sandlot.platform import Platform
    from sandlot.services.provider import RequestContext

SYNC_PAYLOAD_LIMIT = 6_291_456  # bytes, request and response
ASYNC_PAYLOAD_LIMIT = 1_048_576  # 1 MB since AWS raised it from 256 KB


def check_payload(kind: str, payload: bytes) -> None:
    """AWS's size limits and its demand that a payload be JSON."""
    if kind == "Event" and len(payload) > ASYNC_PAYLOAD_LIMIT:
        raise ServiceError(
            "RequestEntityTooLargeException",
            f"{len(payload)} byte payload is too large for the Event invocation type "
            f"(limit {ASYNC_PAYLOAD_LIMIT} bytes)",
            413,
            Type="User",
        )
    if len(payload) > SYNC_PAYLOAD_LIMIT:
        raise ServiceError(
            "RequestEntityTooLargeException",
            f"Request must be smaller than {SYNC_PAYLOAD_LIMIT} bytes for the InvokeFunction "
            "operation",
            413,
            Type="User",
        )
    if payload:
        try:
            json.loads(payload)
        except (ValueError, UnicodeDecodeError) as error:
            raise ServiceError(
                "InvalidRequestContentException",
                f"Could not parse request body into json: {error}",
                400,
                Type="User",
            ) from None


def check_client_context(value: str | None) -> None:
    """ClientContext must be base64 of a JSON object; AWS refuses anything else up front."""
    if value is None:
        return
    try:
        decoded = json.loads(base64.b64decode(value, validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        decoded = None
    if not isinstance(decoded, dict):
        raise ServiceError(
            "InvalidRequestContentException",
            "Client context must be a valid Base64-encoded JSON object.",
            400,
            Type="User",
        )


@dataclass(slots=True)
class StreamingInvocation:
    """An invocation whose response is read as it is written: ``stream`` yields the
    streamed bytes (nothing when the function answered buffered), ``result`` ends with
    the invocation. ``cancel()`` when the reader goes away before the end."""

    stream: ResponseStream
    result: asyncio.Task[InvokeResult]

    def cancel(self) -> None:
        if not self.result.done():
            self.result.cancel()


def _throttled(throttled: Throttled) -> ServiceError:
    return ServiceError(
        "TooManyRequestsException", throttled.message, 429, Reason=throttled.reason, Type="User"
    )


def error_fields(payload: bytes) -> tuple[str, str]:
    """(type, message) of an invocation's error document."""
    try:
        document = json.loads(payload)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return "Unhandled", payload.decode("utf-8", "replace")
    return str(document.get("errorType") or "Unhandled"), str(document.get("errorMessage") or "")


class InvokeOperations:
    """``Invoke``: synchronous runs through the engine, Event runs through the queue."""

    platform: Platform

    # Provided by LambdaProvider: (spec, executed version) for a name and qualifier.
    resolve_for_invoke: Callable[[str, str, str, str | None], tuple[FunctionSpec, str]]
    # Provided by EventInvokeOperations: what happens to an Event invocation.
    async_settings: Callable[[FunctionSpec, str | None], AsyncSettings]
    # Provided by RecursionOperations: the function's RecursiveLoop setting.
    recursive_loop: Callable[[str, str, str], str]

    @functools.cached_property
    def tracer(self) -> Tracer:
        """Active tracing's segments and sampling (tracing.py)."""
        return Tracer(self.platform)

    async def invoke(self, ctx: RequestContext, params: dict) -> dict:
        kind = params.get("InvocationType") or "RequestResponse"
        payload = params.get("Payload") or b""
        check_payload(kind, payload)
        check_client_context(params.get("ClientContext"))
        name, qualifier = params["FunctionName"], params.get("Qualifier")
        # A function of another account, by ARN: IAM has checked its policy allows this.
        ref = parse_function_name(name)
        account = ref.account if ref is not None and ref.account else ctx.account_id
        spec, version = self.resolve_for_invoke(account, ctx.region, name, qualifier)
        if kind == "DryRun":
            return {"StatusCode": 204}
        if kind == "Event":
            qualifier = qualifier or (ref.qualifier if ref is not None else None)
            self.platform.async_invocations.enqueue(
                account,
                ctx.region,
                spec.function_arn,
                qualifier,
                payload,
                params.get("ClientContext"),
                request_id=ctx.request_id,
                settings=self.async_settings(spec, qualifier),
                trace_header=ctx.trace(),  # the run counts, and may stop, the chain
            )
            return {"StatusCode": 202}
        trace = self.check_recursion(ctx, spec)
        invoked_arn = spec.function_arn + (f":{qualifier}" if qualifier else "")
        traced = None
        if spec.tracing == "Active":  # Lambda records its own segments (tracing.py)
            trace, traced = self.tracer.begin(trace, ctx.trace())
        request = InvokeRequest(
            ctx.request_id,
            payload or b"{}",
            invoked_arn,
            params.get("ClientContext"),
            trace_id=trace,
        )
        try:
            result = await self.platform.engine.invoke(spec, request)
            if traced is not None:
                self.tracer.finish(spec, traced, invoked_arn, ctx.request_id, result)
        except Throttled as throttled:
            if traced is not None:
                self.tracer.finish(spec, traced, invoked_arn, ctx.request_id, None)
            raise _throttled(throttled) from None
        output = {"StatusCode": 200, "Payload": result.payload, "ExecutedVersion": version}
        if result.function_error:
            output["FunctionError"] = result.function_error
        if params.get("LogType") == "Tail":
            output["LogResult"] = base64.b64encode(result.log_tail).decode()
        return output

    async def invoke_with_response_stream(self, ctx: RequestContext, params: dict) -> dict:
        kind = params.get("InvocationType") or "RequestResponse"
        if kind not in ("RequestResponse", "DryRun"):
            raise ServiceError(
                "ValidationException",
                f"1 validation error detected: Value '{kind}' at 'invocationType' failed to "
                "satisfy constraint: Member must satisfy enum value set: "
                "[RequestResponse, DryRun]",
                400,
            )
        payload = params.get("Payload") or b""
        check_payload(kind, payload)
        check_client_context(params.get("ClientContext"))
        name, qualifier = params["FunctionName"], params.get("Qualifier")
        ref = parse_function_name(name)
        account = ref.account if ref is not None and ref.account else ctx.account_id
        spec, version = self.resolve_for_invoke(account, ctx.region, name, qualifier)
        if kind == "DryRun":
            return {"StatusCode": 204, "ExecutedVersion": version}
        qualifier = qualifier or (ref.qualifier if ref is not None else None)
        call = await self.start_streaming(
            ctx, spec, qualifier, payload, params.get("ClientContext")
        )
        tail = params.get("LogType") == "Tail"
        return {
            "StatusCode": 200,
            "ExecutedVersion": version,
            "ResponseStreamContentType": "application/vnd.amazon.eventstream",
            "EventStream": _events(call, tail),
        }

    async def start_streaming(
        self,
        ctx: RequestContext,
        spec: FunctionSpec,
        qualifier: str | None,
        payload: bytes,
        client_context: str | None,
    ) -> StreamingInvocation:
        """Start an invocation whose response is read as it comes; returns once a
        runtime has taken it (or it is over). Raises what Invoke raises up to then."""
        trace = self.check_recursion(ctx, spec)
        invoked_arn = spec.function_arn + (f":{qualifier}" if qualifier else "")
        stream = ResponseStream()
        request = InvokeRequest(
            ctx.request_id,
            payload or b"{}",
            invoked_arn,
            client_context,
            trace_id=trace,
            stream=stream,
        )
        task = asyncio.ensure_future(self.platform.engine.invoke(spec, request))
        task.add_done_callback(lambda _: stream.close())
        try:
            await stream.opened()
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task.done() and task.exception() is not None:
            try:
                task.result()
            except Throttled as throttled:
                raise _throttled(throttled) from None
        return StreamingInvocation(stream, task)

    def check_recursion(self, ctx: RequestContext, spec: FunctionSpec) -> str:
        """The trace header this invocation runs with (its chain's count advanced), or
        AWS's refusal when the chain has run the function ``lineage.LIMIT`` times and
        its RecursiveLoop setting is Terminate."""
        trace, depth = lineage.advance(ctx.trace(), spec.function_arn)
        if depth > lineage.LIMIT and (
            self.recursive_loop(spec.account_id, spec.region, spec.function_name) != "Allow"
        ):
            raise ServiceError(
                "RecursiveInvocationException",
                "Lambda has detected your function being invoked in a recursive loop with "
                "other AWS resources and stopped your function's invocation.",
                400,
                Type="User",
            )
        return trace


async def _events(call: StreamingInvocation, tail: bool) -> AsyncIterator[dict]:
    """InvokeWithResponseStream's events: the response's chunks as they arrive, then
    InvokeComplete."""
    try:
        async for chunk in call.stream:
            yield {"PayloadChunk": {"Payload": chunk}}
        result = await call.result
        if not call.stream.streamed and result.function_error is None and result.payload:
            yield {"PayloadChunk": {"Payload": result.payload}}  # a buffered answer
        complete = {}
        if result.function_error is not None:
            complete["ErrorCode"], complete["ErrorDetails"] = error_fields(result.payload)
        if tail:
            complete["LogResult"] = base64.b64encode(result.log_tail).decode()
        yield {"InvokeComplete": complete}
    finally:
        call.cancel()
