"""Event-pattern matching benchmark: a ~1 KB event against a 10-field pattern.

The pattern mixes the operators a real rule uses (exact, prefix, suffix, anything-but,
numeric ranges, exists, cidr, equals-ignore-case, wildcard, $or); it is compiled once, as
a rule or subscription keeps it, then each match is timed. Reports p50/p99 in
microseconds for a matching event, a non-matching one (fails on the last field checked),
matching the JSON text (parse included, as a Lambda body is), compiling the pattern, and
the cached compile of a pattern text seen before.

    python bench/patterns.py [--n 20000]

Target (issue 11/15): microseconds per match.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

from sandlot.events.patterns import compile_event_pattern

PATTERN = {
    "source": ["aws.ec2", "aws.autoscaling"],
    "detail-type": [{"prefix": "EC2 Instance"}],
    "region": [{"anything-but": ["cn-north-1", "us-gov-west-1"]}],
    "resources": [{"suffix": "i-000000aaaaaa00000"}],
    "detail": {
        "c-count": [{"numeric": [">", 0, "<=", 5]}],
        "x-limit": [{"numeric": ["<", 1000]}],
        "source-ip": [{"cidr": "10.0.0.0/8"}],
        "instance-id": [{"exists": True}],
        "user": {"name": [{"equals-ignore-case": "ALICE"}]},
        "$or": [{"state": ["running"]}, {"object": {"key": [{"wildcard": "logs/*.gz"}]}}],
    },
}


def _event() -> dict:
    event = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "111122223333",
        "time": "2017-12-22T18:43:48Z",
        "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-000000aaaaaa00000"],
        "detail": {
            "c-count": 5,
            "d-count": 3,
            "x-limit": 301.8,
            "source-ip": "10.0.0.33",
            "instance-id": "i-000000aaaaaa00000",
            "state": "running",
            "user": {"name": "alice", "arn": "arn:aws:iam::111122223333:user/alice"},
            "tags": [{"Key": f"k{i}", "Value": f"value-{i}"} for i in range(8)],
            "notes": "x" * 300,
        },
    }
    return event


def _time(fn, n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    text = json.dumps(PATTERN)
    pattern = compile_event_pattern(text)
    event = _event()
    miss = copy.deepcopy(event)
    miss["detail"]["user"]["name"] = "bob"
    event_text = json.dumps(event)
    assert pattern.matches(event) and not pattern.matches(miss)
    assert pattern.matches_json(event_text)
    print(f"event {len(event_text)} bytes, pattern {len(text)} bytes")
    for name, fn in (
        ("match (parsed event)", lambda: pattern.matches(event)),
        ("no match (last field fails)", lambda: pattern.matches(miss)),
        ("match_json (parse + match)", lambda: pattern.matches_json(event_text)),
        ("compile pattern (parsed, uncached)", lambda: compile_event_pattern(PATTERN)),
        ("compile pattern text (cached)", lambda: compile_event_pattern(text)),
    ):
        _time(fn, min(args.n, 1000))  # warm up
        p50, p99 = _time(fn, args.n)
        print(f"{name:36s} p50 {p50:7.2f} µs   p99 {p99:7.2f} µs")


if __name__ == "__main__":
    main()
