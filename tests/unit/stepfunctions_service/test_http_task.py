"""The HTTP task's URL encoding of a request body (AWS's array formats) and the Map
Run's failure threshold."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from sandlot.services.stepfunctions.http_task import url_encode
from sandlot.services.stepfunctions.maprun import exceeded

BODY = {"a": [1, 2], "o": {"k": "v w"}, "t": True}


@pytest.mark.parametrize(
    ("array_format", "pairs"),
    [
        ("INDICES", [("a[0]", "1"), ("a[1]", "2")]),
        ("REPEAT", [("a", "1"), ("a", "2")]),
        ("COMMAS", [("a", "1,2")]),
        ("BRACKETS", [("a[]", "1"), ("a[]", "2")]),
    ],
)
def test_url_encoded_arrays(array_format, pairs):
    encoded = parse_qsl(url_encode(BODY, array_format))
    assert encoded == [*pairs, ("o[k]", "v w"), ("t", "true")]


def test_the_threshold():
    none = {"tolerated_count": None, "tolerated_percent": None}
    assert not exceeded(0, 10, none) and exceeded(1, 10, none)
    count = {"tolerated_count": 2, "tolerated_percent": None}
    assert not exceeded(2, 10, count) and exceeded(3, 10, count)
    percent = {"tolerated_count": None, "tolerated_percent": 20.0}
    assert not exceeded(2, 10, percent) and exceeded(3, 10, percent)
