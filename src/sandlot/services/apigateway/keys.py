"""API keys and usage plans: the control plane (Create/Get/Update/Delete ApiKey,
UsagePlan, UsagePlanKey, GetUsage/UpdateUsage) and the data plane's metering.

A method with ``apiKeyRequired`` needs an enabled key (the ``x-api-key`` header, or
the authorizer's ``usageIdentifierKey`` when the API's ``apiKeySource`` is
``AUTHORIZER``) in a usage plan of the API's stage: else 403 ``{"message":"Forbidden"}``.
The plan's (or its API stage's) throttle is a token bucket per key — 429
``{"message":"Too Many Requests"}`` — and its quota counts requests per key and period
(DAY, WEEK, MONTH, UTC) — 429 ``{"message":"Limit Exceeded"}``. The token buckets live
in memory, as AWS's throttling is best effort; the requests a key made are counted per
plan and UTC day in the store (``USAGE``, written by group commit before the request
goes on), so a quota holds across a restart or a kill -9 and GetUsage reads the days.
UpdateUsage's ``replace /remaining`` extends (or cuts) the current period's quota for a
key (``QUOTA_EXTENSIONS``). The counts of a period are read from the store once and
kept in memory from then on.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import string
import time
from dataclasses import dataclass, field

from sandlot.protocol.dataplane import DataPlaneResponse, json_response
from sandlot.services.apigateway import patch
from sandlot.services.apigateway.base import (
    Doc,
    RestApiBase,
    bad_request,
    conflict,
    new_id,
    not_found,
)
from sandlot.services.apigateway.schema import ACCOUNT_ITEMS, QUOTA_EXTENSIONS, USAGE
from sandlot.services.provider import RequestContext
from sandlot.store.group_commit import GroupCommit

_KEY_ALPHABET = string.ascii_letters + string.digits
_PERIODS = ("DAY", "WEEK", "MONTH")
_COUNTERS_KEPT = 10_000


def _key_value() -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(40))


@dataclass
class _Bucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst``."""

    rate: float
    burst: float
    tokens: float
    at: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _period_days(period: str, offset: int, day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of the quota period holding ``day`` (UTC days, weeks from
    Monday, months), shifted by the plan's ``offset`` days."""
    shift = dt.timedelta(days=offset)
    day -= shift
    if period == "DAY":
        first = last = day
    elif period == "WEEK":
        first = day - dt.timedelta(days=day.weekday())
        last = first + dt.timedelta(days=6)
    else:
        first = day.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return first + shift, last + shift


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise bad_request(
            f"Invalid {name} specified: {value}. Expected format: yyyy-MM-dd"
        ) from None


class KeyOperations(RestApiBase):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self._usage_writes = GroupCommit(self.store, USAGE)
        # Loaded from the store on first use, then kept: per (account, region, plan, key
        # id, the period's first day) [requests counted, extension, the period's last
        # day]; per (account, region, plan, key id, day) that day's count.
        self._periods: dict[tuple[str, ...], list] = {}
        self._days: dict[tuple[str, ...], int] = {}
        self._key_index: tuple[int, dict] = (-1, {})

    # -- storage ----------------------------------------------------------------------------

    def _account_items(self, ctx: RequestContext, kind: str) -> list[Doc]:
        rows = self.store.select(ACCOUNT_ITEMS, {"account": ctx.account_id, "region": ctx.region,
                                                 "kind": kind}, order_by=("created",))  # fmt: skip
        return [json.loads(r["doc"]) for r in rows]

    def _account_item(self, ctx: RequestContext, kind: str, item_id: str, label: str) -> Doc:
        row = self.store.get(ACCOUNT_ITEMS, ctx.account_id, ctx.region, kind, item_id)
        if row is None:
            raise not_found(f"Invalid {label} identifier specified")
        return json.loads(row["doc"])

    def _save_account_item(self, ctx: RequestContext, kind: str, item_id: str, doc: Doc) -> None:
        old = self.store.get(ACCOUNT_ITEMS, ctx.account_id, ctx.region, kind, item_id)
        self.store.put(ACCOUNT_ITEMS, {
            "account": ctx.account_id, "region": ctx.region, "kind": kind, "item_id": item_id,
            "created": old["created"] if old else time.time(), "doc": json.dumps(doc)})  # fmt: skip
        self.generation += 1

    def _delete_account_item(self, ctx: RequestContext, kind: str, item_id: str) -> None:
        self.store.delete(ACCOUNT_ITEMS, ctx.account_id, ctx.region, kind, item_id)
        self.generation += 1

    # == API keys ==========================================================================

    def create_api_key(self, ctx: RequestContext, params: dict) -> dict:
        value = params.get("value") or _key_value()
        if len(value) < 20:
            raise bad_request("API Key value should be at least 20 characters")
        if any(k["value"] == value for k in self._account_items(ctx, "apikey")):
            raise conflict("API Key already exists")
        now = time.time()
        doc: Doc = {
            "id": new_id(10),
            "value": value,
            "name": params.get("name") or "",
            "enabled": bool(params.get("enabled", False)),
            "createdDate": now,
            "lastUpdatedDate": now,
            "stageKeys": [
                f"{s['restApiId']}/{s['stageName']}" for s in params.get("stageKeys") or []
            ],
            "tags": params.get("tags") or {},
        }
        for name in ("description", "customerId"):
            if params.get(name):
                doc[name] = params[name]
        self._save_account_item(ctx, "apikey", doc["id"], doc)
        return doc

    def get_api_key(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._account_item(ctx, "apikey", params["apiKey"], "API Key")
        if not params.get("includeValue"):
            doc.pop("value")
        return doc

    def get_api_keys(self, ctx: RequestContext, params: dict) -> dict:
        items = self._account_items(ctx, "apikey")
        if params.get("nameQuery"):
            items = [k for k in items if k["name"].startswith(params["nameQuery"])]
        if not params.get("includeValues"):
            for item in items:
                item.pop("value")
        return {"items": items}

    def update_api_key(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._account_item(ctx, "apikey", params["apiKey"], "API Key")
        patch.apply(doc, params.get("patchOperations") or [],
                    ("name", "description", "enabled", "customerId"), {"enabled": bool})  # fmt: skip
        doc["lastUpdatedDate"] = time.time()
        self._save_account_item(ctx, "apikey", doc["id"], doc)
        doc.pop("value")
        return doc

    def delete_api_key(self, ctx: RequestContext, params: dict) -> dict:
        self._account_item(ctx, "apikey", params["apiKey"], "API Key")
        with self.store.transaction():
            self._delete_account_item(ctx, "apikey", params["apiKey"])
            for plan in self._account_items(ctx, "usageplan"):
                self._delete_account_item(ctx, "usageplankey", f"{plan['id']}/{params['apiKey']}")
        return {}

    # == usage plans =======================================================================

    def create_usage_plan(self, ctx: RequestContext, params: dict) -> dict:
        doc: Doc = {"id": new_id(6), "name": params["name"],
                    "apiStages": params.get("apiStages") or [], "tags": params.get("tags") or {}}  # fmt: skip
        for name in ("description", "throttle", "quota"):
            if params.get(name):
                doc[name] = params[name]
        self._check_plan(ctx, doc)
        self._save_account_item(ctx, "usageplan", doc["id"], doc)
        return doc

    def _check_plan(self, ctx: RequestContext, doc: Doc) -> None:
        quota = doc.get("quota")
        if quota and quota.get("period") not in _PERIODS:
            raise bad_request("Invalid quota period specified. Valid options are DAY,WEEK,MONTH")
        for stage in doc["apiStages"]:
            self._api(ctx, stage.get("apiId", ""))
            if self._item(stage["apiId"], "stage", stage.get("stage", "")) is None:
                raise bad_request(f"Invalid stage identifier specified: {stage.get('stage')}")

    def get_usage_plan(self, ctx: RequestContext, params: dict) -> dict:
        return self._account_item(ctx, "usageplan", params["usagePlanId"], "Usage Plan")

    def get_usage_plans(self, ctx: RequestContext, params: dict) -> dict:
        items = self._account_items(ctx, "usageplan")
        if params.get("keyId"):
            items = [p for p in items if self.store.get(ACCOUNT_ITEMS, ctx.account_id, ctx.region,
                                                        "usageplankey", f"{p['id']}/{params['keyId']}")]  # fmt: skip
        return {"items": items}

    def update_usage_plan(self, ctx: RequestContext, params: dict) -> dict:
        doc = self.get_usage_plan(ctx, params)
        for operation in params.get("patchOperations") or []:
            path, op = str(operation.get("path") or ""), operation.get("op")
            if path == "/apiStages" and op in ("add", "remove"):
                api_id, _, stage = str(operation.get("value") or "").partition(":")
                entry = {"apiId": api_id, "stage": stage}
                if op == "add":
                    doc["apiStages"].append(entry)
                else:
                    doc["apiStages"] = [s for s in doc["apiStages"]
                                        if (s["apiId"], s["stage"]) != (api_id, stage)]  # fmt: skip
                continue
            group, _, name = path.strip("/").partition("/")
            if group in ("throttle", "quota") and name:
                kinds = {"burstLimit": int, "rateLimit": float, "limit": int, "offset": int}
                patch.apply(doc, [{**operation, "path": f"/{group}/{name}"}], (group,),
                            {})  # fmt: skip
                if name in kinds:
                    doc[group][name] = kinds[name](doc[group][name])
                continue
            patch.apply(doc, [operation], ("name", "description"))
        self._check_plan(ctx, doc)
        self._save_account_item(ctx, "usageplan", doc["id"], doc)
        return doc

    def delete_usage_plan(self, ctx: RequestContext, params: dict) -> dict:
        plan = self.get_usage_plan(ctx, params)
        owned = {"account": ctx.account_id, "region": ctx.region, "plan_id": plan["id"]}
        with self.store.transaction():
            for key in self._plan_keys(ctx, plan["id"]):
                self._delete_account_item(ctx, "usageplankey", f"{plan['id']}/{key['id']}")
            self._delete_account_item(ctx, "usageplan", plan["id"])
            self.store.delete_where(USAGE, owned)
            self.store.delete_where(QUOTA_EXTENSIONS, owned)
        self._periods.clear()
        self._days.clear()
        return {}

    # == usage =============================================================================

    def get_usage(self, ctx: RequestContext, params: dict) -> dict:
        plan = self.get_usage_plan(ctx, params)
        first = _date(params["startDate"], "startDate")
        last = _date(params["endDate"], "endDate")
        if last < first:
            raise bad_request("The end date must not be before the start date")
        keys = sorted(k["id"] for k in self._plan_keys(ctx, plan["id"]))
        if params.get("keyId"):
            keys = [k for k in keys if k == params["keyId"]]
        limit = int(params.get("limit") or 25)
        keys = [k for k in keys if k > (params.get("position") or "")]
        output: dict = {"usagePlanId": plan["id"], "startDate": first.isoformat(),
                        "endDate": last.isoformat(),
                        "items": {k: self._daily(ctx, plan, k, first, last) for k in keys[:limit]}}  # fmt: skip
        if len(keys) > limit:
            output["position"] = keys[limit - 1]
        return output

    def update_usage(self, ctx: RequestContext, params: dict) -> dict:
        plan = self.get_usage_plan(ctx, params)
        key_id = params["keyId"]
        self._account_item(ctx, "usageplankey", f"{plan['id']}/{key_id}", "Usage Plan Key")
        quota = plan.get("quota")
        for operation in params.get("patchOperations") or []:
            if operation.get("op") != "replace" or operation.get("path") != "/remaining":
                raise bad_request(
                    f"Invalid patch path '{operation.get('path')}' specified for op "
                    f"'{operation.get('op')}'. Must be one of: [/remaining]"
                )
            if not quota:
                raise bad_request("Usage plan does not have a quota")
            try:
                remaining = int(operation.get("value"))
            except (TypeError, ValueError):
                raise bad_request(f"Invalid remaining value: {operation.get('value')}") from None
            counter, used, _ = self._period_counter(ctx.account_id, ctx.region, plan, key_id)
            extra = remaining + used - int(quota["limit"])
            self.store.put(QUOTA_EXTENSIONS, {"account": ctx.account_id, "region": ctx.region,
                                              "plan_id": plan["id"], "key_id": key_id,
                                              "period": counter[4], "extra": extra})  # fmt: skip
            self._periods[counter][1] = extra
        today = _today()
        first = (
            _period_days(quota["period"], int(quota.get("offset") or 0), today)[0]
            if quota
            else today
        )
        return {"usagePlanId": plan["id"], "startDate": first.isoformat(),
                "endDate": today.isoformat(),
                "items": {key_id: self._daily(ctx, plan, key_id, first, today)}}  # fmt: skip

    def _daily(
        self, ctx: RequestContext, plan: Doc, key_id: str, first: dt.date, last: dt.date
    ) -> list[list[int]]:
        """[used, remaining] per day from ``first`` to ``last``: the day's requests, and
        what the key's quota had left at its end (0 without a quota)."""
        where = {"account": ctx.account_id, "region": ctx.region, "plan_id": plan["id"],
                 "key_id": key_id}  # fmt: skip
        quota = plan.get("quota")
        start = first
        if quota:  # the quota's first period in the range may begin earlier
            start = _period_days(quota["period"], int(quota.get("offset") or 0), first)[0]
        rows = self.store.select(USAGE, where, bounds={"day": (start.isoformat(), (last + dt.timedelta(days=1)).isoformat())})  # fmt: skip
        used = {row["day"]: row["used"] for row in rows}
        for (acct, reg, plan_id, key, day), count in self._days.items():  # not yet committed
            if (acct, reg, plan_id, key) == (ctx.account_id, ctx.region, plan["id"], key_id):
                used[day] = max(used.get(day, 0), count)
        out, day, period, counted, extra = [], start, None, 0, 0
        while day <= last:
            count = used.get(day.isoformat(), 0)
            if quota:
                first_day = _period_days(quota["period"], int(quota.get("offset") or 0), day)[0]
                if first_day != period:
                    period, counted = first_day, 0
                    row = self.store.get(
                        QUOTA_EXTENSIONS,
                        ctx.account_id,
                        ctx.region,
                        plan["id"],
                        key_id,
                        first_day.isoformat(),
                    )
                    extra = row["extra"] if row else 0
                counted += count
            if day >= first:
                remaining = max(0, int(quota["limit"]) + extra - counted) if quota else 0
                out.append([count, remaining])
            day += dt.timedelta(days=1)
        return out

    def create_usage_plan_key(self, ctx: RequestContext, params: dict) -> dict:
        plan = self.get_usage_plan(ctx, params)
        if params["keyType"] != "API_KEY":
            raise bad_request("Invalid key type specified. Valid options are API_KEY")
        key = self._account_item(ctx, "apikey", params["keyId"], "API Key")
        item_id = f"{plan['id']}/{key['id']}"
        if self.store.get(ACCOUNT_ITEMS, ctx.account_id, ctx.region, "usageplankey", item_id):
            raise conflict("Usage Plan Key already exists")
        self._save_account_item(ctx, "usageplankey", item_id, {"id": key["id"]})
        return {"id": key["id"], "type": "API_KEY", "value": key["value"], "name": key["name"]}

    def get_usage_plan_keys(self, ctx: RequestContext, params: dict) -> dict:
        self.get_usage_plan(ctx, params)
        return {"items": self._plan_keys(ctx, params["usagePlanId"])}

    def get_usage_plan_key(self, ctx: RequestContext, params: dict) -> dict:
        self._account_item(ctx, "usageplankey", f"{params['usagePlanId']}/{params['keyId']}",
                           "Usage Plan Key")  # fmt: skip
        key = self._account_item(ctx, "apikey", params["keyId"], "API Key")
        return {"id": key["id"], "type": "API_KEY", "value": key["value"], "name": key["name"]}

    def delete_usage_plan_key(self, ctx: RequestContext, params: dict) -> dict:
        item_id = f"{params['usagePlanId']}/{params['keyId']}"
        self._account_item(ctx, "usageplankey", item_id, "Usage Plan Key")
        self._delete_account_item(ctx, "usageplankey", item_id)
        return {}

    def _plan_keys(self, ctx: RequestContext, plan_id: str) -> list[Doc]:
        keys = []
        for entry in self._account_items(ctx, "usageplankey"):
            row = self.store.get(ACCOUNT_ITEMS, ctx.account_id, ctx.region, "apikey", entry["id"])
            if row is not None and self.store.get(ACCOUNT_ITEMS, ctx.account_id, ctx.region,
                                                  "usageplankey", f"{plan_id}/{entry['id']}"):  # fmt: skip
                key = json.loads(row["doc"])
                keys.append({"id": key["id"], "type": "API_KEY", "value": key["value"],
                             "name": key["name"]})  # fmt: skip
        return keys

    # == data plane ========================================================================

    async def meter(
        self, account: str, region: str, api_id: str, stage: str, value: str | None
    ) -> DataPlaneResponse | None:
        """None when the key may make this request now (it is then counted, durably),
        else AWS's 403 or 429."""
        plans = self._plans_for_key(account, region, value) if value else []
        found = next(((k, p) for k, p in plans if _stage_of(p, api_id, stage) is not None), None)
        if found is None:
            return _refusal(403, "Forbidden", "ForbiddenException")
        key_id, plan = found
        key = (plan["id"], value or "", f"{api_id}/{stage}")
        throttle = _stage_of(plan, api_id, stage).get("throttle", {}).get("*/*") or plan.get(
            "throttle"
        )
        if throttle:
            limits = (*key, json.dumps(throttle, sort_keys=True))  # a changed plan: a new bucket
            bucket = self._buckets.get(limits)
            if bucket is None:
                rate = float(throttle.get("rateLimit") or 0)
                burst = float(throttle.get("burstLimit") or rate or 1)
                bucket = self._buckets[limits] = _Bucket(rate, max(burst, 1), max(burst, 1))
            if not bucket.take():
                return _refusal(429, "Too Many Requests", "TooManyRequestsException")
        quota = plan.get("quota")
        if quota:
            counter, used, extra = self._period_counter(account, region, plan, key_id)
            if used >= int(quota["limit"]) + extra:
                return _refusal(429, "Limit Exceeded", "LimitExceededException")
            self._periods[counter][0] = used + 1
        # Counted before anything awaits (so concurrent requests see it), answered once
        # the count is committed.
        day = (account, region, plan["id"], key_id, _today().isoformat())
        count = self._days.get(day)
        if count is None:
            if len(self._days) >= _COUNTERS_KEPT:  # past days are never counted again
                self._days = {k: v for k, v in self._days.items() if k[4] == day[4]}
            row = self.store.get(USAGE, *day)
            count = row["used"] if row else 0
        self._days[day] = count + 1
        await self._usage_writes.put(dict(zip(USAGE.key, day, strict=True), used=count + 1))
        return None

    def _period_counter(
        self, account: str, region: str, plan: Doc, key_id: str
    ) -> tuple[tuple[str, ...], int, int]:
        """(counter, requests counted, quota extension) of the key's current quota period,
        read from the store on first use."""
        quota = plan["quota"]
        today = _today()
        first, last = _period_days(quota["period"], int(quota.get("offset") or 0), today)
        counter = (account, region, plan["id"], key_id, first.isoformat())
        entry = self._periods.get(counter)
        if entry is None:
            if len(self._periods) >= _COUNTERS_KEPT:  # ended periods are never read again
                self._periods = {k: v for k, v in self._periods.items() if v[2] >= today}
            where = dict(zip(USAGE.key[:4], counter[:4], strict=True))
            beyond = (last + dt.timedelta(days=1)).isoformat()
            rows = self.store.select(USAGE, where, bounds={"day": (first.isoformat(), beyond)})
            extension = self.store.get(QUOTA_EXTENSIONS, *counter)
            entry = self._periods[counter] = [
                sum(row["used"] for row in rows),
                extension["extra"] if extension else 0,
                last,
            ]
        return counter, entry[0], entry[1]

    def key_id(self, account: str, region: str, value: str) -> str | None:
        """The id of the enabled API key ``value`` (in a usage plan)."""
        plans = self._plans_for_key(account, region, value)
        return plans[0][0] if plans else None

    def _plans_for_key(self, account: str, region: str, value: str) -> list[tuple[str, Doc]]:
        """(key id, usage plan) for each plan holding the enabled key ``value`` (an
        index rebuilt after writes)."""
        generation, index = self._key_index
        if generation != self.generation:
            index = {}
            rows = self.store.select(ACCOUNT_ITEMS, {})
            docs = {(r["account"], r["region"], r["kind"], r["item_id"]): json.loads(r["doc"])
                    for r in rows}  # fmt: skip
            for acct, reg, kind, item_id in docs:
                if kind != "usageplankey":
                    continue
                plan_id, key_id = item_id.split("/", 1)
                key = docs.get((acct, reg, "apikey", key_id))
                plan = docs.get((acct, reg, "usageplan", plan_id))
                if key is not None and plan is not None and key.get("enabled"):
                    index.setdefault((acct, reg, key["value"]), []).append((key["id"], plan))
            self._key_index = (self.generation, index)
        return index.get((account, region, value), [])


def _refusal(status: int, message: str, kind: str) -> DataPlaneResponse:
    return json_response(status, {"message": message}, [("x-amzn-ErrorType", kind)])


def _stage_of(plan: Doc, api_id: str, stage: str) -> Doc | None:
    return next((s for s in plan.get("apiStages") or []
                 if s.get("apiId") == api_id and s.get("stage") == stage), None)  # fmt: skip
