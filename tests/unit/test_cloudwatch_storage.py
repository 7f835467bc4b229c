"""CloudWatch's metric store: AWS's retention and roll-up schedule, persistence."""

from __future__ import annotations

from sandlot.services.cloudwatch.storage import DAY, HOUR, MetricStore, aggregate, statistic
from sandlot.store import Store

KEY = ("000000000000", "us-east-1", "App", "Latency", (("Fn", "a"),))
NOW = 1_999_998_000  # a fixed "now", a multiple of an hour


def put(metrics: MetricStore, resolution: int, start: int, *values: float) -> None:
    bucket = metrics.bucket(KEY, resolution, "Milliseconds", start, NOW)
    for value in values:
        bucket.add(value)


def starts(metrics: MetricStore, resolution: int) -> list[int]:
    return sorted(metrics.get(KEY).buckets.get((resolution, "Milliseconds"), {}))


def test_retention_and_roll_up(tmp_path):
    metrics = MetricStore(Store(tmp_path / "db"))
    put(metrics, 1, NOW - 3 * HOUR - 10, 1.0)  # high resolution, past 3 hours: goes
    put(metrics, 1, NOW - 60, 2.0)  # kept
    put(metrics, 60, NOW - 16 * DAY, 5.0, 7.0)  # past 15 days: into a 5-minute bucket
    put(metrics, 60, NOW - 16 * DAY + 60, 3.0)  # the same 5 minutes
    put(metrics, 300, NOW - 64 * DAY, 4.0)  # past 63 days: into an hour
    put(metrics, 3600, NOW - 456 * DAY, 9.0)  # past 455 days: goes
    put(metrics, 60, NOW - 60, 1.0)
    metrics.sweep(NOW)
    assert starts(metrics, 1) == [NOW - 60]
    assert starts(metrics, 60) == [NOW - 60]
    rolled = NOW - 16 * DAY - (NOW - 16 * DAY) % 300
    assert starts(metrics, 300) == [rolled]
    five = metrics.get(KEY).buckets[(300, "Milliseconds")][rolled]
    assert (five.count, five.sum, five.minimum, five.maximum) == (3, 15.0, 3.0, 7.0)
    assert starts(metrics, 3600) == [NOW - 64 * DAY - (NOW - 64 * DAY) % 3600]

    # What a restart reads back is what the sweep left.
    metrics.flush()
    again = MetricStore(Store(tmp_path / "db"))
    for resolution in (1, 60, 300, 3600):
        assert starts(again, resolution) == starts(metrics, resolution)
    reread = again.get(KEY).buckets[(300, "Milliseconds")][rolled]
    assert (reread.count, reread.sum) == (3, 15.0)
    assert statistic(reread, "p50") == 5.0  # raw values survive for percentiles


def test_aggregate_merges_without_touching_stored_buckets(tmp_path):
    metrics = MetricStore(Store(tmp_path / "db"))
    for minute in range(5):
        put(metrics, 60, NOW + minute * 60, float(minute))
    merged = aggregate(metrics.get(KEY), NOW, NOW + 300, 300, None)
    [(bucket, unit)] = merged.values()
    assert (bucket.count, bucket.sum, unit) == (5, 10.0, "Milliseconds")
    # The stored one-minute buckets are unchanged by the merge.
    assert [b.sum for b in metrics.get(KEY).buckets[(60, "Milliseconds")].values()] == [
        0.0, 1.0, 2.0, 3.0, 4.0
    ]  # fmt: skip
    assert aggregate(metrics.get(KEY), NOW, NOW + 300, 300, "Seconds") == {}
