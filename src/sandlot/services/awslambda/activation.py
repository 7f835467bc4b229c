"""Function states made real: Pending → Active, LastUpdateStatus InProgress → Successful.

A write (create, update, publish during an update) leaves its versions waiting and
kicks the activator, which extracts the packages they need in a worker thread and
then marks them Active/Successful, or Failed with a reason. One task per function
works through everything waiting there; any read that sees a waiting version kicks
again, so work interrupted by a restart resumes on its own.

Activation copies ``config`` to ``active_config``: what runs changes only when the
new code is ready, so invocations during an update run the previous configuration.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sandlot.services.awslambda import code
from sandlot.services.awslambda.configuration import new_revision
from sandlot.services.awslambda.records import Records
from sandlot.services.awslambda.validation import UNZIP_FAILED
from sandlot.store import Store

log = logging.getLogger("sandlot.lambda")

Key = tuple[str, str, str]  # (account, region, function name)


def needs_activation(row: dict[str, Any]) -> bool:
    return row["state"] == "Pending" or row["update_status"] == "InProgress"


def failure(error: Exception) -> tuple[str, str]:
    """StateReason and StateReasonCode for a failed activation."""
    if isinstance(error, code.BadPackage):
        return f"{UNZIP_FAILED} ({error})", "InvalidZipFileException"
    return f"sandlot could not prepare the function: {error}", "InternalError"


class Activator:
    """Runs the activation of waiting function versions, one task per function."""

    def __init__(self, store: Store, records: Records, images=None) -> None:
        self.store = store
        self.records = records
        self.images = images  # ImageFunctions: unpacks the roots of image functions
        self._tasks: dict[Key, asyncio.Task] = {}

    def observe(self, row: dict[str, Any]) -> None:
        """Resume activation for a version seen waiting (e.g. left so by a restart)."""
        if needs_activation(row):
            self.kick(row["account"], row["region"], row["name"])

    def kick(self, account: str, region: str, name: str) -> None:
        """Make sure the function's waiting versions get activated."""
        key = (account, region, name)
        running = self._tasks.get(key)
        if running is not None and not running.done():
            return  # the running task scans again before it finishes
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a synchronous caller without an event loop: do it now
            self._run_blocking(key)
            return
        self._tasks[key] = loop.create_task(self._run(key))

    async def idle(self) -> None:
        """Wait until no activation is running."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def stop(self) -> None:
        """Cancel running activations (at shutdown); what they leave waiting resumes at
        the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, key: Key) -> None:
        try:
            while work := self._waiting(key):
                for version_num, config_json in work:
                    error = None
                    try:
                        await asyncio.to_thread(self._extract_all, config_json)
                    except Exception as exc:  # a bad package fails the version, not the server
                        error = exc
                    self._finish(key, version_num, config_json, error)
        except Exception:
            log.exception("activation of function %s failed", key)
        finally:
            # No await between the last (empty) scan and this: a kick can't be lost.
            self._tasks.pop(key, None)

    def _run_blocking(self, key: Key) -> None:
        while work := self._waiting(key):
            for version_num, config_json in work:
                error = None
                try:
                    self._extract_all(config_json)
                except Exception as exc:
                    error = exc
                self._finish(key, version_num, config_json, error)

    def _waiting(self, key: Key) -> list[tuple[int, str]]:
        rows = self.records.versions(*key)
        return [(r["version_num"], r["config"]) for r in rows if needs_activation(r)]

    def _extract_all(self, config_json: str) -> None:
        config = json.loads(config_json)
        if config.get("PackageType") == "Image":
            self.images.root(config)
            return
        self.records.ensure_extracted(config["CodeSha"])
        for layer in config["Layers"]:
            self.records.ensure_extracted(layer["Sha"])

    def _finish(
        self, key: Key, version_num: int, config_json: str, error: Exception | None
    ) -> None:
        """Record the outcome, unless the version changed (or went) meanwhile."""
        with self.store.transaction():
            row = self.records.version(*key, version_num)
            if row is None or row["config"] != config_json:
                return
            row = {**row, "revision_id": new_revision()}
            if error is None:
                row.update(
                    state="Active",
                    state_reason=None,
                    state_reason_code=None,
                    update_status="Successful",
                    update_reason=None,
                    update_reason_code=None,
                    active_config=config_json,
                )
            else:
                log.warning("function %s version %s failed: %s", key, version_num, error)
                reason, reason_code = failure(error)
                row.update(
                    update_status="Failed", update_reason=reason, update_reason_code=reason_code
                )
                if row["active_config"] is None:
                    row.update(state="Failed", state_reason=reason, state_reason_code=reason_code)
            released = self.records.put_version(row)
            gone = self.records.unused(released)
        self.records.collect(gone)
