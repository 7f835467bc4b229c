"""Amazon EventBridge Pipes: a pipe reads an SQS queue (standard or FIFO), a Kinesis
stream or a DynamoDB stream, drops what its ``FilterCriteria`` reject, optionally
enriches each batch synchronously and sends the result to its target
(``services/pipes/runner.py``), everything as the pipe's role.

States are AWS's: CreatePipe answers ``CREATING``, StartPipe ``STARTING``, StopPipe
``STOPPING``, UpdatePipe ``UPDATING``, DeletePipe ``DELETING``; right after the commit
the pipe's poller is started or stopped (the pollers' engine, ``events/pollers.py``)
and the row records ``RUNNING`` / ``STOPPED`` (or goes). At platform start every pipe
is settled again: RUNNING pipes resume where their source checkpoint (streams) or the
queue (SQS) left them, and interrupted transitions complete.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from sandlot.events.delivery import arn_service
from sandlot.events.patterns import PatternError, compile_filter_criteria
from sandlot.events.pollers import Mapping
from sandlot.events.templates import TransformError
from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.models import service_model
from sandlot.services.pipes.runner import PipePoller, check_template, is_http, source_kind
from sandlot.services.pipes.schema import MIGRATIONS, PIPES
from sandlot.services.provider import Provider, RequestContext

log = logging.getLogger("sandlot.pipes")

_DEFINITION = (
    "Description", "Source", "SourceParameters", "Enrichment", "EnrichmentParameters",
    "Target", "TargetParameters", "RoleArn", "LogConfiguration", "KmsKeyIdentifier",
)  # fmt: skip
_UPDATABLE = tuple(k for k in _DEFINITION if k != "Source")
# The targets sandlot calls, and the largest batch each takes (AWS's batching table;
# Lambda and Step Functions take the whole batch, whatever its size).
_TARGET_BATCH = {"lambda": None, "states": None, "sqs": 10, "sns": 10, "events": 10,
                 "kinesis": 500, "firehose": 500, "logs": 10_000, "execute-api": 1}  # fmt: skip
_ENRICHMENTS = frozenset({"lambda", "states", "events", "execute-api"})
_STREAM_KEYS = {"kinesis": "KinesisStreamParameters", "dynamodb": "DynamoDBStreamParameters"}
_TRANSITIONS = frozenset({"CREATING", "STARTING", "STOPPING", "UPDATING", "DELETING"})


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message, 400)


def not_found(name: str) -> ServiceError:
    return ServiceError("NotFoundException", f"Pipe {name} does not exist.", 404)


def conflict(message: str, name: str) -> ServiceError:
    return ServiceError("ConflictException", message, 409, resourceId=name, resourceType="pipe")


class PipesProvider(Provider):
    service = "pipes"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.store = platform.store
        self.store.migrate("pipes", MIGRATIONS)
        self._settling: set[asyncio.Task] = set()

    def validate(self, ctx: RequestContext, params: dict) -> None:
        shape = service_model(self.service).operation_model(ctx.operation).input_shape
        found = constraints.violations(shape, params) if shape is not None else []
        if found:
            raise validation(constraints.summary(found))

    async def start(self) -> None:
        """Settle every pipe (platform start): running pipes resume."""
        for row in self.store.select(PIPES, order_by=("account", "region", "name")):
            try:
                await self._settle(row["arn"])
            except Exception:  # one pipe's trouble must not keep the platform down
                log.exception("pipe %s could not resume", row["arn"])

    # -- operations -----------------------------------------------------------------------

    def create_pipe(self, ctx: RequestContext, params: dict) -> dict:
        name = params["Name"]
        definition = {k: params[k] for k in _DEFINITION if params.get(k) is not None}
        self._check(definition)
        now = time.time()
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "arn": f"arn:aws:pipes:{ctx.region}:{ctx.account_id}:pipe/{name}",
            "id": str(uuid.uuid4()),
            "definition": json.dumps(definition),
            "desired": params.get("DesiredState") or "RUNNING",
            "current": "CREATING",
            "reason": None,
            "tags": json.dumps(params.get("Tags") or {}),
            "created": now,
            "modified": now,
        }
        if not self.store.put(PIPES, row, replace=False):
            raise conflict(f"Pipe {name} already exists.", name)
        self._settle_soon(row["arn"])
        return _summary(row)

    def update_pipe(self, ctx: RequestContext, params: dict) -> dict:
        row = self._pipe(ctx, params["Name"])
        self._not_busy(row)
        definition = _updated(json.loads(row["definition"]), params)
        self._check(definition)
        row = {**row, "definition": json.dumps(definition), "current": "UPDATING",
               "desired": params.get("DesiredState") or row["desired"], "reason": None,
               "modified": time.time()}  # fmt: skip
        self.store.put(PIPES, row)
        self._settle_soon(row["arn"])
        return _summary(row)

    def start_pipe(self, ctx: RequestContext, params: dict) -> dict:
        return self._transition(ctx, params["Name"], "RUNNING", "STARTING")

    def stop_pipe(self, ctx: RequestContext, params: dict) -> dict:
        return self._transition(ctx, params["Name"], "STOPPED", "STOPPING")

    def delete_pipe(self, ctx: RequestContext, params: dict) -> dict:
        row = self._pipe(ctx, params["Name"])
        if row["current"] == "DELETING":
            raise conflict(f"Pipe {row['name']} is already being deleted.", row["name"])
        row = {**row, "current": "DELETING", "desired": "DELETED", "modified": time.time()}
        self.store.put(PIPES, row)
        self._settle_soon(row["arn"])
        return _summary(row)

    def describe_pipe(self, ctx: RequestContext, params: dict) -> dict:
        row = self._pipe(ctx, params["Name"])
        out = {
            **json.loads(row["definition"]),
            **_summary(row),
            "Tags": json.loads(row["tags"] or "{}"),
        }
        reason = row["reason"] or self._problem(row)
        if reason:
            out["StateReason"] = reason
        return out

    def list_pipes(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(
            PIPES, {"account": ctx.account_id, "region": ctx.region}, order_by=("name",)
        )
        found = []
        for row in rows:
            definition = json.loads(row["definition"])
            if params.get("NamePrefix") and not row["name"].startswith(params["NamePrefix"]):
                continue
            if params.get("DesiredState") and row["desired"] != params["DesiredState"]:
                continue
            if params.get("CurrentState") and row["current"] != params["CurrentState"]:
                continue
            if params.get("SourcePrefix") and not definition["Source"].startswith(
                params["SourcePrefix"]
            ):
                continue
            if params.get("TargetPrefix") and not definition["Target"].startswith(
                params["TargetPrefix"]
            ):
                continue
            item = {**_summary(row), "Source": definition["Source"], "Target": definition["Target"]}
            if definition.get("Enrichment"):
                item["Enrichment"] = definition["Enrichment"]
            if row["reason"]:
                item["StateReason"] = row["reason"]
            found.append(item)
        start = int(params.get("NextToken") or 0)
        limit = params.get("Limit") or 100
        out: dict = {"Pipes": found[start : start + limit]}
        if start + limit < len(found):
            out["NextToken"] = str(start + limit)
        return out

    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        row = self._by_arn(params["resourceArn"])
        tags = {**json.loads(row["tags"] or "{}"), **params["tags"]}
        self.store.put(PIPES, {**row, "tags": json.dumps(tags)})
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        row = self._by_arn(params["resourceArn"])
        tags = {k: v for k, v in json.loads(row["tags"] or "{}").items()
                if k not in params["tagKeys"]}  # fmt: skip
        self.store.put(PIPES, {**row, "tags": json.dumps(tags)})
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: dict) -> dict:
        return {"tags": json.loads(self._by_arn(params["resourceArn"])["tags"] or "{}")}

    # -- checks ---------------------------------------------------------------------------

    def _check(self, definition: dict) -> None:
        source = definition["Source"]
        kind = source_kind(source)
        if kind not in ("sqs", "kinesis", "dynamodb") or (
            kind == "dynamodb" and "/stream/" not in source
        ):
            raise validation(
                f"Source {source} is not supported: sandlot's pipes read SQS queues, "
                "Kinesis streams and DynamoDB streams."
            )
        parameters = definition.get("SourceParameters") or {}
        if kind in _STREAM_KEYS:
            stream = parameters.get(_STREAM_KEYS[kind])
            if not stream or not stream.get("StartingPosition"):
                raise validation(
                    f"SourceParameters.{_STREAM_KEYS[kind]}.StartingPosition is required "
                    "for a stream source."
                )
        target = definition["Target"]
        service = arn_service(target)
        if service not in _TARGET_BATCH or (
            service == "events" and not (":event-bus/" in target or is_http(target))
        ):
            raise validation(f"Target {target} is not supported by sandlot's pipes yet.")
        enrichment = definition.get("Enrichment")
        if enrichment and (
            arn_service(enrichment) not in _ENRICHMENTS
            or (arn_service(enrichment) == "events" and not is_http(enrichment))
        ):
            raise validation(
                f"Enrichment {enrichment} is not supported by sandlot's pipes (Lambda "
                "functions, Step Functions Express state machines, API destinations and "
                "API Gateway REST APIs are)."
            )
        given = parameters.get(_STREAM_KEYS.get(kind, "SqsQueueParameters")) or {}
        batch = given.get("BatchSize") or 0  # an explicit one (the default fits the target)
        most = _batch_limit(definition)
        if most is not None and batch > most:
            raise validation(
                f"The batch size of the source ({batch}) is larger than the enrichment or "
                f"target supports ({most})."
            )
        try:
            compile_filter_criteria(parameters.get("FilterCriteria"))
        except PatternError as error:
            raise validation(f"FilterCriteria: {error.message}") from None
        for key in ("EnrichmentParameters", "TargetParameters"):
            template = (definition.get(key) or {}).get("InputTemplate")
            if template is not None:
                try:
                    check_template(template)
                except TransformError as error:
                    raise validation(f"{key}.InputTemplate: {error}") from None

    def _pipe(self, ctx: RequestContext, name: str) -> dict:
        row = self.store.get(PIPES, ctx.account_id, ctx.region, name)
        if row is None:
            raise not_found(name)
        return row

    def _by_arn(self, arn: str) -> dict:
        rows = self.store.select(PIPES, {"arn": arn}, limit=1)
        if not rows:
            raise ServiceError("NotFoundException", f"Resource {arn} does not exist.", 404)
        return rows[0]

    def _not_busy(self, row: dict) -> None:
        if row["current"] in _TRANSITIONS:
            raise conflict(
                f"Pipe {row['name']} is in state {row['current']}; wait until it settles.",
                row["name"],
            )

    def _transition(self, ctx: RequestContext, name: str, desired: str, state: str) -> dict:
        row = self._pipe(ctx, name)
        self._not_busy(row)
        row = {**row, "desired": desired, "current": state, "reason": None,
               "modified": time.time()}  # fmt: skip
        self.store.put(PIPES, row)
        self._settle_soon(row["arn"])
        return _summary(row)

    def _problem(self, row: dict) -> str | None:
        if row["current"] != "RUNNING":
            return None
        result = self.platform.pollers.last_result(row["id"])
        return result if result and result.startswith("PROBLEM") else None

    # -- states and pollers ---------------------------------------------------------------

    def _settle_soon(self, arn: str) -> None:
        """After the request's commit: move the pipe out of its transitional state."""

        async def settle() -> None:
            try:
                await self._settle(arn)
            except Exception:
                log.exception("pipe %s could not settle", arn)

        task = asyncio.get_running_loop().create_task(settle())
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, arn: str) -> None:
        """Make the poller match the row, then record the state reached."""
        rows = self.store.select(PIPES, {"arn": arn}, limit=1)
        if not rows:
            return
        row = rows[0]
        pollers = self.platform.pollers
        if row["current"] == "DELETING":
            await pollers.stop(row["id"])
            pollers.forget(row["id"])
            self.store.delete(PIPES, row["account"], row["region"], row["name"])
            return
        if row["desired"] == "RUNNING":
            pollers.run(_mapping(row), PipePoller)
            state = "RUNNING"
        else:
            await pollers.stop(row["id"])
            state = "STOPPED"
        fresh = self.store.get(PIPES, row["account"], row["region"], row["name"])
        # Unless a newer request changed the row meanwhile (its own settling follows).
        if fresh is not None and fresh["modified"] == row["modified"] and fresh["current"] != state:
            self.store.put(PIPES, {**fresh, "current": state})


def _updated(definition: dict, params: dict) -> dict:
    """AWS's UpdatePipe: the fields given replace theirs, the others stay; within
    SourceParameters, EnrichmentParameters and TargetParameters each given member (a
    service's parameters object, FilterCriteria, InputTemplate…) replaces its old value
    as one. An empty InputTemplate removes the template."""
    out = dict(definition)
    for key in _UPDATABLE:
        if params.get(key) is None:
            continue
        if key.endswith("Parameters") and key != "LogConfiguration":
            merged = {**(out.get(key) or {}), **params[key]}
            if merged.get("InputTemplate") == "":
                del merged["InputTemplate"]
            out[key] = merged
        else:
            out[key] = params[key]
    return out


def _summary(row: dict) -> dict:
    return {
        "Arn": row["arn"],
        "Name": row["name"],
        "DesiredState": row["desired"],
        "CurrentState": row["current"],
        "CreationTime": row["created"],
        "LastModifiedTime": row["modified"],
    }


def _batch_limit(definition: dict) -> int | None:
    """The largest batch the pipe's enrichment and target take (None: any). API
    destinations and API Gateway take one event at a time (AWS: no batching)."""
    limits = [_TARGET_BATCH[arn_service(definition["Target"])]]
    if is_http(definition["Target"]) or is_http(definition.get("Enrichment") or ""):
        limits.append(1)
    known = [n for n in limits if n is not None]
    return min(known) if known else None


def _source_settings(kind: str, parameters: dict, definition: dict) -> dict:
    """The pollers' settings (Lambda's names) for a pipe's SourceParameters. The default
    batch (SQS 10, a stream 100) is cut to what the enrichment and target take."""
    most = _batch_limit(definition) or 10_000
    if kind == "sqs":
        given = parameters.get("SqsQueueParameters") or {}
        settings = {"BatchSize": given.get("BatchSize") or min(10, most)}
        if given.get("MaximumBatchingWindowInSeconds"):
            settings["MaximumBatchingWindowInSeconds"] = given["MaximumBatchingWindowInSeconds"]
        return settings
    given = parameters.get(_STREAM_KEYS[kind]) or {}
    settings = {
        "BatchSize": given.get("BatchSize") or min(100, most),
        "StartingPosition": given.get("StartingPosition"),
        "MaximumRetryAttempts": given.get("MaximumRetryAttempts", -1),
        "MaximumRecordAgeInSeconds": given.get("MaximumRecordAgeInSeconds", -1),
        "BisectBatchOnFunctionError": given.get("OnPartialBatchItemFailure") == "AUTOMATIC_BISECT",
        "ParallelizationFactor": given.get("ParallelizationFactor") or 1,
    }
    for key in ("MaximumBatchingWindowInSeconds", "StartingPositionTimestamp"):
        if given.get(key) is not None:
            settings[key] = given[key]
    dead_letter = (given.get("DeadLetterConfig") or {}).get("Arn")
    if dead_letter:
        settings["DestinationConfig"] = {"OnFailure": {"Destination": dead_letter}}
    return settings


def _mapping(row: dict) -> Mapping:
    definition = json.loads(row["definition"])
    kind = source_kind(definition["Source"])
    parameters = definition.get("SourceParameters") or {}
    settings = _source_settings(kind, parameters, definition)
    if parameters.get("FilterCriteria"):
        settings["FilterCriteria"] = parameters["FilterCriteria"]
    settings["Pipe"] = {**definition, "Arn": row["arn"], "Name": row["name"]}
    return Mapping(
        uuid=row["id"],
        account=row["account"],
        region=row["region"],
        function_name=row["name"],
        function_arn=row["arn"],
        source_arn=definition["Source"],
        settings=settings,
    )
