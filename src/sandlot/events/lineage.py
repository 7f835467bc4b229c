"""Recursive loop detection: the invocation count that travels with a chain of requests.

Lambda tracks a chain in the X-Ray trace header (``X-Amzn-Trace-Id``; SQS keeps it as a
message's ``AWSTraceHeader`` system attribute): each invocation adds one to its
function's entry of the header's ``Lineage`` field and runs with that header as
``_X_AMZN_TRACE_ID``. The AWS SDKs in a function send that variable as the header of
every call they make (SQS SendMessage, SNS Publish, Lambda Invoke), and the services
pass it on with what they deliver, so the count comes back with the next invocation.
A function whose count would pass ``LIMIT`` is in a loop: with ``RecursiveLoop``
``Terminate`` (the default) Lambda refuses to run it (``RecursiveInvocationException``).

The field reads ``Lineage=<function hash>:<count>`` with one entry per function of the
chain, joined by ``|``; the hash is the first 8 hex digits of the function ARN's SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
import urllib.parse

LIMIT = 16  # AWS stops the chain's 17th invocation of a function


@functools.lru_cache(maxsize=4096)
def function_hash(function_arn: str) -> str:
    return hashlib.sha256(function_arn.encode()).hexdigest()[:8]


def _fields(header: str | None) -> list[tuple[str, str]]:
    # The SDKs percent-encode what is not safe in a header value (the ``|``).
    text = header or ""
    if "%" in text:
        text = urllib.parse.unquote(text)
    pairs = []
    for part in text.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            pairs.append((key, value))
    return pairs


def new_root() -> str:
    """A new X-Ray trace id: version 1, the epoch second in hex (X-Ray finds traces by
    it), 96 random bits."""
    return f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"


def count(header: str | None, function_arn: str) -> int:
    """How many times the chain of ``header`` has invoked the function so far."""
    mine = function_hash(function_arn)
    for key, value in _fields(header):
        if key == "Lineage":
            for entry in value.split("|"):
                digest, _, n = entry.partition(":")
                if digest == mine and n.isdigit():
                    return int(n)
    return 0


def advance(header: str | None, function_arn: str) -> tuple[str, int]:
    """The header for the function's next invocation in this chain, and its count.

    Without a header (an invocation that starts a chain) a new X-Ray root is made."""
    mine = function_hash(function_arn)
    fields = _fields(header)
    if not any(key == "Root" for key, _ in fields):
        fields.insert(0, ("Root", new_root()))
        if not any(key == "Sampled" for key, _ in fields):
            fields.append(("Sampled", "0"))
    n = 1
    entries = []
    for key, value in fields:
        if key == "Lineage":
            for entry in value.split("|"):
                digest, _, seen = entry.partition(":")
                if digest == mine:
                    n = int(seen) + 1 if seen.isdigit() else 1
                elif entry:
                    entries.append(entry)
    entries.append(f"{mine}:{n}")
    fields = [(k, v) for k, v in fields if k != "Lineage"] + [("Lineage", "|".join(entries))]
    return ";".join(f"{k}={v}" for k, v in fields), n
