"""Amazon Data Firehose: delivery streams that buffer records and write them to S3.

A DirectPut stream takes PutRecord/PutRecordBatch; a KinesisStreamAsSource stream reads
its Kinesis stream (every shard, once a second, from the stream's creation time on,
through ``Platform.call`` as the source's role). Records wait in the durable buffer
(``schema.BUFFER``) until the destination's BufferingHints say go: SizeInMBs buffered,
or the oldest record IntervalInSeconds old (the flush loop looks every
``FLUSH_TICK_S``). A flush optionally runs the Lambda transformation processor, then
writes one S3 object (GZIP or as is) named as AWS names them (``keys.py``) with
PutObject as the destination's role, and only then deletes the rows: at least once. A
failed write is retried every 5 seconds; records still undelivered after 24 hours are
discarded, as AWS does.
Records the processor reports ``ProcessingFailed`` (or a failed invocation) go to
the ErrorOutputPrefix as AWS's JSON error records.

Only S3 destinations are served; a request for another destination answers
InvalidArgumentException naming it.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from sandlot.protocol import ServiceError
from sandlot.services.firehose.keys import (
    compile_query,
    expand,
    extract,
    has_expressions,
    object_key,
)
from sandlot.services.firehose.schema import (
    BUFFER,
    DELIVERY_STREAMS,
    MIGRATIONS,
    SOURCE_CHECKPOINTS,
)
from sandlot.services.provider import Provider, RequestContext

log = logging.getLogger("sandlot.firehose")

FLUSH_TICK_S = 0.2
SOURCE_POLL_S = 1.0  # Firehose reads each source shard once a second
RETRY_S = 5.0  # a failed S3 write is retried after this long
MAX_RETRY_S = 24 * 3600.0  # records still undelivered after this are discarded (AWS)
MAX_RECORD = 1000 * 1024
MAX_BATCH_BYTES = 4 * 1024 * 1024
DEFAULT_HINTS = {"SizeInMBs": 5, "IntervalInSeconds": 300}
DESTINATION_ID = "destinationId-000000000001"
_OTHER_DESTINATIONS = {
    "RedshiftDestinationConfiguration": "Redshift",
    "ElasticsearchDestinationConfiguration": "Elasticsearch",
    "AmazonopensearchserviceDestinationConfiguration": "Amazon OpenSearch Service",
    "SplunkDestinationConfiguration": "Splunk",
    "HttpEndpointDestinationConfiguration": "HTTP endpoint",
    "AmazonOpenSearchServerlessDestinationConfiguration": "Amazon OpenSearch Serverless",
    "SnowflakeDestinationConfiguration": "Snowflake",
    "IcebergDestinationConfiguration": "Apache Iceberg",
}


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidArgumentException", message)


def not_found(name: str, account: str) -> ServiceError:
    return ServiceError(
        "ResourceNotFoundException",
        f"Firehose {name} under account {account} not found.",
    )


class FirehoseProvider(Provider):
    service = "firehose"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.store = platform.store
        self.store.migrate("firehose", MIGRATIONS)
        last = self.store.select(BUFFER, order_by=("seq",), descending=True, limit=1)
        self._seq = last[0]["seq"] if last else 0
        self._readers: dict[str, asyncio.Task] = {}
        self._failed_at: dict[str, float] = {}  # stream ARN -> last failed flush

    async def start(self) -> asyncio.Task:
        """The flush loop (the task returned); source readers resume."""
        for row in self.store.select(DELIVERY_STREAMS):
            if row["kind"] == "KinesisStreamAsSource":
                self._read_source(row)
        return asyncio.create_task(self._flush_loop())

    # -- delivery streams ----------------------------------------------------------------

    def _row(self, ctx: RequestContext, name: str) -> dict:
        row = self.store.get(DELIVERY_STREAMS, ctx.account_id, ctx.region, name)
        if row is None:
            raise not_found(name, ctx.account_id)
        return row

    def create_delivery_stream(self, ctx: RequestContext, params: dict) -> dict:
        name = params["DeliveryStreamName"]
        kind = params.get("DeliveryStreamType", "DirectPut")
        for key, label in _OTHER_DESTINATIONS.items():
            if params.get(key):
                raise invalid(f"sandlot delivers to Amazon S3 only; {label} destinations are "
                              "not supported.")  # fmt: skip
        if kind not in ("DirectPut", "KinesisStreamAsSource"):
            raise invalid(f"sandlot does not support DeliveryStreamType {kind}.")
        destination = params.get("ExtendedS3DestinationConfiguration") or params.get(
            "S3DestinationConfiguration"
        )
        if not destination:
            raise invalid("Exactly one destination configuration must be provided.")
        source = params.get("KinesisStreamSourceConfiguration")
        if kind == "KinesisStreamAsSource" and not source:
            raise invalid("KinesisStreamSourceConfiguration is required for a "
                          "KinesisStreamAsSource delivery stream.")  # fmt: skip
        if kind == "DirectPut" and source:
            raise invalid("KinesisStreamSourceConfiguration is only valid for a "
                          "KinesisStreamAsSource delivery stream.")  # fmt: skip
        destination = self._checked_destination(destination)
        if self.store.get(DELIVERY_STREAMS, ctx.account_id, ctx.region, name) is not None:
            raise ServiceError(
                "ResourceInUseException",
                f"Firehose {name} under accountId {ctx.account_id} already exists",
            )
        arn = f"arn:aws:firehose:{ctx.region}:{ctx.account_id}:deliverystream/{name}"
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "arn": arn,
            "kind": kind,
            "source": json.dumps(source) if source else None,
            "destination": json.dumps(destination),
            "version": 1,
            "created": time.time(),
            "tags": json.dumps({t["Key"]: t.get("Value", "") for t in params.get("Tags") or ()}),
        }
        self.store.put(DELIVERY_STREAMS, row)
        if source:
            self._read_source(row)
        return {"DeliveryStreamARN": arn}

    def _checked_destination(self, destination: dict) -> dict:
        out = dict(destination)
        out["BufferingHints"] = {**DEFAULT_HINTS, **(destination.get("BufferingHints") or {})}
        out.setdefault("CompressionFormat", "UNCOMPRESSED")
        if out["CompressionFormat"] not in ("UNCOMPRESSED", "GZIP"):
            raise invalid(f"sandlot supports the CompressionFormats UNCOMPRESSED and GZIP, not "
                          f"{out['CompressionFormat']}.")  # fmt: skip
        prefix, error_prefix = out.get("Prefix"), out.get("ErrorOutputPrefix")
        if has_expressions(prefix) and not error_prefix:
            raise invalid("ErrorOutputPrefix cannot be null or empty when Prefix contains "
                          "expressions.")  # fmt: skip
        processing = out.get("ProcessingConfiguration") or {}
        for processor in processing.get("Processors") or ():
            if processor.get("Type") not in ("Lambda", "MetadataExtraction"):
                raise invalid(f"sandlot supports the Lambda and MetadataExtraction processors, "
                              f"not {processor.get('Type')}.")  # fmt: skip
        partitioned = (out.get("DynamicPartitioningConfiguration") or {}).get("Enabled")
        query = _extraction_query(out)
        if query is not None:
            if not partitioned:
                raise invalid("MetadataExtraction processor requires dynamic partitioning "
                              "to be enabled.")  # fmt: skip
            try:
                compile_query(query)
            except ValueError:
                raise invalid(f"sandlot evaluates MetadataExtractionQuery objects of plain "
                              f"paths ({{key: .path, ...}}), not {query}") from None  # fmt: skip
        # Every partitionKeyFromQuery key the prefix names must come from the query;
        # partitionKeyFromLambda keys need a Lambda processor (which gives them per record).
        partitions = {k: "x" for k, _ in compile_query(query)} if query else {}
        if _lambda_processor(out):
            partitions |= {k: "x" for k in _lambda_keys(prefix)}
        for text in (prefix, error_prefix):
            try:
                expand(
                    text or "", datetime.now(UTC), partitions=partitions if partitioned else None
                )
            except ValueError as error:
                raise invalid(f"The expression {error} in the prefix is not supported.") from None
        if partitioned and not has_expressions(prefix):
            raise invalid("Prefix must contain partitionKeyFrom expressions when dynamic "
                          "partitioning is enabled.")  # fmt: skip
        return out

    def update_destination(self, ctx: RequestContext, params: dict) -> dict:
        row = self._row(ctx, params["DeliveryStreamName"])
        if params["CurrentDeliveryStreamVersionId"] != str(row["version"]):
            raise ServiceError(
                "ConcurrentModificationException",
                f"Cannot update firehose: {row['name']} since the current version id: "
                f"{row['version']} and the specified version id: "
                f"{params['CurrentDeliveryStreamVersionId']} do not match",
            )
        if params["DestinationId"] != DESTINATION_ID:
            raise invalid(f"Destination Id {params['DestinationId']} not found.")
        for key in params:
            if key.endswith("DestinationUpdate") and key not in (
                "ExtendedS3DestinationUpdate", "S3DestinationUpdate"):  # fmt: skip
                raise invalid(f"sandlot delivers to Amazon S3 only; {key} is not supported.")
        update = params.get("ExtendedS3DestinationUpdate") or params.get("S3DestinationUpdate")
        destination = json.loads(row["destination"])
        if update:
            hints = {**destination["BufferingHints"], **(update.get("BufferingHints") or {})}
            destination = self._checked_destination({**destination, **update,
                                                     "BufferingHints": hints})  # fmt: skip
        self.store.put(
            DELIVERY_STREAMS,
            {**row, "destination": json.dumps(destination), "version": row["version"] + 1},
        )
        return {}

    def delete_delivery_stream(self, ctx: RequestContext, params: dict) -> dict:
        row = self._row(ctx, params["DeliveryStreamName"])
        task = self._readers.pop(row["arn"], None)
        if task is not None:
            task.cancel()
        with self.store.transaction():
            self.store.delete(DELIVERY_STREAMS, row["account"], row["region"], row["name"])
            self.store.delete_where(BUFFER, {"stream_arn": row["arn"]})
            self.store.delete_where(SOURCE_CHECKPOINTS, {"stream_arn": row["arn"]})
        return {}

    def describe_delivery_stream(self, ctx: RequestContext, params: dict) -> dict:
        row = self._row(ctx, params["DeliveryStreamName"])
        destination = json.loads(row["destination"])
        extended = {
            "RoleARN": destination["RoleARN"],
            "BucketARN": destination["BucketARN"],
            "Prefix": destination.get("Prefix"),
            "ErrorOutputPrefix": destination.get("ErrorOutputPrefix"),
            "BufferingHints": destination["BufferingHints"],
            "CompressionFormat": destination["CompressionFormat"],
            "EncryptionConfiguration": destination.get("EncryptionConfiguration")
            or {"NoEncryptionConfig": "NoEncryption"},
            "CloudWatchLoggingOptions": destination.get("CloudWatchLoggingOptions")
            or {"Enabled": False},
        }
        plain = dict(extended)
        extended["ProcessingConfiguration"] = destination.get("ProcessingConfiguration") or {
            "Enabled": False,
            "Processors": [],
        }
        extended["S3BackupMode"] = "Disabled"
        out: dict = {
            "DeliveryStreamName": row["name"],
            "DeliveryStreamARN": row["arn"],
            "DeliveryStreamStatus": "ACTIVE",
            "DeliveryStreamEncryptionConfiguration": {"Status": "DISABLED"},
            "DeliveryStreamType": row["kind"],
            "VersionId": str(row["version"]),
            "CreateTimestamp": datetime.fromtimestamp(row["created"], UTC),
            "Destinations": [
                {
                    "DestinationId": DESTINATION_ID,
                    "S3DestinationDescription": plain,
                    "ExtendedS3DestinationDescription": extended,
                }
            ],
            "HasMoreDestinations": False,
        }
        if row["source"]:
            source = json.loads(row["source"])
            out["Source"] = {
                "KinesisStreamSourceDescription": {
                    "KinesisStreamARN": source["KinesisStreamARN"],
                    "RoleARN": source["RoleARN"],
                    "DeliveryStartTimestamp": datetime.fromtimestamp(row["created"], UTC),
                }
            }
        return {"DeliveryStreamDescription": out}

    def list_delivery_streams(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(
            DELIVERY_STREAMS, {"account": ctx.account_id, "region": ctx.region}, order_by=("name",)
        )
        if params.get("DeliveryStreamType"):
            rows = [r for r in rows if r["kind"] == params["DeliveryStreamType"]]
        start = params.get("ExclusiveStartDeliveryStreamName")
        if start:
            rows = [r for r in rows if r["name"] > start]
        limit = params.get("Limit", 10)
        return {
            "DeliveryStreamNames": [r["name"] for r in rows[:limit]],
            "HasMoreDeliveryStreams": len(rows) > limit,
        }

    def tag_delivery_stream(self, ctx: RequestContext, params: dict) -> dict:
        row = self._row(ctx, params["DeliveryStreamName"])
        tags = json.loads(row["tags"])
        tags.update({t["Key"]: t.get("Value", "") for t in params["Tags"]})
        if len(tags) > 50:
            raise ServiceError("LimitExceededException", "A delivery stream can have 50 tags.")
        self.store.put(DELIVERY_STREAMS, {**row, "tags": json.dumps(tags)})
        return {}

    def untag_delivery_stream(self, ctx: RequestContext, params: dict) -> dict:
        row = self._row(ctx, params["DeliveryStreamName"])
        tags = json.loads(row["tags"])
        for key in params["TagKeys"]:
            tags.pop(key, None)
        self.store.put(DELIVERY_STREAMS, {**row, "tags": json.dumps(tags)})
        return {}

    def list_tags_for_delivery_stream(self, ctx: RequestContext, params: dict) -> dict:
        row = self._row(ctx, params["DeliveryStreamName"])
        tags = sorted(json.loads(row["tags"]).items())
        limit = params.get("Limit", 50)
        start = params.get("ExclusiveStartTagKey")
        if start:
            tags = [t for t in tags if t[0] > start]
        return {
            "Tags": [{"Key": k, "Value": v} for k, v in tags[:limit]],
            "HasMoreTags": len(tags) > limit,
        }

    # -- putting records -------------------------------------------------------------------

    def _direct(self, ctx: RequestContext, name: str) -> dict:
        row = self._row(ctx, name)
        if row["kind"] != "DirectPut":
            raise invalid(
                f"This operation is not permitted on KinesisStreamAsSource type DeliveryStream "
                f"{row['arn']}."
            )
        return row

    def _buffer(self, arn: str, datas: list[bytes], arrival: float) -> list[str]:
        """Append records to the durable buffer (in the caller's transaction); record ids."""
        rows, ids = [], []
        for data in datas:
            self._seq += 1
            rows.append(
                {"stream_arn": arn, "seq": self._seq, "data": data, "size": len(data),
                 "arrival": arrival}
            )  # fmt: skip
            # AWS's record ids are long opaque strings; this one is unique and says where.
            ids.append(base64.b64encode(f"{arn}|{self._seq}|{uuid.uuid4()}".encode()).decode())
        self.store.put_many(BUFFER, rows)
        return ids

    def put_record(self, ctx: RequestContext, params: dict) -> dict:
        row = self._direct(ctx, params["DeliveryStreamName"])
        data = bytes(params["Record"]["Data"])
        if len(data) > MAX_RECORD:
            raise invalid(f"Record size exceeds the limit of {MAX_RECORD} bytes.")
        (record_id,) = self._buffer(row["arn"], [data], time.time())
        return {"RecordId": record_id, "Encrypted": False}

    def put_record_batch(self, ctx: RequestContext, params: dict) -> dict:
        row = self._direct(ctx, params["DeliveryStreamName"])
        datas = [bytes(r["Data"]) for r in params["Records"]]
        if sum(len(d) for d in datas) > MAX_BATCH_BYTES:
            raise invalid("Batch size exceeds the limit of 4 MiB.")
        accepted = [d for d in datas if len(d) <= MAX_RECORD]
        with self.store.transaction():
            ids = iter(self._buffer(row["arn"], accepted, time.time()))
        answers = [
            {"RecordId": next(ids)}
            if len(d) <= MAX_RECORD
            else {"ErrorCode": "InvalidArgumentException",
                  "ErrorMessage": f"Record size exceeds the limit of {MAX_RECORD} bytes."}
            for d in datas
        ]  # fmt: skip
        return {
            "FailedPutCount": sum(1 for a in answers if "ErrorCode" in a),
            "Encrypted": False,
            "RequestResponses": answers,
        }

    # -- the Kinesis source ----------------------------------------------------------------

    def _read_source(self, row: dict) -> None:
        task = asyncio.get_event_loop().create_task(self._source_loop(row))
        self._readers[row["arn"]] = task

    async def _source_loop(self, row: dict) -> None:
        source = json.loads(row["source"])
        stream_arn = source["KinesisStreamARN"]
        region = stream_arn.split(":")[3]
        iterators: dict[str, str | None] = {}
        while True:
            try:
                principal = self.platform.function_principal(source["RoleARN"], "firehose")
                shards = (await self.platform.call(
                    "kinesis", "ListShards", {"StreamARN": stream_arn},
                    principal=principal, region=region, record_decisions=False,
                ))["Shards"]  # fmt: skip
                for shard in shards:
                    await self._read_shard(row, stream_arn, shard["ShardId"], iterators, principal)
            except asyncio.CancelledError:
                raise
            except ServiceError as error:
                log.warning("firehose %s: reading %s: %s", row["name"], stream_arn, error)
            except Exception:
                log.exception("firehose %s: reading %s", row["name"], stream_arn)
            await asyncio.sleep(SOURCE_POLL_S)

    async def _read_shard(self, row, stream_arn, shard, iterators, principal) -> None:
        region = stream_arn.split(":")[3]
        iterator = iterators.get(shard)
        if shard in iterators and iterator is None:
            return  # a closed shard read to its end
        if iterator is None:
            checkpoint = self.store.get(SOURCE_CHECKPOINTS, row["arn"], shard)
            params = {"StreamARN": stream_arn, "ShardId": shard}
            if checkpoint:
                params.update(
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    StartingSequenceNumber=checkpoint["seq"],
                )
            else:  # from the delivery stream's creation on (DeliveryStartTimestamp)
                params.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=row["created"])
            iterator = (await self.platform.call(
                "kinesis", "GetShardIterator", params, principal=principal, region=region,
                record_decisions=False,
            ))["ShardIterator"]  # fmt: skip
        try:
            got = await self.platform.call(
                "kinesis", "GetRecords", {"ShardIterator": iterator}, principal=principal,
                region=region, record_decisions=False,
            )  # fmt: skip
        except ServiceError as error:
            if error.code == "ExpiredIteratorException":
                iterators.pop(shard, None)
                return
            raise
        iterators[shard] = got.get("NextShardIterator")
        records = got.get("Records") or []
        if records:
            with self.store.transaction():
                self._buffer(row["arn"], [bytes(r["Data"]) for r in records], time.time())
                self.store.put(
                    SOURCE_CHECKPOINTS,
                    {
                        "stream_arn": row["arn"],
                        "shard": shard,
                        "seq": records[-1]["SequenceNumber"],
                    },
                )

    # -- flushing ------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        try:
            while True:
                await asyncio.sleep(FLUSH_TICK_S)
                for row in self.store.select(DELIVERY_STREAMS):
                    try:
                        await self.flush(row, time.time())
                    except Exception as error:
                        if isinstance(error, ServiceError):
                            log.warning("firehose %s: delivery failed: %s: %s", row["name"],
                                        error.code, error.message)  # fmt: skip
                        else:
                            log.exception("firehose %s: flush failed", row["name"])
                        self._failed_at[row["arn"]] = time.time()
                        # AWS retries every 5 seconds for up to 24 hours, then discards.
                        self.store.delete_where(
                            BUFFER, {"stream_arn": row["arn"]},
                            bounds={"arrival": (None, time.time() - MAX_RETRY_S)},
                        )  # fmt: skip
        finally:
            for task in self._readers.values():
                task.cancel()

    async def flush(self, row: dict, now: float, force: bool = False) -> bool:
        """Write the buffer to S3 if the buffering hints say so; whether it wrote."""
        if now - self._failed_at.get(row["arn"], 0) < RETRY_S and not force:
            return False
        destination = json.loads(row["destination"])
        hints = destination["BufferingHints"]
        limit = hints["SizeInMBs"] * 1024 * 1024
        first = self.store.select(BUFFER, {"stream_arn": row["arn"]}, order_by=("seq",), limit=1)
        if not first:
            return False
        count, size = self.store.total(BUFFER, "size", {"stream_arn": row["arn"]})
        if size < limit and now - first[0]["arrival"] < hints["IntervalInSeconds"] and not force:
            return False
        rows, taken = [], 0
        for r in self.store.select(BUFFER, {"stream_arn": row["arn"]}, order_by=("seq",)):
            if rows and taken + r["size"] > limit:
                break
            rows.append(r)
            taken += r["size"]
        await self._deliver(row, destination, rows)
        self.store.delete_many(BUFFER, [(r["stream_arn"], r["seq"]) for r in rows])
        return True

    async def _deliver(self, row: dict, destination: dict, rows: list[dict]) -> None:
        role = self.platform.function_principal(destination["RoleARN"], "firehose")
        datas, failed = [(r["data"], r, {}) for r in rows], []
        processor = _lambda_processor(destination)
        if processor:
            datas, failed = await self._transform(row, processor, rows, role)
        bucket = destination["BucketARN"].split(":::", 1)[-1]
        compress = destination["CompressionFormat"] == "GZIP"
        groups: dict[tuple, list[bytes]] = {}
        unpartitioned: list[dict] = []
        if (destination.get("DynamicPartitioningConfiguration") or {}).get("Enabled"):
            # One object per distinct set of partition keys (a query over the JSON record).
            query = _extraction_query(destination)
            pairs = compile_query(query) if query else []
            needed = _lambda_keys(destination.get("Prefix"))
            for data, r, from_lambda in datas:
                try:
                    keys = extract(pairs, json.loads(data)) if pairs else {}
                except ValueError:
                    keys = None
                if keys is not None and not needed <= set(from_lambda):
                    keys = None  # the processor gave no value for a key the prefix names
                if keys is None:
                    unpartitioned.append(_error_record(r, "DynamicPartitioning.MetadataExtractionFailed",
                        "Non JSON record provided or the query found no value.", None))  # fmt: skip
                    continue
                keys |= {k: str(from_lambda[k]) for k in needed}
                groups.setdefault(tuple(sorted(keys.items())), []).append(data)
        elif datas:
            groups[()] = [data for data, _, _ in datas]
        for partition, members in groups.items():
            body = b"".join(members)
            key = object_key(
                destination.get("Prefix"), row["name"], row["version"], rows[0]["arrival"],
                compress, partitions=dict(partition),
            )  # fmt: skip
            await self._put(bucket, key, gzip.compress(body) if compress else body, role, row)
        for error_type, records in (("processing-failed", failed),
                                    ("partitioning-failed", unpartitioned)):  # fmt: skip
            if not records:
                continue
            body = b"".join(json.dumps(f).encode() + b"\n" for f in records)
            key = object_key(
                destination.get("ErrorOutputPrefix"), row["name"], row["version"],
                rows[0]["arrival"], compress, error_type=error_type,
            )  # fmt: skip
            await self._put(bucket, key, gzip.compress(body) if compress else body, role, row)

    async def _put(self, bucket: str, key: str, body: bytes, role, row: dict) -> None:
        await self.platform.call(
            "s3", "PutObject", {"Bucket": bucket, "Key": key, "Body": body},
            principal=role, region=row["region"],
        )  # fmt: skip

    async def _transform(self, row, function: str, rows, role) -> tuple[list, list[dict]]:
        """The Lambda processor's answer: the records to deliver (data, row), and AWS's
        error records for those it failed (all of them if the invocation failed)."""
        ids = [f"{r['seq']:020d}" for r in rows]
        event = {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": row["arn"],
            "region": row["region"],
            "records": [
                {"recordId": i, "approximateArrivalTimestamp": int(r["arrival"] * 1000),
                 "data": base64.b64encode(r["data"]).decode()}
                for i, r in zip(ids, rows, strict=True)
            ],
        }  # fmt: skip
        error_code, error_message, results = None, None, {}
        try:
            got = await self.platform.call(
                "lambda", "Invoke", {"FunctionName": function, "Payload": json.dumps(event).encode()},
                principal=role, region=row["region"],
            )  # fmt: skip
            if got.get("FunctionError"):
                error_code, error_message = "Lambda.FunctionError", "The Lambda function failed."
            else:
                answer = json.loads(bytes(got.get("Payload") or b"{}") or b"{}")
                results = {r.get("recordId"): r for r in answer.get("records") or ()}
        except ServiceError as error:
            error_code, error_message = f"Lambda.{error.code}", error.message
        except ValueError:
            error_code, error_message = "Lambda.InvalidResponse", "The response is not JSON."
        out, failed = [], []
        for i, r in zip(ids, rows, strict=True):
            result = results.get(i)
            if error_code is None and result is None:
                code, message = "Lambda.MissingRecordId", f"Record {i} is missing in the response."
            elif error_code is None and result.get("result") == "Ok":
                metadata = result.get("metadata") or {}
                keys = metadata.get("partitionKeys") if isinstance(metadata, dict) else None
                out.append((base64.b64decode(result.get("data") or ""), r, keys or {}))
                continue
            elif error_code is None and result.get("result") == "Dropped":
                continue
            else:
                code, message = error_code or "Lambda.ProcessingFailed", error_message or (
                    "The record was reported ProcessingFailed.")  # fmt: skip
            failed.append(_error_record(r, code, message, function))
        return out, failed


def _lambda_processor(destination: dict) -> str | None:
    processing = destination.get("ProcessingConfiguration") or {}
    if not processing.get("Enabled"):
        return None
    for processor in processing.get("Processors") or ():
        for parameter in processor.get("Parameters") or ():
            if parameter.get("ParameterName") == "LambdaArn":
                return parameter["ParameterValue"]
    return None


def _extraction_query(destination: dict) -> str | None:
    processing = destination.get("ProcessingConfiguration") or {}
    for processor in processing.get("Processors") or ():
        if processor.get("Type") == "MetadataExtraction":
            for parameter in processor.get("Parameters") or ():
                if parameter.get("ParameterName") == "MetadataExtractionQuery":
                    return parameter["ParameterValue"]
    return None


def _error_record(row: dict, code: str, message: str, function: str | None) -> dict:
    """AWS's record of a record that went to the error output."""
    record = {
        "attemptsMade": 1,
        "arrivalTimestamp": int(row["arrival"] * 1000),
        "errorCode": code,
        "errorMessage": message,
        "attemptEndingTimestamp": int(time.time() * 1000),
        "rawData": base64.b64encode(row["data"]).decode(),
    }
    if function:
        record["lambdaArn"] = function
    return record


_LAMBDA_KEY = re.compile(r"!\{partitionKeyFromLambda:([^}]*)\}")


def _lambda_keys(prefix: str | None) -> set[str]:
    """The partitionKeyFromLambda keys a prefix names."""
    return set(_LAMBDA_KEY.findall(prefix or ""))
