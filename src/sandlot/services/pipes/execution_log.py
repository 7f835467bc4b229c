"""A pipe's execution log (``LogConfiguration``): one record per execution step, as AWS's
Pipes log schema has it (``executionId``, ``timestamp`` in ms, ``messageType``,
``resourceArn``, ``logLevel``, ``payload`` with ``IncludeExecutionData: ["ALL"]``,
``error``), at the steps the configured ``Level`` covers (ERROR: failures; INFO: also
the execution's and stages' start and success; TRACE: also each invocation's).

Records go to the ``CloudwatchLogsLogDestination`` log group through the delivery path
(the ``logs`` adapter), sent as the pipe's role (which needs ``logs:CreateLogStream`` and
``logs:PutLogEvents`` there), into a log stream named after the pipe (sandlot's choice:
AWS does not document its stream names). Firehose and S3 log destinations are not
written (stored only).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

LEVELS = {"OFF": 0, "ERROR": 1, "INFO": 2, "TRACE": 3}
# The level at which each step is logged.
STEPS = {
    "ExecutionStarted": "INFO",
    "ExecutionSucceeded": "INFO",
    "ExecutionFailed": "ERROR",
    "ExecutionPartiallyFailed": "ERROR",
    "ExecutionThrottled": "ERROR",
    "EnrichmentStageEntered": "INFO",
    "EnrichmentStageSucceeded": "INFO",
    "EnrichmentStageFailed": "ERROR",
    "EnrichmentInvocationStarted": "TRACE",
    "EnrichmentInvocationSucceeded": "TRACE",
    "EnrichmentInvocationFailed": "ERROR",
    "TargetStageEntered": "INFO",
    "TargetStageSucceeded": "INFO",
    "TargetStageSkipped": "INFO",
    "TargetStageFailed": "ERROR",
    "TargetStagePartiallyFailed": "ERROR",
    "TargetInvocationStarted": "TRACE",
    "TargetInvocationSucceeded": "TRACE",
    "TargetInvocationFailed": "ERROR",
    "TargetInvocationPartiallyFailed": "ERROR",
}


class ExecutionLog:
    """The records of one pipe execution (a batch), written by ``flush``."""

    def __init__(self, pipe: dict) -> None:
        config = pipe.get("LogConfiguration") or {}
        self.level = config.get("Level") or "OFF"
        self.group = (config.get("CloudwatchLogsLogDestination") or {}).get("LogGroupArn")
        self.with_data = "ALL" in (config.get("IncludeExecutionData") or ())
        self.pipe = pipe
        self.id = str(uuid.uuid4())
        self.records: list[dict] = []

    @property
    def enabled(self) -> bool:
        return bool(self.group) and LEVELS.get(self.level, 0) > 0

    def step(self, message_type: str, payload: Any = None, error: dict | None = None) -> None:
        if not self.enabled or LEVELS[STEPS[message_type]] > LEVELS[self.level]:
            return
        record: dict[str, Any] = {
            "executionId": self.id,
            "timestamp": int(time.time() * 1000),
            "messageType": message_type,
            "resourceArn": self.pipe["Arn"],
            "logLevel": self.level,
        }
        if self.with_data and payload is not None:
            record["payload"] = payload if isinstance(payload, str) else json.dumps(payload)
        if error is not None:
            record["error"] = error
        self.records.append(record)

    def flush(self, platform, principal) -> None:
        """Stage the records (one log event each) on the delivery path."""
        if not self.records:
            return
        with platform.store.transaction():
            for record in self.records:
                platform.deliveries.stage(
                    self.group,
                    json.dumps(record),
                    principal=principal,
                    options={
                        "logStreamName": self.pipe["Name"],
                        "timestamp": record["timestamp"],
                    },  # fmt: skip
                )
        self.records = []


def error_of(code: str, message: str, status: int = 400, service: str = "") -> dict:
    """A record's ``error`` member."""
    return {"httpStatusCode": status, "message": message, "details": code,
            "awsService": service, "requestId": ""}  # fmt: skip
