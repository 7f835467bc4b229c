"""A running pipe: the pollers' engine (``events/pollers.py``) with a pipe as the consumer.

Each batch the source adapter fetched (and the pipe's ``FilterCriteria`` let through)
goes, as AWS's Pipes events (SQS and DynamoDB records as Lambda gets them; Kinesis
records flattened: ``data``, ``partitionKey``… at the top level):

    enrichment (optional; synchronous: Lambda RequestResponse and Step Functions Express
    StartSyncExecution with the batch as a JSON array; an API destination or API
    Gateway stage one request per event), each event through the enrichment's
    InputTemplate → its answer is the batch the target gets (an array: the events; an
    object: one event; "", {}, [] or null: nothing to send, done)
    → target, each event through the target's InputTemplate: Lambda and Step Functions
    get the batch as one JSON array; the other targets (SQS, SNS, an EventBridge bus,
    Kinesis, Firehose, CloudWatch Logs, API destinations, API Gateway) one call per
    event through the delivery adapters (``events/delivery.py``), with the target
    parameters (a parameter that is a JSON path takes the event's value).

Every call (source reads included) is made as the pipe's role (``RoleArn``), so IAM
decides as in AWS. An enrichment or target that fails (a function error, a failed
execution, an error answer) fails the batch: an SQS source's messages return after the
visibility timeout (the queue's redrive policy moves them to its dead-letter queue), a
stream source retries per ``MaximumRetryAttempts`` / ``MaximumRecordAgeInSeconds`` and
sends what it gives up on to ``DeadLetterConfig`` with AWS's record
(``context.partnerResourceArn``). A Lambda or Step Functions target answering
``batchItemFailures`` fails only the items it names. Throttles back the poller off.
Each batch's execution steps go to the pipe's log group (``execution_log.py``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from sandlot.events import templates
from sandlot.events.delivery import ADAPTERS, Delivery, Failed, RetryPolicy, arn_service
from sandlot.events.pollers import Poller, Problem, TargetFunction, Throttled, reported_failures
from sandlot.protocol import ServiceError
from sandlot.services.pipes.execution_log import ExecutionLog, error_of

log = logging.getLogger("sandlot.pipes")

# Pipes' placeholders: a JSON path into the event, or a reserved variable.
PLACEHOLDER = re.compile(r"<(\$[A-Za-z0-9_.\-/\[\]']*|aws\.pipes\.[a-z.\-]+)>")
_THROTTLES = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling"})


def source_kind(arn: str) -> str:
    """``sqs``, ``kinesis`` or ``dynamodb`` (a stream), from the source ARN."""
    return arn.split(":")[2] if arn.count(":") >= 5 else ""


def pipe_event(kind: str, record: dict) -> dict:
    """A source record as Pipes passes it on (the pollers hold Lambda's shape)."""
    if kind == "kinesis":
        inner = record["kinesis"]
        return {**inner, **{k: v for k, v in record.items() if k != "kinesis"}}
    return record


def parsed_view(event: Any) -> Any:
    """The event as templates and ``aws.pipes.event.json`` see it: an SQS ``body`` or a
    Kinesis ``data`` (base64) that is JSON is parsed in place (AWS's implicit body
    parsing)."""
    if not isinstance(event, dict):
        return event
    view = dict(event)
    if isinstance(view.get("body"), str):
        view["body"] = _json_or(view["body"])
    if view.get("eventSource") == "aws:kinesis" and isinstance(view.get("data"), str):
        # Only JSON data is parsed; other data stays base64, as in the event.
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            view["data"] = json.loads(base64.b64decode(view["data"]).decode())
    return view


def _json_or(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_template(template: str) -> None:
    """Refuse an InputTemplate whose paths sandlot cannot read (TransformError)."""
    for found in PLACEHOLDER.finditer(template):
        if found[1].startswith("$"):
            templates.compile_path(found[1])


def render(template: str, event: Any, reserved: dict[str, Any]) -> str:
    """``template`` filled for one event."""
    view = parsed_view(event)
    values: dict[str, Any] = {}
    for found in PLACEHOLDER.finditer(template):
        name = found[1]
        if name.startswith("$"):
            values[name] = templates.resolve(view, templates.compile_path(name))
        elif name == "aws.pipes.event":
            values[name] = json.dumps(event)
        elif name == "aws.pipes.event.json":
            values[name] = view
        elif name == "aws.pipes.event.ingestion-time":
            values[name] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        elif name in reserved:
            values[name] = reserved[name]
    return templates.render(template, values, PLACEHOLDER)


def dynamic(parameters: Any, event: Any) -> Any:
    """``parameters`` with every string that is a JSON path (``$.body.key``: AWS's dynamic
    path parameters, the whole value a path) replaced by that value of ``event`` as it
    came from the source or the enrichment (body or data parsed when JSON)."""
    if isinstance(parameters, dict):
        return {k: dynamic(v, event) for k, v in parameters.items()}
    if isinstance(parameters, list):
        return [dynamic(v, event) for v in parameters]
    if isinstance(parameters, str) and parameters.startswith("$."):
        try:
            value = templates.resolve(parsed_view(event), templates.compile_path(parameters))
        except templates.TransformError:
            return parameters
        if value is templates.MISSING or value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value)
    return parameters


def is_http(arn: str) -> bool:
    """An API destination or an API Gateway REST API stage (called over HTTP)."""
    return ":api-destination/" in arn or arn_service(arn) == "execute-api"


def _answer(text: str) -> list:
    """An enrichment's answer as the target's batch: an array is the events, anything
    else one event; an empty answer ("", {}, [], null) is nothing to send."""
    answer = _json_or(text) if text.strip() else None
    if answer in (None, "", {}, []):
        return []
    return answer if isinstance(answer, list) else [answer]


def _transformed(template: str | None, events: list, reserved: dict) -> tuple[list, list]:
    """(each event's payload text, the events as JSON values) after the InputTemplate:
    a target called per event gets the template's text as it is; a batch (a JSON array)
    holds each text parsed when it is JSON, else as a string."""
    if template is None:
        return [_text(e) for e in events], events
    texts = [render(template, e, reserved) for e in events]
    return texts, [_json_or(t) for t in texts]


def _text(value: Any) -> str:
    """What a target gets for an event: a string as it is (a template's output), anything
    else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


class _PipeFailed(Exception):
    """The enrichment or the target failed the batch (a customer error)."""


class PipePoller(Poller):
    """A ``Poller`` whose consumer is the pipe (``mapping.settings["Pipe"]``: the pipe's
    ARN, name, role and definition)."""

    _problem: str | None = None  # why the last batch failed (StateReason); None: it did not
    _result: str | None = None

    @property
    def pipe(self) -> dict:
        return self.settings["Pipe"]

    @property
    def last_result(self) -> str | None:  # type: ignore[override]
        """The engine records "OK" after every settled batch; a pipe's failed batch is
        settled too (as failed), so its reason is kept until a batch succeeds."""
        return self._problem or self._result

    @last_result.setter
    def last_result(self, value: str | None) -> None:
        self._result = value

    async def function(self) -> TargetFunction:
        # The pipe's role reads the source; no concurrency limit but the source's.
        if self._function is None:
            self._function = TargetFunction(self.pipe["RoleArn"], None, time.monotonic())
        return self._function

    async def role(self):
        await self.function()  # Kinesis records name the role (``role_arn``)
        return self.platform.function_principal(self.pipe["RoleArn"], self.pipe["Name"][:64])

    def failure_context(self, condition: str, invocations: int) -> dict:
        return {"context": {"partnerResourceArn": self.pipe["Arn"], "condition": condition}}

    def _reserved(self) -> dict[str, str]:
        pipe = self.pipe
        return {
            "aws.pipes.pipe-arn": pipe["Arn"],
            "aws.pipes.pipe-name": pipe["Name"],
            "aws.pipes.source-arn": pipe["Source"],
            "aws.pipes.enrichment-arn": pipe.get("Enrichment") or "",
            "aws.pipes.target-arn": pipe["Target"],
        }

    async def _invoke(self, records: list) -> list:
        kind = source_kind(self.mapping.source_arn)
        events: list[Any] = [
            pipe_event(kind, self.source.event([r])["Records"][0]) for r in records
        ]
        reserved = self._reserved()
        trail = ExecutionLog(self.pipe)
        trail.step("ExecutionStarted", payload=events)
        stage = "Target"
        principal = await self.role()
        try:
            if self.pipe.get("Enrichment"):
                stage = "Enrichment"
                trail.step("EnrichmentStageEntered")
                trail.step("EnrichmentInvocationStarted")
                events = await self._enrich(events, reserved, principal)
                trail.step("EnrichmentInvocationSucceeded")
                trail.step("EnrichmentStageSucceeded", payload=events)
                stage = "Target"
                if not events:  # the enrichment filtered the batch out
                    trail.step("TargetStageSkipped")
                    trail.step("ExecutionSucceeded")
                    return []
            trail.step("TargetStageEntered")
            trail.step("TargetInvocationStarted")
            answer = await self._target(events, reserved, principal)
        except (_PipeFailed, ServiceError) as failure:
            if isinstance(failure, ServiceError):
                if failure.code in _THROTTLES:  # retried after a back-off, not failed
                    trail.step(
                        "ExecutionThrottled",
                        error=error_of(failure.code, failure.message, failure.status),
                    )
                    raise Throttled() from None
                problem = f"{failure.code}: {failure.message}"
                error = error_of(failure.code, failure.message, failure.status)
            else:
                problem = str(failure)
                error = error_of("CustomerInvocationError", problem)
            log.info("pipe %s: %s", self.pipe["Name"], problem)
            self._problem = f"PROBLEM: {problem}"
            for step in (f"{stage}InvocationFailed", f"{stage}StageFailed", "ExecutionFailed"):
                trail.step(step, error=error)
            return records
        finally:
            trail.flush(self.platform, principal)
        self._problem = None
        failed = self._item_failures(records, answer)
        if failed:
            error = error_of("PartialFailure", f"{len(failed)} of {len(records)} items failed")
            for step in ("TargetInvocationPartiallyFailed", "TargetStagePartiallyFailed",
                         "ExecutionPartiallyFailed"):  # fmt: skip
                trail.step(step, error=error)
        else:
            trail.step("TargetInvocationSucceeded")
            trail.step("TargetStageSucceeded")
            trail.step("ExecutionSucceeded")
        trail.flush(self.platform, principal)
        return failed

    def _item_failures(self, records: list, answer: bytes | None) -> list:
        """The records a target's answer reports failed: only an answer naming
        batchItemFailures reports items (then as Lambda's rules say: a malformed report
        fails the batch); any other answer is success."""
        parsed = _json_or(answer.decode("utf-8", "replace")) if answer else None
        if not isinstance(parsed, dict) or "batchItemFailures" not in parsed:
            return []
        ids = [self.source.item_id(r) for r in records]
        reported = reported_failures(answer, ids)
        if reported is None:
            return records
        return [r for r, i in zip(records, ids, strict=True) if i in reported]

    # -- enrichment -----------------------------------------------------------------------

    async def _enrich(self, events: list, reserved: dict, principal) -> list:
        arn = self.pipe["Enrichment"]
        template = (self.pipe.get("EnrichmentParameters") or {}).get("InputTemplate")
        originals = events
        texts, events = _transformed(template, events, reserved)
        payload = json.dumps(events)
        if arn_service(arn) == "lambda":
            text = await self._lambda(arn, payload, principal, sync=True)
        elif arn_service(arn) == "states":
            text = await self._sync_execution(arn, payload, principal)
        elif is_http(arn):  # no batching: one request per event
            http = (self.pipe.get("EnrichmentParameters") or {}).get("HttpParameters") or {}
            found: list = []
            for text, original in zip(texts, originals, strict=True):
                body = await self._http(arn, text, dynamic(http, original), principal)
                found += _answer(body.decode("utf-8", "replace"))
            return found
        else:
            raise Problem(f"PROBLEM: cannot call enrichment {arn}")
        return _answer(text)

    # -- target ---------------------------------------------------------------------------

    async def _target(self, events: list, reserved: dict, principal) -> bytes | None:
        """Send the batch; the answer of a Lambda or Step Functions target (for its
        ``batchItemFailures``), None otherwise."""
        arn = self.pipe["Target"]
        parameters = self.pipe.get("TargetParameters") or {}
        originals = events
        texts, events = _transformed(parameters.get("InputTemplate"), events, reserved)
        service = arn_service(arn)
        if service == "lambda":
            invocation = (parameters.get("LambdaFunctionParameters") or {}).get("InvocationType")
            sync = invocation != "FIRE_AND_FORGET"
            text = await self._lambda(arn, json.dumps(events), principal, sync=sync)
            return text.encode() if sync else None
        if service == "states":
            machine = parameters.get("StepFunctionStateMachineParameters") or {}
            if machine.get("InvocationType") == "FIRE_AND_FORGET":
                await self._send(arn, json.dumps(events), principal, {})
                return None
            return (await self._sync_execution(arn, json.dumps(events), principal)).encode()
        for text, original in zip(texts, originals, strict=True):
            given = dynamic(parameters, original)  # each event's own parameter values
            if is_http(arn):
                await self._http(arn, text, given.get("HttpParameters") or {}, principal)
            else:
                await self._send(arn, text, principal, self._options(service, given))
        return None

    def _options(self, service: str, parameters: dict) -> dict:
        """The delivery adapter's options for one event, from its TargetParameters."""
        if service == "sqs":
            given = parameters.get("SqsQueueParameters") or {}
            return {k: given[k] for k in ("MessageGroupId", "MessageDeduplicationId") if k in given}
        if service == "events":
            given = parameters.get("EventBridgeEventBusParameters") or {}
            kind = source_kind(self.mapping.source_arn)
            options = {
                # AWS's defaults for events a pipe puts on a bus.
                "Source": given.get("Source") or f"Pipe {self.pipe['Name']}",
                "DetailType": given.get("DetailType") or f"Event from aws:{kind}",
            }
            if given.get("Resources"):
                options["Resources"] = given["Resources"]
            return options
        if service == "kinesis":
            given = parameters.get("KinesisStreamParameters") or {}
            return {"PartitionKey": given.get("PartitionKey") or ""}
        if service == "logs":
            given = parameters.get("CloudWatchLogsParameters") or {}
            return {"logStreamName": given.get("LogStreamName") or self.pipe["Name"]}
        return {}

    # -- calls as the pipe's role -----------------------------------------------------------

    async def _lambda(self, arn: str, payload: str, principal, *, sync: bool) -> str:
        result = await self.platform.call(
            "lambda",
            "Invoke",
            {
                "FunctionName": arn,
                "InvocationType": "RequestResponse" if sync else "Event",
                "Payload": payload.encode(),
            },
            principal=principal,
            region=arn.split(":")[3],
        )
        text = bytes(result.get("Payload") or b"").decode("utf-8", "replace")
        if result.get("FunctionError"):
            raise _PipeFailed(f"{arn} failed: {result['FunctionError']}: {text[:256]}")
        return text

    async def _sync_execution(self, arn: str, payload: str, principal) -> str:
        result = await self.platform.call(
            "stepfunctions",
            "StartSyncExecution",
            {"stateMachineArn": arn, "input": payload},
            principal=principal,
            region=arn.split(":")[3],
        )
        if result.get("status") != "SUCCEEDED":
            raise _PipeFailed(
                f"{arn} execution {result.get('status')}: {result.get('error')}: "
                f"{result.get('cause')}"
            )
        return result.get("output") or ""

    async def _http(self, arn: str, payload: str, given: dict, principal) -> bytes:
        """An API destination's or API Gateway stage's answer to ``payload`` (POSTed, or
        the destination's or the ARN's method), with the ``HttpParameters``."""
        if ":api-destination/" in arn:
            # The connection's authorization is the events provider's (it keeps the
            # secrets); it builds the request as for a rule target.
            request = self.platform.provider("events").http_request(arn, {"HttpParameters": given})
            if request is None:
                raise _PipeFailed(f"API destination {arn} or its connection does not exist")
            url, options = request
        else:  # arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>
            api, stage, method, *path = arn.split(":", 5)[5].split("/")
            url = f"{self.platform.endpoint_url}/_aws/execute-api/{api}/{stage}/" + "/".join(path)
            for value in given.get("PathParameterValues") or []:
                url = url.replace("*", value, 1)
            if given.get("QueryStringParameters"):
                url += "?" + urllib.parse.urlencode(given["QueryStringParameters"])
            headers = {"Content-Type": "application/json", **(given.get("HeaderParameters") or {})}
            options = {"method": "POST" if method in ("*", "ANY") else method, "headers": headers}
        response = await self._send(url, payload, principal, options, region=arn.split(":")[3])
        return response.get("Body") or b""

    async def _send(
        self, arn: str, payload: str, principal, options: dict, region: str | None = None
    ) -> dict:
        """One call through the delivery adapter of the target's service (or an http(s)
        URL's), now: the batch is settled with the source by its outcome, so it is not
        queued."""
        delivery = Delivery(
            id=f"{self.pipe['Name']}-{time.time_ns()}",
            target=arn,
            region=region or arn.split(":")[3],
            payload=payload.encode(),
            options=options,
            principal=principal,
            context={},
            policy=RetryPolicy(),
            dead_letter=None,
            hook_data={},
            attempts=0,
            tries=1,
            created_at=time.time(),
        )
        try:
            return await ADAPTERS[arn_service(arn)](self.platform, delivery)
        except Failed as failed:
            raise _PipeFailed(f"{arn} failed: {failed.code}: {failed.message}") from None
