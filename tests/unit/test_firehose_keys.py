"""Firehose's S3 object keys and simple partition queries, as AWS names and evaluates them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from sandlot.services.firehose.keys import compile_query, expand, extract, object_key

MOMENT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp()
UUID = r"[0-9a-f-]{36}"


def test_default_key_and_plain_prefix():
    key = object_key(None, "orders", 1, MOMENT, gzip=False)
    assert re.fullmatch(rf"2026/03/04/05/orders-1-2026-03-04-05-06-07-{UUID}", key)
    key = object_key("logs/", "orders", 3, MOMENT, gzip=True)
    assert re.fullmatch(rf"logs/2026/03/04/05/orders-3-2026-03-04-05-06-07-{UUID}\.gz", key)


def test_expressions():
    moment = datetime.fromtimestamp(MOMENT, UTC)
    assert expand("y=!{timestamp:yyyy}/m=!{timestamp:MM}/", moment) == "y=2026/m=03/"
    assert expand("e/!{firehose:error-output-type}/", moment, "processing-failed") == (
        "e/processing-failed/"
    )
    assert expand("c=!{partitionKeyFromQuery:c}/", moment, partitions={"c": "a"}) == "c=a/"
    with pytest.raises(ValueError):
        expand("!{partitionKeyFromQuery:c}/", moment)  # not partitioning
    with pytest.raises(ValueError):
        expand("!{nope:x}/", moment)


def test_partition_queries():
    pairs = compile_query("{customer: .who.id, year: .y}")
    assert extract(pairs, {"who": {"id": "a"}, "y": 2026}) == {"customer": "a", "year": "2026"}
    assert extract(pairs, {"who": {}, "y": 1}) is None
    assert extract(pairs, {"who": {"id": {"x": 1}}, "y": 1}) is None
    with pytest.raises(ValueError):
        compile_query(".customer | ascii_downcase")
