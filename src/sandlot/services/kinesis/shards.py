"""The arithmetic of Kinesis shards: hash keys, even hash-key ranges, sequence numbers.

A record goes to the open shard whose hash-key range holds its hash key: the MD5 of
its partition key read as a 128-bit big-endian integer, or its ExplicitHashKey.
"""

from __future__ import annotations

import hashlib

from sandlot.protocol import ServiceError

HASH_MAX = 2**128 - 1
# AWS's sequence numbers are 56-digit decimal strings (they begin "49…"); sandlot's are
# "49" and the store's counter, so they increase as the counter does.
_SEQ_BASE = 49 * 10**54


def hash_key(partition_key: str, explicit: str | None = None) -> int:
    """The 128-bit hash key a record is placed by."""
    if explicit is not None:
        if not explicit.isdigit() or int(explicit) > HASH_MAX:
            raise ServiceError(
                "InvalidArgumentException",
                f"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, {HASH_MAX}]."
                f" Specified value was {explicit}",
            )
        return int(explicit)
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")


def even_ranges(count: int, low: int = 0, high: int = HASH_MAX) -> list[tuple[int, int]]:
    """``count`` adjacent (start, end) ranges splitting [low, high] evenly, as AWS lays
    out the shards of a new stream (the last takes the remainder)."""
    width = (high - low + 1) // count
    starts = [low + i * width for i in range(count)]
    return [(s, (starts[i + 1] - 1) if i + 1 < count else high) for i, s in enumerate(starts)]


def format_seq(seq: int) -> str:
    return str(_SEQ_BASE + seq)


def parse_seq(text: object) -> int | None:
    """The counter in a sequence number sandlot issued, or None if it is not one."""
    if not isinstance(text, str) or len(text) != 56 or not text.isdigit():
        return None
    value = int(text) - _SEQ_BASE
    return value if value >= 0 else None


def shard_name(number: int) -> str:
    return f"shardId-{number:012d}"
