"""The X-Ray daemon's UDP protocol, served by sandlot itself: what the X-Ray SDKs and
the AWS Distro for OpenTelemetry inside execution environments send to
``AWS_XRAY_DAEMON_ADDRESS``.

Each datagram is a header line ``{"format": "json", "version": 1}`` and one segment
document. UDP carries no credentials, so a document goes to the account and region
its trace belongs to (``XRayProvider.owner``: learnt from the documents already
accepted, Lambda's own segments among them). A subsegment of a trace not known yet
(a function's SDK sends its subsegments before Lambda records the invocation's
segments) waits for its owner up to ``HOLD_S``; a document still unclaimed then, or a
full segment of an unknown trace, goes to the default account and region. Bad
documents are dropped (and logged), as the daemon drops what X-Ray refuses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandlot.services.xray.provider import XRayProvider

log = logging.getLogger(__name__)

HOLD_S = 900.0  # Lambda's longest timeout: a function's subsegments wait this long at most
HELD_MAX = 10_000  # documents waiting for their trace's owner; past it the oldest go on
DATAGRAM_MAX = 64 * 1024


class Daemon(asyncio.DatagramProtocol):
    def __init__(self, provider: XRayProvider) -> None:
        self.provider = provider
        self.transport: asyncio.DatagramTransport | None = None
        # trace id -> [(arrival, document text)], oldest trace first
        self.held: OrderedDict[str, list[tuple[float, str]]] = OrderedDict()
        self.held_count = 0
        self._timer: asyncio.TimerHandle | None = None

    async def listen(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", port))

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None:
            self.transport.close()

    def datagram_received(self, data: bytes, addr) -> None:  # noqa: ARG002 - any sender
        try:
            self.receive(data)
        except Exception:  # nothing a sender does may stop the daemon
            log.exception("X-Ray daemon: datagram dropped")

    def receive(self, data: bytes) -> None:
        header, sep, body = data.partition(b"\n")
        if not sep or len(data) > DATAGRAM_MAX:
            return
        try:
            meta = json.loads(header)
            text = body.decode()
            doc = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            log.info("X-Ray daemon: a datagram that is not header + JSON document, dropped")
            return
        if not isinstance(meta, dict) or meta.get("format") != "json" or not isinstance(doc, dict):
            return
        trace_id = doc.get("trace_id")
        owner = self.provider.owner(trace_id) if isinstance(trace_id, str) else None
        if owner is None and doc.get("type") == "subsegment" and isinstance(trace_id, str):
            self.hold(trace_id, text)
            return
        self.store(owner, [text])

    def store(self, owner: tuple[str, str] | None, texts: list[str]) -> None:
        settings = self.provider.platform.settings
        account, region = owner or (settings.default_account, settings.region)
        for bad in self.provider.ingest(account, region, texts):
            log.info("X-Ray daemon: unprocessed segment %s", bad)

    def hold(self, trace_id: str, text: str) -> None:
        self.held.setdefault(trace_id, []).append((time.monotonic(), text))
        self.held_count += 1
        while self.held_count > HELD_MAX:
            self.release(next(iter(self.held)))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(HOLD_S / 10, self._expire)

    def owner_known(self, trace_id: str) -> None:
        if trace_id in self.held:
            self.release(trace_id)

    def release(self, trace_id: str) -> None:
        waiting = self.held.pop(trace_id)
        self.held_count -= len(waiting)
        self.store(self.provider.owner(trace_id), [text for _, text in waiting])

    def _expire(self) -> None:
        self._timer = None
        horizon = time.monotonic() - HOLD_S
        for trace_id in [t for t, docs in self.held.items() if docs[0][0] < horizon]:
            self.release(trace_id)
        if self.held:
            self._timer = asyncio.get_running_loop().call_later(HOLD_S / 10, self._expire)
