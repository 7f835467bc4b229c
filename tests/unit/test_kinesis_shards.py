"""Kinesis shard arithmetic: even hash-key ranges, MD5 placement, sequence numbers."""

from __future__ import annotations

import hashlib

import pytest

from sandlot.protocol import ServiceError
from sandlot.services.kinesis.shards import (
    HASH_MAX,
    even_ranges,
    format_seq,
    hash_key,
    parse_seq,
    shard_name,
)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 64, 500])
def test_even_ranges_cover_the_space_without_gaps(count):
    ranges = even_ranges(count)
    assert len(ranges) == count and ranges[0][0] == 0 and ranges[-1][1] == HASH_MAX
    assert all(a[1] + 1 == b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def test_four_shards_as_aws_lays_them_out():
    assert [start for start, _ in even_ranges(4)] == [0, 2**126, 2**127, 3 * 2**126]


def test_hash_keys():
    assert hash_key("user-1") == int(hashlib.md5(b"user-1").hexdigest(), 16)
    assert hash_key("ignored", "42") == 42
    with pytest.raises(ServiceError):
        hash_key("k", str(2**128))
    with pytest.raises(ServiceError):
        hash_key("k", "-1")


def test_sequence_numbers_round_trip_and_order():
    numbers = [format_seq(n) for n in (1, 2, 10, 10**9)]
    assert all(len(n) == 56 and n.startswith("49") for n in numbers)
    assert sorted(numbers, key=int) == numbers == sorted(numbers)
    assert [parse_seq(n) for n in numbers] == [1, 2, 10, 10**9]
    assert parse_seq("12") is None and parse_seq("x" * 56) is None
    assert shard_name(3) == "shardId-000000000003"
