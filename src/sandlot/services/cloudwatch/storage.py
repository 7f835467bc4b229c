"""CloudWatch's metric store: per metric, statistic buckets at AWS's resolutions, kept
in memory for fast reads and written through to SQLite in batches.

A metric (a *series*) is (account, region, namespace, name, dimensions). Each
datapoint lands in a one-minute bucket (and, when published with StorageResolution 1,
in a one-second bucket too). A bucket holds AWS's statistic set — SampleCount, Sum,
Minimum, Maximum — per unit, plus the raw values (bounded) that percentiles need.
Retention and roll-up are AWS's: one-second data lives 3 hours; one-minute buckets
older than 15 days merge into five-minute ones, those older than 63 days into
one-hour ones, which go after 455 days (``sweep``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sandlot.store import Migration, Store, Table

HOUR = 3600
DAY = 86400
# (bucket seconds, how long buckets of that size are kept) — AWS's published schedule.
RETENTION = {1: 3 * HOUR, 60: 15 * DAY, 300: 63 * DAY, 3600: 455 * DAY}
ROLL_UP = {60: 300, 300: 3600}  # a bucket past its retention merges into the next size
MAX_VALUES = 1000  # raw values kept per bucket for percentiles (beyond: statistics only)

# Buckets are written in chunks of CHUNK buckets (ten minutes of one-minute buckets): a
# flush writes one row per metric per chunk touched, and rewrites little of a hot one.
CHUNK = 10
POINTS = Table(
    "cloudwatch_points",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "namespace": "TEXT",
        "name": "TEXT",
        "dimensions": "TEXT",  # JSON [[name, value], ...] sorted by name
        "unit": "TEXT",
        "resolution": "INTEGER",  # bucket seconds: 1, 60, 300, 3600
        "chunk": "INTEGER",  # epoch seconds, a multiple of resolution * CHUNK
        # JSON [[start, count, sum, minimum, maximum, values or null], ...]
        "buckets": "TEXT",
    },
    key=("account_id", "region", "namespace", "name", "dimensions", "unit", "resolution", "chunk"),
)
MIGRATIONS = [Migration(1, create=POINTS)]

Dimensions = tuple[tuple[str, str], ...]


class Scope(NamedTuple):
    """Whose metrics a query reads."""

    account_id: str
    region: str


SeriesKey = tuple[str, str, str, str, Dimensions]  # account, region, namespace, name, dims


class Bucket:
    """One statistic set (and its raw values while they fit) for one period."""

    __slots__ = ("count", "sum", "minimum", "maximum", "values")

    def __init__(self) -> None:
        self.count = 0.0
        self.sum = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf
        self.values: list[float] | None = []

    def add(self, value: float, count: float = 1.0) -> None:
        self.count += count
        self.sum += value * count
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value
        if self.values is not None:
            if len(self.values) + count > MAX_VALUES:
                self.values = None
            else:
                self.values.extend([value] * int(count))

    def add_values(self, values: list[float]) -> None:
        """Several single values at once (sandlot's own datapoints, grouped per bucket)."""
        self.count += len(values)
        self.sum += sum(values)
        self.minimum = min(self.minimum, *values)
        self.maximum = max(self.maximum, *values)
        if self.values is not None:
            if len(self.values) + len(values) > MAX_VALUES:
                self.values = None
            else:
                self.values.extend(values)

    def add_set(self, count: float, total: float, minimum: float, maximum: float) -> None:
        """A statistic set: percentiles stay exact only when it is one value (AWS's rule)."""
        self.count += count
        self.sum += total
        self.minimum = min(self.minimum, minimum)
        self.maximum = max(self.maximum, maximum)
        if self.values is not None and (count == 1 or minimum == maximum):
            if len(self.values) + count > MAX_VALUES:
                self.values = None
            else:
                self.values.extend([minimum] * int(count))
        else:
            self.values = None

    def merge(self, other: Bucket) -> None:
        self.count += other.count
        self.sum += other.sum
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        if self.values is not None and other.values is not None:
            if len(self.values) + len(other.values) > MAX_VALUES:
                self.values = None
            else:
                self.values.extend(other.values)
        else:
            self.values = None


@dataclass(slots=True)
class Series:
    key: SeriesKey
    last_put: float = 0.0  # when data was last published (ListMetrics' RecentlyActive)
    # (resolution, unit) → bucket start → Bucket
    buckets: dict[tuple[int, str], dict[int, Bucket]] = field(default_factory=dict)


class MetricStore:
    """All series of all accounts; see the module docstring."""

    def __init__(self, store: Store) -> None:
        store.migrate("cloudwatch", MIGRATIONS)
        self.store = store
        self.series: dict[SeriesKey, Series] = {}
        self._dirty: set[tuple[SeriesKey, int, str, int]] = set()
        self._load()

    def _load(self) -> None:
        for row in self.store.select(POINTS):
            dims = tuple((n, v) for n, v in json.loads(row["dimensions"]))
            key = (row["account_id"], row["region"], row["namespace"], row["name"], dims)
            series = self.series.get(key) or self.series.setdefault(key, Series(key))
            resolution = row["resolution"]
            slot = series.buckets.setdefault((resolution, row["unit"]), {})
            for start, count, total, minimum, maximum, values in json.loads(row["buckets"]):
                bucket = Bucket()
                bucket.count, bucket.sum, bucket.minimum, bucket.maximum = (
                    count,
                    total,
                    minimum,
                    maximum,
                )
                bucket.values = values
                slot[start] = bucket
                series.last_put = max(series.last_put, start + resolution)

    # -- writing ----------------------------------------------------------------------------

    def bucket(self, key: SeriesKey, resolution: int, unit: str, start: int, now: float) -> Bucket:
        """The bucket a datapoint at ``start`` (seconds) goes to, created on first use."""
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = Series(key)
        series.last_put = now
        start -= start % resolution
        slot = series.buckets.get((resolution, unit))
        if slot is None:
            slot = series.buckets[(resolution, unit)] = {}
        found = slot.get(start)
        if found is None:
            found = slot[start] = Bucket()
        self._dirty.add((key, resolution, unit, start - start % (resolution * CHUNK)))
        return found

    def flush(self) -> int:
        """Write the chunks changed since the last flush; how many."""
        if not self._dirty:
            return 0
        dirty, self._dirty = self._dirty, set()
        rows, gone = [], []
        for key, resolution, unit, chunk in dirty:
            series = self.series.get(key)
            slot = (series.buckets.get((resolution, unit)) if series else None) or {}
            span = resolution * CHUNK
            held = [
                [t, b.count, b.sum, b.minimum, b.maximum, b.values]
                for t in range(chunk, chunk + span, resolution)
                if (b := slot.get(t)) is not None
            ]
            ident = (*key[:4], json.dumps([list(d) for d in key[4]]), unit, resolution, chunk)
            if not held:
                gone.append(ident)
                continue
            rows.append(dict(zip(POINTS.key, ident, strict=True), buckets=json.dumps(held)))
        with self.store.transaction():
            if rows:
                self.store.put_many(POINTS, rows)
            if gone:
                self.store.delete_many(POINTS, gone)
        return len(rows) + len(gone)

    def sweep(self, now: float) -> int:
        """AWS's retention and roll-up; how many buckets went or merged."""
        changed = 0
        for key, series in list(self.series.items()):
            for (resolution, unit), slot in list(series.buckets.items()):
                cutoff = now - RETENTION[resolution]
                old = [start for start in slot if start + resolution <= cutoff]
                for start in old:
                    bucket = slot.pop(start)
                    self._dirty.add((key, resolution, unit, start - start % (resolution * CHUNK)))
                    coarser = ROLL_UP.get(resolution)
                    if coarser is not None:
                        target = self.bucket(key, coarser, unit, start, series.last_put)
                        target.merge(bucket)
                    changed += 1
                if not slot:
                    del series.buckets[(resolution, unit)]
            if not series.buckets:
                del self.series[key]
        return changed

    # -- reading ----------------------------------------------------------------------------

    def matching(self, account: str, region: str) -> Iterator[Series]:
        for series in self.series.values():
            if series.key[0] == account and series.key[1] == region:
                yield series

    def get(self, key: SeriesKey) -> Series | None:
        return self.series.get(key)


def aggregate(
    series: Series, start: int, end: int, period: int, unit: str | None
) -> dict[int, tuple[Bucket, str]]:
    """Period start → (the bucket of that period, its unit) over [start, end), periods
    aligned on ``start``. Periods under a minute read one-second buckets, others the
    rest. A period of one stored bucket returns that bucket itself (read only: the hot
    case, period = resolution, copies nothing); several are merged into a new one."""
    sizes: Iterable[int] = (1,) if period < 60 else (60, 300, 3600)
    out: dict[int, tuple[Bucket, str]] = {}
    merged: set[int] = set()
    for (resolution, bucket_unit), slot in series.buckets.items():
        if resolution not in sizes or (unit is not None and bucket_unit != unit):
            continue
        first = start - start % resolution
        if len(slot) < (end - first) // resolution + 1:
            found: Iterable[tuple[int, Bucket]] = [
                (t, b) for t, b in slot.items() if start <= t < end
            ]
        else:
            get = slot.get
            found = [(t, b) for t in range(first, end, resolution) if (b := get(t)) is not None]
        for t, bucket in found:
            if t < start:
                continue
            at = (
                t
                if period == resolution and not (t - start) % period
                else (start + (t - start) // period * period)
            )
            entry = out.get(at)
            if entry is None:
                out[at] = (bucket, bucket_unit)
                continue
            if at not in merged:  # copy before merging into it: stored buckets stay
                copy = Bucket()
                copy.merge(entry[0])
                entry = out[at] = (copy, entry[1])
                merged.add(at)
            entry[0].merge(bucket)
    return out


def statistic(bucket: Bucket, name: str) -> float | None:
    """One of AWS's statistics (SampleCount, Average, Sum, Minimum, Maximum, pNN) of a
    bucket; None when it cannot be computed (a percentile without raw values)."""
    if name == "SampleCount":
        return bucket.count
    if name == "Sum":
        return bucket.sum
    if name == "Average":
        return bucket.sum / bucket.count if bucket.count else None
    if name == "Minimum":
        return bucket.minimum
    if name == "Maximum":
        return bucket.maximum
    rank = percentile_rank(name)
    if rank is None or not bucket.values:
        return None
    ordered = sorted(bucket.values)
    # Nearest rank, as CloudWatch computes percentiles.
    index = max(0, math.ceil(rank / 100 * len(ordered)) - 1)
    return ordered[min(index, len(ordered) - 1)]


def percentile_rank(name: str) -> float | None:
    """``p99`` / ``p99.9`` → the rank; None for anything else."""
    if not name.startswith("p"):
        return None
    try:
        rank = float(name[1:])
    except ValueError:
        return None
    return rank if 0 <= rank <= 100 and name[1:2].isdigit() else None


def dimensions_key(dimensions: Iterable[dict[str, Any]] | None) -> Dimensions:
    """A metric's dimensions in their one canonical order (by name)."""
    return tuple(sorted((d["Name"], d["Value"]) for d in dimensions or ()))
