"""What every part of the Step Functions provider shares: ARNs, lookups of state
machines (by plain, version or alias ARN), executions and activities, AWS's errors, and
the request checks AWS makes before authorizing."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.models import service_model
from sandlot.services.provider import Provider, RequestContext
from sandlot.services.stepfunctions.schema import (
    ACTIVITIES,
    ALIASES,
    EXECUTIONS,
    MACHINES,
    MIGRATIONS,
    VERSIONS,
)

Row = dict[str, Any]

# Characters AWS refuses in state machine, execution, activity and alias names.
_BAD_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
# arn:aws:states:<region>:<account>:<kind>:<name>[:<qualifier>[:<more>]]
_ARN = re.compile(r"arn:aws[a-z-]*:states:([a-z0-9-]+):(\d{12}):([A-Za-z]+):(.+)\Z")
MAX_TAGS = 50


def engine():
    """The language engine (``asl``), imported on first use: it brings JSONata, which a
    server that never runs a state machine does not need to load."""
    from sandlot.services.stepfunctions import asl

    return asl


def error(code: str, message: str, status: int = 400) -> ServiceError:
    return ServiceError(code, message, status)


def invalid_arn(value: str, why: str = "") -> ServiceError:
    return error(
        "InvalidArn", f"Invalid Arn: '{why or 'Resource type not valid in this context'}: {value}'"
    )


def machine_missing(arn: str) -> ServiceError:
    return error("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")


def execution_missing(arn: str) -> ServiceError:
    return error("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")


def activity_missing(arn: str) -> ServiceError:
    return error("ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")


def check_name(name: str) -> None:
    if not name or len(name) > 80 or _BAD_NAME.search(name):
        raise error("InvalidName", f"Invalid Name: '{name}'")


def parse_arn(value: str) -> tuple[str, str, str, list[str]] | None:
    """(region, account, resource kind, the colon-separated rest) of a states ARN."""
    found = _ARN.match(value or "")
    if found is None:
        return None
    region, account, kind, rest = found.groups()
    return region, account, kind, rest.split(":")


def new_revision() -> str:
    return uuid.uuid4().hex


def tags_out(row: Row) -> list[dict]:
    return json.loads(row["tags"] or "[]")


def merged_tags(current: list[dict], new: list[dict]) -> list[dict]:
    merged = {t["key"]: t.get("value", "") for t in current}
    merged.update({t["key"]: t.get("value", "") for t in new})
    if len(merged) > MAX_TAGS:
        raise error("TooManyTags", "Too many tags.", 400)
    return [{"key": k, "value": v} for k, v in merged.items()]


class StepFunctionsBase(Provider):
    """State and lookups; the operations live in the mixins."""

    service = "stepfunctions"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("stepfunctions", MIGRATIONS)
        self.store = platform.store
        self.clock: Callable[[], float] = time.time

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """The model's constraints (lengths, ranges) answer ValidationException."""
        shape = service_model("stepfunctions").operation_model(ctx.operation).input_shape
        found = constraints.violations(shape, params) if shape is not None else []
        if found:
            raise ServiceError("ValidationException", constraints.summary(found))

    def machine_arn(self, ctx: RequestContext, name: str) -> str:
        return f"arn:aws:states:{ctx.region}:{ctx.account_id}:stateMachine:{name}"

    def _check_role(self, ctx: RequestContext, role_arn: str) -> None:
        """Step Functions runs tasks as the role, so it must be able to assume it."""
        parsed = role_arn.split(":")
        if len(parsed) < 6 or parsed[2] != "iam" or not parsed[5].startswith("role/"):
            raise invalid_arn(role_arn, "Resource type not valid in this context")
        if not self.platform.authorizer.can_assume(
            role_arn, "states.amazonaws.com", ctx.account_id
        ):
            raise error(
                "AccessDeniedException",
                "Neither the global service principal states.amazonaws.com, nor the regional "
                f"one is authorized to assume the provided role: '{role_arn}'",
            )

    # -- state machines, versions, aliases ------------------------------------------------

    def machine(self, arn: str) -> Row:
        """The state machine a plain ARN names; StateMachineDoesNotExist or InvalidArn."""
        parsed = parse_arn(arn)
        if parsed is None or parsed[2] != "stateMachine":
            raise invalid_arn(arn)
        if len(parsed[3]) != 1:
            raise invalid_arn(arn)
        row = self.store.get(MACHINES, arn)
        if row is None:
            raise machine_missing(arn)
        return row

    def resolve(self, arn: str) -> tuple[Row, Row | None, Row | None]:
        """What a state machine ARN names for running it: (machine, version, alias).
        A version ARN ends in its number, an alias ARN in the alias name; an alias picks
        one of its versions by weight."""
        parsed = parse_arn(arn)
        if parsed is None or parsed[2] != "stateMachine" or len(parsed[3]) > 2:
            raise invalid_arn(arn)
        if len(parsed[3]) == 1:
            return self.machine(arn), None, None
        base = arn.rsplit(":", 1)[0]
        machine = self.store.get(MACHINES, base)
        if machine is None:
            raise machine_missing(arn)
        qualifier = parsed[3][1]
        if qualifier.isdigit():
            version = self.store.get(VERSIONS, arn)
            if version is None:
                raise error("ResourceNotFound", f"Resource not found: '{arn}'", 400)
            return machine, version, None
        alias = self.store.get(ALIASES, arn)
        if alias is None:
            raise error("ResourceNotFound", f"Resource not found: '{arn}'", 400)
        version = self.store.get(VERSIONS, pick_version(json.loads(alias["routing"])))
        return machine, version, alias

    # -- executions and activities ------------------------------------------------------

    def execution(self, arn: str) -> Row:
        parsed = parse_arn(arn)
        if parsed is None or parsed[2] not in ("execution", "express"):
            raise invalid_arn(arn)
        row = self.store.get(EXECUTIONS, arn)
        if row is None:
            raise execution_missing(arn)
        return row

    def activity(self, arn: str) -> Row:
        parsed = parse_arn(arn)
        if parsed is None or parsed[2] != "activity":
            raise invalid_arn(arn)
        row = self.store.get(ACTIVITIES, arn)
        if row is None:
            raise activity_missing(arn)
        return row


def pick_version(routing: list[dict]) -> str:
    """One version of an alias's routing, drawn by weight (percentages summing to 100)."""
    import random

    draw = random.uniform(0, 100)
    for entry in routing:
        draw -= entry["weight"]
        if draw < 0:
            return entry["stateMachineVersionArn"]
    return routing[-1]["stateMachineVersionArn"]
