"""Amazon CloudWatch metrics: PutMetricData, GetMetricStatistics, GetMetricData (metric
math, simple SEARCH) and ListMetrics, per account and region, over ``storage.py``.

Sandlot's own services publish AWS/* metrics through ``sandlot.metrics`` (buffered,
flushed here in batches by ``ingest``); metric alarms are ``alarms.py``. Other
CloudWatch operations answer 501.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import time
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from sandlot.metrics import UNITS
from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.models import service_model
from sandlot.services.cloudwatch import math as metric_math
from sandlot.services.cloudwatch.alarms import (
    ALARM_MIGRATIONS,
    ALARM_TIMER,
    ALARMS,
    AlarmOperations,
)
from sandlot.services.cloudwatch.storage import (
    MetricStore,
    Scope,
    Series,
    SeriesKey,
    aggregate,
    dimensions_key,
    percentile_rank,
    statistic,
)
from sandlot.services.provider import Provider, RequestContext

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
MAX_METRIC_DATA = 1000
MAX_DIMENSIONS = 30
MAX_VALUES = 150
MAX_DATAPOINTS = 1440  # GetMetricStatistics
MAX_QUERIES = 500  # GetMetricData
MAX_RESULT_POINTS = 100_800  # GetMetricData, per call
LIST_PAGE = 500
# AWS accepts values between these magnitudes (and 0); NaN and infinities are refused.
SMALLEST, LARGEST = 8.515920e-109, 1.174271e108
PAST_LIMIT_S = 14 * 86400  # PutMetricData: up to two weeks old
FUTURE_LIMIT_S = 2 * 3600  # ... and up to two hours ahead
RECENT_S = 3 * 3600  # ListMetrics RecentlyActive=PT3H


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValue", message)


def combination(message: str) -> ServiceError:
    return ServiceError("InvalidParameterCombination", message)


def missing(message: str) -> ServiceError:
    return ServiceError("MissingParameter", message)


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationError", message)


def _seconds(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=dt.UTC).timestamp()
    return float(value)


def _check_value(value: float, where: str) -> None:
    if not math.isfinite(value) or (value != 0 and not SMALLEST <= abs(value) <= LARGEST):
        raise invalid(f"The value {value} for parameter {where} is invalid.")


class CloudWatchProvider(AlarmOperations, Provider):
    """See the module docstring."""

    service = "cloudwatch"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.metrics = MetricStore(platform.store)
        platform.store.migrate("cloudwatch_alarms", ALARM_MIGRATIONS)
        self.store = platform.store
        self.clock: Callable[[], float] = time.time
        platform.timers.register(ALARM_TIMER, self.alarm_round)
        if self.store.select(ALARMS, limit=1):  # alarms kept from before the timer existed
            with self.store.transaction():
                self.schedule_rounds(self.clock())

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """The model's constraints (lengths, ranges, enums, list sizes) answer
        ValidationError, as CloudWatch words them."""
        shape = service_model("cloudwatch").operation_model(ctx.operation).input_shape
        found = constraints.violations(shape, params) if shape is not None else []
        if found:
            raise validation(constraints.summary(found))

    # -- publishing ---------------------------------------------------------------------------

    def put_metric_data(self, ctx: RequestContext, params: dict) -> dict:
        namespace = params["Namespace"]
        if namespace.startswith("AWS/"):
            raise invalid("The value AWS/ for parameter Namespace is invalid.")
        data = params.get("MetricData") or []
        if len(data) > MAX_METRIC_DATA:
            raise invalid(
                f"The collection MetricData must not have a size greater than {MAX_METRIC_DATA}."
            )
        now = self.clock()
        checked = [self._check_datum(datum, i, now) for i, datum in enumerate(data, 1)]
        for datum, stamp in checked:
            self.record(ctx.account_id, ctx.region, namespace, datum, stamp, now)
        return {}

    def _check_datum(self, datum: dict, index: int, now: float) -> tuple[dict, float]:
        where = f"MetricData.member.{index}"
        dims = datum.get("Dimensions") or []
        if len(dims) > MAX_DIMENSIONS:
            raise invalid(
                f"The collection {where}.Dimensions must not have a size greater than "
                f"{MAX_DIMENSIONS}."
            )
        names = [d["Name"] for d in dims]
        if len(set(names)) != len(names):
            raise invalid(f"No metric may have duplicate dimension names: {where}.Dimensions.")
        unit = datum.get("Unit")
        if unit is not None and unit not in UNITS:
            raise invalid(
                f"The parameter {where}.Unit must be a value in the set [ {', '.join(UNITS)} ]."
            )
        given = [k for k in ("Value", "StatisticValues", "Values") if datum.get(k) is not None]
        if len(given) > 1:
            raise combination(
                f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually exclusive "
                "and you have specified both."
            )
        if not given:
            raise missing(
                f"At least one of the parameters {where}.Value, {where}.StatisticValues or "
                f"{where}.Values must be specified."
            )
        if "Value" in given:
            _check_value(datum["Value"], f"{where}.Value")
        if "StatisticValues" in given:
            stats = datum["StatisticValues"]
            for key in ("SampleCount", "Sum", "Minimum", "Maximum"):
                _check_value(stats[key], f"{where}.StatisticValues.{key}")
            if stats["SampleCount"] <= 0:
                raise invalid(
                    f"The value {stats['SampleCount']} for parameter "
                    f"{where}.StatisticValues.SampleCount is invalid."
                )
            if stats["Minimum"] > stats["Maximum"]:
                raise invalid(
                    f"The values for parameters {where}.StatisticValues.Minimum and "
                    f"{where}.StatisticValues.Maximum are invalid: Minimum is greater than Maximum."
                )
        if "Values" in given:
            values, counts = datum["Values"], datum.get("Counts")
            if len(values) > MAX_VALUES:
                raise invalid(
                    f"The collection {where}.Values must not have a size greater than {MAX_VALUES}."
                )
            for i, value in enumerate(values, 1):
                _check_value(value, f"{where}.Values.member.{i}")
            if counts is not None and len(counts) != len(values):
                raise invalid(
                    f"The parameters {where}.Values and {where}.Counts must be of the same size."
                )
        elif datum.get("Counts") is not None:
            raise combination(f"The parameter {where}.Counts can only be used with {where}.Values.")
        resolution = datum.get("StorageResolution")
        if resolution is not None and resolution not in (1, 60):
            raise invalid(
                f"The value {resolution} for parameter {where}.StorageResolution is invalid; "
                "valid values are 1 and 60."
            )
        stamp = _seconds(datum["Timestamp"]) if datum.get("Timestamp") is not None else now
        if stamp < now - PAST_LIMIT_S or stamp > now + FUTURE_LIMIT_S:
            raise invalid(
                f"The parameter {where}.Timestamp must specify a time no more than two weeks "
                "in the past and no more than two hours in the future."
            )
        return datum, stamp

    def record(
        self, account: str, region: str, namespace: str, datum: dict, stamp: float, now: float
    ) -> None:
        """One checked datum into the store (published or emitted by a service)."""
        key: SeriesKey = (
            account, region, namespace, datum["MetricName"], dimensions_key(datum.get("Dimensions"))
        )  # fmt: skip
        unit = datum.get("Unit") or "None"
        sizes = (60, 1) if datum.get("StorageResolution") == 1 else (60,)
        for size in sizes:
            bucket = self.metrics.bucket(key, size, unit, int(stamp), now)
            if datum.get("Value") is not None:
                bucket.add(float(datum["Value"]))
            elif datum.get("StatisticValues") is not None:
                s = datum["StatisticValues"]
                bucket.add_set(s["SampleCount"], s["Sum"], s["Minimum"], s["Maximum"])
            else:
                counts = datum.get("Counts") or [1.0] * len(datum["Values"])
                for value, count in zip(datum["Values"], counts, strict=True):
                    if count > 0:
                        bucket.add(float(value), float(count))

    def ingest(self, series: dict[tuple, list[float]]) -> None:
        """What ``sandlot.metrics`` buffered: the values of each (account, region,
        namespace, name, dimensions, unit, second) from sandlot's own services."""
        now = self.clock()
        for (account, region, namespace, name, dims, unit, second), values in series.items():
            key: SeriesKey = (account, region, namespace, name, dims)
            self.metrics.bucket(key, 60, unit, second, now).add_values(values)

    def flush(self) -> int:
        return self.metrics.flush()

    def sweep(self) -> int:
        return self.metrics.sweep(self.clock())

    # -- GetMetricStatistics ------------------------------------------------------------------

    def get_metric_statistics(self, ctx: RequestContext, params: dict) -> dict:
        stats = params.get("Statistics") or []
        extended = params.get("ExtendedStatistics") or []
        if stats and extended:
            raise combination(
                "The parameters Statistics and ExtendedStatistics are mutually exclusive and you "
                "have specified both."
            )
        if not stats and not extended:
            raise missing("Must specify either Statistics or ExtendedStatistics.")
        for name in stats:
            if name not in STATISTICS:
                raise invalid(
                    f"The parameter Statistics.member.1 must be a value in the set "
                    f"[ {', '.join(STATISTICS)} ]."
                )
        for name in extended:
            if percentile_rank(name) is None:
                raise invalid(f"The value {name} for parameter ExtendedStatistics is not valid.")
        start, end = _seconds(params["StartTime"]), _seconds(params["EndTime"])
        period = params["Period"]
        self._check_window(start, end, period, "GetMetricStatistics")
        points = math.ceil((end - start) / period)
        if points > MAX_DATAPOINTS:
            raise combination(
                f"You have requested up to {points} datapoints, which exceeds the limit of "
                f"{MAX_DATAPOINTS}. You may reduce the datapoints requested by increasing "
                "Period, or decreasing the time range."
            )
        key: SeriesKey = (
            ctx.account_id, ctx.region, params["Namespace"], params["MetricName"],
            dimensions_key(params.get("Dimensions")),
        )  # fmt: skip
        series = self.metrics.get(key)
        datapoints = []
        if series is not None:
            grid_start = int(start) - int(start) % min(period, 60)
            merged = aggregate(series, grid_start, int(end), period, params.get("Unit"))
            for stamp, (bucket, unit) in sorted(merged.items()):
                point: dict[str, Any] = {"Timestamp": stamp, "Unit": unit}
                for name in stats:
                    point[name] = statistic(bucket, name)
                if extended:
                    point["ExtendedStatistics"] = {
                        name: value
                        for name in extended
                        if (value := statistic(bucket, name)) is not None
                    }
                datapoints.append(point)
        return {"Label": params["MetricName"], "Datapoints": datapoints}

    def _check_window(self, start: float, end: float, period: int, operation: str) -> None:
        if start >= end:
            raise invalid("The parameter StartTime must be less than the parameter EndTime.")
        if period <= 0 or (period >= 60 and period % 60) or (period < 60 and 60 % period):
            raise invalid("The parameter Period must be 1, 5, 10, 20, 30, 60, or a multiple of 60.")
        age = self.clock() - start
        # Older data exists only at coarser resolutions (storage.RETENTION).
        for limit, least in ((63 * 86400, 3600), (15 * 86400, 300), (3 * 3600, 60)):
            if age > limit and period % least:
                raise invalid(
                    f"The parameter Period must be a multiple of {least} for data older than "
                    f"{limit // 86400 if limit >= 86400 else 3} "
                    f"{'days' if limit >= 86400 else 'hours'}."
                )

    # -- GetMetricData ------------------------------------------------------------------------

    def get_metric_data(self, ctx: RequestContext, params: dict) -> dict:
        queries = params["MetricDataQueries"]
        if len(queries) > MAX_QUERIES:
            raise validation(
                f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}."
            )
        start, end = _seconds(params["StartTime"]), _seconds(params["EndTime"])
        if start >= end:
            raise validation("The parameter StartTime must be less than the parameter EndTime.")
        ids: dict[str, dict] = {}
        for i, query in enumerate(queries, 1):
            self._check_query(query, i, ids)
        if not any(q.get("ReturnData", True) for q in queries):
            raise validation(
                "Exactly one element of MetricDataQueries must have ReturnData set "
                "to true, or none of them must have ReturnData set to false."
            )
        period = self._period_of(queries)
        grid_start = int(start) - int(start) % min(period, 60)
        timestamps = list(range(grid_start, int(end), period))
        if len(timestamps) > MAX_RESULT_POINTS:  # bounds the work of one call
            raise validation(
                f"The request would return more than {MAX_RESULT_POINTS} datapoints per "
                "metric; reduce the time range or increase the period."
            )
        limit = params.get("MaxDatapoints") or MAX_RESULT_POINTS
        if limit <= 0:
            raise validation("The value for parameter MaxDatapoints must be positive.")
        offset = int(_decode_token(params["NextToken"])) if params.get("NextToken") else 0
        results, labels = self.run_queries(
            Scope(ctx.account_id, ctx.region), queries, timestamps, int(end), period
        )
        return self._results(queries, results, labels, timestamps, params, offset, limit)

    def run_queries(
        self, scope: Scope, queries: list[dict], timestamps: list[int], end: int, period: int
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Every query's values on the grid (id → series, scalar or array) and labels:
        MetricStat queries read the store, expressions evaluate in dependency order
        (GetMetricData, and metric math alarms)."""
        results: dict[str, Any] = {}
        labels: dict[str, str] = {}
        context = metric_math.Context(
            timestamps,
            period,
            results,
            labels,
            lambda text, stat, p: self._search(scope, text, stat, p, timestamps, end),
            [q["Id"] for q in queries if q.get("MetricStat") is not None],
        )
        for query in self._order(queries):
            qid = query["Id"]
            if query.get("MetricStat") is not None:
                stat = query["MetricStat"]
                labels[qid] = query.get("Label") or stat["Metric"]["MetricName"]
                results[qid] = self._series_values(
                    scope, stat["Metric"], stat["Stat"], stat["Period"], stat.get("Unit"),
                    timestamps, end,
                )  # fmt: skip
            else:
                labels[qid] = query.get("Label") or qid
                results[qid] = metric_math.evaluate(query["Expression"], qid, context)
        return results, labels

    def _check_query(self, query: dict, index: int, ids: dict[str, dict]) -> None:
        where = f"MetricDataQueries.member.{index}"
        qid = query["Id"]
        if not qid[:1].islower() or not all(c.isalnum() or c == "_" for c in qid):
            raise validation(
                f"The value {qid} for parameter {where}.Id is not matching the expected pattern "
                "^[a-z][a-zA-Z0-9_]*$."
            )
        if qid in ids:
            raise validation(f"The value {qid} for parameter {where}.Id is duplicated.")
        ids[qid] = query
        has_stat, has_expr = query.get("MetricStat") is not None, bool(query.get("Expression"))
        if has_stat == has_expr:
            raise validation(
                f"Exactly one of the parameters {where}.MetricStat and {where}.Expression must "
                "be specified."
            )
        if has_stat:
            stat = query["MetricStat"]
            if stat["Stat"] not in STATISTICS and percentile_rank(stat["Stat"]) is None:
                raise validation(
                    f"The value {stat['Stat']} for parameter {where}.MetricStat.Stat is not a "
                    "valid statistic."
                )
            period = stat["Period"]
            if period <= 0 or (period >= 60 and period % 60) or (period < 60 and 60 % period):
                raise validation(
                    f"The value {period} for parameter {where}.MetricStat.Period must be 1, 5, "
                    "10, 20, 30, 60, or a multiple of 60."
                )

    @staticmethod
    def _period_of(queries: list[dict]) -> int:
        periods = [q["MetricStat"]["Period"] for q in queries if q.get("MetricStat")]
        periods += [q["Period"] for q in queries if q.get("Period")]
        return min(periods) if periods else 60

    @staticmethod
    def _order(queries: list[dict]) -> list[dict]:
        """Metric queries first, then expressions in dependency order; a reference to an
        unknown id or a cycle is AWS's ValidationError."""
        by_id = {q["Id"]: q for q in queries}
        done: list[dict] = []
        state: dict[str, int] = {}

        def visit(qid: str, path: tuple[str, ...]) -> None:
            if state.get(qid) == 2:
                return
            if state.get(qid) == 1:
                raise validation(f"Circular dependency between expressions: {' -> '.join(path)}.")
            state[qid] = 1
            query = by_id[qid]
            if query.get("Expression"):
                refs = metric_math.references(query["Expression"], qid)
                for ref in sorted(refs):
                    if ref not in by_id:
                        raise validation(
                            f"Error in expression {qid}: Unrecognized metric or expression id "
                            f"'{ref}'"
                        )
                    visit(ref, (*path, ref))
                # METRICS() sees every query before it in the request.
                if "METRICS" in query["Expression"].upper():
                    for other in queries:
                        if other["Id"] != qid and not other.get("Expression"):
                            visit(other["Id"], (*path, other["Id"]))
            state[qid] = 2
            done.append(query)

        for query in queries:
            visit(query["Id"], (query["Id"],))
        return done

    def _series_values(
        self, ctx: Scope, metric: dict, stat: str, period: int, unit: str | None,
        timestamps: list[int], end: int,
    ) -> list[float]:  # fmt: skip
        key: SeriesKey = (
            ctx.account_id, ctx.region, metric["Namespace"], metric["MetricName"],
            dimensions_key(metric.get("Dimensions")),
        )  # fmt: skip
        series = self.metrics.get(key)
        return self._values_of(series, stat, period, unit, timestamps, end)

    @staticmethod
    def _values_of(
        series: Series | None, stat: str, period: int, unit: str | None,
        timestamps: list[int], end: int,
    ) -> list[float]:  # fmt: skip
        if series is None or not timestamps:
            return [math.nan] * len(timestamps)
        direct = _DIRECT.get(stat)
        step = timestamps[1] - timestamps[0] if len(timestamps) > 1 else period
        only = list(series.buckets.items())
        if (
            direct is not None
            and period == step == 60
            and len(only) == 1
            and only[0][0][0] == 60
            and unit in (None, only[0][0][1])
            and timestamps[0] % 60 == 0
        ):
            # The hot case (one unit, one-minute buckets, period a minute): one lookup
            # per timestamp (mapped at C speed), no aggregation.
            found = map(only[0][1].get, timestamps)
            if stat == "Sum":  # the commonest, read without a call per bucket
                return [math.nan if b is None else b.sum for b in found]
            return [math.nan if b is None else direct(b) for b in found]
        merged = aggregate(series, timestamps[0], end, period, unit)
        values = [math.nan] * len(timestamps)
        first, count = timestamps[0], len(values)
        for stamp, (bucket, _unit) in merged.items():
            index = (stamp - first) // step
            if 0 <= index < count:
                value = direct(bucket) if direct is not None else statistic(bucket, stat)
                if value is not None:
                    values[index] = value
        return values

    def _search(
        self, ctx: Scope, text: str, stat: str, period: int,
        timestamps: list[int], end: int,
    ) -> list[tuple[str, list[float]]]:  # fmt: skip
        try:
            namespace, schema, terms = metric_math.parse_search(text)
        except ValueError:
            raise validation(f"Invalid search expression: {text}") from None
        found = []
        for series in self.metrics.matching(ctx.account_id, ctx.region):
            _, _, ns, name, dims = series.key
            names = {n for n, _ in dims}
            if namespace is not None and (ns != namespace or names != set(schema or ())):
                continue
            if not all(_term_matches(prop, value, ns, name, dims) for prop, value in terms):
                continue
            label = " ".join(v for _, v in dims) + (" " if dims else "") + name
            found.append((label, self._values_of(series, stat, period, None, timestamps, end)))
        return sorted(found)

    @staticmethod
    def _results(
        queries: list[dict],
        results: dict,
        labels: dict,
        timestamps: list[int],
        params: dict,
        offset: int,
        limit: int,
    ) -> dict:
        """The results, paged: ``offset`` datapoints (in result order) were returned by
        earlier pages; this page holds at most ``limit``, a result cut short is
        PartialData and NextToken says where the next page starts."""
        descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        out: list[dict] = []
        skip, room = offset, limit
        more = False
        for query in queries:
            if not query.get("ReturnData", True):
                continue
            value = results[query["Id"]]
            if metric_math.is_array(value):
                entries = [(label, s) for label, s in value]
            elif isinstance(value, list):
                entries = [(labels[query["Id"]], value)]
            else:  # a scalar: AWS draws it at every timestamp
                entries = [(labels[query["Id"]], [value] * len(timestamps))]
            for label, values in entries:
                if room <= 0:
                    more = True
                    break
                total = sum(values)  # NaN exactly when a value is NaN (a gap)
                if total == total:  # no gap: all of it, unfiltered
                    stamps, kept = timestamps, values
                else:
                    stamps = [t for t, v in zip(timestamps, values, strict=True) if v == v]
                    kept = [v for v in values if v == v]
                if descending:
                    stamps, kept = stamps[::-1], kept[::-1]
                total = len(kept)
                if skip and skip >= total:  # returned whole by earlier pages
                    skip -= total
                    continue
                stamps, kept = stamps[skip : skip + room], kept[skip : skip + room]
                complete = skip + len(kept) == total
                skip = 0
                room -= len(kept)
                out.append(
                    {
                        "Id": query["Id"],
                        "Label": label,
                        "Timestamps": stamps,
                        "Values": kept,
                        "StatusCode": "Complete" if complete else "PartialData",
                    }
                )
                if not complete:
                    more = True
                    break
            if more:
                break
        answer: dict[str, Any] = {"MetricDataResults": out, "Messages": []}
        if more:
            answer["NextToken"] = _encode_token(str(offset + limit))
        return answer

    # -- ListMetrics --------------------------------------------------------------------------

    def list_metrics(self, ctx: RequestContext, params: dict) -> dict:
        wanted_dims = params.get("Dimensions") or []
        recent = params.get("RecentlyActive")
        if recent is not None and recent != "PT3H":
            raise invalid("The value for parameter RecentlyActive must be PT3H.")
        since = self.clock() - RECENT_S if recent else None
        matches = []
        for series in self.metrics.matching(ctx.account_id, ctx.region):
            _, _, namespace, name, dims = series.key
            if params.get("Namespace") not in (None, namespace):
                continue
            if params.get("MetricName") not in (None, name):
                continue
            if since is not None and series.last_put < since:
                continue
            given = dict(dims)
            if not all(
                d["Name"] in given and d.get("Value") in (None, given[d["Name"]])
                for d in wanted_dims
            ):
                continue
            matches.append(series.key[2:])
        matches.sort(key=_position)
        after = _decode_token(params["NextToken"]) if params.get("NextToken") else None
        if after is not None:
            matches = [m for m in matches if _position(m) > after]
        page, rest = matches[:LIST_PAGE], matches[LIST_PAGE:]
        output: dict[str, Any] = {
            "Metrics": [
                {
                    "Namespace": ns,
                    "MetricName": name,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in dims],
                }
                for ns, name, dims in page
            ]
        }
        if rest:
            output["NextToken"] = _encode_token(_position(page[-1]))
        return output


_DIRECT = {
    "Sum": attrgetter("sum"),
    "SampleCount": attrgetter("count"),
    "Minimum": attrgetter("minimum"),
    "Maximum": attrgetter("maximum"),
}


def _term_matches(prop: str | None, value: str, namespace: str, name: str, dims) -> bool:
    if prop == "MetricName":
        return name == value
    if prop == "Namespace":
        return namespace == value
    if prop is not None:
        return dict(dims).get(prop) == value
    lowered = value.lower()
    return any(lowered in text.lower() for text in (namespace, name, *(v for _, v in dims)))


def _position(match: tuple) -> str:
    namespace, name, dims = match
    return json.dumps([namespace, name, [list(d) for d in dims]])


def _encode_token(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        position = base64.urlsafe_b64decode(token.encode()).decode()
        json.loads(position)
    except (ValueError, UnicodeDecodeError):
        raise ServiceError("InvalidNextToken", "The service couldn't process the token.") from None
    return position
