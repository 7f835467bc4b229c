"""Event source mappings: Lambda's API for them; the polling is ``events.pollers``.

A mapping is a durable row (``lambda_event_source_mappings``). The operations write
AWS's transitional states (``Creating``, ``Updating``, ``Enabling``, ``Disabling``,
``Deleting``) and answer with them; ``settle_mapping``, run right after the commit,
starts, replaces or stops the mapping's poller and then writes the state reached
(``Enabled``, ``Disabled``, or the row gone). ``start`` settles every row when the
platform starts, so pollers resume after a restart and a transition a crash cut short
completes.

Creating (or repointing) a mapping checks, as AWS does, that the function's
execution role may ``sqs:ReceiveMessage``, ``sqs:DeleteMessage`` and
``sqs:GetQueueAttributes`` on the queue: an IAM decision about the role's session
(``Authorizer.permits``), not a reading of policy text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid as uuids
from typing import Any

from sandlot.events.pollers import (
    KINESIS_ACTIONS,
    SQS_ACTIONS,
    STREAM_ACTIONS,
    Mapping,
    compile_filters,
    queue_parts,
    source_service,
)
from sandlot.protocol import ServiceError
from sandlot.services.awslambda.arns import function_arn
from sandlot.services.awslambda.base import LambdaBase, page, validated
from sandlot.services.awslambda.schema import MAPPINGS
from sandlot.services.awslambda.validation import (
    NO_SUCH_RESOURCE,
    check_tags,
    conflict,
    invalid,
    not_found,
)
from sandlot.services.provider import RequestContext

log = logging.getLogger("sandlot.lambda")

SQS_DEFAULT_BATCH = 10
SQS_PLAIN_BATCH_MAX = 10  # beyond this a batching window is required
LIST_MAX = 100
TRANSITIONAL = ("Creating", "Updating", "Enabling", "Disabling", "Deleting")

# Parameters that apply to streams (and Kafka, MQ, DocumentDB), not to SQS queues.
_NOT_FOR_SQS = (
    "StartingPosition",
    "StartingPositionTimestamp",
    "ParallelizationFactor",
    "DestinationConfig",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "TumblingWindowInSeconds",
    "Topics",
    "Queues",
    "SourceAccessConfigurations",
    "SelfManagedEventSource",
    "AmazonManagedKafkaEventSourceConfig",
    "SelfManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig",
)
STREAM_DEFAULT_BATCH = 100
STREAM_BATCH_MAX = 10000
# Parameters of other kinds of sources, refused for a stream.
_NOT_FOR_STREAMS = (
    "ScalingConfig",
    "Topics",
    "Queues",
    "SourceAccessConfigurations",
    "SelfManagedEventSource",
    "AmazonManagedKafkaEventSourceConfig",
    "SelfManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig",
    "StartingPositionTimestamp",
)
# Settings UpdateEventSourceMapping may change for a stream mapping.
_STREAM_UPDATABLE = (
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "FilterCriteria",
    "FunctionResponseTypes",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "ParallelizationFactor",
    "DestinationConfig",
    "TumblingWindowInSeconds",
)
# Settings UpdateEventSourceMapping may change for an SQS mapping.
_UPDATABLE = (
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "FilterCriteria",
    "FunctionResponseTypes",
    "ScalingConfig",
)


# What a stream mapping answers besides the common fields.
_STREAM_OUT = (
    "StartingPosition",
    "StartingPositionTimestamp",
    "ParallelizationFactor",
    "DestinationConfig",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "TumblingWindowInSeconds",
)
TUMBLING_WINDOW_MAX = 900
# Where a stream mapping may send records of the batches it gives up on.
_ON_FAILURE_SERVICES = (["sqs"], ["sns"], ["s3"])


def mapping_arn(region: str, account: str, uuid: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:event-source-mapping:{uuid}"


def in_use(verb: str) -> ServiceError:
    return ServiceError(
        "ResourceInUseException",
        f"Cannot {verb} the event source mapping because it is in use.",
        400,
        Type="User",
    )


class MappingOperations(LambdaBase):
    """The five event source mapping operations, and keeping pollers in step with rows."""

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self._settling: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Settle every mapping (at platform start): pollers resume."""
        await super().start()
        for row in self.store.select(MAPPINGS, order_by=("uuid",)):
            try:
                await self.settle_mapping(row["uuid"])
            except Exception:  # one mapping's trouble must not keep the platform down
                log.exception("event source mapping %s could not resume", row["uuid"])

    # == operations =====================================================================

    @validated
    async def create_event_source_mapping(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        source_arn = params["EventSourceArn"]
        if source_service(source_arn) is None:
            service = source_arn.split(":")[2] if source_arn.count(":") >= 5 else None
            if service in ("kafka", "mq", "rds"):  # AWS's, not sandlot's yet
                raise invalid(f"sandlot does not poll {service} event sources yet.")
            raise invalid("Unrecognized event source.")
        name, qualifier = self._mapping_target(ctx, params["FunctionName"])
        check_tags(params.get("Tags"))
        settings = self._settings(source_arn, params, {}, creating=True)
        await self._check_access(ctx, name, qualifier, source_arn, settings)
        # (After the last await, so two concurrent creates cannot both pass.)
        for row in self.store.select(MAPPINGS, {"source_arn": source_arn}):
            if (row["account"], row["region"], row["function"]) == (account, region, name):
                raise conflict(
                    f'An event source mapping with SQS arn (" {source_arn} ") and function '
                    f'(" {name} ") already exists. Please update or delete the existing '
                    f"mapping with UUID {row['uuid']}"
                )
        now = time.time()
        row = {
            "uuid": str(uuids.uuid4()),
            "account": account,
            "region": region,
            "function": name,
            "qualifier": qualifier,
            "source_arn": source_arn,
            "state": "Creating",
            "state_reason": "USER_INITIATED",
            "last_modified": now,
            "created_at": now,
            "settings": json.dumps(settings),
            "tags": json.dumps(params.get("Tags") or {}),
        }
        self.store.put(MAPPINGS, row)
        self._settle_soon(row["uuid"])
        return self._mapping_out(row)

    @validated
    def get_event_source_mapping(self, ctx: RequestContext, params: dict) -> dict:
        return self._mapping_out(self._mapping_row(ctx, params["UUID"]))

    @validated
    async def update_event_source_mapping(self, ctx: RequestContext, params: dict) -> dict:
        row = self._mapping_row(ctx, params["UUID"])
        if row["state"] in TRANSITIONAL:
            raise in_use("update")
        current = json.loads(row["settings"])
        settings = self._settings(row["source_arn"], params, current, creating=False)
        name, qualifier = row["function"], row["qualifier"]
        if params.get("FunctionName"):
            name, qualifier = self._mapping_target(ctx, params["FunctionName"])
            await self._check_access(ctx, name, qualifier, row["source_arn"], settings)
        was, now_enabled = current["Enabled"], settings["Enabled"]
        if was and not now_enabled:
            state = "Disabling"
        elif now_enabled and not was:
            state = "Enabling"
        else:
            state = "Updating"
        row = {
            **row,
            "function": name,
            "qualifier": qualifier,
            "state": state,
            "state_reason": "USER_INITIATED",
            "last_modified": time.time(),
            "settings": json.dumps(settings),
        }
        self.store.put(MAPPINGS, row)
        self._settle_soon(row["uuid"])
        return self._mapping_out(row)

    @validated
    def delete_event_source_mapping(self, ctx: RequestContext, params: dict) -> dict:
        row = self._mapping_row(ctx, params["UUID"])
        if row["state"] in TRANSITIONAL:
            raise in_use("delete")
        row = {**row, "state": "Deleting", "state_reason": "USER_INITIATED"}
        self.store.put(MAPPINGS, row)
        self._settle_soon(row["uuid"])
        return self._mapping_out(row)

    @validated
    def list_event_source_mappings(self, ctx: RequestContext, params: dict) -> dict:
        where: dict[str, Any] = {"account": ctx.account_id, "region": ctx.region}
        source_arn = params.get("EventSourceArn")
        if source_arn:
            where["source_arn"] = source_arn
        rows = self.store.select(MAPPINGS, where, order_by=("created_at", "uuid"))
        if params.get("FunctionName"):
            name, qualifier = self.locate(ctx, params["FunctionName"])
            rows = [
                r
                for r in rows
                if r["function"] == name and (qualifier is None or r["qualifier"] == qualifier)
            ]
        # AWS returns at most 100 mappings per page, whatever MaxItems says.
        limit = min(params.get("MaxItems") or LIST_MAX, LIST_MAX)
        items, marker = page(rows, {**params, "MaxItems": limit}, key=lambda r: r["uuid"])
        result: dict[str, Any] = {"EventSourceMappings": [self._mapping_out(r) for r in items]}
        if marker:
            result["NextMarker"] = marker
        return result

    # == states and pollers ================================================================

    def _settle_soon(self, uuid: str) -> None:
        """After the request's commit: move the mapping out of its transitional state."""

        async def settle() -> None:
            try:
                await self.settle_mapping(uuid)
            except Exception:
                log.exception("event source mapping %s could not settle", uuid)

        task = asyncio.get_running_loop().create_task(settle())
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def settle_mapping(self, uuid: str) -> None:
        """Make the poller match the row, then record the state reached."""
        pollers = self.platform.pollers
        row = self.store.get(MAPPINGS, uuid)
        if row is None:
            await pollers.stop(uuid)
            return
        if row["state"] == "Deleting":
            await pollers.stop(uuid)
            pollers.forget(uuid)
            self.store.delete(MAPPINGS, uuid)
            return
        settings = json.loads(row["settings"])
        if settings["Enabled"]:
            pollers.run(self._mapping_of(row, settings))
            state = "Enabled"
        else:
            await pollers.stop(uuid)
            state = "Disabled"
        fresh = self.store.get(MAPPINGS, uuid)
        # Unless a newer request changed the row meanwhile (its own settling follows).
        unchanged = fresh is not None and fresh["last_modified"] == row["last_modified"]
        if unchanged and fresh["state"] != state:
            self.store.put(MAPPINGS, {**fresh, "state": state})

    def _mapping_of(self, row: dict, settings: dict) -> Mapping:
        return Mapping(
            uuid=row["uuid"],
            account=row["account"],
            region=row["region"],
            function_name=row["function"],
            function_arn=function_arn(
                row["region"], row["account"], row["function"], row["qualifier"]
            ),
            source_arn=row["source_arn"],
            settings=settings,
        )

    # == helpers =========================================================================

    def _mapping_row(self, ctx: RequestContext, uuid: str) -> dict:
        row = self.store.get(MAPPINGS, uuid)
        if row is None or (row["account"], row["region"]) != (ctx.account_id, ctx.region):
            raise not_found(NO_SUCH_RESOURCE)
        return row

    def _mapping_target(self, ctx: RequestContext, value: str) -> tuple[str, str | None]:
        """(name, qualifier) of the function a mapping invokes; it must exist."""
        name, qualifier = self.locate(ctx, value)
        self.version_for(ctx.account_id, ctx.region, name, qualifier)  # ResourceNotFound
        return name, qualifier

    def _settings(self, source_arn: str, params: dict, current: dict, *, creating: bool) -> dict:
        if source_service(source_arn) in ("dynamodb", "kinesis"):
            kinesis = source_service(source_arn) == "kinesis"
            return self._stream_settings(params, current, creating=creating, kinesis=kinesis)
        return self._sqs_settings(params, current, creating=creating)

    async def _check_access(self, ctx, name, qualifier, source_arn: str, settings: dict) -> None:
        if source_service(source_arn) in ("dynamodb", "kinesis"):
            await self._check_stream_access(ctx, name, qualifier, source_arn)
        else:
            await self._check_queue_access(ctx, name, qualifier, source_arn, settings)

    def _stream_settings(
        self, params: dict, current: dict, *, creating: bool, kinesis: bool = False
    ) -> dict:
        """The settings of a stream mapping (DynamoDB or Kinesis) after ``params``,
        checked as AWS does."""
        for key in _NOT_FOR_STREAMS:
            if key == "StartingPositionTimestamp" and kinesis:
                continue
            if params.get(key) is not None:
                raise invalid(f"Unsupported {key} parameter for given event source mapping type.")
        if creating:
            position = params.get("StartingPosition")
            if position is None:
                raise invalid("1 validation error detected: Value null at 'startingPosition' "
                              "failed to satisfy constraint: Member must not be null")  # fmt: skip
            positions = ("TRIM_HORIZON", "LATEST") + (("AT_TIMESTAMP",) if kinesis else ())
            if position not in positions:
                kind = "Kinesis" if kinesis else "DynamoDB"
                raise invalid(f"Unsupported starting position for {kind} streams: {position}")
            timestamp = params.get("StartingPositionTimestamp")
            if (position == "AT_TIMESTAMP") != (timestamp is not None):
                raise invalid(
                    "StartingPositionTimestamp must be provided if and only if StartingPosition "
                    "is AT_TIMESTAMP."
                )
            current = {
                "StartingPosition": position,
                "BatchSize": STREAM_DEFAULT_BATCH,
                "MaximumBatchingWindowInSeconds": 0,
                "MaximumRetryAttempts": -1,
                "MaximumRecordAgeInSeconds": -1,
                "BisectBatchOnFunctionError": False,
                "ParallelizationFactor": 1,
                "DestinationConfig": {"OnFailure": {}},
                "TumblingWindowInSeconds": 0,
                "FunctionResponseTypes": [],
                "Enabled": True,
            }
            if timestamp is not None:
                # A datetime from the wire; epoch seconds from CloudFormation.
                current["StartingPositionTimestamp"] = (
                    timestamp.timestamp() if hasattr(timestamp, "timestamp") else float(timestamp)
                )
        elif params.get("StartingPosition") is not None:
            raise invalid("Unsupported StartingPosition parameter for update.")
        settings = dict(current)
        for key in _STREAM_UPDATABLE:
            if params.get(key) is not None:
                settings[key] = params[key]
        if params.get("Enabled") is not None:
            settings["Enabled"] = bool(params["Enabled"])
        if not (settings.get("FilterCriteria") or {}).get("Filters"):
            settings.pop("FilterCriteria", None)
        if not 1 <= settings["BatchSize"] <= STREAM_BATCH_MAX:
            raise invalid(f"BatchSize must be between 1 and {STREAM_BATCH_MAX}.")
        retries, age = settings["MaximumRetryAttempts"], settings["MaximumRecordAgeInSeconds"]
        if not -1 <= retries <= 10000:
            raise invalid("MaximumRetryAttempts must be between -1 and 10000.")
        if age != -1 and not 60 <= age <= 604800:
            raise invalid("MaximumRecordAgeInSeconds must be -1 or between 60 and 604800.")
        if not 0 <= settings.get("TumblingWindowInSeconds", 0) <= TUMBLING_WINDOW_MAX:
            raise invalid(f"TumblingWindowInSeconds must be between 0 and {TUMBLING_WINDOW_MAX}.")
        target = (settings["DestinationConfig"].get("OnFailure") or {}).get("Destination")
        if target and target.split(":")[2:3] not in _ON_FAILURE_SERVICES:
            raise invalid("The provided destination config DestinationConfig(onFailure=...) is "
                          "invalid: a stream mapping sends failures to an SQS queue, an SNS "
                          "topic or an S3 bucket.")  # fmt: skip
        compile_filters(settings.get("FilterCriteria"))
        return settings

    async def _check_stream_access(self, ctx, name: str, qualifier, source_arn: str) -> None:
        """As AWS: the function's role must be allowed to read the stream, which must exist."""
        row = self.version_for(ctx.account_id, ctx.region, name, qualifier)
        role_arn = json.loads(row["config"])["Role"]
        principal = self.platform.function_principal(role_arn, name)
        region = source_arn.split(":")[3]
        # GetRecords names its stream by an iterator, which begins with the stream's ARN.
        requests = {"GetRecords": {"ShardIterator": f"{source_arn}|1|0|0"}, "ListStreams": {}}
        kinesis = source_service(source_arn) == "kinesis"
        service = "kinesis" if kinesis else "dynamodbstreams"
        for action in KINESIS_ACTIONS if kinesis else STREAM_ACTIONS:
            params = requests.get(action, {"StreamARN" if kinesis else "StreamArn": source_arn})
            if not self.platform.authorizer.permits(principal, service, action, params, region):
                raise invalid(
                    f"Cannot access stream {source_arn}. Please ensure the role can perform "
                    "the GetRecords, GetShardIterator, DescribeStream, and "
                    f"{'ListShards' if kinesis else 'ListStreams'} Actions on your stream in IAM."
                )
        try:
            await self.platform.call(
                service,
                "DescribeStreamSummary" if kinesis else "DescribeStream",
                {"StreamARN" if kinesis else "StreamArn": source_arn},
                principal=principal,
                region=region,
                record_decisions=False,
            )
        except ServiceError:
            raise invalid(f"Stream not found: {source_arn}") from None

    def _sqs_settings(self, params: dict, current: dict, *, creating: bool) -> dict:
        """The mapping's settings after ``params``, checked as AWS checks SQS mappings."""
        for key in _NOT_FOR_SQS:
            if params.get(key) is not None:
                if key == "StartingPosition":
                    raise invalid("StartingPosition is not valid for SQS event sources.")
                raise invalid(f"Unsupported {key} parameter for given event source mapping type.")
        if creating:
            current = {
                "BatchSize": SQS_DEFAULT_BATCH,
                "MaximumBatchingWindowInSeconds": 0,
                "FunctionResponseTypes": [],
                "Enabled": True,
            }
        settings = dict(current)
        for key in _UPDATABLE:
            if params.get(key) is not None:
                settings[key] = params[key]
        if params.get("Enabled") is not None:
            settings["Enabled"] = bool(params["Enabled"])
        if not (settings.get("FilterCriteria") or {}).get("Filters"):
            settings.pop("FilterCriteria", None)
        if not (settings.get("ScalingConfig") or {}).get("MaximumConcurrency"):
            settings.pop("ScalingConfig", None)
        batch, window = settings["BatchSize"], settings["MaximumBatchingWindowInSeconds"]
        if batch > SQS_PLAIN_BATCH_MAX and window < 1:
            raise invalid(
                "Maximum batch window in seconds must be greater than 0 if maximum batch "
                "size is greater than 10"
            )
        compile_filters(settings.get("FilterCriteria"))  # AWS's error for a bad pattern
        return settings

    async def _check_queue_access(
        self,
        ctx: RequestContext,
        name: str,
        qualifier: str | None,
        source_arn: str,
        settings: dict,
    ) -> None:
        """As AWS: the function's role must be allowed to poll the queue, which must
        exist (and, for a FIFO queue, not be given a batching window)."""
        row = self.version_for(ctx.account_id, ctx.region, name, qualifier)
        role_arn = json.loads(row["config"])["Role"]
        principal = self.platform.function_principal(role_arn, name)
        region, account, queue = queue_parts(source_arn) or ("", "", "")
        url = f"{self.platform.endpoint_url}/{account}/{queue}"
        for action in SQS_ACTIONS:
            params: dict[str, Any] = {"QueueUrl": url}
            if action == "DeleteMessage":
                params["ReceiptHandle"] = "-"
            if not self.platform.authorizer.permits(principal, "sqs", action, params, region):
                raise invalid(
                    f"The provided execution role does not have permissions to call {action} on SQS"
                )
        try:
            await self.platform.call(
                "sqs",
                "GetQueueAttributes",
                {"QueueUrl": url, "AttributeNames": ["FifoQueue"]},
                principal=principal,
                region=region or ctx.region,
                record_decisions=False,
            )
        except ServiceError as error:
            raise invalid(
                f"Error occurred while ReceiveMessage. SQS Error Code: {error.code}. "
                f"SQS Error Message: {error.message}"
            ) from None
        if queue.endswith(".fifo") and settings["MaximumBatchingWindowInSeconds"] > 0:
            raise invalid("Batching window is not supported for FIFO queues")

    def _mapping_out(self, row: dict) -> dict:
        settings = json.loads(row["settings"])
        out: dict[str, Any] = {
            "UUID": row["uuid"],
            "BatchSize": settings["BatchSize"],
            "MaximumBatchingWindowInSeconds": settings["MaximumBatchingWindowInSeconds"],
            "EventSourceArn": row["source_arn"],
            "FunctionArn": function_arn(
                row["region"], row["account"], row["function"], row["qualifier"]
            ),
            "LastModified": row["last_modified"],
            "State": row["state"],
            "StateTransitionReason": row["state_reason"],
            "FunctionResponseTypes": settings.get("FunctionResponseTypes") or [],
            "EventSourceMappingArn": mapping_arn(row["region"], row["account"], row["uuid"]),
        }
        if settings.get("FilterCriteria"):
            out["FilterCriteria"] = settings["FilterCriteria"]
        if settings.get("ScalingConfig"):
            out["ScalingConfig"] = settings["ScalingConfig"]
        for key in _STREAM_OUT:
            if key in settings:
                out[key] = settings[key]
        problem = self.platform.pollers.last_result(row["uuid"])
        if problem and problem.startswith("PROBLEM"):
            out["LastProcessingResult"] = problem
        return out
