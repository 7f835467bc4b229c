"""Pagination tokens: AWS-shaped GetLogEvents tokens, opaque ones, and their paging."""

from __future__ import annotations

import pytest

from sandlot.protocol import ServiceError
from sandlot.services.logs.provider import _next_event_tokens, _page
from sandlot.services.logs.tokens import (
    decode_event_token,
    decode_opaque,
    decode_position,
    encode_event_token,
    encode_opaque,
    encode_position,
    event_id,
)


def test_event_tokens_look_like_aws_and_round_trip():
    token = encode_event_token("f", (1_700_000_000_123, 42))
    assert token == "f/00000001700000000123000000000000000000000000000000000042/s"
    assert len(token.split("/")[1]) == 56
    assert decode_event_token(token) == ("f", (1_700_000_000_123, 42))
    assert decode_event_token(encode_event_token("b", (0, 1))) == ("b", (0, 1))
    assert event_id((1, 2)) == "0" * 19 + "1" + "0" * 35 + "2"


@pytest.mark.parametrize(
    "token", ["", "f/123/s", "x/" + "0" * 56 + "/s", "f/" + "0" * 56, "f/" + "a" * 56 + "/s"]
)
def test_bad_event_tokens_are_invalid_parameters(token):
    with pytest.raises(ServiceError) as raised:
        decode_event_token(token)
    assert raised.value.code == "InvalidParameterException"
    assert raised.value.message == "The specified nextToken is invalid."


def test_position_tokens_reject_non_integers():
    assert decode_position(encode_position((5, 7))) == (5, 7)
    for state in ({"t": "5", "s": 7}, {"t": 5, "s": True}, {"t": 5.5, "s": 1}):
        with pytest.raises(ServiceError):
            decode_position(encode_opaque(state))


def test_opaque_tokens_round_trip_and_reject_garbage():
    token = encode_opaque({"t": 5, "s": 7})
    assert "=" not in token
    assert decode_opaque(token, "t", "s") == {"t": 5, "s": 7}
    for bad in ["!!!", "bm90IGpzb24", encode_opaque({"t": 5})]:
        with pytest.raises(ServiceError):
            decode_opaque(bad, "t", "s")


def _rows(*positions):
    return [{"ts": ts, "seq": seq} for ts, seq in positions]


def test_next_event_tokens_with_events_bracket_the_page():
    forward, backward = _next_event_tokens(_rows((10, 1), (20, 2)), None, (0, 0))
    assert decode_event_token(forward) == ("f", (20, 2))
    assert decode_event_token(backward) == ("b", (10, 1))


def test_next_event_tokens_at_the_end_repeat_the_token_given():
    given = encode_event_token("f", (20, 2))
    forward, backward = _next_event_tokens([], given, (0, 0))
    assert forward == given
    assert decode_event_token(backward) == ("b", (20, 2))
    given = encode_event_token("b", (10, 1))
    forward, backward = _next_event_tokens([], given, (0, 0))
    assert backward == given


def test_keyset_pages_cover_everything_once_in_both_directions():
    items = [{"name": f"s{i:02d}", "t": i % 3} for i in range(23)]
    for descending in (False, True):
        seen, token = [], None
        while True:
            page, token = _page(
                items,
                key=lambda i: [i["t"], i["name"]],
                token=token,
                limit=5,
                descending=descending,
            )
            seen += page
            if token is None:
                break
        expected = sorted(items, key=lambda i: (i["t"], i["name"]), reverse=descending)
        assert seen == expected


def test_a_token_of_another_listing_is_invalid():
    token = encode_opaque({"k": ["name-only"]})
    with pytest.raises(ServiceError):
        _page([{"t": 1, "name": "a"}], key=lambda i: [i["t"], i["name"]], token=token, limit=5)
