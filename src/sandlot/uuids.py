"""Random (version 4) UUIDs as text, for the identifiers minted on hot paths: request ids
and SQS message ids. They name things and authorize nothing (receipt handles, tokens and
keys come from ``secrets``), so they come from Python's generator (seeded from the OS, and
again in a forked child) instead of a getrandom() call and a ``UUID`` object each: ~0.7
against ~2.5 µs."""

from __future__ import annotations

import random

_CLEAR = ~(0xF << 76 | 0xC << 60)  # the version nibble and the variant's top two bits
_SET = 0x4 << 76 | 0x8 << 60  # version 4; the RFC 4122 variant (10xx)


def uuid4_text() -> str:
    """``str(uuid.uuid4())``'s format: 8-4-4-4-12 lower-case hex digits."""
    h = "%032x" % (random.getrandbits(128) & _CLEAR | _SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
