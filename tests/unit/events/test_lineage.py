"""The loop-detection counter carried in the X-Ray trace header."""

from __future__ import annotations

import urllib.parse

from sandlot.events import lineage

A = "arn:aws:lambda:us-east-1:000000000000:function:a"
B = "arn:aws:lambda:us-east-1:000000000000:function:b"


def test_a_chain_starts_with_a_root_and_counts_per_function():
    header, n = lineage.advance(None, A)
    assert n == 1 and header.startswith("Root=1-") and "Sampled=0" in header
    header, n = lineage.advance(header, B)
    assert n == 1
    header, n = lineage.advance(header, A)
    assert n == 2
    assert lineage.count(header, A) == 2 and lineage.count(header, B) == 1
    root = header.split(";")[0]
    assert all(lineage.advance(header, A)[0].startswith(root) for _ in range(2))


def test_other_fields_are_kept_and_sdk_percent_encoding_is_read():
    given = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    header, n = lineage.advance(given, A)
    assert n == 1 and header.startswith(given + ";Lineage=")
    header, _ = lineage.advance(header, B)
    # botocore quotes the header it copies from _X_AMZN_TRACE_ID: "|" arrives as %7C.
    quoted = urllib.parse.quote(header, safe="-=;:+&[]{}\"',")
    assert "%7C" in quoted
    assert lineage.count(quoted, A) == 1 and lineage.advance(quoted, B)[1] == 2


def test_no_lineage_counts_zero_and_junk_is_ignored():
    assert lineage.count(None, A) == 0
    assert lineage.count("Root=1-x;Lineage=zz:notanumber", A) == 0
    assert lineage.advance("garbage", A)[1] == 1
