"""CloudWatch Logs Insights: StartQuery, GetQueryResults, StopQuery, DescribeQueries and
GetLogRecord, over the engine in ``insights/``.

A query is compiled when it is started (a malformed one is refused at once with AWS's
``MalformedQueryException`` and the position), then run off the event loop over the
events of its groups between ``startTime`` and ``endTime``; its row says ``Running``
until the results are stored with it (``Complete``). A query whose run was cut short by
a restart is run again when its results are asked for, so none stays ``Running``.
Results are kept for 7 days, as in AWS.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services.logs.insights import (
    QueryError,
    check,
    discover,
    format_value,
    parse_query,
    run,
)
from sandlot.services.logs.schema import EVENTS, QUERIES, STREAMS
from sandlot.services.logs.storage import Row
from sandlot.services.logs.validation import invalid_parameter, validated
from sandlot.services.provider import RequestContext

MAX_GROUPS = 50
DEFAULT_LIMIT = 10_000
KEEP_MS = 7 * 24 * 3600 * 1000
SCAN_CHUNK = 5_000


def _malformed(error: QueryError) -> ServiceError:
    failure = ServiceError("MalformedQueryException", error.message)
    failure.fields["queryCompileError"] = {
        "location": {"startCharOffset": error.start, "endCharOffset": error.end},
        "message": error.message,
    }
    return failure


def _not_found() -> ServiceError:
    return ServiceError("ResourceNotFoundException", "The specified query does not exist.")


def _pointer(group_id: str, row: Row) -> str:
    raw = f"{group_id}|{row['stream_id']}|{row['ts']}|{row['seq']}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


class QueryOperations:
    """Mixin of LogsProvider."""

    platform: Any
    storage: Any
    _running_queries: dict[str, asyncio.Task]

    @property
    def _store(self):
        return self.platform.store

    @validated
    def start_query(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("queryLanguage", "CWLI") != "CWLI":
            raise invalid_parameter(
                "sandlot runs Logs Insights QL (queryLanguage CWLI) queries only."
            )
        names = self._query_groups(ctx, params)
        try:
            query = parse_query(params["queryString"])
            check(query)
        except QueryError as error:
            raise _malformed(error) from None
        if params["endTime"] < params["startTime"]:
            raise invalid_parameter("endTime must be greater than or equal to startTime.")
        query_id = str(uuid.uuid4())
        self._store.put(
            QUERIES,
            {
                "query_id": query_id,
                "account_id": ctx.account_id,
                "region": ctx.region,
                "query_string": params["queryString"],
                "groups": json.dumps(names),
                "start_s": params["startTime"],
                "end_s": params["endTime"],
                "query_limit": params.get("limit") or DEFAULT_LIMIT,
                "status": "Running",
                "created_ms": self.now_ms(),
                "results": None,
                "statistics": None,
            },
        )
        self._launch(query_id)
        return {"queryId": query_id}

    def _query_groups(self, ctx: RequestContext, params: dict) -> list[str]:
        given = [
            k for k in ("logGroupName", "logGroupNames", "logGroupIdentifiers") if params.get(k)
        ]
        if len(given) != 1:
            raise invalid_parameter(
                "Exactly one of logGroupName, logGroupNames and logGroupIdentifiers must be "
                "specified."
            )
        if given[0] == "logGroupName":
            names = [params["logGroupName"]]
        elif given[0] == "logGroupNames":
            names = list(params["logGroupNames"])
        else:
            names = [self._identifier_name(ctx, i) for i in params["logGroupIdentifiers"]]
        if len(names) > MAX_GROUPS:
            raise invalid_parameter(f"A query can search at most {MAX_GROUPS} log groups.")
        for name in names:
            self._group(ctx, name)  # ResourceNotFoundException for a missing one
        return names

    def _launch(self, query_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run(query_id))
        self._running_queries[query_id] = task
        task.add_done_callback(lambda _: self._running_queries.pop(query_id, None))

    async def _run(self, query_id: str) -> None:
        row = self._store.get(QUERIES, query_id)
        try:
            results, statistics = await asyncio.to_thread(self._execute, row)
        except Exception:  # a query that breaks the engine fails; it never stays Running
            self._finish(query_id, "Failed", [], {})
            raise
        self._finish(query_id, "Complete", results, statistics)

    def _finish(self, query_id: str, status: str, results: list, statistics: dict) -> None:
        with self._store.transaction():
            row = self._store.get(QUERIES, query_id)
            if row is None or row["status"] != "Running":
                return  # stopped meanwhile
            self._store.put(
                QUERIES,
                {
                    **row,
                    "status": status,
                    "results": json.dumps(results),
                    "statistics": json.dumps(statistics),
                },
            )

    def _execute(self, row: Row) -> tuple[list, dict]:
        query = parse_query(row["query_string"])
        scanned = scanned_bytes = 0

        def events():
            nonlocal scanned, scanned_bytes
            for name in json.loads(row["groups"]):
                group = self.storage.group(row["account_id"], row["region"], name)
                if group is None:
                    continue
                streams = {
                    s["stream_id"]: s["name"]
                    for s in self._store.select(STREAMS, {"group_id": group["group_id"]})
                }
                start_ms, end_ms = row["start_s"] * 1000, row["end_s"] * 1000 + 999
                after = (start_ms, -1)
                while True:
                    chunk = self.storage.scan_group(group["group_id"], after, SCAN_CHUNK)
                    for event in chunk:
                        if event["ts"] > end_ms:
                            return
                        after = (event["ts"], event["seq"])
                        if event["stream_id"] not in streams:
                            continue
                        scanned += 1
                        scanned_bytes += len(event["message"].encode())
                        yield self._fields(group, streams[event["stream_id"]], event)
                    if len(chunk) < SCAN_CHUNK:
                        break

        rows, columns = run(query, events(), row["query_limit"])
        results = [
            [{"field": c, "value": format_value(c, r[c])} for c in columns if r.get(c) is not None]
            for r in rows
        ]
        statistics = {
            "recordsMatched": float(len(rows)),
            "recordsScanned": float(scanned),
            "bytesScanned": float(scanned_bytes),
            "estimatedRecordsSkipped": 0.0,
            "estimatedBytesSkipped": 0.0,
            "logGroupsScanned": float(len(json.loads(row["groups"]))),
        }
        return results, statistics

    @staticmethod
    def _fields(group: Row, stream_name: str, event: Row) -> Row:
        fields: Row = {
            "@timestamp": event["ts"],
            "@message": event["message"],
            "@logStream": stream_name,
            "@log": f"{group['account_id']}:{group['name']}",
            "@ingestionTime": event["ingestion_ms"],
            "@ptr": _pointer(group["group_id"], event),
        }
        return discover(fields, event["message"])

    async def get_query_results(self, ctx: RequestContext, params: dict) -> dict:
        row = self._own_query(ctx, params["queryId"])
        if row["status"] == "Running" and params["queryId"] not in self._running_queries:
            self._launch(row["query_id"])  # cut short by a restart: run it again
        if row["status"] == "Running":
            task = self._running_queries.get(row["query_id"])
            if task is not None:
                await asyncio.wait({task}, timeout=0.2)  # small queries finish at once
            row = self._own_query(ctx, params["queryId"])
        out: dict = {"queryLanguage": "CWLI", "status": row["status"], "results": []}
        if row["results"] is not None:
            out["results"] = json.loads(row["results"])
            out["statistics"] = json.loads(row["statistics"])
        else:
            out["statistics"] = {"recordsMatched": 0.0, "recordsScanned": 0.0, "bytesScanned": 0.0}
        return out

    @validated
    def stop_query(self, ctx: RequestContext, params: dict) -> dict:
        row = self._own_query(ctx, params["queryId"])
        if row["status"] != "Running":
            raise invalid_parameter("Query is not running.")
        self._store.put(
            QUERIES, {**row, "status": "Cancelled", "results": "[]", "statistics": "{}"}
        )
        task = self._running_queries.get(row["query_id"])
        if task is not None:
            task.cancel()
        return {"success": True}

    @validated
    def describe_queries(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("queryLanguage", "CWLI") != "CWLI":
            return {"queries": []}
        rows = self._store.select(
            QUERIES, {"account_id": ctx.account_id, "region": ctx.region}, order_by=("created_ms",)
        )
        cutoff = self.now_ms() - KEEP_MS
        out = []
        for row in reversed(rows):
            if row["created_ms"] < cutoff:
                continue
            groups = json.loads(row["groups"])
            if params.get("logGroupName") and params["logGroupName"] not in groups:
                continue
            if params.get("status") and params["status"] != row["status"]:
                continue
            out.append(
                {
                    "queryLanguage": "CWLI",
                    "queryId": row["query_id"],
                    "queryString": row["query_string"],
                    "status": row["status"],
                    "createTime": row["created_ms"],
                    "logGroupName": groups[0],
                }
            )
        start = int(params["nextToken"]) if str(params.get("nextToken") or "").isdigit() else 0
        size = params.get("maxResults") or 1000
        result: dict = {"queries": out[start : start + size]}
        if start + size < len(out):
            result["nextToken"] = str(start + size)
        return result

    @validated
    def get_log_record(self, ctx: RequestContext, params: dict) -> dict:
        try:
            raw = base64.urlsafe_b64decode(params["logRecordPointer"].encode()).decode()
            group_id, stream_id, ts, seq = raw.split("|")
            event = self._store.get(EVENTS, stream_id, int(ts), int(seq))
        except (ValueError, UnicodeDecodeError):
            event = None
        if event is None or event["group_id"] != group_id:
            raise invalid_parameter("The specified log record pointer is not valid.")
        group = next(
            (
                g
                for g in self.storage.groups(ctx.account_id, ctx.region)
                if g["group_id"] == group_id
            ),
            None,
        )
        stream = next(
            (
                s
                for s in self._store.select(STREAMS, {"group_id": group_id})
                if s["stream_id"] == stream_id
            ),
            None,
        )
        if group is None or stream is None:
            raise invalid_parameter("The specified log record pointer is not valid.")
        fields = self._fields(group, stream["name"], event)
        fields["@timestamp"] = format_value("@timestamp", fields["@timestamp"])
        fields["@ingestionTime"] = format_value("@ingestionTime", fields["@ingestionTime"])
        fields.pop("@ptr")
        return {"logRecord": {k: format_value(k, v) for k, v in fields.items()}}

    def _own_query(self, ctx: RequestContext, query_id: str) -> Row:
        row = self._store.get(QUERIES, query_id)
        if row is None or row["account_id"] != ctx.account_id or row["region"] != ctx.region:
            raise _not_found()
        return row
