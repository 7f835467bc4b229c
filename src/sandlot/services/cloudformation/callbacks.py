"""The URLs CloudFormation is called back on: a custom resource's ``ResponseURL`` and a
``AWS::CloudFormation::WaitConditionHandle``'s URL.

AWS hands out presigned S3 URLs for both; sandlot serves the capability itself, at
``<functions' endpoint>/_sandlot/cloudformation/callback/<token>``, a random token
stored in ``cfn_callbacks`` (so a URL stays valid across restarts, and anyone holding it
may answer, as with a presigned URL). Any host reaching sandlot is accepted: the token
is the capability. A ``PUT`` stores the body (JSON); the resource waiting on that row
(``custom.py``) is woken, or finds it when it looks again after a restart. Deadlines
are stored too, so a wait resumed after a restart ends when it would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from sandlot.protocol import ServiceError
from sandlot.services.cloudformation.schema import CALLBACKS

if TYPE_CHECKING:
    from sandlot.platform import Platform

PATH_PREFIX = "/_sandlot/cloudformation/callback/"
MAX_BODY = 1_048_576  # a signal or an answer is small JSON; refuse anything larger


class Callbacks:
    """Issues, receives and waits on callback rows (one instance per server)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.store = platform.store
        self._wakeups: dict[str, asyncio.Event] = {}

    def url(self, token: str) -> str:
        # The functions' endpoint: what a function (the usual sender) reaches sandlot on.
        return f"{self.platform.function_endpoint_url}{PATH_PREFIX}{token}"

    @staticmethod
    def token_of(url: str) -> str | None:
        path = url.split("?", 1)[0]
        index = path.find(PATH_PREFIX)
        return path[index + len(PATH_PREFIX) :] if index >= 0 else None

    # ---- rows --------------------------------------------------------------------------
    def find(
        self, kind: str, stack_id: str, logical_id: str, request_type: str | None = None
    ) -> dict | None:
        for row in self.store.select(CALLBACKS, {"stack_id": stack_id, "logical_id": logical_id}):
            if row["kind"] == kind and row["request_type"] == request_type:
                return row
        return None

    def open(self, kind: str, stack_id: str, logical_id: str, **fields: Any) -> dict:
        """A new row (its token a fresh secret)."""
        row = {
            "token": secrets.token_urlsafe(32), "kind": kind, "stack_id": stack_id,
            "logical_id": logical_id, "request_type": None, "request": None, "sent": 0,
            "deadline": None, "response": None, "created": time.time(), **fields,
        }  # fmt: skip
        self.store.put(CALLBACKS, row)
        return row

    def update(self, row: dict, **fields: Any) -> dict:
        row = {**row, **fields}
        self.store.put(CALLBACKS, row)
        return row

    def get(self, token: str) -> dict | None:
        return self.store.get(CALLBACKS, token)

    def close(self, token: str) -> None:
        self.store.delete(CALLBACKS, token)
        self._wakeups.pop(token, None)

    def close_all(self, stack_id: str, logical_id: str) -> None:
        for row in self.store.select(CALLBACKS, {"stack_id": stack_id, "logical_id": logical_id}):
            self.close(row["token"])

    # ---- the PUT -----------------------------------------------------------------------
    def accept(self, path: str, method: str, body: bytes) -> None:
        """A callback arrived; S3-shaped errors as a presigned URL answers them."""
        token = path[len(PATH_PREFIX) :]
        row = self.get(token) if token else None
        if row is None or row["kind"] not in ("custom", "handle"):
            raise ServiceError("AccessDenied", "Request has expired", 403)
        if method != "PUT":
            raise ServiceError(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                405,
            )
        if len(body) > MAX_BODY:
            raise ServiceError(
                "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400
            )
        try:
            answer = json.loads(body.decode() or "null")
        except (UnicodeDecodeError, ValueError):
            answer = None
        if row["kind"] == "custom":
            # Kept as sent: whether it is a valid answer is the custom resource's verdict.
            self.update(row, response=body.decode("utf-8", "replace"))
        else:
            if not isinstance(answer, dict):
                raise ServiceError("MalformedJSON", "The signal is not a JSON object.", 400)
            signals = json.loads(row["response"] or "{}")
            signals[str(answer.get("UniqueId", ""))] = answer  # the same UniqueId replaces
            self.update(row, response=json.dumps(signals))
        event = self._wakeups.get(token)
        if event is not None:
            event.set()

    # ---- waiting -----------------------------------------------------------------------
    async def changed(self, token: str, deadline: float | None) -> None:
        """Until the row named ``token`` is called back on, or ``deadline`` (epoch s)
        passes (or a second: callers look again, so a missed wake-up costs a second)."""
        event = self._wakeups.setdefault(token, asyncio.Event())
        timeout = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()
