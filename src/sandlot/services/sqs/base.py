"""What every SQS operation area shares: the queue a request names, queue URLs and
receipt handles, and the wake-ups that end long polls."""

from __future__ import annotations

import base64
import binascii
import time
from urllib.parse import urlsplit

from sandlot.events.wakeup import Wakeups
from sandlot.services.provider import Provider, RequestContext
from sandlot.services.sqs.errors import queue_does_not_exist, receipt_handle_invalid
from sandlot.services.sqs.schema import MIGRATIONS
from sandlot.services.sqs.storage import Queue, QueueStorage


class SqsBase(Provider):
    service = "sqs"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.store = platform.store
        self.store.migrate("sqs", MIGRATIONS)
        self.storage = QueueStorage(self.store)
        self.wakeups = Wakeups()
        # ReceiveRequestAttemptId → (until, [(seq, receipt nonce)]): a retried FIFO
        # receive gets the same messages and receipt handles (AWS keeps them 5 minutes).
        self._attempts: dict[tuple[str, str], tuple[float, list[tuple[int, str]]]] = {}

    # -- queues a request names ---------------------------------------------------------

    def endpoint(self, ctx: RequestContext) -> str:
        """The endpoint queue URLs start with: the one the client used, else sandlot's."""
        host = ctx.request.headers.get("host") if ctx.request is not None else None
        return f"http://{host}" if host else self.platform.endpoint_url

    def queue_url(self, ctx: RequestContext, queue: Queue) -> str:
        return f"{self.endpoint(ctx)}/{queue.account}/{queue.name}"

    def queue(self, ctx: RequestContext, url: str) -> Queue:
        """The queue ``url`` names (``<endpoint>/<account>/<name>``; any host is accepted,
        so AWS-shaped URLs work too), or AWS's QueueDoesNotExist."""
        path = urlsplit(url).path if "://" in url else url
        parts = [p for p in path.split("/") if p]
        if len(parts) == 2:
            account, name = parts
        elif len(parts) == 1:
            account, name = ctx.account_id, parts[0]
        else:
            raise queue_does_not_exist()
        found = self.storage.queue(account, ctx.region, name)
        if found is None:
            raise queue_does_not_exist()
        return found

    # -- receipt handles ---------------------------------------------------------------

    @staticmethod
    def receipt_handle(queue: Queue, row: dict) -> str:
        raw = f"{queue.arn} {row['seq']} {row['receipt']}".encode()
        return base64.b64encode(raw).decode()

    @staticmethod
    def parse_receipt(handle: str) -> tuple[str, int, str]:
        """(queue ARN, seq, nonce) of a receipt handle; ReceiptHandleIsInvalid if it is
        not one sandlot issued."""
        try:
            arn, seq, nonce = base64.b64decode(handle, validate=True).decode().split(" ")
            return arn, int(seq), nonce
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise receipt_handle_invalid(handle) from None

    @staticmethod
    def now() -> float:
        return time.time()
