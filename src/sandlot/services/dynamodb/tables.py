"""The control plane: CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable,
tags, time to live, and the account-level answers SDKs expect (DescribeLimits,
DescribeEndpoints, DescribeContinuousBackups).

A table's ``spec`` (schema.TABLES) holds what its description echoes (key schema,
attribute definitions, billing, indexes with their status, stream, SSE, TTL, deletion
protection); DescribeTable adds the derived parts (counts, sizes, ARNs).

A global secondary index added by UpdateTable is CREATING (table UPDATING) while a
background task writes its rows for the existing items, then ACTIVE; writes made
meanwhile maintain it already, so the backfill and they agree.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sandlot.protocol import ServiceError
from sandlot.services.dynamodb.base import DynamoBase
from sandlot.services.dynamodb.errors import (
    in_use,
    invalid_parameters,
    not_found,
    validation,
)
from sandlot.services.dynamodb.storage import SHARDS, TableInfo
from sandlot.services.dynamodb.values import load_item
from sandlot.services.provider import RequestContext

log = logging.getLogger("sandlot.dynamodb")
BACKFILL_BATCH = 500
MAX_GSIS, MAX_LSIS = 20, 5
FIVE_YEARS_S = 5 * 365 * 86400


def _now() -> float:
    return time.time()


def _throughput(spec: dict | None) -> dict:
    spec = spec or {}
    return {
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": spec.get("ReadCapacityUnits", 0),
        "WriteCapacityUnits": spec.get("WriteCapacityUnits", 0),
    }


def _expired(value: dict | None, now: float) -> bool:
    if not value or "N" not in value:
        return False
    at = float(Decimal(value["N"]))
    return now - FIVE_YEARS_S <= at < now


class TableOperations(DynamoBase):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        self._backfills: set[asyncio.Task] = set()

    # -- validation of a table's shape ----------------------------------------------------

    @staticmethod
    def _check_key_schema(schema: list[dict]) -> None:
        """One HASH element, then at most one RANGE element."""
        kinds = [k.get("KeyType") for k in schema]
        if not kinds or kinds[0] != "HASH":
            raise validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
        if kinds not in (["HASH"], ["HASH", "RANGE"]):
            raise validation(
                "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"
                if len(kinds) == 2
                else "Invalid KeySchema: Too many KeySchemaElements"
            )

    def _billing(self, params: dict, current: dict | None = None) -> tuple[str, dict | None]:
        mode = params.get("BillingMode") or (current or {}).get("BillingMode") or "PROVISIONED"
        throughput = params.get("ProvisionedThroughput")
        if mode == "PROVISIONED":
            throughput = throughput or (current or {}).get("ProvisionedThroughput")
            if not throughput:
                raise invalid_parameters(
                    "ReadCapacityUnits and WriteCapacityUnits must both be specified when "
                    "BillingMode is PROVISIONED"
                )
        elif throughput:
            raise invalid_parameters(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                "BillingMode is PAY_PER_REQUEST"
            )
        return mode, throughput if mode == "PROVISIONED" else None

    def _check_definitions(self, spec: dict) -> None:
        defined = {d["AttributeName"]: d["AttributeType"] for d in spec["AttributeDefinitions"]}
        if len(defined) != len(spec["AttributeDefinitions"]):
            raise invalid_parameters("Cannot have two attributes with the same name")
        used = [k["AttributeName"] for k in spec["KeySchema"]]
        for field in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            for index in spec.get(field) or ():
                used += [k["AttributeName"] for k in index["KeySchema"]]
        missing = [n for n in dict.fromkeys(used) if n not in defined]
        if missing:
            raise invalid_parameters(
                "Some index key attributes are not defined in AttributeDefinitions. Keys: "
                f"[{', '.join(missing)}], AttributeDefinitions: [{', '.join(defined)}]"
            )
        unused = [n for n in defined if n not in used]
        if unused:
            raise invalid_parameters(
                "Number of attributes in KeySchema does not exactly match number of attributes "
                "defined in AttributeDefinitions"
            )

    def _check_indexes(self, spec: dict, mode: str) -> None:
        table_hash = spec["KeySchema"][0]["AttributeName"]
        has_range = len(spec["KeySchema"]) == 2
        names = set()
        lsis = spec.get("LocalSecondaryIndexes") or []
        gsis = spec.get("GlobalSecondaryIndexes") or []
        if len(lsis) > MAX_LSIS or len(gsis) > MAX_GSIS:
            raise ServiceError(
                "LimitExceededException",
                f"One or more parameter values were invalid: Number of "
                f"{'LocalSecondaryIndexes' if len(lsis) > MAX_LSIS else 'GlobalSecondaryIndexes'}"
                " exceeds per-table limit",
            )
        for local, index in [(True, i) for i in lsis] + [(False, i) for i in gsis]:
            name = index["IndexName"]
            if name in names:
                raise invalid_parameters(f"Duplicate index name: {name}")
            names.add(name)
            self._check_key_schema(index["KeySchema"])
            projection = index.get("Projection") or {}
            kind = projection.get("ProjectionType", "ALL")
            if kind != "INCLUDE" and projection.get("NonKeyAttributes"):
                raise invalid_parameters(
                    f"ProjectionType is {kind}, but NonKeyAttributes is specified"
                )
            if local:
                if not has_range:
                    raise invalid_parameters(
                        "Table KeySchema does not have a range key, which is required when "
                        "specifying a LocalSecondaryIndex"
                    )
                if (
                    index["KeySchema"][0]["AttributeName"] != table_hash
                    or len(index["KeySchema"]) != 2
                ):
                    raise invalid_parameters(
                        f"Index KeySchema does not have the same leading hash key as table "
                        f"KeySchema for index: {name}. index hash key: "
                        f"{index['KeySchema'][0]['AttributeName']}, table hash key: {table_hash}"
                    )
            elif mode == "PROVISIONED" and not index.get("ProvisionedThroughput"):
                raise invalid_parameters(
                    "ProvisionedThroughput should not be null for index: " + name
                )
            elif mode == "PAY_PER_REQUEST" and index.get("ProvisionedThroughput"):
                raise invalid_parameters("ProvisionedThroughput should be null for index: " + name)

    @staticmethod
    def _index_spec(index: dict, status: str) -> dict:
        out = {
            "IndexName": index["IndexName"],
            "KeySchema": index["KeySchema"],
            "Projection": index.get("Projection") or {"ProjectionType": "ALL"},
            "IndexStatus": status,
        }
        if index.get("ProvisionedThroughput"):
            out["ProvisionedThroughput"] = index["ProvisionedThroughput"]
        return out

    # -- descriptions ----------------------------------------------------------------------

    def describe(self, info: TableInfo, status: str | None = None) -> dict:
        spec = info.spec
        count, size = self.items.totals(info)  # kept by every write
        created = datetime.fromtimestamp(info.row["created"], UTC)
        out: dict = {
            "AttributeDefinitions": spec["AttributeDefinitions"],
            "TableName": info.name,
            "KeySchema": spec["KeySchema"],
            "TableStatus": status or info.status,
            "CreationDateTime": created,
            "ProvisionedThroughput": _throughput(spec.get("ProvisionedThroughput")),
            "TableSizeBytes": size,
            "ItemCount": count,
            "TableArn": info.arn,
            "TableId": info.table_id,
            "DeletionProtectionEnabled": bool(spec.get("DeletionProtectionEnabled")),
        }
        if spec["BillingMode"] == "PAY_PER_REQUEST" or spec.get("BillingSwitched"):
            out["BillingModeSummary"] = {"BillingMode": spec["BillingMode"]}
            if spec["BillingMode"] == "PAY_PER_REQUEST":
                out["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"] = created
        for field, local in (("LocalSecondaryIndexes", True), ("GlobalSecondaryIndexes", False)):
            described = []
            for index in spec.get(field) or ():
                entry = {
                    "IndexName": index["IndexName"],
                    "KeySchema": index["KeySchema"],
                    "Projection": index["Projection"],
                    "IndexSizeBytes": self.items.totals(info, index["IndexName"])[1],
                    "ItemCount": self.items.totals(info, index["IndexName"])[0],
                    "IndexArn": f"{info.arn}/index/{index['IndexName']}",
                }
                if not local:
                    entry["IndexStatus"] = index.get("IndexStatus", "ACTIVE")
                    if entry["IndexStatus"] == "CREATING":
                        entry["Backfilling"] = True
                    entry["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"))
                described.append(entry)
            if described:
                out[field] = described
        stream = spec.get("StreamSpecification")
        if stream and stream.get("StreamEnabled"):
            out["StreamSpecification"] = stream
            out["LatestStreamLabel"] = spec["LatestStreamLabel"]
            out["LatestStreamArn"] = f"{info.arn}/stream/{spec['LatestStreamLabel']}"
        sse = spec.get("SSESpecification")
        if sse and sse.get("Enabled"):
            key = sse.get("KMSMasterKeyId") or (
                f"arn:aws:kms:{info.row['region']}:{info.row['account']}:alias/aws/dynamodb"
            )
            out["SSEDescription"] = {
                "Status": "ENABLED",
                "SSEType": "KMS",
                "KMSMasterKeyArn": key,
            }
        if spec.get("TableClass"):
            out["TableClassSummary"] = {"TableClass": spec["TableClass"]}
        return out

    def _stream(self, spec: dict, stream: dict | None) -> None:
        """Record a StreamSpecification (the stream itself is served by DynamoDB Streams)."""
        if stream is None:
            return
        if stream.get("StreamEnabled"):
            if not stream.get("StreamViewType"):
                raise invalid_parameters(
                    "StreamSpecification is enabled but StreamViewType is not specified"
                )
            spec["StreamSpecification"] = stream
            spec["LatestStreamLabel"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        else:
            spec.pop("StreamSpecification", None)

    # -- operations --------------------------------------------------------------------------

    def create_table(self, ctx: RequestContext, params: dict) -> dict:
        account, region, name = self.table_ref(ctx, params["TableName"])
        self._check_key_schema(params["KeySchema"])
        mode, throughput = self._billing(params)
        spec: dict = {
            "AttributeDefinitions": params["AttributeDefinitions"],
            "KeySchema": params["KeySchema"],
            "BillingMode": mode,
            "TableStatus": "ACTIVE",
        }
        if throughput:
            spec["ProvisionedThroughput"] = throughput
        if params.get("LocalSecondaryIndexes"):
            spec["LocalSecondaryIndexes"] = [
                self._index_spec(i, "ACTIVE") for i in params["LocalSecondaryIndexes"]
            ]
        if params.get("GlobalSecondaryIndexes"):
            spec["GlobalSecondaryIndexes"] = [
                self._index_spec(i, "ACTIVE") for i in params["GlobalSecondaryIndexes"]
            ]
        self._check_definitions(spec)
        self._check_indexes(spec, mode)
        self._stream(spec, params.get("StreamSpecification"))
        for field in ("SSESpecification", "TableClass", "DeletionProtectionEnabled"):
            if params.get(field) is not None:
                spec[field] = params[field]
        for field in ("OnDemandThroughput", "WarmThroughput", "ResourcePolicy"):
            if params.get(field) is not None:
                raise validation(f"{field} is not supported by sandlot's DynamoDB yet")
        row = {
            "account": account,
            "region": region,
            "name": name,
            "table_id": str(uuid.uuid4()),
            "spec": json.dumps(spec),
            "tags": json.dumps({t["Key"]: t["Value"] for t in params.get("Tags") or ()}),
            "created": _now(),
        }
        with self.store.transaction():
            if self.items.table(account, region, name) is not None:
                raise in_use(f"Table already exists: {name}")
            self.items.save_table(row)
        # AWS answers CREATING; sandlot's table is usable at once, so DescribeTable
        # (and the SDKs' table_exists waiters) see ACTIVE.
        return {"TableDescription": self.describe(TableInfo(row), "CREATING")}

    def describe_table(self, ctx: RequestContext, params: dict) -> dict:
        return {"Table": self.describe(self.table(ctx, params["TableName"]))}

    def list_tables(self, ctx: RequestContext, params: dict) -> dict:
        limit = params.get("Limit") or 100
        names = self.items.table_names(
            ctx.account_id, ctx.region, params.get("ExclusiveStartTableName"), limit + 1
        )
        out: dict = {"TableNames": names[:limit]}
        if len(names) > limit:
            out["LastEvaluatedTableName"] = names[limit - 1]
        return out

    def delete_table(self, ctx: RequestContext, params: dict) -> dict:
        info = self.table(ctx, params["TableName"])
        if info.spec.get("DeletionProtectionEnabled"):
            raise validation(
                "Resource cannot be deleted as it is currently protected against deletion. "
                "Disable deletion protection first."
            )
        description = self.describe(info, "DELETING")
        self.items.drop_table(info)
        return {"TableDescription": description}

    def update_table(self, ctx: RequestContext, params: dict) -> dict:
        info = self.table(ctx, params["TableName"])
        if info.status != "ACTIVE":
            raise in_use(f"Attempt to change a resource which is still in use: Table is being "
                         f"updated: {info.name}")  # fmt: skip
        spec = json.loads(info.row["spec"])
        for field in ("ReplicaUpdates", "OnDemandThroughput", "WarmThroughput",
                      "MultiRegionConsistency", "GlobalTableWitnessUpdates"):  # fmt: skip
            if params.get(field) is not None:
                raise validation(f"{field} is not supported by sandlot's DynamoDB yet")
        if params.get("BillingMode") or params.get("ProvisionedThroughput"):
            mode, throughput = self._billing(params, spec)
            if mode != spec["BillingMode"]:
                spec["BillingSwitched"] = True
            spec["BillingMode"] = mode
            if throughput:
                spec["ProvisionedThroughput"] = throughput
            else:  # on-demand: the indexes' provisioned throughput goes too, as on AWS
                spec.pop("ProvisionedThroughput", None)
                for g in spec.get("GlobalSecondaryIndexes") or ():
                    g.pop("ProvisionedThroughput", None)
        if params.get("AttributeDefinitions"):
            known = {d["AttributeName"]: d for d in spec["AttributeDefinitions"]}
            for d in params["AttributeDefinitions"]:
                known.setdefault(d["AttributeName"], d)
            spec["AttributeDefinitions"] = list(known.values())
        creating = None
        updates = params.get("GlobalSecondaryIndexUpdates") or []
        if sum(1 for u in updates if "Create" in u or "Delete" in u) > 1:
            raise ServiceError(
                "LimitExceededException",
                "Subscriber limit exceeded: Only 1 online index can be created or deleted "
                "simultaneously per table",
            )
        gsis = spec.setdefault("GlobalSecondaryIndexes", [])
        dropped = []
        for update in updates:
            if "Create" in update:
                index = update["Create"]
                if any(g["IndexName"] == index["IndexName"] for g in gsis):
                    raise validation(
                        f"One or more parameter values were invalid: Table already has an "
                        f"index named {index['IndexName']}"
                    )
                gsis.append(self._index_spec(index, "CREATING"))
                creating = index["IndexName"]
            elif "Delete" in update:
                name = update["Delete"]["IndexName"]
                if not any(g["IndexName"] == name for g in gsis):
                    raise not_found(f"Requested resource not found: Index: {name} not found")
                spec["GlobalSecondaryIndexes"] = gsis = [g for g in gsis if g["IndexName"] != name]
                dropped.append(name)
            elif "Update" in update:
                name = update["Update"]["IndexName"]
                found = [g for g in gsis if g["IndexName"] == name]
                if not found:
                    raise not_found(f"Requested resource not found: Index: {name} not found")
                found[0]["ProvisionedThroughput"] = update["Update"].get("ProvisionedThroughput")
        if not gsis:
            spec.pop("GlobalSecondaryIndexes", None)
        self._check_definitions_lenient(spec)
        self._check_indexes(spec, spec["BillingMode"])
        if params.get("StreamSpecification") is not None:
            current = spec.get("StreamSpecification") or {}
            wanted = params["StreamSpecification"]
            if bool(wanted.get("StreamEnabled")) == bool(current.get("StreamEnabled")):
                raise in_use(
                    f"Table already has an enabled stream: TableName: {info.name}"
                    if wanted.get("StreamEnabled")
                    else f"Stream is already disabled: TableName: {info.name}"
                )
            self._stream(spec, wanted)
        for field in ("SSESpecification", "TableClass", "DeletionProtectionEnabled"):
            if params.get(field) is not None:
                spec[field] = params[field]
        if creating:
            spec["TableStatus"] = "UPDATING"
        row = dict(info.row, spec=json.dumps(spec))
        with self.store.transaction():
            for name in dropped:
                self.items.drop_index(info, name)
            self.items.save_table(row)
        updated = TableInfo(row)
        if creating:
            self._start_backfill(updated, creating)
        return {"TableDescription": self.describe(updated)}

    def _check_definitions_lenient(self, spec: dict) -> None:
        """UpdateTable: every key attribute defined (unused definitions are dropped)."""
        defined = {d["AttributeName"] for d in spec["AttributeDefinitions"]}
        used = [k["AttributeName"] for k in spec["KeySchema"]]
        for field in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            for index in spec.get(field) or ():
                used += [k["AttributeName"] for k in index["KeySchema"]]
        missing = [n for n in dict.fromkeys(used) if n not in defined]
        if missing:
            raise invalid_parameters(
                "Some index key attributes are not defined in AttributeDefinitions. Keys: "
                f"[{', '.join(missing)}], AttributeDefinitions: [{', '.join(sorted(defined))}]"
            )
        spec["AttributeDefinitions"] = [
            d for d in spec["AttributeDefinitions"] if d["AttributeName"] in used
        ]

    # -- GSI backfill --------------------------------------------------------------------------

    def _start_backfill(self, info: TableInfo, index_name: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._backfill(info, index_name))
        self._backfills.add(task)
        task.add_done_callback(self._backfills.discard)

    def resume_backfills(self) -> None:
        """Backfills a stopped server left CREATING start again (rows are idempotent)."""
        for info in self.items.all_tables():
            for index in info.indexes.values():
                if index.status == "CREATING":
                    self._start_backfill(info, index.name)

    async def _backfill(self, info: TableInfo, index_name: str) -> None:
        try:
            index = info.indexes[index_name]
            after = None
            while True:
                after = self.items.backfill(info, index, after, BACKFILL_BATCH)
                if after is None:
                    break
                await asyncio.sleep(0)  # let requests through between batches
            with self.store.transaction():
                current = self.items.table(info.row["account"], info.row["region"], info.name)
                if current is None or current.table_id != info.table_id:
                    return
                spec = json.loads(current.row["spec"])
                for g in spec.get("GlobalSecondaryIndexes") or ():
                    if g["IndexName"] == index_name:
                        g["IndexStatus"] = "ACTIVE"
                self.items.recount_index(current, index_name)
                if not any(
                    g.get("IndexStatus") == "CREATING"
                    for g in spec.get("GlobalSecondaryIndexes") or ()
                ):
                    spec["TableStatus"] = "ACTIVE"
                self.items.save_table(dict(current.row, spec=json.dumps(spec)))
        except Exception:
            log.exception("backfill of index %s of %s failed", index_name, info.name)

    # -- tags ----------------------------------------------------------------------------------

    def _tagged(self, ctx: RequestContext, arn: str) -> TableInfo:
        table = arn.split(":table/", 1)[1].split("/")[0] if ":table/" in arn else None
        info = self.items.table(*self.table_ref(ctx, arn)) if table else None
        if info is None or info.arn != arn:
            raise not_found(f"Requested resource not found: ResourcArn: {arn} not found")
        return info

    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        info = self._tagged(ctx, params["ResourceArn"])
        tags = json.loads(info.row["tags"])
        tags.update({t["Key"]: t["Value"] for t in params["Tags"]})
        if len(tags) > 50:
            raise ServiceError("LimitExceededException", "Too many tags")
        self.items.save_table(dict(info.row, tags=json.dumps(tags)))
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        info = self._tagged(ctx, params["ResourceArn"])
        tags = json.loads(info.row["tags"])
        for key in params["TagKeys"]:
            tags.pop(key, None)
        self.items.save_table(dict(info.row, tags=json.dumps(tags)))
        return {}

    def list_tags_of_resource(self, ctx: RequestContext, params: dict) -> dict:
        info = self._tagged(ctx, params["ResourceArn"])
        tags = json.loads(info.row["tags"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}

    # -- time to live --------------------------------------------------------------------------

    def update_time_to_live(self, ctx: RequestContext, params: dict) -> dict:
        info = self.table(ctx, params["TableName"])
        wanted = params["TimeToLiveSpecification"]
        spec = json.loads(info.row["spec"])
        current = spec.get("TimeToLive")
        if wanted["Enabled"] and current:
            raise validation("TimeToLive is already enabled")
        if not wanted["Enabled"] and not current:
            raise validation("TimeToLive is already disabled")
        if not wanted["Enabled"] and current != wanted["AttributeName"]:
            raise validation(
                "TimeToLive is active on a different AttributeName: current AttributeName "
                f"is {current}"
            )
        spec["TimeToLive"] = wanted["AttributeName"] if wanted["Enabled"] else None
        self.items.save_table(dict(info.row, spec=json.dumps(spec)))
        return {"TimeToLiveSpecification": wanted}

    def describe_time_to_live(self, ctx: RequestContext, params: dict) -> dict:
        info = self.table(ctx, params["TableName"])
        attribute = info.spec.get("TimeToLive")
        if attribute:
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED",
                                              "AttributeName": attribute}}  # fmt: skip
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}

    def expire(self, now: float) -> int:
        """Delete the items whose time-to-live attribute (epoch seconds, a Number) has
        passed; AWS ignores values more than five years in the past. How many went."""
        removed = 0
        for info in self.items.all_tables():
            attribute = info.spec.get("TimeToLive")
            if not attribute:
                continue
            after = None
            while True:
                rows = self.items.scan(info, None, (0, SHARDS), after, BACKFILL_BATCH)
                for _, text, _ in rows:
                    item = load_item(text)
                    if _expired(item.get(attribute), now):
                        with self.store.transaction():  # still there and still expired?
                            current = self.items.get(info, *info.key.encode(item))
                            if current is not None and _expired(current.get(attribute), now):
                                self.items.write(info, current, None, expired=True)
                                removed += 1
                if len(rows) < BACKFILL_BATCH:
                    break
                after = rows[-1][0]
        return removed

    # -- account-level answers -----------------------------------------------------------------

    def describe_continuous_backups(self, ctx: RequestContext, params: dict) -> dict:
        self.table(ctx, params["TableName"])
        return {
            "ContinuousBackupsDescription": {
                "ContinuousBackupsStatus": "ENABLED",
                "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
            }
        }

    def describe_limits(self, ctx: RequestContext, params: dict) -> dict:
        return {  # AWS's default quotas
            "AccountMaxReadCapacityUnits": 80000,
            "AccountMaxWriteCapacityUnits": 80000,
            "TableMaxReadCapacityUnits": 40000,
            "TableMaxWriteCapacityUnits": 40000,
        }

    def describe_endpoints(self, ctx: RequestContext, params: dict) -> dict:
        host = ctx.request.headers.get("host") if ctx.request is not None else None
        address = host or self.platform.endpoint_url.split("://", 1)[-1]
        return {"Endpoints": [{"Address": address, "CachePeriodInMinutes": 1440}]}
